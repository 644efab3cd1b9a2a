//! The numbers of a runbook: the whole run's time limit, and each step's retries, the delay
//! between them and its own time limit, each within its bounds.

use super::file::{Mistakes, StepFile};
use std::ops::RangeInclusive;
use toml::Spanned;

/// How long a run may take when its file says nothing.
const DEFAULT_TIMEOUT_SECONDS: u64 = 300;
/// A run's or a step's time limit: a second to a day.
const TIMEOUT_RANGE: RangeInclusive<i64> = 1..=86_400;

/// A step's retries, retry delay and time limit.
pub(super) struct StepNumbers {
    pub(super) retries: u32,
    pub(super) retry_delay_seconds: u64,
    pub(super) timeout_seconds: u64,
}

/// The whole run's time limit.
pub(super) fn run_timeout(given: &Option<Spanned<i64>>, mistakes: &mut Mistakes) -> u64 {
    bounded(
        mistakes,
        "timeout_seconds",
        given,
        TIMEOUT_RANGE,
        DEFAULT_TIMEOUT_SECONDS as i64,
    ) as u64
}

/// Every step's numbers, in file order; a step's time limit is at most the run's.
pub(super) fn step_numbers(
    steps: &[StepFile],
    timeout_seconds: u64,
    mistakes: &mut Mistakes,
) -> Vec<StepNumbers> {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let key = |field: &str| format!("steps[{i}].{field}");
            StepNumbers {
                retries: bounded(mistakes, &key("retries"), &s.retries, 0..=100, 0) as u32,
                retry_delay_seconds: bounded(
                    mistakes,
                    &key("retry_delay_seconds"),
                    &s.retry_delay_seconds,
                    0..=3600,
                    0,
                ) as u64,
                timeout_seconds: (bounded(
                    mistakes,
                    &key("timeout_seconds"),
                    &s.timeout_seconds,
                    TIMEOUT_RANGE,
                    timeout_seconds as i64,
                ) as u64)
                    .min(timeout_seconds),
            }
        })
        .collect()
}

// Every number has bounds: a mistyped 0 or a huge value is refused, not clamped.
fn bounded(
    mistakes: &mut Mistakes,
    key: &str,
    value: &Option<Spanned<i64>>,
    range: RangeInclusive<i64>,
    default: i64,
) -> i64 {
    match value {
        None => default,
        Some(v) if range.contains(v.get_ref()) => *v.get_ref(),
        Some(v) => {
            mistakes.fail(
                mistakes.line_of(v.span()),
                key,
                format!(
                    "{} is out of range; use {}..={}",
                    v.get_ref(),
                    range.start(),
                    range.end()
                ),
            );
            default
        }
    }
}
