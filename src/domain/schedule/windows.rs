//! When a layer is active: weekdays and times of day on a zone's wall clock (business
//! hours, a night shift that crosses midnight, one region's part of follow-the-sun).

use super::turns::instant;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

/// Minutes in a day; `24:00` is written as this.
const DAY: u32 = 24 * 60;

/// One window, repeated on each of its weekdays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Monday first.
    pub days: [bool; 7],
    /// Minutes after local midnight; `to <= from` runs past midnight into the next day.
    pub from: u32,
    pub to: u32,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const DAY_FULL_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn day_index(name: &str) -> Option<usize> {
    let name = name.trim().to_ascii_lowercase();
    (0..7).find(|&i| name == DAY_NAMES[i] || name == DAY_FULL_NAMES[i])
}

/// Reads `mon-fri`, `sat`, `sun`, `tue-thu` or `fri-mon` (a range may wrap the week).
pub fn parse_days(given: &[String]) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    if given.is_empty() {
        return Ok([true; 7]);
    }
    for part in given {
        let bad = || format!("'{part}' is not a day or range of days; write mon, sat or mon-fri");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day_index(a).ok_or_else(bad)?, day_index(b).ok_or_else(bad)?);
                let mut d = a;
                loop {
                    days[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[day_index(part).ok_or_else(bad)?] = true,
        }
    }
    Ok(days)
}

/// Reads `HH:MM` (and `24:00` where `end` is true) as minutes after midnight.
pub fn parse_clock(text: &str, end: bool) -> Result<u32, String> {
    if end && text.trim() == "24:00" {
        return Ok(DAY);
    }
    let t = NaiveTime::parse_from_str(text.trim(), "%H:%M").map_err(|_| {
        format!("'{text}' is not a time of day; write HH:MM on the 24-hour clock, e.g. 09:00")
    })?;
    Ok(chrono::Timelike::hour(&t) * 60 + chrono::Timelike::minute(&t))
}

impl Window {
    /// Where this window runs on local date `day`, if it runs that day.
    fn on(&self, zone: Tz, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.days[day.weekday().num_days_from_monday() as usize] {
            return None;
        }
        let at = |date: NaiveDate, minutes: u32| {
            let midnight = date.and_hms_opt(0, 0, 0)?;
            Some(instant(zone, midnight + Duration::minutes(minutes.into())))
        };
        let end_day = if self.to <= self.from {
            day.succ_opt()?
        } else {
            day
        };
        Some((at(day, self.from)?, at(end_day, self.to)?))
    }
}

/// Whether any of `windows` runs at some moment of `[from, to)`: [`active`] without
/// building the list, for the question asked of every turn of a held rotation.
pub fn any_active(zone: Tz, windows: &[Window], from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    if from >= to {
        return false;
    }
    if windows.is_empty() {
        return true;
    }
    let last = to.with_timezone(&zone).date_naive();
    let mut day = from
        .with_timezone(&zone)
        .date_naive()
        .pred_opt()
        .unwrap_or(last);
    while day <= last {
        let runs = windows
            .iter()
            .filter_map(|w| w.on(zone, day))
            .any(|(a, b)| a.max(from) < b.min(to));
        if runs {
            return true;
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    false
}

/// The parts of `[from, to)` in which any of `windows` runs on `zone`'s clock, in order and
/// merged; all of it when there are no windows.
pub fn active(
    zone: Tz,
    windows: &[Window],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    if from >= to {
        return vec![];
    }
    if windows.is_empty() {
        return vec![(from, to)];
    }
    let first = from.with_timezone(&zone).date_naive().pred_opt();
    let last = to.with_timezone(&zone).date_naive();
    let mut spans = Vec::new();
    let mut day = first.unwrap_or(last);
    while day <= last {
        for w in windows {
            if let Some((a, b)) = w.on(zone, day) {
                let (a, b) = (a.max(from), b.min(to));
                if a < b {
                    spans.push((a, b));
                }
            }
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    spans.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn days_and_clocks_read_as_people_write_them() {
        let weekdays = parse_days(&["mon-fri".into()]).unwrap();
        assert_eq!(weekdays, [true, true, true, true, true, false, false]);
        let wrap = parse_days(&["fri-mon".into()]).unwrap();
        assert_eq!(wrap, [true, false, false, false, true, true, true]);
        assert!(parse_days(&["Saturday".into()]).unwrap()[5]);
        assert!(parse_days(&["someday".into()])
            .unwrap_err()
            .contains("mon-fri"));
        assert_eq!(parse_clock("09:30", false), Ok(570));
        assert_eq!(parse_clock("24:00", true), Ok(1440));
        assert!(parse_clock("24:00", false).unwrap_err().contains("HH:MM"));
    }

    #[test]
    fn business_hours_and_a_night_window_across_midnight() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let business = Window {
            days: parse_days(&["mon-fri".into()]).unwrap(),
            from: 9 * 60,
            to: 17 * 60,
        };
        // Friday 2026-12-04 to Tuesday: Friday and Monday, 08:00–16:00 UTC (CET).
        let spans = active(berlin, &[business], utc(12, 4, 0), utc(12, 8, 0));
        assert_eq!(
            spans,
            vec![
                (utc(12, 4, 8), utc(12, 4, 16)),
                (utc(12, 7, 8), utc(12, 7, 16))
            ]
        );
        let night = Window {
            days: [true; 7],
            from: 22 * 60,
            to: 6 * 60,
        };
        let spans = active(chrono_tz::UTC, &[night], utc(12, 4, 0), utc(12, 5, 12));
        assert_eq!(
            spans,
            vec![
                (utc(12, 4, 0), utc(12, 4, 6)),
                (utc(12, 4, 22), utc(12, 5, 6))
            ]
        );
    }
}
