//! `[[schedules]]`: on-call schedules, each checked into a rotation warroom can resolve;
//! the names escalation steps target with `schedule:NAME`.

use crate::domain::contacts::Directory;
use crate::domain::reach::ContactMethods;
use crate::domain::schedule::calendar::{known_people, match_names, unnamed, Known};
use crate::domain::schedule::ical::Calendar;
use crate::domain::schedule::{LayerSpec, Schedule, ScheduleSpec};
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;

/// How often a calendar layer's URL is fetched again when it does not say.
pub const DEFAULT_REFRESH_MINUTES: u32 = 30;

/// How far ahead `warroom check` (and each fetch) makes sure a calendar names only people
/// it knows.
pub const CALENDAR_CHECK_DAYS: i64 = 28;

/// A schedule of the configuration: as written (what `warroom serve` records in the ledger)
/// and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfiguredSchedule {
    /// As `warroom serve` records it: zones written out, people by canonical handle, each
    /// calendar file's text in its layer, URLs with their secrets masked.
    pub spec: ScheduleSpec,
    pub schedule: Schedule,
    /// The layers whose calendar comes from a URL, fetched by `warroom serve`.
    pub feeds: Vec<CalendarFeedSource>,
}

/// A calendar layer's URL.
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarFeedSource {
    /// The layer's index in the schedule.
    pub layer: usize,
    /// The URL as written: it may carry a secret (Google's private address, a token).
    pub url: Secret,
    /// The URL as recorded and logged, its secrets masked.
    pub shown: String,
    pub refresh: std::time::Duration,
}

/// Each schedule by name; one with a mistake is left out after its problems. `file` reads
/// calendar files; `now` starts the weeks whose names are checked.
pub(super) fn read_schedules(
    schedules: &[ScheduleSpec],
    zone: Tz,
    directory: &Directory,
    methods: &BTreeMap<String, ContactMethods>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    now: DateTime<Utc>,
    problems: &mut Vec<String>,
) -> BTreeMap<String, ConfiguredSchedule> {
    let mut read = BTreeMap::new();
    let driving: Vec<&str> = schedules
        .iter()
        .filter(|s| s.shifts)
        .map(|s| s.name.as_str())
        .collect();
    if driving.len() > 1 {
        problems.push(format!(
            "schedules: {} all say shifts = true; one person is on call for /oncall at a time, so choose one",
            driving.join(", ")
        ));
    }
    let known = known_people(directory, methods);
    for (i, written) in schedules.iter().enumerate() {
        let key = format!("schedules[{i}] ({})", written.name);
        let mut spec = written.clone();
        let mut feeds = Vec::new();
        for (j, layer) in spec.layers.iter_mut().enumerate() {
            let key = format!("{key}.layers[{j}]");
            if let Some(feed) = read_calendar_source(layer, j, &key, &known, file, now, problems) {
                feeds.push(feed);
            }
        }
        match Schedule::check(&spec, zone, directory, &key) {
            Ok(schedule) => {
                let name = schedule.name.clone();
                let configured = ConfiguredSchedule {
                    spec: schedule.recorded_spec(&spec),
                    schedule,
                    feeds,
                };
                if read.insert(name.clone(), configured).is_some() {
                    problems.push(format!("{key}.name: another schedule is called '{name}'"));
                }
            }
            Err(found) => problems.extend(found),
        }
    }
    read
}

