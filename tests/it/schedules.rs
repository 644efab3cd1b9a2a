//! On-call schedules: the configuration's schedules recorded in the ledger, escalation steps
//! that page whoever a schedule has on call (or the fallback, or nobody, at a gap), and
//! overrides, covers and cancellations from chat that hold from now on.

use serde_json::json;
use warroom::app::replay::replay;
use warroom::app::Warroom;
use warroom::config::Settings;
use warroom::domain::event::Event;
use warroom::domain::types::IncidentNumber;
use warroom::store::Ledger;

const CONFIG: &str = r#"
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
[[contacts]]
handle = "khouse"
name = "Kim House"
team = "SRE"
[[contacts]]
handle = "svega"
name = "Susan Vega"
team = "SRE"

[[schedules]]
name = "sre"
timezone = "UTC"
[[schedules.layers]]
people = ["@rpark", "@ghammer"]
turn = "1d"
anchor = "2026-01-06T09:00"

[[schedules]]
name = "night"
timezone = "UTC"
[[schedules.layers]]
people = ["@khouse"]
turn = "1w"
anchor = "2026-01-05T00:00"
restrict = [{ from = "22:00", to = "06:00" }]

[[escalations]]
name = "sre"
fallback = ["@svega"]
steps = [
  { targets = ["schedule:sre"], wait_minutes = 5 },
  { targets = ["schedule:night"], wait_minutes = 5, skip_when_nobody = true },
  { targets = ["schedule:night"], wait_minutes = 5 },
]

[[escalations]]
name = "web"
steps = [
  { targets = ["@rpark", "@ghammer", "@khouse"], wait_minutes = 0, round_robin = true },
  { targets = ["@svega"], wait_minutes = 0, timezone = "Europe/Berlin", restrict = [{ days = ["mon-fri"], from = "09:00", to = "17:00" }] },
]

[[routes]]
name = "web"
match_re = { alertname = "Web.*" }
escalation = "web"
auto_open = true

[[routes]]
name = "dns"
match_re = { alertname = "DNS.*" }
escalation = "sre"
auto_open = true
"#;

fn say(at: &str, from: &str, text: &str) -> String {
    json!({"at": format!("2030-01-{at}Z"), "from": from, "channel": "ops", "text": text})
        .to_string()
}

fn alert(at: &str, name: &str) -> String {
    json!({"at": format!("2030-01-{at}Z"), "alert": {"source": "alertmanager", "body": {
        "version": "4", "status": "firing", "receiver": "warroom",
        "alerts": [{"status": "firing", "labels": {"alertname": name},
                    "annotations": {"summary": format!("{name} on ns1")},
                    "startsAt": format!("2030-01-{at}Z"), "fingerprint": format!("fp-{name}")}]}}})
    .to_string()
}

async fn app(url: &str) -> Warroom {
    let settings = Settings::from_toml(CONFIG, "schedules.toml", |_| None).unwrap();
    Warroom::start(Ledger::open(url).await.unwrap(), settings)
        .await
        .unwrap()
}

/// Each page and skip of an incident: `(target, reason)`, skips as `skip:TARGET`.
async fn pages(warroom: &Warroom, n: u64) -> Vec<(String, String)> {
    warroom
        .incident_records(IncidentNumber(n))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| match r.event {
            Event::PageRequested { target, reason, .. } => Some((target, reason)),
            Event::PageSkipped { target, reason, .. } => Some((format!("skip:{target}"), reason)),
            _ => None,
        })
        .collect()
}

/// A schedule's versions and overrides as the ledger has them, read as the CLI reads them.
async fn recorded_roster(url: &str, name: &str) -> warroom::domain::schedule::Roster {
    let reader = warroom::app::reading::Reader::new(
        Ledger::open_read_only(url).await.unwrap(),
        Settings::from_toml(CONFIG, "schedules.toml", |_| None).unwrap(),
    );
    reader.schedule_index().await.unwrap().roster(name).unwrap()
}

async fn replay_lines(warroom: &Warroom, lines: &[String], identity: &str) -> Vec<String> {
    let mut replies = Vec::new();
    replay(warroom, &lines.join("\n"), identity, |_, outcome| {
        replies.extend(outcome.reply.clone());
    })
    .await
    .unwrap();
    replies
}

