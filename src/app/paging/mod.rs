//! Paging: firing escalation steps when they fall due, paging on demand, and handing each
//! page to the delivery worker when one runs (`warroom serve`). Replays record pages but
//! never deliver them: replaying last month's outage must not wake anyone.
//!
//! A step fires as one append of `PageRequested` events whose ids derive from the incident,
//! the escalation and the step. Every instance computes the same ids, so when several fire
//! the same step at once the store keeps one append and only its writer delivers.

pub mod transport;
pub mod view;

use super::delivery::PageOrder;
use super::projection::Projection;
use super::{Failure, Input, Pending, Refusal, Warroom};
use crate::domain::escalation::{dedup_key, DueStep, Target};
use crate::domain::event::{AttemptOutcome, Event};
use crate::domain::types::IncidentNumber;
use crate::store::{AppendError, Appended, ExpectedVersion};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Namespace of page event ids (UUID v5).
const PAGE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x9a6e_0c3b_52f4_4d1a_b7e8_1f20_c3d4_e5f6);

fn short_hash(text: &str) -> String {
    Uuid::new_v5(&PAGE_ID_NAMESPACE, text.as_bytes())
        .simple()
        .to_string()[..8]
        .to_string()
}

/// A recorded page not every pager is done with, and what each did with it so far.
#[derive(Debug, Clone, PartialEq)]
pub struct UnfinishedPage {
    pub order: PageOrder,
    /// Pager → its latest failed attempt: when, and the HTTP status it got.
    pub failed: std::collections::BTreeMap<String, (DateTime<Utc>, Option<u16>)>,
    /// Pagers that delivered it, were refused, or gave up.
    pub finished: std::collections::BTreeSet<String>,
}

/// A page that reached a pager, as recorded in the incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredPage {
    pub dedup_key: String,
    pub pager: String,
}

