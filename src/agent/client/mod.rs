//! The agent's side of the protocol (see [`crate::protocol`]): it long-polls `warroom serve`
//! for a job, refuses jobs it must not run, carries out the others one at a time with the
//! runner, and posts every report in order while a separate task sends heartbeats. It only
//! ever connects out; failures of the server or the network are waited out with backoff.

mod admission;
mod backoff;
#[cfg(test)]
mod fixture;
mod heartbeats;
mod job;
mod server;
mod stopping;

// The in-process agent (`agent::local`) admits jobs exactly as this one does.
pub(crate) use admission::{admit, Nonces};

use self::backoff::Backoff;
use self::server::{PollError, Server};
use self::stopping::{pause, stopped};
use super::config::AgentConfig;
use super::runner::Site;
use crate::domain::runbook::Runbook;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Timings of the loop; tests shorten them.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// How long the server may hold a poll waiting for a job (the protocol caps it at 30).
    pub wait_seconds: u64,
    /// How much longer than the wait a poll may take before it is given up: the server's
    /// answer has to travel back after the wait.
    pub poll_grace: Duration,
    /// The shortest time between two polls that found nothing, so a server that answers
    /// 204 at once is not polled in a tight loop.
    pub min_poll_interval: Duration,
    /// How long one report or heartbeat request may take.
    pub request_timeout: Duration,
    /// The first pause after a failed poll or report; it doubles with each failure.
    pub backoff_first: Duration,
    /// The longest pause.
    pub backoff_max: Duration,
    /// How long one report is retried before it is dropped (the run waits for it meanwhile).
    pub report_patience: Duration,
    /// How many recent job nonces are remembered to spot replays.
    pub remembered_nonces: usize,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            wait_seconds: 25,
            poll_grace: Duration::from_secs(10),
            min_poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            backoff_first: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            report_patience: Duration::from_secs(120),
            remembered_nonces: 1000,
        }
    }
}

/// Runs the agent until `stop` becomes true (or its sender is dropped). A stop during a
/// run ends the run once the report being sent is sent (or its attempt failed).
pub async fn run_agent(config: AgentConfig, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    Agent::new(&config, Tuning::default())?.run(stop).await
}

/// The agent's loop with its state: the server, its runbooks, the nonces seen.
pub struct Agent {
    /// The connection to `warroom serve`.
    server: Server,
    /// The name, for logs.
    name: String,
    /// Its runbooks by file stem: the only ones it runs.
    runbooks: BTreeMap<String, Runbook>,
    /// How steps run on this host.
    site: Site,
    /// Timings.
    tuning: Tuning,
    /// Nonces of recent jobs.
    nonces: Nonces,
}

/// What the loop does after a job.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    /// Poll for the next job.
    Continue,
    /// The agent was told to stop.
    Stopped,
}