async fn steps_page_whoever_is_on_call_then_the_fallback_or_nobody(url: &str) {
    let warroom = app(url).await;
    let at = |s: &str| s.parse().unwrap();
    let recorded = warroom
        .adopt_configured_schedules(at("2030-01-07T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(recorded, ["night", "sre"]);
    // The same configuration again records nothing; every instance may call this at start.
    let again = warroom
        .adopt_configured_schedules(at("2030-01-07T01:00:00Z"))
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    let lines = vec![
        say(
            "07T10:00:00",
            "ghammer",
            "/oncall override schedule:sre user:@khouse from:now to:+1h",
        ),
        alert("07T10:05:00", "DNSDown"),
        say("07T10:10:00", "svega", "any news?"),
        say("07T10:15:00", "svega", "still down"),
        say(
            "07T10:20:00",
            "svega",
            "/incident page incident:INC-1 schedule:sre",
        ),
        say(
            "07T10:21:00",
            "svega",
            "/incident page incident:INC-1 schedule:night",
        ),
        alert("07T11:30:00", "DNSSlow"),
        say("07T11:31:00", "svega", "/oncall who"),
        say(
            "07T11:32:00",
            "ghammer",
            "/oncall cover user:@rpark from:\"2030-01-07 12:00\" to:2030-01-07T13:00",
        ),
        say("07T11:33:00", "svega", "/oncall who schedule:sre"),
        say("07T12:30:00", "svega", "/oncall who schedule:sre"),
        say(
            "07T12:31:00",
            "ghammer",
            "/oncall override schedule:sre user:@svega from:2030-01-07T08:00 to:+1h",
        ),
        say("07T12:32:00", "svega", "/oncall who schedule:nope"),
    ];
    let replies = replay_lines(&warroom, &lines, "schedules-1").await;
    assert!(
        replies[0].contains("Kim House (@khouse) is on call for sre from Mon 2030-01-07 10:00 UTC to Mon 2030-01-07 11:00 UTC"),
        "{replies:#?}"
    );
    // The override's hour: khouse; the night schedule has nobody at 10:10 and the step
    // skips the gap; the last step sends its gap to the fallback.
    let first = pages(&warroom, 1).await;
    assert_eq!(
        first.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["@khouse", "skip:schedule:night", "@svega", "@khouse"],
        "{first:#?}"
    );
    assert!(first[0].1.ends_with("on call for sre"), "{first:#?}");
    assert!(first[1]
        .1
        .contains("nobody is on call for night; the step skips a gap"));
    assert!(first[2].1.contains("fallback: nobody is on call for night"));
    assert!(
        replies
            .iter()
            .any(|r| r.contains("nobody is on call for night now; page someone by name")),
        "{replies:#?}"
    );
    // After the override, the rotation's own person.
    assert_eq!(pages(&warroom, 2).await[0].0, "@rpark");
    let who = replies
        .iter()
        .find(|r| r.starts_with("night:"))
        .expect("/oncall who lists every schedule");
    assert!(
        who.contains(
            "night: nobody is on call until Mon 07 Jan 22:00 UTC, then Kim House (@khouse)"
        ),
        "{who}"
    );
    assert!(who.contains("\nsre: Riley Park (@rpark) is on call until Tue 08 Jan 09:00 UTC, then Glenn Hammer (@ghammer)"), "{who}");
    assert!(
        replies.iter().any(|r| r.contains("sre: Riley Park (@rpark) is on call until Mon 07 Jan 12:00 UTC, then Glenn Hammer (@ghammer)")),
        "the cover shows as the next hand-off: {replies:#?}"
    );
    assert!(
        replies.iter().any(|r| r.starts_with("sre: Glenn Hammer (@ghammer) is on call until Mon 07 Jan 13:00 UTC, then Riley Park (@rpark)")),
        "{replies:#?}"
    );
    assert!(
        replies
            .iter()
            .any(|r| r.contains("is in the past; on-call changes hold from now on")),
        "{replies:#?}"
    );
    assert!(
        replies
            .iter()
            .any(|r| r.contains("no schedule is called 'nope'; the schedules are night, sre")),
        "{replies:#?}"
    );
    // Cancelling the cover while it runs ends it now; its past stays.
    let reference = replies
        .iter()
        .find(|r| r.contains("in place of Riley Park"))
        .and_then(|r| r.split(':').next())
        .unwrap()
        .to_string();
    let cancel = replay_lines(
        &warroom,
        &[
            say(
                "07T12:40:00",
                "ghammer",
                &format!("/oncall cancel ref:{reference}"),
            ),
            say("07T12:41:00", "svega", "/oncall who schedule:sre"),
        ],
        "schedules-2",
    )
    .await;
    assert!(
        cancel[0].contains(&format!("{reference} withdrawn from")),
        "{cancel:#?}"
    );
    assert!(
        cancel[1].starts_with("sre: Riley Park (@rpark) is on call"),
        "{cancel:#?}"
    );
    let roster = recorded_roster(url, "sre").await;
    assert_eq!(
        roster.on_call_at(at("2030-01-07T12:35:00Z")).as_deref(),
        Some("ghammer"),
        "the cover's part before the cancellation stays"
    );
    assert_eq!(
        roster.on_call_at(at("2030-01-07T12:45:00Z")).as_deref(),
        Some("rpark")
    );
}

async fn round_robin_steps_take_turns_and_a_step_pages_only_in_its_hours(url: &str) {
    let warroom = app(url).await;
    let lines = vec![
        // Monday 10:40 UTC is 11:40 in Berlin: within the step's hours.
        alert("07T10:40:00", "WebSlow"),
        // 20:00 UTC is 21:00 in Berlin: outside them.
        alert("07T20:00:00", "WebDown"),
        alert("07T20:05:00", "WebErrors"),
        alert("07T20:10:00", "WebTimeouts"),
    ];
    replay_lines(&warroom, &lines, "round-robin").await;
    let mut paged = Vec::new();
    for n in 1..=4 {
        paged.push(
            pages(&warroom, n)
                .await
                .into_iter()
                .map(|(t, _)| t)
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        paged,
        [
            vec!["@rpark", "@svega"],
            vec!["@ghammer", "skip:@svega"],
            vec!["@khouse", "skip:@svega"],
            vec!["@rpark", "skip:@svega"],
        ]
    );
    assert_eq!(
        warroom.next_page_due().await.unwrap(),
        None,
        "a skipped step counts as fired: nothing stays due"
    );
    let skipped = pages(&warroom, 2).await;
    assert_eq!(skipped[1].1, "outside the step's hours (Europe/Berlin)");
}

on_both_backends!(
    steps_page_whoever_is_on_call_then_the_fallback_or_nobody,
    round_robin_steps_take_turns_and_a_step_pages_only_in_its_hours,
    hand_overs_are_recorded_once_and_the_driving_schedule_takes_the_shift,
    calendar_feeds_need_their_token_and_keep_their_uids,
    a_roster_change_holds_from_its_time_and_survives_a_restart,
    an_accepted_swap_trades_turns_and_a_declined_one_changes_nothing
);

#[test]
fn check_reports_the_gaps_and_oncall_lists_the_shifts_with_their_hours() {
    use crate::common::{text, warroom};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("warroom.toml"), CONFIG).unwrap();
    let checked = warroom(dir.path(), &["check"]);
    let out = text(&checked.stdout);
    assert!(checked.status.success(), "{out}{}", text(&checked.stderr));
    // The night schedule covers 22:00–06:00 only: 16 h of every day without anyone,
    // whenever the four weeks start; the day rotation leaves no gap.
    assert!(
        out.contains(
            "warning: schedule night: nobody is on call for 448.0 h of the next four weeks"
        ),
        "{out}"
    );
    assert!(out.contains("more\n"), "at most ten gaps are listed: {out}");
    assert!(
        out.contains("schedule sre: someone is on call at every moment of the next four weeks"),
        "{out}"
    );
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
            "--from",
            "2099-01-05T00:00:00Z",
            "--to",
            "+2d",
            "--format",
            "json",
        ],
    );
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let reports: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    // Not recorded yet, warroom.toml's version counts from now on. The night: 00–06,
    // 22–06, 22–24; the day rotation hands over at 09:00, rpark's turn from Monday's.
    assert_eq!(reports[0]["schedule"], "night");
    assert_eq!(reports[0]["hours"]["khouse"], 16.0, "{reports:#}");
    assert_eq!(reports[0]["hours"]["nobody"], 32.0, "{reports:#}");
    assert_eq!(reports[1]["hours"]["rpark"], 24.0, "{reports:#}");
    assert_eq!(reports[1]["hours"]["ghammer"], 24.0, "{reports:#}");
    assert_eq!(reports[1]["shifts"][1]["start"], "2099-01-05T09:00:00Z");
    assert_eq!(reports[1]["shifts"][1]["person"], "rpark");
    assert_eq!(reports[0]["unrecorded_configuration"], true);
    let who = warroom(dir.path(), &["--db", &db, "oncall", "nope"]);
    assert!(!who.status.success());
    assert!(
        text(&who.stderr).contains("no schedule is called 'nope'; the schedules are night, sre"),
        "{}",
        text(&who.stderr)
    );
}

