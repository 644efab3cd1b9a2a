//! An Opsgenie rotation's time restriction as the week it leaves active.

use super::input::{Restriction, TimeRestriction};
use crate::oncall_import::weeks::{weekday_index, WeekMask, WEEK_MINUTES};

/// The week a time restriction leaves active.
pub(super) fn mask(tr: &TimeRestriction) -> Result<WeekMask, String> {
    let mut mask = WeekMask::new();
    match tr.kind.as_str() {
        "time-of-day" => {
            let spans: Vec<&Restriction> = tr.restriction.iter().chain(&tr.restrictions).collect();
            for r in spans {
                let from = r.start_hour * 60 + r.start_min;
                let to = r.end_hour * 60 + r.end_min;
                // An end at or before the start runs past midnight; the same time is all day.
                let len = (to + 1440 - from) % 1440;
                let len = if len == 0 { 1440 } else { len };
                for day in 0..7 {
                    mask.add(day * 1440 + from, len);
                }
            }
        }
        "weekday-and-time-of-day" => {
            for r in &tr.restrictions {
                let day = |d: &Option<String>, which: &str| {
                    d.as_deref().and_then(weekday_index).ok_or_else(|| {
                        format!(
                            "a restriction's {which} '{}' is not a weekday",
                            d.clone().unwrap_or_default()
                        )
                    })
                };
                let from = day(&r.start_day, "startDay")? * 1440 + r.start_hour * 60 + r.start_min;
                let to = day(&r.end_day, "endDay")? * 1440 + r.end_hour * 60 + r.end_min;
                let len = (to + WEEK_MINUTES - from) % WEEK_MINUTES;
                mask.add(from, if len == 0 { WEEK_MINUTES } else { len });
            }
        }
        other => {
            return Err(format!(
                "time restriction type '{other}' is not time-of-day or weekday-and-time-of-day"
            ))
        }
    }
    Ok(mask)
}
