//! One job in the agent: refused with a report, or carried out by the runner with its
//! reports sent in order through a sink while heartbeats go out beside the run, and cut
//! short when the agent stops.

use super::admission::{admit, Refusal};
use super::heartbeats::Heartbeats;
use super::server::{Delivered, Server};
use super::stopping::{is_stopped, stopped};
use super::{Agent, Flow};
use crate::agent::runner::{self, run_runbook};
use crate::domain::runbook::Runbook;
use crate::protocol::{AgentReport, Job};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

impl Agent {
    /// Refuses or runs one job.
    pub(super) async fn handle(&mut self, job: Job, stop: &mut watch::Receiver<bool>) -> Flow {
        tracing::info!(
            incident = job.incident,
            run = job.run,
            runbook = %job.runbook,
            "job claimed"
        );
        let (runbook, values) = match self.check(&job) {
            Ok(checked) => checked,
            Err(refusal) => {
                tracing::warn!(
                    incident = job.incident,
                    run = job.run,
                    runbook = %job.runbook,
                    reason = %refusal.logged,
                    "job refused; nothing ran"
                );
                let report = AgentReport::Refused {
                    reason: refusal.reason,
                };
                self.server.deliver(&job, &report, stop).await;
                return if is_stopped(stop) {
                    Flow::Stopped
                } else {
                    Flow::Continue
                };
            }
        };
        self.carry_out(&job, &runbook, &values, stop).await
    }

    /// The runbook and the parameters as this agent's own copy binds them, or why not.
    fn check(&mut self, job: &Job) -> Result<(Runbook, BTreeMap<String, String>), Refusal> {
        admit(
            job,
            &self.runbooks,
            &self.site.url_hosts,
            &mut self.nonces,
            chrono::Utc::now(),
        )
    }

    /// Runs a checked job, reporting as it goes, with heartbeats beside it.
    async fn carry_out(
        &self,
        job: &Job,
        runbook: &Runbook,
        values: &BTreeMap<String, String>,
        stop: &mut watch::Receiver<bool>,
    ) -> Flow {
        let gone = Arc::new(AtomicBool::new(false));
        let every = Duration::from_secs(job.heartbeat_seconds.max(1));
        // The sink ends the beats before the run's last report goes out; dropping them (this
        // future was dropped) ends them too.
        let beats = Heartbeats::start(self.server.clone(), job.clone(), gone.clone(), every);
        let sink = JobSink {
            heartbeats: std::sync::Mutex::new(Some(beats)),
            server: &self.server,
            job,
            gone: &gone,
            stop: stop.clone(),
            in_flight: AtomicBool::new(false),
            parked: Notify::new(),
        };
        let sink = &sink;
        let run = run_runbook(runbook, values, &self.site, move |report| sink.send(report));
        tokio::pin!(run);
        let ended = tokio::select! {
            biased;
            last = &mut run => Some(last),
            _ = stopped(stop) => None,
        };
        let ended = match ended {
            Some(last) => Some(last),
            // Stopped with no report on its way: the run is cut here (dropping it kills the
            // step's process group).
            None if !sink.in_flight.load(Ordering::SeqCst) => None,
            // Stopped while a report is on its way: let it arrive, then cut.
            None => tokio::select! {
                last = &mut run => Some(last),
                _ = sink.parked.notified() => None,
            },
        };
        let taken_back = gone.load(Ordering::SeqCst);
        match ended {
            Some(runner::Report::Finished { outcome, .. }) => {
                tracing::info!(
                    incident = job.incident,
                    run = job.run,
                    runbook = %job.runbook,
                    outcome = %outcome,
                    reported = !taken_back,
                    "run finished"
                );
                Flow::Continue
            }
            Some(_) => Flow::Continue,
            None => {
                tracing::warn!(
                    incident = job.incident,
                    run = job.run,
                    runbook = %job.runbook,
                    "the agent was stopped during the run; it was cut short and the server will declare it lost after missed heartbeats"
                );
                Flow::Stopped
            }
        }
    }
}

/// Sends a running job's reports, in order, until the job is gone or the agent stops.
struct JobSink<'a> {
    /// Where reports go.
    server: &'a Server,
    /// The job reported on.
    job: &'a Job,
    /// Set once the server answered 409: nothing more is sent for this job.
    gone: &'a AtomicBool,
    /// The agent's stop signal.
    stop: watch::Receiver<bool>,
    /// A report is being delivered: a stop waits for it.
    in_flight: AtomicBool,
    /// Told when the sink stopped taking reports because the agent is stopping.
    parked: Notify,
    /// The job's heartbeats, until the run's last report is sent.
    heartbeats: std::sync::Mutex<Option<Heartbeats>>,
}

impl JobSink<'_> {
    async fn send(&self, report: runner::Report) {
        if is_stopped(&self.stop) {
            self.park().await;
        }
        if self.gone.load(Ordering::SeqCst) {
            return;
        }
        if matches!(report, runner::Report::Finished { .. }) {
            // No beat may reach the server after the end: the server would answer it 409.
            let beats = self.heartbeats.lock().expect("no panics hold it").take();
            if let Some(beats) = beats {
                beats.end().await;
            }
        }
        self.in_flight.store(true, Ordering::SeqCst);
        let mut stop = self.stop.clone();
        let delivered = self.server.deliver(self.job, &report, &mut stop).await;
        self.in_flight.store(false, Ordering::SeqCst);
        if delivered == Delivered::Gone && !self.gone.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                incident = self.job.incident,
                run = self.job.run,
                "the server says this job is no longer this agent's (409); the run goes on here but nothing more is reported"
            );
        }
        if is_stopped(&self.stop) {
            self.park().await;
        }
    }

    /// Never returns: the run waits here until it is dropped, so no further step starts.
    async fn park(&self) {
        self.parked.notify_one();
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{has_finished, job, kinds, stop, Fixture};
    use serde_json::{json, Value};
    use std::time::Duration;
    use tokio::time::Instant;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_conflict_stops_the_reports_of_that_job_but_not_the_agent() {
        let f = Fixture::new().await;
        f.jobs(&[job(9, "failover-dns", json!({}), "n-taken")])
            .await;
        f.reports_answer(409).await;
        let (tx, agent) = f.start();
        // The run goes on to its end on the host...
        let deadline = Instant::now() + Duration::from_secs(5);
        while f.dns_calls().unwrap_or_default().lines().count() < 4 {
            assert!(Instant::now() < deadline, "the run did not go on");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let polls = f.polls().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        // ...but after the 409 nothing more was posted, and the agent polls again.
        let reports: Vec<Value> = f.reports().await.into_iter().map(|(_, b)| b).collect();
        assert_eq!(kinds(&reports), ["step_started"]);
        assert!(f.polls().await > polls, "the agent stopped polling");
        stop(tx, agent).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stop_during_a_step_cuts_the_run_short() {
        let f = Fixture::new().await;
        f.jobs(&[job(5, "slow", json!({"seconds": "30"}), "n-cut")])
            .await;
        f.reports_answer(200).await;
        let (tx, agent) = f.start();
        f.wait_for_reports("the step to start", |r| !r.is_empty())
            .await;
        stop(tx, agent).await;
        let reports: Vec<Value> = f.reports().await.into_iter().map(|(_, b)| b).collect();
        assert!(!has_finished(&reports));
    }
}
