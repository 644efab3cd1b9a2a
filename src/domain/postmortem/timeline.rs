//! The Incident Timeline: one entry per message or system event, in time order, with each
//! message's edits and its delete folded into its entry.
//!
//! The timeline decides about every event (its match names them all, so a new event gets a
//! decision here); the incident's own course and the messages are described here, alerts and
//! pages in `paging`, runbook runs in `runs`, deploy notes in `deploys`.
//!
//! Folded (the default), a runbook run is one line at its request, completed from the whole
//! run when the timeline finishes, and the pages one escalation step sent are one line naming
//! every target; `Detail::Full` gives every event its own line instead.

use super::names::Names;
use super::runs::Runs;
use super::{deploys, hhmm, paging, runs, Detail, Edit, TimelineEntry};
use crate::domain::event::{ChatMessage, Event, Recorded};
use crate::domain::types::IncidentNumber;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;

pub(super) struct Timeline {
    number: IncidentNumber,
    tz: Tz,
    detail: Detail,
    entries: Vec<TimelineEntry>,
    /// The escalation step (escalation, sequence) whose pages the last entry holds.
    step_pages: Option<(u32, u32)>,
    /// The targets of that step's pages, which its line names.
    step_targets: Vec<String>,
    /// Who marked each highlighted entry as key, by lowercased handle. Kept here, not in
    /// the entries: few are marked, and a long incident has many entries.
    marks: HashMap<usize, Vec<String>>,
    /// The entry of each message, by channel and message id.
    by_message: HashMap<String, HashMap<String, usize>>,
}

impl Timeline {
    /// `events`: how many the incident has, an upper bound on the lines, so the list is
    /// sized once instead of doubling its way through a long incident.
    pub(super) fn new(number: IncidentNumber, tz: Tz, detail: Detail, events: usize) -> Timeline {
        Timeline {
            number,
            tz,
            detail,
            entries: Vec::with_capacity(events),
            step_pages: None,
            step_targets: Vec::new(),
            marks: HashMap::new(),
            by_message: HashMap::new(),
        }
    }

    /// Whether the message already has its entry, so an edit of it changes that entry.
    pub(super) fn holds_message(&self, channel: &str, message_id: &str) -> bool {
        self.entry_of(channel, message_id).is_some()
    }

    fn entry_of(&self, channel: &str, message_id: &str) -> Option<usize> {
        self.by_message.get(channel)?.get(message_id).copied()
    }

    fn hold_message(&mut self, channel: &str, message_id: &str, entry: usize) {
        self.by_message
            .entry(channel.to_string())
            .or_default()
            .insert(message_id.to_string(), entry);
    }

