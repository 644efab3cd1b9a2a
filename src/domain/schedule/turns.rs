//! A rotation's turns: their length, and where each one starts, computed on the local wall
//! clock of the layer's zone so a hand-off at 09:00 stays at 09:00 across daylight saving.

use chrono::{DateTime, Months, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::fmt;

/// How long one person's turn lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    Hours(u32),
    Days(u32),
    Weeks(u32),
    Months(u32),
}

impl Turn {
    /// Reads `12h`, `1d`, `2w` or `1month` (also `hours`, `days`, `weeks`, `months`).
    pub fn parse(text: &str) -> Result<Turn, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (count, unit) = t.split_at(split);
        let bad = || {
            format!(
                "'{text}' is not a turn length; write a number and a unit: 12h, 1d, 2w or 1month"
            )
        };
        let count: u32 = count.parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!("'{text}': a turn must last at least one unit"));
        }
        let (turn, most) = match unit.trim() {
            "h" | "hour" | "hours" => (Turn::Hours(count), 24 * 366),
            "d" | "day" | "days" => (Turn::Days(count), 366),
            "w" | "week" | "weeks" => (Turn::Weeks(count), 53),
            "month" | "months" => (Turn::Months(count), 12),
            _ => return Err(bad()),
        };
        if count > most {
            return Err(format!(
                "'{text}': a turn may last at most a year ({most} of that unit)"
            ));
        }
        Ok(turn)
    }

    /// The wall-clock start of turn `k` of a rotation anchored at `anchor`. Months are
    /// counted from the anchor each time, so a turn anchored on the 31st starts on the last
    /// day of a shorter month and on the 31st again after it.
    pub fn start(self, anchor: NaiveDateTime, k: i64) -> Option<NaiveDateTime> {
        match self {
            Turn::Hours(n) => anchor.checked_add_signed(chrono::Duration::hours(k * i64::from(n))),
            Turn::Days(n) => anchor.checked_add_signed(chrono::Duration::days(k * i64::from(n))),
            Turn::Weeks(n) => anchor.checked_add_signed(chrono::Duration::weeks(k * i64::from(n))),
            Turn::Months(n) => {
                let months = u32::try_from(k.checked_mul(i64::from(n))?.abs()).ok()?;
                if k >= 0 {
                    anchor.checked_add_months(Months::new(months))
                } else {
                    anchor.checked_sub_months(Months::new(months))
                }
            }
        }
    }

    /// A first guess of the turn holding wall-clock time `local`, exact but for the
    /// hours a daylight-saving change moves; [`Turns::index_at`] corrects it.
    fn estimate(self, anchor: NaiveDateTime, local: NaiveDateTime) -> i64 {
        let minutes = (local - anchor).num_minutes();
        let per = |unit_minutes: i64, n: u32| minutes.div_euclid(unit_minutes * i64::from(n));
        match self {
            Turn::Hours(n) => per(60, n),
            Turn::Days(n) => per(24 * 60, n),
            Turn::Weeks(n) => per(7 * 24 * 60, n),
            Turn::Months(n) => {
                use chrono::Datelike;
                let months = (i64::from(local.year()) - i64::from(anchor.year())) * 12
                    + i64::from(local.month())
                    - i64::from(anchor.month());
                months.div_euclid(i64::from(n))
            }
        }
    }
}

impl Turn {
    /// After how many turns the rotation meets the same hours of the same weekdays again on
    /// the wall clock (a week's worth), so what repeats weekly can be counted per period;
    /// `None` for months, which never line up with weeks.
    pub fn weekly_period(self) -> Option<i64> {
        fn gcd(a: i64, b: i64) -> i64 {
            if b == 0 {
                a
            } else {
                gcd(b, a % b)
            }
        }
        let hours = match self {
            Turn::Hours(n) => i64::from(n),
            Turn::Days(n) => 24 * i64::from(n),
            Turn::Weeks(n) => 168 * i64::from(n),
            Turn::Months(_) => return None,
        };
        Some(168 / gcd(hours, 168))
    }
}

impl fmt::Display for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Turn::Hours(n) => write!(f, "{n}h"),
            Turn::Days(n) => write!(f, "{n}d"),
            Turn::Weeks(n) => write!(f, "{n}w"),
            Turn::Months(n) => write!(f, "{n}month"),
        }
    }
}

