//! Runbook runs carried out by agents through the real HTTP server: a DNS failover asked
//! for in an incident, confirmed, claimed once, run against the fake dnsTool and reported
//! step by step into the timeline; bad tokens, reports for someone else's job, runs lost
//! when the agent falls silent, and runs nobody took.

use crate::common;

use chrono::Utc;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use warroom::agent::runner::{run_runbook, Site};
use warroom::app::Warroom;
use warroom::config::{AgentSettings, Settings};
use warroom::domain::event::Event;
use warroom::domain::postmortem::render_markdown;
use warroom::domain::types::IncidentNumber;
use warroom::protocol::{AgentReport, Job, Poll, ReportBody};

const DNS_TOKEN: &str = "agent-dns-1-token";
const APP_TOKEN: &str = "agent-app-1-token";
const CONSOLE_TOKEN: &str = "console-token";

fn agent(name: &str, token: &str, role: &str) -> AgentSettings {
    AgentSettings {
        name: name.into(),
        token_sha256: Sha256::digest(token.as_bytes()).into(),
        labels: BTreeMap::from([("role".to_string(), role.to_string())]),
    }
}

struct Server {
    warroom: Arc<Warroom>,
    running: warroom::serve::Running,
    url: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let mut settings = Settings::example().unwrap();
    settings.agents = vec![
        agent("dns-1", DNS_TOKEN, "dns"),
        agent("app-1", APP_TOKEN, "app"),
    ];
    settings.console_token_sha256 = Some(Sha256::digest(CONSOLE_TOKEN.as_bytes()).into());
    let (dir, url) = common::fresh_sqlite_url();
    let common::TestApp {
        warroom,
        running,
        base: url,
    } = common::spawn_app(&url, settings, Default::default()).await;
    Server {
        warroom,
        running,
        url,
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Server {
    async fn say(&self, key: &str, from: &str, text: &str) -> warroom::app::Outcome {
        let line = common::console_line(key, from, text);
        self.warroom.handle(line).await.unwrap()
    }

    async fn poll(&self, token: &str, runbooks: &[&str], wait: u64) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/agent/poll", self.url))
            .bearer_auth(token)
            .json(&Poll {
                runbooks: runbooks.iter().map(|s| s.to_string()).collect(),
                wait_seconds: wait,
            })
            .send()
            .await
            .unwrap()
    }

    async fn report(&self, token: &str, job: &Job, nonce: &str, report: AgentReport) -> u16 {
        self.client
            .post(format!(
                "{}/v1/agent/jobs/{}/{}/reports",
                self.url, job.incident, job.run
            ))
            .bearer_auth(token)
            .json(&ReportBody {
                nonce: nonce.into(),
                report,
            })
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn records(&self) -> Vec<warroom::domain::event::Recorded> {
        self.warroom
            .incident_records(IncidentNumber(1))
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_is_claimed_once_run_by_the_agent_and_reported_step_by_step() {
    let s = server().await;
    s.say(
        "1",
        "rpark",
        "/incident open title:\"DNS down\" severity:sev2",
    )
    .await;
    // Nothing is offered before the run is confirmed; a bad token is refused.
    assert_eq!(s.poll(DNS_TOKEN, &["failover-dns"], 0).await.status(), 204);
    assert_eq!(s.poll("wrong", &["failover-dns"], 0).await.status(), 401);
    s.say("2", "rpark", "/failover dns").await;
    assert_eq!(s.poll(DNS_TOKEN, &["failover-dns"], 0).await.status(), 204);
    let confirmed = s.say("3", "rpark", "confirm").await;
    assert!(confirmed.reply.unwrap().contains("queued"));

    // The app agent lacks the dns label; an agent without the runbook is not offered it.
    assert_eq!(s.poll(APP_TOKEN, &["failover-dns"], 0).await.status(), 204);
    assert_eq!(s.poll(DNS_TOKEN, &["restart-app"], 0).await.status(), 204);
    // Two polls at once: one job, claimed once.
    let (a, b) = tokio::join!(
        s.poll(DNS_TOKEN, &["failover-dns"], 1),
        s.poll(DNS_TOKEN, &["failover-dns"], 1)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 204]);
    let job: Job = if a.status() == 200 {
        a.json().await.unwrap()
    } else {
        b.json().await.unwrap()
    };
    assert_eq!(job.runbook, "failover-dns");
    assert_eq!((job.incident, job.run), (1, 1));

    // Someone else's report, or a wrong nonce, is refused with 409.
    assert_eq!(
        s.report(APP_TOKEN, &job, &job.nonce, AgentReport::Heartbeat)
            .await,
        409
    );
    assert_eq!(
        s.report(DNS_TOKEN, &job, "other", AgentReport::Heartbeat)
            .await,
        409
    );

    // The agent's side: the runner against the fake dnsTool, every report posted.
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("active"), "dns1\n").unwrap();
    let site = Site {
        programs: BTreeMap::from([(
            "dnstool".to_string(),
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fakes/dnstool")
                .display()
                .to_string(),
        )]),
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("FAKE_DNS".into(), state.path().display().to_string()),
        ],
        output_limit: 65536,
        redact: vec![],
        url_hosts: vec![],
    };
    let runbook = s
        .warroom
        .settings()
        .runbooks
        .iter()
        .find(|r| r.command_text() == "/failover dns")
        .unwrap()
        .clone();
    let mut reports = Vec::new();
    run_runbook(&runbook, &job.params, &site, |r| {
        reports.push(r);
        async {}
    })
    .await;
    for r in reports {
        assert_eq!(s.report(DNS_TOKEN, &job, &job.nonce, r).await, 200);
    }
    // The run is over: further reports are refused.
    assert_eq!(
        s.report(DNS_TOKEN, &job, &job.nonce, AgentReport::Heartbeat)
            .await,
        409
    );

    let records = s.records().await;
    assert!(records
        .iter()
        .any(|r| matches!(&r.event, Event::RunbookClaimed { agent, .. } if agent == "dns-1")));
    let steps: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::RunbookStepFinished {
                step,
                succeeded: true,
                ..
            } => Some(step.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(steps, ["ask-active", "shutdown", "failover", "report"]);
    let md = render_markdown(&s.warroom.postmortem(IncidentNumber(1)).await.unwrap());
    assert!(
        md.contains("ran /failover dns (run 1, on agent dns-1): succeeded after"),
        "one timeline line for the run: {md}"
    );
    assert!(
        md.contains(" shutdown: dnstool -a shutdown -s dns1 — succeeded at "),
        "each step in the Runs appendix: {md}"
    );
    assert!(
        md.contains("/failover dns (run 1, asked by Riley Park (@rpark)) succeeded: dns2 is now the active DNS server (was dns1)"),
        "the Resolution says what was done, by whom, with what outcome:\n{md}"
    );
    s.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_agent_loses_its_run_and_a_run_nobody_takes_goes_stale() {
    let s = server().await;
    s.say("1", "rpark", "/incident open title:\"App down\"")
        .await;
    s.say("2", "rpark", "/failover dns").await;
    s.say("3", "rpark", "confirm").await;
    let job: Job = s
        .poll(DNS_TOKEN, &["failover-dns"], 1)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        s.report(
            DNS_TOKEN,
            &job,
            &job.nonce,
            AgentReport::StepStarted {
                step: "shutdown".into(),
                attempt: 1,
                program: "dnstool".into(),
                args: vec![]
            }
        )
        .await,
        200
    );
    // A run no agent is asked for yet: /restart app, confirmed, nobody polls.
    s.say("4", "rpark", "/restart app").await;
    s.say("5", "rpark", "confirm").await;

    // Half a minute of silence later (the sweeper is asked directly, with that clock).
    let later = Utc::now() + chrono::Duration::seconds(31);
    assert_eq!(s.warroom.sweep_jobs(later).await.unwrap(), 1);
    let finished = |records: &[warroom::domain::event::Recorded], run: u32| {
        records.iter().find_map(|r| match &r.event {
            Event::RunbookFinished {
                run: n,
                outcome,
                message,
            } if *n == run => Some((outcome.clone(), message.clone())),
            _ => None,
        })
    };
    let (outcome, message) = finished(&s.records().await, 1).unwrap();
    assert_eq!(outcome, "lost");
    assert!(
        message.contains(
            "agent dns-1 stopped answering during step shutdown; it is not run again by itself"
        ),
        "{message}"
    );
    // Lost is final: the job is not offered again, its reports are refused, sweeping again adds nothing.
    assert_eq!(s.poll(DNS_TOKEN, &["failover-dns"], 0).await.status(), 204);
    assert_eq!(
        s.report(DNS_TOKEN, &job, &job.nonce, AgentReport::Heartbeat)
            .await,
        409
    );
    assert_eq!(s.warroom.sweep_jobs(later).await.unwrap(), 0);

    let much_later = Utc::now() + chrono::Duration::minutes(11);
    assert_eq!(s.warroom.sweep_jobs(much_later).await.unwrap(), 1);
    let (outcome, message) = finished(&s.records().await, 2).unwrap();
    assert_eq!(outcome, "refused");
    assert!(message.contains("no agent took it in time; is an agent with the restart-app runbook and role=app connected?"), "{message}");
    s.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_console_runs_transcript_lines_and_answers_with_the_replies() {
    let s = server().await;
    let post = |token: &'static str, body: String| {
        s.client
            .post(format!("{}/v1/console?identity=drill-1", s.url))
            .bearer_auth(token)
            .body(body)
            .send()
    };
    // Lines said just now: a queued run expires ten minutes after it is queued.
    let at = |s: i64| (Utc::now() + chrono::Duration::seconds(s)).to_rfc3339();
    let lines = [
        serde_json::json!({"at": at(-60), "from": "rpark", "text": "/incident open title:\"DNS down\" severity:sev2"}),
        serde_json::json!({"at": at(-30), "from": "rpark", "text": "/failover dns"}),
        serde_json::json!({"at": at(-10), "from": "rpark", "text": "confirm"}),
    ]
    .map(|l| l.to_string())
    .join("\n");
    assert_eq!(post("wrong", lines.clone()).await.unwrap().status(), 401);
    let answer: serde_json::Value = post(CONSOLE_TOKEN, lines.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["lines"], 3);
    let replies = answer["replies"].as_array().unwrap();
    assert!(replies[1]["reply"]
        .as_str()
        .unwrap()
        .contains("/failover dns is run 1 of INC-1"));
    assert!(replies[2]["reply"]
        .as_str()
        .unwrap()
        .contains("queued for an agent"));
    // The same lines under the same identity are recorded once.
    let again: serde_json::Value = post(CONSOLE_TOKEN, lines)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["events"], 0);
    // A bad line is refused whole, naming it.
    let bad = post(
        CONSOLE_TOKEN,
        "{\"at\": \"yesterday\", \"from\": \"x\", \"text\": \"y\"}".into(),
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("line 1"));
    assert_eq!(
        s.poll(DNS_TOKEN, &["failover-dns"], 0).await.status(),
        200,
        "the run is queued for the agent"
    );

    // `warroom replay FILE --server URL` goes through the same door.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("drill.jsonl");
    std::fs::write(
        &file,
        serde_json::json!({"at": at(0), "from": "rpark", "text": "/incident update text:\"failover done\" incident:INC-1"}).to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["replay", "--server", &s.url])
        .arg(&file)
        .env("WARROOM_CONSOLE_TOKEN", CONSOLE_TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("line 1: Status update recorded for INC-1."),
        "{printed}"
    );
    s.running.stop().await;
}
