//! The Summary: four sentences built only from events — how it started and who declared it,
//! the impact noted, the cause noted, and how it was mitigated and resolved. A missing piece
//! is said to be missing; nothing is invented.

use super::names::Names;
use super::{hhmm, minutes_in_words, PostMortem};
use std::fmt::Write as _;

/// The summary; `free` renders every text that came from people or alerts (the identity
/// for JSON, made inert for Markdown).
pub(super) fn write(pm: &PostMortem, names: &Names, free: &dyn Fn(&str) -> String) -> String {
    let tz = pm.view.tz;
    let km = &pm.key_moments;
    let mut out = String::new();

    // How it started, and who declared it.
    let declared = km.declared.as_ref();
    // Detected when declared: the declaration says it all.
    let detected = km
        .detected
        .as_ref()
        .filter(|d| Some(d.event_id) != declared.map(|d| d.event_id));
    match (detected, &pm.view.first_alert) {
        (Some(d), Some(alert)) if d.by.is_none() => {
            let _ = write!(
                out,
                "Alert {} ({}) fired at {}",
                free(&alert.name),
                free(&alert.source),
                hhmm(d.at, tz)
            );
            if let Some(summary) = &alert.summary {
                let _ = write!(out, " — {}", free(summary));
            }
        }
        (Some(d), _) if d.by.is_some() => {
            let who = d.by.as_deref().unwrap_or_default();
            let _ = write!(
                out,
                "{} raised it at {}",
                free(&names.resolve(who).shown),
                hhmm(d.at, tz)
            );
        }
        _ => {}
    }
    let opener = match declared.and_then(|d| d.by.as_deref()) {
        Some(by) => format!("{} declared", free(&names.resolve(by).shown)),
        None => "warroom opened".to_string(),
    };
    let at = declared.map_or(pm.started_at, |d| d.at);
    let _ = write!(
        out,
        "{}{opener} {} “{}” at {} at {}",
        if out.is_empty() { "" } else { "; " },
        pm.id,
        free(&pm.title),
        pm.view.declared_severity,
        hhmm(at, tz)
    );
    if pm.severity.to_string() != pm.view.declared_severity {
        let _ = write!(out, ", and it ended at {}", pm.severity);
    }
    out.push_str(". ");

    // The impact.
    if pm.impact.notes.is_empty() {
        out.push_str("No impact was noted. ");
    } else {
        let notes: Vec<String> = pm
            .impact
            .notes
            .iter()
            .map(|n| format!("{}: {}", n.area.as_str(), free(sentence(&n.text))))
            .collect();
        let _ = write!(out, "Impact noted: {}. ", notes.join("; "));
    }

    // The cause.
    if pm.contributing_factors.causes.is_empty() {
        out.push_str("No cause was noted. ");
    } else {
        let causes: Vec<String> = pm
            .contributing_factors
            .causes
            .iter()
            .map(|n| free(sentence(&n.text)))
            .collect();
        let _ = write!(out, "Cause noted: {}. ", causes.join("; "));
    }

    // Mitigation and resolution.
    let mitigated = km.mitigated.as_ref().map(|m| {
        let mut s = format!("mitigated at {}", hhmm(m.at, tz));
        if let Some(how) = &pm.view.mitigated_how {
            let _ = write!(s, " ({})", free(sentence(how)));
        }
        s
    });
    let resolved = match (&km.resolved, km.minutes_to_resolve) {
        (Some(r), Some(minutes)) => Some(format!(
            "resolved at {}, {} after it was detected",
            hhmm(r.at, tz),
            minutes_in_words(minutes)
        )),
        _ => None,
    };
    match (mitigated, resolved) {
        (Some(m), Some(r)) => {
            let _ = write!(out, "It was {m} and {r}");
        }
        (None, Some(r)) => {
            let _ = write!(out, "It was {r}");
        }
        (Some(m), None) => {
            let _ = write!(out, "It was {m} and is not resolved yet");
        }
        (None, None) => out.push_str("It is not resolved yet"),
    }
    let notes: Vec<String> = pm
        .resolution
        .iter()
        .filter(|n| !n.from_run)
        .map(|n| free(sentence(&n.text)))
        .collect();
    if notes.is_empty() {
        out.push_str("; no resolution was noted.");
    } else {
        let _ = write!(out, ": {}.", notes.join("; "));
    }
    out
}

/// A note inside a sentence of ours: without its own full stop, which ours follows.
fn sentence(note: &str) -> &str {
    note.trim_end().trim_end_matches('.')
}
