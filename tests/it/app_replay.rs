//! The use cases end to end through transcripts: the seed's outage, idempotent replays, the
//! lookback window, refusals, edits and deletes, on SQLite and (when enabled) PostgreSQL.

use crate::common;

use warroom::app::replay::replay;
use warroom::app::{Input, InputKind, Warroom};
use warroom::cli::DEMO_OUTAGE;
use warroom::config::Settings;
use warroom::domain::event::Event;
use warroom::domain::postmortem::{render_json, render_markdown};
use warroom::domain::types::{IncidentNumber, IncidentStatus};

use common::example_app as app;

async fn replay_text(
    app: &Warroom,
    text: &str,
    identity: &str,
) -> warroom::app::replay::ReplaySummary {
    replay(app, text, identity, |_, _| {}).await.unwrap()
}

fn line(at: &str, from: &str, text: &str) -> String {
    serde_json::json!({"at": format!("2021-03-09T{at}Z"), "from": from, "text": text}).to_string()
}

#[tokio::test]
async fn the_seed_outage_reads_like_the_seed_post_mortem() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let summary = replay_text(&app, DEMO_OUTAGE, "demo").await;
    assert_eq!(
        summary.incidents.iter().copied().collect::<Vec<_>>(),
        vec![IncidentNumber(1)]
    );
    let md = render_markdown(&app.postmortem(IncidentNumber(1)).await.unwrap());

    assert!(
        md.starts_with("# Application outage — 2021-03-09 09:15 (UTC)"),
        "{md}"
    );
    let headings: Vec<&str> = md.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        headings,
        warroom::domain::postmortem::SECTIONS.map(|s| format!("## {s}"))
    );
    // Every message of the seed's log, with its time and its author, verbatim; aliases resolved.
    for expected in [
        "09:15 — Susan Vega (@svega): Hey we have reports of an application outage and we can not reach the app either.",
        "09:30 — Bob Sparrow (@bsparrow): Everything looks good from the network",
        "09:52 — Glenn Hammer (@ghammer): Main app is back up.",
        "10:05 — Gal Tree (@gtree): !sre !ghammer when was the last deploy? What were the details? This looks like a qa build.",
        "10:13 — Susan Vega (@svega): Thats good. We should be able to just revert back then.",
        "10:30 — Susan Vega (@svega): Everything looks like it is responding now.",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
    let messages = DEMO_OUTAGE
        .lines()
        .filter(|l| l.contains("\"text\"") && !l.contains("\"/incident"))
        .count();
    let timeline: Vec<&str> = md
        .split("## Incident Timeline")
        .nth(1)
        .unwrap()
        .split("## Impact")
        .next()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("- "))
        .collect();
    assert!(
        timeline.len() > messages,
        "every message plus system events: {timeline:#?}"
    );
    assert!(
        md.contains("App is still not responding. (edited"),
        "the edit shows its final text"
    );
    assert!(md.contains("1 hour 15 minutes"), "{md}");
    // Stakeholders grouped by team, in the configuration's team order.
    let stakeholders = md
        .split("## Stakeholders")
        .nth(1)
        .unwrap()
        .split("## Incident Timeline")
        .next()
        .unwrap();
    let order: Vec<usize> = [
        "Customer Support",
        "Networking",
        "Ops",
        "Database Admin",
        "Development Team",
        "SRE",
    ]
    .iter()
    .map(|t| {
        stakeholders
            .find(&format!("- {t}\n"))
            .unwrap_or_else(|| panic!("team {t} missing in {stakeholders}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{stakeholders}");
    assert!(stakeholders.contains("Glenn Hammer (@ghammer)") && !stakeholders.contains("@hammer"));
    assert!(md.contains("Test every build in an environment like production before it is deployed"));
    // JSON: the keys of the contract, each statement traceable to an event.
    let json: serde_json::Value = serde_json::from_str(&render_json(
        &app.postmortem(IncidentNumber(1)).await.unwrap(),
    ))
    .unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    for key in [
        "id",
        "title",
        "severity",
        "started_at",
        "resolved_at",
        "closed_at",
        "duration_minutes",
        "stakeholders",
        "timeline",
        "impact",
        "resolution",
        "action_plan",
    ] {
        assert!(keys.iter().any(|k| *k == key), "missing key {key}");
    }
    assert_eq!(json["duration_minutes"], 75);
    assert!(json["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["event_id"].is_string()));
    assert_eq!(json["action_plan"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn replaying_the_same_transcript_twice_adds_nothing() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let first = replay_text(&app, DEMO_OUTAGE, "same-file").await;
    let head = app.ledger().head().await.unwrap();
    let before = render_markdown(&app.postmortem(IncidentNumber(1)).await.unwrap());
    let second = replay_text(&app, DEMO_OUTAGE, "same-file").await;
    assert!(first.events > 40);
    assert_eq!(second.events, 0);
    assert_eq!(
        second.already_recorded, second.lines,
        "the demo has no read-only lines: every line was recorded before"
    );
    assert_eq!(app.ledger().head().await.unwrap(), head);
    assert_eq!(app.incidents().await.unwrap().len(), 1);
    assert_eq!(
        render_markdown(&app.postmortem(IncidentNumber(1)).await.unwrap()),
        before
    );
    // A restarted process (projection rebuilt from the ledger) agrees too.
    let again = app_on(app).await;
    assert_eq!(
        replay_text(&again, DEMO_OUTAGE, "same-file").await.events,
        0
    );
}

async fn app_on(previous: Warroom) -> Warroom {
    Warroom::start(previous.ledger().clone(), Settings::example().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_lookback_window_brings_earlier_messages_and_nothing_said_is_lost() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let transcript = [
        line("08:40:00", "khouse", "too early to join: 37 minutes before the open"),
        line("08:50:00", "svega", "the shop feels slow"),
        serde_json::json!({"at": "2021-03-09T09:00:00Z", "from": "gtree", "text": "in another channel", "channel": "dev"}).to_string(),
        line("09:17:00", "rpark", "/incident open title:\"Checkout slow\" severity:sev2"),
        line("09:18:00", "svega", "still slow"),
        line("09:30:00", "rpark", "/incident close"),
        line("09:31:00", "svega", "after the close"),
    ]
    .join("\n");
    let summary = replay_text(&app, &transcript, "lookback").await;
    assert_eq!(summary.lines, 7);
    let md = render_markdown(&app.postmortem(IncidentNumber(1)).await.unwrap());
    assert!(
        md.contains("08:50 — Susan Vega (@svega): the shop feels slow"),
        "{md}"
    );
    assert!(md.contains("still slow"));
    assert!(
        !md.contains("too early to join")
            && !md.contains("in another channel")
            && !md.contains("after the close")
    );
    // What was said outside the incident is still in the ledger, in the channels' streams.
    let ops = app.ledger().read_stream("channel-ops").await.unwrap();
    let texts: Vec<String> = ops.iter().map(|e| e.payload.clone()).collect();
    assert!(texts.iter().any(|t| t.contains("too early to join")));
    assert!(texts.iter().any(|t| t.contains("after the close")));
    assert_eq!(
        app.ledger().read_stream("channel-dev").await.unwrap().len(),
        1
    );
    let incident = &app.incidents().await.unwrap()[0];
    assert_eq!(incident.status, IncidentStatus::Closed);
}

#[tokio::test]
async fn a_reply_in_the_alerts_channel_follows_the_report_its_incident_imported() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    // The demo's first lines: svega's report in #ops, then the alert that opens INC-1 in a
    // channel of its own and imports the report (its lookback).
    let opening: Vec<&str> = DEMO_OUTAGE.lines().take(2).collect();
    let say = |at: &str, from: &str, text: &str, extra: serde_json::Value| {
        let mut line =
            serde_json::json!({"at": format!("2021-03-09T{at}Z"), "from": from, "text": text});
        line.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        line.to_string()
    };
    let transcript = [
        opening[0].to_string(),
        opening[1].to_string(),
        say(
            "09:16:00",
            "rpark",
            "I have an alert for that too",
            serde_json::json!({"id": "r1", "reply_to": "m01"}),
        ),
        say(
            "09:16:10",
            "rpark",
            "I have an alert for that too, looking",
            serde_json::json!({"edits": "r1"}),
        ),
        say(
            "09:16:20",
            "khouse",
            "lunch at noon?",
            serde_json::json!({"id": "l1"}),
        ),
        say(
            "09:16:30",
            "gtree",
            "yes",
            serde_json::json!({"id": "l2", "reply_to": "l1"}),
        ),
        say(
            "09:16:40",
            "gtree",
            "what?",
            serde_json::json!({"id": "l3", "reply_to": "never-seen"}),
        ),
        say(
            "09:17:00",
            "rpark",
            "/incident close",
            serde_json::json!({"channel": "inc-1-application-outage"}),
        ),
        say(
            "09:18:00",
            "svega",
            "is it over?",
            serde_json::json!({"id": "l4", "reply_to": "m01"}),
        ),
    ]
    .join("\n");
    replay_text(&app, &transcript, "replies").await;
    let texts = |stream: &str| {
        let ledger = app.ledger().clone();
        let stream = stream.to_string();
        async move {
            ledger
                .read_stream(&stream)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.event_type.starts_with("Message"))
                .map(|e| e.payload)
                .collect::<Vec<String>>()
                .join("\n")
        }
    };
    let incident = texts("incident-1").await;
    let ops = texts("channel-ops").await;
    // The answer to the imported report is part of the incident, and its edit follows it.
    assert!(
        incident.contains("\"text\":\"I have an alert for that too\""),
        "{incident}"
    );
    assert!(
        incident.contains("I have an alert for that too, looking"),
        "{incident}"
    );
    assert!(!ops.contains("I have an alert for that too"), "{ops}");
    // Replies to #ops's own chatter, to an unknown message, and after the close stay in #ops.
    for said in ["lunch at noon?", "\"yes\"", "what?", "is it over?"] {
        assert!(ops.contains(said), "{said} not in #ops: {ops}");
        assert!(
            !incident.contains(said),
            "{said} in the incident: {incident}"
        );
    }
    let md = render_markdown(&app.postmortem(IncidentNumber(1)).await.unwrap());
    assert!(
        md.contains(
            "09:16 — Riley Park (@rpark): I have an alert for that too, looking (edited 09:16)"
        ),
        "{md}"
    );
}

#[tokio::test]
async fn the_lookback_reads_a_long_channel_only_as_far_back_as_the_window() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let at = |minute: i64, second: i64| {
        chrono::DateTime::parse_from_rfc3339("2021-03-09T08:00:00Z")
            .unwrap()
            .to_utc()
            + chrono::Duration::minutes(minute)
            + chrono::Duration::seconds(second)
    };
    let say = |key: String, when, text: String| Input {
        key,
        at: when,
        from: "svega".into(),
        channel: "ops".into(),
        caller: Default::default(),
        kind: InputKind::Message {
            text,
            message_id: None,
            reply_to: None,
            attachments: vec![],
        },
    };
    // 400 old messages (08:00-08:40), then 300 inside the window (09:01-09:26), then the open.
    for i in 0..400 {
        app.handle(say(
            format!("old{i}"),
            at(i / 10, i % 10 * 6),
            format!("old {i}"),
        ))
        .await
        .unwrap();
    }
    for i in 0..300 {
        app.handle(say(
            format!("new{i}"),
            at(61 + i / 12, i % 12 * 5),
            format!("recent {i}"),
        ))
        .await
        .unwrap();
    }
    let opened = app
        .handle(say(
            "open".into(),
            at(90, 0),
            "/incident open title:\"Slow shop\"".into(),
        ))
        .await
        .unwrap();
    assert!(opened.reply.unwrap().contains("300 earlier event(s)"));
    let records = app.incident_records(IncidentNumber(1)).await.unwrap();
    let imported: Vec<String> = records
        .iter()
        .filter_map(|r| match r.event.unwrapped() {
            Event::MessagePosted(m) => Some(m.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(imported.len(), 300);
    assert_eq!(imported.first().map(String::as_str), Some("recent 0"));
    assert_eq!(imported.last().map(String::as_str), Some("recent 299"));
}

#[tokio::test]
async fn bad_commands_get_usage_replies_and_are_recorded() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let transcript = [
        line("09:00:00", "rpark", "/incident resolve"),
        line(
            "09:01:00",
            "rpark",
            "/incident open title:\"Outage\" severity:p1",
        ),
        line(
            "09:02:00",
            "rpark",
            "/incident open title:\"Outage\" severity:sev1",
        ),
        line("09:03:00", "rpark", "/incident open title:\"Second\""),
        line("09:04:00", "rpark", "/incident update text:App is down"),
        line("09:05:00", "rpark", "/incident close"),
        line(
            "09:06:00",
            "rpark",
            "/incident severity severity:sev2 incident:INC-1",
        ),
        line("09:07:00", "rpark", "/incident frobnicate"),
    ]
    .join("\n");
    let mut replies = Vec::new();
    replay(&app, &transcript, "bad", |_, outcome| {
        replies.push(outcome.reply.clone().unwrap_or_default())
    })
    .await
    .unwrap();
    assert_eq!(
        replies[0],
        "#ops has no open incident; name one with incident:INC-N, or start one with /incident open"
    );
    assert!(
        replies[1].starts_with("unknown severity 'p1'; use sev1–sev4. Usage: /incident open"),
        "{}",
        replies[1]
    );
    assert!(replies[2].starts_with("INC-1 opened"));
    assert!(
        replies[3].contains("#ops already has INC-1 open"),
        "{}",
        replies[3]
    );
    assert!(
        replies[4].contains("quote values with spaces"),
        "{}",
        replies[4]
    );
    assert!(
        replies[5].contains("was not resolved; resolved it first") && replies[5].contains("closed"),
        "{}",
        replies[5]
    );
    assert_eq!(replies[6], "INC-1 is closed; /incident reopen first");
    assert!(replies[7].starts_with("unknown command '/incident frobnicate'"));
    // Every refusal is in the ledger, with the command and the reason.
    let mut rejected = 0;
    for stream in ["channel-ops", "incident-1"] {
        for e in app.ledger().read_stream(stream).await.unwrap() {
            if e.event_type == "CommandRejected" {
                rejected += 1;
            }
        }
    }
    assert_eq!(rejected, 6);
    assert_eq!(
        app.incidents().await.unwrap().len(),
        1,
        "no second incident was opened"
    );
}

#[tokio::test]
async fn edits_and_deletes_keep_the_original_in_the_ledger() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let at = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(&format!("2021-03-09T{t}Z"))
            .unwrap()
            .to_utc()
    };
    let input = |key: &str, t: &str, kind: InputKind| Input {
        key: key.into(),
        at: at(t),
        from: "svega".into(),
        channel: "ops".into(),
        caller: Default::default(),
        kind,
    };
    let msg = |text: &str, id: &str| InputKind::Message {
        text: text.into(),
        message_id: Some(id.into()),
        reply_to: None,
        attachments: vec![],
    };
    app.handle(input("a", "09:00:00", msg("before the incident", "m0")))
        .await
        .unwrap();
    app.handle(input(
        "b",
        "09:01:00",
        InputKind::Edit {
            message_id: "m0".into(),
            text: "before the incident, edited".into(),
            found_at: None,
        },
    ))
    .await
    .unwrap();
    app.handle(input(
        "c",
        "09:02:00",
        msg("/incident open title:Outage", "cmd"),
    ))
    .await
    .unwrap();
    app.handle(input("d", "09:03:00", msg("my password is hunter2", "m1")))
        .await
        .unwrap();
    app.handle(input(
        "e",
        "09:04:00",
        InputKind::Delete {
            message_id: "m1".into(),
            found_at: None,
        },
    ))
    .await
    .unwrap();
    app.handle(input(
        "f",
        "09:05:00",
        InputKind::Edit {
            message_id: "m0".into(),
            text: "edited again inside".into(),
            found_at: None,
        },
    ))
    .await
    .unwrap();
    // A message said after the last edit, then edited twice: each edit states the text it
    // replaces, the second the first edit's (the incident kept folded between edits is
    // brought forward by what was appended since).
    app.handle(input("g", "09:06:00", msg("first words", "m2")))
        .await
        .unwrap();
    for (key, t, text) in [
        ("h", "09:07:00", "second words"),
        ("i", "09:08:00", "third words"),
    ] {
        app.handle(input(
            key,
            t,
            InputKind::Edit {
                message_id: "m2".into(),
                text: text.into(),
                found_at: None,
            },
        ))
        .await
        .unwrap();
    }
    // Redelivery of the same input adds nothing.
    let again = app
        .handle(input("d", "09:03:00", msg("my password is hunter2", "m1")))
        .await
        .unwrap();
    assert!(again.already_recorded);

    let records = app.incident_records(IncidentNumber(1)).await.unwrap();
    let edits: Vec<(Option<String>, String)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::MessageEdited { before, after, .. } => Some((before.clone(), after.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        edits[1..],
        [
            (Some("first words".into()), "second words".into()),
            (Some("second words".into()), "third words".into())
        ]
    );
    let edited = edits.first().cloned();
    assert_eq!(
        edited,
        Some((
            Some("before the incident, edited".into()),
            "edited again inside".into()
        ))
    );
    assert!(records.iter().any(
        |r| matches!(&r.event, Event::MessagePosted(m) if m.text == "my password is hunter2")
    ));
    let md = render_markdown(&app.postmortem(IncidentNumber(1)).await.unwrap());
    assert!(md.contains("[message deleted 09:04]"), "{md}");
    assert!(!md.contains("hunter2"));
    assert!(md.contains("edited again inside"));
    // The edit before the open is in the channel stream with the text it replaced.
    let channel = app.ledger().read_stream("channel-ops").await.unwrap();
    assert!(channel.iter().any(|e| e.event_type == "MessageEdited"
        && e.payload.contains("\"before\":\"before the incident\"")));
}

#[tokio::test]
async fn a_bad_transcript_line_is_named_and_nothing_is_replayed() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let transcript = format!(
        "{}\n{}\n{{\"at\":\"2021-03-09T09:02:00Z\",\"alert\":{{\"source\":\"alertmanager\",\"body\":{{\"alerts\":[{{\"status\":\"firing\",\"labels\":{{}}}}]}}}}}}",
        line("09:00:00", "svega", "hello"),
        line("09:01:00", "svega", "world")
    );
    let err = replay(&app, &transcript, "broken", |_, _| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("line 3: alertmanager alert body"),
        "{err}"
    );
    assert!(err.to_string().contains("alertname"));
    assert_eq!(app.ledger().head().await.unwrap(), 0);
}

#[tokio::test]
async fn the_demo_gives_the_same_post_mortem_on_postgresql() {
    let Some(pg) = common::fresh_postgres_url().await else {
        return;
    };
    let (_dir, sqlite) = common::fresh_sqlite_url();
    let mut documents = Vec::new();
    for url in [sqlite, pg] {
        let app = app(&url).await;
        replay_text(&app, DEMO_OUTAGE, "demo").await;
        assert_eq!(replay_text(&app, DEMO_OUTAGE, "demo").await.events, 0);
        let pm = app.postmortem(IncidentNumber(1)).await.unwrap();
        documents.push((render_markdown(&pm), render_json(&pm)));
        assert!(app.ledger().verify().await.unwrap().problem.is_none());
    }
    assert_eq!(documents[0].0, documents[1].0);
    // Event ids, times and texts agree too; only positions could differ, and they do not.
    assert_eq!(documents[0].1, documents[1].1);
}

/// Two instances on one store open incidents at the same time: numbers stay gapless and
/// unique, because a number is taken only by a successful append to its new stream.
async fn concurrent_opens_get_gapless_numbers(url: &str) {
    let apps = [
        std::sync::Arc::new(app(url).await),
        std::sync::Arc::new(app(url).await),
    ];
    let mut tasks = Vec::new();
    for i in 0..16 {
        let app = apps[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let input = Input {
                key: format!("open-{i}"),
                at: chrono::Utc::now(),
                from: "rpark".into(),
                channel: format!("room-{i}"),
                caller: Default::default(),
                kind: InputKind::Message {
                    text: format!("/incident open title:\"Outage {i}\""),
                    message_id: None,
                    reply_to: None,
                    attachments: vec![],
                },
            };
            app.handle(input)
                .await
                .unwrap()
                .incident
                .expect("an incident was opened")
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap().0);
    }
    numbers.sort();
    assert_eq!(numbers, (1..=16).collect::<Vec<u64>>());
    assert_eq!(apps[0].incidents().await.unwrap().len(), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_get_gapless_numbers_on_sqlite() {
    let (_dir, url) = common::fresh_sqlite_url();
    concurrent_opens_get_gapless_numbers(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_get_gapless_numbers_on_postgresql() {
    let Some(url) = common::fresh_postgres_url().await else {
        return;
    };
    concurrent_opens_get_gapless_numbers(&url).await;
}

#[tokio::test]
async fn chat_roles_decide_who_may_run_a_command_and_refusals_are_recorded() {
    use warroom::app::Caller;
    use warroom::domain::access::Access;
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let at = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(&format!("2021-03-09T{t}Z"))
            .unwrap()
            .to_utc()
    };
    let chat = |key: &str, t: &str, from: &str, access: Access, text: &str| Input {
        key: key.into(),
        at: at(t),
        from: from.into(),
        channel: "ops".into(),
        caller: Caller {
            access: Some(access),
            dedicated_channel: true,
            plain_text: false,
            incident_channels_only: false,
        },
        kind: InputKind::Message {
            text: text.into(),
            message_id: Some(key.into()),
            reply_to: None,
            attachments: vec![],
        },
    };
    app.handle(chat(
        "m1",
        "09:00:00",
        "svega",
        Access::Viewer,
        "site is slow",
    ))
    .await
    .unwrap();
    let refused = app
        .handle(chat(
            "m2",
            "09:01:00",
            "svega",
            Access::Viewer,
            "/incident open title:\"DB down\"",
        ))
        .await
        .unwrap();
    assert!(refused.refused);
    assert!(
        refused
            .reply
            .as_deref()
            .unwrap()
            .contains("needs the responder role"),
        "{refused:?}"
    );
    assert!(app.incidents().await.unwrap().is_empty());

    // A responder opens it: the incident gets a channel of its own, and the lookback of the
    // channel it was opened in.
    let opened = app
        .handle(chat(
            "m3",
            "09:02:00",
            "rpark",
            Access::Responder,
            "/incident open title:\"DB down\" severity:sev2",
        ))
        .await
        .unwrap();
    assert!(!opened.refused);
    let incidents = app.incidents().await.unwrap();
    assert_eq!(incidents[0].channel, "inc-1-db-down");
    // Closing needs sre: refused for the responder, and the refusal is in the incident.
    let mut close = chat(
        "m4",
        "09:03:00",
        "rpark",
        Access::Responder,
        "/incident close incident:INC-1",
    );
    close.channel = "inc-1-db-down".into();
    assert!(app.handle(close).await.unwrap().refused);
    let records = app.incident_records(IncidentNumber(1)).await.unwrap();
    assert!(records.iter().any(|r| matches!(&r.event,
        Event::Imported { event, .. } if matches!(event.as_ref(), Event::MessagePosted(m) if m.text == "site is slow"))));
    assert!(records.iter().any(|r| matches!(&r.event,
        Event::CommandRejected { reason, .. } if reason.contains("needs the sre role"))));
    let mut close = chat("m5", "09:04:00", "ghammer", Access::Sre, "/incident close");
    close.channel = "inc-1-db-down".into();
    assert!(!app.handle(close).await.unwrap().refused);
    assert_eq!(
        app.incidents().await.unwrap()[0].status,
        IncidentStatus::Closed
    );
}

#[tokio::test]
async fn runbook_runs_are_confirmed_by_the_requester_and_approved_by_someone_else() {
    use warroom::app::Caller;
    use warroom::domain::access::Access;
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let at = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(&format!("2021-03-09T{t}Z"))
            .unwrap()
            .to_utc()
    };
    let n = std::sync::atomic::AtomicUsize::new(0);
    let say = |from: &str, t: &str, text: &str, access: Option<Access>| Input {
        key: format!(
            "line-{}",
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        at: at(t),
        from: from.into(),
        channel: "ops".into(),
        caller: Caller {
            access,
            ..Caller::default()
        },
        kind: InputKind::Message {
            text: text.into(),
            message_id: None,
            reply_to: None,
            attachments: vec![],
        },
    };
    let reply = |o: warroom::app::Outcome| (o.refused, o.reply.unwrap_or_default());
    app.handle(say(
        "rpark",
        "09:00:00",
        "/incident open title:\"App down\"",
        None,
    ))
    .await
    .unwrap();

    // Parameters are checked whole; a refusal says why and is recorded.
    let (refused, why) = reply(
        app.handle(say(
            "rpark",
            "09:01:00",
            "/restart app service:\"x; rm -rf /\"",
            None,
        ))
        .await
        .unwrap(),
    );
    assert!(
        refused && why.contains("service: the value does not match"),
        "{why}"
    );
    // The runbook's role: /failover dns needs sre.
    let (refused, why) = reply(
        app.handle(say(
            "gtree",
            "09:01:30",
            "/failover dns",
            Some(Access::Responder),
        ))
        .await
        .unwrap(),
    );
    assert!(
        refused && why.contains("/failover dns needs the sre role"),
        "{why}"
    );

    let (refused, why) = reply(
        app.handle(say(
            "rpark",
            "09:02:00",
            "/restart app service:exoticplant-api",
            None,
        ))
        .await
        .unwrap(),
    );
    assert!(
        !refused
            && why.contains("/restart app is run 1 of INC-1")
            && why.contains("Reply `confirm`"),
        "{why}"
    );
    // Someone else saying confirm is just a message.
    let (_, other) = reply(
        app.handle(say("gtree", "09:02:30", "confirm", None))
            .await
            .unwrap(),
    );
    assert!(other.is_empty(), "{other}");
    let (_, confirmed) = reply(
        app.handle(say("rpark", "09:03:00", "Confirm", None))
            .await
            .unwrap(),
    );
    assert!(
        confirmed.contains("Run 1 confirmed. Run 1 is queued"),
        "{confirmed}"
    );

    // /cleanup logs needs Compliance's approval, never the requester's own.
    let (_, asked) = reply(
        app.handle(say("ghammer", "09:04:00", "/cleanup logs days:14", None))
            .await
            .unwrap(),
    );
    assert!(
        asked.contains("needs approval by someone in Compliance: /approve run:2"),
        "{asked}"
    );
    let (refused, why) = reply(
        app.handle(say("ghammer", "09:04:30", "/approve run:2", None))
            .await
            .unwrap(),
    );
    assert!(
        refused && why.contains("approval must come from someone else"),
        "{why}"
    );
    let (refused, why) = reply(
        app.handle(say("svega", "09:05:00", "/approve", None))
            .await
            .unwrap(),
    );
    assert!(
        refused && why.contains("needs approval by someone in Compliance; you are not"),
        "{why}"
    );
    let (_, confirmed) = reply(
        app.handle(say("ghammer", "09:05:30", "/confirm", None))
            .await
            .unwrap(),
    );
    assert_eq!(
        confirmed, "Run 2 confirmed.",
        "not queued before the approval"
    );
    let (refused, approved) = reply(
        app.handle(say("mlopez", "09:06:00", "/approve run:2", None))
            .await
            .unwrap(),
    );
    assert!(
        !refused && approved.contains("Run 2 approved by mlopez. Run 2 is queued"),
        "{approved}"
    );

    let records = app.incident_records(IncidentNumber(1)).await.unwrap();
    let runs = warroom::domain::run::runs(&records);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].params["service"], "exoticplant-api");
    assert_eq!(runs[1].params["days"], "14");
    assert_eq!(
        runs[1].params["dir"], "/var/log/exoticplant",
        "defaults fill the rest"
    );
    assert!(runs
        .iter()
        .all(|r| matches!(r.state, warroom::domain::run::RunState::Queued { .. })));
    assert_eq!(
        records
            .iter()
            .filter(|r| matches!(&r.event, Event::CommandRejected { .. }))
            .count(),
        4
    );
    // Folded: the run is one line saying who asked, confirmed and approved, and where it is.
    let md = render_markdown(&app.postmortem(IncidentNumber(1)).await.unwrap());
    assert!(md.contains("Glenn Hammer (@ghammer) ran /cleanup logs days:14 dir:/var/log/exoticplant keep_days:90 (run 2, approved by Maya Lopez (@mlopez)): queued; no agent had taken it by the last recorded event ["), "{md}");
    assert!(!md.contains("approved run 2"), "{md}");
    // In full, each event of the run has its line.
    let full = render_markdown(
        &app.postmortem_in(IncidentNumber(1), warroom::domain::postmortem::Detail::Full)
            .await
            .unwrap(),
    );
    assert!(full.contains("Glenn Hammer (@ghammer) asked for run 2: /cleanup logs days:14 dir:/var/log/exoticplant keep_days:90 (waits for their confirmation and approval by someone in Compliance)"), "{full}");
    assert!(
        full.contains("Maya Lopez (@mlopez) approved run 2"),
        "{full}"
    );
    assert!(
        full.contains("@warroom run 2 queued for an agent"),
        "{full}"
    );
}

#[tokio::test]
async fn the_demo_runs_its_restart_and_redeploy_once_on_the_local_agent() {
    use warroom::app::replay::replay_with_agents;
    let (dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let host = dir.path().join("host");
    let mut agents = warroom::demo::local_agents(&host, app.settings()).unwrap();
    let first = replay_with_agents(&app, DEMO_OUTAGE, "demo", &mut agents, |_, _| {})
        .await
        .unwrap();
    assert_eq!(first.jobs, 2);
    // Replayed again, nothing is queued anew and nothing runs twice on the host.
    let again = replay_with_agents(&app, DEMO_OUTAGE, "demo", &mut agents, |_, _| {})
        .await
        .unwrap();
    assert_eq!((again.jobs, again.events), (0, 0));
    let calls = std::fs::read_to_string(host.join("planthost1/calls")).unwrap();
    assert_eq!(calls.matches("systemctl stop").count(), 2, "{calls}");
    assert_eq!(
        calls
            .matches("deployctl install -- exoticplant 2.0.0")
            .count(),
        1
    );

    // Each run is claimed when it is confirmed, on the transcript's clock, and its reports
    // follow in order.
    let events = app.ledger().read_stream("incident-1").await.unwrap();
    let claimed: Vec<String> = events
        .iter()
        .filter(|e| e.event_type == "RunbookClaimed")
        .map(|e| e.occurred_at.format("%H:%M:%S").to_string())
        .collect();
    assert_eq!(claimed, ["09:43:30", "10:15:30"]);
    // The host's simulated time: the restart is down at 09:45 and answers at 09:47, the
    // redeploy is down at 10:17 and answers at 10:23, as in the seed's log.
    let at = |event_type: &str, step: Option<&str>| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.event_type == event_type)
            .filter(|e| step.is_none_or(|s| e.payload.contains(&format!("\"step\":\"{s}\""))))
            .map(|e| e.occurred_at.format("%H:%M:%S").to_string())
            .collect()
    };
    assert_eq!(at("RunbookFinished", None), ["09:47:00", "10:23:00"]);
    assert_eq!(
        at("RunbookStepFinished", Some("stop")),
        ["09:45:00", "10:17:00"]
    );
    let run_events: Vec<_> = events
        .iter()
        .filter(|e| e.event_type.starts_with("Runbook"))
        .collect();
    assert!(run_events
        .windows(2)
        .all(|w| w[0].occurred_at <= w[1].occurred_at));
    let finished: Vec<String> = events
        .iter()
        .filter(|e| e.event_type == "RunbookFinished")
        .map(|e| {
            let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
            payload["outcome"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(finished, ["succeeded", "succeeded"]);
}

#[tokio::test]
async fn an_agent_without_the_labels_a_runbook_asks_for_takes_nothing() {
    use warroom::agent::local::LocalAgent;
    use warroom::agent::runner::Site;
    use warroom::app::replay::replay_with_agents;
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let dns_host = warroom::config::AgentSettings {
        name: "dnshost1".into(),
        token_sha256: [0; 32],
        labels: [("role".to_string(), "dns".to_string())].into(),
    };
    let site = Site {
        programs: Default::default(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        output_limit: 1024,
        redact: vec![],
        url_hosts: vec![],
    };
    let mut agents = [LocalAgent::new(dns_host, &app.settings().runbooks, site)];
    let summary = replay_with_agents(&app, DEMO_OUTAGE, "demo", &mut agents, |_, _| {})
        .await
        .unwrap();
    assert_eq!(summary.jobs, 0);
    let events = app.ledger().read_stream("incident-1").await.unwrap();
    assert!(!events.iter().any(|e| e.event_type == "RunbookClaimed"));
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event_type == "RunbookQueued")
            .count(),
        2
    );
}

#[tokio::test]
async fn follow_up_actions_are_done_after_the_close_and_listed_across_incidents() {
    let (dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let transcript = [
        line("09:00:00", "rpark", "/incident open title:\"App down\""),
        line(
            "09:01:00",
            "rpark",
            "/incident action text:\"Test builds first\" owner:@hammer due:2021-03-08",
        ),
        line(
            "09:02:00",
            "rpark",
            "/incident action text:\"Automate deploys\" owner:@ghammer due:2021-04-30",
        ),
        line("09:03:00", "rpark", "/incident close"),
        line("09:04:00", "ghammer", "/action done id:INC-1/A1"),
        line("09:05:00", "ghammer", "/action done id:INC-1/A1"),
        line("09:06:00", "ghammer", "/action done id:INC-1/A7"),
        line("09:07:00", "ghammer", "/actions owner:@ghammer"),
    ]
    .join("\n");
    let mut replies = Vec::new();
    replay(&app, &transcript, "followups", |_, outcome| {
        replies.push(outcome.reply.clone().unwrap_or_default())
    })
    .await
    .unwrap();
    assert_eq!(replies[4], "Action INC-1/A1 is done.", "{replies:#?}");
    assert!(
        replies[5].contains("action A1 of INC-1 is already done"),
        "{}",
        replies[5]
    );
    assert!(
        replies[6].contains("INC-1 has no action A7; its actions are A1 to A2"),
        "{}",
        replies[6]
    );
    assert_eq!(
        replies[7], "INC-1/A2  open, due 2021-04-30  @ghammer  Automate deploys\n",
        "open ones only, by owner"
    );
    let md = render_markdown(&app.postmortem(IncidentNumber(1)).await.unwrap());
    assert!(
        md.contains("- A1: Test builds first — owner: Glenn Hammer (@ghammer), due 2021-03-08, done 2021-03-09 ["),
        "{md}"
    );
    assert!(
        md.contains("Glenn Hammer (@ghammer) marked action A1 done ["),
        "{md}"
    );
    app.ledger().clone().close().await;

    // The CLI lists them too, the overdue ones marked, and as JSON with full ids.
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/warroom.toml");
    let out = common::warroom(dir.path(), &["--db", &url, "--config", config, "actions"]);
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let listed = common::text(&out.stdout);
    assert!(
        listed.contains("INC-1/A1  done 2021-03-09  @ghammer  Test builds first"),
        "{listed}"
    );
    assert!(
        listed.contains("INC-1/A2  OVERDUE (due 2021-04-30)  @ghammer  Automate deploys"),
        "today is past its due date: {listed}"
    );
    let out = common::warroom(
        dir.path(),
        &[
            "--db", &url, "--config", config, "actions", "--open", "--owner", "@hammer",
            "--format", "json",
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json[0]["id"], "INC-1/A2");
    assert_eq!(json[0]["overdue"], true);
    assert!(
        json[0]["action"]["event_id"].as_str().unwrap().len() == 36,
        "{json}"
    );
}

#[tokio::test]
async fn events_recorded_late_take_their_place_in_the_post_mortem() {
    // Events seen late (warroom away, a transcript out of order) are appended after later
    // ones but happened before them: the post-mortem reads the incident in time order, so
    // the severity set last in time is the incident's, whatever was recorded last.
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let start = chrono::Utc::now() - chrono::Duration::minutes(30);
    for (key, minutes, text) in [
        (
            "1",
            0,
            "/incident open title:\"Checkout down\" severity:sev3",
        ),
        ("2", 5, "second, said at five"),
        ("3", 9, "/incident severity severity:sev1"),
        ("4", 2, "first, said at two, seen late"),
        ("5", 3, "/incident severity severity:sev2"),
        ("6", 10, "third, said at ten"),
    ] {
        let mut line = common::console_line(key, "rpark", text);
        line.at = start + chrono::Duration::minutes(minutes);
        app.handle(line).await.unwrap();
    }
    let pm = app.postmortem(IncidentNumber(1)).await.unwrap();
    assert_eq!(pm.severity, warroom::domain::types::Severity::Sev1);
    let lines: Vec<&str> = pm
        .timeline
        .iter()
        .filter(|e| e.kind == "message" || e.kind == "severity")
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(lines[0], "first, said at two, seen late");
    assert!(lines[1].contains("sev2"), "{lines:?}");
    assert_eq!(lines[2], "second, said at five");
    assert!(lines[3].contains("sev1"), "{lines:?}");
    assert_eq!(lines[4], "third, said at ten");
}

/// Runs nothing: given to a replay, it keeps every line handled one at a time, as replays
/// were before lines were queued, which the queued replay must match.
struct OneLineAtATime;

#[async_trait::async_trait]
impl warroom::app::replay::JobWorker for OneLineAtATime {
    async fn work(
        &mut self,
        _: &Warroom,
        _: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<usize> {
        Ok(0)
    }
}

/// What a ledger holds, without the commit times (and so the hashes) that differ by run.
async fn recorded(app: &Warroom) -> Vec<String> {
    let mut rows = Vec::new();
    let mut after = 0;
    loop {
        let page = app.ledger().read_all(after, 5000).await.unwrap();
        let Some(last) = page.last() else {
            return rows;
        };
        after = last.position;
        rows.extend(page.iter().map(|e| {
            format!(
                "{} {} {} {} {} {} {} {}",
                e.position,
                e.stream_id,
                e.stream_version,
                e.event_id,
                e.event_type,
                e.occurred_at.to_rfc3339(),
                e.actor,
                e.payload
            )
        }));
    }
}

/// A replay with many lines in flight records exactly what a replay of one line at a time
/// does — the same events, in the same streams, at the same positions — reports every line
/// once and in order, and a second run finds every line already recorded. The transcripts
/// hold replies that follow an imported message into its incident (the seed's outage),
/// replies in bound and unbound channels, edits and deletes of the lines just before them.
async fn queued_replay_records_what_a_line_at_a_time_replay_does(queued: &str, serial: &str) {
    let (fast, slow) = (app(queued).await, app(serial).await);
    // One after the other on the same stores: the second starts where the first left off.
    for (identity, text) in [
        ("outage", DEMO_OUTAGE.to_string()),
        ("long", warroom::bench::replay::transcript(3_000)),
    ] {
        let mut seen = Vec::new();
        let summary = replay(&fast, &text, identity, |line, _| seen.push(line.line))
            .await
            .unwrap();
        let expected = warroom::app::replay::replay_with_agents(
            &slow,
            &text,
            identity,
            &mut [OneLineAtATime],
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(summary, expected, "{identity}");
        let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
        assert_eq!(seen, (1..=lines).collect::<Vec<_>>(), "{identity}");
        let (queued_rows, serial_rows) = (recorded(&fast).await, recorded(&slow).await);
        assert!(queued_rows.len() > lines / 2, "{identity}");
        assert_eq!(queued_rows, serial_rows, "{identity}");
        let again = replay_text(&fast, &text, identity).await;
        assert_eq!(again.already_recorded, again.lines, "{identity}");
        assert_eq!(again.events, 0, "{identity}");
        assert_eq!(recorded(&fast).await, serial_rows, "{identity}");
    }
    fast.ledger().clone().close().await;
    slow.ledger().clone().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_replay_records_what_a_line_at_a_time_replay_does_on_sqlite() {
    let ((_a, queued), (_b, serial)) = (common::fresh_sqlite_url(), common::fresh_sqlite_url());
    queued_replay_records_what_a_line_at_a_time_replay_does(&queued, &serial).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_replay_records_what_a_line_at_a_time_replay_does_on_postgres() {
    let Some(queued) = common::fresh_postgres_url().await else {
        return;
    };
    let serial = common::fresh_postgres_url()
        .await
        .expect("a second database");
    queued_replay_records_what_a_line_at_a_time_replay_does(&queued, &serial).await;
}
