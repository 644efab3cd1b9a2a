//! `warroom serve` seen from outside, as a child process: the address it logs, the probes,
//! the metrics and their token, request ids in responses and logs, the schema newer than
//! the binary refused, and — through a full run with Discord, PagerDuty, a webhook pager,
//! the console and agents, logged at debug level — no secret ever in the logs.

use crate::common;
use crate::serve_child;
use crate::support;

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;
use support::fake_discord::FakeDiscord;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A migration row no build of warroom has: what a newer release leaves behind.
const FUTURE_MIGRATION: &str = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99991231000000, 'from a newer warroom', TRUE, X'00', 0)";

#[tokio::test]
async fn probes_metrics_and_request_ids() {
    let (dir, db) = common::fresh_sqlite_url();
    let config = dir.path().join("warroom.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[http]
metrics_token_sha256 = "{}"
[alerts.sources.alertmanager]
auth = "bearer"
secret_env = "OBS_AM_TOKEN"
"#,
            sha256_hex("scrape-token")
        ),
    )
    .unwrap();
    let mut server = serve_child::spawn(
        &db,
        &["--config", config.to_str().unwrap()],
        &[("OBS_AM_TOKEN", "am-token")],
        &dir.path().join("serve.log"),
    );
    let http = client();
    assert_eq!(
        http.get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["ready"], true);

    // Two alerts, then a refused one under a request id of our own.
    let body = serve_child::alertmanager_body("ObsTest", &["f1".into(), "f2".into()]);
    let sent = http
        .post(server.url("/v1/alerts/alertmanager"))
        .bearer_auth("am-token")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    assert!(sent.headers().contains_key("x-request-id"));
    let refused = http
        .post(server.url("/v1/alerts/alertmanager"))
        .bearer_auth("wrong")
        .header("x-request-id", "obs-req-42")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["x-request-id"], "obs-req-42");

    // Metrics: the token is asked for, the exposition has every name of the issue (pages
    // and jobs appear with their first labels; the full run below sees a page).
    let anonymous = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let scraped = http
        .get(server.url("/metrics"))
        .bearer_auth("scrape-token")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = scraped.text().await.unwrap();
    for name in [
        "warroom_events_appended_total ",
        "warroom_append_seconds_bucket",
        "warroom_group_commit_batch_size_bucket",
        "warroom_alerts_received_total{source=\"alertmanager\",status=\"firing\"} 2",
        "warroom_incidents_open 0",
        "warroom_agents_connected 0",
        "warroom_discord_gateway_connected 0",
        "warroom_leader 1",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }

    // A schema migrated by a newer warroom under a running server: not ready, and why.
    common::raw_sql(&db, &[FUTURE_MIGRATION]).await;
    let unready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(unready.status(), 503);
    let why: Value = unready.json().await.unwrap();
    assert_eq!(why["ready"], false);
    assert_eq!(why["failed"][0]["check"], "migrations", "{why}");
    assert!(why["failed"][0]["error"]
        .as_str()
        .unwrap()
        .contains("newer warroom"));

    let status = server.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status}");
    // The refusal was logged inside the request's span, with its id.
    let log = server.log_text();
    let refusal = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("refused POST /v1/alerts/{source}: 401"))
        })
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert_eq!(refusal["span"]["id"], "obs-req-42", "{refusal}");
    assert_eq!(refusal["span"]["path"], "/v1/alerts/alertmanager");
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused_at_start() {
    let (dir, db) = common::fresh_sqlite_url();
    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["--db", &db, "migrate"])
        .output()
        .unwrap();
    assert!(migrate.status.success());
    common::raw_sql(&db, &[FUTURE_MIGRATION]).await;
    let serve = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["--db", &db, "serve", "--listen", "127.0.0.1:0"])
        .env_remove("WARROOM_CONFIG")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert_eq!(serve.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the schema is newer than this warroom")
            && stderr.contains("99991231000000")
            && stderr.contains("upgrade warroom"),
        "{stderr}"
    );
    assert!(!stderr.contains("serving alerts"), "{stderr}");
}

