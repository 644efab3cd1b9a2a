//! A Grafana OnCall shift as a warroom layer: its users as turns, and its recurrence read as
//! a turn, an anchor and the windows of the week it is active, or the reason it cannot be.

use super::input::Shift;
use super::TOOL;
use crate::domain::schedule::turns::instant;
use crate::oncall_import::draft::Draft;
use crate::oncall_import::layers::{checked_turn, layer, NONE};
use crate::oncall_import::weeks::{weekday_index, WeekMask, WEEK_MINUTES};
use crate::oncall_import::{read_zone, shape, ImportError};
use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;

/// A shift as a layer, or `None` (and a line for the reviewer) when warroom cannot say it.
pub(super) fn shift_layer(
    draft: &mut Draft,
    shift: &Shift,
    path: &str,
    what: &str,
    schedule_zone: Tz,
    handles: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Option<(crate::domain::schedule::LayerSpec, WeekMask)>, ImportError> {
    let groups: Vec<Vec<String>> = match shift.kind.as_str() {
        "rolling_users" => {
            let mut groups = shift.rolling_users.clone().unwrap_or_default();
            let from = shift.start_rotation_from_user_index.unwrap_or(0);
            if from < groups.len() {
                groups.rotate_left(from);
            }
            groups
        }
        "recurrent_event" => vec![shift.users.clone().unwrap_or_default()],
        "override" => {
            draft.unmapped(format!(
                "{what}: an override; warroom's overrides are made in chat, not configured"
            ));
            return Ok(None);
        }
        other => {
            draft.unmapped(format!(
                "{what}: a '{other}' shift happens once; warroom schedules only rotations"
            ));
            return Ok(None);
        }
    };
    let zone = match &shift.time_zone {
        Some(z) => read_zone(TOOL, &format!("{path}.time_zone"), z)?,
        None => schedule_zone,
    };
    let start = read_local(&format!("{path}.start"), &shift.start)?;
    let rotation_start = match &shift.rotation_start {
        Some(r) => Some(instant(
            zone,
            read_local(&format!("{path}.rotation_start"), r)?,
        )),
        None => None,
    };
    let until = match &shift.until {
        Some(u) => Some(instant(zone, read_local(&format!("{path}.until"), u)?)),
        None => None,
    };
    if !draft.keep_layer(what, rotation_start, until, now) {
        return Ok(None);
    }
    let mut people = Vec::new();
    for group in &groups {
        let known: Vec<&String> = group.iter().filter_map(|id| handles.get(id)).collect();
        for id in group.iter().filter(|id| !handles.contains_key(*id)) {
            draft.unmapped(format!(
                "{what}: user {id} is not among the export's users; left out"
            ));
        }
        match known.split_first() {
            None => people.push(NONE.to_string()),
            Some((first, rest)) => {
                if !rest.is_empty() {
                    let rest: Vec<String> = rest.iter().map(|h| format!("@{h}")).collect();
                    draft.unmapped(format!(
                        "{what}: @{first} and {} are on call together, and a warroom layer has one person at a time; {} left out",
                        rest.join(", "),
                        rest.join(", ")
                    ));
                }
                people.push(format!("@{first}"));
            }
        }
    }
    if people.iter().all(|p| p == NONE) {
        draft.unmapped(format!(
            "{what}: nobody warroom knows is in it; not imported"
        ));
        return Ok(None);
    }
    let pattern = match pattern(shift, start) {
        Ok(p) => p,
        Err(why) => {
            draft.unmapped(format!("{what}: {why}; not imported"));
            return Ok(None);
        }
    };
    if let Some(note) = pattern.note {
        draft.unmapped(format!("{what}: {note}"));
    }
    let turn = match checked_turn(&pattern.turn) {
        Ok(t) => t,
        Err(e) => {
            draft.unmapped(format!("{what}: {e}; not imported"));
            return Ok(None);
        }
    };
    if pattern.mask.as_ref().is_some_and(WeekMask::is_empty) {
        draft.unmapped(format!("{what}: it lasts no time at all; not imported"));
        return Ok(None);
    }
    let active = pattern.mask.unwrap_or_else(WeekMask::full);
    let restrict = active.windows();
    let timezone = (zone != schedule_zone).then(|| zone.name().to_string());
    let label = shift.name.clone().unwrap_or_else(|| shift.id.clone());
    let layer = layer(
        &label,
        people,
        turn,
        pattern.anchor,
        timezone,
        restrict,
        pattern.hold,
    );
    Ok(Some((layer, active)))
}

/// A shift's recurrence in warroom's terms.
struct Pattern {
    turn: String,
    anchor: NaiveDateTime,
    /// When occurrences run; `None` for always.
    mask: Option<WeekMask>,
    hold: bool,
    note: Option<String>,
}

/// Reads a shift's recurrence, or says why it does not repeat week by week.
fn pattern(shift: &Shift, start: NaiveDateTime) -> Result<Pattern, String> {
    if shift.by_month.as_ref().is_some_and(|m| !m.is_empty())
        || shift.by_monthday.as_ref().is_some_and(|m| !m.is_empty())
    {
        return Err("by_month and by_monthday have no warroom counterpart".into());
    }
    let n = shift.interval.unwrap_or(1).max(1);
    let of_day = start.hour() * 60 + start.minute();
    // Occurrences shorter than a minute do not count; seconds are rounded down.
    let minutes = (shift.duration / 60).min(u64::from(WEEK_MINUTES)) as u32;
    let mut days: Vec<u32> = Vec::new();
    for d in shift.by_day.iter().flatten() {
        days.push(weekday_index(d).ok_or_else(|| format!("by_day '{d}' is not a weekday"))?);
    }
    let weekly_mask = |days: &[u32]| {
        let mut m = WeekMask::new();
        for d in days {
            m.add(d * 1440 + of_day, minutes);
        }
        m
    };
    let frequency = shift.frequency.as_deref().unwrap_or("(none)");
    let unit_minutes: u64 = match frequency {
        "hourly" => 60,
        "daily" => 1440,
        "weekly" => 7 * 1440,
        "monthly" => 28 * 1440,
        other => {
            return Err(format!(
                "frequency '{other}' is not hourly, daily, weekly or monthly"
            ))
        }
    };
    // An interval of several units whose occurrences do not fill it leaves gaps that do not
    // fall on the same days each week.
    let fills = u64::from(minutes) >= u64::from(n) * unit_minutes;
    match frequency {
        "hourly" => {
            if !fills || !days.is_empty() {
                return Err(
                    "hourly shifts shorter than their turn do not repeat week by week".into(),
                );
            }
            Ok(Pattern {
                turn: format!("{n}h"),
                anchor: start,
                mask: None,
                hold: false,
                note: None,
            })
        }
        "daily" => {
            let all_days = days.is_empty() || days.len() == 7;
            let mask = if n == 1 {
                let every: Vec<u32> = if all_days {
                    (0..7).collect()
                } else {
                    days.clone()
                };
                Some(weekly_mask(&every))
            } else if fills && all_days {
                None
            } else {
                return Err(format!(
                    "a shift every {n} days that does not last all {n} days does not repeat week by week"
                ));
            };
            Ok(Pattern {
                turn: format!("{n}d"),
                anchor: start,
                mask,
                // Grafana hands a day-limited daily shift to the next person on its next
                // day, skipping the others.
                hold: !all_days,
                note: None,
            })
        }
        "weekly" => {
            // Hand-offs fall on week_start at the start's time of day.
            let week_start = shift
                .week_start
                .as_deref()
                .and_then(weekday_index)
                .unwrap_or(start.weekday().num_days_from_monday());
            let back = (start.weekday().num_days_from_monday() + 7 - week_start) % 7;
            let anchor = start - Duration::days(back.into());
            let mask = if n == 1 {
                let on: Vec<u32> = if days.is_empty() {
                    vec![start.weekday().num_days_from_monday()]
                } else {
                    days.clone()
                };
                Some(weekly_mask(&on))
            } else if fills && days.is_empty() {
                None
            } else {
                return Err(format!(
                    "a shift every {n} weeks that does not last all {n} weeks does not repeat week by week"
                ));
            };
            Ok(Pattern {
                turn: format!("{n}w"),
                anchor,
                mask,
                hold: false,
                note: None,
            })
        }
        _ => {
            if !fills || !days.is_empty() {
                return Err(
                    "monthly shifts shorter than a month do not repeat week by week".into(),
                );
            }
            // Hand-offs fall on the 1st, at the start's time of day.
            let anchor = start.with_day(1).unwrap_or(start);
            let note = (u64::from(minutes) < u64::from(n) * 31 * 1440).then(|| {
                format!(
                    "lasts {} days, so Grafana leaves the end of longer months empty; warroom's turns run back to back",
                    minutes / 1440
                )
            });
            Ok(Pattern {
                turn: format!("{n}month"),
                anchor,
                mask: None,
                hold: false,
                note,
            })
        }
    }
}

/// Reads Grafana's `yyyy-MM-ddTHH:mm:ss`, a wall-clock time in the shift's zone.
fn read_local(path: &str, text: &str) -> Result<NaiveDateTime, ImportError> {
    let t = text.trim().trim_end_matches('Z');
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M"))
        .map(|t| t.with_second(0).unwrap_or(t))
        .map_err(|_| {
            shape(
                TOOL,
                path,
                format!("'{text}' is not a date and time like 2026-03-02T09:00:00"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::TOOL;
    use crate::oncall_import::tests::{assert_line, fixture, now};
    use crate::oncall_import::{import, import_at};

    #[test]
    fn patterns_that_do_not_repeat_weekly_are_refused_with_the_reason() {
        let text = fixture("grafana-oncall.json").replace(
            "\"frequency\": \"daily\",\n      \"interval\": 1,",
            "\"frequency\": \"daily\",\n      \"interval\": 2,",
        );
        let imported = import_at(TOOL, &text, now()).unwrap();
        assert_line(
            &imported.unmapped,
            &[
                "shift 'Business hours'",
                "every 2 days",
                "does not repeat week by week",
            ],
        );
        assert!(imported
            .made
            .contains(&"schedule 'sre-primary': 2 layers, 2 people and its calendar".to_string()));
    }

    #[test]
    fn a_shift_of_the_wrong_shape_is_named_by_its_path() {
        let text =
            fixture("grafana-oncall.json").replace("\"duration\": 28800", "\"duration\": \"8h\"");
        let err = import(TOOL, &text).unwrap_err().to_string();
        assert!(
            err.contains("at on_call_shifts[0].duration: invalid type: string \"8h\""),
            "{err}"
        );
        let text = fixture("grafana-oncall.json").replace(
            "\"start\": \"2026-03-02T10:00:00\"",
            "\"start\": \"Monday 10:00\"",
        );
        let err = import(TOOL, &text).unwrap_err().to_string();
        assert!(
            err.contains("at on_call_shifts[0].start: 'Monday 10:00' is not a date and time"),
            "{err}"
        );
    }
}
