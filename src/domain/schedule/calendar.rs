//! A layer whose shifts come from an iCalendar file or feed (a Google Calendar or Grafana
//! OnCall export) instead of a rotation: who each event names is on call while it lasts.
//!
//! The calendar's text is recorded with the schedule, and so is which of its names stand for
//! which person (matched once, when it was read), so "who was on call at T" replays without
//! the file, the feed or the directory of that day. Occurrences are expanded a week at a time
//! and kept, as a page asks the same week again and again.

use super::ical::{Calendar, IcalError, ImportedShift};
use super::Segment;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// How many expanded weeks a layer keeps before it starts again.
const WEEKS_KEPT: usize = 128;

/// A calendar layer, read.
pub struct CalendarLayer {
    text: String,
    /// Each name of the calendar that stands for a person, and the person's handle.
    people: BTreeMap<String, String>,
    calendar: Calendar,
    weeks: Mutex<BTreeMap<i64, Arc<Vec<Segment>>>>,
}

impl std::fmt::Debug for CalendarLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalendarLayer")
            .field("bytes", &self.text.len())
            .field("people", &self.people)
            .finish()
    }
}

impl PartialEq for CalendarLayer {
    fn eq(&self, other: &CalendarLayer) -> bool {
        self.text == other.text && self.people == other.people
    }
}

impl CalendarLayer {
    /// Reads `text`; `people` maps the calendar's names to handles (see [`match_names`]).
    /// An empty text is a calendar not fetched yet: nobody is on call from it.
    pub fn new(text: &str, people: BTreeMap<String, String>) -> Result<CalendarLayer, IcalError> {
        let calendar = if text.trim().is_empty() {
            Calendar::default()
        } else {
            Calendar::parse(text)?
        };
        Ok(CalendarLayer {
            text: text.to_string(),
            people,
            calendar,
            weeks: Mutex::new(BTreeMap::new()),
        })
    }

    /// Which names of the calendar stand for whom: name → canonical handle.
    pub fn people(&self) -> &BTreeMap<String, String> {
        &self.people
    }

    /// The person an occurrence names, if any of its names is known.
    fn person(&self, shift: &ImportedShift) -> Option<&String> {
        shift.who.iter().find_map(|name| self.people.get(name))
    }

    /// Who this layer puts on call in `[from, to)`, in order and without overlaps.
    pub(super) fn segments(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Segment> {
        let mut found: Vec<Segment> = Vec::new();
        if from >= to {
            return found;
        }
        for week in week_of(from)..=week_of(to - Duration::nanoseconds(1)) {
            for s in self.week(week).iter() {
                let (start, end) = (s.start.max(from), s.end.min(to));
                if start >= end {
                    continue;
                }
                match found.last_mut() {
                    Some(last) if last.end == start && last.person == s.person => last.end = end,
                    _ => found.push(Segment {
                        start,
                        end,
                        person: s.person.clone(),
                    }),
                }
            }
        }
        found
    }

    /// The layer's segments within week `week`, expanded once.
    fn week(&self, week: i64) -> Arc<Vec<Segment>> {
        let mut weeks = self.weeks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = weeks.get(&week) {
            return found.clone();
        }
        let (from, to) = (week_start(week), week_start(week + 1));
        let shifts = match self.calendar.shifts(from, to) {
            Ok(shifts) => shifts,
            Err(e) => {
                // The next four weeks were read when the calendar was; a later week the
                // reader refuses leaves its layer empty there, so the layers below (or the
                // fallback) are paged rather than nobody.
                tracing::warn!(error = %e, week_from = %from, "a calendar layer cannot be read for this week; it names nobody then");
                Vec::new()
            }
        };
        let segments = Arc::new(flatten(
            shifts
                .iter()
                .filter_map(|s| Some((s.start, s.end, self.person(s)?.clone())))
                .collect(),
            from,
            to,
        ));
        if weeks.len() >= WEEKS_KEPT {
            weeks.clear();
        }
        weeks.insert(week, segments.clone());
        segments
    }
}

/// The start of the week numbered `week` since the epoch (weeks of UTC, as good as any for
/// a cache).
fn week_start(week: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + Duration::weeks(week)
}

fn week_of(t: DateTime<Utc>) -> i64 {
    (t - DateTime::<Utc>::UNIX_EPOCH)
        .num_seconds()
        .div_euclid(Duration::weeks(1).num_seconds())
}

/// Shifts, which may overlap, as one line of segments in `[from, to)`: where two overlap, the
/// one that began last is on call (a cover written over a week's shift wins while it lasts).
fn flatten(
    shifts: Vec<(DateTime<Utc>, DateTime<Utc>, String)>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Segment> {
    let mut cuts: Vec<DateTime<Utc>> = shifts
        .iter()
        .flat_map(|(a, b, _)| [*a, *b])
        .map(|t| t.clamp(from, to))
        .collect();
    cuts.sort();
    cuts.dedup();
    let mut segments: Vec<Segment> = Vec::new();
    for pair in cuts.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // Shifts come ordered by start, so the last one covering `a` began last.
        let Some((_, _, person)) = shifts.iter().rev().find(|(s, e, _)| *s <= a && a < *e) else {
            continue;
        };
        match segments.last_mut() {
            Some(last) if last.end == a && &last.person == person => last.end = b,
            _ => segments.push(Segment {
                start: a,
                end: b,
                person: person.clone(),
            }),
        }
    }
    segments
}

/// One person the calendar's names may stand for: the handle and every other name they go
/// by (aliases, full name, email address).
pub struct Known<'a> {
    pub handle: &'a str,
    pub names: Vec<&'a str>,
}

