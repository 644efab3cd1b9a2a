//! The values that say when: DATE and DATE-TIME on their zone's clock (floating ones on the
//! calendar's), the moments EXDATE and RECURRENCE-ID name, and how long an occurrence lasts.

use super::lines::Prop;
use super::IcalError;
use crate::domain::schedule::turns::instant;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;

/// The zone of floating times and all-day dates: X-WR-TIMEZONE, else UTC. An unknown name
/// is an error only once a floating time needs it.
pub(super) struct Floating(Result<Tz, IcalError>);

impl Floating {
    pub(super) fn of(calendar: &[Prop]) -> Floating {
        Floating(match calendar.iter().find(|p| p.name == "X-WR-TIMEZONE") {
            None => Ok(chrono_tz::UTC),
            Some(p) => zone(p, p.value.trim()),
        })
    }
}

/// An IANA zone by name. Some producers prefix it (`/mozilla.org/20050126_1/Europe/Berlin`),
/// so a name that does not parse is tried without its leading segments.
fn zone(prop: &Prop, name: &str) -> Result<Tz, IcalError> {
    std::iter::once(name)
        .chain(name.match_indices('/').map(|(i, _)| &name[i + 1..]))
        .find_map(|n| n.parse::<Tz>().ok())
        .ok_or_else(|| {
            prop.unsupported(format!(
                "time zone '{name}' (only IANA names such as Europe/Berlin)"
            ))
        })
}

/// A time as written: a wall-clock time on a zone's clock (UTC for `Z` times), so that
/// recurrences step on the local calendar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct When {
    pub(super) local: NaiveDateTime,
    pub(super) zone: Tz,
    pub(super) date_only: bool,
}

impl When {
    pub(super) fn instant(&self) -> DateTime<Utc> {
        instant(self.zone, self.local)
    }

    /// The same instant on another zone's clock.
    pub(super) fn local_on(&self, zone: Tz) -> NaiveDateTime {
        if zone == self.zone {
            self.local
        } else {
            self.instant().with_timezone(&zone).naive_local()
        }
    }
}

/// `YYYYMMDD` or `YYYYMMDDTHHMMSS` with an optional `Z`, read strictly.
pub(super) fn read_stamp(text: &str) -> Option<(NaiveDateTime, bool, bool)> {
    let (body, utc) = match text.strip_suffix(['Z', 'z']) {
        Some(b) => (b, true),
        None => (text, false),
    };
    if !body.is_ascii() {
        return None;
    }
    let num = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let date = |d: &str| {
        (d.len() == 8).then_some(())?;
        NaiveDate::from_ymd_opt(num(&d[..4])? as i32, num(&d[4..6])?, num(&d[6..])?)
    };
    match body.split_once(['T', 't']) {
        None if !utc => Some((date(body)?.and_time(NaiveTime::MIN), false, true)),
        None => None,
        Some((d, t)) => {
            (t.len() == 6).then_some(())?;
            let time = NaiveTime::from_hms_opt(num(&t[..2])?, num(&t[2..4])?, num(&t[4..])?)?;
            Some((date(d)?.and_time(time), utc, false))
        }
    }
}

/// One DATE or DATE-TIME value of `prop`, with its TZID or VALUE parameters.
pub(super) fn read_when(prop: &Prop, text: &str, floating: &Floating) -> Result<When, IcalError> {
    let value_type = prop.param("VALUE").map(str::to_ascii_uppercase);
    match value_type.as_deref() {
        None | Some("DATE") | Some("DATE-TIME") => {}
        Some(other) => return Err(prop.unsupported(format!("{} of VALUE={other}", prop.name))),
    }
    let text = text.trim();
    let (local, utc, date_only) = read_stamp(text)
        .filter(|&(_, _, date_only)| match value_type.as_deref() {
            Some("DATE") => date_only,
            Some(_) => !date_only,
            None => true,
        })
        .ok_or_else(|| {
            prop.malformed(format!(
                "'{text}' is not a date (20261019) or date and time (20261019T090000, Z for UTC)"
            ))
        })?;
    let zone = match (utc, prop.param("TZID")) {
        (true, _) => chrono_tz::UTC,
        (false, Some(name)) => zone(prop, name.trim())?,
        (false, None) => floating.0.clone()?,
    };
    Ok(When {
        local,
        zone,
        date_only,
    })
}

/// An EXDATE or RECURRENCE-ID: an instant, or a whole local day for a date.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Moment {
    At(DateTime<Utc>),
    Day(NaiveDate),
}

impl Moment {
    pub(super) fn of(w: When) -> Moment {
        match w.date_only {
            true => Moment::Day(w.local.date()),
            false => Moment::At(w.instant()),
        }
    }

