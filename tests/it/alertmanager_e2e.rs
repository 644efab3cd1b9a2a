//! A real Prometheus Alertmanager, on loopback, with a webhook receiver pointing at warroom:
//! an alert posted to Alertmanager opens an incident and pages a wiremock PagerDuty.
//!
//! Runs the binary named by `WARROOM_TEST_ALERTMANAGER` (CI installs Debian's
//! `prometheus-alertmanager` and sets it; then a failure to run fails the test), else
//! `/usr/bin/prometheus-alertmanager` or `alertmanager` when present, else skips.

use crate::common;

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use warroom::config::Settings;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "e2e-alertmanager-token";

fn alertmanager_binary() -> Option<String> {
    if let Ok(path) = std::env::var("WARROOM_TEST_ALERTMANAGER") {
        return Some(path);
    }
    [
        "/usr/bin/prometheus-alertmanager",
        "/usr/local/bin/alertmanager",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .map(String::from)
}

/// Kills Alertmanager when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn an_alert_posted_to_alertmanager_opens_an_incident_and_pages() {
    let Some(binary) = alertmanager_binary() else {
        eprintln!("skipped: no Alertmanager binary; set WARROOM_TEST_ALERTMANAGER or install prometheus-alertmanager");
        return;
    };
    let pagerduty = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"status": "success"})))
        .mount(&pagerduty)
        .await;
    let config = format!(
        r#"
[alerts.sources.alertmanager]
auth = "bearer"
secret_env = "E2E_TOKEN"
{dns_route}[[escalations]]
name = "networking"
steps = [{{ targets = ["!Networking"], wait_minutes = 5 }}]
[[pagers]]
name = "pagerduty"
kind = "pagerduty"
url = "{}"
secret_env = "E2E_PD"
targets = ["!Networking"]
{people}
"#,
        pagerduty.uri(),
        dns_route = common::DNS_ROUTE,
        people = common::PEOPLE,
    );
    let settings = Settings::check(
        &config,
        "e2e.toml",
        |k| match k {
            "E2E_TOKEN" => Some(TOKEN.to_string()),
            "E2E_PD" => Some("e2e-routing-key".to_string()),
            _ => None,
        },
        |_| Ok(String::new()),
    )
    .unwrap();
    let (_dir, url) = common::fresh_sqlite_url();
    let common::TestApp {
        warroom, running, ..
    } = common::spawn_app(&url, settings, Default::default()).await;

    let work = tempfile::tempdir().unwrap();
    let am_config = work.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            r#"
route:
  receiver: warroom
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: warroom
    webhook_configs:
      - url: http://{}/v1/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {TOKEN}
"#,
            running.addr
        ),
    )
    .unwrap();
    let am_port = free_port();
    let child = Command::new(&binary)
        .arg(format!("--config.file={}", am_config.display()))
        .arg(format!(
            "--storage.path={}",
            work.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let _alertmanager = Killed(child);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{am_port}");
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{base}/-/ready")).send().await {
            if r.status().is_success() {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "Alertmanager at {base} never became ready");

    let now = chrono::Utc::now();
    let response = client
        .post(format!("{base}/api/v2/alerts"))
        .json(&json!([{
            "labels": {"alertname": "DNSNotAnswering", "instance": "dns1", "severity": "critical"},
            "annotations": {"summary": "dns1 does not answer DNS queries"},
            "startsAt": now.to_rfc3339(),
            "generatorURL": "http://prometheus.example/graph"
        }]))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());

    // Alertmanager waits group_wait, then delivers; warroom opens INC-1 and pages.
    let mut paged: Vec<Value> = vec![];
    for _ in 0..150 {
        paged = pagerduty
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        if !paged.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(paged.len(), 1, "PagerDuty was not paged once: {paged:?}");
    assert_eq!(paged[0]["routing_key"], "e2e-routing-key");
    assert_eq!(paged[0]["event_action"], "trigger");
    let incidents = warroom.incidents().await.unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].title, "DNS server not answering requests");
    let records = warroom.incident_records(incidents[0].number).await.unwrap();
    let alert = records
        .iter()
        .find_map(|r| match &r.event {
            warroom::domain::event::Event::AlertReceived(a) => Some(a.clone()),
            _ => None,
        })
        .expect("the alert is in the incident");
    assert_eq!(alert.labels["instance"], "dns1");
    assert!(
        !alert.fingerprint.is_empty(),
        "Alertmanager's fingerprint is kept"
    );
    running.stop().await;
    warroom.ledger().clone().close().await;
}
