//! A running job's heartbeats: a task of their own beside the run posts one every so often
//! (one attempt each) until the run's end or a 409, so the server knows the run is alive.

use super::server::{Attempt, Server};
use crate::protocol::{AgentReport, Job};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// A job's heartbeats, posted by a task of their own beside the run.
pub(super) struct Heartbeats {
    end: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeats {
    pub(super) fn start(
        server: Server,
        job: Job,
        gone: Arc<AtomicBool>,
        every: Duration,
    ) -> Heartbeats {
        let (end, ended) = watch::channel(false);
        let task = tokio::spawn(heartbeats(server, job, gone, every, ended));
        Heartbeats { end, task }
    }

    /// Ends the beats, waiting for one on its way to arrive first.
    pub(super) async fn end(mut self) {
        let _ = self.end.send(true);
        let _ = (&mut self.task).await;
    }
}

impl Drop for Heartbeats {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Posts a heartbeat every `every` until `ended`, or the job is gone.
async fn heartbeats(
    server: Server,
    job: Job,
    gone: Arc<AtomicBool>,
    every: Duration,
    mut ended: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            // Ended, or the run (the sender) is gone.
            _ = ended.changed() => return,
            _ = ticks.tick() => {}
        }
        if gone.load(Ordering::SeqCst) {
            return;
        }
        // One attempt each: the next beat is the retry.
        match server.post_report(&job, &AgentReport::Heartbeat).await {
            Ok(()) => {}
            Err(Attempt::Gone) => {
                if !gone.swap(true, Ordering::SeqCst) {
                    tracing::warn!(
                        incident = job.incident,
                        run = job.run,
                        "the server says this job is no longer this agent's (409); the run goes on here but nothing more is reported"
                    );
                }
                return;
            }
            Err(other) => tracing::warn!(
                incident = job.incident,
                run = job.run,
                "a heartbeat did not reach the server: {other}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{has_finished, job, kinds, stop, Fixture};
    use serde_json::json;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn heartbeats_go_out_while_a_step_runs_and_end_with_it() {
        let f = Fixture::new().await;
        f.jobs(&[job(3, "slow", json!({"seconds": "2"}), "n-slow")])
            .await;
        f.reports_answer(200).await;
        let (tx, agent) = f.start();
        let reports = f.wait_for_reports("the end of the run", has_finished).await;
        let kinds = kinds(&reports);
        let started = kinds.iter().position(|k| *k == "step_started").unwrap();
        let finished = kinds.iter().position(|k| *k == "step_finished").unwrap();
        let beats = kinds[started..finished]
            .iter()
            .filter(|k| **k == "heartbeat")
            .count();
        assert!(
            beats >= 1,
            "no heartbeat during a two-second step: {kinds:?}"
        );
        assert_eq!(reports.last().unwrap()["outcome"], "succeeded");
        // No beat after the run.
        let count = f.reports().await.len();
        tokio::time::sleep(Duration::from_millis(1300)).await;
        assert_eq!(f.reports().await.len(), count);
        stop(tx, agent).await;
    }
}
