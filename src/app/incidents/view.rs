//! What the projection keeps about incidents: their summaries, which channel each open one
//! is bound to, the numbers taken (gapless), and which post-mortems were published.

use crate::domain::event::Event;
use crate::domain::types::{IncidentNumber, IncidentStatus, Severity};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What `warroom incidents` lists about an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentSummary {
    pub number: IncidentNumber,
    pub title: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub channel: String,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    /// Events in the incident's stream: a rough measure of how much happened.
    pub events: i64,
    /// When it last resolved or closed, for the flapping window of its alert group.
    pub settled_at: Option<DateTime<Utc>>,
    /// Who holds the commander role now, as named when it was given.
    pub commander: Option<String>,
    /// When its pages were first acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// Incidents by number and by channel.
#[derive(Debug, Default)]
pub struct IncidentIndex {
    incidents: BTreeMap<IncidentNumber, IncidentSummary>,
    /// Channel → the not-yet-closed incident it is bound to.
    bound: HashMap<String, IncidentNumber>,
    /// The highest incident number seen, and the numbers below it that no incident has (an
    /// open that failed after a later one succeeded): the next open fills them first, so
    /// numbers stay gapless.
    max_number: u64,
    holes: BTreeSet<u64>,
    /// Numbers this process is opening right now, not yet committed.
    reserved: BTreeSet<u64>,
    /// Incidents whose post-mortem was posted in their channel.
    published: HashSet<IncidentNumber>,
}

impl IncidentIndex {
    /// Folds one event of an incident's stream.
    pub fn apply(&mut self, number: IncidentNumber, at: DateTime<Utc>, actor: &str, event: &Event) {
        if let Some(summary) = self.incidents.get_mut(&number) {
            summary.events += 1;
        }
        match event.unwrapped() {
            Event::IncidentOpened {
                title,
                severity,
                channel,
                ..
            } => {
                if number.0 > self.max_number + 1 {
                    self.holes.extend(self.max_number + 1..number.0);
                }
                self.max_number = self.max_number.max(number.0);
                self.holes.remove(&number.0);
                self.incidents.insert(
                    number,
                    IncidentSummary {
                        number,
                        title: title.clone(),
                        severity: *severity,
                        status: IncidentStatus::Open,
                        channel: channel.clone(),
                        opened_at: at,
                        opened_by: actor.to_string(),
                        events: 1,
                        settled_at: None,
                        commander: None,
                        acknowledged_at: None,
                    },
                );
                self.bound.insert(channel.clone(), number);
            }
            Event::SeverityChanged { to, .. } => {
                self.update(number, |s| s.severity = *to);
            }
            Event::RoleAssigned {
                role: crate::domain::types::Role::Commander,
                handle,
                ..
            } => {
                self.update(number, |s| s.commander = Some(handle.clone()));
            }
            Event::Acknowledged { .. } => {
                self.update(number, |s| {
                    s.acknowledged_at.get_or_insert(at);
                });
            }
            Event::IncidentResolved { .. } => {
                self.update(number, |s| {
                    s.status = IncidentStatus::Resolved;
                    s.settled_at = Some(at);
                });
            }
            Event::IncidentClosed {} => {
                self.update(number, |s| {
                    s.status = IncidentStatus::Closed;
                    s.settled_at = Some(at);
                });
                if let Some(channel) = self.incidents.get(&number).map(|s| s.channel.clone()) {
                    if self.bound.get(&channel) == Some(&number) {
                        self.bound.remove(&channel);
                    }
                }
            }
            Event::IncidentReopened { .. } => {
                // A reopened incident closes again later and publishes a new draft then.
                self.published.remove(&number);
                self.update(number, |s| {
                    s.status = IncidentStatus::Open;
                    s.settled_at = None;
                });
                if let Some(channel) = self.incidents.get(&number).map(|s| s.channel.clone()) {
                    self.bound.entry(channel).or_insert(number);
                }
            }
            Event::PostmortemPublished { .. } => {
                self.published.insert(number);
            }
            _ => {}
        }
    }

    fn update(&mut self, number: IncidentNumber, change: impl FnOnce(&mut IncidentSummary)) {
        if let Some(summary) = self.incidents.get_mut(&number) {
            change(summary);
        }
    }

    pub fn get(&self, number: IncidentNumber) -> Option<&IncidentSummary> {
        self.incidents.get(&number)
    }

    /// All incidents, by number.
    pub fn all(&self) -> impl Iterator<Item = &IncidentSummary> {
        self.incidents.values()
    }

    /// The open or resolved incident bound to a channel.
    pub fn bound_to(&self, channel: &str) -> Option<IncidentNumber> {
        self.bound.get(channel).copied()
    }

    /// Whether the incident's post-mortem was posted in its channel.
    pub fn published(&self, number: IncidentNumber) -> bool {
        self.published.contains(&number)
    }

    /// The next free incident number: the lowest hole, else the one after the highest number
    /// seen or reserved. Numbers are gapless because a number is taken only by a successful
    /// append to its (new) stream, and a hole left by a failed one is filled next.
    pub fn next_number(&self) -> IncidentNumber {
        if let Some(hole) = self.holes.iter().find(|n| !self.reserved.contains(n)) {
            return IncidentNumber(*hole);
        }
        let top = self
            .reserved
            .last()
            .copied()
            .unwrap_or(0)
            .max(self.max_number);
        IncidentNumber(top + 1)
    }

    /// Takes the next number for an open that will append outside the lock.
    pub fn reserve_number(&mut self) -> IncidentNumber {
        let number = self.next_number();
        self.reserved.insert(number.0);
        number
    }

    /// Gives a reserved number back once its append is done, either way.
    pub fn release_number(&mut self, number: IncidentNumber) {
        self.reserved.remove(&number.0);
        if number.0 < self.max_number && !self.incidents.contains_key(&number) {
            self.holes.insert(number.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn open(index: &mut IncidentIndex, n: u64) {
        let event = Event::IncidentOpened {
            number: IncidentNumber(n),
            title: format!("incident {n}"),
            severity: Severity::Sev3,
            channel: format!("inc-{n}"),
        };
        let at = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        index.apply(IncidentNumber(n), at, "x", &event);
    }

    #[test]
    fn numbers_are_reserved_and_holes_are_filled_first() {
        let mut p = IncidentIndex::default();
        assert_eq!(p.next_number(), IncidentNumber(1));
        let one = p.reserve_number();
        let two = p.reserve_number();
        assert_eq!((one, two), (IncidentNumber(1), IncidentNumber(2)));
        // 2 commits, 1 fails: 1 becomes a hole and is the next number.
        open(&mut p, 2);
        p.release_number(two);
        p.release_number(one);
        assert_eq!(p.next_number(), IncidentNumber(1));
        let again = p.reserve_number();
        assert_eq!(again, IncidentNumber(1));
        assert_eq!(p.next_number(), IncidentNumber(3));
        open(&mut p, 1);
        p.release_number(again);
        assert_eq!(p.next_number(), IncidentNumber(3));
        // Seen from elsewhere: a number skipped by another instance is filled too.
        open(&mut p, 5);
        assert_eq!(p.next_number(), IncidentNumber(3));
    }
}
