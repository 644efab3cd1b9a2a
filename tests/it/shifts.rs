//! On-call shifts: hand-over, who is on call, and the on-call summary log with a recurring
//! alert, acknowledgement times and toil candidates — from a transcript, through chat
//! commands and the command line.

use crate::common;

use serde_json::json;
use sha2::Digest;
use warroom::app::replay::replay;
use warroom::app::shifts::SummaryOf;
use warroom::app::{Notice, Warroom};

/// The example configuration without its rotation: these shifts are started by hand.
async fn app(url: &str) -> Warroom {
    let mut settings = warroom::config::Settings::example().unwrap();
    settings.schedules.clear();
    Warroom::start(warroom::store::Ledger::open(url).await.unwrap(), settings)
        .await
        .unwrap()
}

fn say(at: &str, from: &str, channel: &str, text: &str) -> String {
    json!({"at": format!("2021-03-{at}Z"), "from": from, "channel": channel, "text": text})
        .to_string()
}

fn alert(at: &str, name: &str, status: &str, starts: &str, labels: serde_json::Value) -> String {
    let mut labels = labels;
    labels["alertname"] = json!(name);
    json!({"at": format!("2021-03-{at}Z"), "alert": {"source": "alertmanager", "body": {
        "version": "4", "status": status, "receiver": "warroom",
        "alerts": [{"status": status, "labels": labels,
                    "annotations": {"summary": format!("{name} on the test host")},
                    "startsAt": format!("2021-03-{starts}Z"),
                    "fingerprint": format!("fp-{name}")}]}}})
    .to_string()
}

fn week() -> Vec<String> {
    let storage =
        || json!({"instance": "loghost", "mountpoint": "/var/log", "severity": "warning"});
    let inc1 = "inc-1-low-storage-on-the-log-mount";
    let inc2 = "inc-2-low-storage-on-the-log-mount";
    vec![
        say("08T07:55:00", "ghammer", "ops", "/oncall start"),
        alert(
            "08T09:00:00",
            "LowStorage",
            "firing",
            "08T08:58:00",
            storage(),
        ),
        say(
            "08T09:10:00",
            "ghammer",
            inc1,
            "freed space with `df -h /var/log` and removing old archives",
        ),
        alert(
            "08T09:30:00",
            "LowStorage",
            "resolved",
            "08T08:58:00",
            storage(),
        ),
        say(
            "08T09:31:00",
            "ghammer",
            "ops",
            "/incident resolve incident:INC-1",
        ),
        // The next morning rpark takes over: a hand-over.
        say("09T08:00:00", "rpark", "ops", "/oncall start"),
        say("09T08:01:00", "svega", "ops", "/oncall who"),
        alert(
            "09T08:05:00",
            "LowStorage",
            "firing",
            "09T08:04:00",
            storage(),
        ),
        say(
            "09T08:10:00",
            "rpark",
            inc2,
            "checked `df -h /var/log`: 35% free",
        ),
        say(
            "09T08:30:00",
            "rpark",
            inc2,
            "/incident resolution text:\"Compliance cleared the rotated logs\" incident:INC-2",
        ),
        say(
            "09T08:31:00",
            "rpark",
            inc2,
            "/incident resolve incident:INC-2",
        ),
        alert(
            "09T09:15:00",
            "DNSNotAnswering",
            "firing",
            "09T09:14:00",
            json!({"server": "dns1"}),
        ),
        say("09T09:16:00", "rpark", "ops", "/ack incident:INC-3"),
        say("09T09:40:00", "rpark", "ops", "/oncall end"),
    ]
}

async fn run(app: &Warroom, lines: &[String]) -> Vec<String> {
    let mut replies = Vec::new();
    // Each call's lines are a transcript of their own.
    let identity = format!("{:x}", sha2::Sha256::digest(lines.join("\n").as_bytes()));
    replay(app, &lines.join("\n"), &identity, |_, o| {
        replies.push(o.reply.clone().unwrap_or_default())
    })
    .await
    .unwrap();
    replies
}

#[tokio::test]
async fn a_start_while_someone_is_on_call_is_a_hand_over() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    app.send_notices_to(tx);
    let replies = run(&app, &week()).await;
    assert_eq!(replies[0], "Glenn Hammer (@ghammer) is on call: shift 1");
    assert_eq!(
        replies[5],
        "Riley Park (@rpark) is on call: shift 2, taking over from Glenn Hammer (@ghammer) (shift 1 ended)"
    );
    assert_eq!(
        replies[6],
        "Riley Park (@rpark) is on call (shift 2, since 2021-03-09 08:00 UTC)"
    );
    let shifts = app.shifts().await.unwrap();
    assert_eq!(shifts.len(), 2);
    assert_eq!(shifts[0].handed_over_to.as_deref(), Some("rpark"));
    assert_eq!(
        shifts[0].ended_at.unwrap().to_rfc3339(),
        "2021-03-09T08:00:00+00:00"
    );
    assert_eq!(shifts[1].handed_over_from.as_deref(), Some("ghammer"));
    assert!(shifts[1].ended_at.is_some(), "ended by /oncall end");
    // The old shift's stream says how it ended.
    let first = app.ledger().read_stream("shift-1").await.unwrap();
    let types: Vec<&str> = first.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["ShiftStarted", "ShiftEnded"]);
    // Both ends are told to the chat front end, which posts the summaries.
    let mut ended = Vec::new();
    while let Ok(notice) = rx.try_recv() {
        if let Notice::ShiftEnded(n) = notice {
            ended.push(n);
        }
    }
    assert_eq!(ended, [1, 2]);
    // Starting again while on call is refused and says why.
    let again = run(
        &app,
        &[
            say("09T10:00:00", "rpark", "ops", "/oncall start"),
            say("09T10:01:00", "rpark", "ops", "/oncall start"),
        ],
    )
    .await;
    assert!(
        again[1].starts_with("rpark is already on call (shift 3"),
        "{}",
        again[1]
    );
}

