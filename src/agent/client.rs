//! The agent's side of the protocol (see [`crate::protocol`]): it long-polls `warroom serve`
//! for a job, refuses jobs it must not run, carries out the others one at a time with the
//! runner, and posts every report in order while a separate task sends heartbeats. It only
//! ever connects out; failures of the server or the network are waited out with backoff.

use super::config::AgentConfig;
use super::runner::{self, run_runbook, Site};
use crate::domain::runbook::Runbook;
use crate::protocol::{AgentReport, Job, Poll, ReportBody};
use crate::secret::Secret;
use rand::Rng;
use reqwest::StatusCode;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
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

    /// Refuses or runs one job.
    async fn handle(&mut self, job: Job, stop: &mut watch::Receiver<bool>) -> Flow {
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

/// Whether an agent takes `job`: a nonce never seen, not expired at `now` by the agent's
/// clock, a runbook among its own, parameters its own copy accepts. Returns that copy and
/// the bound values, or the refusal.
pub(crate) fn admit(
    job: &Job,
    runbooks: &BTreeMap<String, Runbook>,
    url_hosts: &[crate::domain::url_param::HostPattern],
    nonces: &mut Nonces,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Runbook, BTreeMap<String, String>), Refusal> {
    if job.nonce.trim().is_empty() {
        return Err(Refusal::same(
            "the job has no nonce, so a replay of it could not be told apart; is the server the same warroom version?".to_string(),
        ));
    }
    // Remembered whatever happens next, so a refused job replayed is spotted too.
    if !nonces.remember(&job.nonce) {
        return Err(Refusal::same(
            "replayed: this agent has already received a job with this nonce".to_string(),
        ));
    }
    if job.expires_at <= now {
        return Err(Refusal::same(format!(
            "stale: the job expired at {} ({} s ago by this host's clock); if this repeats, check the clocks of the agent and the server",
            job.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            (now - job.expires_at).num_seconds()
        )));
    }
    let Some(runbook) = runbooks.get(&job.runbook) else {
        return Err(Refusal::same(format!(
            "unknown runbook {}: this agent does not have it",
            job.runbook
        )));
    };
    match runbook
        .bind(&job.params)
        .and_then(|values| runbook.check_urls_on_site(&values, url_hosts).map(|()| values))
    {
        Ok(values) => Ok((runbook.clone(), values)),
        Err(e) => Err(Refusal {
            reason: format!("bad parameters: {e}"),
            // The message may quote a value, and values are not logged.
            logged: "bad parameters: they do not pass this agent's copy of the runbook (the reason is in the report)".to_string(),
        }),
    }
}

/// Why a job is refused: what the server is told, and what the log says.
pub(crate) struct Refusal {
    /// Sent to the server in the `refused` report.
    pub(crate) reason: String,
    /// Written to the agent's log (no parameter values).
    pub(crate) logged: String,
}

impl Refusal {
    fn same(reason: String) -> Refusal {
        Refusal {
            logged: reason.clone(),
            reason,
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

/// A job's heartbeats, posted by a task of their own beside the run.
struct Heartbeats {
    end: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeats {
    fn start(server: Server, job: Job, gone: Arc<AtomicBool>, every: Duration) -> Heartbeats {
        let (end, ended) = watch::channel(false);
        let task = tokio::spawn(heartbeats(server, job, gone, every, ended));
        Heartbeats { end, task }
    }

    /// Ends the beats, waiting for one on its way to arrive first.
    async fn end(mut self) {
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

/// The server's endpoints, with the token.
#[derive(Clone)]
struct Server {
    /// Shared connection pool.
    http: reqwest::Client,
    /// Base URL without a trailing slash.
    base: String,
    /// The agent's bearer token.
    token: Secret,
    /// Timeouts and backoff.
    tuning: Tuning,
}

/// Why a poll found no job.
#[derive(Debug)]
enum PollError {
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
enum Attempt {
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
enum Delivered {
    /// The server took it.
    Recorded,
    /// 409: the job is not this agent's any more.
    Gone,
    /// Given up on: logged, not sent.
    Dropped,
}

impl Server {
    /// One long poll: a job, or none.
    async fn poll(&self, runbooks: &[String], wait_seconds: u64) -> Result<Option<Job>, PollError> {
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
    async fn post_report(&self, job: &Job, report: &AgentReport) -> Result<(), Attempt> {
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
    async fn deliver(
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

/// Whether the agent should stop; a dropped sender counts, as nobody could stop it then.
fn is_stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Resolves when the agent should stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: treated as a stop.
    let _ = stop.wait_for(|s| *s).await;
}

/// Sleeps `wait`; true when the agent was told to stop meanwhile.
async fn pause(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if is_stopped(stop) {
        return true;
    }
    tokio::select! {
        biased;
        _ = stopped(stop) => true,
        _ = tokio::time::sleep(wait) => false,
    }
}

/// Exponential backoff with jitter: each pause is between half and all of the current
/// step, so many agents that lost the server at once do not return all at once.
struct Backoff {
    /// The first step.
    first: Duration,
    /// The largest step.
    max: Duration,
    /// The next step.
    step: Duration,
}

impl Backoff {
    fn new(tuning: &Tuning) -> Backoff {
        Backoff {
            first: tuning.backoff_first,
            max: tuning.backoff_max.max(tuning.backoff_first),
            step: tuning.backoff_first,
        }
    }

    fn next(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(self.max);
        let low = step / 2;
        if low >= step {
            return step;
        }
        rand::thread_rng().gen_range(low..=step)
    }

    fn reset(&mut self) {
        self.step = self.first;
    }
}

/// The nonces of the last jobs, oldest forgotten first.
pub(crate) struct Nonces {
    /// In arrival order.
    order: VecDeque<String>,
    /// The same, for lookups.
    seen: HashSet<String>,
    /// How many are kept.
    capacity: usize,
}

impl Nonces {
    pub(crate) fn new(capacity: usize) -> Nonces {
        Nonces {
            order: VecDeque::new(),
            seen: HashSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Remembers `nonce`; false when it was already remembered (a replay).
    pub(crate) fn remember(&mut self, nonce: &str) -> bool {
        if self.seen.contains(nonce) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.order.push_back(nonce.to_string());
        self.seen.insert(nonce.to_string());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::{json, Value};
    use std::path::{Path, PathBuf};
    use wiremock::matchers::{header, method, path, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const TOKEN: &str = "agent-t0ken";

    /// A step that takes two seconds, to see heartbeats and stops during a step.
    const SLOW: &str = r#"
command = "slow thing"
description = "Sleeps"
roles = ["sre"]
[[params]]
name = "seconds"
pattern = '[0-9]{1,2}'
default = "2"
[[steps]]
id = "nap"
program = "sleep"
args = ["{seconds}"]
"#;

    /// Prints its one argument through the fake `args`, whose name must be a word.
    const ECHO: &str = r#"
command = "echo word"
description = "Prints a word"
roles = ["sre"]
[[params]]
name = "word"
pattern = '[a-z]{1,20}'
required = true
[[steps]]
id = "print"
program = "args"
args = ["{word}"]
"#;

    /// Prints the URL it is given; the runbook lists no hosts, so the agent's `url_hosts`
    /// decide which it may name.
    const PROBE: &str = r#"
command = "probe url"
description = "Prints a URL"
roles = ["sre"]
[[params]]
name = "url"
pattern = 'https?://[A-Za-z0-9.:/_-]{1,200}'
required = true
kind = "url"
[[steps]]
id = "print"
program = "args"
args = ["{url}"]
"#;

    fn fakes() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes")
    }

    /// The fake server, an agent configured against it, and the fake dnsTool's state.
    struct Fixture {
        server: MockServer,
        config: AgentConfig,
        /// `FAKE_DNS`: `calls` appears here when the fake dnsTool ran.
        state: tempfile::TempDir,
        _dir: tempfile::TempDir,
    }

    impl Fixture {
        async fn new() -> Fixture {
            let server = MockServer::start().await;
            let dir = tempfile::tempdir().unwrap();
            let state = tempfile::tempdir().unwrap();
            std::fs::write(state.path().join("active"), "dns1\n").unwrap();
            let commands = dir.path().join("commands");
            std::fs::create_dir(&commands).unwrap();
            std::fs::copy(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("commands/failover-dns.toml"),
                commands.join("failover-dns.toml"),
            )
            .unwrap();
            std::fs::write(commands.join("slow.toml"), SLOW).unwrap();
            std::fs::write(commands.join("echo.toml"), ECHO).unwrap();
            std::fs::write(commands.join("probe.toml"), PROBE).unwrap();
            let text = format!(
                r#"
server = "{uri}"
name = "test-agent"
commands = "commands"
redact = ['token=\S+']
url_hosts = ["127.0.0.1", "*.svc.internal"]
[programs]
dnstool = "{dnstool}"
args = "{args}"
[env]
FAKE_DNS = "{state}"
"#,
                uri = server.uri(),
                dnstool = fakes().join("dnstool").display(),
                args = fakes().join("args").display(),
                state = state.path().display(),
            );
            std::fs::write(dir.path().join("agent.toml"), text).unwrap();
            let config = AgentConfig::load(&dir.path().join("agent.toml"), |k| {
                (k == super::super::config::TOKEN_VARIABLE).then(|| TOKEN.to_string())
            })
            .unwrap();
            Fixture {
                server,
                config,
                state,
                _dir: dir,
            }
        }

        /// Answers polls with these jobs, one each and in order, then with 204s.
        async fn jobs(&self, jobs: &[Value]) {
            for (i, job) in jobs.iter().enumerate() {
                Mock::given(method("POST"))
                    .and(path("/v1/agent/poll"))
                    .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
                    .respond_with(ResponseTemplate::new(200).set_body_json(job))
                    .up_to_n_times(1)
                    .with_priority(1 + i as u8)
                    .mount(&self.server)
                    .await;
            }
            self.poll_answers(ResponseTemplate::new(204).set_delay(Duration::from_millis(30)))
                .await;
        }

        /// Answers every poll (after the jobs) with `answer`.
        async fn poll_answers(&self, answer: ResponseTemplate) {
            Mock::given(method("POST"))
                .and(path("/v1/agent/poll"))
                .respond_with(answer)
                .with_priority(200)
                .mount(&self.server)
                .await;
        }

        /// Answers every report with `status`.
        async fn reports_answer(&self, status: u16) {
            Mock::given(method("POST"))
                .and(path_regex(r"^/v1/agent/jobs/\d+/\d+/reports$"))
                .respond_with(ResponseTemplate::new(status))
                .with_priority(200)
                .mount(&self.server)
                .await;
        }

        /// Starts the agent; the sender stops it.
        fn start(
            &self,
        ) -> (
            watch::Sender<bool>,
            tokio::task::JoinHandle<anyhow::Result<()>>,
        ) {
            let (tx, rx) = watch::channel(false);
            let agent = Agent::new(&self.config, fast()).unwrap();
            (tx, tokio::spawn(agent.run(rx)))
        }

        /// The reports received so far, in order: (path, body).
        async fn reports(&self) -> Vec<(String, Value)> {
            self.server
                .received_requests()
                .await
                .unwrap_or_default()
                .iter()
                .filter(|r| r.url.path().ends_with("/reports"))
                .map(|r| {
                    (
                        r.url.path().to_string(),
                        serde_json::from_slice(&r.body).unwrap(),
                    )
                })
                .collect()
        }

        async fn polls(&self) -> usize {
            self.server
                .received_requests()
                .await
                .unwrap_or_default()
                .iter()
                .filter(|r| r.url.path() == "/v1/agent/poll")
                .count()
        }

        /// Waits until the reports satisfy `done`; fails after five seconds.
        async fn wait_for_reports(
            &self,
            what: &str,
            done: impl Fn(&[Value]) -> bool,
        ) -> Vec<Value> {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let bodies: Vec<Value> = self.reports().await.into_iter().map(|(_, b)| b).collect();
                if done(&bodies) {
                    return bodies;
                }
                assert!(
                    Instant::now() < deadline,
                    "timed out waiting for {what}: {bodies:#?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }

        fn dns_calls(&self) -> Option<String> {
            std::fs::read_to_string(self.state.path().join("calls")).ok()
        }
    }

    fn fast() -> Tuning {
        Tuning {
            wait_seconds: 1,
            poll_grace: Duration::from_secs(2),
            min_poll_interval: Duration::from_millis(10),
            request_timeout: Duration::from_secs(2),
            backoff_first: Duration::from_millis(20),
            backoff_max: Duration::from_millis(100),
            report_patience: Duration::from_secs(2),
            remembered_nonces: 1000,
        }
    }

    fn job(incident: u64, runbook: &str, params: Value, nonce: &str) -> Value {
        json!({
            "incident": incident,
            "run": 2,
            "runbook": runbook,
            "params": params,
            "nonce": nonce,
            "expires_at": Utc::now() + chrono::Duration::minutes(5),
            "heartbeat_seconds": 1,
        })
    }

    fn kinds(reports: &[Value]) -> Vec<&str> {
        reports
            .iter()
            .map(|r| r["kind"].as_str().unwrap())
            .collect()
    }

    fn has_finished(reports: &[Value]) -> bool {
        reports.iter().any(|r| r["kind"] == "finished")
    }

    /// Stops the agent and checks that it returns at once.
    async fn stop(tx: watch::Sender<bool>, agent: tokio::task::JoinHandle<anyhow::Result<()>>) {
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_millis(500), agent)
            .await
            .expect("the agent did not stop promptly")
            .unwrap()
            .unwrap();
    }

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_it_must_not_run_are_refused_and_nothing_runs() {
        let f = Fixture::new().await;
        let mut stale = job(1, "failover-dns", json!({}), "n-stale");
        stale["expires_at"] = json!(Utc::now() - chrono::Duration::seconds(30));
        f.jobs(&[
            stale,
            job(2, "delete-everything", json!({}), "n-unknown"),
            job(3, "failover-dns", json!({"server": "dns2"}), "n-extra"),
            job(
                4,
                "echo",
                json!({"word": "$(touch /tmp/pwned)"}),
                "n-pattern",
            ),
            // A well-formed job, but with a nonce already seen.
            job(5, "failover-dns", json!({}), "n-unknown"),
        ])
        .await;
        f.reports_answer(200).await;
        let (tx, agent) = f.start();
        let reports = f.wait_for_reports("five refusals", |r| r.len() >= 5).await;
        stop(tx, agent).await;

        assert_eq!(kinds(&reports), ["refused"; 5]);
        let reasons: Vec<&str> = reports
            .iter()
            .map(|r| r["reason"].as_str().unwrap())
            .collect();
        assert!(
            reasons[0].starts_with("stale: the job expired at"),
            "{reasons:?}"
        );
        assert_eq!(
            reasons[1],
            "unknown runbook delete-everything: this agent does not have it"
        );
        assert!(
            reasons[2].starts_with("bad parameters: /failover dns has no parameter 'server'"),
            "{reasons:?}"
        );
        assert!(
            reasons[3].starts_with("bad parameters: word: the value does not match"),
            "{reasons:?}"
        );
        assert!(reasons[4].starts_with("replayed:"), "{reasons:?}");
        let paths: Vec<String> = f.reports().await.into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            (1..=5)
                .map(|i| format!("/v1/agent/jobs/{i}/2/reports"))
                .collect::<Vec<_>>()
        );
        assert_eq!(f.dns_calls(), None, "the fake dnsTool ran");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn url_parameters_reach_only_the_hosts_the_agent_lists() {
        let f = Fixture::new().await;
        f.jobs(&[
            job(
                1,
                "probe",
                json!({"url": "http://169.254.169.254/latest/meta-data/"}),
                "u-1",
            ),
            job(2, "probe", json!({"url": "http://2852039166/"}), "u-2"),
            job(3, "probe", json!({"url": "http://db.example.com/"}), "u-3"),
            job(
                4,
                "probe",
                json!({"url": "http://app.svc.internal:8080/healthz"}),
                "u-4",
            ),
        ])
        .await;
        f.reports_answer(200).await;
        let (tx, agent) = f.start();
        let reports = f
            .wait_for_reports("three refusals and a finished run", |r| {
                r.iter().filter(|r| r["kind"] == "finished").count() == 1 && r.len() >= 4
            })
            .await;
        stop(tx, agent).await;
        let refusals: Vec<&str> = reports
            .iter()
            .filter(|r| r["kind"] == "refused")
            .map(|r| r["reason"].as_str().unwrap())
            .collect();
        assert_eq!(refusals.len(), 3, "{reports:?}");
        assert!(
            refusals[0].contains("url: 169.254.169.254 is a link-local or cloud metadata address"),
            "{refusals:?}"
        );
        assert!(refusals[1].contains("metadata address"), "{refusals:?}");
        assert!(
            refusals[2].contains(
                "url: db.example.com is not an allowed host; use one of 127.0.0.1, *.svc.internal"
            ),
            "{refusals:?}"
        );
        let finished = reports.iter().find(|r| r["kind"] == "finished").unwrap();
        assert_eq!(finished["outcome"], "succeeded", "{finished}");
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

    #[test]
    fn nonces_are_remembered_up_to_the_capacity() {
        let mut nonces = Nonces::new(2);
        assert!(nonces.remember("a"));
        assert!(!nonces.remember("a"));
        assert!(nonces.remember("b"));
        assert!(nonces.remember("c"));
        // "a" was the oldest of three: forgotten.
        assert!(nonces.remember("a"));
        assert!(!nonces.remember("c"));
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap_and_resets() {
        let mut tuning = fast();
        tuning.backoff_first = Duration::from_secs(1);
        tuning.backoff_max = Duration::from_secs(60);
        let mut backoff = Backoff::new(&tuning);
        for step in [1, 2, 4, 8, 16, 32, 60, 60] {
            let wait = backoff.next();
            let step = Duration::from_secs(step);
            assert!(
                wait >= step / 2 && wait <= step,
                "{wait:?} for a step of {step:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next() <= Duration::from_secs(1));
    }
}