    pub(super) fn see(&mut self, r: &Recorded, names: &Names) {
        match r.event.unwrapped() {
            Event::IncidentOpened { .. }
            | Event::SeverityChanged { .. }
            | Event::RoleAssigned { .. }
            | Event::StatusUpdatePosted { .. }
            | Event::IncidentResolved { .. }
            | Event::IncidentClosed {}
            | Event::IncidentMitigated { .. }
            | Event::ActionCompleted { .. }
            | Event::IncidentReopened { .. } => self.push(course(r, names, self.number)),
            // Notes have sections of their own.
            Event::ImpactNoted { .. }
            | Event::ResolutionNoted { .. }
            | Event::CauseNoted { .. }
            | Event::ActionIssueLinked { .. }
            | Event::ActionAdded { .. } => {}
            Event::MessageHighlighted {
                channel,
                message_id,
            } => self.mark(channel, message_id, names, &r.actor, true),
            Event::MessageHighlightWithdrawn {
                channel,
                message_id,
            } => self.mark(channel, message_id, names, &r.actor, false),
            Event::MessagePosted(m) => self.posted(r, names, m),
            Event::MessageEdited {
                channel,
                message_id,
                before,
                after,
                found_at,
            } => {
                let edit = Edit {
                    at: r.at,
                    before: before.clone(),
                    after: after.clone(),
                    found_at: *found_at,
                    event_id: r.event_id,
                };
                self.edited(r, names, channel, message_id, edit);
            }
            Event::MessageDeleted {
                channel,
                message_id,
                found_at,
            } => self.deleted(r, names, channel, message_id, *found_at),
            Event::PageRequested {
                escalation: Some(escalation),
                sequence: Some(sequence),
                target,
                ..
            } if self.detail == Detail::Folded => {
                self.page_of_step(r, names, (*escalation, *sequence), target)
            }
            Event::RunbookRequested { run, .. } if self.detail == Detail::Folded => {
                let mut e = TimelineEntry::of(r, names, "run", &r.actor, String::new());
                e.extras_mut().run = Some(*run);
                self.push(Some(e));
            }
            // Folded, the rest of a run is in its line and the Runs appendix.
            event if self.detail == Detail::Folded && runs::run_of(event).is_some() => {}
            Event::AlertReceived(_)
            | Event::AlertGroupOpened { .. }
            | Event::SopPosted { .. }
            | Event::EscalationStarted { .. }
            | Event::PageRequested { .. }
            | Event::PageAttempted { .. }
            | Event::PageGaveUp { .. }
            | Event::PageSkipped { .. }
            | Event::NotificationRequested { .. }
            | Event::NotificationAttempted { .. }
            | Event::NotificationGaveUp { .. }
            | Event::NotificationStatus { .. }
            | Event::Acknowledged { .. } => self.push(paging::entry(r, names)),
            Event::RunbookRequested { .. }
            | Event::RunbookConfirmed { .. }
            | Event::RunbookApproved { .. }
            | Event::RunbookQueued { .. }
            | Event::RunbookHeartbeat { .. }
            | Event::RunbookClaimed { .. }
            | Event::RunbookStepStarted { .. }
            | Event::RunbookOutput { .. }
            | Event::RunbookStepFinished { .. }
            | Event::RunbookFinished { .. } => self.push(runs::entry(r, names)),
            Event::DeployNoted { .. } => self.push(deploys::entry(r, names, self.tz)),
            // The chat channel link and the posted draft itself: the draft must read the same
            // before and after it is posted.
            Event::ChatChannelLinked { .. } | Event::PostmortemPublished { .. } => {}
            Event::CommandRejected { .. } | Event::Imported { .. } => {}
            // Deploys live in their services' streams; an incident holds notes of them.
            Event::DeployRecorded(_) | Event::DeployFlagged { .. } => {}
            // Shifts live in their own streams.
            Event::ShiftStarted { .. } | Event::ShiftEnded { .. } => {}
            // Schedules and overrides live in their own streams.
            Event::ScheduleDefined { .. }
            | Event::ScheduleRemoved { .. }
            | Event::OncallOverridden { .. }
            | Event::OncallHandedOff { .. }
            | Event::OncallSwapRequested { .. }
            | Event::OncallSwapAnswered { .. }
            | Event::OncallOverrideCancelled { .. } => {}
            // Release events live in release streams, never in an incident's.
            Event::ReleaseOpened { .. }
            | Event::ReleaseChangeAdded { .. }
            | Event::ReleaseStakeholderAdded { .. }
            | Event::ReleaseDecisionNoted { .. }
            | Event::ReleaseTestNoted { .. }
            | Event::ReleaseNoteAdded { .. }
            | Event::ReleaseCapacityPlanned(_)
            | Event::ReleasePublished {} => {}
        }
    }

    /// The entries in time order, each run's line completed from the whole run.
    pub(super) fn finish(mut self, runs: &Runs, names: &Names) -> Vec<TimelineEntry> {
        for e in &mut self.entries {
            if let (Some(run), "run") = (e.extras().run, e.kind) {
                if let Some(run) = runs.get(run) {
                    e.text = run.in_one_line(names);
                }
            }
        }
        // Deploy notes carry an earlier time than the event that holds them.
        in_time_order(&mut self.entries);
        // Sized for every event, of which few may have made a line.
        self.entries.shrink_to_fit();
        self.entries
    }

    /// Adds the entry an event makes, if it makes one.
    fn push(&mut self, entry: Option<TimelineEntry>) {
        if entry.is_some() {
            self.step_pages = None;
        }
        self.entries.extend(entry);
    }

    /// A page of an escalation step joins the line of the step's other pages, recorded
    /// together just before it.
    fn page_of_step(&mut self, r: &Recorded, names: &Names, step: (u32, u32), target: &str) {
        if self.step_pages == Some(step) {
            if let Some(line) = self.entries.last_mut() {
                line.extras_mut().also.push(r.event_id);
                self.step_targets.push(target.to_string());
                line.text = paging::step_pages_text(r, &self.step_targets);
                return;
            }
        }
        self.push(paging::entry(r, names));
        self.step_targets = vec![target.to_string()];
        self.step_pages = Some(step);
    }