async fn hand_overs_are_recorded_once_and_the_driving_schedule_takes_the_shift(url: &str) {
    let text = CONFIG.replace(
        "name = \"sre\"\ntimezone = \"UTC\"",
        "name = \"sre\"\ntimezone = \"UTC\"\nshifts = true",
    );
    let settings = Settings::from_toml(&text, "schedules.toml", |_| None).unwrap();
    let warroom = Warroom::start(Ledger::open(url).await.unwrap(), settings)
        .await
        .unwrap();
    let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    warroom
        .adopt_configured_schedules(at("2030-01-07T00:00:00Z"))
        .await
        .unwrap();
    let first = warroom
        .record_handoffs(at("2030-01-07T09:00:30Z"))
        .await
        .unwrap();
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!(first[0].schedule, "sre");
    assert_eq!(
        (first[0].outgoing.as_deref(), first[0].incoming.as_deref()),
        (Some("ghammer"), Some("rpark"))
    );
    assert_eq!(first[0].at, at("2030-01-07T09:00:00Z"));
    assert_eq!(first[0].until, Some(at("2030-01-08T09:00:00Z")));
    // Asked again (another instance, the next rescan): already recorded, nobody told twice.
    assert!(warroom
        .record_handoffs(at("2030-01-07T09:00:35Z"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        warroom
            .next_handoff(at("2030-01-07T09:01:00Z"))
            .await
            .unwrap(),
        Some(at("2030-01-07T22:00:00Z")),
        "the night schedule's khouse comes on first"
    );
    let night = warroom
        .record_handoffs(at("2030-01-07T22:00:00Z"))
        .await
        .unwrap();
    assert_eq!(night[0].schedule, "night");
    assert_eq!(night[0].outgoing, None);
    let next_day = warroom
        .record_handoffs(at("2030-01-08T09:00:10Z"))
        .await
        .unwrap();
    assert_eq!(
        next_day
            .iter()
            .map(|h| (h.schedule.as_str(), h.incoming.as_deref()))
            .collect::<Vec<_>>(),
        [("sre", Some("ghammer"))]
    );
    // Hand-overs missed by more than an hour (warroom was down) are history: nobody is
    // told of them late, and the schedule still says who was on call.
    assert!(warroom
        .record_handoffs(at("2030-01-10T12:00:00Z"))
        .await
        .unwrap()
        .is_empty());
    let replies = replay_lines(
        &warroom,
        &[say("08T09:05:00", "svega", "/oncall who")],
        "handoff-who",
    )
    .await;
    assert!(
        replies[0]
            .starts_with("Glenn Hammer (@ghammer) is on call (shift 2, since 2030-01-08 09:00"),
        "the schedule drove the /oncall shift: {replies:#?}"
    );
    let shift_one = warroom::app::reading::Reader::new(
        Ledger::open_read_only(url).await.unwrap(),
        Settings::from_toml(&text, "schedules.toml", |_| None).unwrap(),
    )
    .stream("shift-1")
    .await
    .unwrap();
    assert!(
        matches!(&shift_one[0].event, Event::ShiftStarted { person, .. } if person == "rpark"),
        "{shift_one:#?}"
    );
}

async fn calendar_feeds_need_their_token_and_keep_their_uids(url: &str) {
    use warroom::app::schedules::calendar::Feed;
    let text = format!(
        "{CONFIG}\n[calendars]\nsecret_env = \"CAL\"\nbase_url = \"https://warroom.example.com\"\n"
    );
    let settings = Settings::from_toml(&text, "schedules.toml", |k| {
        (k == "CAL").then(|| "a-long-random-calendar-secret".to_string())
    })
    .unwrap();
    let secret = settings.calendars.as_ref().unwrap().secret.clone();
    let app = crate::common::spawn_app(url, settings, Default::default()).await;
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        let base = app.base.clone();
        async move { client.get(format!("{base}{path}")).send().await.unwrap() }
    };
    let refused = get("/v1/schedules/sre.ics".into()).await;
    assert_eq!(refused.status(), 401);
    let wrong = get("/v1/schedules/sre.ics?token=0123456789abcdef0123456789abcdef".into()).await;
    assert_eq!(wrong.status(), 401);
    let other_feeds_token = Feed::Schedule("night".into()).token(&secret);
    let crossed = get(format!("/v1/schedules/sre.ics?token={other_feeds_token}")).await;
    assert_eq!(crossed.status(), 401, "a token opens its own feed only");
    let feed = get(Feed::Schedule("sre".into()).path(&secret)).await;
    assert_eq!(feed.status(), 200);
    assert_eq!(
        feed.headers()["content-type"].to_str().unwrap(),
        "text/calendar; charset=utf-8"
    );
    let body = feed.text().await.unwrap();
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n"), "{body}");
    assert!(
        body.contains("SUMMARY:On call: Riley Park (@rpark) (sre)"),
        "{body}"
    );
    // A daily rotation for a year ahead: about 366 shifts.
    let events = body.matches("BEGIN:VEVENT").count();
    assert!((365..=368).contains(&events), "{events}");
    let uids = |body: &str| -> Vec<String> {
        body.lines()
            .filter(|l| l.starts_with("UID:"))
            .map(str::to_string)
            .collect()
    };
    let again = get(Feed::Schedule("sre".into()).path(&secret))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        uids(&body)[..10],
        uids(&again)[..10],
        "a refetch keeps the UIDs"
    );
    assert!(
        uids(&body)[0].ends_with("@warroom.example.com"),
        "{:?}",
        uids(&body)[0]
    );
    let mine = get(Feed::Person("khouse".into()).path(&secret))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        mine.contains("SUMMARY:On call: Kim House (@khouse) (night)"),
        "{mine}"
    );
    assert!(
        !mine.contains("rpark"),
        "a person's feed holds only their shifts"
    );
    let nobody = get(Feed::Person("stranger".into()).path(&secret)).await;
    assert_eq!(nobody.status(), 404);
    app.running.stop().await;
}

