//! A rule expanded: the local starts of its occurrences, period by period on the local
//! calendar, up to the window's end, UNTIL or COUNT, with a cap on how many one import
//! expands.

use super::rrule::{Freq, Rule};
use super::times::{Length, When};
use super::IcalError;
use crate::domain::schedule::turns::instant;
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};

/// The most occurrences one import expands, over all its events.
pub const MAX_OCCURRENCES: usize = 100_000;

/// A rule that matches no date in this many periods in a row never will (e.g. the 30th of
/// every February); without this, one would be stepped through until the window ends.
const MAX_EMPTY_PERIODS: u32 = 1_000;

/// Days from `week_start` to `day` within a week that starts on `week_start`.
fn days_into_week(week_start: Weekday, day: Weekday) -> u64 {
    u64::from((day.num_days_from_monday() + 7 - week_start.num_days_from_monday()) % 7)
}

fn month_number(d: NaiveDate) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

/// Counts the occurrences an import expands, to refuse a runaway one.
#[derive(Debug, Default)]
pub(super) struct Work {
    occurrences: usize,
}

impl Work {
    fn count(&mut self, line: usize) -> Result<(), IcalError> {
        self.occurrences += 1;
        if self.occurrences > MAX_OCCURRENCES {
            return Err(IcalError::TooManyOccurrences {
                line,
                limit: MAX_OCCURRENCES,
            });
        }
        Ok(())
    }
}

impl Rule {
    fn week_start_of(&self, d: NaiveDate) -> Option<NaiveDate> {
        d.checked_sub_days(Days::new(days_into_week(self.week_start, d.weekday())))
    }

    /// Period `k` of the rule counted from the one holding `first`: the day it opens and
    /// the dates in it the rule picks, in order. `None` past the calendar's range.
    fn period(&self, first: NaiveDate, k: i64) -> Option<(NaiveDate, Vec<NaiveDate>)> {
        let step = u64::try_from(k.checked_mul(i64::from(self.interval))?).ok()?;
        let (opens, mut dates) = match self.freq {
            Freq::Daily => {
                let day = first.checked_add_days(Days::new(step))?;
                let picked = self.by_day.is_empty()
                    || self.by_day.iter().any(|&(_, wd)| wd == day.weekday());
                (day, if picked { vec![day] } else { vec![] })
            }
            Freq::Weekly => {
                let opens = self
                    .week_start_of(first)?
                    .checked_add_days(Days::new(step.checked_mul(7)?))?;
                let days = match self.by_day.is_empty() {
                    true => vec![first.weekday()],
                    false => self.by_day.iter().map(|&(_, wd)| wd).collect(),
                };
                let dates = days
                    .into_iter()
                    .filter_map(|wd| {
                        opens.checked_add_days(Days::new(days_into_week(self.week_start, wd)))
                    })
                    .collect();
                (opens, dates)
            }
            Freq::Monthly => {
                let m = month_number(first).checked_add(i64::try_from(step).ok()?)?;
                let year = i32::try_from(m.div_euclid(12)).ok()?;
                let opens = NaiveDate::from_ymd_opt(year, m.rem_euclid(12) as u32 + 1, 1)?;
                let month: Vec<NaiveDate> = (1..=31).filter_map(|d| opens.with_day(d)).collect();
                let nth = |n: i64, of: &[NaiveDate]| {
                    let i = if n > 0 { n - 1 } else { of.len() as i64 + n };
                    usize::try_from(i).ok().and_then(|i| of.get(i).copied())
                };
                let dates: Vec<NaiveDate> = if !self.by_month_day.is_empty() {
                    self.by_month_day
                        .iter()
                        .filter_map(|&n| nth(n.into(), &month))
                        .collect()
                } else if !self.by_day.is_empty() {
                    self.by_day
                        .iter()
                        .flat_map(|&(n, wd)| {
                            let all: Vec<NaiveDate> = month
                                .iter()
                                .copied()
                                .filter(|d| d.weekday() == wd)
                                .collect();
                            match n {
                                None => all,
                                Some(n) => nth(n.into(), &all).into_iter().collect(),
                            }
                        })
                        .collect()
                } else {
                    // The start's day; a month without it (the 31st in April) is skipped.
                    opens.with_day(first.day()).into_iter().collect()
                };
                (opens, dates)
            }
        };
        dates.sort();
        dates.dedup();
        Some((opens, dates))
    }

    /// A period from which on every occurrence that can reach `from` is found: without
    /// COUNT nothing before it needs counting, so years of history are not stepped through.
    fn period_near(&self, start: &When, length: &Length, from: DateTime<Utc>) -> i64 {
        if self.count.is_some() {
            return 0;
        }
        let Some(early) = length.reach().and_then(|r| from.checked_sub_signed(r)) else {
            return 0;
        };
        let target = early.with_timezone(&start.zone).date_naive();
        let first = start.local.date();
        if target <= first {
            return 0;
        }
        let interval = i64::from(self.interval);
        let k = match self.freq {
            Freq::Daily => (target - first).num_days() / interval,
            Freq::Weekly => match self.week_start_of(first) {
                Some(w) => (target - w).num_days() / (7 * interval),
                None => 0,
            },
            Freq::Monthly => (month_number(target) - month_number(first)) / interval,
        };
        (k - 1).max(0)
    }

