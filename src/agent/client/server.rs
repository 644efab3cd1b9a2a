//! The agent's HTTP client of `warroom serve`: one long poll, one report attempt, and a
//! report's delivery retried with backoff for the report patience; answers sorted into
//! worth retrying and not, with the causes of network errors and the start of error bodies.

use super::backoff::Backoff;
use super::stopping::pause;
use super::Tuning;
use crate::protocol::{AgentReport, Job, Poll, ReportBody};
use crate::secret::Secret;
use reqwest::StatusCode;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The server's endpoints, with the token.
#[derive(Clone)]
pub(super) struct Server {
    /// Shared connection pool.
    pub(super) http: reqwest::Client,
    /// Base URL without a trailing slash.
    pub(super) base: String,
    /// The agent's bearer token.
    pub(super) token: Secret,
    /// Timeouts and backoff.
    pub(super) tuning: Tuning,
}

/// Why a poll found no job.
#[derive(Debug)]
pub(super) enum PollError {
    /// 401: the token is not known to the server.
    Unauthorized,
    /// Worth trying again later: network trouble, 5xx, 408, 429.
    Transient(String),
    /// An answer that will not change by retrying soon (another 4xx, an unreadable job).
    Refused(String),
}

impl std::fmt::Display for PollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollError::Unauthorized => f.write_str("the server refused the token (401)"),
            PollError::Transient(what) | PollError::Refused(what) => f.write_str(what),
        }
    }
}

/// How one report request ended, when not recorded.
#[derive(Debug)]
pub(super) enum Attempt {
    /// 409: the job is not this agent's any more.
    Gone,
    /// 401: the token was refused.
    Unauthorized,
    /// Worth retrying: network trouble, 5xx, 408, 429.
    Transient(String),
    /// The server will not take this report (another 4xx).
    Rejected(String),
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attempt::Gone => f.write_str("the job is no longer this agent's (409)"),
            Attempt::Unauthorized => f.write_str(
                "the server refused this agent's token (401); check token_file / the server's [[agents]]",
            ),
            Attempt::Transient(what) | Attempt::Rejected(what) => f.write_str(what),
        }
    }
}

/// How a report's delivery ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Delivered {
    /// The server took it.
    Recorded,
    /// 409: the job is not this agent's any more.
    Gone,
    /// Given up on: logged, not sent.
    Dropped,
}

impl Server {
    /// One long poll: a job, or none.
    pub(super) async fn poll(
        &self,
        runbooks: &[String],
        wait_seconds: u64,
    ) -> Result<Option<Job>, PollError> {
        let body = Poll {
            runbooks: runbooks.to_vec(),
            wait_seconds,
        };
        let response = self
            .http
            .post(format!("{}/v1/agent/poll", self.base))
            .bearer_auth(self.token.expose())
            .timeout(Duration::from_secs(wait_seconds) + self.tuning.poll_grace)
            .json(&body)
            .send()
            .await
            .map_err(|e| PollError::Transient(describe(&e)))?;
        match response.status() {
            StatusCode::OK => response.json::<Job>().await.map(Some).map_err(|e| {
                PollError::Refused(format!(
                    "the server sent a job this agent cannot read ({}); are the agent and the server the same warroom version?",
                    describe(&e)
                ))
            }),
            StatusCode::NO_CONTENT => Ok(None),
            StatusCode::UNAUTHORIZED => Err(PollError::Unauthorized),
            status if retryable(status) => Err(PollError::Transient(format!(
                "the server answered {status}"
            ))),
            status => Err(PollError::Refused(format!(
                "the server answered {status}: {}; is {} a warroom serve that takes agents?",
                snippet(response).await,
                self.base
            ))),
        }
    }