async fn a_roster_change_holds_from_its_time_and_survives_a_restart(url: &str) {
    let warroom = app(url).await;
    let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    warroom
        .adopt_configured_schedules(at("2030-01-07T00:00:00Z"))
        .await
        .unwrap();
    let replies = replay_lines(
        &warroom,
        &[
            say(
                "07T10:00:00",
                "ghammer",
                "/oncall roster schedule:sre people:\"@khouse, @svega\" from:\"2030-01-09 09:00\"",
            ),
            say(
                "07T10:01:00",
                "ghammer",
                "/oncall roster schedule:sre people:\"@khouse @nobody\" from:now",
            ),
            say(
                "07T10:02:00",
                "ghammer",
                "/oncall roster schedule:sre people:@khouse from:2030-01-01",
            ),
        ],
        "roster",
    )
    .await;
    assert_eq!(
        replies[0],
        "sre: from Wed 2030-01-09 09:00 UTC, layer 1 turns through Kim House (@khouse), Susan Vega (@svega); before that it stays as it was"
    );
    assert!(
        replies[1].contains("'@nobody' is not in [[contacts]]"),
        "{replies:#?}"
    );
    assert!(
        replies[2].contains("is in the past; roster changes hold from now on"),
        "{replies:#?}"
    );
    drop(warroom);
    // Restarted with the same configuration: serve records nothing, the change stays.
    let warroom = app(url).await;
    assert!(warroom
        .adopt_configured_schedules(at("2030-01-07T12:00:00Z"))
        .await
        .unwrap()
        .is_empty());
    let roster = recorded_roster(url, "sre").await;
    let who = |t: &str| roster.on_call_at(at(t));
    assert_eq!(
        who("2030-01-08T12:00:00Z").as_deref(),
        Some("ghammer"),
        "before: as it was"
    );
    assert_eq!(who("2030-01-09T12:00:00Z").as_deref(), Some("khouse"));
    assert_eq!(who("2030-01-10T12:00:00Z").as_deref(), Some("svega"));
}

