//! Hostile and unlucky inputs at `warroom serve`'s doors, with the server as a child process:
//! one bad line never fails anybody else's alert, and a full disk stops writes only while it
//! is full.

use crate::common;
use crate::serve_child;

use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const AM_TOKEN: &str = "hardening-am-token";
const CONSOLE_TOKEN: &str = "hardening-console-token";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

const AGENT_TOKEN: &str = "hardening-agent-token";
const DEPLOYS_TOKEN: &str = "hardening-deploys-token";

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A configuration with the Alertmanager source, the console, the deploys door and one agent,
/// and `http` (more keys of `[http]`).
fn write_config(dir: &Path, http: &str) -> String {
    let path = dir.join("warroom.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[http]
console_token_sha256 = "{}"
{http}
[alerts]
max_body_kib = 64
[alerts.sources.alertmanager]
auth = "bearer"
secret_env = "HARDENING_AM_TOKEN"
[deploys]
token_sha256 = "{}"
[[agents]]
name = "dns-1"
token_sha256 = "{}"
"#,
            sha256_hex(CONSOLE_TOKEN),
            sha256_hex(DEPLOYS_TOKEN),
            sha256_hex(AGENT_TOKEN),
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn spawn(db: &str, dir: &Path) -> serve_child::ServeChild {
    spawn_with(db, dir, "")
}

fn spawn_with(db: &str, dir: &Path, http: &str) -> serve_child::ServeChild {
    let config = write_config(dir, http);
    serve_child::spawn(
        db,
        &["--config", &config],
        &[("HARDENING_AM_TOKEN", AM_TOKEN)],
        &dir.join("serve.log"),
    )
}

async fn post_alert(http: &reqwest::Client, server: &serve_child::ServeChild, n: usize) -> u16 {
    serve_child::post_alertmanager(http, &server.url(""), AM_TOKEN, "Hardening", n).await
}

/// Sixteen alert senders while console lines with a NUL in `channel` or `from` arrive: each
/// bad line gets its own 400, and not one alert is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_console_line_fails_only_that_line_on_postgresql() {
    let Some(db) = common::fresh_postgres_url().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(spawn(&db, dir.path()));
    let http = client();
    let sent = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(std::sync::Mutex::new(Vec::new()));
    let until = Instant::now() + Duration::from_secs(3);
    let senders: Vec<_> = (0..16)
        .map(|s| {
            let (http, server, sent, refused) =
                (http.clone(), server.clone(), sent.clone(), refused.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < until {
                    n += 1;
                    let status = post_alert(&http, &server, s * 100_000 + n).await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        refused.lock().unwrap().push(status);
                    }
                }
            })
        })
        .collect();
    let mut bad_lines = 0;
    while Instant::now() < until {
        for line in [
            r#"{"at": "2030-01-01T00:00:00Z", "from": "rpark", "channel": "ops\u0000x", "text": "nul in the channel"}"#,
            r#"{"at": "2030-01-01T00:00:00Z", "from": "rp\u0000ark", "channel": "ops", "text": "nul in the name"}"#,
        ] {
            let answer = server.console(&http, CONSOLE_TOKEN, None, line).await;
            let status = answer.status().as_u16();
            let text = answer.text().await.unwrap();
            assert_eq!(status, 400, "{text}");
            assert!(text.contains("control character"), "{text}");
            bad_lines += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for s in senders {
        s.await.unwrap();
    }
    let refused = refused.lock().unwrap().clone();
    let sent = sent.load(Ordering::Relaxed);
    eprintln!("{sent} alerts and {bad_lines} bad console lines in 3 s");
    assert!(sent > 100 && bad_lines > 10, "too little load to tell");
    assert!(
        refused.is_empty(),
        "{} of {sent} alerts were refused: {:?}",
        refused.len(),
        &refused[..refused.len().min(10)]
    );
}

/// Sends `body` to `path` with `token` (none when empty) and a content type; the status and
/// the answer, which must be JSON `{error, field}` whenever the status is an error.
async fn knock(
    http: &reqwest::Client,
    server: &serve_child::ServeChild,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let mut request = http
        .post(server.url(path))
        .header("content-type", content_type)
        .body(body);
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap();
    let value: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{path} answered {status} with no JSON: {text:?}"));
    if status >= 400 {
        assert!(
            value["error"].is_string() && value.get("field").is_some(),
            "{path} answered {status} without {{error, field}}: {value}"
        );
    }
    (status, value)
}

/// Every door checks its credential before it reads what it was sent: a stranger gets 401
/// whatever the body, type, size or path, and every error of every door is JSON naming the
/// field at fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_door_authenticates_before_it_parses_and_answers_errors_as_json() {
    let (dir, db) = common::fresh_sqlite_url();
    let server = spawn(&db, dir.path());
    let http = client();
    let huge = vec![b'x'; 200 * 1024];
    let doors = [
        "/v1/agent/poll",
        "/v1/agent/jobs/1/1/reports",
        "/v1/agent/jobs/not-a-number/x/reports",
        "/v1/console?identity=a&identity=b&junk",
        "/v1/deploys",
    ];
    for door in doors {
        for (content_type, body) in [
            ("application/json", b"{\"runbooks\": 5}".to_vec()),
            ("text/plain", b"not json at all".to_vec()),
            ("application/json", huge.clone()),
        ] {
            for token in ["", "wrong-token"] {
                if body.len() > 64 * 1024 {
                    // Answered 401 without reading the body, the server closes the
                    // connection on what is left unread: the client may see the 401 or a
                    // reset, never a 413 that tells a stranger about the limit.
                    // Its own connection: the one the server drops must not be reused.
                    let once = reqwest::Client::builder()
                        .pool_max_idle_per_host(0)
                        .build()
                        .unwrap();
                    let mut request = once.post(server.url(door)).body(body.clone());
                    if !token.is_empty() {
                        request = request.bearer_auth(token);
                    }
                    if let Ok(answer) = request.send().await {
                        assert_eq!(answer.status().as_u16(), 401, "{door} {token:?}");
                    }
                    continue;
                }
                let (status, why) =
                    knock(&http, &server, door, token, content_type, body.clone()).await;
                assert_eq!(status, 401, "{door} {content_type} token {token:?}: {why}");
            }
        }
    }
    // Authenticated, a wrong type names its field; bad JSON and a body too large are JSON.
    let (status, why) = knock(
        &http,
        &server,
        "/v1/agent/poll",
        AGENT_TOKEN,
        "application/json",
        br#"{"runbooks": ["failover-dns", 5], "wait_seconds": 0}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (status, why["field"].as_str()),
        (400, Some("runbooks[1]")),
        "{why}"
    );
    assert!(
        why["error"].as_str().unwrap().contains("expected a string"),
        "{why}"
    );
    let (status, why) = knock(
        &http,
        &server,
        "/v1/agent/poll",
        AGENT_TOKEN,
        "text/plain",
        b"{nope".to_vec(),
    )
    .await;
    assert_eq!(
        (status, why["field"].as_str()),
        (400, Some("body")),
        "{why}"
    );
    let (status, why) = knock(
        &http,
        &server,
        "/v1/agent/jobs/x/1/reports",
        AGENT_TOKEN,
        "application/json",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(
        (status, why["field"].as_str()),
        (400, Some("incident")),
        "{why}"
    );
    let (status, why) = knock(
        &http,
        &server,
        "/v1/deploys",
        DEPLOYS_TOKEN,
        "application/json",
        huge.clone(),
    )
    .await;
    assert_eq!(
        (status, why["field"].as_str()),
        (413, Some("body")),
        "{why}"
    );
    let (status, why) = knock(
        &http,
        &server,
        "/v1/deploys",
        DEPLOYS_TOKEN,
        "application/json",
        br#"{"service": "app", "environment": 5, "version": "1", "by": "ci"}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (status, why["field"].as_str()),
        (400, Some("environment")),
        "{why}"
    );
    let (status, why) = knock(
        &http,
        &server,
        "/v1/console",
        CONSOLE_TOKEN,
        "text/plain",
        b"{\"at\": \"2030-01-01T00:00:00Z\", \"from\": 5, \"text\": \"x\"}".to_vec(),
    )
    .await;
    assert_eq!(
        (status, why["field"].as_str()),
        (400, Some("line 1")),
        "{why}"
    );
    let (status, why) = knock(
        &http,
        &server,
        "/v1/alerts/alertmanager",
        AM_TOKEN,
        "application/json",
        br#"{"alerts": [{"status": "firing", "labels": {"alertname": 5}}]}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (status, why["field"].as_str()),
        (400, Some("alerts[0].labels.alertname")),
        "{why}"
    );
    assert_eq!(count_events(&db).await, 0, "nothing refused was stored");
    let (status, why) = knock(
        &http,
        &server,
        "/v1/alerts/alertmanager",
        AM_TOKEN,
        "application/json",
        serve_child::alertmanager_body("Good", &["fp".into()]),
    )
    .await;
    assert_eq!(status, 200, "{why}");
    // No door there, or the wrong method: the same JSON shape.
    let (status, _) = knock(&http, &server, "/v1/nothing", "", "text/plain", vec![]).await;
    assert_eq!(status, 404);
    let answer = http.get(server.url("/v1/deploys")).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 405);
    let why: serde_json::Value = answer.json().await.unwrap();
    assert!(
        why["error"].is_string() && why.get("field").is_some(),
        "{why}"
    );
    assert!(count_events(&db).await > 0, "the good alert was stored");
}

