//! What the on-call schedule commands ask (`/oncall override`, `cover`, `cancel`, `roster`),
//! and the rules every change obeys: it starts now or later, an override ends after it
//! starts and lasts at most a quarter, so the past stays as it was and a typo cannot hand
//! someone a year.

use chrono::{DateTime, Duration, Utc};

/// An order about schedules, its times still as written (read in the schedule's zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleOrder {
    /// Put `person` on call over whoever `schedule` has on call.
    Override {
        schedule: String,
        person: String,
        from: String,
        to: String,
    },
    /// The speaker takes `person`'s turns, in `schedule` or in every schedule.
    Cover {
        schedule: Option<String>,
        person: String,
        from: String,
        to: String,
    },
    /// Withdraw an override or cover by its reference.
    Cancel { reference: String },
    /// Ask `person` to take the speaker's turns in `from`–`to`, optionally taking theirs in
    /// `back_from`–`back_to`.
    Swap {
        schedule: Option<String>,
        person: String,
        from: String,
        to: String,
        back: Option<(String, String)>,
    },
    /// Accept or decline the swap with this reference.
    Answer { reference: String, accept: bool },
    /// From `from` on, a layer's rotation (the only one, or the one `layer` names by number
    /// or name) turns through `people` (`@handle` or `none`, in order).
    Roster {
        schedule: String,
        layer: Option<String>,
        people: String,
        from: String,
    },
}

/// How far ahead a roster change may be set.
pub const MAX_ROSTER_AHEAD_DAYS: i64 = 366;

/// Checks a roster change's start against `now`: from now on (a moment ago is now), at
/// most a year ahead.
pub fn check_effective(from: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if from < now - START_GRACE {
        return Err(format!(
            "from:{} is in the past; roster changes hold from now on, the past stays as it was (write from:now)",
            from.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    if from - now > Duration::days(MAX_ROSTER_AHEAD_DAYS) {
        return Err(format!(
            "from: a roster change may be set at most {MAX_ROSTER_AHEAD_DAYS} days ahead"
        ));
    }
    Ok(from.max(now))
}

/// The longest override or cover.
pub const MAX_OVERRIDE_DAYS: i64 = 92;

/// How far in the past a start may lie and still be read as "now": a command typed at
/// 09:00 and sent at 09:00:40 means from now, not a change of the past.
pub const START_GRACE: Duration = Duration::minutes(5);

/// Checks an override's period against `now`; a start a moment ago becomes `now`.
pub fn check_period(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    if from < now - START_GRACE {
        return Err(format!(
            "from:{} is in the past; on-call changes hold from now on, the past stays as it was (write from:now)",
            from.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    let from = from.max(now);
    if to <= from {
        return Err("to: must come after from:; write e.g. to:+8h".to_string());
    }
    if to - from > Duration::days(MAX_OVERRIDE_DAYS) {
        return Err(format!(
            "an override lasts at most {MAX_OVERRIDE_DAYS} days; for longer, change the schedule"
        ));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn periods_start_now_or_later_end_after_they_start_and_are_bounded() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let h = Duration::hours;
        assert_eq!(
            check_period(now - Duration::minutes(1), now + h(2), now),
            Ok((now, now + h(2)))
        );
        assert!(check_period(now - h(1), now + h(2), now)
            .unwrap_err()
            .contains("past"));
        assert!(check_period(now + h(2), now + h(1), now)
            .unwrap_err()
            .contains("after"));
        assert!(check_period(now, now + Duration::days(100), now)
            .unwrap_err()
            .contains("92 days"));
    }
}
