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
        Event::PageRequested { target, .. } => TimelineEntry::of(
            r,
            names,
            "page",
            &r.actor,
            step_pages_text(r, std::slice::from_ref(target)),
        ),
        Event::NotificationRequested {
            person,
            method,
            after_minutes,
            ..
        } => TimelineEntry::of(
            r,
            names,
            "page",
            &r.actor,
            match after_minutes {
                0 => format!("notified @{person} by {method}"),
                n => format!("notified @{person} by {method}, {n} min after the page"),
            },
        ),
        Event::NotificationGaveUp { method, reason, .. } => TimelineEntry::of(
            r,
            names,
            "page",
            &r.actor,
            format!("could not notify by {method}: {reason}"),
        ),
        // Only what went wrong after the provider took it: a delivered SMS is the rule.
        Event::NotificationStatus {
            method,
            status,
            error_code,
            ..
        } if !matches!(
            status.as_str(),
            "delivered" | "completed" | "sent" | "in-progress" | "ringing" | "answered"
        ) =>
        {
            TimelineEntry::of(
                r,
                names,
                "page",
                &r.actor,
                match error_code {
                    Some(code) => format!("the {method} notification was {status} (error {code})"),
                    None => format!("the {method} notification was {status}"),
                },
            )
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
        Event::Acknowledged { by, via, .. } => {
            let how = match via {
                Some(method) => format!("acknowledged the page from its {method} notification"),
                None => "acknowledged the page".to_string(),
            };
            TimelineEntry::of(r, names, "ack", by, how)
        }
        // Bookkeeping: the group binding and each delivery attempt are in the ledger;
        // the timeline shows the pages and the give-ups people act on.
        Event::AlertGroupOpened { .. }
        | Event::PageAttempted { .. }
        | Event::NotificationAttempted { .. }
        | Event::NotificationStatus { .. } => return None,
        _ => return None,
    };
    Some(e)
}

/// `paged @a, !dba (reason): message` for the pages of one step; the reason and message are
/// the latest page's (one step's pages share them).
pub(super) fn step_pages_text(r: &Recorded, targets: &[String]) -> String {
    let Event::PageRequested {
        message, reason, ..
    } = r.event.unwrapped()
    else {
        return String::new();
    };
    let mut text = format!("paged {} ({reason})", targets.join(", "));
    if let Some(message) = message {
        let _ = write!(text, ": {message}");
    }
    text
}
