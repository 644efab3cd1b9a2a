//! Runbook runs as jobs for agents: which queued run an agent may take, claiming it once
//! (however many instances are asked at once), recording what the agent reports, and
//! declaring runs lost when their agent falls silent or stale when no agent took them.

use crate::app::{event_id, Pending, Warroom};
use crate::config::AgentSettings;
use crate::domain::event::Event;
use crate::domain::types::IncidentNumber;
use crate::protocol::{AgentReport, Job};
use crate::store::{AppendError, ExpectedVersion, NewEvent};
use chrono::{DateTime, Utc};

/// How often an agent says it is still working on a job.
pub const HEARTBEAT_SECONDS: u64 = 10;
/// Missed beats after which a running job is lost.
const MISSED_BEATS: i64 = 3;

/// Why a report was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("run {run} of {incident} is not this agent's, or is over")]
    NotYours { incident: IncidentNumber, run: u32 },
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl Warroom {
    /// Waits until a run is queued by this instance (runs queued by other instances are
    /// found by looking again).
    pub async fn job_queued(&self) {
        self.job_queued.notified().await;
    }

    /// The agent a bearer token belongs to: its SHA-256 compared with each configured hash
    /// in constant time.
    pub fn agent_by_token(&self, token: &str) -> Option<&AgentSettings> {
        // Every entry is compared, so the time taken does not say which one matched.
        let mut found = None;
        for agent in &self.settings.agents {
            if crate::secret::token_matches(token, &agent.token_sha256) {
                found = Some(agent);
            }
        }
        found
    }

    /// Claims the oldest queued run this agent may take: one whose runbook it has and whose
    /// required labels it carries. `None` when there is none now.
    pub async fn claim_job(
        &self,
        agent: &AgentSettings,
        runbooks: &[String],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Job>> {
        self.agent_seen(&agent.name, runbooks, now);
        let candidates: Vec<_> = {
            let projection = self.current().await?;
            projection
                .runs
                .queued
                .iter()
                .filter(|(_, q)| q.expires_at > now && runbooks.contains(&q.runbook))
                .filter(|(_, q)| q.agents.iter().all(|(k, v)| agent.labels.get(k) == Some(v)))
                .map(|(key, q)| (*key, q.clone()))
                .collect()
        };
        for ((number, run), queued) in candidates {
            let nonce = uuid::Uuid::new_v4().to_string();
            let event = Event::RunbookClaimed {
                run,
                agent: agent.name.clone(),
                nonce: nonce.clone(),
            };
            // One claim per run: its id is fixed, so a second claimer's append is refused
            // (different content under the same id) or finds it stored.
            let claim = NewEvent {
                event_id: event_id(&format!("claim:{number}:{run}"), 0),
                event_type: event.event_type().to_string(),
                schema_version: crate::domain::event::SCHEMA_VERSION,
                occurred_at: now,
                actor: agent.name.clone(),
                payload: event.to_payload(),
            };
            match self
                .ledger
                .append(&number.stream_id(), ExpectedVersion::Any, vec![claim])
                .await
            {
                Ok(appended) if !appended.already_stored => {
                    self.refresh().await?;
                    self.notify(crate::app::Notice::Run {
                        incident: number,
                        text: format!(
                            "Agent {} started run {run} ({}).",
                            agent.name, queued.runbook
                        ),
                    });
                    return Ok(Some(Job {
                        incident: number.0,
                        run,
                        runbook: queued.runbook,
                        params: queued.params,
                        nonce,
                        expires_at: queued.expires_at,
                        heartbeat_seconds: HEARTBEAT_SECONDS,
                    }));
                }
                // Another agent, here or on another instance, got it first.
                Ok(_) | Err(AppendError::DuplicateEventId { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Records an agent's report about a job it holds.
    #[tracing::instrument(name = "job", skip_all, fields(incident = %number, run))]
    pub async fn record_report(
        &self,
        agent: &AgentSettings,
        number: IncidentNumber,
        run: u32,
        nonce: &str,
        report: AgentReport,
        now: DateTime<Utc>,
    ) -> Result<(), ReportError> {
        let runbook = {
            let projection = self.current().await?;
            let holds = projection
                .runs
                .running
                .get(&(number, run))
                .is_some_and(|r| r.agent == agent.name && r.nonce == nonce);
            if !holds {
                return Err(ReportError::NotYours {
                    incident: number,
                    run,
                });
            }
            projection
                .runs
                .runbook_of(number, run)
                .unwrap_or("unknown")
                .to_string()
        };
        let event = match report {
            AgentReport::StepStarted {
                step,
                attempt,
                program,
                args,
            } => Event::RunbookStepStarted {
                run,
                step,
                attempt,
                program,
                args,
            },
            AgentReport::Output { step, lines } => Event::RunbookOutput { run, step, lines },
            AgentReport::StepFinished {
                step,
                attempt,
                exit,
                succeeded,
                captured,
            } => Event::RunbookStepFinished {
                run,
                step,
                attempt,
                exit,
                succeeded,
                captured,
            },
            AgentReport::Heartbeat => Event::RunbookHeartbeat { run },
            AgentReport::Finished { outcome, message } => {
                let outcome = match outcome.as_str() {
                    "succeeded" | "failed" | "timed_out" => outcome,
                    _ => "failed".to_string(),
                };
                Event::RunbookFinished {
                    run,
                    outcome,
                    message,
                }
            }
            AgentReport::Refused { reason } => Event::RunbookFinished {
                run,
                outcome: "refused".into(),
                message: format!("agent {} refused it: {reason}", agent.name),
            },
        };
        let said = match &event {
            Event::RunbookStepFinished {
                step,
                succeeded,
                exit,
                ..
            } => Some(format!(
                "Run {run} step {step} {}{}.",
                if *succeeded { "succeeded" } else { "failed" },
                exit.map(|c| format!(" (exit {c})")).unwrap_or_default()
            )),
            Event::RunbookFinished {
                outcome, message, ..
            } => Some(format!(
                "Run {run} {}: {message}",
                outcome.replace('_', " ")
            )),
            _ => None,
        };
        let finished = match &event {
            Event::RunbookFinished { outcome, .. } => Some(outcome.clone()),
            _ => None,
        };
        tracing::debug!(agent = %agent.name, kind = event.event_type(), "agent report");
        let pending = Pending {
            event,
            at: now,
            actor: agent.name.clone(),
        };
        self.append(
            &number.stream_id(),
            ExpectedVersion::Any,
            &format!("agent-report:{}", uuid::Uuid::new_v4()),
            vec![pending],
        )
        .await
        .map_err(anyhow::Error::from)?;
        if let Some(outcome) = &finished {
            crate::metrics::get().job(&runbook, outcome);
            tracing::info!(%runbook, %outcome, "runbook run finished");
        }
        self.refresh().await?;
        if let Some(text) = said {
            self.notify(crate::app::Notice::Run {
                incident: number,
                text,
            });
        }
        Ok(())
    }

    /// Ends runs whose agent stopped answering (lost: never started again by itself when
    /// the runbook is not idempotent) and queued runs no agent took in time (stale).
    pub async fn sweep_jobs(&self, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let (lost, stale) = {
            let projection = self.current().await?;
            let silence = chrono::Duration::seconds(HEARTBEAT_SECONDS as i64 * MISSED_BEATS);
            let lost: Vec<_> = projection
                .runs
                .running
                .iter()
                .filter(|(_, r)| r.last_seen + silence < now)
                .map(|(k, r)| {
                    let runbook = projection.runs.runbook_of(k.0, k.1).unwrap_or("unknown");
                    (*k, r.clone(), runbook.to_string())
                })
                .collect();
            let stale: Vec<_> = projection
                .runs
                .queued
                .iter()
                .filter(|(_, q)| q.expires_at <= now)
                .map(|(k, q)| (*k, q.clone()))
                .collect();
            (lost, stale)
        };
        let mut ended = 0;
        for ((number, run), running, runbook) in lost {
            let during = running
                .step
                .map(|s| format!(" during step {s}"))
                .unwrap_or_default();
            let again = if running.idempotent {
                "it may be run again safely: ask for it again"
            } else {
                "it is not run again by itself (the runbook is not idempotent): check the host before asking again"
            };
            let event = Event::RunbookFinished {
                run,
                outcome: "lost".into(),
                message: format!("agent {} stopped answering{during}; {again}", running.agent),
            };
            ended += self
                .end_once(number, run, &runbook, "lost", event, now)
                .await?;
        }
        for ((number, run), queued) in stale {
            let labels: Vec<String> = queued
                .agents
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let event = Event::RunbookFinished {
                run,
                outcome: "refused".into(),
                message: format!(
                    "no agent took it in time; is an agent with the {} runbook{} connected?",
                    queued.runbook,
                    if labels.is_empty() {
                        String::new()
                    } else {
                        format!(" and {}", labels.join(", "))
                    }
                ),
            };
            ended += self
                .end_once(number, run, &queued.runbook, "stale", event, now)
                .await?;
        }
        Ok(ended)
    }

    /// Ends a run as `why` (`lost`, `stale`: also its idempotency key's prefix) once,
    /// whichever instance sweeps first.
    #[tracing::instrument(name = "job", skip_all, fields(incident = %number, run))]
    async fn end_once(
        &self,
        number: IncidentNumber,
        run: u32,
        runbook: &str,
        why: &str,
        event: Event,
        now: DateTime<Utc>,
    ) -> anyhow::Result<usize> {
        let key = format!("{why}:{number}:{run}");
        let said = match &event {
            Event::RunbookFinished {
                run,
                outcome,
                message,
            } => format!("Run {run} {outcome}: {message}"),
            _ => String::new(),
        };
        let appended = self
            .append(
                &number.stream_id(),
                ExpectedVersion::Any,
                &key,
                vec![Pending::system(event, now)],
            )
            .await;
        self.refresh().await?;
        match appended {
            Ok(a) if !a.already_stored => {
                crate::metrics::get().job(runbook, why);
                tracing::warn!(%runbook, outcome = why, "{said}");
                self.notify(crate::app::Notice::Run {
                    incident: number,
                    text: said,
                });
                Ok(1)
            }
            Ok(_) | Err(AppendError::DuplicateEventId { .. }) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}
