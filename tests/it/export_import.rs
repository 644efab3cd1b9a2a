//! Moving a ledger between stores: `warroom export` / `warroom import` (SQLite ⇄ PostgreSQL,
//! the same post-mortem byte for byte, every row checked on the way in), and the rule that one
//! SQLite file has one writing instance while readers keep working.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use warroom::app::replay::replay_with_agents;
use warroom::app::Warroom;
use warroom::cli::DEMO_OUTAGE;
use warroom::config::Settings;
use warroom::domain::postmortem::{render_json, render_markdown};
use warroom::domain::types::IncidentNumber;
use warroom::store::portable::{self, ImportProblem};
use warroom::store::{ExpectedVersion, Ledger, NewEvent, StoreError};

/// The demo as `warroom demo` runs it (restart and redeploy on a local agent) into `url`.
async fn demo_into(url: &str, host: &Path) -> Warroom {
    let settings = Settings::example().unwrap();
    let mut agents = warroom::demo::local_agents(host, &settings).unwrap();
    let app = Warroom::start(Ledger::open(url).await.unwrap(), settings)
        .await
        .unwrap();
    replay_with_agents(&app, DEMO_OUTAGE, "builtin:outage", &mut agents, |_, _| {})
        .await
        .unwrap();
    app
}

/// INC-1's post-mortem, Markdown and JSON, from a fresh `Warroom` on the store.
async fn documents(url: &str) -> (String, String) {
    let app = Warroom::start(
        Ledger::open(url).await.unwrap(),
        Settings::example().unwrap(),
    )
    .await
    .unwrap();
    let pm = app.postmortem(IncidentNumber(1)).await.unwrap();
    let docs = (render_markdown(&pm), render_json(&pm));
    app.ledger().clone().close().await;
    docs
}

async fn export_all(ledger: &Ledger) -> Vec<u8> {
    let mut out = Vec::new();
    portable::export(ledger, 0, &mut out).await.unwrap();
    out
}

/// The rows of an export without its header (whose `exported_at` differs between runs).
fn rows(export: &[u8]) -> Vec<String> {
    let text = String::from_utf8(export.to_vec()).unwrap();
    text.lines().skip(1).map(str::to_string).collect()
}

/// Exports `from`, imports into `to`, and checks the copy: verify passes, the rows are the
/// same bytes, and INC-1's post-mortem is the same byte for byte.
async fn move_store(from: &str, to: &str) {
    let source = Ledger::open(from).await.unwrap();
    let file = export_all(&source).await;
    source.close().await;
    let target = Ledger::open(to).await.unwrap();
    let summary = portable::import(&target, &file[..]).await.unwrap();
    assert_eq!(summary.imported as usize, rows(&file).len() - 1);
    assert_eq!(summary.skipped, 0);
    let report = target.verify().await.unwrap();
    assert!(report.problem.is_none(), "{report}");
    assert_eq!(report.head_hash, summary.head_hash);
    assert_eq!(rows(&export_all(&target).await), rows(&file));
    target.close().await;
    assert_eq!(documents(to).await, documents(from).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_moves_from_sqlite_to_postgres_and_back_with_the_same_post_mortem() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("demo.db").display());
    let app = demo_into(&sqlite, &dir.path().join("host")).await;
    let md = render_markdown(&app.postmortem(IncidentNumber(1)).await.unwrap());
    assert!(md.contains("## Action Plan"), "{md}");
    app.ledger().clone().close().await;
    drop(app);
    let back = format!("sqlite://{}", dir.path().join("back.db").display());
    match common::fresh_postgres_url().await {
        Some(postgres) => {
            move_store(&sqlite, &postgres).await;
            move_store(&postgres, &back).await;
        }
        // Without PostgreSQL the move is still exercised, SQLite to SQLite.
        None => move_store(&sqlite, &back).await,
    }
    assert_eq!(documents(&back).await.0, md);
}

