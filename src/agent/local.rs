//! An agent inside warroom's own process, on a transcript's clock: `warroom demo` carries out
//! its runbook jobs this way. It claims, checks and runs jobs exactly as `warroom agent`
//! does (the same claim, the same admission, the same runner and reports); only the HTTP
//! hop is missing and the clock is the transcript's.

use super::client::{admit, Nonces};
use super::runner::{run_runbook, Site};
use crate::app::replay::JobWorker;
use crate::app::runs::jobs::ReportError;
use crate::app::Warroom;
use crate::config::AgentSettings;
use crate::domain::run::runbook_name;
use crate::domain::runbook::Runbook;
use crate::domain::types::IncidentNumber;
use crate::protocol::AgentReport;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// One agent's identity, runbooks and host, and the nonces it has seen.
pub struct LocalAgent {
    /// Who the server takes it for: its name and labels.
    identity: AgentSettings,
    /// Its allowlist, by the names jobs use.
    runbooks: BTreeMap<String, Runbook>,
    /// How its steps run.
    site: Site,
    nonces: Nonces,
}

impl LocalAgent {
    /// An agent with `identity`, allowed `runbooks`, running its steps on `site`.
    pub fn new(identity: AgentSettings, runbooks: &[Runbook], site: Site) -> LocalAgent {
        LocalAgent {
            identity,
            runbooks: runbooks
                .iter()
                .map(|r| (runbook_name(r), r.clone()))
                .collect(),
            site,
            nonces: Nonces::new(1000),
        }
    }
}

#[async_trait::async_trait]
impl JobWorker for LocalAgent {
    /// Claims and carries out every run queued for this agent, one after another, as at
    /// `now`; each report is stamped `now` plus the time the run has really taken, so the
    /// timeline shows the steps in order and how long they took. Returns how many jobs it
    /// took.
    async fn work(&mut self, warroom: &Warroom, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let names: Vec<String> = self.runbooks.keys().cloned().collect();
        let mut taken = 0;
        while let Some(job) = warroom.claim_job(&self.identity, &names, now).await? {
            taken += 1;
            let started = Instant::now();
            let incident = IncidentNumber(job.incident);
            let failure: Mutex<Option<ReportError>> = Mutex::new(None);
            let record = |report: AgentReport| {
                let at = now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
                let (failure, identity, nonce) = (&failure, &self.identity, &job.nonce);
                async move {
                    let recorded = warroom
                        .record_report(identity, incident, job.run, nonce, report, at)
                        .await;
                    if let Err(e) = recorded {
                        failure.lock().expect("no panics hold it").get_or_insert(e);
                    }
                }
            };
            match admit(
                &job,
                &self.runbooks,
                &self.site.url_hosts,
                &mut self.nonces,
                now,
            ) {
                Ok((runbook, values)) => {
                    run_runbook(&runbook, &values, &self.site, record).await;
                }
                Err(refusal) => {
                    record(AgentReport::Refused {
                        reason: refusal.reason,
                    })
                    .await
                }
            }
            if let Some(e) = failure.into_inner().expect("no panics hold it") {
                return Err(anyhow::Error::new(e)
                    .context(format!("recording run {} of {incident}", job.run)));
            }
        }
        Ok(taken)
    }
}
