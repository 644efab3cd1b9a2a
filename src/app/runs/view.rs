//! What the projection keeps about runbook runs: what each was asked with, which wait for
//! an agent, and which an agent is carrying out.

use crate::domain::event::Event;
use crate::domain::types::IncidentNumber;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

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

/// Runs by (incident, run number).
#[derive(Debug, Default)]
pub struct RunIndex {
    asked: HashMap<(IncidentNumber, u32), AskedRun>,
    /// Runs waiting for an agent, oldest first.
    pub queued: BTreeMap<(IncidentNumber, u32), QueuedRun>,
    /// Runs an agent is carrying out.
    pub running: BTreeMap<(IncidentNumber, u32), RunningRun>,
}

impl RunIndex {
    /// Folds one event of an incident's stream.
    pub fn apply(&mut self, number: IncidentNumber, at: DateTime<Utc>, event: &Event) {
        match event.unwrapped() {
            Event::RunbookRequested {
                run,
                runbook,
                params,
                idempotent,
                ..
            } => {
                self.asked.insert(
                    (number, *run),
                    AskedRun {
                        runbook: runbook.clone(),
                        params: params.clone(),
                        idempotent: *idempotent,
                    },
                );
            }
            Event::RunbookQueued {
                run,
                agents,
                expires_at,
            } => {
                if let Some(asked) = self.asked.get(&(number, *run)) {
                    self.queued.insert(
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
            Event::RunbookClaimed { run, agent, nonce } => {
                self.queued.remove(&(number, *run));
                let idempotent = self
                    .asked
                    .get(&(number, *run))
                    .is_some_and(|asked| asked.idempotent);
                self.running.insert(
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
            Event::RunbookHeartbeat { run }
            | Event::RunbookOutput { run, .. }
            | Event::RunbookStepFinished { run, .. } => {
                if let Some(running) = self.running.get_mut(&(number, *run)) {
                    running.last_seen = running.last_seen.max(at);
                }
            }
            Event::RunbookStepStarted { run, step, .. } => {
                if let Some(running) = self.running.get_mut(&(number, *run)) {
                    running.last_seen = running.last_seen.max(at);
                    running.step = Some(step.clone());
                }
            }
            Event::RunbookFinished { run, .. } => {
                self.queued.remove(&(number, *run));
                self.running.remove(&(number, *run));
            }
            _ => {}
        }
    }

    /// The runbook a run was asked with.
    pub fn runbook_of(&self, number: IncidentNumber, run: u32) -> Option<&str> {
        self.asked
            .get(&(number, run))
            .map(|asked| asked.runbook.as_str())
    }
}
