//! Runbook runs within an incident: requested, confirmed by the requester, approved by a
//! second person when the runbook asks for it, queued for an agent, then claimed, stepped
//! through and finished. The rules are here; the facts are `Runbook*` events in the
//! incident's stream, so the timeline and the post-mortem show every transition.

use super::access::Access;
use super::event::{Event, Recorded};
use super::runbook::{Approver, Runbook};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// How long a queued run may wait for an agent before it is refused as stale.
pub const CLAIM_WINDOW_MINUTES: i64 = 10;

/// Where a run is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    AwaitingConfirmation,
    AwaitingApproval,
    /// Waiting for an agent; agents may claim it until `expires_at`.
    Queued {
        expires_at: DateTime<Utc>,
    },
    Running {
        agent: String,
    },
    Finished {
        outcome: String,
    },
}

/// One run as folded from its events.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// 1, 2, … within the incident.
    pub number: u32,
    pub command: String,
    /// The runbook's file name without `.toml`, which is how agents know it.
    pub runbook: String,
    pub params: BTreeMap<String, String>,
    pub requested_by: String,
    pub approval: Option<String>,
    pub confirmed: bool,
    pub approved_by: Option<String>,
    pub idempotent: bool,
    pub state: RunState,
}

/// Why a run order was refused; the text says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("there is no run {0} in this incident")]
    NoSuchRun(u32),
    #[error("there is no run waiting for {0}; /incident timeline shows the runs")]
    NothingWaiting(&'static str),
    #[error("only {requester}, who asked for run {number}, can confirm it")]
    NotRequester { number: u32, requester: String },
    #[error(
        "run {number} was asked for by you; approval must come from someone else ({approver})"
    )]
    SelfApproval { number: u32, approver: String },
    #[error("run {number} needs approval by {approver}; you are not")]
    NotApprover { number: u32, approver: String },
    #[error("run {number} is {state}; nothing to {what}")]
    WrongState {
        number: u32,
        state: &'static str,
        what: &'static str,
    },
}

impl RunState {
    fn word(&self) -> &'static str {
        match self {
            RunState::AwaitingConfirmation => "waiting for confirmation",
            RunState::AwaitingApproval => "waiting for approval",
            RunState::Queued { .. } => "queued for an agent",
            RunState::Running { .. } => "running",
            RunState::Finished { .. } => "finished",
        }
    }
}

/// The runbook's file stem: `commands/failover-dns.toml` → `failover-dns`.
pub fn runbook_name(runbook: &Runbook) -> String {
    std::path::Path::new(&runbook.file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| runbook.command.join("-"))
}

/// How an approver is said in messages.
pub fn approver_text(approver: &Approver) -> String {
    match approver {
        Approver::Role(role) => format!("someone with the {role} role"),
        Approver::Team(team) => format!("someone in {team}"),
    }
}

/// The incident's runs, in the order they were asked for.
pub fn runs<'a>(records: impl IntoIterator<Item = &'a Recorded>) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for r in records {
        match &r.event {
            Event::RunbookRequested {
                run,
                command,
                runbook,
                params,
                confirm,
                approval,
                idempotent,
            } => runs.push(Run {
                number: *run,
                command: command.clone(),
                runbook: runbook.clone(),
                params: params.clone(),
                requested_by: r.actor.clone(),
                approval: approval.clone(),
                confirmed: !confirm,
                approved_by: None,
                idempotent: *idempotent,
                state: if *confirm {
                    RunState::AwaitingConfirmation
                } else if approval.is_some() {
                    RunState::AwaitingApproval
                } else {
                    RunState::Queued {
                        expires_at: r.at + chrono::Duration::minutes(CLAIM_WINDOW_MINUTES),
                    }
                },
            }),
            Event::RunbookConfirmed { run } => {
                if let Some(x) = runs.iter_mut().find(|x| x.number == *run) {
                    x.confirmed = true;
                    if x.state == RunState::AwaitingConfirmation {
                        x.state = RunState::AwaitingApproval;
                    }
                }
            }
            Event::RunbookApproved { run, by } => {
                if let Some(x) = runs.iter_mut().find(|x| x.number == *run) {
                    x.approved_by = Some(by.clone());
                }
            }
            Event::RunbookQueued {
                run, expires_at, ..
            } => {
                if let Some(x) = runs.iter_mut().find(|x| x.number == *run) {
                    x.state = RunState::Queued {
                        expires_at: *expires_at,
                    };
                }
            }
            Event::RunbookClaimed { run, agent, .. } => {
                if let Some(x) = runs.iter_mut().find(|x| x.number == *run) {
                    x.state = RunState::Running {
                        agent: agent.clone(),
                    };
                }
            }
            Event::RunbookFinished { run, outcome, .. } => {
                if let Some(x) = runs.iter_mut().find(|x| x.number == *run) {
                    x.state = RunState::Finished {
                        outcome: outcome.clone(),
                    };
                }
            }
            _ => {}
        }
    }
    runs
}