#[test]
fn import_oncall_writes_toml_that_passes_check_for_each_tool() {
    use crate::common::{text, warroom};
    let dir = tempfile::tempdir().unwrap();
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oncall-import");
    for tool in ["opsgenie", "grafana-oncall", "pagerduty"] {
        let export = fixtures.join(format!("{tool}.json"));
        let out = warroom(
            dir.path(),
            &["import-oncall", "--from", tool, export.to_str().unwrap()],
        );
        assert!(out.status.success(), "{tool}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("made: schedule"),
            "{tool}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("not mapped: "),
            "{tool}: {}",
            text(&out.stderr)
        );
        let config = dir.path().join(format!("{tool}.toml"));
        std::fs::write(&config, &out.stdout).unwrap();
        let checked = warroom(dir.path(), &["--config", config.to_str().unwrap(), "check"]);
        assert!(
            checked.status.success(),
            "{tool}: the imported TOML fails warroom check:\n{}{}",
            text(&checked.stdout),
            text(&checked.stderr)
        );
        let plan = warroom(
            dir.path(),
            &[
                "import-oncall",
                "--from",
                tool,
                "--plan",
                export.to_str().unwrap(),
            ],
        );
        assert!(
            text(&plan.stdout).starts_with("made: "),
            "{tool}: {}",
            text(&plan.stdout)
        );
    }
    let wrong = warroom(
        dir.path(),
        &[
            "import-oncall",
            "--from",
            "pagerduty",
            fixtures.join("opsgenie.json").to_str().unwrap(),
        ],
    );
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("opsgenie.json"),
        "{}",
        text(&wrong.stderr)
    );
}