    /// One attempt at posting a report.
    pub(super) async fn post_report(&self, job: &Job, report: &AgentReport) -> Result<(), Attempt> {
        let body = ReportBody {
            nonce: job.nonce.clone(),
            report: report.clone(),
        };
        let response = self
            .http
            .post(format!(
                "{}/v1/agent/jobs/{}/{}/reports",
                self.base, job.incident, job.run
            ))
            .bearer_auth(self.token.expose())
            .timeout(self.tuning.request_timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| Attempt::Transient(describe(&e)))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            StatusCode::CONFLICT => Err(Attempt::Gone),
            StatusCode::UNAUTHORIZED => Err(Attempt::Unauthorized),
            status if retryable(status) => {
                Err(Attempt::Transient(format!("the server answered {status}")))
            }
            status => Err(Attempt::Rejected(format!(
                "the server answered {status}: {}",
                snippet(response).await
            ))),
        }
    }

    /// Posts a report, retrying network trouble and 5xx with backoff for up to the report
    /// patience; gives up at once on an answer retrying cannot change, or when `stop` flips
    /// during a pause.
    pub(super) async fn deliver(
        &self,
        job: &Job,
        report: &AgentReport,
        stop: &mut watch::Receiver<bool>,
    ) -> Delivered {
        let give_up = Instant::now() + self.tuning.report_patience;
        let mut backoff = Backoff::new(&self.tuning);
        loop {
            let failure = match self.post_report(job, report).await {
                Ok(()) => return Delivered::Recorded,
                Err(Attempt::Gone) => return Delivered::Gone,
                Err(Attempt::Transient(what)) => what,
                Err(permanent) => {
                    tracing::error!(
                        incident = job.incident,
                        run = job.run,
                        report = kind(report),
                        "a report was dropped: {permanent}"
                    );
                    return Delivered::Dropped;
                }
            };
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::error!(
                    incident = job.incident,
                    run = job.run,
                    report = kind(report),
                    "a report was dropped after {:?} of retries: {failure}",
                    self.tuning.report_patience
                );
                return Delivered::Dropped;
            }
            let wait = backoff.next().min(left);
            tracing::warn!(
                incident = job.incident,
                run = job.run,
                report = kind(report),
                retry_in = ?wait,
                "a report did not reach the server: {failure}"
            );
            if pause(wait, stop).await {
                tracing::warn!(
                    incident = job.incident,
                    run = job.run,
                    report = kind(report),
                    "the agent is stopping: a report was dropped"
                );
                return Delivered::Dropped;
            }
        }
    }
}

/// The report's kind, for logs (never its content).
fn kind(report: &AgentReport) -> &'static str {
    match report {
        AgentReport::StepStarted { .. } => "step_started",
        AgentReport::Output { .. } => "output",
        AgentReport::StepFinished { .. } => "step_finished",
        AgentReport::Heartbeat => "heartbeat",
        AgentReport::Finished { .. } => "finished",
        AgentReport::Refused { .. } => "refused",
    }
}

fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// A request error with its causes (reqwest's own message alone often says only "error
/// sending request").
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The start of an error answer's body, on one line.
async fn snippet(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if line.is_empty() => "(no body)".to_string(),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{fast, has_finished, job, kinds, stop, Fixture};
    use super::super::Agent;
    use serde_json::json;
    use std::time::Duration;
    use tokio::sync::watch;
    use tokio::time::Instant;
    use wiremock::matchers::{method, path_regex};
    use wiremock::{Mock, ResponseTemplate};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_report_is_retried_through_server_errors_and_order_is_kept() {
        let f = Fixture::new().await;
        f.jobs(&[job(4, "echo", json!({"word": "hello"}), "n-retry")])
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"/reports$"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(3)
            .with_priority(1)
            .mount(&f.server)
            .await;
        f.reports_answer(200).await;
        let (tx, agent) = f.start();
        let reports = f.wait_for_reports("the end of the run", has_finished).await;
        stop(tx, agent).await;
        let kinds: Vec<&str> = kinds(&reports)
            .into_iter()
            .filter(|k| *k != "heartbeat")
            .collect();
        // The first report was posted four times, then each of the others once.
        assert_eq!(
            kinds,
            [
                "step_started",
                "step_started",
                "step_started",
                "step_started",
                "output",
                "step_finished",
                "finished"
            ]
        );
        assert_eq!(reports[4]["lines"], json!(["[hello]"]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_report_that_never_arrives_is_dropped_after_the_patience() {
        let f = Fixture::new().await;
        f.jobs(&[job(4, "echo", json!({"word": "hello"}), "n-down")])
            .await;
        f.reports_answer(500).await;
        let mut tuning = fast();
        tuning.report_patience = Duration::from_millis(150);
        let (tx, rx) = watch::channel(false);
        let started = Instant::now();
        let agent = tokio::spawn(Agent::new(&f.config, tuning).unwrap().run(rx));
        // Each report is tried for the patience, then dropped, and the run goes on.
        let reports = f
            .wait_for_reports("the last report's tries", has_finished)
            .await;
        assert!(started.elapsed() < Duration::from_secs(3));
        let kinds = kinds(&reports);
        for kind in ["step_started", "output", "step_finished"] {
            let tries = kinds.iter().filter(|k| **k == kind).count();
            assert!(tries >= 2, "{kind} was tried {tries} time(s): {kinds:?}");
        }
        stop(tx, agent).await;
    }
}
