//! `warroom show REF`: the event behind a post-mortem's `[1a2b3c4d]`, printed whole with the
//! chain verified up to it; ambiguous, unknown and malformed references refused with exit 2;
//! a row rewritten in SQL at or before the event makes it exit 1.

use crate::common;

use common::{text, warroom};
use std::path::Path;
use warroom::domain::postmortem::render_markdown;
use warroom::domain::types::IncidentNumber;
use warroom::store::{ExpectedVersion, Ledger, NewEvent};

on_both_backends!(
    a_reference_from_the_post_mortem_shows_its_event_and_verifies,
    an_ambiguous_reference_lists_the_events_it_matches,
    unknown_and_malformed_references_are_refused_with_what_a_reference_is,
    a_row_rewritten_before_the_event_makes_show_say_it_does_not_verify,
);

const OUTAGE: &str = r#"{"at":"2021-03-09T09:15:00Z","from":"svega","text":"the app is down for every customer"}
{"at":"2021-03-09T09:17:00Z","from":"rpark","text":"/incident open title:\"Application outage\" severity:sev1"}
{"at":"2021-03-09T09:20:00Z","from":"rpark","text":"restarting it now"}
{"at":"2021-03-09T09:30:00Z","from":"svega","text":"the shop answers again"}
{"at":"2021-03-09T09:31:00Z","from":"rpark","text":"/incident resolve"}"#;

/// INC-1 recorded through the application as chat would record it; its post-mortem in
/// Markdown.
async fn record_incident(url: &str) -> String {
    let app = common::example_app(url).await;
    warroom::app::replay::replay(&app, OUTAGE, "show-test", |_, _| {})
        .await
        .unwrap();
    let md = render_markdown(&app.postmortem(IncidentNumber(1)).await.unwrap());
    app.ledger().clone().close().await;
    md
}

/// The reference the post-mortem prints at the end of the line that says `said`.
fn reference_of(md: &str, said: &str) -> String {
    let line = md
        .lines()
        .find(|l| l.contains(said))
        .unwrap_or_else(|| panic!("no line says {said:?}: {md}"));
    let start = line.rfind('[').expect("a reference") + 1;
    let end = line.rfind(']').expect("a reference");
    let reference = &line[start..end];
    assert_eq!(reference.len(), 8, "{line}");
    reference.to_string()
}

fn show(dir: &Path, url: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--db", url, "show"];
    all.extend_from_slice(args);
    warroom(dir, &all)
}

