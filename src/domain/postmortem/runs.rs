//! Runbook runs: each run as a whole (who asked, confirmed and approved, how long, how it
//! ended) for its one timeline line and the Runs appendix with every step; each event of a
//! run as a line of its own for `--full`; and for a finished run the Resolution line.

use super::names::Names;
use super::{Note, TimelineEntry};
use crate::domain::event::{Event, Recorded};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// One runbook run of the incident, for the Runs appendix.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub run: u32,
    /// `/restart app`.
    pub command: String,
    pub params: BTreeMap<String, String>,
    pub asked_by: String,
    pub asked_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The agent that ran it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// succeeded, failed, timed_out, …; null while it has not ended.
    pub outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub steps: Vec<RunStep>,
    /// The request.
    pub event_id: Uuid,
    /// The run's finish, when it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_event_id: Option<Uuid>,
    /// What the request waited for, in words (`their confirmation`, `approval by !sre`).
    #[serde(skip)]
    pub(super) waits: Vec<String>,
    /// It was handed to the agents.
    #[serde(skip)]
    pub(super) queued: bool,
    /// Who asked, as shown (`Riley Park (@rpark)`).
    #[serde(skip)]
    pub(super) asked_by_shown: String,
}

/// One attempt at one step of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunStep {
    pub step: String,
    pub attempt: u32,
    pub program: String,
    pub args: Vec<String>,
    pub started_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// Null while it has not finished.
    pub succeeded: Option<bool>,
    pub event_id: Uuid,
}

/// The runs asked for so far, by run number.
#[derive(Default)]
pub(super) struct Runs {
    runs: Vec<Run>,
    by_number: HashMap<u32, usize>,
}

impl Runs {
    pub(super) fn see(&mut self, r: &Recorded, names: &Names) {
        let event = r.event.unwrapped();
        if let Event::RunbookRequested {
            run,
            command,
            params,
            confirm,
            approval,
            ..
        } = event
        {
            let waits = waits_for(*confirm, approval.as_deref());
            self.by_number.insert(*run, self.runs.len());
            self.runs.push(Run {
                run: *run,
                command: command.clone(),
                params: params.clone(),
                asked_by: names.canonical(&r.actor),
                asked_at: r.at,
                confirmed_by: None,
                approved_by: None,
                agent: None,
                finished_at: None,
                outcome: None,
                message: None,
                steps: Vec::new(),
                event_id: r.event_id,
                finished_event_id: None,
                waits,
                queued: false,
                asked_by_shown: names.resolve(&r.actor).shown.clone(),
            });
            return;
        }
        let Some(number) = run_of(event) else { return };
        let Some(run) = self.by_number.get(&number).map(|&i| &mut self.runs[i]) else {
            return;
        };
        match event {
            Event::RunbookConfirmed { .. } => run.confirmed_by = Some(names.canonical(&r.actor)),
            Event::RunbookApproved { by, .. } => run.approved_by = Some(names.canonical(by)),
            Event::RunbookQueued { .. } => run.queued = true,
            Event::RunbookClaimed { agent, .. } => run.agent = Some(agent.clone()),
            Event::RunbookStepStarted {
                step,
                attempt,
                program,
                args,
                ..
            } => run.steps.push(RunStep {
                step: step.to_string(),
                attempt: *attempt,
                program: program.clone(),
                args: args.clone(),
                started_at: r.at,
                finished_at: None,
                exit: None,
                succeeded: None,
                event_id: r.event_id,
            }),
            Event::RunbookStepFinished {
                step,
                exit,
                succeeded,
                ..
            } => {
                let step = step.to_string();
                if let Some(s) = run
                    .steps
                    .iter_mut()
                    .rev()
                    .find(|s| s.step == step && s.finished_at.is_none())
                {
                    s.finished_at = Some(r.at);
                    s.exit = *exit;
                    s.succeeded = Some(*succeeded);
                }
            }
            Event::RunbookFinished {
                outcome, message, ..
            } => {
                run.finished_at = Some(r.at);
                run.outcome = Some(outcome.replace('_', " "));
                run.message = Some(message.clone());
                run.finished_event_id = Some(r.event_id);
            }
            _ => {}
        }
    }

