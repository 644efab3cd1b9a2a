//! What the projection keeps about notifications: each recent page to a person of an
//! incident not yet acknowledged, which of the person's rules were asked for and how each
//! went, the providers' ids of what they accepted, and each incident's last acknowledgement.

use crate::domain::event::{AttemptOutcome, Event};
use crate::domain::reach::{Method, RULES_KEPT};
use crate::domain::types::IncidentNumber;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

/// One rule of a page that was asked for, and how its delivery went so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    pub method: Method,
    pub at: DateTime<Utc>,
    /// Delivered, refused or given up on: nothing more to send.
    pub finished: bool,
    /// When its deliverer last showed it was at it (the request or an attempt).
    pub last_activity: DateTime<Utc>,
    /// Attempts recorded so far.
    pub attempts: u32,
}

/// A page to one person, within [`RULES_KEPT`] and not yet acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonalPage {
    pub person: String,
    pub at: DateTime<Utc>,
    /// Rule → its notification.
    pub asked: BTreeMap<u32, Asked>,
}

/// What a provider's id names: whose notification it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRef {
    pub incident: IncidentNumber,
    pub dedup_key: String,
    pub rule: u32,
    pub method: String,
    at: DateTime<Utc>,
}

/// The last acknowledgement of an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastAck {
    pub by: String,
    pub via: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct NotificationIndex {
    pages: BTreeMap<(IncidentNumber, String), PersonalPage>,
    pruned_at: Option<DateTime<Utc>>,
    refs: HashMap<String, ProviderRef>,
    acks: HashMap<IncidentNumber, LastAck>,
}

impl NotificationIndex {
    /// Folds one event of an incident's stream.
    pub fn apply(&mut self, number: IncidentNumber, at: DateTime<Utc>, event: &Event) {
        match event.unwrapped() {
            Event::PageRequested {
                target, dedup_key, ..
            } => {
                let Some(person) = target.strip_prefix('@') else {
                    return;
                };
                self.prune(at);
                self.pages
                    .entry((number, dedup_key.clone()))
                    .or_insert_with(|| PersonalPage {
                        person: person.to_string(),
                        at,
                        asked: BTreeMap::new(),
                    });
            }
            Event::NotificationRequested {
                dedup_key,
                rule,
                method,
                ..
            } => {
                let (Some(page), Ok(method)) = (
                    self.pages.get_mut(&(number, dedup_key.clone())),
                    Method::parse(method),
                ) else {
                    return;
                };
                page.asked.entry(*rule).or_insert(Asked {
                    method,
                    at,
                    finished: false,
                    last_activity: at,
                    attempts: 0,
                });
            }
            Event::NotificationAttempted {
                dedup_key,
                rule,
                method,
                outcome,
                provider_ref,
                ..
            } => {
                if let Some(reference) = provider_ref {
                    self.refs.insert(
                        reference.clone(),
                        ProviderRef {
                            incident: number,
                            dedup_key: dedup_key.clone(),
                            rule: *rule,
                            method: method.clone(),
                            at,
                        },
                    );
                }
                if let Some(asked) = self.asked_mut(number, dedup_key, *rule) {
                    asked.attempts += 1;
                    asked.last_activity = at;
                    asked.finished |= *outcome != AttemptOutcome::Failed;
                }
            }
            Event::NotificationGaveUp {
                dedup_key, rule, ..
            } => {
                if let Some(asked) = self.asked_mut(number, dedup_key, *rule) {
                    asked.finished = true;
                }
            }
            Event::Acknowledged { by, via, .. } => {
                self.acks.insert(
                    number,
                    LastAck {
                        by: by.clone(),
                        via: via.clone(),
                        at,
                    },
                );
                self.forget(number);
            }
            Event::IncidentResolved { .. } | Event::IncidentClosed {} => self.forget(number),
            Event::IncidentReopened { .. } => {
                self.acks.remove(&number);
            }
            _ => {}
        }
    }

    fn asked_mut(
        &mut self,
        number: IncidentNumber,
        dedup_key: &str,
        rule: u32,
    ) -> Option<&mut Asked> {
        self.pages
            .get_mut(&(number, dedup_key.to_string()))?
            .asked
            .get_mut(&rule)
    }

    fn forget(&mut self, number: IncidentNumber) {
        if !self.pages.is_empty() {
            self.pages.retain(|(n, _), _| *n != number);
        }
    }

    /// Drops pages older than [`RULES_KEPT`] and provider ids older than a day, at most
    /// every ten minutes so a burst of pages does not rescan them all each time.
    fn prune(&mut self, now: DateTime<Utc>) {
        if self
            .pruned_at
            .is_some_and(|last| now - last < chrono::Duration::minutes(10))
        {
            return;
        }
        self.pruned_at = Some(now);
        self.pages.retain(|_, page| page.at >= now - RULES_KEPT);
        self.refs
            .retain(|_, r| r.at >= now - chrono::Duration::days(1));
    }

    /// Pages to people of incidents not acknowledged, within [`RULES_KEPT`] of `now`.
    pub fn pages(
        &self,
        now: DateTime<Utc>,
    ) -> impl Iterator<Item = (IncidentNumber, &str, &PersonalPage)> + '_ {
        self.pages
            .iter()
            .filter(move |(_, p)| p.at >= now - RULES_KEPT)
            .map(|((number, key), page)| (*number, key.as_str(), page))
    }

    /// Every page kept, however old.
    pub fn waiting(&self) -> impl Iterator<Item = (IncidentNumber, &str, &PersonalPage)> + '_ {
        self.pages
            .iter()
            .map(|((number, key), page)| (*number, key.as_str(), page))
    }

    /// The page with this key, while it waits for an acknowledgement.
    pub fn page(&self, number: IncidentNumber, dedup_key: &str) -> Option<&PersonalPage> {
        self.pages.get(&(number, dedup_key.to_string()))
    }

    /// The notification a provider's id names.
    pub fn by_provider_ref(&self, reference: &str) -> Option<&ProviderRef> {
        self.refs.get(reference)
    }

    /// An incident's last acknowledgement, unless it was reopened since.
    pub fn last_ack(&self, number: IncidentNumber) -> Option<&LastAck> {
        self.acks.get(&number)
    }
}