impl Agent {
    /// An agent for a checked configuration. Fails only when the HTTP client cannot be built
    /// (the TLS backend did not initialise).
    pub fn new(config: &AgentConfig, tuning: Tuning) -> anyhow::Result<Agent> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("warroom-agent/", env!("CARGO_PKG_VERSION")))
            // A redirect would send the token to wherever it points: the server is configured
            // by its exact URL, so a redirect is a mistake to show, not to follow.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the agent's HTTP client: {e}"))?;
        Ok(Agent {
            server: Server {
                http,
                base: config.server.as_str().trim_end_matches('/').to_string(),
                token: config.token.clone(),
                tuning: tuning.clone(),
            },
            name: config.name.clone(),
            runbooks: config.runbooks.clone(),
            site: config.site(),
            nonces: Nonces::new(tuning.remembered_nonces),
            tuning,
        })
    }

    /// Polls for jobs and carries them out until `stop`.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let names: Vec<String> = self.runbooks.keys().cloned().collect();
        let mut backoff = Backoff::new(&self.tuning);
        tracing::info!(agent = %self.name, server = %self.server.base, runbooks = ?names, "agent started; polling for jobs");
        loop {
            let asked = Instant::now();
            let polled = tokio::select! {
                biased;
                _ = stopped(&mut stop) => break,
                polled = self.server.poll(&names, self.tuning.wait_seconds) => polled,
            };
            match polled {
                Ok(None) => {
                    backoff.reset();
                    let rest = self
                        .tuning
                        .min_poll_interval
                        .saturating_sub(asked.elapsed());
                    if pause(rest, &mut stop).await {
                        break;
                    }
                }
                Ok(Some(job)) => {
                    backoff.reset();
                    if self.handle(job, &mut stop).await == Flow::Stopped {
                        break;
                    }
                }
                Err(problem) => {
                    let wait = backoff.next();
                    match &problem {
                        PollError::Unauthorized => tracing::error!(
                            agent = %self.name,
                            retry_in = ?wait,
                            "the server refused this agent's token; check token_file / the server's [[agents]]"
                        ),
                        other => tracing::warn!(
                            agent = %self.name,
                            retry_in = ?wait,
                            "polling the server failed: {other}"
                        ),
                    }
                    if pause(wait, &mut stop).await {
                        break;
                    }
                }
            }
        }
        tracing::info!(agent = %self.name, "agent stopped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{has_finished, job, kinds, stop, Fixture, TOKEN};
    use super::*;
    use crate::protocol::Poll;
    use serde_json::{json, Value};
    use wiremock::ResponseTemplate;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_runs_and_its_reports_arrive_in_order() {
        let f = Fixture::new().await;
        f.jobs(&[job(7, "failover-dns", json!({}), "n-1")]).await;
        f.reports_answer(200).await;
        let (tx, agent) = f.start();
        f.wait_for_reports("the end of the run", has_finished).await;
        stop(tx, agent).await;

        let reports = f.reports().await;
        assert!(reports
            .iter()
            .all(|(path, body)| path == "/v1/agent/jobs/7/2/reports" && body["nonce"] == "n-1"));
        let bodies: Vec<Value> = reports.into_iter().map(|(_, b)| b).collect();
        let kinds: Vec<&str> = kinds(&bodies)
            .into_iter()
            .filter(|k| *k != "heartbeat")
            .collect();
        let step = ["step_started", "output", "step_finished"];
        assert_eq!(
            kinds,
            [&step[..], &step, &step, &step, &["finished"]].concat()
        );
        let last = bodies.last().unwrap();
        assert_eq!(last["outcome"], "succeeded", "{last}");
        let steps: Vec<&str> = bodies
            .iter()
            .filter(|r| r["kind"] == "step_started")
            .map(|r| r["step"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["ask-active", "shutdown", "failover", "report"]);
        assert_eq!(
            f.dns_calls().unwrap(),
            "-q active_server\n-a shutdown -s dns1\n-a failover -s dns2\n-q active_server\n"
        );

        // The poll said which runbooks it has, with the token.
        let requests = f.server.received_requests().await.unwrap();
        let poll = requests
            .iter()
            .find(|r| r.url.path() == "/v1/agent/poll")
            .unwrap();
        assert_eq!(
            poll.headers.get("authorization").unwrap(),
            &format!("Bearer {TOKEN}")
        );
        let body: Poll = serde_json::from_slice(&poll.body).unwrap();
        assert_eq!(
            body,
            Poll {
                runbooks: vec![
                    "echo".into(),
                    "failover-dns".into(),
                    "probe".into(),
                    "slow".into()
                ],
                wait_seconds: 1
            }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_token_is_retried_with_backoff() {
        let f = Fixture::new().await;
        f.poll_answers(ResponseTemplate::new(401)).await;
        let (tx, agent) = f.start();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(!agent.is_finished(), "the agent gave up on a 401");
        let polls = f.polls().await;
        // 20 ms doubling to 100 ms, jittered down to half: a handful of polls, not hundreds.
        assert!((3..=30).contains(&polls), "{polls} polls in 600 ms");
        stop(tx, agent).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_empty_poll_is_followed_by_another() {
        let f = Fixture::new().await;
        f.poll_answers(ResponseTemplate::new(204)).await;
        let (tx, agent) = f.start();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let polls = f.polls().await;
        assert!(polls >= 3, "only {polls} polls");
        // With the minimum interval of 10 ms, at most about 30.
        assert!(polls <= 40, "{polls} polls: a tight loop");
        stop(tx, agent).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stop_ends_a_waiting_poll_at_once() {
        let f = Fixture::new().await;
        f.poll_answers(ResponseTemplate::new(204).set_delay(Duration::from_secs(5)))
            .await;
        let (tx, agent) = f.start();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(f.polls().await, 1);
        stop(tx, agent).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_error_is_retried_with_backoff() {
        let f = Fixture::new().await;
        f.poll_answers(ResponseTemplate::new(503)).await;
        let (tx, agent) = f.start();
        tokio::time::sleep(Duration::from_millis(600)).await;
        let polls = f.polls().await;
        assert!((3..=30).contains(&polls), "{polls} polls in 600 ms");
        stop(tx, agent).await;
    }
}