    /// The run, when the incident holds its request.
    pub(super) fn get(&self, number: u32) -> Option<&Run> {
        self.by_number.get(&number).map(|&i| &self.runs[i])
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
        let asked = self.get(run)?;
        let approved = asked
            .approved_by
            .as_ref()
            .map(|a| format!(", approved by {}", directory.display(a)))
            .unwrap_or_default();
        Some(Note {
            text: format!(
                "{} (run {run}, asked by {}{approved}) {}: {message}",
                asked.command,
                directory.display(&asked.asked_by),
                outcome.replace('_', " ")
            ),
            author: asked.asked_by.clone(),
            event_id: r.event_id,
            from_run: true,
        })
    }

    pub(super) fn finish(self) -> Vec<Run> {
        self.runs
    }
}

/// What a request waits for, in words (`their confirmation`, `approval by !sre`).
fn waits_for(confirm: bool, approval: Option<&str>) -> Vec<String> {
    let mut waits = Vec::new();
    if confirm {
        waits.push("their confirmation".to_string());
    }
    if let Some(approver) = approval {
        waits.push(format!("approval by {approver}"));
    }
    waits
}

/// The run an event of a run belongs to.
pub(super) fn run_of(event: &Event) -> Option<u32> {
    match event {
        Event::RunbookRequested { run, .. }
        | Event::RunbookConfirmed { run }
        | Event::RunbookApproved { run, .. }
        | Event::RunbookQueued { run, .. }
        | Event::RunbookHeartbeat { run, .. }
        | Event::RunbookClaimed { run, .. }
        | Event::RunbookStepStarted { run, .. }
        | Event::RunbookOutput { run, .. }
        | Event::RunbookStepFinished { run, .. }
        | Event::RunbookFinished { run, .. } => Some(*run),
        _ => None,
    }
}

impl Run {
    /// The run in one line, without who asked (the line's author) or when: what was run,
    /// who else took part, and how it ended.
    pub(super) fn in_one_line(&self, names: &Names) -> String {
        let mut text = format!("ran {}", self.command);
        for (name, value) in &self.params {
            text.push_str(&format!(" {name}:{value}"));
        }
        let mut facts = vec![format!("run {}", self.run)];
        if let Some(by) = &self.confirmed_by {
            if !by.eq_ignore_ascii_case(&self.asked_by) {
                facts.push(format!("confirmed by {}", names.resolve(by).shown));
            }
        }
        if let Some(by) = &self.approved_by {
            facts.push(format!("approved by {}", names.resolve(by).shown));
        }
        if let Some(agent) = &self.agent {
            facts.push(format!("on agent {agent}"));
        }
        text.push_str(&format!(" ({})", facts.join(", ")));
        match (&self.outcome, self.finished_at) {
            (Some(outcome), Some(end)) => {
                // What the run took on the host, not how long it waited to be confirmed.
                let began = self.steps.first().map_or(self.asked_at, |s| s.started_at);
                let took = super::minutes_in_words((end - began).num_minutes().max(0));
                text.push_str(&format!(": {outcome} after {took}"));
                if let Some(message) = self.message.as_deref().filter(|m| !m.is_empty()) {
                    text.push_str(&format!(" — {message}"));
                }
            }
            _ if self.agent.is_some() || !self.steps.is_empty() => {
                text.push_str(": had not finished by the last recorded event")
            }
            _ if self.queued => {
                text.push_str(": queued; no agent had taken it by the last recorded event")
            }
            _ if !self.waits.is_empty() => {
                text.push_str(&format!(": waited for {}", self.waits.join(" and ")))
            }
            _ => text.push_str(": never started"),
        }
        text
    }
}

/// The event's own timeline entry, for `--full`, if it says what the run did.
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
            let waits = waits_for(*confirm, approval.as_deref());
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
