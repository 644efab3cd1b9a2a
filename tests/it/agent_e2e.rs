//! `warroom serve` and `warroom agent` together: a DNS failover asked for in an incident is
//! carried out by the agent against the fake dnsTool and every step lands in the timeline;
//! an agent killed with SIGKILL mid-run leaves the run lost, never started again. Prints the
//! latency from the confirmation to the agent starting the job.

use crate::common;

use chrono::Utc;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use warroom::agent::config::AgentConfig;
use warroom::app::Warroom;
use warroom::config::{AgentSettings, Settings};
use warroom::domain::event::{Event, Recorded};
use warroom::domain::runbook::Runbook;
use warroom::domain::types::IncidentNumber;

const TOKEN: &str = "agent-e2e-token";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A slow runbook for the kill test, known to both sides.
const SLOW: &str = r#"command = "slow job"
description = "Sleeps, so an agent can be killed during it"
roles = ["sre"]
idempotent = false
timeout_seconds = 120
[[steps]]
id = "nap"
program = "sleep"
args = ["60"]
"#;

struct Setup {
    warroom: Arc<Warroom>,
    running: warroom::serve::Running,
    agent_toml: PathBuf,
    dns_state: tempfile::TempDir,
    _dirs: Vec<tempfile::TempDir>,
}

async fn setup() -> Setup {
    let mut settings = Settings::example().unwrap();
    settings.agents = vec![AgentSettings {
        name: "dns-1".into(),
        token_sha256: Sha256::digest(TOKEN.as_bytes()).into(),
        labels: BTreeMap::from([("role".to_string(), "dns".to_string())]),
    }];
    settings
        .runbooks
        .push(Runbook::parse("commands/slow-job.toml", SLOW).unwrap());
    let (db_dir, url) = common::fresh_sqlite_url();
    let common::TestApp {
        warroom, running, ..
    } = common::spawn_app(&url, settings, Default::default()).await;
    // The agent's own directory: the shipped failover plus the slow job.
    let agent_dir = tempfile::tempdir().unwrap();
    let commands = agent_dir.path().join("commands");
    std::fs::create_dir(&commands).unwrap();
    std::fs::copy(
        repo().join("commands/failover-dns.toml"),
        commands.join("failover-dns.toml"),
    )
    .unwrap();
    std::fs::write(commands.join("slow-job.toml"), SLOW).unwrap();
    let dns_state = tempfile::tempdir().unwrap();
    std::fs::write(dns_state.path().join("active"), "dns1\n").unwrap();
    let agent_toml = agent_dir.path().join("agent.toml");
    std::fs::write(
        &agent_toml,
        format!(
            r#"server = "http://{}"
name = "dns-1"
commands = "commands"
redact = ['token=\S+']
[programs]
dnstool = "{}"
sleep = "/bin/sleep"
[env]
FAKE_DNS = "{}"
"#,
            running.addr,
            repo().join("tests/fakes/dnstool").display(),
            dns_state.path().display()
        ),
    )
    .unwrap();
    Setup {
        warroom,
        running,
        agent_toml,
        dns_state,
        _dirs: vec![db_dir, agent_dir],
    }
}

async fn say(warroom: &Warroom, key: &str, text: &str) {
    let line = common::console_line(key, "rpark", text);
    warroom.handle(line).await.unwrap();
}

async fn records(warroom: &Warroom) -> Vec<Recorded> {
    warroom.incident_records(IncidentNumber(1)).await.unwrap()
}

