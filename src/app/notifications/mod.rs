//! Notifications: reaching a paged person by their own rules (push at once, SMS after two
//! minutes, a call after five) until someone acknowledges, and the acknowledgements that come
//! back from a notification: a signed link, an SMS reply, a keypress on the call.
//!
//! Every page to a person starts that person's rules. A rule that falls due is recorded as
//! `NotificationRequested` (its id derives from the page and the rule, so instances that fire
//! it together keep one) and handed to the delivery worker, which records every attempt.
//! Replays record nothing here: the rules fire only in `warroom serve`.

pub mod links;
pub mod view;

use super::delivery::{Delivery, NotificationOrder, PageOrder, Tell};
use super::{Caller, Failure, Input, InputKind, Pending, Refusal, Warroom};
use crate::domain::event::{AttemptOutcome, Event};
use crate::domain::incident::IncidentCommand;
use crate::domain::reach::{notification_key, Method};
use crate::domain::types::{IncidentNumber, IncidentStatus, Severity};
use crate::store::{AppendError, ExpectedVersion};
use chrono::{DateTime, Utc};
use links::{AckClaim, LinkError};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Namespace of notification event ids (UUID v5).
const NOTIFICATION_ID_NAMESPACE: Uuid = Uuid::from_u128(0x3c1e_77a0_9b25_4f0e_8d61_5a2f_b4c9_0e13);

/// What the confirm page of a link shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// The link works: acknowledge `incident` as `person`?
    Ready {
        incident: IncidentNumber,
        title: String,
        severity: Severity,
        person: String,
    },
    /// Nothing to do: said in a sentence (already acknowledged, resolved, ...).
    Done(String),
}

/// What an acknowledgement from a notification did, in a sentence for the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckReply {
    pub acknowledged: bool,
    pub text: String,
}

impl Warroom {
    /// The notification settings the application runs with.
    fn notifications(&self) -> &crate::config::notifications::NotificationSettings {
        &self.settings.notifications
    }