/// Asks for a run of a runbook with checked parameters. Without confirmation and approval
/// it is queued at once.
pub fn request(
    runs: &[Run],
    runbook: &Runbook,
    params: BTreeMap<String, String>,
    at: DateTime<Utc>,
) -> Vec<Event> {
    let number = runs.iter().map(|r| r.number).max().unwrap_or(0) + 1;
    let mut events = vec![Event::RunbookRequested {
        run: number,
        command: runbook.command_text(),
        runbook: runbook_name(runbook),
        params,
        confirm: runbook.confirm,
        approval: runbook.approval.as_ref().map(approver_text),
        idempotent: runbook.idempotent,
    }];
    if !runbook.confirm && runbook.approval.is_none() {
        events.push(queued(number, runbook, at));
    }
    events
}

fn queued(number: u32, runbook: &Runbook, at: DateTime<Utc>) -> Event {
    Event::RunbookQueued {
        run: number,
        agents: runbook.agents.clone(),
        expires_at: at + chrono::Duration::minutes(CLAIM_WINDOW_MINUTES),
    }
}

/// The requester confirms their run (a Confirm button, or replying `confirm`). `number`
/// `None` means the one run waiting for this person's confirmation.
pub fn confirm(
    runs: &[Run],
    runbook: &Runbook,
    number: Option<u32>,
    by: &str,
    at: DateTime<Utc>,
) -> Result<Vec<Event>, RunError> {
    let run = pick(runs, number, "confirmation", |r| {
        r.state == RunState::AwaitingConfirmation && r.requested_by == by
    })?;
    if run.state != RunState::AwaitingConfirmation {
        return Err(RunError::WrongState {
            number: run.number,
            state: run.state.word(),
            what: "confirm",
        });
    }
    if run.requested_by != by {
        return Err(RunError::NotRequester {
            number: run.number,
            requester: run.requested_by.clone(),
        });
    }
    let mut events = vec![Event::RunbookConfirmed { run: run.number }];
    if runbook.approval.is_none() || run.approved_by.is_some() {
        events.push(queued(run.number, runbook, at));
    }
    Ok(events)
}

/// A second person approves a run. `may_approve` says whether `by` is an approver the
/// runbook names (their role, or their team); the app knows, the rule here does not.
pub fn approve(
    runs: &[Run],
    runbook: &Runbook,
    number: Option<u32>,
    by: &str,
    may_approve: bool,
    at: DateTime<Utc>,
) -> Result<Vec<Event>, RunError> {
    let run = pick(runs, number, "approval", |r| {
        r.approval.is_some()
            && r.approved_by.is_none()
            && matches!(
                r.state,
                RunState::AwaitingConfirmation | RunState::AwaitingApproval
            )
    })?;
    let approver = run.approval.clone().unwrap_or_default();
    if run.approval.is_none()
        || run.approved_by.is_some()
        || !matches!(
            run.state,
            RunState::AwaitingConfirmation | RunState::AwaitingApproval
        )
    {
        return Err(RunError::WrongState {
            number: run.number,
            state: run.state.word(),
            what: "approve",
        });
    }
    if run.requested_by == by {
        return Err(RunError::SelfApproval {
            number: run.number,
            approver,
        });
    }
    if !may_approve {
        return Err(RunError::NotApprover {
            number: run.number,
            approver,
        });
    }
    let mut events = vec![Event::RunbookApproved {
        run: run.number,
        by: by.to_string(),
    }];
    if run.confirmed {
        events.push(queued(run.number, runbook, at));
    }
    Ok(events)
}

/// The run named, or the only one `waiting` selects.
fn pick<'a>(
    runs: &'a [Run],
    number: Option<u32>,
    what: &'static str,
    waiting: impl Fn(&Run) -> bool,
) -> Result<&'a Run, RunError> {
    match number {
        Some(n) => runs
            .iter()
            .find(|r| r.number == n)
            .ok_or(RunError::NoSuchRun(n)),
        None => runs
            .iter()
            .rev()
            .find(|r| waiting(r))
            .ok_or(RunError::NothingWaiting(what)),
    }
}

/// Whether someone holding `access`, in `team`, may approve for `approver`.
pub fn may_approve(approver: &Approver, access: Option<Access>, team: Option<&str>) -> bool {
    match approver {
        // The operator's own tools (no access given) are trusted.
        Approver::Role(role) => access.is_none_or(|a| a.allows(*role)),
        Approver::Team(wanted) => team.is_some_and(|t| t.eq_ignore_ascii_case(wanted)),
    }
}
