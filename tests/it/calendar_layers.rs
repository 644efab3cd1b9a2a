//! A schedule layer from a calendar URL (a Google Calendar secret address standing in on
//! wiremock): `warroom serve` fetches it and pages whom its events name; a changed calendar
//! holds from its fetch and the past stays as it was; an unchanged one records nothing; a
//! calendar naming a stranger is refused and the last one stays; the URL's secret never
//! reaches the ledger.

use crate::common;
use std::time::Duration;
use warroom::clock::Clock;
use warroom::config::Settings;
use warroom::domain::event::Event;
use warroom::domain::types::IncidentNumber;
use warroom::store::Ledger;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const AM_TOKEN: &str = "am-token-0123";
const CALENDAR_PATH: &str =
    "/calendar/ical/sre%40group.calendar.google.com/private-s3cr3t/basic.ics";

fn config(calendar_url: &str) -> String {
    format!(
        r#"
[alerts]
channel = "ops"
[alerts.sources.alertmanager]
auth = "bearer"
secret_env = "AM_TOKEN"

[[teams]]
name = "SRE"
[[contacts]]
handle = "rpark"
name = "Riley Park"
team = "SRE"
[[contacts]]
handle = "ghammer"
name = "Glenn Hammer"
team = "SRE"
email = "glenn@example.test"
[[contacts]]
handle = "svega"
name = "Susan Vega"
team = "SRE"

[[schedules]]
name = "sre"
timezone = "UTC"
[[schedules.layers]]
name = "google"
ical = "{calendar_url}"

[[escalations]]
name = "sre"
fallback = ["@svega"]
steps = [{{ targets = ["schedule:sre"], wait_minutes = 30 }}]

[[routes]]
name = "dns"
match = {{ alertname = "DNSNotAnswering" }}
escalation = "sre"
auto_open = true
"#
    )
}

fn settings(calendar_url: &str) -> Settings {
    Settings::from_toml(&config(calendar_url), "calendar.toml", |k| {
        (k == "AM_TOKEN").then(|| AM_TOKEN.to_string())
    })
    .unwrap()
}

fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().unwrap()
}

/// Two people taking alternate weeks from Monday 2030-01-07 09:00 UTC, without end, as
/// Google exports it (with a DTSTAMP of the export).
fn alternate_weeks(first: &str, second: &str, stamp: &str) -> String {
    let event = |uid: &str, start: &str, end: &str, who: &str| {
        format!(
            "BEGIN:VEVENT\r\nUID:{uid}@google.com\r\nDTSTAMP:{stamp}\r\nDTSTART:{start}\r\nDTEND:{end}\r\n\
             RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO\r\nSUMMARY:On call: {who}\r\nEND:VEVENT\r\n"
        )
    };
    format!(
        "BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nVERSION:2.0\r\n{}{}END:VCALENDAR\r\n",
        event("a", "20300107T090000Z", "20300114T090000Z", first),
        event("b", "20300114T090000Z", "20300121T090000Z", second)
    )
}

async fn calendar_server(text: String) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(CALENDAR_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/calendar; charset=UTF-8")
                .set_body_string(text),
        )
        .mount(&server)
        .await;
    server
}

async fn roster(url: &str, calendar_url: &str) -> warroom::domain::schedule::Roster {
    warroom::app::reading::Reader::new(
        Ledger::open_read_only(url).await.unwrap(),
        settings(calendar_url),
    )
    .schedule_index()
    .await
    .unwrap()
    .roster("sre")
    .unwrap()
}

/// The schedule's recorded events: `(source, effective_from)` of each version, and every
/// payload as JSON text.
async fn versions(url: &str, calendar_url: &str) -> (Vec<(String, String)>, String) {
    let records = warroom::app::reading::Reader::new(
        Ledger::open_read_only(url).await.unwrap(),
        settings(calendar_url),
    )
    .stream("schedule-sre")
    .await
    .unwrap();
    let payloads = records
        .iter()
        .map(|r| r.event.to_payload().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let versions = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::ScheduleDefined {
                source,
                effective_from,
                ..
            } => Some((source.clone(), effective_from.to_rfc3339())),
            _ => None,
        })
        .collect();
    (versions, payloads)
}