/// Which of the calendar's names stand for whom. Each event's names are tried in order (its
/// title, attendees, organizer, description); a name counts when, compared without case, it
/// is a person's handle, alias, full name or email address, also when written
/// `Label: Name`, `Last, First` or with a note in parentheses after it. A name two people
/// could answer to stands for nobody.
pub fn match_names(calendar: &Calendar, known: &[Known<'_>]) -> BTreeMap<String, String> {
    let mut matched = BTreeMap::new();
    for names in calendar.names() {
        for name in names {
            if matched.contains_key(name) {
                break;
            }
            if let Some(handle) = match_name(name, known) {
                matched.insert(name.clone(), format!("@{handle}"));
                break;
            }
        }
    }
    matched
}

fn match_name<'a>(name: &str, known: &[Known<'a>]) -> Option<&'a str> {
    let forms = forms(name);
    let mut found = known.iter().filter(|k| {
        std::iter::once(k.handle)
            .chain(k.names.iter().copied())
            .map(normal)
            .any(|n| !n.is_empty() && forms.contains(&n))
    });
    match (found.next(), found.next()) {
        (Some(only), None) => Some(only.handle),
        _ => None,
    }
}

/// Lower case, `@` dropped, single spaces.
fn normal(name: &str) -> String {
    name.trim()
        .trim_start_matches('@')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The ways a calendar may write a person's name: as it is, after a `Label:` or a
/// `[L1]` priority label (Grafana OnCall's calendars), without a trailing `(note)`, and
/// `Last, First` turned round.
fn forms(name: &str) -> Vec<String> {
    let mut forms = vec![name.to_string()];
    if let Some((_, after)) = name.rsplit_once(':') {
        forms.push(after.to_string());
    }
    if let Some((_, after)) = name
        .trim_start()
        .strip_prefix('[')
        .and_then(|n| n.split_once(']'))
    {
        forms.push(after.to_string());
    }
    for f in forms.clone() {
        if let Some((before, _)) = f.split_once('(') {
            forms.push(before.to_string());
        }
    }
    for f in forms.clone() {
        if let Some((last, first)) = f.split_once(',') {
            if !first.contains(',') {
                forms.push(format!("{first} {last}"));
            }
        }
    }
    forms
        .iter()
        .map(|f| normal(f))
        .filter(|f| !f.is_empty())
        .collect()
}

/// The occurrences in `[from, to)` that name nobody `people` knows, for `warroom check`:
/// each with its line and the names it gives.
pub fn unnamed(
    calendar: &Calendar,
    people: &BTreeMap<String, String>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ImportedShift>, IcalError> {
    Ok(calendar
        .shifts(from, to)?
        .into_iter()
        .filter(|s| !s.who.iter().any(|n| people.contains_key(n)))
        .collect())
}

/// Everyone in the directory with every name a calendar may give them: handle, aliases,
/// full name, and the email address of their contact methods.
pub fn known_people<'a>(
    directory: &'a crate::domain::contacts::Directory,
    methods: &'a BTreeMap<String, crate::domain::reach::ContactMethods>,
) -> Vec<Known<'a>> {
    directory
        .contacts()
        .iter()
        .map(|c| Known {
            handle: &c.handle,
            names: std::iter::once(c.name.as_str())
                .chain(c.aliases.iter().map(String::as_str))
                .chain(methods.get(&c.handle).and_then(|m| m.email.as_deref()))
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::*;
    use super::super::*;
    use super::*;
    use crate::domain::contacts::{Contact, Directory, Team};
    use crate::domain::reach::ContactMethods;

    const GOOGLE: &str = include_str!("../../../tests/fixtures/ical/google-oncall.ics");

    /// The calendar's people, and a second Riley so that a bare first name is ambiguous.
    fn people() -> (Directory, BTreeMap<String, ContactMethods>) {
        let person = |handle: &str, name: &str, aliases: &[&str]| Contact {
            handle: handle.into(),
            name: name.into(),
            team: "SRE".into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
        };
        let directory = Directory::new(
            vec![
                person("rpark", "Riley Park", &[]),
                person("ghammer", "Greta Hammer", &[]),
                person("khouse", "Kai House", &["kai"]),
                person("rstone", "Riley Stone", &["riley"]),
                person("rmoss", "Riley", &[]),
            ],
            vec![Team {
                name: "SRE".into(),
                aliases: vec![],
            }],
        )
        .unwrap();
        let mut methods = BTreeMap::new();
        methods.insert(
            "ghammer".to_string(),
            ContactMethods {
                email: Some("GHammer@Example.com".into()),
                ..ContactMethods::default()
            },
        );
        (directory, methods)
    }

    fn calendar_spec(text: &str) -> LayerSpec {
        let (directory, methods) = people();
        let calendar = Calendar::parse(text).unwrap();
        LayerSpec {
            name: Some("calendar".into()),
            ical: Some("oncall.ics".into()),
            calendar: Some(text.to_string()),
            calendar_people: match_names(&calendar, &known_people(&directory, &methods)),
            ..LayerSpec::default()
        }
    }

    fn checked(layers: Vec<LayerSpec>) -> (ScheduleSpec, Schedule) {
        let spec = ScheduleSpec {
            name: "sre".into(),
            timezone: Some("Europe/Berlin".into()),
            shifts: false,
            layers,
        };
        let schedule = Schedule::check(&spec, chrono_tz::UTC, &people().0, "schedules[0]").unwrap();
        (spec, schedule)
    }

    #[test]
    fn a_google_calendar_layer_puts_on_call_whom_each_event_names() {
        let (_, schedule) = checked(vec![calendar_spec(GOOGLE)]);
        let spans = roster(schedule).resolve(utc(2026, 10, 12, 7, 0), utc(2027, 1, 4, 8, 0));
        assert_eq!(
            plain(&spans),
            vec![
                row("10-12 07:00", "10-19 07:00", "rpark"),
                // The weekly hand-off stays at 09:00 Berlin across the change of the clocks.
                row("10-19 07:00", "10-26 08:00", "ghammer"),
                row("10-26 08:00", "11-02 08:00", "rpark"),
                row("11-02 08:00", "11-09 08:00", "ghammer"),
                row("11-09 08:00", "11-16 08:00", "rpark"),
                // Greta's week is an EXDATE, Kai covers it (Sam's cover was cancelled).
                row("11-16 08:00", "11-23 08:00", "khouse"),
                row("11-23 08:00", "11-30 08:00", "rpark"),
                row("11-30 08:00", "12-07 08:00", "ghammer"),
                // Riley's occurrence moved by RECURRENCE-ID to end on Thursday.
                row("12-07 08:00", "12-10 08:00", "rpark"),
                row("12-10 08:00", "12-14 08:00", "khouse"),
                row("12-14 08:00", "12-21 08:00", "ghammer"),
                // The all-day holiday cover began last, so it wins over Riley's week.
                row("12-21 08:00", "12-23 23:00", "rpark"),
                row("12-23 23:00", "12-24 23:00", "khouse"),
                row("12-24 23:00", "12-28 08:00", "rpark"),
                row("12-28 08:00", "01-04 08:00", "ghammer"),
            ]
        );
    }

    #[test]
    fn names_match_handles_aliases_full_names_and_emails_and_an_ambiguous_one_matches_nobody() {
        let (directory, methods) = people();
        let known = known_people(&directory, &methods);
        let one = |name: &str| match_name(name, &known);
        assert_eq!(one("On call: Park, Riley"), Some("rpark"));
        assert_eq!(one("Park, Riley (until Thursday)"), Some("rpark"));
        assert_eq!(one("ghammer@example.COM"), Some("ghammer"));
        assert_eq!(one("@khouse"), Some("khouse"));
        assert_eq!(one("Holiday cover:  KAI"), Some("khouse"));
        assert_eq!(one("[L1] khouse"), Some("khouse"));
        // Two people go by "riley": the name stands for neither.
        assert_eq!(one("On call: Riley"), None);
        assert_eq!(one("SRE primary on-call"), None);
        let matched = match_names(&Calendar::parse(GOOGLE).unwrap(), &known);
        assert_eq!(matched["On call: Park, Riley"], "@rpark");
        assert_eq!(matched["On call: Greta Hammer"], "@ghammer");
        assert!(
            !matched.contains_key("On call: Sam Ortiz"),
            "a cancelled event's names are not matched"
        );
    }

    #[test]
    fn a_later_rotation_and_an_override_win_over_the_calendar_and_the_recorded_spec_reads_back_alone(
    ) {
        let weekdays = LayerSpec {
            restrict: vec![WindowSpec {
                days: vec!["sat".into()],
                from: Some("00:00".into()),
                to: Some("24:00".into()),
            }],
            ..layer(&["@rstone"], "1w", "2026-11-02")
        };
        let (spec, schedule) = checked(vec![calendar_spec(GOOGLE), weekdays]);
        let recorded = schedule.recorded_spec(&spec);
        let read_back = Schedule::from_recorded(&recorded).unwrap();
        assert_eq!(
            read_back, schedule,
            "no directory and no file is needed to read it"
        );
        let mut roster = roster(read_back);
        roster.overrides.push(Override {
            person: "rmoss".into(),
            from: utc(2026, 11, 23, 12, 0),
            to: utc(2026, 11, 23, 13, 0),
            replaces: None,
            by: "rpark".into(),
            reference: "ref".into(),
        });
        let spans = roster.resolve(utc(2026, 11, 20, 0, 0), utc(2026, 11, 24, 0, 0));
        assert_eq!(
            plain(&spans),
            vec![
                row("11-20 00:00", "11-20 23:00", "khouse"),
                row("11-20 23:00", "11-21 23:00", "rstone"),
                row("11-21 23:00", "11-23 08:00", "khouse"),
                row("11-23 08:00", "11-23 12:00", "rpark"),
                row("11-23 12:00", "11-23 13:00", "rmoss"),
                row("11-23 13:00", "11-24 00:00", "rpark"),
            ]
        );
    }

    #[test]
    fn a_calendar_layer_refuses_a_rotations_keys_and_a_calendar_it_cannot_read() {
        let spec = ScheduleSpec {
            name: "sre".into(),
            timezone: None,
            shifts: false,
            layers: vec![
                LayerSpec {
                    timezone: Some("UTC".into()),
                    restrict: vec![WindowSpec::default()],
                    people: vec!["@rpark".into()],
                    ..calendar_spec(GOOGLE)
                },
                LayerSpec {
                    calendar: Some("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n".into()),
                    ..calendar_spec(GOOGLE)
                },
            ],
        };
        let problems = Schedule::check(&spec, chrono_tz::UTC, &people().0, "schedules[0]")
            .unwrap_err()
            .join("\n");
        assert!(
            problems.contains(
                "schedules[0].layers[0]: people, timezone, restrict belong to a rotation"
            ),
            "{problems}"
        );
        assert!(
            problems.contains("schedules[0].layers[1]: the calendar oncall.ics cannot be read: line 2: VEVENT has no DTSTART"),
            "{problems}"
        );
    }

    #[test]
    fn a_rotation_is_written_and_read_as_before_calendars_existed() {
        let json = serde_json::to_string(&layer(&["@rpark", "none"], "1w", "2026-11-30")).unwrap();
        assert_eq!(
            json,
            r#"{"people":["@rpark","none"],"turn":"1w","anchor":"2026-11-30"}"#
        );
        let read: LayerSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(read, layer(&["@rpark", "none"], "1w", "2026-11-30"));
    }

    #[test]
    fn events_naming_nobody_known_are_found_with_their_line() {
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART:20260105T090000Z\r\nDURATION:P7D\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:On call: Xavier Quinn\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let calendar = Calendar::parse(text).unwrap();
        let (directory, methods) = people();
        let matched = match_names(&calendar, &known_people(&directory, &methods));
        assert!(matched.is_empty());
        let strangers = unnamed(
            &calendar,
            &matched,
            utc(2026, 12, 1, 0, 0),
            utc(2026, 12, 29, 0, 0),
        )
        .unwrap();
        assert_eq!(strangers.len(), 5);
        assert_eq!(strangers[0].line, 3);
        assert_eq!(strangers[0].who, vec!["On call: Xavier Quinn".to_string()]);
    }

    #[test]
    fn a_year_of_an_endless_daily_calendar_is_expanded_a_week_at_a_time() {
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART:20200101T090000Z\r\nDURATION:PT12H\r\nRRULE:FREQ=DAILY\r\nSUMMARY:kai\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let (_, schedule) = checked(vec![calendar_spec(text)]);
        let LayerKind::Calendar(layer) = &schedule.layers[0].kind else {
            panic!("a calendar layer")
        };
        let spans = roster(schedule.clone()).resolve(utc(2027, 1, 1, 0, 0), utc(2028, 1, 1, 0, 0));
        let on_call: Vec<&Span> = spans.iter().filter(|s| s.person.is_some()).collect();
        assert_eq!(on_call.len(), 365);
        assert!(on_call
            .iter()
            .all(|s| s.end - s.start == chrono::Duration::hours(12)));
        let weeks = layer.weeks.lock().unwrap().len();
        assert!((53..=54).contains(&weeks), "{weeks} weeks expanded");
    }
}
