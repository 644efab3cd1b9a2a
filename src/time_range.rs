//! The one range of times warroom accepts from outside: what both backends store and read
//! back identically. Every door (alert bodies, deploy reports, console and transcript lines,
//! Discord payloads, command-line flags) checks a time against it and refuses one outside,
//! naming the field; the ledger refuses such a row too, so nothing can reach the chain that
//! it could not read back.
//!
//! Why these bounds: the SQLite ledger keeps times as RFC 3339 text, which has four-digit
//! years only (a negative or five-digit year is written but cannot be parsed back, and one
//! such row made the whole ledger unreadable); PostgreSQL's `timestamptz` holds far more.
//! Nothing an incident tool records happened before the Unix epoch, so the range starts
//! there. Both backends keep microseconds, and the ledger truncates to them.

use chrono::{DateTime, TimeZone, Utc};

/// The earliest time accepted: 1970-01-01T00:00:00Z.
pub fn earliest() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

/// The latest time accepted: 9999-12-31T23:59:59.999999Z.
pub fn latest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .expect("a valid date")
        + chrono::Duration::microseconds(999_999)
}

/// The range in words, for error messages and the docs.
pub const DESCRIPTION: &str = "1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z";

/// Whether `t` lies in the accepted range.
pub fn contains(t: DateTime<Utc>) -> bool {
    t >= earliest() && t <= latest()
}

/// `t` if it lies in the range, else an error that names `field` and the range.
pub fn check(field: &str, t: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if contains(t) {
        Ok(t)
    } else {
        Err(format!(
            "{field}: {} is outside the times warroom accepts ({DESCRIPTION})",
            t.to_rfc3339()
        ))
    }
}

/// Parses an RFC 3339 time and checks it against the range; the error names `field`, shows
/// what was given (cut to 80 characters) and an example of what is expected.
pub fn parse(field: &str, text: &str) -> Result<DateTime<Utc>, String> {
    let t = DateTime::parse_from_rfc3339(text.trim()).map_err(|_| {
        format!(
            "{field}: '{}' is not an RFC 3339 time such as 2021-03-09T09:15:00Z",
            text.chars().take(80).collect::<String>()
        )
    })?;
    check(field, t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_are_in_and_a_step_beyond_is_out() {
        assert!(contains(earliest()));
        assert!(contains(latest()));
        assert!(!contains(earliest() - chrono::Duration::microseconds(1)));
        assert!(!contains(latest() + chrono::Duration::microseconds(1)));
        assert_eq!(
            latest().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "9999-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn a_negative_year_is_refused_naming_the_field() {
        let t = DateTime::parse_from_rfc3339("2021-03-09T09:15:00Z").unwrap();
        assert!(check("startsAt", t.with_timezone(&Utc)).is_ok());
        let bc = Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap();
        let e = check("alerts[0].startsAt", bc).unwrap_err();
        assert!(e.starts_with("alerts[0].startsAt: "), "{e}");
        assert!(e.contains(DESCRIPTION), "{e}");
        let e = parse("at", "yesterday").unwrap_err();
        assert!(e.contains("'yesterday' is not an RFC 3339 time"), "{e}");
        assert!(parse("at", "1969-12-31T23:59:59Z").is_err());
        assert_eq!(
            parse("at", " 2021-03-09T10:15:00+01:00 ").unwrap(),
            Utc.with_ymd_and_hms(2021, 3, 9, 9, 15, 0).unwrap()
        );
    }
}
