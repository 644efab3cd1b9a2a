//! Alert intake and paging end to end: the real HTTP server on port 0, a fresh store, and
//! wiremock standing in for PagerDuty and a paging webhook.

use crate::common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use warroom::app::{Input, InputKind, Warroom};
use warroom::config::Settings;
use warroom::domain::event::{AttemptOutcome, Event};
use warroom::domain::types::IncidentNumber;
use warroom::serve::Running;
use warroom::store::Ledger;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "am-token-0123";
const HMAC_KEY: &str = "generic-key-4567";

/// Contacts, teams, the four routes' shape and the credentials, with pager URLs filled in.
fn config(pagerduty: &str, webhook: &str, extra: &str) -> String {
    format!(
        r#"
[alerts]
channel = "ops"
max_body_kib = 64

[alerts.sources.alertmanager]
auth = "bearer"
secret_env = "AM_TOKEN"

[alerts.sources.generic]
auth = "hmac"
secret_env = "GENERIC_KEY"

[[routes]]
name = "dns"
match = {{ alertname = "DNSNotAnswering" }}
title = "DNS server not answering requests"
severity = "sev2"
sop = "sops/dns-not-answering.md"
escalation = "networking"
auto_open = true
suggest = ["/failover dns"]
group_by = ["alertname"]
group_window_minutes = 30

[default_route]
auto_open = false

[[escalations]]
name = "networking"
repeat = 1
fallback = ["!sre"]
steps = [
  {{ targets = ["!net"], wait_minutes = 5 }},
  {{ targets = ["@rpark"], wait_minutes = 10 }},
]

[[pagers]]
name = "pagerduty-networking"
kind = "pagerduty"
url = "{pagerduty}"
secret_env = "PD_KEY"
targets = ["!net"]
timeout_seconds = 2
max_attempts = 3

[[pagers]]
name = "sre-webhook"
kind = "webhook"
url = "{webhook}"
secret_env = "HOOK_KEY"
targets = ["!sre", "!dba"]
timeout_seconds = 2
max_attempts = 2
{extra}
{people}
"#,
        people = common::PEOPLE
    )
}

