//! The calendars the tests read and short forms of what comes back; shared by the tests of
//! every part of the module.

use super::{parse_shifts, IcalError, ImportedShift};
use chrono::{DateTime, TimeZone, Utc};

pub(super) const GOOGLE: &str = include_str!("../../../../tests/fixtures/ical/google-oncall.ics");

pub(super) fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// A calendar around `events` (written with `\n`): its first event begins on line 3.
pub(super) fn calendar(events: &str) -> String {
    format!("BEGIN:VCALENDAR\nVERSION:2.0\n{events}END:VCALENDAR\n").replace('\n', "\r\n")
}

pub(super) fn event(lines: &str) -> String {
    calendar(&format!("BEGIN:VEVENT\n{lines}END:VEVENT\n"))
}

/// `(start, end, first candidate)` in UTC, compact.
pub(super) fn plain(shifts: &[ImportedShift]) -> Vec<(String, String, String)> {
    shifts
        .iter()
        .map(|s| {
            (
                s.start.format("%m-%d %H:%M").to_string(),
                s.end.format("%m-%d %H:%M").to_string(),
                s.who.first().cloned().unwrap_or_default(),
            )
        })
        .collect()
}

pub(super) fn row(a: &str, b: &str, who: &str) -> (String, String, String) {
    (a.into(), b.into(), who.into())
}

pub(super) fn starts(text: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    parse_shifts(text, from, to)
        .unwrap()
        .iter()
        .map(|s| s.start.format("%Y-%m-%d %H:%M").to_string())
        .collect()
}

pub(super) fn error(text: &str) -> IcalError {
    parse_shifts(text, utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0)).unwrap_err()
}
