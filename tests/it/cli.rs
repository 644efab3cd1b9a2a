//! The `warroom` binary as a person runs it: the demo, replay, listing, documents, verify,
//! and the one-line errors with a non-zero exit.

use crate::common;

use common::{text, warroom};

#[test]
fn demo_prints_the_post_mortem() {
    let dir = tempfile::tempdir().unwrap();
    let out = warroom(dir.path(), &["demo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let md = text(&out.stdout);
    assert!(
        md.starts_with("# Application outage — 2021-03-09 09:15 (UTC)"),
        "{md}"
    );
    assert!(md.contains("## Action Plan"));
    // The restart and the redeploy ran as jobs on the demo's local agent: real processes on
    // a fake host, whose deploy tool said which build ran before and after.
    assert!(
        md.contains(" wait-down: systemctl is-active --quiet -- exoticplant — succeeded at "),
        "{md}"
    );
    assert!(
        md.contains(
            "/restart app (run 1, asked by Riley Park (@rpark)) succeeded: exoticplant restarted"
        ),
        "{md}"
    );
    assert!(
        md.contains("/redeploy app (run 2, asked by Riley Park (@rpark)) succeeded: exoticplant runs build 2.0.0 (was 2.1.0-qa.1)"),
        "{md}"
    );
    assert!(
        text(&out.stderr).contains("2 runbook jobs run by local agents"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !dir.path().join("warroom.db").exists(),
        "the demo uses a temporary store"
    );
    let json = warroom(dir.path(), &["demo", "--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["id"], "INC-1");
}

#[test]
fn demo_keep_leaves_the_store_and_the_commands_to_explore_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = warroom(dir.path(), &["demo", "--keep", "kept/outage"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let document = text(&out.stdout);
    let kept = dir.path().join("kept/outage").canonicalize().unwrap();
    assert!(kept.join("warroom.db").is_file());
    assert!(
        kept.join("hosts/planthost1/calls").is_file(),
        "the fake host's calls are kept"
    );
    // After the documents, the commands to explore the store, exactly as they run.
    let stderr = text(&out.stderr);
    let db = format!("sqlite://{}", kept.join("warroom.db").display());
    assert!(
        stderr.contains(&format!("The demo's store is kept at {db}")),
        "{stderr}"
    );
    let commands: Vec<Vec<String>> = stderr
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(|l| {
            let command = l.split(" # ").next().unwrap();
            command.split_whitespace().map(str::to_string).collect()
        })
        .collect();
    let run_in = |verb: &str, dir: &str| {
        let words = commands
            .iter()
            .find(|c| c.iter().any(|w| w == verb))
            .unwrap_or_else(|| panic!("no {verb} command in {stderr}"));
        assert_eq!(words[0], env!("CARGO_BIN_EXE_warroom"));
        assert_eq!(words[1], verb, "the command first, its options after it");
        let at = words.iter().position(|w| w == "--db").expect("--db");
        assert_eq!(words[at + 1], db);
        std::process::Command::new(&words[0])
            .args(&words[1..])
            .current_dir(dir)
            .env_remove("WARROOM_DB")
            .env_remove("WARROOM_CONFIG")
            .output()
            .unwrap()
    };
    let run = |verb: &str| run_in(verb, "/");
    let timeline = run("timeline");
    assert!(timeline.status.success(), "{}", text(&timeline.stderr));
    let timeline = text(&timeline.stdout);
    assert!(
        timeline.starts_with("INC-1 Application outage"),
        "{timeline}"
    );
    assert!(
        timeline.contains("Riley Park (@rpark) acknowledged the page"),
        "read with the demo's configuration: {timeline}"
    );
    // From the repository's root too, where `commands/` holds runbooks whose approving
    // teams only a configuration defines: commands without one never read that directory.
    let verify_from_root = run_in("verify", env!("CARGO_MANIFEST_DIR"));
    assert!(
        verify_from_root.status.success(),
        "{}",
        text(&verify_from_root.stderr)
    );
    let postmortem = run("postmortem");
    assert_eq!(
        text(&postmortem.stdout),
        document,
        "the kept store gives the demo's post-mortem byte for byte"
    );
    let verify = run("verify");
    assert!(verify.status.success(), "{}", text(&verify.stdout));
    assert!(text(&verify.stdout).starts_with("ledger intact: "));
    let show = run("show");
    assert_eq!(show.status.code(), Some(0), "{}", text(&show.stderr));
    assert!(text(&show.stdout).contains("chain verifies"));

    // The demo needs a fresh store: a second run into the same directory is refused.
    let again = warroom(dir.path(), &["demo", "--keep", "kept/outage"]);
    assert_eq!(again.status.code(), Some(1));
    let refused = text(&again.stderr);
    assert!(
        refused.contains("already holds a warroom.db, and the demo needs a fresh store: remove it"),
        "{refused}"
    );
    assert_eq!(refused.trim_end().lines().count(), 1, "{refused}");
    assert!(again.stdout.is_empty());

    // A file of someone else's where the example configuration would go is never overwritten.
    let theirs = dir.path().join("theirs/config/deploy/warroom.toml");
    std::fs::create_dir_all(theirs.parent().unwrap()).unwrap();
    std::fs::write(&theirs, "# mine\n").unwrap();
    let refused = warroom(dir.path(), &["demo", "--keep", "theirs"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("is not the demo's example configuration"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "# mine\n");
    assert!(!dir.path().join("theirs/warroom.db").exists());
}

#[test]
fn replay_then_list_show_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let transcript = dir.path().join("t.jsonl");
    std::fs::write(
        &transcript,
        [
            r#"{"at":"2021-03-09T09:15:00Z","from":"svega","text":"the app is down","id":"m1"}"#,
            r#"{"at":"2021-03-09T09:17:00Z","from":"rpark","text":"/incident open title:\"Application outage\" severity:sev1"}"#,
            r#"{"at":"2021-03-09T09:18:00Z","from":"rpark","text":"/incident severity severity:px"}"#,
            r#"{"at":"2021-03-09T10:30:00Z","from":"rpark","text":"/incident resolve"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let path = transcript.to_str().unwrap();
    let out = warroom(dir.path(), &["--db", &db, "replay", path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("INC-1 opened"), "{stdout}");
    assert!(
        stdout.contains("unknown severity 'px'; use sev1–sev4. Usage: /incident severity"),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("replayed 4 lines"));
    let again = warroom(dir.path(), &["--db", &db, "replay", "--quiet", path]);
    assert!(
        text(&again.stderr).contains("0 events recorded, 4 lines already recorded before"),
        "{}",
        text(&again.stderr)
    );

    let list = text(&warroom(dir.path(), &["--db", &db, "incidents"]).stdout);
    assert!(
        list.contains("INC-1") && list.contains("resolved") && list.contains("Application outage"),
        "{list}"
    );
    let timeline = text(&warroom(dir.path(), &["--db", &db, "timeline", "1"]).stdout);
    assert!(
        timeline.contains("09:15") && timeline.contains("the app is down"),
        "{timeline}"
    );
    let out_file = dir.path().join("pm.json");
    let pm = warroom(
        dir.path(),
        &[
            "--db",
            &db,
            "postmortem",
            "INC-1",
            "--format",
            "json",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(pm.status.success(), "{}", text(&pm.stderr));
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(value["duration_minutes"], 75);
    let verify = warroom(dir.path(), &["--db", &db, "verify"]);
    assert!(verify.status.success());
    assert!(
        text(&verify.stdout).starts_with("ledger intact: "),
        "{}",
        text(&verify.stdout)
    );
}

#[test]
fn errors_are_one_clear_line_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"at\":\"2021-03-09T09:15:00Z\",\"from\":\"svega\",\"text\":\"ok\"}\n{\"at\":\"2021-03-09T09:16:00Z\",\"text\":\"who?\"}\n").unwrap();
    let no_ledger = format!(
        "no ledger at {}: check the path",
        dir.path().join("w.db").display()
    );
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--db".into(),
                db.clone(),
                "replay".into(),
                bad.display().to_string(),
            ],
            "line 2: 'from' is missing",
        ),
        (
            vec![
                "--db".into(),
                db.clone(),
                "replay".into(),
                "nope.jsonl".into(),
            ],
            "cannot read the transcript nope.jsonl",
        ),
        // Commands that only read refuse a store that is not there (a mistyped path), and
        // the refused replays above left none behind.
        (
            vec!["--db".into(), db.clone(), "verify".into()],
            no_ledger.as_str(),
        ),
        (
            vec!["--db".into(), db.clone(), "incidents".into()],
            no_ledger.as_str(),
        ),
        (
            vec!["--db".into(), db.clone(), "export".into()],
            no_ledger.as_str(),
        ),
        (
            vec![
                "--db".into(),
                db.clone(),
                "postmortem".into(),
                "INC-9".into(),
            ],
            no_ledger.as_str(),
        ),
    ];
    check_each(cases);
    assert!(
        !dir.path().join("w.db").exists(),
        "a refused or read-only command created the store"
    );
    assert!(warroom(dir.path(), &["--db", &db, "migrate"])
        .status
        .success());
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--db".into(),
                db.clone(),
                "postmortem".into(),
                "INC-9".into(),
            ],
            "INC-9 does not exist",
        ),
        (
            vec!["--db".into(), db.clone(), "timeline".into(), "abc".into()],
            "'abc' is not an incident number; write it as INC-7 or 7",
        ),
        (
            vec![
                "--db".into(),
                "postgres://bob:s3cret@127.0.0.1:1/x".into(),
                "incidents".into(),
            ],
            "postgres://bob:***@127.0.0.1:1/x",
        ),
        (
            vec!["--db".into(), "mysql://x".into(), "incidents".into()],
            "mysql://x",
        ),
    ];
    check_each(cases);
    // The bad transcript added nothing.
    let list = text(&warroom(dir.path(), &["--db", &db, "verify"]).stdout);
    assert!(list.starts_with("ledger intact: 0 events"), "{list}");
}

/// Each command exits 1 with one line on standard error that says what is expected.
fn check_each(cases: Vec<(Vec<String>, &str)>) {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = warroom(dir.path(), &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected {expected:?} in {stderr}"
        );
        assert!(!stderr.contains("s3cret"), "the password leaked: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    }
}

#[tokio::test]
async fn verify_names_the_position_of_a_row_edited_in_sql() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let transcript = dir.path().join("t.jsonl");
    let lines: Vec<String> = (0..6)
        .map(|i| {
            format!(r#"{{"at":"2021-03-09T09:1{i}:00Z","from":"svega","text":"message {i}"}}"#)
        })
        .collect();
    std::fs::write(&transcript, lines.join("\n")).unwrap();
    let replay = warroom(
        dir.path(),
        &["--db", &db, "replay", transcript.to_str().unwrap()],
    );
    assert!(replay.status.success(), "{}", text(&replay.stderr));
    assert!(warroom(dir.path(), &["--db", &db, "verify"])
        .status
        .success());

    // Someone with access to the database file rewrites what was said.
    let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
    sqlx::query("DROP TRIGGER events_no_update")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE events SET payload = replace(payload, 'message 3', 'nothing happened') WHERE position = 4")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let out = warroom(dir.path(), &["--db", &db, "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("ledger BROKEN at position 4: hash mismatch"),
        "{stdout}"
    );
}

#[test]
fn check_names_the_runbook_file_line_and_field_of_each_mistake() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("commands")).unwrap();
    std::fs::write(
        dir.path().join("commands/good.toml"),
        "command = \"restart app\"\ndescription = \"Restart\"\nroles = [\"responder\"]\n[[steps]]\nid = \"go\"\nprogram = \"systemctl\"\nargs = [\"restart\", \"app\"]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("warroom.toml"), "").unwrap();
    let ok = warroom(dir.path(), &["check", "--config", "warroom.toml"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stdout).contains("1 runbooks (/restart app)"),
        "{}",
        text(&ok.stdout)
    );

    std::fs::write(
        dir.path().join("commands/bad.toml"),
        "command = \"flush cache\"\ndescription = \"Flush\"\nroles = [\"sre\"]\n\n[[steps]]\nid = \"go\"\nprogram = \"tool\"\nargs = [\"{size}\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("commands/unapproved.toml"),
        "command = \"purge queue\"\ndescription = \"Purge\"\nroles = [\"sre\"]\napproval = { team = \"Nobody\" }\n[[steps]]\nid = \"go\"\nprogram = \"tool\"\n",
    )
    .unwrap();
    let bad = warroom(dir.path(), &["check", "--config", "warroom.toml"]);
    assert_eq!(bad.status.code(), Some(1));
    let out = text(&bad.stdout) + &text(&bad.stderr);
    assert!(
        out.contains(
            "commands/bad.toml:8: steps[0].args: {size} is neither a parameter nor a capture"
        ),
        "{out}"
    );
    assert!(out.contains("approval.team: no team 'Nobody'"), "{out}");
}

#[test]
fn demo_week_prints_the_as_built_the_on_call_summary_and_the_post_mortem() {
    let dir = tempfile::tempdir().unwrap();
    let out = warroom(dir.path(), &["demo", "week", "--keep", "kept"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let md = text(&out.stdout);
    let titles: Vec<&str> = md.lines().filter(|l| l.starts_with("# ")).collect();
    assert_eq!(
        titles,
        [
            "# As-Built Doc",
            "# On-call summary — shift 2 (rpark)",
            "# Application outage — 2021-03-09 09:15 (UTC)"
        ]
    );
    // Release night: Release 2, its tickets and the capacity plan's arithmetic.
    for ticket in ["Tk-201", "Tk-202", "Tk-203", "Tk-205"] {
        assert!(md.contains(ticket), "{ticket}");
    }
    assert!(md.contains("2600 concurrent users ÷ 500 users per replica = 5.2, rounded up: 6"));
    // The shift: four alerts in time order, the hand-over, the recurring alert, the toil.
    let alerts: Vec<&str> = md.lines().filter(|l| l.contains(" -- Alert ")).collect();
    assert_eq!(
        alerts,
        [
            "## 08.03.2021/10:00 -- Alert 1. OutstandingOrdersTooHigh",
            "## 08.03.2021/16:00 -- Alert 2. DNSNotAnswering",
            "## 09.03.2021/08:00 -- Alert 3. LowStorage (recurring: 1 earlier, 2021-03-01)",
            "## 09.03.2021/09:15 -- Alert 4. ApplicationDown",
        ]
    );
    assert!(md.contains("; taken over from ghammer."));
    assert!(md.contains("/failover dns (run 1, asked by Riley Park (@rpark)) succeeded: dns2 is now the active DNS server (was dns1)"));
    assert!(md.contains("was typed by hand in 2 incidents (INC-1, INC-4): make it a runbook."));
    // The outage's timeline starts with the QA build deployed the evening before, flagged.
    let timeline = md.split("## Incident Timeline").nth(1).unwrap();
    let first = timeline.lines().find(|l| l.starts_with("- ")).unwrap();
    assert!(
        first.starts_with(
            "- 18:40 — @warroom deploy on 2021-03-08: app 2.1.0-qa.1 to prod by ghammer"
        ) && first.contains("⚠ test build in production"),
        "{first}"
    );
    assert!(md.contains("exoticplant runs build 2.0.0 (was 2.1.0-qa.1)"));
    // The application's QA deploy joined the application's outage only: the log mount's
    // low storage (INC-4, the morning after it) names no service, and takes no deploy.
    let kept = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--db", "sqlite://kept/warroom.db"]);
        all.extend(["--config", "kept/config/deploy/warroom.toml"]);
        warroom(dir.path(), &all)
    };
    let storage = text(&kept(&["timeline", "INC-4"]).stdout);
    assert!(
        storage.starts_with("INC-4 Low storage on the log mount"),
        "{storage}"
    );
    assert!(!storage.contains("deploy on"), "{storage}");
    // The order processor is new in Release 2: its figures are a basis, not what it was.
    let as_built = md.split("# On-call summary").next().unwrap();
    let new_component = as_built
        .lines()
        .filter(|l| l.contains("1024 Mi") || l.contains("CPU: 250m × 2"))
        .collect::<Vec<_>>();
    assert!(
        !new_component.is_empty() && new_component.iter().all(|l| !l.contains("(was ")),
        "{new_component:?}"
    );
    let json = warroom(dir.path(), &["demo", "week", "--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["postmortem"]["id"], "INC-5");
    assert_eq!(
        value["oncall_summary"]["entries"].as_array().unwrap().len(),
        4
    );
    assert_eq!(value["as_built"]["releases"][0]["version"], "2");
}