fn settings(text: &str) -> Settings {
    let env: HashMap<&str, &str> = [
        ("AM_TOKEN", TOKEN),
        ("GENERIC_KEY", HMAC_KEY),
        ("PD_KEY", "pd-routing-key"),
        ("HOOK_KEY", "hook-key"),
    ]
    .into_iter()
    .collect();
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    Settings::check(
        text,
        "test.toml",
        |k| env.get(k).map(|v| v.to_string()),
        |f| std::fs::read_to_string(deploy.join(f)),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A chat message said now, as any front end hands it over.
fn chat(id: &str, from: &str, channel: &str, text: &str) -> Input {
    Input {
        key: format!("chat:{id}"),
        at: Utc::now(),
        from: from.into(),
        channel: channel.into(),
        caller: Default::default(),
        kind: InputKind::Message {
            text: text.into(),
            message_id: Some(id.into()),
            reply_to: None,
            attachments: vec![],
        },
    }
}

struct Harness {
    warroom: Arc<Warroom>,
    running: Option<Running>,
    base: String,
    client: reqwest::Client,
}

impl Harness {
    async fn start(url: &str, config_text: &str) -> Harness {
        let retry = warroom::notify::RetryPolicy {
            base_delay: std::time::Duration::from_millis(20),
            max_delay: std::time::Duration::from_millis(100),
            ..Default::default()
        };
        let common::TestApp {
            warroom,
            running,
            base,
        } = common::spawn_app(
            url,
            settings(config_text),
            warroom::serve::Options {
                retry,
                ..Default::default()
            },
        )
        .await;
        Harness {
            base,
            warroom,
            running: Some(running),
            client: reqwest::Client::new(),
        }
    }

    async fn post_am(&self, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/v1/alerts/alertmanager", self.base))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A chat message in INC-1's channel, through the same use case as any front end.
    async fn say(&self, id: &str, from: &str, text: &str) -> warroom::app::Outcome {
        self.warroom
            .handle(chat(
                id,
                from,
                "inc-1-dns-server-not-answering-requests",
                text,
            ))
            .await
            .unwrap()
    }

    async fn events(&self) -> i64 {
        self.warroom.ledger().head().await.unwrap()
    }

    async fn incident_events(&self, n: u64) -> Vec<Event> {
        self.warroom
            .incident_records(IncidentNumber(n))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.event)
            .collect()
    }

    async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        self.warroom.ledger().clone().close().await;
    }
}

fn am_body(status: &str, starts_at: &str, instances: &[&str]) -> Value {
    let alerts: Vec<Value> = instances
        .iter()
        .map(|i| {
            json!({
                "status": status,
                "labels": {"alertname": "DNSNotAnswering", "instance": i, "severity": "critical"},
                "annotations": {"summary": format!("{i} does not answer DNS queries")},
                "startsAt": starts_at,
                "endsAt": if status == "resolved" { "2030-01-01T00:10:00Z" } else { "0001-01-01T00:00:00Z" },
                "generatorURL": "http://prometheus/graph",
                "fingerprint": format!("fp-{i}"),
            })
        })
        .collect();
    json!({"version": "4", "status": status, "receiver": "warroom", "groupKey": "{}:{}",
           "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
           "externalURL": "http://alertmanager", "alerts": alerts})
}

async fn pagers() -> (MockServer, MockServer) {
    let pd = MockServer::start().await;
    let hook = MockServer::start().await;
    (pd, hook)
}

async fn wait_for<F: Fn(&[wiremock::Request]) -> bool>(server: &MockServer, what: &str, f: F) {
    for _ in 0..200 {
        if f(&server.received_requests().await.unwrap_or_default()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!(
        "timed out waiting for {what}; received: {:?}",
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).to_string())
            .collect::<Vec<_>>()
    );
}

/// A pager that accepts every page.
async fn accept_all(pager: &MockServer) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .mount(pager)
        .await;
}

fn bodies(requests: &[wiremock::Request]) -> Vec<Value> {
    requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn bad_credentials_get_401_and_nothing_is_recorded() {
    let (_dir, url) = common::fresh_sqlite_url();
    let (pd, hook) = pagers().await;
    let h = Harness::start(&url, &config(&pd.uri(), &hook.uri(), "")).await;
    let body = am_body("firing", "2030-01-01T00:00:00Z", &["dns1"]);
    let before = h.events().await;
    let endpoint = format!("{}/v1/alerts/alertmanager", h.base);
    for request in [
        h.client.post(&endpoint).json(&body),
        h.client.post(&endpoint).bearer_auth("wrong").json(&body),
        h.client
            .post(&endpoint)
            .header("authorization", TOKEN)
            .json(&body),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains("token"),
            "{error}"
        );
    }
    // Grafana has no credential configured: refused, and told how to fix it.
    let response = h
        .client
        .post(format!("{}/v1/alerts/grafana", h.base))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"]
        .as_str()
        .unwrap()
        .contains("alerts.sources.grafana"));
    // A generic alert with a signature over other bytes.
    let generic = serde_json::to_vec(&json!({"name": "DiskLow"})).unwrap();
    let response = h
        .client
        .post(format!("{}/v1/alerts/generic", h.base))
        .header(
            "x-warroom-signature",
            warroom::secret::Secret::new(HMAC_KEY).sign(b"{}"),
        )
        .body(generic.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        h.events().await,
        before,
        "a refused request recorded something"
    );
    // The right signature is accepted.
    let response = h
        .client
        .post(format!("{}/v1/alerts/generic", h.base))
        .header(
            "x-warroom-signature",
            warroom::secret::Secret::new(HMAC_KEY).sign(&generic),
        )
        .body(generic)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(h.events().await, before + 1);
    h.stop().await;
}