    /// A highlight mark put on or taken off a message's entry.
    fn mark(&mut self, channel: &str, message_id: &str, names: &Names, by: &str, on: bool) {
        let Some(i) = self.entry_of(channel, message_id) else {
            return;
        };
        let by = names.resolve(by).key.clone();
        let marks = self.marks.entry(i).or_default();
        marks.retain(|m| *m != by);
        if on {
            marks.push(by);
        }
        self.entries[i].extras_mut().highlighted = !marks.is_empty();
    }

    fn posted(&mut self, r: &Recorded, names: &Names, m: &ChatMessage) {
        let mut e = TimelineEntry::of(r, names, "message", &m.author, m.text.clone());
        if !m.attachments.is_empty() {
            e.extras_mut().attachments = m.attachments.clone();
        }
        if let Some(id) = &m.message_id {
            self.hold_message(&m.channel, id, self.entries.len());
        }
        self.entries.push(e);
    }

    /// The edit joins its message's entry; a message never seen gets an entry of its own,
    /// the editor's, which later edits join.
    fn edited(&mut self, r: &Recorded, names: &Names, channel: &str, message_id: &str, edit: Edit) {
        match self.entry_of(channel, message_id) {
            Some(i) => {
                self.entries[i].text = edit.after.clone();
                self.entries[i].extras_mut().edits.push(edit);
            }
            None => {
                let mut e = TimelineEntry::of(r, names, "message", &r.actor, edit.after.clone());
                e.extras_mut().edits.push(edit);
                self.hold_message(channel, message_id, self.entries.len());
                self.entries.push(e);
            }
        }
    }

    fn deleted(
        &mut self,
        r: &Recorded,
        names: &Names,
        channel: &str,
        message_id: &str,
        found_at: Option<DateTime<Utc>>,
    ) {
        let i = match self.entry_of(channel, message_id) {
            Some(i) => i,
            None => {
                self.entries.push(TimelineEntry::of(
                    r,
                    names,
                    "message",
                    &r.actor,
                    String::new(),
                ));
                self.entries.len() - 1
            }
        };
        // A published document must not re-expose what someone deleted (a pasted
        // secret, say); the ledger keeps the original.
        let e = &mut self.entries[i];
        e.text = match found_at {
            Some(found) => format!(
                "[message deleted while warroom was away; found {}]",
                hhmm(found, self.tz)
            ),
            None => format!("[message deleted {}]", hhmm(r.at, self.tz)),
        };
        let extras = e.extras_mut();
        extras.deleted_while_away = found_at.is_some();
        extras.edits.clear();
        extras.attachments.clear();
        extras.deleted_at = Some(r.at);
    }
}

/// Sorts entries by time, keeping the order of equal times, in place. They arrive in time
/// order but for a few (deploy notes), so each of those is moved back to its place; a
/// library sort would first allocate room for half the timeline. Entries out of order
/// beyond a few are left to that sort.
fn in_time_order(entries: &mut [TimelineEntry]) {
    const FEW: usize = 64;
    let mut moved = 0;
    for i in 1..entries.len() {
        if entries[i - 1].at <= entries[i].at {
            continue;
        }
        moved += 1;
        if moved > FEW {
            entries.sort_by_key(|e| e.at);
            return;
        }
        let at = entries[i].at;
        let place = entries[..i].partition_point(|e| e.at <= at);
        entries[place..=i].rotate_right(1);
    }
}

impl TimelineEntry {
    /// An entry for the event, by `author`.
    pub(super) fn of(
        r: &Recorded,
        names: &Names,
        kind: &'static str,
        author: &str,
        text: String,
    ) -> TimelineEntry {
        let who = names.resolve(author);
        TimelineEntry {
            at: r.at,
            kind,
            author: who.handle.clone(),
            text,
            event_id: r.event_id,
            author_name: who.name.clone(),
            extras: None,
            shown_as: who.shown.clone(),
        }
    }
}

