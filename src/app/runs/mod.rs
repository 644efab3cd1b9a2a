//! The runs slice. Runbook commands in an incident: `/failover dns` asks for a run, `confirm`
//! (a reply or `/confirm`) and `/approve` move it on, and it is queued for an agent once
//! everything it needs is given. The rules are in `domain::run`; this appends what they
//! decide. `jobs.rs` hands queued runs to agents and records what they report.

pub mod jobs;
pub mod view;

use crate::app::{Failure, Input, Refusal, Warroom, MAX_ATTEMPTS};
use crate::domain::command::ParsedCommand;
use crate::domain::event::Event;
use crate::domain::incident;
use crate::domain::run::{self, may_approve, RunError};
use crate::domain::runbook::Runbook;
use crate::domain::types::{IncidentNumber, IncidentStatus};
use crate::store::{AppendError, ExpectedVersion};

use crate::app::projection::Projection;

impl From<RunError> for Refusal {
    fn from(e: RunError) -> Self {
        Refusal(e.to_string())
    }
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        Failure::Refused(e.into())
    }
}

/// What a run order is.
pub(super) enum RunOrder<'a> {
    Request(&'a Runbook, std::collections::BTreeMap<String, String>),
    Confirm(Option<u32>),
    Approve(Option<u32>),
}

/// The runs in flight, by incident and run number.
#[derive(Debug, Clone, Default)]
pub struct RunsNow {
    /// Waiting for an agent, oldest first.
    pub queued: Vec<((IncidentNumber, u32), view::QueuedRun)>,
    /// Claimed by an agent and not finished.
    pub running: Vec<((IncidentNumber, u32), view::RunningRun)>,
}

/// When an agent last asked for work here, and which runbooks it offered.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSeen {
    pub at: chrono::DateTime<chrono::Utc>,
    pub runbooks: Vec<String>,
}

impl Warroom {
    /// The runs waiting for an agent and the runs agents are carrying out, by incident and
    /// run number.
    pub async fn runs_now(&self) -> anyhow::Result<RunsNow> {
        let projection = self.current().await?;
        Ok(RunsNow {
            queued: projection
                .runs
                .queued
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            running: projection
                .runs
                .running
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
        })
    }

    /// Each agent that asked this instance for work since it started, by name.
    pub fn agents_seen(&self) -> std::collections::BTreeMap<String, AgentSeen> {
        self.agents_seen
            .lock()
            .expect("the agents' list is never poisoned")
            .clone()
    }

    /// Notes that `agent` asked for work at `at`, offering `runbooks`.
    pub(in crate::app) fn agent_seen(
        &self,
        agent: &str,
        runbooks: &[String],
        at: chrono::DateTime<chrono::Utc>,
    ) {
        self.agents_seen
            .lock()
            .expect("the agents' list is never poisoned")
            .insert(
                agent.to_string(),
                AgentSeen {
                    at,
                    runbooks: runbooks.to_vec(),
                },
            );
    }

    /// The runbook a command's words name, if any.
    pub fn runbook_for(&self, words: &[String]) -> Option<&Runbook> {
        self.settings.runbooks.iter().find(|r| r.command == words)
    }

    /// `/failover dns …`: checks the caller's role and the parameters, then asks for a run
    /// in the addressed incident.
    pub(super) async fn request_run(
        &self,
        projection: &mut Projection,
        input: &Input,
        parsed: &ParsedCommand,
        runbook: &Runbook,
    ) -> Result<(IncidentNumber, usize, String), Failure> {
        crate::app::allowed(input.caller.access, runbook.needs, &runbook.command_text())?;
        let mut given = parsed.options.clone();
        let named = given
            .remove("incident")
            .map(|v| v.parse::<IncidentNumber>())
            .transpose()
            .map_err(|e| Refusal(e.to_string()))?;
        let values = runbook.bind(&given).map_err(Refusal)?;
        let number = self.target(projection, &input.channel, named)?;
        self.decide_run(input, number, RunOrder::Request(runbook, values))
            .await
    }