#[tokio::test]
async fn oversized_and_malformed_bodies_get_413_and_400_naming_the_problem() {
    let (_dir, url) = common::fresh_sqlite_url();
    let (pd, hook) = pagers().await;
    let h = Harness::start(&url, &config(&pd.uri(), &hook.uri(), "")).await;
    let endpoint = format!("{}/v1/alerts/alertmanager", h.base);
    let huge = "x".repeat(65 * 1024);
    let response = h
        .client
        .post(&endpoint)
        .bearer_auth(TOKEN)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let response = h
        .client
        .post(&endpoint)
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"].as_str().unwrap().contains("not JSON"));
    let (status, error) = h.post_am(&json!({"version": "4"})).await;
    assert_eq!(status, 400);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("missing field `alerts`"),
        "{error}"
    );
    let (status, error) = h
        .post_am(&json!({"alerts": [{"status": "firing", "labels": {"instance": "x"}}]}))
        .await;
    assert_eq!(status, 400);
    assert!(
        error["error"].as_str().unwrap().contains("alertname"),
        "{error}"
    );
    let generic = serde_json::to_vec(&json!({"status": "firing"})).unwrap();
    let response = h
        .client
        .post(format!("{}/v1/alerts/generic", h.base))
        .header(
            "x-warroom-signature",
            warroom::secret::Secret::new(HMAC_KEY).sign(&generic),
        )
        .body(generic)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"]
        .as_str()
        .unwrap()
        .contains("missing field `name`"));
    assert_eq!(h.events().await, 0);
    h.stop().await;
}

#[tokio::test]
async fn alert_times_outside_the_accepted_range_get_400_naming_the_field() {
    let (_dir, url) = common::fresh_sqlite_url();
    let (pd, hook) = pagers().await;
    let h = Harness::start(&url, &config(&pd.uri(), &hook.uri(), "")).await;
    for starts_at in [
        "-0001-01-01T00:00:00Z",
        "-2021-03-09T09:15:00Z",
        "1969-07-20T20:17:00Z",
    ] {
        let (status, error) = h.post_am(&am_body("firing", starts_at, &["dns1"])).await;
        assert_eq!(status, 400, "{starts_at}: {error}");
        let text = error["error"].as_str().unwrap();
        assert!(
            text.contains("alerts[0].startsAt") && text.contains("1970-01-01T00:00:00Z"),
            "{starts_at}: {error}"
        );
    }
    assert_eq!(h.events().await, 0, "nothing refused was stored");
    // The store still reads, and a good alert after them opens its incident.
    let (status, _) = h
        .post_am(&am_body("firing", "2021-03-09T09:15:00Z", &["dns1"]))
        .await;
    assert_eq!(status, 200);
    let ledger = h.warroom.ledger().clone();
    assert!(ledger.verify().await.unwrap().problem.is_none());
    assert!(!ledger.read_all(0, 100).await.unwrap().is_empty());
    h.stop().await;
    // …and a server starts on it again.
    let again = Harness::start(&url, &config(&pd.uri(), &hook.uri(), "")).await;
    assert!(again.events().await > 0);
    again.stop().await;
}

