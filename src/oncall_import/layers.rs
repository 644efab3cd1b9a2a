//! The parts of a warroom layer an import fills in: the empty slot, the anchor, the turn
//! length, and the layer itself with warroom's defaults.

use crate::domain::schedule::turns::Turn;
use crate::domain::schedule::{LayerSpec, WindowSpec};
use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;

/// A layer's empty slot.
pub(crate) const NONE: &str = "none";

/// A layer's anchor: the wall-clock time of `t` in `zone`, to the minute.
pub(crate) fn local_anchor(t: DateTime<Utc>, zone: Tz) -> NaiveDateTime {
    let local = t.with_timezone(&zone).naive_local();
    local
        .with_second(0)
        .and_then(|l| l.with_nanosecond(0))
        .unwrap_or(local)
}

pub(crate) fn anchor_text(local: NaiveDateTime) -> String {
    local.format("%Y-%m-%dT%H:%M").to_string()
}

/// A turn of `seconds` in the largest unit that divides it exactly (weeks, days, hours), if
/// warroom can count it.
pub(crate) fn turn_from_seconds(seconds: u64) -> Result<String, String> {
    let text = if seconds > 0 && seconds % (7 * 86_400) == 0 {
        format!("{}w", seconds / (7 * 86_400))
    } else if seconds > 0 && seconds % 86_400 == 0 {
        format!("{}d", seconds / 86_400)
    } else if seconds > 0 && seconds % 3_600 == 0 {
        format!("{}h", seconds / 3_600)
    } else {
        return Err(format!(
            "a turn of {seconds} seconds is not a whole number of hours, and warroom counts turns in hours, days, weeks or months"
        ));
    };
    checked_turn(&text)
}

/// A turn length warroom accepts, or why not.
pub(crate) fn checked_turn(text: &str) -> Result<String, String> {
    Turn::parse(text).map(|t| t.to_string())
}

/// A layer with warroom's defaults filled in.
pub(crate) fn layer(
    name: &str,
    people: Vec<String>,
    turn: String,
    anchor: NaiveDateTime,
    timezone: Option<String>,
    restrict: Vec<WindowSpec>,
    hold: bool,
) -> LayerSpec {
    LayerSpec {
        name: Some(name.trim().to_string()).filter(|n| !n.is_empty()),
        people,
        turn,
        anchor: anchor_text(anchor),
        handoff: None,
        timezone,
        restrict,
        masked_turns: hold.then(|| "hold".to_string()),
        ..LayerSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_in_seconds_take_the_largest_exact_unit() {
        assert_eq!(turn_from_seconds(604_800).unwrap(), "1w");
        assert_eq!(turn_from_seconds(2 * 86_400).unwrap(), "2d");
        assert_eq!(turn_from_seconds(43_200).unwrap(), "12h");
        assert!(turn_from_seconds(5_400)
            .unwrap_err()
            .contains("not a whole number of hours"));
        assert!(turn_from_seconds(60 * 604_800)
            .unwrap_err()
            .contains("at most a year"));
    }
}
