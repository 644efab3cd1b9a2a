//! An RRULE read into the supported subset (daily, weekly and monthly); any other part is
//! refused with its line.

use super::lines::Prop;
use super::times::read_stamp;
use super::IcalError;
use crate::domain::schedule::turns::instant;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc, Weekday};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Freq {
    Daily,
    Weekly,
    Monthly,
}

/// Where a rule stops, as UNTIL was written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Until {
    At(DateTime<Utc>),
    Day(NaiveDate),
    Local(NaiveDateTime),
}

impl Until {
    pub(super) fn passed(&self, zone: Tz, local: NaiveDateTime) -> bool {
        match *self {
            Until::At(t) => instant(zone, local) > t,
            Until::Day(d) => local.date() > d,
            Until::Local(l) => local > l,
        }
    }
}

/// An RRULE in the supported subset.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Rule {
    pub(super) line: usize,
    pub(super) freq: Freq,
    pub(super) interval: u32,
    pub(super) count: Option<u32>,
    pub(super) until: Option<Until>,
    /// With an ordinal (`2MO`, `-1FR`) for monthly rules only.
    pub(super) by_day: Vec<(Option<i8>, Weekday)>,
    pub(super) by_month_day: Vec<i8>,
    pub(super) week_start: Weekday,
}

fn weekday(code: &str) -> Option<Weekday> {
    use Weekday::*;
    let days = [
        ("MO", Mon),
        ("TU", Tue),
        ("WE", Wed),
        ("TH", Thu),
        ("FR", Fri),
    ];
    days.into_iter()
        .chain([("SA", Sat), ("SU", Sun)])
        .find(|(c, _)| code.eq_ignore_ascii_case(c))
        .map(|(_, d)| d)
}

