//! The Impact section: how long the incident lasted, in words and local times, then the
//! impact notes by area.

use super::names::Names;
use super::{hhmm, Impact, ImpactNote};
use crate::domain::event::{Event, Recorded};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

#[derive(Default)]
pub(super) struct ImpactNotes {
    notes: Vec<ImpactNote>,
}

impl ImpactNotes {
    pub(super) fn see(&mut self, r: &Recorded, names: &Names) {
        if let Event::ImpactNoted { area, text } = r.event.unwrapped() {
            self.notes.push(ImpactNote {
                area: *area,
                text: text.clone(),
                author: names.canonical(&r.actor),
                event_id: r.event_id,
            });
        }
    }

    /// The section for an incident from `started_at` to `resolved_at` (`duration_minutes`
    /// apart), or until `last_at`, its last event, while it is not resolved.
    pub(super) fn finish(
        mut self,
        started_at: DateTime<Utc>,
        last_at: DateTime<Utc>,
        resolved_at: Option<DateTime<Utc>>,
        duration_minutes: Option<i64>,
        tz: Tz,
    ) -> Impact {
        let duration = duration_minutes.map(minutes_in_words);
        let tz_name = tz.name();
        let summary = match (resolved_at, &duration) {
            (Some(end), Some(words)) => format!(
                "The incident lasted {words}, from {} to {} ({tz_name}).",
                hhmm(started_at, tz),
                hhmm(end, tz)
            ),
            _ => format!(
                "The incident is not resolved yet; by the last recorded event ({}) it had lasted {}, from {} ({tz_name}).",
                hhmm(last_at, tz),
                minutes_in_words((last_at - started_at).num_minutes().max(0)),
                hhmm(started_at, tz)
            ),
        };
        self.notes.sort_by_key(|n| n.area);
        Impact {
            duration,
            summary,
            notes: self.notes,
        }
    }
}

/// `1 hour 15 minutes`, `45 minutes`, `1 day 2 hours`, `less than a minute`.
pub fn minutes_in_words(minutes: i64) -> String {
    if minutes < 1 {
        return "less than a minute".into();
    }
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    let part = |n: i64, unit: &str| match n {
        0 => None,
        1 => Some(format!("1 {unit}")),
        n => Some(format!("{n} {unit}s")),
    };
    [part(days, "day"), part(hours, "hour"), part(mins, "minute")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_words() {
        assert_eq!(minutes_in_words(75), "1 hour 15 minutes");
        assert_eq!(minutes_in_words(1), "1 minute");
        assert_eq!(minutes_in_words(120), "2 hours");
        assert_eq!(minutes_in_words(0), "less than a minute");
        assert_eq!(minutes_in_words(1440 + 125), "1 day 2 hours 5 minutes");
    }
}