#[tokio::test]
async fn the_summary_log_lists_each_alert_with_what_was_done_and_marks_recurring_ones() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    run(&app, &week()).await;
    let summary = app.oncall_summary(SummaryOf::Shift(Some(2))).await.unwrap();
    let md = warroom::domain::shift::render_markdown(&summary);
    assert!(md.starts_with("# On-call summary — shift 2 (rpark)\n\n2021-03-09 08:00 to 2021-03-09 09:40 (UTC); taken over from ghammer."), "{md}");
    let headings: Vec<&str> = md.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        headings,
        [
            "## 09.03.2021/08:04 -- Alert 1. LowStorage (recurring: 1 earlier, 2021-03-08)",
            "## 09.03.2021/09:14 -- Alert 2. DNSNotAnswering",
            "## Shift figures",
            "## Toil candidates",
        ],
        "{md}"
    );
    for expected in [
        "- 08:04 the alert LowStorage fired: LowStorage on the test host.",
        "- INC-2 “Low storage on the log mount” was opened.",
        "- The SOP sops/low-storage.md was attached.",
        "- 08:10 Riley Park: checked `df -h /var/log`: 35% free",
        "- Compliance cleared the rotated logs",
        "- Resolved at 08:31 after 27 minutes.",
        "- The SOP sops/dns-not-answering.md was attached.",
        "- Alerts: DNSNotAnswering ×1, LowStorage ×1",
        "- INC-3 acknowledged 1 minute after its first page",
        "- INC-2 acknowledged never",
        "- INC-2 lasted 27 minutes",
        "- INC-3 lasted until after the shift (unresolved)",
        "- The alert LowStorage recurs: 1 earlier firing (2021-03-08). Automate its fix or remove its cause.",
        "- `df -h /var/log` was typed by hand in 2 incidents (INC-1, INC-2): make it a runbook.",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
    // Shift 1 had no earlier firing to recur from, and its alert is not in shift 2's list.
    let first = app.oncall_summary(SummaryOf::Shift(Some(1))).await.unwrap();
    assert!(first.recurring.is_empty());
    assert_eq!(first.entries.len(), 1);
    // The same events give the same document; JSON carries the same facts.
    let again = app.oncall_summary(SummaryOf::Shift(Some(2))).await.unwrap();
    assert_eq!(warroom::domain::shift::render_markdown(&again), md);
    let json: serde_json::Value =
        serde_json::from_str(&warroom::domain::shift::render_json(&summary)).unwrap();
    assert_eq!(json["entries"][0]["name"], "LowStorage");
    assert_eq!(json["entries"][0]["incident"], "INC-2");
    assert_eq!(json["recurring"][0]["earlier"], 1);
    // A time range covering both days sees both low-storage firings and no recurrence.
    let range = app
        .oncall_summary(SummaryOf::Range {
            from: "2021-03-08T00:00:00Z".parse().unwrap(),
            to: "2021-03-10T00:00:00Z".parse().unwrap(),
        })
        .await
        .unwrap();
    assert_eq!(range.figures.alerts["LowStorage"], 2);
    assert!(range.recurring.is_empty());
}

#[tokio::test]
async fn the_summary_comes_from_the_command_line_and_chat_too() {
    let (dir, url) = common::fresh_sqlite_url();
    {
        let app = app(&url).await;
        run(&app, &week()).await;
        let replies = run(
            &app,
            &[say(
                "09T10:00:00",
                "svega",
                "ops",
                "/oncall summary shift:2",
            )],
        )
        .await;
        assert!(
            replies[0].contains("Alert 2. DNSNotAnswering"),
            "{}",
            replies[0]
        );
        let missing = run(
            &app,
            &[say(
                "09T10:01:00",
                "svega",
                "ops",
                "/oncall summary shift:9",
            )],
        )
        .await;
        assert_eq!(
            missing[0],
            "there is no shift 9; `/oncall start` starts one"
        );
        app.ledger().clone().close().await;
    }
    let out = common::warroom(
        dir.path(),
        &["--db", &url, "oncall-summary", "--shift", "2"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("## 09.03.2021/08:04 -- Alert 1. LowStorage (recurring"),
        "{md}"
    );
    let bad = common::warroom(
        dir.path(),
        &[
            "--db",
            &url,
            "oncall-summary",
            "--from",
            "yesterday",
            "--to",
            "2021-03-10T00:00:00Z",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr)
        .contains("--from: 'yesterday' is not an RFC 3339 time"));
}