async fn until(
    warroom: &Warroom,
    what: &str,
    check: impl Fn(&[Recorded]) -> bool,
) -> Vec<Recorded> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = records(warroom).await;
        if check(&r) {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_carries_out_a_confirmed_failover_and_the_timeline_follows() {
    let s = setup().await;
    let token_env = |k: &str| (k == "WARROOM_AGENT_TOKEN").then(|| TOKEN.to_string());
    let config = AgentConfig::load(&s.agent_toml, token_env).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(warroom::agent::client::run_agent(config, stopped));

    say(
        &s.warroom,
        "1",
        "/incident open title:\"DNS down\" severity:sev2",
    )
    .await;
    say(&s.warroom, "2", "/failover dns").await;
    // Let the agent's poll be waiting, as it is in production.
    tokio::time::sleep(Duration::from_millis(300)).await;
    say(&s.warroom, "3", "confirm").await;
    let done = until(&s.warroom, "the run finished", |r| {
        r.iter()
            .any(|r| matches!(r.event, Event::RunbookFinished { .. }))
    })
    .await;
    let at = |pick: fn(&Event) -> bool| done.iter().find(|r| pick(&r.event)).map(|r| r.at).unwrap();
    let queued = at(|e| matches!(e, Event::RunbookQueued { .. }));
    let claimed = at(|e| matches!(e, Event::RunbookClaimed { .. }));
    let started = at(|e| matches!(e, Event::RunbookStepStarted { .. }));
    let finished = at(|e| matches!(e, Event::RunbookFinished { .. }));
    let last_step = done
        .iter()
        .rev()
        .find(|r| matches!(r.event, Event::RunbookStepFinished { .. }))
        .unwrap()
        .at;
    println!(
        "latency: confirmation → claimed {} ms, → first step started {} ms; last step → result in the timeline {} ms",
        (claimed - queued).num_milliseconds(),
        (started - queued).num_milliseconds(),
        (finished - last_step).num_milliseconds()
    );
    let outcome = done.iter().find_map(|r| match &r.event {
        Event::RunbookFinished {
            outcome, message, ..
        } => Some((outcome.clone(), message.clone())),
        _ => None,
    });
    let (outcome, message) = outcome.unwrap();
    assert_eq!(outcome, "succeeded", "{message}");
    assert!(
        message.starts_with("dns2 is now the active DNS server"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(s.dns_state.path().join("active"))
            .unwrap()
            .trim(),
        "dns2"
    );
    let steps: Vec<&str> = done
        .iter()
        .filter_map(|r| match &r.event {
            Event::RunbookStepStarted { step, .. } => Some(step.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(steps, ["ask-active", "shutdown", "failover", "report"]);
    let _ = stop.send(true);
    agent.await.unwrap().unwrap();
    s.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_run_leaves_the_run_lost_and_it_is_not_run_again() {
    let s = setup().await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["agent", "--config"])
        .arg(&s.agent_toml)
        .env("WARROOM_AGENT_TOKEN", TOKEN)
        .env_remove("WARROOM_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    say(&s.warroom, "1", "/incident open title:\"Slow\"").await;
    say(&s.warroom, "2", "/slow job").await;
    say(&s.warroom, "3", "confirm").await;
    until(&s.warroom, "the slow step started", |r| {
        r.iter()
            .any(|r| matches!(r.event, Event::RunbookStepStarted { .. }))
    })
    .await;
    // SIGKILL: no goodbye, no final report.
    child.kill().unwrap();
    child.wait().unwrap();
    let before = records(&s.warroom).await.len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        records(&s.warroom).await.len(),
        before,
        "a dead agent sends nothing"
    );

    // Three missed beats later the sweeper declares it lost (asked with that clock here).
    let later = Utc::now() + chrono::Duration::seconds(31);
    assert_eq!(s.warroom.sweep_jobs(later).await.unwrap(), 1);
    let r = records(&s.warroom).await;
    let (outcome, message) = r
        .iter()
        .find_map(|r| match &r.event {
            Event::RunbookFinished {
                outcome, message, ..
            } => Some((outcome.clone(), message.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(outcome, "lost");
    assert!(
        message.contains("during step nap; it is not run again by itself"),
        "{message}"
    );
    // A new agent does not get it again.
    let token_env = |k: &str| (k == "WARROOM_AGENT_TOKEN").then(|| TOKEN.to_string());
    let config = AgentConfig::load(&s.agent_toml, token_env).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(warroom::agent::client::run_agent(config, stopped));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let claims = records(&s.warroom)
        .await
        .iter()
        .filter(|r| matches!(r.event, Event::RunbookClaimed { .. }))
        .count();
    assert_eq!(
        claims, 1,
        "a lost run that is not idempotent is never started again"
    );
    let _ = stop.send(true);
    agent.await.unwrap().unwrap();
    // The orphaned step of the killed agent is the host's business; end it here.
    let _ = std::process::Command::new("pkill")
        .args(["-f", "sleep 60"])
        .status();
    s.running.stop().await;
}
