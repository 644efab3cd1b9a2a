//! What the projection keeps about paging: each incident's escalations, and the recent
//! pages of open incidents with what each pager did with them.

use crate::domain::escalation::Escalations;
use crate::domain::event::{AttemptOutcome, Event, Recorded};
use crate::domain::types::IncidentNumber;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// How long a recorded page stays in the read model: one that has not gone out within the
/// hour is history, not a page to send.
pub const PAGES_KEPT: chrono::Duration = chrono::Duration::hours(1);

/// A page of an open incident, recorded within [`PAGES_KEPT`], and what each pager has done
/// with it so far: what a delivery worker needs to take over a page whose deliverer died.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedPage {
    pub target: String,
    pub message: Option<String>,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// Pager → its latest failed trigger attempt: when, and the HTTP status it got (which
    /// tells how long its deliverer may wait before the next).
    pub failed: BTreeMap<String, (DateTime<Utc>, Option<u16>)>,
    /// Pagers done with it: delivered, refused, or given up on.
    pub finished: BTreeSet<String>,
}

/// Escalations and recent pages, by incident.
#[derive(Debug, Default)]
pub struct PagingIndex {
    /// Incidents with an escalation that may still page.
    escalations: BTreeMap<IncidentNumber, Escalations>,
    /// (incident, dedup key) → a page of an open incident and its delivery so far; pages
    /// older than [`PAGES_KEPT`] are dropped as newer ones come.
    pages: BTreeMap<(IncidentNumber, String), RecordedPage>,
    /// When `pages` was last pruned.
    pages_pruned_at: Option<DateTime<Utc>>,
    /// Escalations started per policy, and each escalation's place among its policy's.
    policy_starts: BTreeMap<String, u32>,
    round_robin_turns: BTreeMap<(IncidentNumber, u32), u32>,
}

impl PagingIndex {
    /// Folds one event of an incident's stream.
    pub fn apply(
        &mut self,
        number: IncidentNumber,
        position: i64,
        at: DateTime<Utc>,
        actor: &str,
        event: &Event,
    ) {
        self.follow_escalation(number, position, at, actor, event);
        self.follow_pages(number, at, event);
    }

    /// Keeps the escalation state of incidents that have one; others cost nothing.
    fn follow_escalation(
        &mut self,
        number: IncidentNumber,
        position: i64,
        at: DateTime<Utc>,
        actor: &str,
        event: &Event,
    ) {
        let relevant = matches!(
            event.unwrapped(),
            Event::EscalationStarted { .. }
                | Event::PageRequested { .. }
                | Event::PageSkipped { .. }
                | Event::Acknowledged { .. }
                | Event::IncidentResolved { .. }
                | Event::IncidentClosed {}
        );
        if !relevant {
            return;
        }
        if !self.escalations.contains_key(&number)
            && !matches!(event.unwrapped(), Event::EscalationStarted { .. })
        {
            return;
        }
        let record = Recorded {
            event_id: uuid::Uuid::nil(),
            position,
            at,
            actor: actor.to_string(),
            event: event.clone(),
        };
        // Kept when finished: a later escalation of the same incident is numbered after it.
        let escalations = self.escalations.entry(number).or_default();
        escalations.apply(&record);
        if let Event::EscalationStarted { policy, .. } = event.unwrapped() {
            let started = self.policy_starts.entry(policy.clone()).or_default();
            self.round_robin_turns
                .insert((number, escalations.started()), *started);
            *started += 1;
        }
    }

    /// How many escalations of the same policy started before this one, in ledger order:
    /// where its round-robin steps take up the turn.
    pub fn round_robin_turn(&self, number: IncidentNumber, escalation: u32) -> u32 {
        self.round_robin_turns
            .get(&(number, escalation))
            .copied()
            .unwrap_or(0)
    }

    /// Keeps each recent page of an open incident with what its pagers did with it.
    fn follow_pages(&mut self, number: IncidentNumber, at: DateTime<Utc>, event: &Event) {
        match event.unwrapped() {
            Event::PageRequested {
                target,
                message,
                dedup_key,
                reason,
                ..
            } => {
                self.prune_pages(at);
                self.pages.insert(
                    (number, dedup_key.clone()),
                    RecordedPage {
                        target: target.clone(),
                        message: message.clone(),
                        reason: reason.clone(),
                        at,
                        failed: BTreeMap::new(),
                        finished: Default::default(),
                    },
                );
            }
            Event::PageAttempted {
                dedup_key,
                pager,
                action,
                outcome,
                status,
                ..
            } if action == "trigger" => {
                if let Some(page) = self.pages.get_mut(&(number, dedup_key.clone())) {
                    match outcome {
                        AttemptOutcome::Failed => {
                            page.failed.insert(pager.clone(), (at, *status));
                        }
                        AttemptOutcome::Delivered | AttemptOutcome::Refused => {
                            page.finished.insert(pager.clone());
                        }
                    }
                }
            }
            Event::PageGaveUp {
                dedup_key, pager, ..
            } => {
                if let Some(page) = self.pages.get_mut(&(number, dedup_key.clone())) {
                    page.finished.insert(pager.clone());
                }
            }
            // Acknowledged, resolved or closed: nobody needs its earlier pages any more.
            Event::Acknowledged { .. }
            | Event::IncidentResolved { .. }
            | Event::IncidentClosed {}
                if !self.pages.is_empty() =>
            {
                self.pages.retain(|(n, _), _| *n != number);
            }
            _ => {}
        }
    }