/// How many events the store at `db` holds, read through `warroom verify`.
async fn count_events(db: &str) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["--db", db, "verify"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.strip_prefix("ledger intact: ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("verify said: {text}"))
}

/// Set in the copy of this test binary that runs inside its own mount namespace.
const IN_MOUNT_NAMESPACE: &str = "WARROOM_TEST_IN_MOUNT_NAMESPACE";

/// Runs one test of this binary again inside a new user and mount namespace (`unshare`), where
/// it may mount a small tmpfs without privileges; the mount vanishes with the namespace.
fn rerun_in_mount_namespace(test: &str) {
    // Tests are named by their path below the test crate: `hardening::…`.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let test = format!("{module}::{test}");
    let output = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", &test, "--nocapture", "--test-threads=1"])
        .env(IN_MOUNT_NAMESPACE, "1")
        .output()
        .expect("unshare (util-linux) runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{text}");
    assert!(
        output.status.success() && text.contains("1 passed"),
        "the test inside a mount namespace failed (it needs unprivileged user namespaces or root):\n{text}"
    );
}

/// Fills `dir` until the file system is full; the file is the room to give back.
fn fill(dir: &Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        if file.write_all(&block).is_err() {
            break;
        }
    }
    // The last bytes, smaller than a block.
    while file.write_all(&[0u8; 512]).is_ok() {}
    let _ = file.sync_all();
    path
}