/// The demo's export, as lines, from a fresh SQLite store.
async fn demo_export(dir: &Path) -> Vec<String> {
    let url = format!("sqlite://{}", dir.join("source.db").display());
    let app = demo_into(&url, &dir.join("host")).await;
    let file = export_all(app.ledger()).await;
    app.ledger().clone().close().await;
    String::from_utf8(file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn joined(lines: &[String]) -> Vec<u8> {
    (lines.join("\n") + "\n").into_bytes()
}

on_both_backends!(
    a_tampered_line_is_refused_and_nothing_after_it_is_written,
    a_malformed_line_names_its_line_and_field,
    a_store_holding_another_ledger_is_refused,
    an_interrupted_import_resumes_and_a_from_export_extends_it,
    appends_after_an_import_continue_the_chain,
);

async fn a_tampered_line_is_refused_and_nothing_after_it_is_written(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = demo_export(dir.path()).await;
    // Line 11 holds position 10: change its payload and keep its hash.
    let mut row: serde_json::Value = serde_json::from_str(&lines[10]).unwrap();
    assert_eq!(row["position"], 10);
    let payload = row["payload"].as_str().unwrap().replacen("a", "4", 1);
    row["payload"] = payload.into();
    lines[10] = row.to_string();
    let ledger = Ledger::open(url).await.unwrap();
    let err = portable::import(&ledger, &joined(&lines)[..])
        .await
        .unwrap_err();
    assert_eq!(err.problem, ImportProblem::Chain);
    assert_eq!((err.line, err.position), (Some(11), Some(10)));
    let text = err.to_string();
    assert!(
        text.starts_with("line 11 (position 10): hash mismatch") && text.contains("position 9"),
        "{text}"
    );
    // The nine rows before it are in, whole; nothing from line 11 on.
    assert_eq!((err.imported, err.head), (9, 9));
    assert_eq!(ledger.head().await.unwrap(), 9);
    let report = ledger.verify().await.unwrap();
    assert!(report.problem.is_none(), "{report}");
    assert_eq!(report.events, 9);
}

async fn a_malformed_line_names_its_line_and_field(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let lines = demo_export(dir.path()).await;
    let ledger = Ledger::open(url).await.unwrap();
    for (change, expected) in [
        (
            r#""stream_version":"#,
            "line 4 (position 3): field `stream_version` must be an integer, found \"x\"",
        ),
        (r#""hash":"#, "line 4 (position 3): field `hash` is missing"),
    ] {
        let mut broken = lines.clone();
        let mut row: serde_json::Value = serde_json::from_str(&broken[3]).unwrap();
        let field = change.trim_matches(|c| c == '"' || c == ':');
        if field == "hash" {
            row.as_object_mut().unwrap().remove("hash");
        } else {
            row[field] = "x".into();
        }
        broken[3] = row.to_string();
        let err = portable::import(&ledger, &joined(&broken)[..])
            .await
            .unwrap_err();
        assert_eq!(err.problem, ImportProblem::Format);
        assert!(err.to_string().starts_with(expected), "{err}");
    }
    let mut not_json = lines.clone();
    not_json[5] = "{\"position\": 5,".into();
    let err = portable::import(&ledger, &joined(&not_json)[..])
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("line 6: not JSON"), "{err}");
    // Rows 1 and 2 went in with the first attempt; later attempts skipped them and added
    // what came before their bad line.
    assert_eq!(ledger.head().await.unwrap(), 4);
    assert!(ledger.verify().await.unwrap().problem.is_none());
    // Nothing may follow the closing line; the rows before it are in.
    let mut doubled = lines.clone();
    doubled.push(lines[1].clone());
    let err = portable::import(&ledger, &joined(&doubled)[..])
        .await
        .unwrap_err();
    assert_eq!(err.line, Some(doubled.len() as u64), "{err}");
    assert!(
        err.to_string().contains("more after the closing line"),
        "{err}"
    );
    assert_eq!(ledger.head().await.unwrap(), (lines.len() - 2) as i64);
    let err = portable::import(&ledger, &b"{\"hello\":1}\n"[..])
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("is not the header of a warroom ledger export"),
        "{err}"
    );
}

fn event(n: u64) -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("other:{n}").as_bytes()),
        event_type: "MessagePosted".into(),
        schema_version: 1,
        occurred_at: chrono::Utc::now(),
        actor: "svega".into(),
        payload: serde_json::json!({"text": format!("message {n}")}),
    }
}

async fn a_store_holding_another_ledger_is_refused(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let lines = demo_export(dir.path()).await;
    let ledger = Ledger::open(url).await.unwrap();
    ledger
        .append(
            "channel-ops",
            ExpectedVersion::Any,
            vec![event(1), event(2)],
        )
        .await
        .unwrap();
    let err = portable::import(&ledger, &joined(&lines)[..])
        .await
        .unwrap_err();
    assert_eq!(err.problem, ImportProblem::NotEmpty);
    let text = err.to_string();
    assert!(
        text.contains("the store is not empty") && text.contains("import into an empty store"),
        "{text}"
    );
    assert_eq!(ledger.head().await.unwrap(), 2);
    // A file that continues past the store's head without the rows between is refused too.
    let source = Ledger::open(&format!(
        "sqlite://{}",
        dir.path().join("source.db").display()
    ))
    .await
    .unwrap();
    let mut later = Vec::new();
    portable::export(&source, 20, &mut later).await.unwrap();
    let err = portable::import(&ledger, &later[..]).await.unwrap_err();
    assert_eq!(err.problem, ImportProblem::NotEmpty);
    assert!(
        err.to_string()
            .contains("holds the rows after position 20, but the store ends at position 2"),
        "{err}"
    );
    assert_eq!(ledger.head().await.unwrap(), 2);
}