/// The instant a wall-clock time names in `zone`. A time repeated when clocks go back is
/// its first occurrence; a time skipped when they go forward is read with the offset before
/// the change (02:30 on the spring-forward night in Berlin is 03:30 summer time), as
/// iCalendar does, so a hand-off never vanishes.
pub fn instant(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => {
            // A gap is at most a few hours long; some hour before it exists.
            let hour = chrono::Duration::hours(1);
            (1..=3)
                .find_map(|h| {
                    let before = zone.from_local_datetime(&(local - hour * h)).earliest()?;
                    Some(before.with_timezone(&Utc) + hour * h)
                })
                .unwrap_or_else(|| Utc.from_utc_datetime(&local))
        }
    }
}

/// The turns of one rotation on the clock of one zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Turns {
    pub zone: Tz,
    pub anchor: NaiveDateTime,
    pub turn: Turn,
}

impl Turns {
    /// When turn `k` starts; `None` beyond the calendar chrono can count.
    pub fn starts_at(&self, k: i64) -> Option<DateTime<Utc>> {
        self.turn
            .start(self.anchor, k)
            .map(|local| instant(self.zone, local))
    }

    /// The turn running at `t` (negative before the anchor).
    pub fn index_at(&self, t: DateTime<Utc>) -> i64 {
        let local = t.with_timezone(&self.zone).naive_local();
        let mut k = self.turn.estimate(self.anchor, local);
        while k > i64::MIN / 2 && self.starts_at(k).is_some_and(|s| s > t) {
            k -= 1;
        }
        while self.starts_at(k + 1).is_some_and(|s| s <= t) {
            k += 1;
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    #[test]
    fn lengths_read_with_their_unit_and_bounds() {
        assert_eq!(Turn::parse("12h"), Ok(Turn::Hours(12)));
        assert_eq!(Turn::parse("1 week"), Ok(Turn::Weeks(1)));
        assert_eq!(Turn::parse("1month"), Ok(Turn::Months(1)));
        assert!(Turn::parse("0d").unwrap_err().contains("at least one"));
        assert!(Turn::parse("fortnight")
            .unwrap_err()
            .contains("12h, 1d, 2w or 1month"));
        assert!(Turn::parse("400d").unwrap_err().contains("at most a year"));
    }

    #[test]
    fn skipped_and_repeated_wall_clock_times_name_one_instant() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 2026-03-29 02:30 does not exist in Berlin: read with winter time, 01:30 UTC.
        assert_eq!(
            instant(berlin, local(2026, 3, 29, 2, 30)),
            Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap()
        );
        // 2026-10-25 02:30 happens twice: the first, in summer time, 00:30 UTC.
        assert_eq!(
            instant(berlin, local(2026, 10, 25, 2, 30)),
            Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap()
        );
    }

    #[test]
    fn monthly_turns_keep_the_anchor_day_and_weekly_ones_the_local_hour() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let monthly = Turns {
            zone: chrono_tz::UTC,
            anchor: local(2027, 1, 31, 9, 0),
            turn: Turn::Months(1),
        };
        assert_eq!(
            monthly.starts_at(1).unwrap(),
            Utc.with_ymd_and_hms(2027, 2, 28, 9, 0, 0).unwrap()
        );
        assert_eq!(
            monthly.starts_at(2).unwrap(),
            Utc.with_ymd_and_hms(2027, 3, 31, 9, 0, 0).unwrap()
        );
        let weekly = Turns {
            zone: berlin,
            anchor: local(2026, 3, 23, 9, 0),
            turn: Turn::Weeks(1),
        };
        // 09:00 CET is 08:00 UTC; a week later, after the change, 09:00 CEST is 07:00 UTC.
        assert_eq!(
            weekly.starts_at(0).unwrap().to_rfc3339(),
            "2026-03-23T08:00:00+00:00"
        );
        assert_eq!(
            weekly.starts_at(1).unwrap().to_rfc3339(),
            "2026-03-30T07:00:00+00:00"
        );
        let just_before = Utc.with_ymd_and_hms(2026, 3, 30, 6, 59, 0).unwrap();
        assert_eq!(weekly.index_at(just_before), 0);
        assert_eq!(
            weekly.index_at(just_before + chrono::Duration::minutes(1)),
            1
        );
        assert_eq!(
            weekly.index_at(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
            -12
        );
        assert_eq!(
            monthly.index_at(Utc.with_ymd_and_hms(2027, 3, 31, 8, 59, 0).unwrap()),
            1
        );
    }
}