async fn ready(http: &reqwest::Client, server: &serve_child::ServeChild) -> (u16, String) {
    let answer = http.get(server.url("/readyz")).send().await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

/// The store on an 8 MB tmpfs: filled, alerts get 503 and `/readyz` says the store takes no
/// writes; given room again, readiness comes back by itself and the next alert is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_writes_only_while_it_is_full() {
    if std::env::var_os(IN_MOUNT_NAMESPACE).is_none() {
        return rerun_in_mount_namespace("a_full_disk_stops_writes_only_while_it_is_full");
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&store)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "cannot mount a tmpfs at {}",
        store.display()
    );
    let db = format!("sqlite://{}", store.join("warroom.db").display());
    let server = spawn(&db, dir.path());
    let http = client();
    assert_eq!(post_alert(&http, &server, 0).await, 200);
    assert_eq!(ready(&http, &server).await.0, 200);

    let filler = fill(&store);
    let mut n = 1;
    let mut last = 200;
    while last == 200 && n < 3000 {
        last = post_alert(&http, &server, n).await;
        n += 1;
    }
    assert_eq!(
        last, 503,
        "no alert was refused on a full disk after {n} tries"
    );
    eprintln!("the disk filled up after {n} alerts");
    let (status, why) = ready(&http, &server).await;
    assert_eq!(status, 503, "{why}");
    assert!(why.contains("the store takes no writes"), "{why}");
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200,
        "the process still serves"
    );

    std::fs::remove_file(filler).unwrap();
    let room_back = Instant::now();
    loop {
        let (status, why) = ready(&http, &server).await;
        if status == 200 {
            break;
        }
        assert!(
            room_back.elapsed() < Duration::from_secs(10),
            "still not ready with room on the disk: {why}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for m in 0..20 {
        assert_eq!(post_alert(&http, &server, 10_000 + m).await, 200);
    }
    let mut server = server;
    assert!(server.terminate(Duration::from_secs(20)).success());
    let verified = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["--db", &db, "verify"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success() && said.contains("ledger intact"),
        "{said}"
    );
}