async fn an_interrupted_import_resumes_and_a_from_export_extends_it(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let lines = demo_export(dir.path()).await;
    let total = lines.len() - 2;
    let ledger = Ledger::open(url).await.unwrap();
    // Cut short after 20 rows: imported, and reported as cut short.
    let err = portable::import(&ledger, &joined(&lines[..21])[..])
        .await
        .unwrap_err();
    assert_eq!(err.problem, ImportProblem::Truncated);
    assert!(err.to_string().contains("cut short"), "{err}");
    assert_eq!(ledger.head().await.unwrap(), 20);
    // The whole file again: the 20 rows the store holds are skipped, the rest added.
    let summary = portable::import(&ledger, &joined(&lines)[..])
        .await
        .unwrap();
    assert_eq!(
        (summary.skipped, summary.imported, summary.head),
        (20, total as u64 - 20, total as i64)
    );
    // An incremental export continues an earlier import.
    let source = Ledger::open(&format!(
        "sqlite://{}",
        dir.path().join("source.db").display()
    ))
    .await
    .unwrap();
    source
        .append(
            "channel-ops",
            ExpectedVersion::Any,
            vec![event(1), event(2)],
        )
        .await
        .unwrap();
    let mut more = Vec::new();
    let exported = portable::export(&source, total as i64, &mut more)
        .await
        .unwrap();
    assert_eq!(exported.rows, 2);
    let summary = portable::import(&ledger, &more[..]).await.unwrap();
    assert_eq!((summary.imported, summary.head), (2, total as i64 + 2));
    assert_eq!(summary.head_hash, exported.last_hash);
    assert!(ledger.verify().await.unwrap().problem.is_none());
    // The same file twice adds nothing.
    let again = portable::import(&ledger, &more[..]).await.unwrap();
    assert_eq!((again.imported, again.skipped), (0, 2));
}

async fn appends_after_an_import_continue_the_chain(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let lines = demo_export(dir.path()).await;
    let total = (lines.len() - 2) as i64;
    let ledger = Ledger::open(url).await.unwrap();
    portable::import(&ledger, &joined(&lines)[..])
        .await
        .unwrap();
    let ops = ledger.stream_version("channel-ops").await.unwrap();
    let appended = ledger
        .append("channel-ops", ExpectedVersion::Exactly(ops), vec![event(1)])
        .await
        .unwrap();
    assert_eq!(
        (appended.first_position, appended.stream_version),
        (total + 1, ops + 1)
    );
    let appended = ledger
        .append("channel-new", ExpectedVersion::NoStream, vec![event(2)])
        .await
        .unwrap();
    assert_eq!(appended.first_position, total + 2);
    let report = ledger.verify().await.unwrap();
    assert!(report.problem.is_none(), "{report}");
    assert_eq!(report.events, total + 2);
    // And the application on it goes on where the source left off.
    let app = Warroom::start(ledger.clone(), Settings::example().unwrap())
        .await
        .unwrap();
    assert_eq!(app.incidents().await.unwrap().len(), 1);
}

use common::{text, warroom};