/// For a layer with `ical`: a file is read into the layer with its names matched; a URL is
/// masked in the layer and returned, for `warroom serve` to fetch.
fn read_calendar_source(
    layer: &mut LayerSpec,
    index: usize,
    key: &str,
    known: &[Known<'_>],
    file: &dyn Fn(&str) -> std::io::Result<String>,
    now: DateTime<Utc>,
    problems: &mut Vec<String>,
) -> Option<CalendarFeedSource> {
    let fetched = layer.fetches_its_calendar();
    let source = layer.ical.clone()?;
    if layer.calendar.is_some() || !layer.calendar_people.is_empty() {
        problems.push(format!(
            "{key}: calendar and calendar_people are written by warroom from ical; leave them out"
        ));
        layer.calendar = None;
        layer.calendar_people.clear();
    }
    let source = source.trim();
    if fetched {
        if url::Url::parse(source).is_err() {
            problems.push(format!(
                "{key}.ical: '{}' is not a URL; give the calendar's https:// address or a file",
                mask_calendar_url(source)
            ));
            return None;
        }
        let shown = mask_calendar_url(source);
        layer.ical = Some(shown.clone());
        let minutes = layer.refresh_minutes.unwrap_or(DEFAULT_REFRESH_MINUTES);
        return Some(CalendarFeedSource {
            layer: index,
            url: Secret::new(source),
            shown,
            refresh: std::time::Duration::from_secs(u64::from(minutes.max(1)) * 60),
        });
    }
    if layer.refresh_minutes.is_some() {
        problems.push(format!(
            "{key}.refresh_minutes: a calendar file is read when warroom starts; refresh_minutes is for a URL"
        ));
    }
    let text = match file(source) {
        Ok(text) => text,
        Err(e) => {
            problems.push(format!("{key}.ical: cannot read {source}: {e}"));
            return None;
        }
    };
    match read_calendar(&text, known, now) {
        Ok(people) => {
            layer.calendar = Some(text);
            layer.calendar_people = people;
        }
        Err(e) => problems.push(format!("{key}.ical: {source}: {e}")),
    }
    None
}

/// Reads a calendar's text and matches its names to people; refuses one that cannot be read
/// or whose events of the next four weeks name nobody known, each with its line.
pub fn read_calendar(
    text: &str,
    known: &[Known<'_>],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, String>, String> {
    let calendar = Calendar::parse(text).map_err(|e| e.to_string())?;
    let people = match_names(&calendar, known);
    let until = now + chrono::Duration::days(CALENDAR_CHECK_DAYS);
    let strangers = unnamed(&calendar, &people, now, until).map_err(|e| e.to_string())?;
    if strangers.is_empty() {
        return Ok(people);
    }
    let mut lines: Vec<String> = Vec::new();
    for s in &strangers {
        let named = if s.who.is_empty() {
            "no name".to_string()
        } else {
            s.who
                .iter()
                .take(3)
                .map(|n| format!("'{}'", shorten(n)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let line = format!("line {}: {named}", s.line);
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    Err(format!(
        "events of the next four weeks name nobody in [[contacts]] ({}); give the event a title with the person's name, handle or email, or add the name to their aliases",
        lines.join("; ")
    ))
}

/// A long description cut for a message.
fn shorten(name: &str) -> String {
    match name.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &name[..i]),
        None => name.to_string(),
    }
}

/// A calendar URL fit to record and log: the user info's password, every query value and
/// a Google `private-…` path segment (the secret address) replaced by `***`.
pub fn mask_calendar_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "(a URL that cannot be read)".into();
    };
    // A token may stand in the user name as well as in the password.
    if !parsed.username().is_empty() {
        let _ = parsed.set_username("***");
    }
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, _)| (k.into_owned(), "***".to_string()))
        .collect();
    if parsed.query().is_some() {
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        parsed.set_query(Some(&query));
    }
    let path: Vec<String> = parsed
        .path_segments()
        .map(|segments| {
            segments
                .map(|s| {
                    if s.starts_with("private-") {
                        "private-***".to_string()
                    } else {
                        s.to_string()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if !path.is_empty() {
        parsed.set_path(&path.join("/"));
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use crate::config::tests::no_env;
    use crate::config::Settings;

    #[test]
    fn schedules_are_read_with_the_files_zone_and_escalations_may_target_them() {
        let text = r#"
timezone = "Europe/Berlin"
[[teams]]
name = "SRE"
[[contacts]]
handle = "rpark"
name = "Riley Park"
team = "SRE"
[[schedules]]
name = "sre-primary"
[[schedules.layers]]
people = ["@rpark", "none"]
turn = "1w"
anchor = "2026-11-30"
[[escalations]]
name = "p"
steps = [{ targets = ["schedule:sre-primary"], wait_minutes = 5 }, { targets = ["schedule:nope"], wait_minutes = 0 }]
[[escalations]]
name = "hours"
steps = [{ targets = ["@rpark"], wait_minutes = 0, timezone = "Mars/Base", restrict = [{ days = ["someday"] }] }]
"#;
        let err = Settings::from_toml(text, "w.toml", no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("escalations[0] (p).steps[1].targets: no schedule is called 'nope'"),
            "{err}"
        );
        for expected in [
            "escalations[1] (hours).steps[0].restrict[0]: 'someday' is not a day",
            "escalations[1] (hours).steps[0].timezone: 'Mars/Base' is not an IANA time zone",
        ] {
            assert!(err.contains(expected), "missing «{expected}» in:\n{err}");
        }
        let text = text.replace(
            "timezone = \"Mars/Base\", restrict = [{ days = [\"someday\"] }]",
            "restrict = [{ days = [\"sat\"] }]",
        );
        let ok = text.replace(", { targets = [\"schedule:nope\"], wait_minutes = 0 }", "");
        let s = Settings::from_toml(&ok, "w.toml", no_env).unwrap();
        let sre = &s.schedules["sre-primary"].schedule;
        assert_eq!(sre.zone, chrono_tz::Europe::Berlin);
        let recorded = &s.schedules["sre-primary"].spec;
        assert_eq!(recorded.layers[0].people, vec!["@rpark", "none"]);
        assert_eq!(recorded.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(
            crate::domain::schedule::Schedule::from_recorded(recorded).as_ref(),
            Ok(sre),
            "the recorded spec reads back as the same schedule without the directory"
        );
        assert_eq!(
            s.policies["p"].steps[0].targets,
            vec!["schedule:sre-primary"]
        );
        let dup = format!("{ok}\n[[schedules]]\nname = \"sre-primary\"\n[[schedules.layers]]\npeople = [\"@rpark\"]\nturn = \"1d\"\nanchor = \"2026-11-30\"\nsurprise = 1\n");
        let err = Settings::from_toml(&dup, "w.toml", no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("another schedule is called 'sre-primary'"),
            "{err}"
        );
        assert!(
            err.contains("schedules[1].layers[0].surprise: unknown key"),
            "{err}"
        );
    }

    const BASE: &str = r#"
timezone = "Europe/Berlin"
[[teams]]
name = "SRE"
[[contacts]]
handle = "rpark"
name = "Riley Park"
team = "SRE"
[[contacts]]
handle = "khouse"
name = "Kai House"
team = "SRE"
email = "kai@example.com"
[[schedules]]
name = "sre"
"#;

    /// A weekly calendar, endless so that its next four weeks always have events.
    fn weekly(names: &[&str]) -> String {
        let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
        for (i, name) in names.iter().enumerate() {
            text.push_str(&format!(
                "BEGIN:VEVENT\r\nUID:{i}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART;TZID=Europe/Berlin:{}T090000\r\nDURATION:P7D\r\nRRULE:FREQ=WEEKLY;INTERVAL={}\r\nSUMMARY:{name}\r\nEND:VEVENT\r\n",
                (chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()
                    + chrono::Duration::weeks(i as i64))
                .format("%Y%m%d"),
                names.len()
            ));
        }
        text + "END:VCALENDAR\r\n"
    }

    fn check_with_file(text: &str, calendar: &str) -> Result<Settings, String> {
        let calendar = calendar.to_string();
        Settings::check(text, "w.toml", no_env, move |f| {
            if f == "oncall.ics" {
                Ok(calendar.clone())
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file",
                ))
            }
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_calendar_file_is_read_into_its_layer_with_its_names_matched() {
        let text = format!("{BASE}[[schedules.layers]]\nical = \"oncall.ics\"\n");
        let calendar = weekly(&["On call: Park, Riley", "kai@example.com"]);
        let s = check_with_file(&text, &calendar).unwrap();
        let configured = &s.schedules["sre"];
        let layer = &configured.spec.layers[0];
        assert_eq!(layer.calendar.as_deref(), Some(calendar.as_str()));
        assert_eq!(layer.calendar_people["On call: Park, Riley"], "@rpark");
        assert_eq!(layer.calendar_people["kai@example.com"], "@khouse");
        assert!(configured.feeds.is_empty());
        assert_eq!(
            crate::domain::schedule::Schedule::from_recorded(&configured.spec).as_ref(),
            Ok(&configured.schedule)
        );

        let stranger = weekly(&["On call: Park, Riley", "On call: Xavier Quinn"]);
        let err = check_with_file(&text, &stranger).unwrap_err();
        assert!(
            err.contains("schedules[0] (sre).layers[0].ical: oncall.ics: events of the next four weeks name nobody in [[contacts]] (line 11: 'On call: Xavier Quinn')"),
            "{err}"
        );
        let broken = check_with_file(
            &text,
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:soon\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        )
        .unwrap_err();
        assert!(
            broken.contains("schedules[0] (sre).layers[0].ical: oncall.ics: line 3:"),
            "{broken}"
        );
        let missing = check_with_file(&text.replace("oncall.ics", "gone.ics"), "").unwrap_err();
        assert!(
            missing.contains("layers[0].ical: cannot read gone.ics: no such file"),
            "{missing}"
        );
    }

    #[test]
    fn a_calendar_url_is_recorded_masked_and_left_for_serve_to_fetch() {
        let url = "https://calendar.google.com/calendar/ical/c_8f3e%40group.calendar.google.com/private-0a1b2c3d4e5f/basic.ics";
        let text = format!("{BASE}[[schedules.layers]]\nical = \"{url}\"\nrefresh_minutes = 10\n");
        let s = check_with_file(&text, "").unwrap();
        let configured = &s.schedules["sre"];
        let recorded = configured.spec.layers[0].ical.clone().unwrap();
        assert_eq!(
            recorded,
            "https://calendar.google.com/calendar/ical/c_8f3e%40group.calendar.google.com/private-***/basic.ics"
        );
        assert_eq!(configured.feeds.len(), 1);
        assert_eq!(configured.feeds[0].url.expose(), url);
        assert_eq!(
            configured.feeds[0].refresh,
            std::time::Duration::from_secs(600)
        );
        assert!(configured.spec.layers[0].calendar.is_none());
        assert_eq!(
            super::mask_calendar_url("https://me:pw@oncall.example.com/api/v1/ical?token=abc&x=1"),
            "https://***:***@oncall.example.com/api/v1/ical?token=***&x=***"
        );

        let rotation_keys = text.replace("refresh_minutes = 10", "people = [\"@rpark\"]\nturn = \"1w\"\nanchor = \"2026-11-30\"\ncalendar = \"BEGIN:VCALENDAR\"");
        let err = check_with_file(&rotation_keys, "").unwrap_err();
        for expected in [
            "schedules[0] (sre).layers[0]: calendar and calendar_people are written by warroom from ical; leave them out",
            "schedules[0] (sre).layers[0]: people, turn, anchor belong to a rotation",
        ] {
            assert!(err.contains(expected), "missing «{expected}» in:\n{err}");
        }
        let file_refresh =
            format!("{BASE}[[schedules.layers]]\nical = \"oncall.ics\"\nrefresh_minutes = 10\n");
        let err = check_with_file(&file_refresh, &weekly(&["Riley Park"])).unwrap_err();
        assert!(
            err.contains("refresh_minutes: a calendar file is read when warroom starts"),
            "{err}"
        );
    }
}