/// Reads until the server closes the connection (EOF or reset); what it sent, or `None` when
/// it was still open after `limit`.
async fn read_until_closed(
    stream: &mut tokio::net::tcp::OwnedReadHalf,
    limit: Duration,
) -> Option<String> {
    let mut seen = Vec::new();
    let read_all = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read_all).await.ok()?;
    Some(String::from_utf8_lossy(&seen).into_owned())
}

async fn connect(server: &serve_child::ServeChild) -> TcpStream {
    TcpStream::connect(&server.addr).await.unwrap()
}

/// Slow and idle clients are dropped, connections beyond the cap are answered 503 with
/// `Retry-After`, and an agent's long poll — longer than every timeout — still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_surplus_connections_are_dropped_but_long_polls_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let server = spawn_with(
        &db,
        dir.path(),
        "header_timeout_seconds = 1\nidle_timeout_seconds = 1\nbody_timeout_seconds = 1\nmax_connections = 8",
    );
    let healthz = format!("GET /healthz HTTP/1.1\r\nhost: {}\r\n\r\n", server.addr);

    // The cap: eight connections held, the ninth is refused at once with 503 and Retry-After.
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(connect(&server).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (mut read, mut write) = connect(&server).await.into_split();
    write.write_all(healthz.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut read, Duration::from_secs(3))
        .await
        .expect("the surplus connection is answered and closed at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_lowercase().contains("retry-after: 1"), "{answer}");
    let body: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("http.max_connections"),
        "{body}"
    );
    drop(held);

    // Once those are gone, connections are served again.
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = http
            .get(server.url("/healthz"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if status.as_ref().is_ok_and(|s| *s == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused after the cap freed: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An idle keep-alive connection is closed after its idle timeout.
    let (mut read, mut write) = connect(&server).await.into_split();
    write.write_all(healthz.as_bytes()).await.unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut read, Duration::from_secs(4))
        .await
        .expect("the idle connection is closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before it was idle long"
    );

    // A head sent a byte at a time is cut off after the header timeout, though bytes keep coming.
    let (mut read, mut write) = connect(&server).await.into_split();
    let dribble = tokio::spawn(async move {
        for byte in
            b"POST /v1/alerts/alertmanager HTTP/1.1\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        {
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let started = Instant::now();
    read_until_closed(&mut read, Duration::from_secs(6))
        .await
        .expect("the slow head is cut off");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    dribble.abort();

    // A body that stalls is answered 408 naming the body.
    let (mut read, mut write) = connect(&server).await.into_split();
    write
        .write_all(
            format!(
                "POST /v1/alerts/alertmanager HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {AM_TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"alerts\""
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut read, Duration::from_secs(5))
        .await
        .expect("the stalled body is answered and the connection closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_lowercase().contains("connection: close"),
        "a connection left with an unread body says it closes: {answer}"
    );
    assert!(answer.contains("\"field\":\"body\""), "{answer}");
    assert!(answer.contains("http.body_timeout_seconds"), "{answer}");

    // An agent's long poll outlasts every timeout and is answered when its wait ends.
    let started = Instant::now();
    let poll = http
        .post(server.url("/v1/agent/poll"))
        .bearer_auth(AGENT_TOKEN)
        .json(&serde_json::json!({"runbooks": ["restart-service"], "wait_seconds": 3}))
        .send()
        .await
        .expect("the long poll is answered");
    assert!(poll.status().is_success(), "{}", poll.status());
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "answered early: {:?}",
        started.elapsed()
    );

    // Everything it accepted was still well: alerts are taken as before.
    assert_eq!(post_alert(&http, &server, 1).await, 200);
}

/// The checkpoints of a witness file, as `(position, hash)`.
fn checkpoints(path: &Path) -> Vec<(i64, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["position"].as_i64().unwrap(),
                v["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `warroom serve` writes signed checkpoints outside the database — at each incident close,
/// every N events, at the stop — and `verify` then sees rows cut from the end of the ledger,
/// which the chain alone cannot show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_sees_events_cut_from_the_end_against_signed_checkpoints() {
    let (dir, db) = common::fresh_sqlite_url();
    let witness = warroom::witness::default_file_for(&db).unwrap();
    let mut server = spawn_with(
        &db,
        dir.path(),
        "\n[witness]\nevery_events = 1000\nevery_minutes = 60\n",
    );
    let http = client();
    for n in 0..40 {
        assert_eq!(post_alert(&http, &server, n).await, 200);
    }
    // The first checkpoint comes at the checkpointer's first look.
    let started = Instant::now();
    while checkpoints(&witness).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // An incident opened and closed from the console: the close is witnessed at once.
    let lines = r#"{"at": "2030-01-01T00:00:00Z", "from": "rpark", "channel": "ops", "text": "/incident open title:\"Witnessed\" severity:sev2"}
{"at": "2030-01-01T00:05:00Z", "from": "rpark", "channel": "ops", "text": "/incident close incident:INC-1"}
"#;
    let console = server
        .console(&http, CONSOLE_TOKEN, Some("witness"), lines)
        .await;
    assert_eq!(console.status(), 200, "{}", console.text().await.unwrap());
    // Neither 1000 events nor an hour have passed: only the close can be why.
    let closed_at = count_events(&db).await as i64;
    let started = Instant::now();
    while checkpoints(&witness).last().is_none_or(|c| c.0 < closed_at) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no checkpoint of the close (head {closed_at}): {:?}\n{}",
            checkpoints(&witness),
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = server.metrics(&http, None).await;
    assert!(
        metrics.contains("warroom_ledger_checkpoint_position "),
        "{metrics}"
    );
    assert!(server.terminate(Duration::from_secs(30)).success());
    assert!(server.log_text().contains("ledger checkpoint"));
    let witnessed = checkpoints(&witness);
    let head = count_events(&db).await as i64;
    assert!(
        witnessed.len() >= 2,
        "the first look and the close: {witnessed:?}"
    );
    assert_eq!(
        witnessed.last().unwrap().0,
        head,
        "the stop witnesses the final head"
    );
    assert!(dir.path().join("warroom.db.witness.key").exists());

    let verify = |extra: &[&str]| {
        let mut args = vec!["--db", db.as_str(), "verify"];
        args.extend_from_slice(extra);
        let out = common::warroom(dir.path(), &args);
        (
            out.status.code(),
            common::text(&out.stdout) + &common::text(&out.stderr),
        )
    };
    let (code, said) = verify(&[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains(&format!("it matches the {} checkpoints", witnessed.len())),
        "{said}"
    );

    // A wrong pinned key, and a forged line, are refused before the ledger is read.
    let (code, said) = verify(&["--witness-key", &"ab".repeat(32)]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("not by the instance's key"), "{said}");

    // Cut the last 10 events. The chain still holds, so without the witness verify is
    // satisfied (what it said before checkpoints existed); with it, it is not.
    let kept = head - 10;
    // (The append-only trigger is in the way of a careless DELETE, not of someone who means it.)
    common::raw_sql(
        &db,
        &[
            "DROP TRIGGER events_no_delete",
            &format!("DELETE FROM events WHERE position > {kept}"),
        ],
    )
    .await;
    let unwitnessed = dir.path().join("elsewhere.db");
    std::fs::copy(dir.path().join("warroom.db"), &unwitnessed).unwrap();
    let out = common::warroom(
        dir.path(),
        &[
            "--db",
            &format!("sqlite://{}", unwitnessed.display()),
            "verify",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "the chain alone cannot see a cut tail: {}{}",
        common::text(&out.stdout),
        common::text(&out.stderr)
    );
    let (code, said) = verify(&[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "ledger BROKEN at position {}: the ledger ends at position {kept} but position {head} was witnessed",
            kept + 1
        )),
        "{said}"
    );

    // A database emptied to 0 bytes fails as well.
    std::fs::write(dir.path().join("warroom.db"), b"").unwrap();
    let _ = std::fs::remove_file(dir.path().join("warroom.db-wal"));
    let _ = std::fs::remove_file(dir.path().join("warroom.db-shm"));
    let (code, said) = verify(&[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("holds no readable warroom ledger"), "{said}");
    assert_eq!(
        std::fs::metadata(dir.path().join("warroom.db"))
            .unwrap()
            .len(),
        0,
        "verify wrote into the emptied file"
    );

    // An altered checkpoint line is caught by its signature.
    let text = std::fs::read_to_string(&witness).unwrap();
    let forged = text.replacen(
        &format!("\"position\":{head}"),
        &format!("\"position\":{kept}"),
        1,
    );
    assert_ne!(forged, text);
    std::fs::write(&witness, forged).unwrap();
    let (code, said) = verify(&["--witness", witness.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("signature does not match"), "{said}");
}