#[tokio::test]
async fn an_alert_opens_one_incident_pages_pagerduty_and_ack_stops_the_escalation() {
    let (_dir, url) = common::fresh_sqlite_url();
    let (pd, hook) = pagers().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(
            json!({"status": "success", "message": "Event processed", "dedup_key": "x"}),
        ))
        .mount(&pd)
        .await;
    let h = Harness::start(&url, &config(&pd.uri(), &hook.uri(), "")).await;
    let firing = am_body("firing", "2030-01-01T00:00:00Z", &["dns1"]);
    // Delivered three times (Alertmanager retries, HA pairs both send): one incident.
    for _ in 0..3 {
        let (status, report) = h.post_am(&firing).await;
        assert_eq!(status, 200, "{report}");
    }
    let incidents = h.warroom.incidents().await.unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].title, "DNS server not answering requests");
    assert_eq!(
        incidents[0].channel,
        "inc-1-dns-server-not-answering-requests"
    );
    wait_for(&pd, "the PagerDuty trigger", |r| !r.is_empty()).await;
    let trigger = &bodies(&pd.received_requests().await.unwrap())[0];
    assert_eq!(trigger["routing_key"], "pd-routing-key");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["payload"]["severity"], "error");
    assert!(trigger["dedup_key"]
        .as_str()
        .unwrap()
        .starts_with("warroom-INC-1-e1-s0-"));
    let events = h.incident_events(1).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::AlertReceived(_)))
            .count(),
        1
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::SopPosted { suggest, .. } if suggest == &["/failover dns"])));
    // Acknowledged in chat: PagerDuty hears it with the same dedup key.
    let outcome = h.say("ack-1", "bsparrow", "/ack").await;
    assert!(outcome.reply.unwrap().contains("acknowledged INC-1"));
    wait_for(&pd, "the PagerDuty acknowledge", |r| r.len() >= 2).await;
    let ack = &bodies(&pd.received_requests().await.unwrap())[1];
    assert_eq!(ack["event_action"], "acknowledge");
    assert_eq!(ack["dedup_key"], trigger["dedup_key"]);
    // Nothing more fires, however late it gets.
    let later = h
        .warroom
        .fire_due_pages(Utc::now() + Duration::hours(2))
        .await
        .unwrap();
    assert!(later.is_empty());
    // The same alert resolving is a state change and is noted in the incident.
    let (_, report) = h
        .post_am(&am_body("resolved", "2030-01-01T00:00:00Z", &["dns1"]))
        .await;
    assert_eq!(report["joined"], json!(["INC-1"]));
    let document = warroom::domain::postmortem::render_markdown(
        &h.warroom.postmortem(IncidentNumber(1)).await.unwrap(),
    );
    assert!(document.contains("paged !Networking"), "{document}");
    assert!(
        document.contains("Bob Sparrow (@bsparrow) acknowledged the page"),
        "{document}"
    );
    assert!(
        document.contains("Alert DNSNotAnswering resolved"),
        "{document}"
    );
    h.stop().await;
}

