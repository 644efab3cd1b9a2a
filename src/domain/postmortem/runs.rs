//! Runbook runs: each step of a run's life on the timeline, and for a finished run the
//! Resolution line saying what was run, who asked, who approved and how it ended.

use super::names::Names;
use super::{Note, TimelineEntry};
use crate::domain::event::{Event, Recorded};
use std::collections::HashMap;

/// The runs asked for so far.
#[derive(Default)]
pub(super) struct Runs {
    // Run number → (command, requester, approver), for the Resolution lines of runs.
    asked: HashMap<u32, (String, String, Option<String>)>,
}

impl Runs {
    pub(super) fn see(&mut self, r: &Recorded) {
        match r.event.unwrapped() {
            Event::RunbookRequested { run, command, .. } => {
                self.asked
                    .insert(*run, (command.clone(), r.actor.clone(), None));
            }
            Event::RunbookApproved { run, by } => {
                if let Some(a) = self.asked.get_mut(run) {
                    a.2 = Some(by.clone());
                }
            }
            _ => {}
        }
    }

    /// The Resolution line of a finished run, when the incident holds its request.
    pub(super) fn resolution(
        &self,
        r: &Recorded,
        names: &Names,
        run: u32,
        outcome: &str,
        message: &str,
    ) -> Option<Note> {
        let directory = names.directory();
        let (command, requester, approver) = self.asked.get(&run)?;
        let approved = approver
            .as_ref()
            .map(|a| format!(", approved by {}", directory.display(a)))
            .unwrap_or_default();
        Some(Note {
            text: format!(
                "{command} (run {run}, asked by {}{approved}) {}: {message}",
                directory.display(requester),
                outcome.replace('_', " ")
            ),
            author: names.canonical(requester),
            event_id: r.event_id,
        })
    }
}

/// The event's timeline entry, if it is a run's and says what the run did.
pub(super) fn entry(r: &Recorded, names: &Names) -> Option<TimelineEntry> {
    let e = match r.event.unwrapped() {
        Event::RunbookRequested {
            run,
            command,
            params,
            confirm,
            approval,
            ..
        } => {
            let mut text = format!("asked for run {run}: {command}");
            for (name, value) in params {
                text.push_str(&format!(" {name}:{value}"));
            }
            let mut waits = Vec::new();
            if *confirm {
                waits.push("their confirmation".to_string());
            }
            if let Some(approver) = approval {
                waits.push(format!("approval by {approver}"));
            }
            if !waits.is_empty() {
                text.push_str(&format!(" (waits for {})", waits.join(" and ")));
            }
            TimelineEntry::of(r, names, "runbook", &r.actor, text)
        }
        Event::RunbookConfirmed { run } => TimelineEntry::of(
            r,
            names,
            "runbook",
            &r.actor,
            format!("confirmed run {run}"),
        ),
        Event::RunbookApproved { run, by } => {
            TimelineEntry::of(r, names, "runbook", by, format!("approved run {run}"))
        }
        Event::RunbookQueued { run, .. } => TimelineEntry::of(
            r,
            names,
            "runbook",
            &r.actor,
            format!("run {run} queued for an agent"),
        ),
        Event::RunbookHeartbeat { .. } => return None,
        Event::RunbookClaimed { run, agent, .. } => TimelineEntry::of(
            r,
            names,
            "runbook",
            &r.actor,
            format!("agent {agent} started run {run}"),
        ),
        Event::RunbookStepStarted {
            run,
            step,
            attempt,
            program,
            args,
        } => {
            let again = if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            TimelineEntry::of(
                r,
                names,
                "runbook",
                &r.actor,
                format!("run {run} step {step}{again}: {program} {}", args.join(" ")),
            )
        }
        Event::RunbookStepFinished {
            run,
            step,
            exit,
            succeeded,
            ..
        } => {
            let how = if *succeeded { "succeeded" } else { "failed" };
            let code = exit.map(|c| format!(" (exit {c})")).unwrap_or_default();
            TimelineEntry::of(
                r,
                names,
                "runbook",
                &r.actor,
                format!("run {run} step {step} {how}{code}"),
            )
        }
        // Output is in the ledger; the timeline shows what each step did.
        Event::RunbookOutput { .. } => return None,
        Event::RunbookFinished {
            run,
            outcome,
            message,
        } => TimelineEntry::of(
            r,
            names,
            "runbook",
            &r.actor,
            format!("run {run} {}: {message}", outcome.replace('_', " ")),
        ),
        _ => return None,
    };
    Some(e)
}