async fn an_accepted_swap_trades_turns_and_a_declined_one_changes_nothing(url: &str) {
    let warroom = app(url).await;
    let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    warroom
        .adopt_configured_schedules(at("2030-01-07T00:00:00Z"))
        .await
        .unwrap();
    // Tuesday the 8th is ghammer's turn, Wednesday the 9th rpark's.
    let asked = replay_lines(
        &warroom,
        &[
            say(
                "07T10:00:00",
                "ghammer",
                "/oncall swap user:@rpark schedule:sre from:2030-01-08T09:00 to:+1d back_from:2030-01-09T09:00 back_to:+1d",
            ),
            say(
                "07T10:01:00",
                "ghammer",
                "/oncall swap user:@rpark schedule:sre from:2030-01-10T09:00 to:+1d",
            ),
        ],
        "swap-ask",
    )
    .await;
    let reference = |reply: &str| reply["swap ".len().."swap ".len() + 8].to_string();
    let (first, second) = (reference(&asked[0]), reference(&asked[1]));
    let answers = replay_lines(
        &warroom,
        &[
            say(
                "07T10:05:00",
                "svega",
                &format!("/oncall accept ref:{first}"),
            ),
            say(
                "07T10:06:00",
                "rpark",
                &format!("/oncall accept ref:{first}"),
            ),
            say(
                "07T10:07:00",
                "rpark",
                &format!("/oncall decline ref:{second}"),
            ),
            say(
                "07T10:08:00",
                "rpark",
                &format!("/oncall accept ref:{second}"),
            ),
        ],
        "swap-answer",
    )
    .await;
    assert!(
        answers[0].contains("only Riley Park (@rpark) can answer this swap"),
        "{answers:#?}"
    );
    assert!(
        answers[1].starts_with(&format!("swap {first} accepted")),
        "{answers:#?}"
    );
    assert_eq!(
        answers[2],
        format!("swap {second} declined; nothing changes")
    );
    assert!(
        answers[3].contains("no swap waits for an answer"),
        "{answers:#?}"
    );
    let roster = recorded_roster(url, "sre").await;
    let who = |t: &str| roster.on_call_at(at(t));
    assert_eq!(
        who("2030-01-08T12:00:00Z").as_deref(),
        Some("rpark"),
        "rpark took ghammer's day"
    );
    assert_eq!(
        who("2030-01-09T12:00:00Z").as_deref(),
        Some("ghammer"),
        "and ghammer rpark's"
    );
    assert_eq!(
        who("2030-01-10T12:00:00Z").as_deref(),
        Some("ghammer"),
        "declined: as it was"
    );
}