#[tokio::test]
async fn an_alert_storm_and_flapping_make_one_incident() {
    let (_dir, url) = common::fresh_sqlite_url();
    let (pd, hook) = pagers().await;
    accept_all(&pd).await;
    let h = Arc::new(Harness::start(&url, &config(&pd.uri(), &hook.uri(), "")).await);
    // 200 distinct alerts of one group, in 20 concurrent requests of 10.
    let mut posts = Vec::new();
    for r in 0..20 {
        let h = h.clone();
        posts.push(tokio::spawn(async move {
            let names: Vec<String> = (0..10).map(|i| format!("dns-{r}-{i}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            h.post_am(&am_body("firing", "2030-01-01T00:00:00Z", &refs))
                .await
        }));
    }
    for p in posts {
        assert_eq!(p.await.unwrap().0, 200);
    }
    let incidents = h.warroom.incidents().await.unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let alerts = h
        .incident_events(1)
        .await
        .into_iter()
        .filter(|e| matches!(e, Event::AlertReceived(_)))
        .count();
    assert_eq!(alerts, 200);
    // Resolved, then the alert flaps back within the window: it joins INC-1 again.
    h.say("resolve", "rpark", "/incident resolve").await;
    let (_, report) = h
        .post_am(&am_body("firing", "2030-01-01T01:00:00Z", &["dns-0-0"]))
        .await;
    assert_eq!(report["joined"], json!(["INC-1"]), "{report}");
    assert_eq!(h.warroom.incidents().await.unwrap().len(), 1);
    let h = Arc::into_inner(h).expect("all posts finished");
    h.stop().await;
}

/// Two instances on one store receive the same alert at once: one incident.
async fn same_alert_to_two_instances(url: &str) {
    let (pd, hook) = pagers().await;
    accept_all(&pd).await;
    let text = config(&pd.uri(), &hook.uri(), "");
    let a = Harness::start(url, &text).await;
    let b = Harness::start(url, &text).await;
    for round in 0..5 {
        let body = am_body(
            "firing",
            &format!("2030-01-0{}T00:00:00Z", round + 1),
            &[&format!("dns{round}")],
        );
        let (ra, rb) = tokio::join!(a.post_am(&body), b.post_am(&body));
        assert_eq!((ra.0, rb.0), (200, 200));
    }
    let incidents = a.warroom.incidents().await.unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let alerts = a
        .incident_events(1)
        .await
        .into_iter()
        .filter(|e| matches!(e, Event::AlertReceived(_)))
        .count();
    assert_eq!(alerts, 5);
    // The first step fired once, though both schedulers saw it due.
    wait_for(&pd, "the page", |r| !r.is_empty()).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pages = a
        .incident_events(1)
        .await
        .into_iter()
        .filter(|e| matches!(e, Event::PageRequested { .. }))
        .count();
    assert_eq!(pages, 1);
    let sent = bodies(&pd.received_requests().await.unwrap());
    assert_eq!(sent.len(), 1, "{sent:#?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn two_instances_open_one_incident_on_sqlite() {
    let (_dir, url) = common::fresh_sqlite_url();
    same_alert_to_two_instances(&url).await;
}

#[tokio::test]
async fn two_instances_open_one_incident_on_postgresql() {
    let Some(url) = common::fresh_postgres_url().await else {
        return;
    };
    same_alert_to_two_instances(&url).await;
}

#[tokio::test]
async fn failing_pagers_are_retried_then_given_up_and_the_fallback_is_paged() {
    let (_dir, url) = common::fresh_sqlite_url();
    let (pd, hook) = pagers().await;
    // PagerDuty: a 500, then 429 asking for 1 s, then accepted.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&pd)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&pd)
        .await;
    accept_all(&pd).await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(body_partial_json(json!({"target": "!SRE"})))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let h = Harness::start(&url, &config(&pd.uri(), &hook.uri(), "")).await;
    let started = std::time::Instant::now();
    h.post_am(&am_body("firing", "2030-01-01T00:00:00Z", &["dns1"]))
        .await;
    wait_for(&pd, "three attempts", |r| r.len() >= 3).await;
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1000),
        "Retry-After was not honoured"
    );
    let attempts = |events: &[Event]| -> Vec<(u32, AttemptOutcome, Option<u16>)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::PageAttempted {
                    attempt,
                    outcome,
                    status,
                    ..
                } => Some((*attempt, *outcome, *status)),
                _ => None,
            })
            .collect()
    };
    for _ in 0..100 {
        if attempts(&h.incident_events(1).await).len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        attempts(&h.incident_events(1).await),
        vec![
            (1, AttemptOutcome::Failed, Some(500)),
            (2, AttemptOutcome::Failed, Some(429)),
            (3, AttemptOutcome::Delivered, Some(202)),
        ]
    );
    // On demand: the DBA team's webhook answers 400, which is not retried; the fallback
    // (!SRE, through the same webhook) is paged and the timeline says who was not reached.
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"target": "!Database Admin"})))
        .respond_with(ResponseTemplate::new(400).set_body_string("unknown team"))
        .mount(&hook)
        .await;
    let outcome = h
        .say(
            "page-dba",
            "rpark",
            "/incident page team:dba message:\"is the zone DB up?\"",
        )
        .await;
    assert!(
        outcome
            .reply
            .as_deref()
            .unwrap()
            .contains("Paging !Database Admin"),
        "{outcome:?}"
    );
    wait_for(&hook, "the fallback page", |r| {
        bodies(r).iter().any(|b| b["target"] == "!SRE")
    })
    .await;
    let hook_bodies = bodies(&hook.received_requests().await.unwrap());
    assert_eq!(
        hook_bodies
            .iter()
            .filter(|b| b["target"] == "!Database Admin")
            .count(),
        1,
        "a 400 was retried"
    );
    assert_eq!(hook_bodies[0]["message"], "is the zone DB up?");
    let document = warroom::domain::postmortem::render_markdown(
        &h.warroom.postmortem(IncidentNumber(1)).await.unwrap(),
    );
    assert!(
        document.contains("paged !Database Admin (paged by rpark): is the zone DB up?"),
        "{document}"
    );
    assert!(
        document.contains("could not reach !Database Admin through sre-webhook: refused: HTTP 400"),
        "{document}"
    );
    assert!(
        document.contains("paged !SRE (fallback: !Database Admin could not be reached"),
        "{document}"
    );
    assert!(!document.contains("pd-routing-key") && !document.contains("hook-key"));
    h.stop().await;
}

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(minutes)
}