    pub(super) fn matches(&self, occurrence: &When) -> bool {
        match *self {
            Moment::At(t) => occurrence.instant() == t,
            Moment::Day(d) => occurrence.local.date() == d,
        }
    }
}

/// How long each occurrence lasts: a stretch of the local clock, then exact time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Length {
    pub(super) local: TimeDelta,
    pub(super) exact: TimeDelta,
}

impl Length {
    pub(super) fn end(&self, start: &When) -> Option<DateTime<Utc>> {
        let local_end = start.local.checked_add_signed(self.local)?;
        instant(start.zone, local_end).checked_add_signed(self.exact)
    }

    /// How far before the window an occurrence may start and still reach into it.
    pub(super) fn reach(&self) -> Option<TimeDelta> {
        self.local
            .checked_add(&self.exact)?
            .checked_add(&TimeDelta::days(2))
    }
}

/// `P1W`, `P1DT12H`, `PT8H`: weeks and days on the local clock, hours to seconds exact
/// (RFC 5545 3.3.6). A shift cannot last a negative time.
pub(super) fn read_duration(prop: &Prop) -> Result<Length, IcalError> {
    let text = prop.value.trim();
    let bad = || {
        prop.malformed(format!(
            "'{text}' is not a duration; write e.g. P7D, PT12H or P1DT8H"
        ))
    };
    let body = text.strip_prefix('+').unwrap_or(text);
    if body.starts_with('-') {
        return Err(prop.malformed(format!("'{text}': a shift cannot last a negative time")));
    }
    let body = body.strip_prefix(['P', 'p']).ok_or_else(bad)?;
    let (date, time) = match body.split_once(['T', 't']) {
        Some((_, "")) => return Err(bad()),
        Some((d, t)) => (d, t),
        None => (body, ""),
    };
    let mut total = [0i64; 2];
    let mut any = false;
    for (part, slot) in [(date, 0), (time, 1)] {
        let mut digits = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let scale: i64 = match (slot, c.to_ascii_uppercase()) {
                (0, 'W') => 7,
                (0, 'D') => 1,
                (1, 'H') => 3600,
                (1, 'M') => 60,
                (1, 'S') => 1,
                _ => return Err(bad()),
            };
            let n: i64 = digits.parse().map_err(|_| bad())?;
            total[slot] = n
                .checked_mul(scale)
                .and_then(|v| total[slot].checked_add(v))
                .ok_or_else(bad)?;
            digits.clear();
            any = true;
        }
        if !digits.is_empty() {
            return Err(bad());
        }
    }
    if !any {
        return Err(bad());
    }
    Ok(Length {
        local: TimeDelta::try_days(total[0]).ok_or_else(bad)?,
        exact: TimeDelta::try_seconds(total[1]).ok_or_else(bad)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{event, plain, row, utc};
    use super::super::parse_shifts;

    #[test]
    fn floating_times_all_day_dates_and_durations() {
        let (from, to) = (utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0));
        // No X-WR-TIMEZONE: floating and all-day times are UTC, whatever the machine's zone.
        let floating = event("DTSTART:20261019T090000\nDURATION:P1DT12H\nSUMMARY:f\n");
        assert_eq!(
            plain(&parse_shifts(&floating, from, to).unwrap()),
            vec![row("10-19 09:00", "10-20 21:00", "f")]
        );
        let in_tokyo = floating.replace("VERSION:2.0", "VERSION:2.0\r\nX-WR-TIMEZONE:Asia/Tokyo");
        assert_eq!(
            plain(&parse_shifts(&in_tokyo, from, to).unwrap()),
            vec![row("10-19 00:00", "10-20 12:00", "f")]
        );
        // An all-day event without DTEND lasts its day; one with no time and no end is a
        // moment, which puts nobody on call.
        let all_day = event("DTSTART;VALUE=DATE:20261224\nSUMMARY:d\n");
        assert_eq!(
            plain(&parse_shifts(&all_day, from, to).unwrap()),
            vec![row("12-24 00:00", "12-25 00:00", "d")]
        );
        let moment = event("DTSTART:20261224T100000Z\nSUMMARY:m\n");
        assert_eq!(parse_shifts(&moment, from, to), Ok(vec![]));
        // A mozilla-style prefixed TZID and a DTEND in another zone (an exact length).
        let prefixed = event(
            "DTSTART;TZID=/mozilla.org/20050126_1/Europe/Berlin:20261019T090000\n\
             DTEND:20261019T170000Z\nSUMMARY:p\n",
        );
        assert_eq!(
            plain(&parse_shifts(&prefixed, from, to).unwrap()),
            vec![row("10-19 07:00", "10-19 17:00", "p")]
        );
    }
}
