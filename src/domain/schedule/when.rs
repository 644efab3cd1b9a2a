//! Times as people write them in on-call commands: `now`, a local date and time in the
//! schedule's zone, an RFC 3339 time, or an offset such as `+8h` (or `-8h`) from a base time.

use super::turns::instant;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

/// What a time may be written as, for error messages.
pub const SHAPES: &str =
    "now, 2026-12-07 09:00 (in the schedule's zone), 2026-12-07T08:00:00Z or +8h / +2d / +1w";

/// Reads `text` as a time: local ones on `zone`'s clock, `+N(m|h|d|w)` after `base` and
/// `-N(m|h|d|w)` before it.
pub fn parse_when(
    text: &str,
    zone: Tz,
    now: DateTime<Utc>,
    base: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    let bad = || format!("'{text}' is not a time; write {SHAPES}");
    if t.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    let signed = t
        .strip_prefix('+')
        .map(|o| (1, o))
        .or_else(|| t.strip_prefix('-').map(|o| (-1, o)));
    if let Some((sign, offset)) = signed {
        let split = offset.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (count, unit) = offset.split_at(split);
        let count: i64 = count.parse().map_err(|_| bad())?;
        if count > 10_000 {
            return Err(bad());
        }
        let span = match unit {
            "m" | "min" => Duration::minutes(count),
            "h" => Duration::hours(count),
            "d" => Duration::days(count),
            "w" => Duration::weeks(count),
            _ => return Err(bad()),
        };
        return Ok(base + span * sign);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(t) {
        return Ok(t.with_timezone(&Utc));
    }
    for shape in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(t, shape) {
            return Ok(instant(zone, local));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(instant(zone, date.and_hms_opt(0, 0, 0).ok_or_else(bad)?));
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn local_times_offsets_and_rfc3339() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let at = |t: &str| parse_when(t, berlin, now, now).map(|t| t.to_rfc3339());
        assert_eq!(at("now").unwrap(), "2026-12-04T10:00:00+00:00");
        assert_eq!(at("2026-12-07 09:00").unwrap(), "2026-12-07T08:00:00+00:00");
        assert_eq!(at("2026-12-07").unwrap(), "2026-12-06T23:00:00+00:00");
        assert_eq!(
            at("2026-12-07T09:00:00Z").unwrap(),
            "2026-12-07T09:00:00+00:00"
        );
        assert_eq!(at("+8h").unwrap(), "2026-12-04T18:00:00+00:00");
        assert_eq!(at("+2d").unwrap(), "2026-12-06T10:00:00+00:00");
        assert!(at("tomorrowish").unwrap_err().contains("+8h"));
        assert!(at("+3y").is_err());
    }
}
