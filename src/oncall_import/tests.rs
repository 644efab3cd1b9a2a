//! The shared parts of the import, and helpers the sources' tests use to run a fixture
//! through warroom's own configuration check and ask who is on call.

use super::*;
use crate::config::Settings;
use crate::domain::schedule::{Roster, Version};
use chrono::TimeZone;

/// The time the fixtures are imported at: after every layer they start, after the layers
/// they end.
pub(super) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap()
}

pub(super) fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/oncall-import/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Imports a fixture and checks the result as `warroom check` would.
pub(super) fn import_fixture(source: ImportSource, name: &str) -> (Imported, Settings) {
    let imported = import_at(source, &fixture(name), now()).unwrap();
    let settings = Settings::from_toml(&imported.toml, "imported.toml", |_| None)
        .unwrap_or_else(|e| panic!("{e}\n--- the TOML:\n{}", imported.toml));
    (imported, settings)
}

/// Who the schedule puts on call at `at` (RFC 3339), by its layers alone.
pub(super) fn on_call(settings: &Settings, schedule: &str, at: &str) -> Option<String> {
    let s = settings.schedules[schedule].schedule.clone();
    let roster = Roster {
        versions: vec![Version {
            effective_from: Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap(),
            schedule: Some(s),
        }],
        overrides: vec![],
    };
    roster.on_call_at(
        DateTime::parse_from_rfc3339(at)
            .unwrap()
            .with_timezone(&Utc),
    )
}

/// Fails with the whole list when no line contains every one of `parts`.
pub(super) fn assert_line(lines: &[String], parts: &[&str]) {
    assert!(
        lines.iter().any(|l| parts.iter().all(|p| l.contains(p))),
        "no line with {parts:?} in:\n{}",
        lines.join("\n")
    );
}

#[test]
fn sources_are_named_as_on_the_command_line() {
    assert_eq!("opsgenie".parse(), Ok(ImportSource::Opsgenie));
    assert_eq!("grafana-oncall".parse(), Ok(ImportSource::GrafanaOncall));
    assert_eq!("PagerDuty".parse(), Ok(ImportSource::PagerDuty));
    let err = "victorops".parse::<ImportSource>().unwrap_err();
    assert!(
        err.contains("opsgenie, grafana-oncall or pagerduty"),
        "{err}"
    );
}

#[test]
fn handles_and_names_are_what_warroom_accepts_and_unique() {
    assert_eq!(
        handle_from("Riley.Park+oncall@example.com"),
        "riley.park-oncall"
    );
    assert_eq!(handle_from("rpark"), "rpark");
    assert_eq!(handle_from("1ops"), "u1ops");
    let mut draft = Draft::new(ImportSource::PagerDuty);
    let team = draft.team("rpark");
    assert_eq!(team, "rpark");
    // A handle may not be a team's name, in any case.
    assert_eq!(
        draft.person("RPark@example.com", "Riley Park", None),
        "rpark2"
    );
    assert_eq!(
        draft.person("rpark@example.org", "Riley Other", None),
        "rpark3"
    );
    assert_eq!(draft.schedule_name("SRE / Primary (EU)"), "sre-primary-eu");
    assert_eq!(draft.schedule_name("sre primary eu"), "sre-primary-eu-2");
    assert_eq!(draft.schedule_name("!!!"), "schedule");
}

#[test]
fn restrictions_become_windows_warroom_reads_back_the_same() {
    let mut business = WeekMask::new();
    for day in 0..5 {
        business.add(day * 1440 + 9 * 60, 8 * 60);
    }
    assert_eq!(
        business.windows(),
        vec![WindowSpec {
            days: vec!["mon-fri".into()],
            from: Some("09:00".into()),
            to: Some("17:00".into()),
        }]
    );
    // A night every day is one window across midnight.
    let mut nights = WeekMask::new();
    for day in 0..7 {
        nights.add(day * 1440 + 22 * 60, 8 * 60);
    }
    assert_eq!(
        nights.windows(),
        vec![WindowSpec {
            days: vec![],
            from: Some("22:00".into()),
            to: Some("06:00".into()),
        }]
    );
    // Friday 18:00 to Monday 08:00 is cut at the midnights; the week wraps.
    let mut weekend = WeekMask::new();
    weekend.add(4 * 1440 + 18 * 60, 62 * 60);
    let w = weekend.windows();
    let text: Vec<String> = w
        .iter()
        .map(|w| format!("{:?} {:?}-{:?}", w.days, w.from, w.to))
        .collect();
    assert_eq!(
        text,
        vec![
            r#"["mon"] Some("00:00")-Some("08:00")"#,
            r#"["fri"] Some("18:00")-Some("24:00")"#,
            r#"["sat-sun"] Some("00:00")-Some("24:00")"#,
        ]
    );
    let mut all = WeekMask::new();
    all.add(3, WEEK_MINUTES);
    assert!(all.windows().is_empty());
    assert!(WeekMask::new().is_empty());
}

#[test]
fn turns_in_seconds_take_the_largest_exact_unit() {
    assert_eq!(turn_from_seconds(604_800).unwrap(), "1w");
    assert_eq!(turn_from_seconds(2 * 86_400).unwrap(), "2d");
    assert_eq!(turn_from_seconds(43_200).unwrap(), "12h");
    assert!(turn_from_seconds(5_400)
        .unwrap_err()
        .contains("not a whole number of hours"));
    assert!(turn_from_seconds(60 * 604_800)
        .unwrap_err()
        .contains("at most a year"));
}

#[test]
fn a_file_that_is_not_json_or_not_of_the_shape_says_so_and_where() {
    let err = import(ImportSource::Opsgenie, "users: []")
        .unwrap_err()
        .to_string();
    assert!(err.contains("the Opsgenie export is not JSON"), "{err}");
    assert!(err.contains("docs/import-oncall.md"), "{err}");
    let err = import(ImportSource::PagerDuty, r#"{"schedules": []}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("at the top level: missing field `users`"),
        "{err}"
    );
    let err = import(
        ImportSource::GrafanaOncall,
        r#"{"users": {"count": 0, "results": []}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("at users: invalid type: map"), "{err}");
    assert!(err.contains("put the response's list here"), "{err}");
}