    /// Drops pages older than [`PAGES_KEPT`] before `now`, at most every ten minutes so a
    /// burst of pages does not rescan them all each time.
    fn prune_pages(&mut self, now: DateTime<Utc>) {
        if self
            .pages_pruned_at
            .is_some_and(|last| now - last < chrono::Duration::minutes(10))
        {
            return;
        }
        self.pages_pruned_at = Some(now);
        let oldest = now - PAGES_KEPT;
        self.pages.retain(|_, page| page.at >= oldest);
    }

    /// Recent pages of open incidents, by incident and dedup key, with their delivery so far.
    pub fn recorded_pages(
        &self,
    ) -> impl Iterator<Item = (IncidentNumber, &str, &RecordedPage)> + '_ {
        self.pages
            .iter()
            .map(|((number, key), page)| (*number, key.as_str(), page))
    }

    /// The escalations an incident ever had, finished ones included.
    pub fn escalation_of(&self, number: IncidentNumber) -> Option<&Escalations> {
        self.escalations.get(&number)
    }

    /// Incidents whose escalation may still page, with its state.
    pub fn escalations(&self) -> impl Iterator<Item = (IncidentNumber, &Escalations)> {
        self.escalations
            .iter()
            .filter(|(_, e)| e.active())
            .map(|(n, e)| (*n, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn page(key: &str) -> Event {
        Event::PageRequested {
            escalation: None,
            sequence: None,
            step: None,
            target: "@rpark".into(),
            message: None,
            dedup_key: key.into(),
            reason: "policy sre step 1".into(),
        }
    }

    fn attempt(key: &str, pager: &str, action: &str, outcome: AttemptOutcome) -> Event {
        Event::PageAttempted {
            dedup_key: key.into(),
            pager: pager.into(),
            action: action.into(),
            attempt: 1,
            outcome,
            status: Some(500),
            error: None,
        }
    }

    #[test]
    fn pages_are_followed_until_their_incident_is_acknowledged() {
        let mut p = PagingIndex::default();
        let (one, two) = (IncidentNumber(1), IncidentNumber(2));
        let t = |m| Utc.with_ymd_and_hms(2030, 1, 1, 0, m, 0).unwrap();
        p.apply(one, 3, t(1), "warroom", &page("k1"));
        p.apply(two, 4, t(1), "warroom", &page("k2"));
        let failed = attempt("k1", "pd", "trigger", AttemptOutcome::Failed);
        p.apply(one, 5, t(2), "warroom", &failed);
        let delivered = attempt("k1", "hook", "trigger", AttemptOutcome::Delivered);
        p.apply(one, 6, t(2), "warroom", &delivered);
        // An acknowledgement's mirror is no delivery of the page.
        let mirrored = attempt("k1", "pd", "acknowledge", AttemptOutcome::Delivered);
        p.apply(one, 7, t(3), "warroom", &mirrored);
        let pages: Vec<_> = p.recorded_pages().collect();
        assert_eq!(pages.len(), 2);
        let (number, key, k1) = pages[0];
        assert_eq!((number, key), (one, "k1"));
        assert_eq!(k1.failed.get("pd"), Some(&(t(2), Some(500))));
        assert!(k1.finished.contains("hook") && !k1.finished.contains("pd"));
        let gave_up = Event::PageGaveUp {
            dedup_key: "k1".into(),
            target: "@rpark".into(),
            pager: "pd".into(),
            reason: "gave up".into(),
        };
        p.apply(one, 8, t(4), "warroom", &gave_up);
        assert!(p.recorded_pages().next().unwrap().2.finished.contains("pd"));
        // Acknowledged: INC-1's pages are nobody's business any more; INC-2's stay.
        let ack = Event::Acknowledged {
            by: "rpark".into(),
            via: None,
            notification: None,
        };
        p.apply(one, 9, t(5), "rpark", &ack);
        let left: Vec<_> = p.recorded_pages().map(|(n, k, _)| (n, k)).collect();
        assert_eq!(left, vec![(two, "k2")]);
        // Pages older than an hour are dropped as newer ones come.
        let later = Utc.with_ymd_and_hms(2030, 1, 1, 2, 0, 0).unwrap();
        p.apply(one, 10, later, "warroom", &page("k3"));
        let left: Vec<_> = p.recorded_pages().map(|(_, k, _)| k).collect();
        assert_eq!(left, vec!["k3"]);
    }
}
