//! Numbers within bounds: a number outside its range is a problem naming the key and the
//! range, and the default stands in so the rest of the file is still checked.

/// A whole number the file gives for `key`, within `range`; outside it, a problem naming the
/// key and the range, and the default so the rest of the file is still checked.
pub(super) fn bounded(
    key: &str,
    value: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
    problems: &mut Vec<String>,
) -> i64 {
    match value {
        None => default,
        Some(v) if range.contains(&v) => v,
        Some(v) => {
            problems.push(format!(
                "{key} = {v} is out of range; use {}..={}",
                range.start(),
                range.end()
            ));
            default
        }
    }
}

/// [`bounded`] for a number of seconds.
pub(super) fn bounded_seconds(
    key: &str,
    value: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
    default: std::time::Duration,
    problems: &mut Vec<String>,
) -> std::time::Duration {
    let seconds = bounded(key, value, range, default.as_secs() as i64, problems);
    std::time::Duration::from_secs(seconds as u64)
}

/// A whole number an environment variable gives, within `range` (see [`bounded`]).
pub(super) fn bounded_env(
    variable: &str,
    text: &str,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
    problems: &mut Vec<String>,
) -> i64 {
    match text.trim().parse::<i64>() {
        Ok(v) => bounded(variable, Some(v), range, default, problems),
        Err(_) => {
            problems.push(format!(
                "{variable}='{text}' is not a whole number; use {}..={}",
                range.start(),
                range.end()
            ));
            default
        }
    }
}