#[test]
fn the_cli_exports_imports_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let transcript = dir.path().join("outage.jsonl");
    std::fs::write(&transcript, DEMO_OUTAGE).unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/warroom.toml");
    let config = config.to_str().unwrap();
    let a = format!("sqlite://{}", dir.path().join("a.db").display());
    let b = format!("sqlite://{}", dir.path().join("b.db").display());
    let c = format!("sqlite://{}", dir.path().join("c.db").display());
    let out = warroom(
        dir.path(),
        &[
            "--db",
            &a,
            "--config",
            config,
            "replay",
            "-q",
            transcript.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let export = warroom(dir.path(), &["--db", &a, "export"]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    let summary = text(&export.stderr);
    assert!(
        summary.contains("exported") && summary.contains("rows"),
        "{summary}"
    );
    let file = dir.path().join("ledger.jsonl");
    std::fs::write(&file, &export.stdout).unwrap();
    let first: serde_json::Value =
        serde_json::from_str(text(&export.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(
        (first["format"].as_str(), first["version"].as_u64()),
        (Some("warroom-ledger"), Some(1))
    );

    let import = warroom(dir.path(), &["import", file.to_str().unwrap(), "--db", &b]);
    assert!(import.status.success(), "{}", text(&import.stderr));
    let said = text(&import.stdout);
    assert!(
        said.contains("imported") && said.contains("ledger intact"),
        "{said}"
    );
    let verify = warroom(dir.path(), &["--db", &b, "verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stdout));
    assert!(text(&verify.stdout).starts_with("ledger intact"));
    let postmortem = |db: &str| {
        let out = warroom(
            dir.path(),
            &["--db", db, "--config", config, "postmortem", "INC-1"],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        out.stdout
    };
    assert_eq!(postmortem(&b), postmortem(&a));

    // From standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["--db", &c, "import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &export.stdout).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(postmortem(&c), postmortem(&a));

    // Into a store that is not empty: refused, one line, exit 1.
    let again = warroom(dir.path(), &["--db", &a, "import", file.to_str().unwrap()]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "the same ledger: nothing to add"
    );
    let other = format!("sqlite://{}", dir.path().join("other.db").display());
    let line = dir.path().join("one.jsonl");
    std::fs::write(
        &line,
        r#"{"at":"2021-03-09T08:00:00Z","from":"svega","text":"something else"}"#,
    )
    .unwrap();
    assert!(warroom(
        dir.path(),
        &["--db", &other, "replay", "-q", line.to_str().unwrap()]
    )
    .status
    .success());
    let refused = warroom(
        dir.path(),
        &["--db", &other, "import", file.to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(1));
    let err = text(&refused.stderr);
    assert!(
        err.starts_with("error: cannot import") && err.contains("import into an empty store"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_into_a_closed_pipe_stops_cleanly() {
    let (dir, url) = common::fresh_sqlite_url();
    let ledger = Ledger::open(&url).await.unwrap();
    // Well over a pipe's buffer, so the export is still writing when the reader goes.
    for chunk in 0..10 {
        let events = (0..200).map(|i| event(chunk * 1000 + i)).collect();
        ledger
            .append("channel-ops", ExpectedVersion::Any, events)
            .await
            .unwrap();
    }
    ledger.close().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["--db", &url, "export"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 100];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("standard output was closed"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_on_one_sqlite_file_is_refused_and_readers_still_work() {
    let (dir, url) = common::fresh_sqlite_url();
    let db = dir.path().join("warroom.db");
    // This process is the file's writer, as a running `warroom serve` would be.
    let ledger = Ledger::open(&url).await.unwrap();
    ledger
        .append("channel-ops", ExpectedVersion::Any, vec![event(1)])
        .await
        .unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["--db", &url, "serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("WARROOM_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            serve.kill().unwrap();
            panic!("a second warroom serve on the same SQLite file started");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let err = text(&serve.wait_with_output().unwrap().stderr);
    assert!(!status.success());
    let expected = format!(
        "another warroom (pid {}) is using {}; SQLite is single-instance",
        std::process::id(),
        db.canonicalize().unwrap().display()
    );
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("PostgreSQL"), "{err}");
    // Another writer command is refused the same way.
    let transcript = dir.path().join("t.jsonl");
    std::fs::write(
        &transcript,
        r#"{"at":"2021-03-09T09:15:00Z","from":"svega","text":"hello"}"#,
    )
    .unwrap();
    let replay = warroom(
        dir.path(),
        &["--db", &url, "replay", "-q", transcript.to_str().unwrap()],
    );
    assert_eq!(replay.status.code(), Some(1));
    assert!(text(&replay.stderr).contains("single-instance"));
    // Readers work beside the writer.
    for args in [
        vec!["--db", &url, "verify"],
        vec!["--db", &url, "export"],
        vec!["--db", &url, "incidents"],
    ] {
        let out = warroom(dir.path(), &args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    // A read-only ledger refuses to append.
    let reader = Ledger::open_read_only(&url).await.unwrap();
    let refused = reader
        .append("channel-ops", ExpectedVersion::Any, vec![event(2)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            warroom::store::AppendError::Store(StoreError::ReadOnly)
        ),
        "{refused}"
    );
    // Once the writer closes, another may start.
    ledger.close().await;
    let replay = warroom(
        dir.path(),
        &["--db", &url, "replay", "-q", transcript.to_str().unwrap()],
    );
    assert!(replay.status.success(), "{}", text(&replay.stderr));
}