pub(super) fn read_rule(prop: &Prop) -> Result<Rule, IcalError> {
    let mut rule = Rule {
        line: prop.line,
        freq: Freq::Daily,
        interval: 1,
        count: None,
        until: None,
        by_day: vec![],
        by_month_day: vec![],
        week_start: Weekday::Mon,
    };
    let mut seen: Vec<String> = Vec::new();
    let mut freq = None;
    for part in prop.value.trim().split(';').filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| prop.malformed(format!("'{part}' has no '='")))?;
        let key = key.trim().to_ascii_uppercase();
        let value = value.trim();
        if seen.contains(&key) {
            return Err(prop.malformed(format!("{key} is given twice")));
        }
        seen.push(key.clone());
        let bad = |what: &str| prop.malformed(format!("{key}={value}: {what}"));
        let positive = || match value.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad("not a whole number from 1")),
        };
        match key.as_str() {
            "FREQ" => {
                freq = Some(match value.to_ascii_uppercase().as_str() {
                    "DAILY" => Freq::Daily,
                    "WEEKLY" => Freq::Weekly,
                    "MONTHLY" => Freq::Monthly,
                    "YEARLY" | "HOURLY" | "MINUTELY" | "SECONDLY" => {
                        return Err(prop.unsupported(format!(
                            "RRULE FREQ={value} (only DAILY, WEEKLY and MONTHLY)"
                        )))
                    }
                    _ => return Err(bad("not a frequency")),
                })
            }
            "INTERVAL" => rule.interval = positive()?,
            "COUNT" => rule.count = Some(positive()?),
            "UNTIL" => {
                let (local, utc, date_only) = read_stamp(value)
                    .ok_or_else(|| bad("not a date (20261231) or time (20261231T225959Z)"))?;
                rule.until = Some(match (utc, date_only) {
                    (true, _) => Until::At(local.and_utc()),
                    (false, true) => Until::Day(local.date()),
                    (false, false) => Until::Local(local),
                });
            }
            "WKST" => rule.week_start = weekday(value).ok_or_else(|| bad("not a weekday"))?,
            "BYDAY" => {
                for day in value.split(',').map(str::trim) {
                    if !day.is_ascii() {
                        return Err(bad("not a list of weekdays"));
                    }
                    let split = day.len().saturating_sub(2);
                    let (ordinal, code) = (&day[..split], &day[split..]);
                    let wd = weekday(code).ok_or_else(|| bad("not a list of weekdays"))?;
                    let ordinal = match ordinal.strip_prefix('+').unwrap_or(ordinal) {
                        "" => None,
                        n => match n.parse::<i8>() {
                            Ok(n) if n != 0 && n.abs() <= 5 => Some(n),
                            _ => return Err(bad("a month has the 1st to the 5th or -1st to -5th")),
                        },
                    };
                    rule.by_day.push((ordinal, wd));
                }
            }
            "BYMONTHDAY" => {
                for day in value.split(',').map(str::trim) {
                    match day.strip_prefix('+').unwrap_or(day).parse::<i8>() {
                        Ok(n) if n != 0 && n.abs() <= 31 => rule.by_month_day.push(n),
                        _ => return Err(bad("days of the month are 1 to 31 or -1 to -31")),
                    }
                }
            }
            _ => {
                return Err(prop.unsupported(format!(
                    "RRULE part {key} (warroom reads FREQ, INTERVAL, COUNT, UNTIL, BYDAY, \
                     BYMONTHDAY and WKST)"
                )))
            }
        }
    }
    rule.freq = freq.ok_or_else(|| prop.malformed("an RRULE needs FREQ"))?;
    if rule.count.is_some() && rule.until.is_some() {
        return Err(prop.malformed("COUNT and UNTIL cannot both be given"));
    }
    let ordinals = rule.by_day.iter().any(|(n, _)| n.is_some());
    let month_days = !rule.by_month_day.is_empty();
    match rule.freq {
        Freq::Monthly if month_days && !rule.by_day.is_empty() => {
            Err(prop.unsupported("RRULE with both BYDAY and BYMONTHDAY"))
        }
        Freq::Monthly => Ok(rule),
        _ if ordinals => Err(prop.malformed("BYDAY with a number (2MO) is for monthly rules")),
        Freq::Daily if month_days => Err(prop.unsupported("BYMONTHDAY in a daily RRULE")),
        Freq::Weekly if month_days => {
            Err(prop.malformed("BYMONTHDAY cannot be used with FREQ=WEEKLY"))
        }
        _ => Ok(rule),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{calendar, error, event, utc};
    use super::super::{parse_shifts, IcalError};

    fn unsupported(line: usize, what: &str) -> IcalError {
        IcalError::Unsupported {
            line,
            what: what.into(),
        }
    }

    #[test]
    fn unsupported_rules_are_refused_with_their_line() {
        let rule = |r: &str| {
            error(&event(&format!(
                "DTSTART:20261005T090000Z\nDURATION:PT1H\nRRULE:{r}\n"
            )))
        };
        assert_eq!(
            rule("FREQ=YEARLY;BYMONTH=3"),
            unsupported(6, "RRULE FREQ=YEARLY (only DAILY, WEEKLY and MONTHLY)")
        );
        assert_eq!(
            rule("FREQ=SECONDLY"),
            unsupported(6, "RRULE FREQ=SECONDLY (only DAILY, WEEKLY and MONTHLY)")
        );
        let bysetpos = rule("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1");
        assert!(
            matches!(&bysetpos, IcalError::Unsupported { line: 6, what } if what.starts_with("RRULE part BYSETPOS")),
            "{bysetpos}"
        );
        assert_eq!(
            bysetpos.to_string(),
            "line 6: RRULE part BYSETPOS (warroom reads FREQ, INTERVAL, COUNT, UNTIL, BYDAY, \
             BYMONTHDAY and WKST) is not supported"
        );
        assert_eq!(
            rule("FREQ=MONTHLY;BYDAY=MO;BYMONTHDAY=1"),
            unsupported(6, "RRULE with both BYDAY and BYMONTHDAY")
        );
        let never = event("DTSTART:20000210T090000Z\nDURATION:PT1H\nRRULE:FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=30\n");
        assert_eq!(
            parse_shifts(&never, utc(2000, 1, 1, 0, 0), utc(3200, 1, 1, 0, 0)),
            Err(unsupported(
                6,
                "an RRULE that matches no date in 1000 periods in a row"
            ))
        );
        let two = event("DTSTART:20261005T090000Z\nRRULE:FREQ=DAILY\nRRULE:FREQ=WEEKLY\n");
        assert_eq!(error(&two), unsupported(6, "a second RRULE in one event"));
        let future = calendar(
            "BEGIN:VEVENT\nUID:a\nRECURRENCE-ID;RANGE=THISANDFUTURE:20261012T090000Z\n\
             DTSTART:20261012T100000Z\nEND:VEVENT\n",
        );
        assert_eq!(
            error(&future),
            unsupported(5, "RECURRENCE-ID with RANGE=THISANDFUTURE")
        );
        let windows_zone = event("DTSTART;TZID=W. Europe Standard Time:20261005T090000\n");
        assert_eq!(
            error(&windows_zone),
            unsupported(
                4,
                "time zone 'W. Europe Standard Time' (only IANA names such as Europe/Berlin)"
            )
        );
        let period = event("DTSTART:20261005T090000Z\nRDATE;VALUE=PERIOD:20261006T090000Z/PT1H\n");
        assert_eq!(error(&period), unsupported(5, "RDATE of VALUE=PERIOD"));
    }
}
