//! An agent inside warroom's own process, on a transcript's clock: `warroom demo` carries out
//! its runbook jobs this way. It claims, checks and runs jobs exactly as `warroom agent`
//! does (the same claim, the same admission, the same runner and reports); only the HTTP
//! hop is missing and the clock is the transcript's.

use super::client::{admit, Nonces};
use super::runner::{run_runbook_on, RealTime, RunClock, Site};
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
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The clock of a simulated host (the demo's fake hosts): its programs move it forward by
/// the time they take, and nothing else moves it but the agent.
pub trait HostClock: Send + Sync {
    /// The host's time now.
    fn now(&self) -> DateTime<Utc>;
    /// Moves the host's time forward to `at`; never back.
    fn advance_to(&self, at: DateTime<Utc>);
}

/// One agent's identity, runbooks and host, and the nonces it has seen.
pub struct LocalAgent {
    /// Who the server takes it for: its name and labels.
    identity: AgentSettings,
    /// Its allowlist, by the names jobs use.
    runbooks: BTreeMap<String, Runbook>,
    /// How its steps run.
    site: Site,
    nonces: Nonces,
    /// The simulated host's clock, when its time is simulated; else runs take real time.
    host_clock: Option<Arc<dyn HostClock>>,
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
            host_clock: None,
        }
    }

    /// The agent of a simulated host: its runs take the host's simulated time, which the
    /// transcript's clock sets, and a run's reports are stamped with it (the demo's restart
    /// takes the minutes the seed's did, in no time).
    pub fn on_host_clock(mut self, clock: Arc<dyn HostClock>) -> LocalAgent {
        self.host_clock = Some(clock);
        self
    }
}

/// A run's time on a simulated host: what the host's clock has moved since the run began;
/// a retry's pause moves it on.
struct SimulatedRun<'a> {
    host: &'a dyn HostClock,
    started: DateTime<Utc>,
}

#[async_trait::async_trait]
impl RunClock for SimulatedRun<'_> {
    fn elapsed(&self) -> Duration {
        (self.host.now() - self.started)
            .to_std()
            .unwrap_or_default()
    }

    async fn pause(&self, pause: Duration) {
        let pause = chrono::Duration::from_std(pause).unwrap_or_default();
        self.host.advance_to(self.host.now() + pause);
    }
}

#[async_trait::async_trait]
impl JobWorker for LocalAgent {
    /// Claims and carries out every run queued for this agent, one after another, as at
    /// `now`; each report is stamped with the time the run has taken by then, so the
    /// timeline shows the steps in order and how long they took: the host's simulated time
    /// (set forward to `now` first), else `now` plus the time really taken. Returns how many
    /// jobs it took.
    async fn work(&mut self, warroom: &Warroom, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let names: Vec<String> = self.runbooks.keys().cloned().collect();
        let mut taken = 0;
        while let Some(job) = warroom.claim_job(&self.identity, &names, now).await? {
            taken += 1;
            let (started, clock): (DateTime<Utc>, Box<dyn RunClock + '_>) = match &self.host_clock {
                Some(host) => {
                    host.advance_to(now);
                    let started = host.now();
                    let host = host.as_ref();
                    (started, Box::new(SimulatedRun { host, started }))
                }
                None => (now, Box::new(RealTime::starting_now())),
            };
            let clock = clock.as_ref();
            let incident = IncidentNumber(job.incident);
            let failure: Mutex<Option<ReportError>> = Mutex::new(None);
            let record = |report: AgentReport| {
                let at = started + chrono::Duration::from_std(clock.elapsed()).unwrap_or_default();
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
                    run_runbook_on(&runbook, &values, &self.site, clock, record).await;
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