/// The entry of one event read alone, in the full timeline's words: what a live view shows
/// as each event comes. Messages, edits, deletes, marks and notes are not described here:
/// they are texts a view shows as they were said.
pub(super) fn alone(
    r: &Recorded,
    names: &Names,
    n: IncidentNumber,
    tz: Tz,
) -> Option<TimelineEntry> {
    match r.event.unwrapped() {
        Event::AlertReceived(_)
        | Event::AlertGroupOpened { .. }
        | Event::SopPosted { .. }
        | Event::EscalationStarted { .. }
        | Event::PageRequested { .. }
        | Event::PageAttempted { .. }
        | Event::PageGaveUp { .. }
        | Event::PageSkipped { .. }
        | Event::NotificationRequested { .. }
        | Event::NotificationAttempted { .. }
        | Event::NotificationGaveUp { .. }
        | Event::NotificationStatus { .. }
        | Event::Acknowledged { .. } => paging::entry(r, names),
        event if runs::run_of(event).is_some() => runs::entry(r, names),
        Event::DeployNoted { .. } => deploys::entry(r, names, tz),
        _ => course(r, names, n),
    }
}

/// The entry of an event in the incident's own course: opened, severity, roles, status
/// updates, resolved, closed, reopened.
fn course(r: &Recorded, names: &Names, n: IncidentNumber) -> Option<TimelineEntry> {
    let (kind, text) = match r.event.unwrapped() {
        Event::IncidentOpened {
            title,
            severity,
            channel,
            ..
        } => (
            "opened",
            format!("opened {n} “{title}” at {severity} in #{channel}"),
        ),
        Event::SeverityChanged { from, to } => (
            "severity",
            format!("changed the severity from {from} to {to}"),
        ),
        Event::RoleAssigned { role, handle, .. } => {
            let text = if names.canonical(handle) == names.canonical(&r.actor) {
                format!("took the {role} role")
            } else {
                format!("made {} {role}", names.resolve(handle).shown)
            };
            ("role", text)
        }
        Event::StatusUpdatePosted { text } => ("update", format!("posted a status update: {text}")),
        Event::IncidentResolved { implicit } => {
            let text = if *implicit {
                format!("resolved {n} on closing it")
            } else {
                format!("resolved {n}")
            };
            ("resolved", text)
        }
        Event::IncidentClosed {} => ("closed", format!("closed {n}")),
        Event::ActionCompleted { action } => ("action", format!("marked action A{action} done")),
        Event::IncidentMitigated { text } => (
            "mitigated",
            match text {
                Some(how) => format!("said {n} is mitigated: {how}"),
                None => format!("said {n} is mitigated"),
            },
        ),
        Event::IncidentReopened { reason } => {
            let text = match reason {
                Some(reason) => format!("reopened {n}: {reason}"),
                None => format!("reopened {n}"),
            };
            ("reopened", text)
        }
        _ => return None,
    };
    Some(TimelineEntry::of(r, names, kind, &r.actor, text))
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{directory, say, Log};
    use super::*;

    /// Entries at the given minutes past 09:00, each text its index.
    fn entries(minutes: &[u32]) -> Vec<TimelineEntry> {
        let directory = directory();
        let names = Names::new(&directory);
        let mut log = Log(vec![]);
        for (i, m) in minutes.iter().enumerate() {
            log.at((9, *m), "svega", say(&format!("m{i}"), "svega", "x"));
        }
        log.0
            .iter()
            .enumerate()
            .map(|(i, r)| TimelineEntry::of(r, &names, "message", "svega", i.to_string()))
            .collect()
    }

    fn texts(entries: &[TimelineEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.text.as_str()).collect()
    }

    #[test]
    fn late_entries_move_back_behind_their_equals() {
        let mut few = entries(&[1, 2, 2, 3, 2, 4, 0]);
        in_time_order(&mut few);
        assert_eq!(texts(&few), ["6", "0", "1", "2", "4", "3", "5"]);
    }

    #[test]
    fn many_entries_out_of_order_are_sorted_all_the_same() {
        let minutes: Vec<u32> = (0..200).map(|i| 59 - (i % 60)).collect();
        let mut many = entries(&minutes);
        let mut expected: Vec<(DateTime<Utc>, usize)> =
            many.iter().enumerate().map(|(i, e)| (e.at, i)).collect();
        expected.sort();
        in_time_order(&mut many);
        let expected: Vec<String> = expected.iter().map(|(_, i)| i.to_string()).collect();
        assert_eq!(texts(&many), expected);
    }
}