async fn a_calendar_url_layer_pages_whom_it_names_and_its_changes_hold_from_their_fetch(url: &str) {
    let server = calendar_server(alternate_weeks(
        "Park, Riley",
        "glenn@example.test",
        "20300101T000000Z",
    ))
    .await;
    let calendar_url = format!("{}{CALENDAR_PATH}?hl=en", server.uri());
    let app = common::spawn_app(
        url,
        settings(&calendar_url),
        warroom::serve::Options {
            clock: Clock::starting_at(at("2030-01-07T10:00:00Z")),
            ..Default::default()
        },
    )
    .await;
    // The leader fetches the calendar when it starts leading.
    let mut fetched = false;
    for _ in 0..200 {
        let (versions, _) = versions(url, &calendar_url).await;
        if versions.iter().any(|(source, _)| source == "calendar") {
            fetched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(fetched, "the calendar was never recorded");
    assert_eq!(
        roster(url, &calendar_url)
            .await
            .on_call_at(at("2030-01-07T10:01:00Z")),
        Some("rpark".into())
    );
    assert_eq!(
        roster(url, &calendar_url)
            .await
            .on_call_at(at("2030-01-14T10:00:00Z")),
        Some("ghammer".into()),
        "matched by the email address of their contact methods"
    );
    // An alert pages whom the calendar names.
    let body = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "warroom",
        "alerts": [{"status": "firing", "labels": {"alertname": "DNSNotAnswering"},
                    "annotations": {"summary": "ns1 does not answer"},
                    "startsAt": "2030-01-07T10:00:00Z", "fingerprint": "fp-dns"}]
    });
    let response = reqwest::Client::new()
        .post(format!("{}/v1/alerts/alertmanager", app.base))
        .bearer_auth(AM_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    let mut paged: Vec<String> = Vec::new();
    for _ in 0..200 {
        let records = app
            .warroom
            .incident_records(IncidentNumber(1))
            .await
            .unwrap_or_default();
        paged = records
            .iter()
            .filter_map(|r| match &r.event {
                Event::PageRequested { target, .. } => Some(target.clone()),
                _ => None,
            })
            .collect();
        if !paged.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(paged, ["@rpark"]);

    // The calendar changes (Glenn takes Riley's weeks from now): recorded from its fetch;
    // the morning before stays as it was.
    let changed = alternate_weeks("Glenn Hammer", "glenn@example.test", "20300107T120000Z");
    let noon = at("2030-01-07T12:00:00Z");
    assert_eq!(
        app.warroom
            .calendar_fetched("sre", 0, &changed, noon)
            .await
            .unwrap(),
        Ok(true)
    );
    let after = roster(url, &calendar_url).await;
    assert_eq!(
        after.on_call_at(at("2030-01-07T11:00:00Z")),
        Some("rpark".into())
    );
    assert_eq!(
        after.on_call_at(at("2030-01-07T13:00:00Z")),
        Some("ghammer".into())
    );
    // Fetched again with only a new DTSTAMP: the same calendar, nothing recorded.
    let restamped = changed.replace("20300107T120000Z", "20300107T123000Z");
    assert_eq!(
        app.warroom
            .calendar_fetched("sre", 0, &restamped, at("2030-01-07T12:30:00Z"))
            .await
            .unwrap(),
        Ok(false)
    );
    // A calendar naming someone unknown is refused, and the last one stays in force.
    let stranger = alternate_weeks("Xavier Quinn", "glenn@example.test", "20300107T130000Z");
    let refused = app
        .warroom
        .calendar_fetched("sre", 0, &stranger, at("2030-01-07T13:00:00Z"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(refused.contains("'On call: Xavier Quinn'"), "{refused}");
    let (recorded, payloads) = versions(url, &calendar_url).await;
    // Served at 10:00, the configuration's version (the calendar not fetched yet) and the
    // first fetch's follow each other at once; the change holds from noon.
    let sources: Vec<&str> = recorded.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(sources, ["config", "calendar", "calendar"]);
    assert!(
        recorded[1].1.starts_with("2030-01-07T10:00:0"),
        "{recorded:?}"
    );
    assert_eq!(recorded[2].1, "2030-01-07T12:00:00+00:00");
    assert!(
        !payloads.contains("s3cr3t"),
        "the URL's secret reached the ledger"
    );
    assert!(
        payloads.contains("private-***/basic.ics?hl=***"),
        "{payloads}"
    );
    app.running.stop().await;

    // Restarted with a changed configuration (a layer added on top), the fetched calendar
    // stays in force until the next fetch; the calendar server is gone by now.
    drop(server);
    let changed_config = config(&calendar_url).replace(
        "[[escalations]]",
        "[[schedules.layers]]\npeople = [\"@svega\"]\nturn = \"1w\"\nanchor = \"2030-01-07T00:00\"\nrestrict = [{ days = [\"sun\"] }]\n\n[[escalations]]",
    );
    let restarted = warroom::app::Warroom::start(
        Ledger::open(url).await.unwrap(),
        Settings::from_toml(&changed_config, "calendar.toml", |k| {
            (k == "AM_TOKEN").then(|| AM_TOKEN.to_string())
        })
        .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        restarted
            .adopt_configured_schedules(at("2030-01-08T09:00:00Z"))
            .await
            .unwrap(),
        ["sre"]
    );
    let roster = roster(url, &calendar_url).await;
    assert_eq!(
        roster.on_call_at(at("2030-01-08T10:00:00Z")),
        Some("ghammer".into())
    );
    assert_eq!(
        roster.on_call_at(at("2030-01-13T10:00:00Z")),
        Some("svega".into())
    );
    // Its turns are the calendar's: a roster change from chat is refused with where to go.
    let line = serde_json::json!({"at": "2030-01-08T09:05:00Z", "from": "svega", "channel": "ops",
        "text": "/oncall roster schedule:sre layer:1 people:\"@rpark\" from:now"});
    let mut replies = Vec::new();
    warroom::app::replay::replay(&restarted, &line.to_string(), "roster", |_, outcome| {
        replies.extend(outcome.reply.clone());
    })
    .await
    .unwrap();
    assert!(
        replies[0].contains("google takes its shifts from the calendar http://127.0.0.1"),
        "{replies:?}"
    );
    assert!(!replies[0].contains("s3cr3t"), "{replies:?}");
}

on_both_backends!(a_calendar_url_layer_pages_whom_it_names_and_its_changes_hold_from_their_fetch);

#[test]
fn check_reads_a_calendar_file_and_oncall_lists_its_shifts() {
    use crate::common::{text, warroom};
    let dir = tempfile::tempdir().unwrap();
    // Weeks from Monday 2026-01-05, without end, so the next four weeks always have some.
    let weekly = alternate_weeks("Park, Riley", "glenn@example.test", "20260101T000000Z")
        .replace("20300107T", "20260105T")
        .replace("20300114T", "20260112T")
        .replace("20300121T", "20260119T");
    std::fs::write(dir.path().join("oncall.ics"), &weekly).unwrap();
    let toml = config("oncall.ics")
        .replace(
            "[alerts.sources.alertmanager]\nauth = \"bearer\"\nsecret_env = \"AM_TOKEN\"\n",
            "",
        )
        .replace(
        "[[escalations]]",
        "[[schedules]]\nname = \"google\"\n[[schedules.layers]]\nical = \"https://calendar.google.com/calendar/ical/x/private-s3cr3t/basic.ics\"\n\n[[escalations]]",
    );
    std::fs::write(dir.path().join("warroom.toml"), &toml).unwrap();
    let checked = warroom(dir.path(), &["check"]);
    let out = text(&checked.stdout);
    assert!(checked.status.success(), "{out}{}", text(&checked.stderr));
    assert!(
        out.contains("schedule sre: someone is on call at every moment of the next four weeks"),
        "{out}"
    );
    assert!(
        out.contains("note: schedule google: layer 1 comes from https://calendar.google.com/calendar/ical/x/private-***/basic.ics, which warroom serve fetches"),
        "{out}"
    );
    assert!(!out.contains("s3cr3t"), "{out}");
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    assert!(warroom(dir.path(), &["--db", &db, "migrate"])
        .status
        .success());
    let listed = warroom(
        dir.path(),
        &[
            "--db",
            &db,
            "oncall",
            "sre",
            "--from",
            "2099-01-05T09:00:00Z",
            "--to",
            "+14d",
            "--format",
            "json",
        ],
    );
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let reports: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(reports[0]["hours"]["rpark"], 168.0, "{reports:#}");
    assert_eq!(reports[0]["hours"]["ghammer"], 168.0, "{reports:#}");

    // A calendar naming someone unknown in the next four weeks is refused, with its line.
    std::fs::write(
        dir.path().join("oncall.ics"),
        weekly.replace("Park, Riley", "Xavier Quinn"),
    )
    .unwrap();
    let refused = warroom(dir.path(), &["check"]);
    assert!(!refused.status.success());
    let err = text(&refused.stdout) + &text(&refused.stderr);
    assert!(
        err.contains("schedules[0] (sre).layers[0].ical: oncall.ics: events of the next four weeks name nobody in [[contacts]] (line 4: 'On call: Xavier Quinn')"),
        "{err}"
    );
}
