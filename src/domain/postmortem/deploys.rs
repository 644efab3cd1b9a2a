//! Deploy notes on the timeline: a deploy to the incident's environment shortly before it
//! opened, shown when it happened, with how long before the open and what flagged it.

use super::names::Names;
use super::{minutes_in_words, TimelineEntry};
use crate::domain::event::{Event, Recorded};
use chrono_tz::Tz;

/// The entry of a deploy note, dated in `tz`.
pub(super) fn entry(r: &Recorded, names: &Names, tz: Tz) -> Option<TimelineEntry> {
    let Event::DeployNoted {
        deploy,
        deployed_at,
        flags,
    } = r.event.unwrapped()
    else {
        return None;
    };
    let before = (r.at - *deployed_at).num_minutes().max(0);
    let mut text = format!(
        "deploy on {}: {} — {} before this incident opened",
        deployed_at.with_timezone(&tz).format("%Y-%m-%d"),
        deploy.summary(),
        minutes_in_words(before)
    );
    for flag in flags {
        text.push_str(&format!(" (⚠ {flag})"));
    }
    let mut noted = TimelineEntry::of(r, names, "deploy", &r.actor, text);
    // Shown when it happened, before the incident's own events.
    noted.at = *deployed_at;
    Some(noted)
}