    /// Records every notification rule due at `now` and hands them to the delivery worker;
    /// returns those this instance recorded.
    pub async fn fire_due_notifications(
        &self,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<NotificationOrder>> {
        if self.notifications().people.is_empty() {
            return Ok(vec![]);
        }
        let mut projection = self.projection.lock().await;
        self.catch_up_known(&mut projection).await?;
        let mut due: BTreeMap<IncidentNumber, Vec<NotificationOrder>> = BTreeMap::new();
        for (number, dedup_key, page) in projection.notifications.pages(now) {
            let Some(methods) = self.notifications().people.get(&page.person) else {
                continue;
            };
            let Some(incident) = projection
                .incidents
                .get(number)
                .filter(|i| i.status == IncidentStatus::Open)
            else {
                continue;
            };
            for (rule, r) in methods.due(page.at, now, |i| page.asked.contains_key(&i)) {
                let Some(address) = methods.address(r.method) else {
                    continue;
                };
                due.entry(number).or_default().push(NotificationOrder {
                    incident: number,
                    title: incident.title.clone(),
                    severity: incident.severity,
                    dedup_key: dedup_key.to_string(),
                    rule,
                    person: page.person.clone(),
                    method: r.method,
                    address: address.to_string(),
                    ack_url: None,
                    voice_ack_url: None,
                    at: now,
                });
            }
        }
        let mut recorded = Vec::new();
        for (number, orders) in due {
            let events = orders
                .iter()
                .map(|o| {
                    let rule = &self.notifications().people[&o.person].rules[o.rule as usize];
                    let event = Event::NotificationRequested {
                        dedup_key: o.dedup_key.clone(),
                        person: o.person.clone(),
                        rule: o.rule,
                        method: o.method.to_string(),
                        after_minutes: rule.after_minutes,
                    };
                    (
                        notification_id(number, &o.dedup_key, o.rule),
                        Pending::system(event, now),
                    )
                })
                .collect();
            match self
                .append_ids(&number.stream_id(), ExpectedVersion::Any, events)
                .await
            {
                Ok(appended) if !appended.already_stored => recorded.extend(orders),
                // Fired already, by this instance before a restart or by another one.
                Ok(_) | Err(AppendError::DuplicateEventId { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.catch_up_known(&mut projection).await?;
        drop(projection);
        let recorded: Vec<NotificationOrder> =
            recorded.into_iter().map(|o| self.with_links(o)).collect();
        for order in &recorded {
            self.queue(Delivery::Notify(Box::new(order.clone())));
        }
        Ok(recorded)
    }

    /// The `NotificationRequested` events of a page's rules that are due at once (wait 0),
    /// to append with the page itself so the first notification goes out as soon as the
    /// page is recorded, and their orders to send once the append commits.
    pub(super) fn notifications_at_once(
        &self,
        page: &PageOrder,
    ) -> (Vec<(Uuid, Pending)>, Vec<NotificationOrder>) {
        let Some(person) = page.target.strip_prefix('@') else {
            return (vec![], vec![]);
        };
        let Some(methods) = self.notifications().people.get(person) else {
            return (vec![], vec![]);
        };
        methods
            .due(page.at, page.at, |_| false)
            .into_iter()
            .filter_map(|(rule, r)| {
                let address = methods.address(r.method)?;
                let event = Event::NotificationRequested {
                    dedup_key: page.dedup_key.clone(),
                    person: person.to_string(),
                    rule,
                    method: r.method.to_string(),
                    after_minutes: r.after_minutes,
                };
                let id = notification_id(page.incident, &page.dedup_key, rule);
                let order = NotificationOrder {
                    incident: page.incident,
                    title: page.title.clone(),
                    severity: page.severity,
                    dedup_key: page.dedup_key.clone(),
                    rule,
                    person: person.to_string(),
                    method: r.method,
                    address: address.to_string(),
                    ack_url: None,
                    voice_ack_url: None,
                    at: page.at,
                };
                Some(((id, Pending::system(event, page.at)), order))
            })
            .unzip()
    }

    /// Hands recorded notifications to the delivery worker, with their links.
    pub(super) fn send_notifications(&self, orders: Vec<NotificationOrder>) {
        for order in orders {
            let order = self.with_links(order);
            self.queue(Delivery::Notify(Box::new(order)));
        }
    }

    /// The order with its acknowledgement links, when links are configured.
    fn with_links(&self, mut order: NotificationOrder) -> NotificationOrder {
        let settings = self.notifications();
        let (Some(secret), Some(base)) = (&settings.link_secret, &settings.public_url) else {
            return order;
        };
        let claim = |method| AckClaim {
            incident: order.incident,
            page: links::page_digest(&order.dedup_key),
            rule: order.rule,
            method,
            expires: order.at + settings.link_ttl,
        };
        let token = links::sign(&claim(order.method), secret);
        order.ack_url = Some(format!("{base}/v1/ack/{token}"));
        if order.method == Method::Voice {
            order.voice_ack_url = Some(format!(
                "{base}{}?ack={token}",
                crate::config::notifications::TWILIO_VOICE_PATH
            ));
        }
        order
    }

    /// Tells the people of a hand-over who opted in (`handoff_notices`) by their methods.
    pub(super) fn tell_handoff_by_contact(&self, handoff: &super::HandOff) {
        let settings = &self.settings;
        let zone = settings
            .schedules
            .get(&handoff.schedule)
            .map_or(settings.timezone, |c| c.schedule.zone);
        let time = |t: DateTime<Utc>| {
            t.with_timezone(&zone)
                .format("%a %d %b %H:%M %Z")
                .to_string()
        };
        let until = handoff
            .until
            .map(|t| format!(" until {}", time(t)))
            .unwrap_or_default();
        let name = |who: &Option<String>| match who {
            Some(h) => settings.directory.display(h),
            None => "nobody".to_string(),
        };
        let told = [
            (
                &handoff.incoming,
                format!("On call for {}", handoff.schedule),
                format!(
                    "You are on call for {} from {}{until}, taking over from {}.",
                    handoff.schedule,
                    time(handoff.at),
                    name(&handoff.outgoing)
                ),
            ),
            (
                &handoff.outgoing,
                format!("Off call for {}", handoff.schedule),
                format!(
                    "Your on-call turn for {} ended at {}; {} took over.",
                    handoff.schedule,
                    time(handoff.at),
                    name(&handoff.incoming)
                ),
            ),
        ];
        for (who, subject, text) in told {
            let Some(person) = who.as_deref() else {
                continue;
            };
            let Some(methods) = settings.notifications.people.get(person) else {
                continue;
            };
            for method in &methods.handoffs {
                let Some(address) = methods.address(*method) else {
                    continue;
                };
                self.queue(Delivery::Tell(Box::new(Tell {
                    person: person.to_string(),
                    method: *method,
                    address: address.to_string(),
                    subject: subject.clone(),
                    text: text.clone(),
                })));
            }
        }
    }

    /// When the next notification rule of a page not yet acknowledged falls due.
    pub async fn next_notification_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.notifications().people.is_empty() {
            return None;
        }
        let projection = self.projection.lock().await;
        projection
            .notifications
            .pages(now)
            .filter_map(|(_, _, page)| {
                self.notifications()
                    .people
                    .get(&page.person)?
                    .next_due(page.at, |i| page.asked.contains_key(&i))
            })
            .min()
    }

    /// Notifications recorded and not finished whose deliverer has been quiet since before
    /// `quiet_since`: what a delivery worker takes over from an instance that stopped.
    pub async fn unfinished_notifications(
        &self,
        now: DateTime<Utc>,
        quiet_since: DateTime<Utc>,
    ) -> anyhow::Result<Vec<NotificationOrder>> {
        let mut projection = self.projection.lock().await;
        self.catch_up_known(&mut projection).await?;
        let mut orders = Vec::new();
        for (number, dedup_key, page) in projection.notifications.pages(now) {
            let Some(incident) = projection
                .incidents
                .get(number)
                .filter(|i| i.status == IncidentStatus::Open)
            else {
                continue;
            };
            let methods = self.notifications().people.get(&page.person);
            for (rule, asked) in &page.asked {
                if asked.finished || asked.last_activity >= quiet_since {
                    continue;
                }
                let Some(address) = methods.and_then(|m| m.address(asked.method)) else {
                    continue;
                };
                orders.push(NotificationOrder {
                    incident: number,
                    title: incident.title.clone(),
                    severity: incident.severity,
                    dedup_key: dedup_key.to_string(),
                    rule: *rule,
                    person: page.person.clone(),
                    method: asked.method,
                    address: address.to_string(),
                    ack_url: None,
                    voice_ack_url: None,
                    at: asked.at,
                });
            }
        }
        drop(projection);
        Ok(orders.into_iter().map(|o| self.with_links(o)).collect())
    }

    /// Whether the page of a notification still waits for an acknowledgement: a retry of a
    /// notification whose incident was acknowledged meanwhile wakes someone for nothing.
    pub async fn notification_still_wanted(&self, order: &NotificationOrder) -> bool {
        let projection = self.projection.lock().await;
        projection
            .notifications
            .page(order.incident, &order.dedup_key)
            .is_some()
    }

    /// Records one attempt to send a notification.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_notification_attempt(
        &self,
        order: &NotificationOrder,
        attempt: u32,
        outcome: AttemptOutcome,
        status: Option<u16>,
        error: Option<String>,
        provider_ref: Option<String>,
    ) -> anyhow::Result<()> {
        let event = Event::NotificationAttempted {
            dedup_key: order.dedup_key.clone(),
            rule: order.rule,
            method: order.method.to_string(),
            attempt,
            outcome,
            status,
            error,
            provider_ref,
        };
        self.record_system_fact(order.incident, Uuid::new_v4(), event)
            .await?;
        Ok(())
    }

    /// Records that a notification could not be sent.
    pub async fn record_notification_gave_up(
        &self,
        order: &NotificationOrder,
        reason: &str,
    ) -> anyhow::Result<()> {
        let event = Event::NotificationGaveUp {
            dedup_key: order.dedup_key.clone(),
            rule: order.rule,
            method: order.method.to_string(),
            reason: reason.to_string(),
        };
        self.record_system_fact(order.incident, Uuid::new_v4(), event)
            .await?;
        Ok(())
    }

    /// Records what a provider later said of a notification it accepted (Twilio's status
    /// callback); `false` when the id names no notification warroom knows.
    pub async fn record_notification_status(
        &self,
        provider_ref: &str,
        status: &str,
        error_code: Option<String>,
    ) -> anyhow::Result<bool> {
        let found = {
            let mut projection = self.projection.lock().await;
            self.catch_up(&mut projection).await?;
            projection
                .notifications
                .by_provider_ref(provider_ref)
                .cloned()
        };
        let Some(found) = found else {
            return Ok(false);
        };
        let event = Event::NotificationStatus {
            dedup_key: found.dedup_key.clone(),
            rule: found.rule,
            method: found.method.clone(),
            status: status.to_string(),
            error_code,
        };
        // Twilio may post the same status twice: one event per notification and status.
        let id = Uuid::new_v5(
            &NOTIFICATION_ID_NAMESPACE,
            format!("status\0{provider_ref}\0{status}").as_bytes(),
        );
        match self.record_system_fact(found.incident, id, event).await {
            Ok(_) | Err(AppendError::DuplicateEventId { .. }) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }

    /// What the confirm page of an acknowledgement link shows.
    pub async fn ack_link_state(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Result<LinkState, LinkError>> {
        let claim = match self.read_link(token, now) {
            Ok(claim) => claim,
            Err(e) => return Ok(Err(e)),
        };
        let mut projection = self.projection.lock().await;
        self.catch_up(&mut projection).await?;
        Ok(Ok(match pending_page(&projection, &claim) {
            Ok((_, person)) => {
                let incident = projection.incidents.get(claim.incident);
                LinkState::Ready {
                    incident: claim.incident,
                    title: incident.map(|i| i.title.clone()).unwrap_or_default(),
                    severity: incident.map_or(Severity::Sev3, |i| i.severity),
                    person,
                }
            }
            Err(done) => LinkState::Done(done),
        }))
    }

    fn read_link(&self, token: &str, now: DateTime<Utc>) -> Result<AckClaim, LinkError> {
        match &self.notifications().link_secret {
            Some(secret) => links::verify(token, secret, now),
            None => Err(LinkError::Forged),
        }
    }

    /// Acknowledges the incident of an acknowledgement link (opened and confirmed, the ntfy
    /// action, or the keypress of a call carrying it), as the person it was sent to.
    pub async fn acknowledge_by_link(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Result<AckReply, LinkError>> {
        let claim = match self.read_link(token, now) {
            Ok(claim) => claim,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(self.acknowledge_notified(&claim, now).await?))
    }

    /// An SMS reply from `phone`: `1`, `ack` or `ack INC-7` acknowledges the latest (or the
    /// named) incident whose SMS reached that person and waits for an acknowledgement.
    pub async fn acknowledge_by_sms(
        &self,
        phone: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<AckReply> {
        let settings = self.notifications();
        let Some(person) = settings
            .people
            .iter()
            .find(|(_, m)| m.phone.as_deref() == Some(phone.trim()))
            .map(|(handle, _)| handle.clone())
        else {
            return Ok(AckReply {
                acknowledged: false,
                text: "warroom does not know this number; acknowledge with /ack in the incident's channel".into(),
            });
        };
        let words: Vec<String> = body
            .split_whitespace()
            .map(|w| w.to_ascii_lowercase())
            .collect();
        let named = match words.as_slice() {
            [w] if w == "1" || w == "ack" || w == "a" => None,
            [w, n] if w == "ack" || w == "1" => match n.trim_start_matches("inc-").parse::<u64>() {
                Ok(n) => Some(IncidentNumber(n)),
                Err(_) => return Ok(sms_help()),
            },
            _ => return Ok(sms_help()),
        };
        let claim = {
            let mut projection = self.projection.lock().await;
            self.catch_up(&mut projection).await?;
            let latest = projection
                .notifications
                .pages(now)
                .filter(|(number, _, page)| {
                    page.person == person
                        && named.is_none_or(|n| n == *number)
                        && page.asked.values().any(|a| a.method == Method::Sms)
                })
                .max_by_key(|(_, _, page)| page.at)
                .map(|(number, key, page)| {
                    let rule = page
                        .asked
                        .iter()
                        .filter(|(_, a)| a.method == Method::Sms)
                        .map(|(r, _)| *r)
                        .next_back()
                        .unwrap_or(0);
                    AckClaim {
                        incident: number,
                        page: links::page_digest(key),
                        rule,
                        method: Method::Sms,
                        expires: now,
                    }
                });
            match latest {
                Some(claim) => claim,
                None => {
                    let text = match named {
                        Some(n) => {
                            format!("{n} has no page of yours waiting for an acknowledgement.")
                        }
                        None => "No page of yours waits for an acknowledgement.".to_string(),
                    };
                    return Ok(AckReply {
                        acknowledged: false,
                        text,
                    });
                }
            }
        };
        self.acknowledge_notified(&claim, now).await
    }

    /// Acknowledges the page a claim names, if it still waits, through the same decision as
    /// `/ack`, with the method and the notification recorded.
    async fn acknowledge_notified(
        &self,
        claim: &AckClaim,
        now: DateTime<Utc>,
    ) -> anyhow::Result<AckReply> {
        let mut projection = self.projection.lock().await;
        self.catch_up(&mut projection).await?;
        let (dedup_key, person) = match pending_page(&projection, claim) {
            Ok(found) => found,
            Err(text) => {
                return Ok(AckReply {
                    acknowledged: false,
                    text,
                })
            }
        };
        let key = notification_key(&dedup_key, claim.rule);
        let channel = projection
            .incidents
            .get(claim.incident)
            .map(|i| i.channel.clone())
            .unwrap_or_default();
        let input = Input {
            // One acknowledgement per notification and method, however often it is pressed.
            key: format!("ack\0{}\0{key}\0{}", claim.incident, claim.method),
            at: now,
            from: person.clone(),
            channel,
            kind: InputKind::Message {
                text: "/incident ack".into(),
                message_id: None,
                reply_to: None,
                attachments: vec![],
            },
            caller: Caller::default(),
        };
        let command = IncidentCommand::Acknowledge {
            by: person.clone(),
            via: Some((claim.method.to_string(), key)),
        };
        match self
            .order(&mut projection, &input, claim.incident, command)
            .await
        {
            Ok((_, events)) => {
                drop(projection);
                self.mirror_to_pagers(claim.incident, &events);
                self.escalation_changed.notify_one();
                tracing::info!(incident = %claim.incident, person = %person, method = %claim.method, "acknowledged from a notification");
                Ok(AckReply {
                    acknowledged: true,
                    text: format!("Acknowledged {}: its escalation stops.", claim.incident),
                })
            }
            Err(Failure::Refused(Refusal(text))) => Ok(AckReply {
                acknowledged: false,
                text,
            }),
            Err(Failure::Store(e)) => Err(e),
        }
    }
}

fn sms_help() -> AckReply {
    AckReply {
        acknowledged: false,
        text: "Reply 1 (or ACK) to acknowledge your latest page, or ACK and the incident number, e.g. ACK 7.".into(),
    }
}

/// The page a claim names, while it waits for an acknowledgement: its dedup key and person;
/// else what to tell whoever holds the link.
fn pending_page(
    projection: &super::projection::Projection,
    claim: &AckClaim,
) -> Result<(String, String), String> {
    let number = claim.incident;
    let Some(incident) = projection.incidents.get(number) else {
        return Err(format!("{number} does not exist."));
    };
    if incident.status != IncidentStatus::Open {
        return Err(format!(
            "{number} is {} already: nothing to acknowledge.",
            incident.status
        ));
    }
    let found = projection
        .notifications
        .waiting()
        .find(|(n, key, _)| *n == number && links::page_digest(key) == claim.page);
    match found {
        Some((_, key, page)) => Ok((key.to_string(), page.person.clone())),
        None => Err(match projection.notifications.last_ack(number) {
            Some(ack) => format!(
                "{number} was already acknowledged by {}{} at {} UTC.",
                ack.by,
                ack.via
                    .as_ref()
                    .map(|v| format!(" from their {v} notification"))
                    .unwrap_or_default(),
                ack.at.format("%H:%M")
            ),
            None => format!("This page of {number} no longer waits for an acknowledgement."),
        }),
    }
}

/// The id of a rule's notification of a page: the same on every instance.
fn notification_id(number: IncidentNumber, dedup_key: &str, rule: u32) -> Uuid {
    Uuid::new_v5(
        &NOTIFICATION_ID_NAMESPACE,
        format!("{number}\0{dedup_key}\0{rule}").as_bytes(),
    )
}