    /// The local starts of the occurrences, DTSTART first (it always counts as one), up to
    /// the first that starts at or after `to`, UNTIL or COUNT.
    pub(super) fn expand(
        &self,
        start: &When,
        length: &Length,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        work: &mut Work,
    ) -> Result<Vec<NaiveDateTime>, IcalError> {
        let (zone, time, first) = (start.zone, start.local.time(), start.local.date());
        work.count(self.line)?;
        let mut found = vec![start.local];
        let mut counted: u32 = 1;
        let mut empty = 0;
        let mut k = self.period_near(start, length, from);
        while self.count.is_none_or(|c| counted < c) {
            let Some((opens, dates)) = self.period(first, k) else {
                break;
            };
            if instant(zone, opens.and_time(NaiveTime::MIN)) >= to {
                break;
            }
            empty = if dates.is_empty() { empty + 1 } else { 0 };
            if empty >= MAX_EMPTY_PERIODS {
                return Err(IcalError::Unsupported {
                    line: self.line,
                    what: format!(
                        "an RRULE that matches no date in {MAX_EMPTY_PERIODS} periods in a row"
                    ),
                });
            }
            for local in dates.into_iter().map(|d| d.and_time(time)) {
                if local <= start.local {
                    continue;
                }
                if self.until.is_some_and(|u| u.passed(zone, local)) || instant(zone, local) >= to {
                    return Ok(found);
                }
                work.count(self.line)?;
                found.push(local);
                counted += 1;
                if self.count == Some(counted) {
                    return Ok(found);
                }
            }
            k += 1;
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{event, plain, row, starts, utc, GOOGLE};
    use super::super::{parse_shifts, IcalError, MAX_OCCURRENCES};
    use chrono_tz::Tz;

    #[test]
    fn weekly_shifts_keep_nine_local_across_both_changes_of_the_clocks() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let shifts = parse_shifts(GOOGLE, utc(2026, 10, 1, 0, 0), utc(2026, 11, 1, 0, 0)).unwrap();
        for s in &shifts {
            assert_eq!(
                s.start
                    .with_timezone(&berlin)
                    .format("%a %H:%M")
                    .to_string(),
                "Mon 09:00"
            );
            assert_eq!(
                s.end.with_timezone(&berlin).format("%a %H:%M").to_string(),
                "Mon 09:00"
            );
        }
        // Spring: clocks go forward on Sunday 2027-03-28.
        let spring = event(
            "DTSTART;TZID=Europe/Berlin:20270322T090000\nDTEND;TZID=Europe/Berlin:20270329T090000\n\
             RRULE:FREQ=WEEKLY;COUNT=2\nSUMMARY:s\n",
        );
        let shifts = parse_shifts(&spring, utc(2027, 1, 1, 0, 0), utc(2028, 1, 1, 0, 0)).unwrap();
        assert_eq!(
            plain(&shifts),
            vec![
                row("03-22 08:00", "03-29 07:00", "s"),
                row("03-29 07:00", "04-05 07:00", "s")
            ]
        );
    }

    #[test]
    fn daily_and_monthly_rules_rdate_and_exdate() {
        let (from, to) = (utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0));
        let weekdays = event(
            "DTSTART:20261015T090000Z\nDURATION:PT8H\nRRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=4\n\
             EXDATE:20261019T090000Z\nRDATE:20261024T100000Z\n",
        );
        assert_eq!(
            starts(&weekdays, from, to),
            // Thu, Fri, (Mon excluded), Tue, and the extra Saturday.
            [
                "2026-10-15 09:00",
                "2026-10-16 09:00",
                "2026-10-20 09:00",
                "2026-10-24 10:00"
            ]
        );
        let last_day = event(
            "DTSTART:20260131T090000Z\nDURATION:PT1H\nRRULE:FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=3\n",
        );
        assert_eq!(
            starts(&last_day, from, to),
            ["2026-01-31 09:00", "2026-02-28 09:00", "2026-03-31 09:00"]
        );
        // The 31st of each month skips the months without one.
        let the_31st =
            event("DTSTART:20260131T090000Z\nDURATION:PT1H\nRRULE:FREQ=MONTHLY;UNTIL=20260601\n");
        assert_eq!(
            starts(&the_31st, from, to),
            ["2026-01-31 09:00", "2026-03-31 09:00", "2026-05-31 09:00"]
        );
        let first_monday = event(
            "DTSTART;TZID=Europe/Berlin:20261005T090000\nDURATION:PT2H\n\
             RRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=1MO,-1FR;COUNT=5\n",
        );
        assert_eq!(
            starts(&first_monday, from, to),
            [
                "2026-10-05 07:00",
                "2026-10-30 08:00",
                "2026-12-07 08:00",
                "2026-12-25 08:00"
            ]
        );
        // Every other week on Monday and Thursday, weeks starting on Sunday.
        let fortnightly = event(
            "DTSTART:20261018T090000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;WKST=SU;COUNT=5\n",
        );
        assert_eq!(
            starts(&fortnightly, from, to),
            [
                "2026-10-18 09:00",
                "2026-10-19 09:00",
                "2026-10-22 09:00",
                "2026-11-02 09:00",
                "2026-11-05 09:00"
            ]
        );
    }

    #[test]
    fn more_than_the_occurrence_limit_is_refused() {
        let daily = event("DTSTART:17000101T000000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY\n");
        assert_eq!(
            parse_shifts(&daily, utc(1700, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0)),
            Err(IcalError::TooManyOccurrences {
                line: 6,
                limit: MAX_OCCURRENCES
            })
        );
        // COUNT counts from DTSTART, so a counted rule is expanded from its start.
        let counted =
            event("DTSTART:17000101T000000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=200000\n");
        assert!(matches!(
            parse_shifts(&counted, utc(2026, 1, 1, 0, 0), utc(2026, 1, 2, 0, 0)),
            Err(IcalError::TooManyOccurrences { .. })
        ));
    }
}