    /// Moves a run on (confirm, approve), or asks for one, in an incident: load, decide,
    /// append with the version read; retried when the incident changed meanwhile.
    pub(super) async fn decide_run(
        &self,
        input: &Input,
        number: IncidentNumber,
        order: RunOrder<'_>,
    ) -> Result<(IncidentNumber, usize, String), Failure> {
        for _ in 0..MAX_ATTEMPTS {
            let records = self.incident_records(number).await?;
            let Some(state) = incident::fold(&records) else {
                return Err(Refusal(format!("{number} does not exist")).into());
            };
            if state.status == IncidentStatus::Closed {
                return Err(Refusal(format!("{number} is closed; /incident reopen first")).into());
            }
            let runs = run::runs(&records);
            let runbook_of = |n: Option<u32>, waiting: fn(&run::Run) -> bool| {
                let chosen = match n {
                    Some(n) => runs.iter().find(|r| r.number == n),
                    None => runs.iter().rev().find(|r| waiting(r)),
                };
                chosen.and_then(|r| {
                    self.settings
                        .runbooks
                        .iter()
                        .find(|b| run::runbook_name(b) == r.runbook)
                })
            };
            let events = match &order {
                RunOrder::Request(runbook, values) => {
                    run::request(&runs, runbook, values.clone(), input.at)
                }
                RunOrder::Confirm(n) => {
                    let Some(runbook) =
                        runbook_of(*n, |r| r.state == run::RunState::AwaitingConfirmation)
                    else {
                        return Err(RunError::NothingWaiting("confirmation").into());
                    };
                    run::confirm(&runs, runbook, *n, &input.from, input.at)?
                }
                RunOrder::Approve(n) => {
                    let Some(runbook) =
                        runbook_of(*n, |r| r.approval.is_some() && r.approved_by.is_none())
                    else {
                        return Err(RunError::NothingWaiting("approval").into());
                    };
                    let allowed = runbook.approval.as_ref().is_some_and(|approver| {
                        let team = self
                            .settings
                            .directory
                            .person(&input.from)
                            .map(|c| c.team.as_str());
                        may_approve(approver, input.caller.access, team)
                    });
                    run::approve(&runs, runbook, *n, &input.from, allowed, input.at)?
                }
            };
            // Queuing is warroom's doing, not the person's.
            let pending: Vec<_> = events
                .iter()
                .cloned()
                .map(|e| match e {
                    Event::RunbookQueued { .. } => crate::app::Pending::system(e, input.at),
                    e => self.pending(input, e),
                })
                .collect();
            match self
                .append(
                    &number.stream_id(),
                    ExpectedVersion::Exactly(state.version),
                    &input.key,
                    pending,
                )
                .await
            {
                Ok(appended) => {
                    if events
                        .iter()
                        .any(|e| matches!(e, Event::RunbookQueued { .. }))
                    {
                        self.job_queued.notify_waiters();
                    }
                    let count = if appended.already_stored {
                        0
                    } else {
                        events.len()
                    };
                    return Ok((number, count, describe_run(number, &events)));
                }
                Err(AppendError::Conflict { .. }) => continue,
                Err(e) => return Err(anyhow::Error::from(e).into()),
            }
        }
        Err(crate::app::error::AppError::conflict(format!(
            "{number} kept changing while recording; try again"
        ))
        .into())
    }

    /// A plain `confirm` said in an incident channel confirms the speaker's waiting run.
    /// `None` when nothing waits for them (then it was just a message).
    pub(super) async fn confirm_by_reply(
        &self,
        projection: &Projection,
        input: &Input,
        text: &str,
    ) -> Option<String> {
        if !text.trim().eq_ignore_ascii_case("confirm") {
            return None;
        }
        let number = projection.incidents.bound_to(&input.channel)?;
        let reply_input = Input {
            key: format!("{}#confirm", input.key),
            ..input.clone()
        };
        match self
            .decide_run(&reply_input, number, RunOrder::Confirm(None))
            .await
        {
            Ok((_, _, reply)) => Some(reply),
            Err(Failure::Refused(_)) => None,
            Err(Failure::Store(e)) => {
                tracing::error!("could not record a confirmation: {e:#}");
                Some("warroom could not record that confirmation; say confirm again".into())
            }
        }
    }
}

/// The reply to a run order.
fn describe_run(number: IncidentNumber, events: &[Event]) -> String {
    let mut lines = Vec::new();
    for event in events {
        match event {
            Event::RunbookRequested {
                run,
                command,
                confirm,
                approval,
                ..
            } => {
                let mut line = format!("{command} is run {run} of {number}.");
                if *confirm {
                    line.push_str(" Reply `confirm` (or press Confirm) to go ahead.");
                }
                if let Some(approver) = approval {
                    line.push_str(&format!(
                        " It also needs approval by {approver}: /approve run:{run}."
                    ));
                }
                lines.push(line);
            }
            Event::RunbookConfirmed { run } => lines.push(format!("Run {run} confirmed.")),
            Event::RunbookApproved { run, by } => {
                lines.push(format!("Run {run} approved by {by}."))
            }
            Event::RunbookQueued { run, .. } => lines.push(format!(
                "Run {run} is queued for an agent; its steps will show here."
            )),
            _ => {}
        }
    }
    lines.join(" ")
}