#[tokio::test]
async fn escalation_steps_fire_on_time_and_resume_after_a_restart() {
    let (_dir, url) = common::fresh_sqlite_url();
    let text = config("http://127.0.0.1:9/", "http://127.0.0.1:9/", "");
    let start = |url: String, text: String| async move {
        Warroom::start(Ledger::open(&url).await.unwrap(), settings(&text))
            .await
            .unwrap()
    };
    let warroom = start(url.clone(), text.clone()).await;
    let alert = warroom::app::alerts::read_alerts(
        "alertmanager",
        &am_body("firing", "2030-01-01T00:00:00Z", &["dns1"]),
        "ops",
    )
    .unwrap();
    let report = warroom.ingest_alerts(t(0), &alert).await.unwrap();
    assert_eq!(report.opened, vec![IncidentNumber(1)]);
    let fired = warroom.fire_due_pages(t(0)).await.unwrap();
    assert_eq!(
        fired.iter().map(|p| p.target.as_str()).collect::<Vec<_>>(),
        ["!Networking"]
    );
    assert!(warroom.fire_due_pages(t(4)).await.unwrap().is_empty());
    assert_eq!(warroom.next_page_due().await.unwrap(), Some(t(5)));
    warroom.ledger().clone().close().await;
    drop(warroom);
    // Restarted while nobody acknowledged: the pending step is still due at 00:05.
    let warroom = start(url.clone(), text.clone()).await;
    assert!(warroom.fire_due_pages(t(4)).await.unwrap().is_empty());
    let fired = warroom.fire_due_pages(t(5)).await.unwrap();
    assert_eq!(
        fired.iter().map(|p| p.target.as_str()).collect::<Vec<_>>(),
        ["@rpark"]
    );
    // Down from 00:06 to 00:40: the second pass's steps were missed and fire in order.
    let fired = warroom.fire_due_pages(t(40)).await.unwrap();
    assert_eq!(
        fired.iter().map(|p| p.target.as_str()).collect::<Vec<_>>(),
        ["!Networking", "@rpark"]
    );
    assert_eq!(
        warroom.next_page_due().await.unwrap(),
        None,
        "repeat = 1: two passes only"
    );
    warroom.ledger().clone().close().await;
}

