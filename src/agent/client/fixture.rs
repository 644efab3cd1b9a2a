//! The tests' fake `warroom serve` (wiremock) and an agent configured against it, with
//! runbooks of its own and the fake programs of `tests/fakes`; shared by the tests of every
//! part of the client.

use super::{Agent, Tuning};
use crate::agent::config::AgentConfig;
use chrono::Utc;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(super) const TOKEN: &str = "agent-t0ken";

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
pub(super) struct Fixture {
    pub(super) server: MockServer,
    pub(super) config: AgentConfig,
    /// `FAKE_DNS`: `calls` appears here when the fake dnsTool ran.
    state: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub(super) async fn new() -> Fixture {
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
    pub(super) async fn jobs(&self, jobs: &[Value]) {
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
    pub(super) async fn poll_answers(&self, answer: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path("/v1/agent/poll"))
            .respond_with(answer)
            .with_priority(200)
            .mount(&self.server)
            .await;
    }

    /// Answers every report with `status`.
    pub(super) async fn reports_answer(&self, status: u16) {
        Mock::given(method("POST"))
            .and(path_regex(r"^/v1/agent/jobs/\d+/\d+/reports$"))
            .respond_with(ResponseTemplate::new(status))
            .with_priority(200)
            .mount(&self.server)
            .await;
    }

    /// Starts the agent; the sender stops it.
    pub(super) fn start(
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
    pub(super) async fn reports(&self) -> Vec<(String, Value)> {
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

    pub(super) async fn polls(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == "/v1/agent/poll")
            .count()
    }

    /// Waits until the reports satisfy `done`; fails after five seconds.
    pub(super) async fn wait_for_reports(
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

    pub(super) fn dns_calls(&self) -> Option<String> {
        std::fs::read_to_string(self.state.path().join("calls")).ok()
    }
}

pub(super) fn fast() -> Tuning {
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

pub(super) fn job(incident: u64, runbook: &str, params: Value, nonce: &str) -> Value {
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

pub(super) fn kinds(reports: &[Value]) -> Vec<&str> {
    reports
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect()
}

pub(super) fn has_finished(reports: &[Value]) -> bool {
    reports.iter().any(|r| r["kind"] == "finished")
}

/// Stops the agent and checks that it returns at once.
pub(super) async fn stop(
    tx: watch::Sender<bool>,
    agent: tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_millis(500), agent)
        .await
        .expect("the agent did not stop promptly")
        .unwrap()
        .unwrap();
}
