//! The in-memory read model the use cases route by: which incidents exist, which channel is
//! bound to which open incident, and where each chat message lives. Rebuilt from the ledger
//! at start-up and kept current by reading what was appended since.

use crate::domain::escalation::Escalations;
use crate::domain::event::{AlertFacts, AlertStatus, AttemptOutcome, Event, Recorded};
use crate::domain::types::{IncidentNumber, IncidentStatus, Severity};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

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
}

/// The last state recorded of one alert (by source and fingerprint).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertState {
    pub status: AlertStatus,
    pub starts_at: Option<DateTime<Utc>>,
    /// State changes recorded so far; names the next change of an alert without `starts_at`.
    pub changes: u32,
}

/// The incidents an alert group opened, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupState {
    pub incidents: Vec<IncidentNumber>,
}

/// What a run was asked with: its runbook, parameters, and whether it is idempotent.
#[derive(Debug, Clone, PartialEq)]
struct AskedRun {
    runbook: String,
    params: BTreeMap<String, String>,
    idempotent: bool,
}

/// A runbook run waiting for an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedRun {
    pub runbook: String,
    pub params: BTreeMap<String, String>,
    /// Labels an agent must carry.
    pub agents: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// A runbook run an agent claimed and has not finished.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningRun {
    pub agent: String,
    pub nonce: String,
    /// When the agent last said anything about it.
    pub last_seen: DateTime<Utc>,
    /// The step it last started.
    pub step: Option<String>,
    pub idempotent: bool,
}

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
    pub finished: std::collections::BTreeSet<String>,
}

/// The stream a chat message was recorded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Incident(IncidentNumber),
    /// The channel's own stream; `position` is the event holding the message's current text,
    /// so an edit can state the text it replaces without reading the whole channel.
    Channel {
        position: i64,
    },
}

/// Current state derived from events; never written anywhere but memory.
#[derive(Debug, Default)]
pub struct Projection {
    /// The last global position applied.
    pub position: i64,
    incidents: BTreeMap<IncidentNumber, IncidentSummary>,
    /// Channel → the not-yet-closed incident it is bound to.
    bound: HashMap<String, IncidentNumber>,
    /// (channel, source message id) → where the message lives.
    messages: HashMap<(String, String), Place>,
    /// (channel, source message id) of the messages recorded as deleted.
    deleted: std::collections::HashSet<(String, String)>,
    /// (source, fingerprint) → the alert's last recorded state.
    alerts: HashMap<(String, String), AlertState>,
    /// Alert group key → the incidents it opened.
    groups: HashMap<String, GroupState>,
    /// Incidents with an escalation that may still page.
    escalations: BTreeMap<IncidentNumber, Escalations>,
    /// Channel stream → the latest time of its events, so a lookback over a quiet channel
    /// needs no read.
    channel_latest: HashMap<String, DateTime<Utc>>,
    /// The highest incident number seen, and the numbers below it that no incident has (an
    /// open that failed after a later one succeeded): the next open fills them first, so
    /// numbers stay gapless.
    max_number: u64,
    holes: std::collections::BTreeSet<u64>,
    /// Numbers this process is opening right now, not yet committed.
    reserved: std::collections::BTreeSet<u64>,
    /// Alert groups this process is opening an incident for right now.
    opening: std::collections::HashSet<String>,
    /// Channel → its id in the chat service, once warroom linked it.
    chat_ids: HashMap<String, String>,
    /// Channel → the highest source message id recorded in it (Discord ids grow with time),
    /// where a chat front end resumes reading history after missing events.
    latest_message_id: HashMap<String, String>,
    /// Incidents whose post-mortem was posted in their channel.
    published: std::collections::HashSet<IncidentNumber>,
    /// Runs asked for, by (incident, run): the runbook, its parameters, whether idempotent.
    asked_runs: HashMap<(IncidentNumber, u32), AskedRun>,
    /// Runs waiting for an agent, oldest first.
    pub queued_runs: BTreeMap<(IncidentNumber, u32), QueuedRun>,
    /// Runs an agent is carrying out.
    pub running_runs: BTreeMap<(IncidentNumber, u32), RunningRun>,
    /// Releases and which are published (`release-N` streams).
    pub releases: super::releases::view::ReleaseIndex,
    /// Who is on call, and the highest shift number taken.
    current_shift: Option<crate::domain::shift::Shift>,
    max_shift: u32,
    /// Every deploy recorded (`deploys-SERVICE` streams).
    pub deploys: super::deploys::view::DeployIndex,
    /// (incident, dedup key) → a page of an open incident and its delivery so far; pages
    /// older than [`PAGES_KEPT`] are dropped as newer ones come.
    pages: BTreeMap<(IncidentNumber, String), RecordedPage>,
    /// When `pages` was last pruned.
    pages_pruned_at: Option<DateTime<Utc>>,
}