impl Warroom {
    /// Records one attempt to hand a page (or its acknowledgement or resolution) to a pager.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_page_attempt(
        &self,
        incident: IncidentNumber,
        dedup_key: &str,
        pager: &str,
        action: &str,
        attempt: u32,
        outcome: AttemptOutcome,
        status: Option<u16>,
        error: Option<String>,
    ) -> anyhow::Result<()> {
        let event = Event::PageAttempted {
            dedup_key: dedup_key.to_string(),
            pager: pager.to_string(),
            action: action.to_string(),
            attempt,
            outcome,
            status,
            error,
        };
        self.record_system_fact(incident, Uuid::new_v4(), event)
            .await?;
        Ok(())
    }

    /// Records that a page could not be delivered through a pager, and pages the fallback
    /// targets (once per failed page); returns the fallback pages to deliver.
    pub async fn record_page_gave_up(
        &self,
        order: &PageOrder,
        pager: &str,
        reason: &str,
    ) -> anyhow::Result<Vec<PageOrder>> {
        let gave_up = Event::PageGaveUp {
            dedup_key: order.dedup_key.clone(),
            target: order.target.clone(),
            pager: pager.to_string(),
            reason: reason.to_string(),
        };
        self.record_system_fact(order.incident, Uuid::new_v4(), gave_up)
            .await?;
        let mut fallbacks = Vec::new();
        for (i, target) in order.fallback.iter().enumerate() {
            let key = dedup_key(
                &order.incident.to_string(),
                None,
                None,
                target,
                &format!("fallback-{}", short_hash(&order.dedup_key)),
            );
            let reason = format!(
                "fallback: {} could not be reached through {pager}",
                order.target
            );
            let event = Event::PageRequested {
                escalation: None,
                sequence: None,
                step: None,
                target: target.clone(),
                message: order.message.clone(),
                dedup_key: key.clone(),
                reason: reason.clone(),
            };
            // One fallback per failed page, however many pagers failed it or instances saw it.
            let id = Uuid::new_v5(
                &PAGE_ID_NAMESPACE,
                format!("fallback\0{}\0{i}", order.dedup_key).as_bytes(),
            );
            let appended = self.record_system_fact(order.incident, id, event).await;
            match appended {
                Ok(a) if !a.already_stored => fallbacks.push(PageOrder {
                    target: target.clone(),
                    dedup_key: key,
                    reason,
                    fallback: vec![],
                    ..order.clone()
                }),
                Ok(_) | Err(AppendError::DuplicateEventId { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !fallbacks.is_empty() {
            // A fallback person's own rules may be due at once.
            self.escalation_changed.notify_one();
        }
        Ok(fallbacks)
    }

    /// Pages of open incidents recorded at or after `since` and not acknowledged, that some
    /// pager may still have to deliver: each with what its pagers did with it so far, so a
    /// delivery worker can tell a page whose deliverer is still at it from one left behind.
    pub async fn unfinished_pages(
        &self,
        since: DateTime<Utc>,
    ) -> anyhow::Result<Vec<UnfinishedPage>> {
        let mut projection = self.projection.lock().await;
        self.catch_up_known(&mut projection).await?;
        let mut unfinished = Vec::new();
        for (number, dedup_key, page) in projection.paging.recorded_pages() {
            if page.at < since {
                continue;
            }
            let Some(incident) = projection
                .incidents
                .get(number)
                .filter(|i| i.status == crate::domain::types::IncidentStatus::Open)
            else {
                continue;
            };
            let fallback = if page.reason.starts_with("fallback") {
                vec![]
            } else {
                projection
                    .paging
                    .escalation_of(number)
                    .map(|e| e.fallback())
                    .unwrap_or_default()
            };
            unfinished.push(UnfinishedPage {
                order: PageOrder {
                    incident: number,
                    title: incident.title.clone(),
                    severity: incident.severity,
                    target: page.target.clone(),
                    message: page.message.clone(),
                    dedup_key: dedup_key.to_string(),
                    reason: page.reason.clone(),
                    at: page.at,
                    fallback,
                },
                failed: page.failed.clone(),
                finished: page.finished.clone(),
            });
        }
        Ok(unfinished)
    }

    /// The pages of an incident that reached a pager (trigger delivered), for mirroring an
    /// acknowledgement or resolution to the same pagers.
    pub async fn delivered_pages(
        &self,
        incident: IncidentNumber,
    ) -> anyhow::Result<Vec<DeliveredPage>> {
        let mut delivered: Vec<DeliveredPage> = Vec::new();
        for r in self.incident_records(incident).await? {
            if let Event::PageAttempted {
                dedup_key,
                pager,
                action,
                outcome: AttemptOutcome::Delivered,
                ..
            } = &r.event
            {
                let page = DeliveredPage {
                    dedup_key: dedup_key.clone(),
                    pager: pager.clone(),
                };
                if action == "trigger" && !delivered.contains(&page) {
                    delivered.push(page);
                }
            }
        }
        Ok(delivered)
    }

    /// Appends one event warroom records by itself, now, to an incident.
    pub(super) async fn record_system_fact(
        &self,
        incident: IncidentNumber,
        id: Uuid,
        event: Event,
    ) -> Result<Appended, AppendError> {
        self.append_ids(
            &incident.stream_id(),
            ExpectedVersion::Any,
            vec![(id, Pending::system(event, Utc::now()))],
        )
        .await
    }

    /// Waits until an escalation may have become due sooner than planned.
    pub async fn escalation_changed(&self) {
        self.escalation_changed.notified().await;
    }

    /// When the next escalation step of any incident falls due.
    pub async fn next_page_due(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        let mut projection = self.projection.lock().await;
        self.catch_up_known(&mut projection).await?;
        Ok(projection
            .paging
            .escalations()
            .filter_map(|(_, e)| e.next_due_at())
            .min())
    }

    /// Fires every escalation step due at `now` and returns the pages this instance recorded
    /// (others may have fired some of the same steps first).
    pub async fn fire_due_pages(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<PageOrder>> {
        let mut projection = self.projection.lock().await;
        self.catch_up_known(&mut projection).await?;
        let due: Vec<(IncidentNumber, DueStep)> = projection
            .paging
            .escalations()
            .flat_map(|(n, e)| e.due(now).into_iter().map(move |d| (n, d)))
            .collect();
        // Steps of different incidents are independent: appended together, committed together.
        let fired = futures_util::future::join_all(
            due.iter()
                .map(|(number, step)| self.fire_step(&projection, *number, step, now)),
        )
        .await;
        let mut orders = Vec::new();
        for result in fired {
            orders.extend(result?);
        }
        self.catch_up_known(&mut projection).await?;
        drop(projection);
        self.hand_over(&orders);
        Ok(orders)
    }

    async fn fire_step(
        &self,
        projection: &Projection,
        number: IncidentNumber,
        step: &DueStep,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<PageOrder>> {
        let Some(incident) = projection.incidents.get(number) else {
            return Ok(vec![]);
        };
        let incident_name = number.to_string();
        let mut events = Vec::new();
        let mut page_orders = Vec::new();
        let mut notified = Vec::new();
        let reason = format!(
            "step {} of '{}', pass {}",
            step.step, step.policy, step.round
        );
        let id = |suffix: String| {
            Uuid::new_v5(
                &PAGE_ID_NAMESPACE,
                format!(
                    "{incident_name}\0e{}\0s{}\0{suffix}",
                    step.escalation, step.sequence
                )
                .as_bytes(),
            )
        };
        let turn = projection.paging.round_robin_turn(number, step.escalation) + step.round - 1;
        for (i, target) in step.targets.iter().enumerate() {
            if step.rules.round_robin && i != turn as usize % step.targets.len() {
                continue;
            }
            let (pages, fallback) = match whom_to_page(projection, step, target, &reason, now) {
                Whom::Page(pages, fallback) => (pages, fallback),
                Whom::Skip(why) => {
                    let skipped = Event::PageSkipped {
                        escalation: step.escalation,
                        sequence: step.sequence,
                        step: step.step,
                        target: target.clone(),
                        reason: why,
                    };
                    events.push((id(format!("{i}.skip")), Pending::system(skipped, now)));
                    continue;
                }
            };
            for (j, (paged, reason)) in pages.into_iter().enumerate() {
                let key = dedup_key(
                    &incident_name,
                    Some(step.escalation),
                    Some(step.sequence),
                    &paged,
                    "",
                );
                // The first page of a target keeps the id it always had.
                let suffix = if j == 0 {
                    i.to_string()
                } else {
                    format!("{i}.{j}")
                };
                events.push((
                    id(suffix),
                    Pending::system(
                        Event::PageRequested {
                            escalation: Some(step.escalation),
                            sequence: Some(step.sequence),
                            step: Some(step.step),
                            target: paged.clone(),
                            message: None,
                            dedup_key: key.clone(),
                            reason: reason.clone(),
                        },
                        now,
                    ),
                ));
                let order = PageOrder {
                    incident: number,
                    title: incident.title.clone(),
                    severity: incident.severity,
                    target: paged,
                    message: None,
                    dedup_key: key,
                    reason,
                    at: now,
                    fallback: fallback.clone(),
                };
                // The person's rules due at once go in the same append as the page.
                let (requested, orders) = self.notifications_at_once(&order);
                events.extend(requested);
                notified.extend(orders);
                page_orders.push(order);
            }
        }
        match self
            .append_ids(&number.stream_id(), ExpectedVersion::Any, events)
            .await
        {
            Ok(appended) if !appended.already_stored => {
                self.send_notifications(notified);
                Ok(page_orders)
            }
            // Fired already, by this instance before a restart or by another one.
            Ok(_) | Err(AppendError::DuplicateEventId { .. }) => Ok(vec![]),
            Err(e) => Err(e.into()),
        }
    }

    /// `/incident page`: pages a target now and records it in the incident.
    pub(super) async fn page_on_demand(
        &self,
        projection: &Projection,
        input: &Input,
        number: IncidentNumber,
        target: &str,
        message: Option<String>,
    ) -> Result<(IncidentNumber, usize, String), Failure> {
        let target = Target::parse(target)
            .map_err(|e| Refusal(e.to_string()))?
            .resolve(&self.settings.directory)
            .map_err(|e| {
                Refusal(format!(
                    "{e}; `warroom check` lists the contacts and teams of the configuration"
                ))
            })?
            .to_string();
        // Whoever a schedule has on call now is paged by name, as a step would.
        let target = match Target::parse(&target) {
            Ok(Target::Schedule(name)) => match Warroom::on_call(projection, &name, input.at) {
                Some(person) => format!("@{person}"),
                None if projection.schedules.roster(&name).is_none() => {
                    return Err(Refusal(format!(
                        "no schedule called '{name}' is recorded; `warroom oncall` lists them"
                    ))
                    .into())
                }
                None => {
                    return Err(Refusal(format!(
                        "nobody is on call for {name} now; page someone by name"
                    ))
                    .into())
                }
            },
            _ => target,
        };
        let Some(incident) = projection.incidents.get(number) else {
            return Err(Refusal(format!("{number} does not exist")).into());
        };
        if incident.status == crate::domain::types::IncidentStatus::Closed {
            return Err(Refusal(format!("{number} is closed; /incident reopen first")).into());
        }
        // Fixed per command, so a retried delivery of the same chat message never pages twice.
        let salt = &Uuid::new_v5(&PAGE_ID_NAMESPACE, input.key.as_bytes())
            .simple()
            .to_string()[..8];
        let key = dedup_key(
            &number.to_string(),
            None,
            None,
            &target,
            &format!("p{salt}"),
        );
        let reason = format!("paged by {}", input.from);
        let event = Event::PageRequested {
            escalation: None,
            sequence: None,
            step: None,
            target: target.clone(),
            message: message.clone(),
            dedup_key: key.clone(),
            reason: reason.clone(),
        };
        let appended = self
            .append(
                &number.stream_id(),
                ExpectedVersion::Any,
                &input.key,
                vec![self.pending(input, event)],
            )
            .await
            .map_err(anyhow::Error::from)?;
        let order = PageOrder {
            incident: number,
            title: incident.title.clone(),
            severity: incident.severity,
            target: target.clone(),
            message,
            dedup_key: key,
            reason,
            at: input.at,
            // An on-demand page falls back like the incident's escalation, if it has one.
            fallback: projection
                .paging
                .escalation_of(number)
                .map(|e| e.fallback())
                .unwrap_or_default()
                .into_iter()
                .filter(|f| *f != target)
                .collect(),
        };
        let pagers = self
            .settings
            .pagers_for(&Target::parse(&target).unwrap_or(Target::Everyone));
        let rules = target
            .strip_prefix('@')
            .and_then(|handle| self.settings.notifications.people.get(handle))
            .filter(|m| !m.rules.is_empty());
        let via = if let Some(methods) = rules {
            let steps: Vec<String> = methods
                .rules
                .iter()
                .map(|r| match r.after_minutes {
                    0 => r.method.to_string(),
                    n => format!("{} after {n} min", r.method),
                })
                .collect();
            let mut via = format!(
                "by their rules ({}) until someone acknowledges",
                steps.join(", ")
            );
            if !pagers.is_empty() {
                let names: Vec<&str> = pagers.iter().map(|p| p.name.as_str()).collect();
                via.push_str(&format!(", and through {}", names.join(", ")));
            }
            via
        } else if pagers.is_empty() {
            "no outside pager reaches them; the page is recorded and announced in chat".to_string()
        } else {
            format!(
                "through {}",
                pagers
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        if !appended.already_stored {
            self.hand_over(std::slice::from_ref(&order));
            // The person's first notification rule may be due at once.
            self.escalation_changed.notify_one();
        }
        Ok((
            number,
            usize::from(!appended.already_stored),
            format!("Paging {target} for {number}, {via}."),
        ))
    }
}

/// What one target of a firing step comes to.
enum Whom {
    /// Page these targets, each with its reason, falling back to these when undelivered.
    Page(Vec<(String, String)>, Vec<String>),
    /// Page nobody, for this reason.
    Skip(String),
}

/// Whom a step's target pages at `now`: a person, team or everyone as written; for
/// `schedule:NAME`, whoever it has on call, else the policy's fallback, else nobody.
fn whom_to_page(
    projection: &Projection,
    step: &DueStep,
    target: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Whom {
    if !within_hours(&step.rules, now) {
        return Whom::Skip(format!(
            "outside the step's hours ({})",
            step.rules.timezone.as_deref().unwrap_or("UTC")
        ));
    }
    let Ok(Target::Schedule(name)) = Target::parse(target) else {
        return Whom::Page(
            vec![(target.to_string(), reason.to_string())],
            step.fallback.clone(),
        );
    };
    if let Some(person) = Warroom::on_call(projection, &name, now) {
        return Whom::Page(
            vec![(
                format!("@{person}"),
                format!("{reason}, on call for {name}"),
            )],
            step.fallback.clone(),
        );
    }
    let nobody = format!("nobody is on call for {name}");
    if step.rules.skip_when_nobody {
        Whom::Skip(format!("{nobody}; the step skips a gap"))
    } else if step.fallback.is_empty() {
        Whom::Skip(format!("{nobody} and the policy has no fallback"))
    } else {
        let pages = step
            .fallback
            .iter()
            .map(|f| (f.clone(), format!("{reason}, fallback: {nobody}")))
            .collect();
        Whom::Page(pages, vec![])
    }
}

/// Whether a step limited to some hours may page at `now`. The windows were checked when
/// the policy was read; one this build cannot read does not stop the page.
fn within_hours(step: &crate::domain::event::EscalationStep, now: DateTime<Utc>) -> bool {
    if step.restrict.is_empty() {
        return true;
    }
    let zone = step
        .timezone
        .as_deref()
        .and_then(|z| z.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    let windows: Vec<_> = step
        .restrict
        .iter()
        .filter_map(|w| crate::domain::schedule::read_window(w).ok())
        .collect();
    windows.is_empty()
        || crate::domain::schedule::windows::any_active(
            zone,
            &windows,
            now,
            now + chrono::Duration::seconds(1),
        )
}
