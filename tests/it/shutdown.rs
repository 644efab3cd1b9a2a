//! Stopping `warroom serve` under load: SIGTERM while alerts arrive over several
//! connections; the server finishes what it answered, exits 0 within its grace period, and
//! every alert it answered 2xx is in the ledger afterwards. SIGKILL in the same load loses
//! no answered alert either: each was durable before its answer.

use crate::common;
use crate::serve_child;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warroom::domain::event::Event;
use warroom::store::Ledger;

const TOKEN: &str = "shutdown-test-token";
const CONNECTIONS: usize = 8;

/// How the test stops the server in the middle of its load.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// SIGTERM: it must finish what it answered and exit 0 within its grace period.
    Term,
    /// SIGKILL: no goodbye at all; SQLite's WAL holds every answered commit.
    Kill,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_answered_alert() {
    stopped_under_load_loses_no_answered_alert(Stop::Term).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_answered_alert() {
    stopped_under_load_loses_no_answered_alert(Stop::Kill).await;
}

async fn stopped_under_load_loses_no_answered_alert(stop: Stop) {
    let (dir, db) = common::fresh_sqlite_url();
    let config = dir.path().join("warroom.toml");
    std::fs::write(
        &config,
        r#"
[http]
shutdown_grace_seconds = 10
[alerts.sources.alertmanager]
auth = "bearer"
secret_env = "SHUTDOWN_TEST_TOKEN"
"#,
    )
    .unwrap();
    let mut server = serve_child::spawn(
        &db,
        &["--config", config.to_str().unwrap()],
        &[("SHUTDOWN_TEST_TOKEN", TOKEN)],
        &dir.path().join("serve.log"),
    );
    let url = server.url("/v1/alerts/alertmanager");
    let answered: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let refused = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for connection in 0..CONNECTIONS {
        let (url, answered, refused) = (url.clone(), answered.clone(), refused.clone());
        senders.push(tokio::spawn(async move {
            // One client per sender: its own keep-alive connection.
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            for n in 0.. {
                // Two alerts per request, distinct everywhere.
                let fingerprints = vec![
                    format!("c{connection}-n{n}-a"),
                    format!("c{connection}-n{n}-b"),
                ];
                let sent = client
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body(serve_child::alertmanager_body(
                        "ShutdownLoad",
                        &fingerprints,
                    ))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => {
                        answered.lock().unwrap().extend(fingerprints);
                    }
                    Ok(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    // The server stopped listening: this sender is done.
                    Err(_) => return,
                }
                if n > 100_000 {
                    return;
                }
            }
        }));
    }
    // Let the load build up, then signal in the middle of it.
    let started = std::time::Instant::now();
    while answered.lock().unwrap().len() < 400 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before_signal = answered.lock().unwrap().len();
    let status = tokio::task::spawn_blocking(move || {
        let status = match stop {
            Stop::Term => server.terminate(Duration::from_secs(15)),
            Stop::Kill => server.kill(),
        };
        (status, server.log_text())
    })
    .await
    .unwrap();
    let (status, log) = status;
    if let Stop::Term = stop {
        assert!(status.success(), "exit {status}, log:\n{log}");
        assert!(log.contains("stopped cleanly"), "log:\n{log}");
    }
    for sender in senders {
        tokio::time::timeout(Duration::from_secs(30), sender)
            .await
            .expect("senders end once the server is gone")
            .unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(
        before_signal >= 400,
        "the load never built up: {before_signal}"
    );

    // Reopen the store as the next start would: every answered alert is there, the chain
    // intact.
    let ledger = Ledger::open(&db).await.unwrap();
    let mut stored = BTreeSet::new();
    let mut after = 0;
    loop {
        let batch = ledger.read_all(after, 10_000).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.position;
        for event in batch {
            let payload = event.payload_json().unwrap();
            if let Ok(Event::AlertReceived(alert)) = Event::from_parts(&event.event_type, payload) {
                stored.insert(alert.fingerprint);
            }
        }
    }
    let missing: Vec<_> = answered.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered alerts are not in the ledger, e.g. {:?}",
        missing.len(),
        answered.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    let report = ledger.verify().await.unwrap();
    assert!(report.problem.is_none(), "{report}");
    eprintln!(
        "{stop:?} under load: {} alerts answered 2xx ({} before the signal), all in the ledger; {} requests refused",
        answered.len(),
        before_signal,
        refused.load(Ordering::Relaxed)
    );
    ledger.close().await;
}

/// A TCP port that accepts connections and never says a word: a Discord that hangs.
fn silent_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in listener.incoming() {
            held.push(socket);
        }
    });
    port
}

/// A port nothing listens on: a Discord that refuses.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A REST API that sends the gateway to `ws_url`.
async fn rest_pointing_at(ws_url: String) -> wiremock::MockServer {
    use wiremock::matchers::{method, path_regex};
    let rest = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("GET"))
        .and(path_regex("^/api/v10/gateway"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "url": ws_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1
                }
            })),
        )
        .mount(&rest)
        .await;
    rest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_discord_unreachable_stops_within_the_grace() {
    const GRACE: Duration = Duration::from_secs(4);
    let hanging_gateway = rest_pointing_at(format!("ws://127.0.0.1:{}", silent_port())).await;
    let refused_gateway = rest_pointing_at(format!("ws://127.0.0.1:{}", closed_port())).await;
    let outages = [
        ("REST hangs", format!("http://127.0.0.1:{}", silent_port())),
        (
            "REST refused",
            format!("http://127.0.0.1:{}", closed_port()),
        ),
        ("gateway hangs", hanging_gateway.uri()),
        ("gateway refused", refused_gateway.uri()),
    ];
    for (outage, api_url) in outages {
        let (dir, db) = common::fresh_sqlite_url();
        let config = dir.path().join("warroom.toml");
        std::fs::write(
            &config,
            format!(
                "[http]\nshutdown_grace_seconds = {}\n[discord]\nguild_id = \"81384788765712384\"\napi_url = \"{api_url}\"\n",
                GRACE.as_secs()
            ),
        )
        .unwrap();
        let mut server = serve_child::spawn(
            &db,
            &["--config", config.to_str().unwrap()],
            &[("WARROOM_DISCORD_TOKEN", "unreachable-discord-token")],
            &dir.path().join("serve.log"),
        );
        // Long enough for the client to be stuck in its first connection attempt.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let started = std::time::Instant::now();
        let status = server.terminate(GRACE * 3);
        let took = started.elapsed();
        let log = server.log_text();
        assert!(
            status.success() && took < GRACE,
            "{outage}: stopped with {status} after {took:?} (grace {GRACE:?}):\n{log}"
        );
        assert!(log.contains("stopped cleanly"), "{outage}:\n{log}");
        eprintln!("{outage}: stopped in {took:?} (grace {GRACE:?})");
        assert!(
            !log.contains("unreachable-discord-token"),
            "{outage}: the token was logged"
        );
    }
}