/// The key under which an alert's state is kept.
pub fn alert_key(alert: &AlertFacts) -> (String, String) {
    (alert.source.clone(), alert.fingerprint.clone())
}

/// The stream that holds a channel's messages while no incident is bound to it.
pub fn channel_stream(channel: &str) -> String {
    format!("channel-{channel}")
}

impl Projection {
    /// Folds one event, identified by its stream and global position.
    pub fn apply(
        &mut self,
        stream_id: &str,
        position: i64,
        at: DateTime<Utc>,
        actor: &str,
        event: &Event,
    ) {
        self.position = self.position.max(position);
        self.releases.apply(stream_id, position, event);
        self.deploys.apply(stream_id, at, event);
        let incident = IncidentNumber::from_stream_id(stream_id);
        if let Some(number) = incident {
            self.follow_escalation(number, position, at, actor, event);
            self.follow_pages(number, at, event);
        } else if stream_id.starts_with("channel-") {
            let latest = self
                .channel_latest
                .entry(stream_id.to_string())
                .or_insert(at);
            *latest = (*latest).max(at);
        }
        if let Some(number) = incident {
            if let Some(summary) = self.incidents.get_mut(&number) {
                summary.events += 1;
            }
        }
        match (incident, event.unwrapped()) {
            (
                Some(number),
                Event::IncidentOpened {
                    title,
                    severity,
                    channel,
                    ..
                },
            ) => {
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
                    },
                );
                self.bound.insert(channel.clone(), number);
            }
            (Some(number), Event::SeverityChanged { to, .. }) => {
                self.update(number, |s| s.severity = *to);
            }
            (Some(number), Event::IncidentResolved { .. }) => {
                self.update(number, |s| {
                    s.status = IncidentStatus::Resolved;
                    s.settled_at = Some(at);
                });
            }
            (Some(number), Event::IncidentClosed {}) => {
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
            (Some(number), Event::IncidentReopened { .. }) => {
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
            (place, Event::MessagePosted(message)) => {
                if let Some(id) = &message.message_id {
                    // Numeric ids of different lengths order by length first.
                    match self.latest_message_id.get_mut(&message.channel) {
                        Some(latest)
                            if (id.len(), id.as_str()) > (latest.len(), latest.as_str()) =>
                        {
                            latest.clone_from(id)
                        }
                        Some(_) => {}
                        None => {
                            self.latest_message_id
                                .insert(message.channel.clone(), id.clone());
                        }
                    }
                    let place = place
                        .map(Place::Incident)
                        .unwrap_or(Place::Channel { position });
                    self.messages
                        .insert((message.channel.clone(), id.clone()), place);
                }
            }
            (
                _,
                Event::MessageDeleted {
                    channel,
                    message_id,
                    ..
                },
            ) => {
                self.deleted.insert((channel.clone(), message_id.clone()));
            }
            (
                None,
                Event::MessageEdited {
                    channel,
                    message_id,
                    ..
                },
            ) => {
                self.messages.insert(
                    (channel.clone(), message_id.clone()),
                    Place::Channel { position },
                );
            }
            (_, Event::AlertReceived(alert)) => {
                let state = self.alerts.entry(alert_key(alert)).or_insert(AlertState {
                    status: alert.status,
                    starts_at: alert.starts_at,
                    changes: 0,
                });
                state.status = alert.status;
                state.starts_at = alert.starts_at;
                state.changes += 1;
            }
            (
                Some(number),
                Event::RunbookRequested {
                    run,
                    runbook,
                    params,
                    idempotent,
                    ..
                },
            ) => {
                self.asked_runs.insert(
                    (number, *run),
                    AskedRun {
                        runbook: runbook.clone(),
                        params: params.clone(),
                        idempotent: *idempotent,
                    },
                );
            }
            (
                Some(number),
                Event::RunbookQueued {
                    run,
                    agents,
                    expires_at,
                },
            ) => {
                if let Some(asked) = self.asked_runs.get(&(number, *run)) {
                    self.queued_runs.insert(
                        (number, *run),
                        QueuedRun {
                            runbook: asked.runbook.clone(),
                            params: asked.params.clone(),
                            agents: agents.clone(),
                            expires_at: *expires_at,
                        },
                    );
                }
            }
            (Some(number), Event::RunbookClaimed { run, agent, nonce }) => {
                self.queued_runs.remove(&(number, *run));
                let idempotent = self
                    .asked_runs
                    .get(&(number, *run))
                    .is_some_and(|asked| asked.idempotent);
                self.running_runs.insert(
                    (number, *run),
                    RunningRun {
                        agent: agent.clone(),
                        nonce: nonce.clone(),
                        last_seen: at,
                        step: None,
                        idempotent,
                    },
                );
            }
            (
                Some(number),
                Event::RunbookHeartbeat { run }
                | Event::RunbookOutput { run, .. }
                | Event::RunbookStepFinished { run, .. },
            ) => {
                if let Some(running) = self.running_runs.get_mut(&(number, *run)) {
                    running.last_seen = running.last_seen.max(at);
                }
            }
            (Some(number), Event::RunbookStepStarted { run, step, .. }) => {
                if let Some(running) = self.running_runs.get_mut(&(number, *run)) {
                    running.last_seen = running.last_seen.max(at);
                    running.step = Some(step.clone());
                }
            }
            (Some(number), Event::RunbookFinished { run, .. }) => {
                self.queued_runs.remove(&(number, *run));
                self.running_runs.remove(&(number, *run));
            }
            (
                _,
                Event::ChatChannelLinked {
                    channel, chat_id, ..
                },
            ) => {
                self.chat_ids.insert(channel.clone(), chat_id.clone());
            }
            (Some(number), Event::PostmortemPublished { .. }) => {
                self.published.insert(number);
            }

            (Some(number), Event::AlertGroupOpened { group, .. }) => {
                let state = self.groups.entry(group.clone()).or_default();
                if !state.incidents.contains(&number) {
                    state.incidents.push(number);
                }
            }
            (
                None,
                Event::ShiftStarted {
                    number,
                    person,
                    handed_over_from,
                },
            ) => {
                self.max_shift = self.max_shift.max(*number);
                self.current_shift = Some(crate::domain::shift::Shift {
                    number: *number,
                    person: person.clone(),
                    started_at: at,
                    ended_at: None,
                    handed_over_from: handed_over_from.clone(),
                    handed_over_to: None,
                });
            }
            (None, Event::ShiftEnded { number, .. })
                if self
                    .current_shift
                    .as_ref()
                    .is_some_and(|s| s.number == *number) =>
            {
                self.current_shift = None;
            }
            _ => {}
        }
    }