async fn a_reference_from_the_post_mortem_shows_its_event_and_verifies(url: &str) {
    let md = record_incident(url).await;
    let reference = reference_of(&md, "the shop answers again");
    let dir = tempfile::tempdir().unwrap();

    let out = show(dir.path(), url, &[&reference]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with(&format!("event        {reference}")),
        "{shown}"
    );
    for part in [
        "type         MessagePosted",
        "stream       incident-1, version ",
        "occurred_at  2021-03-09T09:30:00Z",
        "actor        svega",
        "\"text\": \"the shop answers again\"",
        "chain verifies: positions 1 to ",
    ] {
        assert!(shown.contains(part), "{part:?} missing: {shown}");
    }

    // The same as JSON, asked in capitals with the id's hyphen.
    let upper = format!("{}-", reference.to_uppercase());
    let out = show(dir.path(), url, &[&upper, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(value["event_id"].as_str().unwrap().starts_with(&reference));
    assert_eq!(value["event_type"], "MessagePosted");
    assert_eq!(value["stream_id"], "incident-1");
    assert_eq!(value["actor"], "svega");
    assert_eq!(value["occurred_at"], "2021-03-09T09:30:00Z");
    assert_eq!(value["payload"]["text"], "the shop answers again");
    assert_eq!(value["verified"], true);
    assert_eq!(value["hash"].as_str().unwrap().len(), 64);
    assert!(value["position"].as_i64().unwrap() > 1);

    // A whole id works too.
    let whole = value["event_id"].as_str().unwrap();
    let out = show(dir.path(), url, &[whole]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

async fn an_ambiguous_reference_lists_the_events_it_matches(url: &str) {
    record_incident(url).await;
    let ledger = Ledger::open(url).await.unwrap();
    let mut by_start: std::collections::HashMap<String, uuid::Uuid> = Default::default();
    for e in ledger.read_all(0, 1000).await.unwrap() {
        by_start.insert(e.event_id.to_string()[..4].to_string(), e.event_id);
    }
    // Ids are made the way the application makes them (UUID v5); the first two that share
    // their first four hex digits with each other or with a stored one are appended.
    let mut shared = None;
    let mut extra = Vec::new();
    for n in 0.. {
        let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("note {n}").as_bytes());
        let start = id.to_string()[..4].to_string();
        extra.push(NewEvent {
            event_id: id,
            event_type: "MessagePosted".into(),
            schema_version: 2,
            occurred_at: chrono::DateTime::parse_from_rfc3339("2021-03-09T11:00:00Z")
                .unwrap()
                .into(),
            actor: "svega".into(),
            payload: serde_json::json!({"channel": "ops", "text": format!("note {n}")}),
        });
        if by_start.insert(start.clone(), id).is_some() {
            shared = Some(start);
            break;
        }
    }
    let shared = shared.unwrap();
    // Only the events whose ids start alike are needed; the rest are dropped unappended.
    extra.retain(|e| e.event_id.to_string().starts_with(&shared));
    ledger
        .append("channel-ops", ExpectedVersion::Any, extra)
        .await
        .unwrap();
    let matching: Vec<String> = ledger
        .read_all(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id.to_string())
        .filter(|id| id.starts_with(&shared))
        .collect();
    ledger.close().await;
    assert_eq!(matching.len(), 2, "{matching:?}");

    let dir = tempfile::tempdir().unwrap();
    let out = show(dir.path(), url, &[&shared]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let said = text(&out.stderr);
    assert!(
        said.starts_with(&format!(
            "error: 2 events have an id starting with {shared}; give more digits"
        )),
        "{said}"
    );
    for id in &matching {
        assert!(said.contains(id.as_str()), "{id} not listed: {said}");
    }
    // One more digit of one of them finds it alone.
    let longer = &matching[0][..9.max(common_prefix(&matching[0], &matching[1]) + 1)];
    let out = show(dir.path(), url, &[longer]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

async fn unknown_and_malformed_references_are_refused_with_what_a_reference_is(url: &str) {
    record_incident(url).await;
    let ledger = Ledger::open_read_only(url).await.unwrap();
    let ids: Vec<String> = ledger
        .read_all(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id.to_string())
        .collect();
    ledger.close().await;
    let unknown = (0..)
        .map(|n: u32| format!("{n:08x}"))
        .find(|r| !ids.iter().any(|id| id.starts_with(r.as_str())))
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let out = show(dir.path(), url, &[&unknown]);
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out.stderr);
    assert!(
        said.starts_with(&format!("error: no event's id starts with {unknown} in ")),
        "{said}"
    );
    assert!(said.contains("warroom timeline INC-N"), "{said}");
    assert!(said.contains("[1a2b3c4d]"), "{said}");
    assert_eq!(said.trim_end().lines().count(), 1, "one line: {said}");

    for (bad, why) in [
        ("1a2", "'1a2' has 3 hex digits, not 4 to 32"),
        ("INC-1", "'INC-1' holds 'I', which is not a hex digit"),
        (
            "[1a2b3c4d]",
            "'[1a2b3c4d]' has the brackets a document prints around a reference; give the digits alone, 1a2b3c4d",
        ),
        (
            "1a2b3c4d-25d7-5890-a8cc-01e6e0f80c48-0",
            "has 33 hex digits, not 4 to 32",
        ),
    ] {
        let out = show(dir.path(), url, &[bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let said = text(&out.stderr);
        assert!(said.starts_with("error: not an event reference: "), "{said}");
        assert!(said.contains(why), "{bad}: {said}");
        assert!(
            said.contains("a reference is 4 to 32 hex digits of an event's id"),
            "{said}"
        );
        assert_eq!(said.trim_end().lines().count(), 1, "one line: {said}");
    }
}

async fn a_row_rewritten_before_the_event_makes_show_say_it_does_not_verify(url: &str) {
    let md = record_incident(url).await;
    let early = reference_of(&md, "the app is down for every customer");
    let late = reference_of(&md, "the shop answers again");
    let ledger = Ledger::open_read_only(url).await.unwrap();
    let events = ledger.read_all(0, 1000).await.unwrap();
    ledger.close().await;
    let position_of = |r: &str| {
        events
            .iter()
            .find(|e| e.event_id.to_string().starts_with(r))
            .unwrap()
            .position
    };
    let (early_at, late_at) = (position_of(&early), position_of(&late));
    // Rewritten: a row after the first message and before the last, as `warroom verify`'s
    // tests rewrite one (triggers dropped by someone with access to the database).
    let rewritten = late_at - 1;
    assert!(early_at < rewritten, "{early_at} {rewritten}");
    let drop_triggers: &[&str] = if url.starts_with("sqlite") {
        &["DROP TRIGGER events_no_update"]
    } else {
        &["DROP TRIGGER events_no_change ON events"]
    };
    common::raw_sql(url, drop_triggers).await;
    // The new actor carries a terminal escape sequence, which show prints escaped.
    let esc = if url.starts_with("sqlite") {
        "char(27)"
    } else {
        "chr(27)"
    };
    let update = format!(
        "UPDATE events SET actor = 'nobody' || {esc} || '[2J' WHERE position = {rewritten}"
    );
    common::raw_sql(url, &[update.as_str()]).await;

    let dir = tempfile::tempdir().unwrap();
    let out = show(dir.path(), url, &[&late]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("\"text\": \"the shop answers again\""),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "chain does NOT verify: it breaks at position {rewritten}, before this event (hash mismatch"
        )),
        "{shown}"
    );
    let out = show(dir.path(), url, &[&late, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["verified"], false);
    assert_eq!(value["chain_problem"]["position"], rewritten);

    // The rewritten row itself.
    let rewritten_ref = events
        .iter()
        .find(|e| e.position == rewritten)
        .unwrap()
        .event_id
        .to_string();
    let out = show(dir.path(), url, &[&rewritten_ref[..8]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("actor        nobody\\u{1b}[2J\n")
            && !out.stdout.contains(&0x1b),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains(&format!(
            "chain does NOT verify: this event (position {rewritten}) is not as appended"
        )),
        "{}",
        text(&out.stdout)
    );

    // An event before the rewritten row still verifies: the walk stops at the event shown.
    let out = show(dir.path(), url, &[&early]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("chain verifies"));
}
