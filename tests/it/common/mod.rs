//! Test support shared by the integration tests: fresh stores on both backends, the
//! example application, and the `warroom` binary as a person runs it.

use std::path::Path;
use std::process::{Command, Output};

use sqlx::Connection;

/// A new SQLite file in a temporary directory (kept alive by the returned guard).
pub fn fresh_sqlite_url() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("warroom.db").display());
    (dir, url)
}

/// A new, empty PostgreSQL database, when `WARROOM_TEST_POSTGRES` names a server; `None`
/// (the test then passes without running) when it is unset. When it is set, failing to create
/// the database fails the test: CI sets it, and there the suite must run, not skip.
pub async fn fresh_postgres_url() -> Option<String> {
    let Ok(admin) = std::env::var("WARROOM_TEST_POSTGRES") else {
        eprintln!("skipped: set WARROOM_TEST_POSTGRES=postgres://USER@HOST/DB to run the PostgreSQL suite");
        return None;
    };
    let name = format!("warroom_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("WARROOM_TEST_POSTGRES={admin} is set but unreachable: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database on {admin}: {e}"));
    // Same server and credentials, other database; keep any `?options`.
    let (location, query) = admin
        .split_once('?')
        .map_or((admin.as_str(), None), |(l, q)| (l, Some(q)));
    let base = location.rsplit_once('/').map_or(location, |(base, _)| base);
    Some(match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    })
}

/// Runs raw SQL against a store, as an operator (or an attacker) with database access would.
pub async fn raw_sql(url: &str, statements: &[&str]) {
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        for s in statements {
            sqlx::query(s)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        // Closed before returning: a dropped connection closes later on its own thread,
        // checkpointing the WAL into the file while a test may be copying that file.
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        for s in statements {
            sqlx::query(s)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        conn.close().await.unwrap();
    }
}

/// Declares each test twice: on an SQLite file and on a fresh PostgreSQL database. The test
/// module defines `async fn name(url: &str)` for each (`main.rs` brings the macro in scope).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_dir, url) = crate::common::fresh_sqlite_url();
                super::$name(&url).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(url) = crate::common::fresh_postgres_url().await else { return };
                super::$name(&url).await;
            })*
        }
    };
}

/// The application on a store, with the shipped example configuration.
pub async fn example_app(url: &str) -> warroom::app::Warroom {
    warroom::app::Warroom::start(
        warroom::store::Ledger::open(url).await.unwrap(),
        warroom::config::Settings::example().unwrap(),
    )
    .await
    .unwrap()
}

/// The `warroom` binary run in `dir`, with no store or configuration from the environment.
pub fn warroom(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(args)
        .current_dir(dir)
        .env_remove("WARROOM_DB")
        .env_remove("WARROOM_CONFIG")
        .output()
        .expect("the warroom binary runs")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `warroom serve` in this process on a free loopback port, as `warroom::serve::start` runs
/// it for the command line, over an application on its own store.
pub struct TestApp {
    pub warroom: std::sync::Arc<warroom::app::Warroom>,
    pub running: warroom::serve::Running,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

/// The application on the store at `url` (its projection rebuilt), served with `options`.
pub async fn spawn_app(
    url: &str,
    settings: warroom::config::Settings,
    options: warroom::serve::Options,
) -> TestApp {
    let ledger = warroom::store::Ledger::open(url)
        .await
        .expect("the test store opens");
    let warroom = warroom::app::Warroom::start(ledger, settings)
        .await
        .expect("the application starts");
    serve_app(std::sync::Arc::new(warroom), options).await
}

/// Serves an application already built (to share it between servers, or to keep a handle).
pub async fn serve_app(
    warroom: std::sync::Arc<warroom::app::Warroom>,
    options: warroom::serve::Options,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let running = warroom::serve::start(warroom.clone(), listener, options)
        .await
        .expect("the server starts");
    TestApp {
        base: format!("http://{}", running.addr),
        warroom,
        running,
    }
}

/// The scenario's people and teams as `warroom.toml` text, for the tests' configurations:
/// append it after their own sections (it ends with array tables). Chat names: `!net`,
/// `!dba`, `!sre`, `!Ops`.
pub const PEOPLE: &str = r#"
[[teams]]
name = "Networking"
aliases = ["net"]
[[teams]]
name = "Database Admin"
aliases = ["dba"]
[[teams]]
name = "SRE"
aliases = ["sre"]
[[teams]]
name = "Ops"

[[contacts]]
handle = "bsparrow"
name = "Bob Sparrow"
team = "Networking"
[[contacts]]
handle = "khouse"
name = "Karen House"
team = "Database Admin"
[[contacts]]
handle = "rpark"
name = "Riley Park"
team = "SRE"
[[contacts]]
handle = "ghammer"
name = "Glenn Hammer"
team = "Ops"
"#;

/// The seed's DNS alert (`DNSNotAnswering`) routed to an incident of its own that escalates
/// by the policy `networking`, which each test defines with the steps it needs.
pub const DNS_ROUTE: &str = r#"
[[routes]]
name = "dns"
match = { alertname = "DNSNotAnswering" }
title = "DNS server not answering requests"
severity = "sev2"
escalation = "networking"
auto_open = true
"#;

/// What the operator types at the console in #ops as `from`, now: a message, or a command
/// when it starts with `/`.
pub fn console_line(key: &str, from: &str, text: &str) -> warroom::app::Input {
    warroom::app::Input {
        key: key.into(),
        at: chrono::Utc::now(),
        from: from.into(),
        channel: "ops".into(),
        caller: Default::default(),
        kind: warroom::app::InputKind::Message {
            text: text.into(),
            message_id: None,
            reply_to: None,
            attachments: vec![],
        },
    }
}