#[tokio::test]
async fn a_page_recorded_before_a_crash_is_delivered_after_the_restart() {
    let (_dir, url) = common::fresh_sqlite_url();
    let (pd, hook) = pagers().await;
    accept_all(&pd).await;
    let text = config(&pd.uri(), &hook.uri(), "");
    // The step fires and is recorded, then the process dies before delivering it (no
    // delivery worker runs here).
    let before = Warroom::start(Ledger::open(&url).await.unwrap(), settings(&text))
        .await
        .unwrap();
    let now = Utc::now();
    let body = am_body("firing", &now.to_rfc3339(), &["dns1"]);
    let alerts = warroom::app::alerts::read_alerts("alertmanager", &body, "ops").unwrap();
    before.ingest_alerts(now, &alerts).await.unwrap();
    let recorded = before.fire_due_pages(now).await.unwrap();
    assert_eq!(recorded.len(), 1);
    before.ledger().clone().close().await;
    drop(before);
    assert!(pd.received_requests().await.unwrap().is_empty());
    // Restarted: the worker finds the unfinished page and delivers it, once.
    let h = Harness::start(&url, &text).await;
    wait_for(&pd, "the resumed page", |r| !r.is_empty()).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let sent = bodies(&pd.received_requests().await.unwrap());
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["dedup_key"], recorded[0].dedup_key.as_str());
    h.stop().await;
    // Once delivered, a second restart sends nothing more.
    let h = Harness::start(&url, &text).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(pd.received_requests().await.unwrap().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn concurrent_alerts_of_distinct_groups_open_gapless_incidents_at_once() {
    let (_dir, url) = common::fresh_sqlite_url();
    let (pd, hook) = pagers().await;
    let extra = r#"
[[routes]]
name = "per-host"
match = { alertname = "HostDown" }
severity = "sev2"
auto_open = true
group_by = ["instance"]
"#;
    let h = Arc::new(Harness::start(&url, &config(&pd.uri(), &hook.uri(), extra)).await);
    // 40 requests at once, each with two alerts of one new host, plus a storm of repeats.
    let mut posts = Vec::new();
    for i in 0..40 {
        let h = h.clone();
        posts.push(tokio::spawn(async move {
            let alert = |fp: &str| {
                json!({"status": "firing", "labels": {"alertname": "HostDown", "instance": format!("host-{i}")},
                       "startsAt": "2030-01-01T00:00:00Z", "fingerprint": fp})
            };
            let body = json!({"alerts": [alert(&format!("a{i}")), alert(&format!("b{i}"))]});
            h.post_am(&body).await
        }));
    }
    for p in posts {
        let (status, report) = p.await.unwrap();
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["recorded"], 2, "{report}");
    }
    let incidents = h.warroom.incidents().await.unwrap();
    let numbers: Vec<u64> = incidents.iter().map(|i| i.number.0).collect();
    assert_eq!(
        numbers,
        (1..=40).collect::<Vec<_>>(),
        "gapless, one per host"
    );
    for n in 1..=40 {
        let alerts = h
            .incident_events(n)
            .await
            .into_iter()
            .filter(|e| matches!(e, Event::AlertReceived(_)))
            .count();
        assert_eq!(alerts, 2, "INC-{n} has both alerts of its host");
    }
    let h = Arc::into_inner(h).expect("all posts finished");
    h.stop().await;
}

/// An instance on a shared store under a real lease, as `warroom serve` runs beside others;
/// its pages are taken over 200 ms after they are due.
async fn start_leased(url: &str, text: &str, name: &str, delay_ms: u64) -> (Arc<Warroom>, Running) {
    let lease = warroom::store::Lease::start(
        url,
        warroom::store::LeaseSettings {
            ttl: std::time::Duration::from_secs(2),
            renew: std::time::Duration::from_millis(500),
        },
        name.into(),
    )
    .await
    .unwrap();
    let retry = warroom::notify::RetryPolicy {
        base_delay: std::time::Duration::from_millis(delay_ms),
        max_delay: std::time::Duration::from_millis(delay_ms),
        takeover_grace: std::time::Duration::from_millis(200),
        ..Default::default()
    };
    let app = common::spawn_app(
        url,
        settings(text),
        warroom::serve::Options {
            retry,
            leadership: warroom::serve::Leadership {
                lease,
                gateway: None,
            },
            ..Default::default()
        },
    )
    .await;
    (app.warroom, app.running)
}

