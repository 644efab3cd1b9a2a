//! The import's entry (the sources' names, exports that cannot be read), and helpers the
//! sources' tests use to run a fixture through warroom's own configuration check (also with
//! the commented notification rules made live), ask who is on call and read one contact.

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

/// Imports a fixture as of [`now`], unchecked.
pub(super) fn import_unchecked(source: ImportSource, name: &str) -> Imported {
    import_at(source, &fixture(name), now()).unwrap()
}

/// The `[[contacts]]` entry of `handle` as written, with the comment lines that follow it.
pub(super) fn contact_block(toml: &str, handle: &str) -> String {
    let wanted = format!("handle = \"{handle}\"");
    toml.split("\n\n")
        .find(|b| b.starts_with("[[contacts]]") && b.lines().any(|l| l == wanted))
        .unwrap_or_else(|| panic!("no contact {handle} in:\n{toml}"))
        .to_string()
}

/// Provider sections for every method an import writes a rule for.
const PROVIDERS: &str = r#"
[notifications]
public_url = "https://warroom.example.com"

[notifications.email]
host = "smtp.example.com"
from = "warroom@example.com"

[notifications.twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
secret_env = "TWILIO_AUTH_TOKEN"
from = "+15550999"
"#;

/// What warroom's check says of an import once its commented rules are uncommented and the
/// providers they need are configured, as the plan tells the reviewer to do.
pub(super) fn problems_with_rules_live(imported: &Imported) -> Vec<String> {
    let live = imported.toml.replace("\n# notify = ", "\nnotify = ") + PROVIDERS;
    let token = |k: &str| (k == "TWILIO_AUTH_TOKEN").then(|| "a-test-auth-token".to_string());
    match Settings::from_toml(&live, "live.toml", token) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems,
    }
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