    /// The shift running now, if anyone is on call.
    pub fn current_shift(&self) -> Option<&crate::domain::shift::Shift> {
        self.current_shift.as_ref()
    }

    /// The number the next shift takes.
    pub fn next_shift_number(&self) -> u32 {
        self.max_shift + 1
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
        self.escalations.entry(number).or_default().apply(&record);
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

    /// The chat service's id of a channel warroom linked.
    pub fn chat_id(&self, channel: &str) -> Option<&str> {
        self.chat_ids.get(channel).map(String::as_str)
    }

    /// The channel linked to a chat service's channel id.
    pub fn channel_of_chat_id(&self, chat_id: &str) -> Option<&str> {
        self.chat_ids
            .iter()
            .find(|(_, id)| id.as_str() == chat_id)
            .map(|(channel, _)| channel.as_str())
    }

    /// The highest source message id recorded in a channel.
    pub fn latest_message_id(&self, channel: &str) -> Option<&str> {
        self.latest_message_id.get(channel).map(String::as_str)
    }

    /// Whether the incident's post-mortem was posted in its channel.
    pub fn published(&self, number: IncidentNumber) -> bool {
        self.published.contains(&number)
    }

    /// Whether a channel's stream holds anything that happened at or after `since`.
    pub fn channel_busy_since(&self, channel: &str, since: DateTime<Utc>) -> bool {
        self.channel_latest
            .get(&channel_stream(channel))
            .is_some_and(|latest| *latest >= since)
    }

    /// The last recorded state of an alert.
    pub fn alert_state(&self, alert: &AlertFacts) -> Option<&AlertState> {
        self.alerts.get(&alert_key(alert))
    }

    /// How many incidents a group has opened, and the latest.
    pub fn group(&self, group: &str) -> Option<&GroupState> {
        self.groups.get(group)
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

    fn update(&mut self, number: IncidentNumber, change: impl FnOnce(&mut IncidentSummary)) {
        if let Some(summary) = self.incidents.get_mut(&number) {
            change(summary);
        }
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

    /// Marks an alert group as being opened by this process; false if it already is.
    pub fn start_opening(&mut self, group: &str) -> bool {
        self.opening.insert(group.to_string())
    }

    pub fn finish_opening(&mut self, group: &str) {
        self.opening.remove(group);
    }

    pub fn is_opening(&self, group: &str) -> bool {
        self.opening.contains(group)
    }

    /// The open or resolved incident bound to a channel.
    pub fn bound_incident(&self, channel: &str) -> Option<IncidentNumber> {
        self.bound.get(channel).copied()
    }

    pub fn incident(&self, number: IncidentNumber) -> Option<&IncidentSummary> {
        self.incidents.get(&number)
    }

    /// The runbook a run was asked with.
    pub fn runbook_of(&self, number: IncidentNumber, run: u32) -> Option<&str> {
        self.asked_runs
            .get(&(number, run))
            .map(|asked| asked.runbook.as_str())
    }

    /// All incidents, by number.
    pub fn incidents(&self) -> impl Iterator<Item = &IncidentSummary> {
        self.incidents.values()
    }

    /// The source ids of the messages recorded in a channel and not deleted, for a chat front
    /// end to compare with the channel's history.
    pub fn live_message_ids(&self, channel: &str) -> Vec<String> {
        self.messages
            .keys()
            .filter(|key| key.0 == channel && !self.deleted.contains(*key))
            .map(|(_, id)| id.clone())
            .collect()
    }

    pub fn message_place(&self, channel: &str, message_id: &str) -> Option<Place> {
        self.messages
            .get(&(channel.to_string(), message_id.to_string()))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn open(p: &mut Projection, n: u64, position: i64) {
        let event = Event::IncidentOpened {
            number: IncidentNumber(n),
            title: format!("incident {n}"),
            severity: Severity::Sev3,
            channel: format!("inc-{n}"),
        };
        let at = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        p.apply(&IncidentNumber(n).stream_id(), position, at, "x", &event);
    }

    #[test]
    fn numbers_are_reserved_and_holes_are_filled_first() {
        let mut p = Projection::default();
        assert_eq!(p.next_number(), IncidentNumber(1));
        let one = p.reserve_number();
        let two = p.reserve_number();
        assert_eq!((one, two), (IncidentNumber(1), IncidentNumber(2)));
        // 2 commits, 1 fails: 1 becomes a hole and is the next number.
        open(&mut p, 2, 1);
        p.release_number(two);
        p.release_number(one);
        assert_eq!(p.next_number(), IncidentNumber(1));
        let again = p.reserve_number();
        assert_eq!(again, IncidentNumber(1));
        assert_eq!(p.next_number(), IncidentNumber(3));
        open(&mut p, 1, 2);
        p.release_number(again);
        assert_eq!(p.next_number(), IncidentNumber(3));
        // Seen from elsewhere: a number skipped by another instance is filled too.
        open(&mut p, 5, 3);
        assert_eq!(p.next_number(), IncidentNumber(3));
    }

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
        let mut p = Projection::default();
        open(&mut p, 1, 1);
        open(&mut p, 2, 2);
        let stream = IncidentNumber(1).stream_id();
        let t = |m| Utc.with_ymd_and_hms(2030, 1, 1, 0, m, 0).unwrap();
        p.apply(&stream, 3, t(1), "warroom", &page("k1"));
        p.apply(
            &IncidentNumber(2).stream_id(),
            4,
            t(1),
            "warroom",
            &page("k2"),
        );
        let failed = attempt("k1", "pd", "trigger", AttemptOutcome::Failed);
        p.apply(&stream, 5, t(2), "warroom", &failed);
        let delivered = attempt("k1", "hook", "trigger", AttemptOutcome::Delivered);
        p.apply(&stream, 6, t(2), "warroom", &delivered);
        // An acknowledgement's mirror is no delivery of the page.
        let mirrored = attempt("k1", "pd", "acknowledge", AttemptOutcome::Delivered);
        p.apply(&stream, 7, t(3), "warroom", &mirrored);
        let pages: Vec<_> = p.recorded_pages().collect();
        assert_eq!(pages.len(), 2);
        let (number, key, k1) = pages[0];
        assert_eq!((number, key), (IncidentNumber(1), "k1"));
        assert_eq!(k1.failed.get("pd"), Some(&(t(2), Some(500))));
        assert!(k1.finished.contains("hook") && !k1.finished.contains("pd"));
        let gave_up = Event::PageGaveUp {
            dedup_key: "k1".into(),
            target: "@rpark".into(),
            pager: "pd".into(),
            reason: "gave up".into(),
        };
        p.apply(&stream, 8, t(4), "warroom", &gave_up);
        assert!(p.recorded_pages().next().unwrap().2.finished.contains("pd"));
        // Acknowledged: INC-1's pages are nobody's business any more; INC-2's stay.
        let ack = Event::Acknowledged { by: "rpark".into() };
        p.apply(&stream, 9, t(5), "rpark", &ack);
        let left: Vec<_> = p.recorded_pages().map(|(n, k, _)| (n, k)).collect();
        assert_eq!(left, vec![(IncidentNumber(2), "k2")]);
        // Pages older than an hour are dropped as newer ones come.
        let later = Utc.with_ymd_and_hms(2030, 1, 1, 2, 0, 0).unwrap();
        p.apply(&stream, 10, later, "warroom", &page("k3"));
        let left: Vec<_> = p.recorded_pages().map(|(_, k, _)| k).collect();
        assert_eq!(left, vec!["k3"]);
    }
}
