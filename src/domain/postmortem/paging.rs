//! Alerts and reaching people on the timeline: the alerts, the route's SOP, escalations, the
//! pages sent and given up on, and who acknowledged them.

use super::names::Names;
use super::TimelineEntry;
use crate::domain::event::{Event, Recorded};
use std::fmt::Write as _;

/// The event's timeline entry, if it is one of these and people act on it.
pub(super) fn entry(r: &Recorded, names: &Names) -> Option<TimelineEntry> {
    let e = match r.event.unwrapped() {
        Event::AlertReceived(a) => {
            let mut text = format!("Alert {} {} ({})", a.name, a.status.as_str(), a.source);
            if let Some(summary) = &a.summary {
                let _ = write!(text, ": {summary}");
            }
            let mut e = TimelineEntry::of(r, names, "alert", &r.actor, text);
            e.author = a.source.clone();
            e.author_name = None;
            e.shown_as = String::new();
            e
        }
        Event::SopPosted { path, suggest, .. } => {
            let mut text = format!("SOP posted: {path}");
            if !suggest.is_empty() {
                let _ = write!(text, " (suggested: {})", suggest.join(", "));
            }
            TimelineEntry::of(r, names, "sop", &r.actor, text)
        }
        Event::EscalationStarted { policy, reason, .. } => TimelineEntry::of(
            r,
            names,
            "escalation",
            &r.actor,
            format!("escalation policy '{policy}' started: {reason}"),
        ),
        Event::PageRequested {
            target,
            message,
            reason,
            ..
        } => {
            let mut text = format!("paged {target} ({reason})");
            if let Some(message) = message {
                let _ = write!(text, ": {message}");
            }
            TimelineEntry::of(r, names, "page", &r.actor, text)
        }
        Event::PageGaveUp {
            target,
            pager,
            reason,
            ..
        } => TimelineEntry::of(
            r,
            names,
            "page",
            &r.actor,
            format!("could not reach {target} through {pager}: {reason}"),
        ),
        Event::PageSkipped {
            step,
            target,
            reason,
            ..
        } => TimelineEntry::of(
            r,
            names,
            "page",
            &r.actor,
            format!("step {step} did not page {target}: {reason}"),
        ),
        Event::Acknowledged { by } => {
            TimelineEntry::of(r, names, "ack", by, "acknowledged the page".to_string())
        }
        // Bookkeeping: the group binding and each delivery attempt are in the ledger;
        // the timeline shows the pages and the give-ups people act on.
        Event::AlertGroupOpened { .. } | Event::PageAttempted { .. } => return None,
        _ => return None,
    };
    Some(e)
}