// Canaries: each secret is unique text that must never reach a log line.
const DISCORD_TOKEN: &str = "canary-discord-token-7f3a";
const PAGERDUTY_KEY: &str = "canary-pagerduty-key-91c2";
const WEBHOOK_SECRET: &str = "canary-webhook-secret-44d0";
const ALERT_TOKEN: &str = "canary-alert-token-b81e";
const GRAFANA_SECRET: &str = "canary-grafana-secret-0c6f";
const CONSOLE_TOKEN: &str = "canary-console-token-5ae9";
const AGENT_TOKEN: &str = "canary-agent-token-d27b";
const METRICS_TOKEN: &str = "canary-metrics-token-3e18";
const WRONG_TOKEN: &str = "canary-wrong-token-a5f4";
const GUILD: u64 = 555_000_000_000_000_001;

/// `warroom serve` on `config`, its bot on the fake Discord, its log beside the config.
fn serve_with_discord(
    fake: &FakeDiscord,
    db: &str,
    config: &std::path::Path,
    envs: &[(&str, &str)],
) -> serve_child::ServeChild {
    let guild = GUILD.to_string();
    let api_url = fake.api_url();
    let mut all = vec![
        ("WARROOM_DISCORD_TOKEN", DISCORD_TOKEN),
        ("WARROOM_DISCORD_GUILD_ID", guild.as_str()),
        ("WARROOM_DISCORD_API_URL", api_url.as_str()),
    ];
    all.extend_from_slice(envs);
    serve_child::spawn(
        db,
        &["--config", config.to_str().unwrap()],
        &all,
        &config.with_file_name("serve.log"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_of_a_full_run() {
    let fake = FakeDiscord::start(777_000_000_000_000_001, GUILD, 888_000_000_000_000_001).await;
    fake.add_channel(999_000_000_000_000_001, "ops", 0, None);
    let pagers = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(202).set_body_string("{\"status\":\"success\"}"))
        .mount(&pagers)
        .await;
    let (dir, db) = common::fresh_sqlite_url();
    let config = dir.path().join("warroom.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[http]
console_token_sha256 = "{console}"
metrics_token_sha256 = "{metrics}"
shutdown_grace_seconds = 10
[alerts]
channel = "ops"
[alerts.sources.alertmanager]
auth = "bearer"
secret_env = "OBS_ALERT_TOKEN"
[alerts.sources.grafana]
auth = "hmac"
secret_env = "OBS_GRAFANA_SECRET"
signature_header = "X-Grafana-Alerting-Signature"
[[routes]]
name = "canary"
match = {{ alertname = "Canary" }}
title = "Canary outage"
severity = "sev1"
auto_open = true
escalation = "page-now"
[[escalations]]
name = "page-now"
steps = [{{ targets = ["!Ops"], wait_minutes = 60 }}]
[[pagers]]
name = "pd"
kind = "pagerduty"
url = "{pagers}/v2/enqueue"
secret_env = "OBS_PAGERDUTY_KEY"
targets = ["!Ops"]
[[pagers]]
name = "hook"
kind = "webhook"
url = "{pagers}/hook"
secret_env = "OBS_WEBHOOK_SECRET"
targets = ["!Ops"]
[[agents]]
name = "dns-1"
token_sha256 = "{agent}"
{people}
"#,
            people = common::PEOPLE,
            console = sha256_hex(CONSOLE_TOKEN),
            metrics = sha256_hex(METRICS_TOKEN),
            agent = sha256_hex(AGENT_TOKEN),
            pagers = pagers.uri(),
        ),
    )
    .unwrap();
    let mut server = serve_with_discord(
        &fake,
        &db,
        &config,
        &[
            ("RUST_LOG", "debug"),
            ("OBS_ALERT_TOKEN", ALERT_TOKEN),
            ("OBS_GRAFANA_SECRET", GRAFANA_SECRET),
            ("OBS_PAGERDUTY_KEY", PAGERDUTY_KEY),
            ("OBS_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ],
    );
    let http = client();

    // Ready only once the gateway is connected (READY from the fake).
    let mut ready = false;
    for _ in 0..300 {
        let r = http.get(server.url("/readyz")).send().await.unwrap();
        if r.status() == 200 {
            ready = true;
            break;
        }
        let why: Value = r.json().await.unwrap();
        assert_eq!(why["failed"][0]["check"], "discord", "{why}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "never ready:\n{}", server.log_text());

    // Alerts: one that opens an incident and pages both pagers, one with a wrong token,
    // one signed for Grafana.
    let body = serve_child::alertmanager_body("Canary", &["canary-fp".into()]);
    let sent = http
        .post(server.url("/v1/alerts/alertmanager"))
        .bearer_auth(ALERT_TOKEN)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200, "{}", sent.text().await.unwrap());
    let refused = http
        .post(server.url("/v1/alerts/alertmanager"))
        .bearer_auth(WRONG_TOKEN)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let grafana = serve_child::alertmanager_body("GrafanaCanary", &["grafana-fp".into()]);
    let signature = warroom::secret::Secret::new(GRAFANA_SECRET).sign(&grafana);
    let signed = http
        .post(server.url("/v1/alerts/grafana"))
        .header("X-Grafana-Alerting-Signature", signature)
        .body(grafana)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200, "{}", signed.text().await.unwrap());

    // The console, with the right token and a wrong one.
    let lines = r#"{"at": "2030-01-01T00:00:00Z", "from": "rpark", "channel": "ops", "text": "checking the canary"}
{"at": "2030-01-01T00:01:00Z", "from": "rpark", "channel": "ops", "text": "/incident update text:\"looking\" incident:INC-1"}
"#;
    let console = server
        .console(&http, CONSOLE_TOKEN, Some("canary"), lines)
        .await;
    assert_eq!(console.status(), 200, "{}", console.text().await.unwrap());
    let console = http
        .post(server.url("/v1/console"))
        .bearer_auth(WRONG_TOKEN)
        .body(lines)
        .send()
        .await
        .unwrap();
    assert_eq!(console.status(), 401);

    // Agents polling, a known one and an unknown one.
    for token in [AGENT_TOKEN, WRONG_TOKEN] {
        let _ = http
            .post(server.url("/v1/agent/poll"))
            .bearer_auth(token)
            .json(&serde_json::json!({"runbooks": ["failover-dns"], "wait_seconds": 1}))
            .send()
            .await
            .unwrap();
    }

    // Both pagers were paged.
    for _ in 0..200 {
        if pagers.received_requests().await.unwrap_or_default().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paged = pagers.received_requests().await.unwrap_or_default();
    assert!(paged.len() >= 2, "pages sent: {}", paged.len());
    assert!(paged
        .iter()
        .any(|r| String::from_utf8_lossy(&r.body).contains(PAGERDUTY_KEY)));

    let metrics = server.metrics(&http, Some(METRICS_TOKEN)).await;
    for name in [
        "warroom_discord_gateway_connected 1",
        "warroom_incidents_open 1",
        "warroom_agents_connected 1",
        "warroom_pages_total{notifier=\"pd\",outcome=\"delivered\"} 1",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }

    // Closing the incident posts a signed ledger checkpoint in the announcement channel.
    let close = r#"{"at": "2030-01-01T00:02:00Z", "from": "rpark", "channel": "ops", "text": "/incident close incident:INC-1"}"#;
    let closed = server
        .console(&http, CONSOLE_TOKEN, Some("canary-close"), close)
        .await;
    assert_eq!(closed.status(), 200, "{}", closed.text().await.unwrap());
    let mut announced = None;
    for _ in 0..200 {
        announced = fake
            .messages_in(999_000_000_000_000_001)
            .into_iter()
            .find(|m| m.content.starts_with("Ledger checkpoint: "));
        if announced.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let announced =
        announced.unwrap_or_else(|| panic!("no checkpoint in #ops:\n{}", server.log_text()));
    assert!(
        announced.content.contains("signature `"),
        "{}",
        announced.content
    );

    let status = server.terminate(Duration::from_secs(20));
    let log = server.log_text();
    assert!(status.success(), "exit {status}:\n{log}");
    // The run was really logged at debug level, as JSON, with request ids.
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["level"] == "DEBUG"));
    assert!(lines.iter().any(|l| l["span"]["name"] == "request"
        && l["span"]["id"].as_str().is_some_and(|id| id.len() == 36)));
    eprintln!(
        "full run: {} JSON log lines ({} at DEBUG, targets {:?}); checking the canaries",
        lines.len(),
        lines.iter().filter(|l| l["level"] == "DEBUG").count(),
        lines
            .iter()
            .filter_map(|l| l["target"].as_str()?.split("::").next())
            .collect::<std::collections::BTreeSet<_>>()
    );
    for canary in [
        DISCORD_TOKEN,
        PAGERDUTY_KEY,
        WEBHOOK_SECRET,
        ALERT_TOKEN,
        GRAFANA_SECRET,
        CONSOLE_TOKEN,
        AGENT_TOKEN,
        METRICS_TOKEN,
        WRONG_TOKEN,
    ] {
        let leaks: Vec<&str> = log.lines().filter(|l| l.contains(canary)).collect();
        assert!(
            leaks.is_empty(),
            "{canary} is in {} log lines, e.g.:\n{}",
            leaks.len(),
            leaks[0]
        );
    }
}

#[tokio::test]
async fn postgres_schema_state_and_refusal() {
    let Some(url) = common::fresh_postgres_url().await else {
        return;
    };
    let ledger = warroom::store::Ledger::open(&url).await.unwrap();
    assert_eq!(
        ledger.schema_state().await.unwrap(),
        warroom::store::SchemaState::Current
    );
    common::raw_sql(
        &url,
        &["INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99991231000000, 'from a newer warroom', TRUE, '\\x00', 0)"],
    )
    .await;
    assert_eq!(
        ledger.schema_state().await.unwrap(),
        warroom::store::SchemaState::Newer(vec![99991231000000])
    );
    ledger.close().await;
    let refused = warroom::store::Ledger::open(&url)
        .await
        .err()
        .expect("a newer schema is refused")
        .to_string();
    assert!(
        refused.contains("the schema is newer than this warroom") && refused.contains("upgrade"),
        "{refused}"
    );
}

/// The JSON log lines whose message matches, from a run's log.
fn logged(lines: &[Value], matches: impl Fn(&Value) -> bool) -> Vec<&Value> {
    lines.iter().filter(|l| matches(l)).collect()
}

fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_reads_each_fact_of_a_run_once_in_the_log() {
    let fake = FakeDiscord::start(777_000_000_000_000_002, GUILD, 888_000_000_000_000_002).await;
    fake.add_channel(999_000_000_000_000_002, "ops", 0, None);
    // The webhook pager fails the first page, then takes it.
    let pagers = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream down"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&pagers)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&pagers)
        .await;
    let (dir, db) = common::fresh_sqlite_url();
    let config = dir.path().join("warroom.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[alerts]
channel = "ops"
[alerts.sources.alertmanager]
auth = "bearer"
secret_env = "OPS_ALERT_TOKEN"
[[routes]]
name = "canary"
match = {{ alertname = "Canary" }}
title = "Canary outage"
severity = "sev1"
auto_open = true
escalation = "page-now"
[[escalations]]
name = "page-now"
steps = [{{ targets = ["!Ops"], wait_minutes = 60 }}]
[[pagers]]
name = "hook"
kind = "webhook"
url = "{pagers}/hook"
targets = ["!Ops"]
{people}
"#,
            people = common::PEOPLE,
            pagers = pagers.uri(),
        ),
    )
    .unwrap();
    let mut server = serve_with_discord(&fake, &db, &config, &[("OPS_ALERT_TOKEN", ALERT_TOKEN)]);
    let http = client();
    let ready = |http: reqwest::Client, url: String| async move {
        for _ in 0..400 {
            if http.get(&url).send().await.unwrap().status() == 200 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(
        ready(http.clone(), server.url("/readyz")).await,
        "never ready:\n{}",
        server.log_text()
    );

    // An alert that opens INC-1, whose page fails once and then goes through.
    let opened =
        serve_child::post_alertmanager(&http, &server.url(""), ALERT_TOKEN, "Canary", 1).await;
    assert_eq!(opened, 200);
    // A request refused: Alertmanager with a stale token.
    let refused =
        serve_child::post_alertmanager(&http, &server.url(""), WRONG_TOKEN, "Canary", 2).await;
    assert_eq!(refused, 401);
    for _ in 0..200 {
        if pagers.received_requests().await.unwrap_or_default().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pagers.received_requests().await.unwrap().len(), 2);

    // A Discord outage: the gateway cut and refused for 3 s, probed all along.
    fake.cut_and_refuse(Duration::from_secs(3));
    let mut failed_probes = 0;
    for _ in 0..30 {
        if http
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == 503
        {
            failed_probes += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        failed_probes >= 10,
        "only {failed_probes} probes saw the outage"
    );
    assert!(
        ready(http.clone(), server.url("/readyz")).await,
        "not ready after the outage:\n{}",
        server.log_text()
    );

    let status = server.terminate(Duration::from_secs(20));
    let log = server.log_text();
    assert!(status.success(), "exit {status}:\n{log}");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let once = |what: &str, found: Vec<&Value>| {
        assert_eq!(found.len(), 1, "{what}: {found:#?}\n{log}");
        found[0].clone()
    };

    let opened = once(
        "the alert opening the incident",
        logged(&lines, |l| message(l).contains("opened INC-1")),
    );
    assert_eq!(opened["fields"]["incident"], "INC-1");
    assert_eq!(opened["fields"]["route"], "canary");
    assert_eq!(opened["fields"]["escalation"], "page-now");
    assert_eq!(opened["level"], "INFO");

    let paging = once(
        "the page handed to its pager",
        logged(&lines, |l| message(l).starts_with("paging !Ops for INC-1")),
    );
    assert_eq!(paging["fields"]["pagers"], "hook");
    let attempt = |n: u64, outcome: &str| {
        logged(&lines, |l| {
            l["fields"]["pager"] == "hook"
                && l["fields"]["attempt"] == n
                && l["fields"]["outcome"] == outcome
        })
    };
    let failed = once("the failed first attempt", attempt(1, "failed"));
    assert_eq!(failed["level"], "WARN");
    assert_eq!(failed["fields"]["incident"], "INC-1");
    assert!(message(&failed).contains("trying again in"), "{failed}");
    let delivered = once("the delivered second attempt", attempt(2, "delivered"));
    assert_eq!(delivered["level"], "INFO");
    assert!(attempt(2, "failed").is_empty() && attempt(1, "delivered").is_empty());

    let refusal = once(
        "the refused request",
        logged(&lines, |l| message(l).starts_with("refused ")),
    );
    assert_eq!(refusal["fields"]["status"], 401);
    assert_eq!(refusal["fields"]["door"], "/v1/alerts/{source}");
    assert_eq!(refusal["span"]["path"], "/v1/alerts/alertmanager");
    assert!(message(&refusal).contains("token"), "{refusal}");

    once(
        "the gateway lost",
        logged(&lines, |l| message(l).starts_with("Discord gateway lost")),
    );
    once(
        "the gateway back",
        logged(&lines, |l| {
            message(l).starts_with("Discord gateway connected again")
        }),
    );
    // Readiness is logged when it changes, not at every failed probe.
    let unready = logged(&lines, |l| message(l).starts_with("not ready"));
    assert!(
        !unready.is_empty() && unready.len() <= 2,
        "{failed_probes} failed probes logged {} times",
        unready.len()
    );
    for raw in ["Tungstenite(", "Io(Custom", "response failed"] {
        assert!(!log.contains(raw), "{raw} in the log:\n{log}");
    }
    assert!(
        logged(&lines, |l| l["level"] == "ERROR").is_empty(),
        "nothing here is an error:\n{log}"
    );
}

#[test]
fn serve_without_configuration_says_what_it_lacks_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let mut server = serve_child::spawn(&db, &[], &[], &dir.path().join("serve.log"));
    let status = server.terminate(Duration::from_secs(20));
    let log = server.log_text();
    assert!(status.success(), "exit {status}:\n{log}");
    let warnings: Vec<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["level"] == "WARN")
        .map(|l| message(&l).to_string())
        .collect();
    for said in [
        "no configuration file",
        "no alert source is set up",
        "no pager is set up",
    ] {
        assert_eq!(
            warnings.iter().filter(|w| w.starts_with(said)).count(),
            1,
            "{said}: {warnings:#?}"
        );
    }
}