async fn wait_until_leader(running: &Running) {
    for _ in 0..100 {
        if running.leader.is_leader() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no lease within 10 s");
}

/// `/incident open` then `/incident page team:net` in a channel of `warroom`: a page to
/// PagerDuty recorded by that instance, outside any escalation.
async fn page_networking(warroom: &Warroom) -> DateTime<Utc> {
    for (id, text) in [
        ("m1", "/incident open title:\"Slow\""),
        ("m2", "/incident page team:net"),
    ] {
        let outcome = warroom
            .handle(chat(id, "rpark", "ops-net", text))
            .await
            .unwrap();
        assert!(outcome.reply.is_some(), "{text}: {outcome:?}");
    }
    let records = warroom.incident_records(IncidentNumber(1)).await.unwrap();
    records
        .iter()
        .find(|r| matches!(r.event, Event::PageRequested { .. }))
        .map(|r| r.at)
        .expect("the page is recorded")
}

fn pd_attempts(records: &[warroom::domain::event::Recorded]) -> Vec<AttemptOutcome> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::PageAttempted {
                pager,
                action,
                outcome,
                ..
            } if pager == "pagerduty-networking" && action == "trigger" => Some(*outcome),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_leader_delivers_a_page_whose_deliverer_died_once_it_could_not_still_be_at_it() {
    let Some(url) = common::fresh_postgres_url().await else {
        return;
    };
    let (pd, hook) = pagers().await;
    accept_all(&pd).await;
    let text = config(&pd.uri(), &hook.uri(), "");
    // An instance records the page and dies before its first attempt (it runs no worker).
    let dead = Warroom::start(Ledger::open(&url).await.unwrap(), settings(&text))
        .await
        .unwrap();
    let recorded_at = page_networking(&dead).await;
    dead.ledger().clone().close().await;
    drop(dead);
    let (leader, running) = start_leased(&url, &text, "survivor", 100).await;
    wait_until_leader(&running).await;
    for _ in 0..150 {
        if !pd.received_requests().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let delivered_at = Utc::now();
    let sent = bodies(&pd.received_requests().await.unwrap());
    assert_eq!(sent.len(), 1, "{sent:?}");
    // Not before a live deliverer's first attempt would have ended: timeout 2 s + 200 ms.
    assert!(
        delivered_at - recorded_at >= Duration::milliseconds(2200),
        "taken over after {} ms",
        (delivered_at - recorded_at).num_milliseconds()
    );
    // Once, though the sweep goes on.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(pd.received_requests().await.unwrap().len(), 1);
    let records = leader.incident_records(IncidentNumber(1)).await.unwrap();
    assert_eq!(pd_attempts(&records), vec![AttemptOutcome::Delivered]);
    running.stop().await;
    leader.ledger().clone().close().await;
}

#[tokio::test]
async fn the_leader_leaves_alone_a_page_a_live_instance_is_still_retrying() {
    let Some(url) = common::fresh_postgres_url().await else {
        return;
    };
    let (pd, hook) = pagers().await;
    // PagerDuty fails twice, then accepts: the follower waits 1.5-3 s before each retry,
    // longer than a never-tried page may stay silent (timeout 1 s + 200 ms), shorter than
    // a page may after a failure (3 s + 1 s + 200 ms).
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .mount(&pd)
        .await;
    accept_all(&pd).await;
    let text = config(&pd.uri(), &hook.uri(), "").replacen(
        "timeout_seconds = 2\nmax_attempts = 3",
        "timeout_seconds = 1\nmax_attempts = 3",
        1,
    );
    assert!(text.contains("timeout_seconds = 1"));
    let (leader, leading) = start_leased(&url, &text, "leader", 3000).await;
    wait_until_leader(&leading).await;
    let (follower, following) = start_leased(&url, &text, "follower", 3000).await;
    assert!(!following.leader.is_leader());
    page_networking(&follower).await;
    for _ in 0..200 {
        if pd.received_requests().await.unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Long enough for a retry of anyone who took the page up (3 s at most).
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    // The follower's three attempts, and nothing from the leader's sweep.
    let sent = bodies(&pd.received_requests().await.unwrap());
    assert_eq!(sent.len(), 3, "{sent:#?}");
    let records = leader.incident_records(IncidentNumber(1)).await.unwrap();
    assert_eq!(
        pd_attempts(&records),
        vec![
            AttemptOutcome::Failed,
            AttemptOutcome::Failed,
            AttemptOutcome::Delivered
        ]
    );
    following.stop().await;
    leading.stop().await;
    follower.ledger().clone().close().await;
    leader.ledger().clone().close().await;
}
