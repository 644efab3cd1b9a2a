//! The post-mortem in Markdown, one writer per section in order, and the timeline alone in
//! the same lines. Every text that came from people or alerts goes through `text::inert`, so
//! the headings are always exactly these; every line taken from an event ends with its short
//! reference (`[1a2b3c4d]`, which `warroom show` opens).

use super::text::{inert, push_inert, Place};
use super::{short_ref, PostMortem, TimelineEntry};
use crate::domain::types::IncidentStatus;
use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use std::fmt::Write as _;
use uuid::Uuid;

/// The headings of the document, in order: the seed template's five (Stakeholders, Incident
/// Timeline, Impact, Resolution, Action Plan) with a summary and key moments before them,
/// contributing factors before the resolution, and the runs appendix after.
pub const SECTIONS: [&str; 9] = [
    "Summary",
    "Key Moments",
    "Stakeholders",
    "Incident Timeline",
    "Impact",
    "Contributing Factors",
    "Resolution",
    "Action Plan",
    "Runs",
];

/// The post-mortem in Markdown, with the sections of `SECTIONS` in order.
pub fn render_markdown(pm: &PostMortem) -> String {
    let mut bytes = Vec::new();
    write_markdown(pm, &mut bytes).expect("writing into memory cannot fail");
    String::from_utf8(bytes).expect("the document is built from strings")
}

/// Once this much of the document is written it goes to the sink, so a 100k-line timeline
/// never sits whole in memory on its way to a file or a terminal.
const FLUSH_AT: usize = 64 * 1024;

/// The post-mortem in Markdown, as `render_markdown` writes it, written to `sink` a piece at a
/// time.
pub fn write_markdown(pm: &PostMortem, sink: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut out = String::with_capacity(2 * FLUSH_AT);
    heading(&mut out, pm);
    let _ = writeln!(out, "## Summary\n\n{}", pm.view.summary_markdown);
    key_moments(&mut out, pm);
    stakeholders(&mut out, pm);
    out.push_str("\n## Incident Timeline\n\n");
    for e in &pm.timeline {
        e.write_markdown(&mut out, pm.view.tz);
        if out.len() >= FLUSH_AT {
            sink.write_all(out.as_bytes())?;
            out.clear();
        }
    }
    impact(&mut out, pm);
    contributing_factors(&mut out, pm);
    resolution(&mut out, pm);
    action_plan(&mut out, pm);
    runs(&mut out, pm);
    sink.write_all(out.as_bytes())
}

/// Just the timeline, for `warroom timeline` and `/incident timeline`.
pub fn render_timeline(pm: &PostMortem) -> String {
    let mut out = format!(
        "{} {} — timeline ({})\n",
        pm.id,
        inert(&pm.title, Place::Line),
        pm.view.tz.name()
    );
    for e in &pm.timeline {
        e.write_markdown(&mut out, pm.view.tz);
    }
    out
}

/// ` [1a2b3c4d]`: the reference that ends a line taken from an event.
fn cite(out: &mut String, event_id: &Uuid) {
    let _ = write!(out, " [{}]", short_ref(event_id));
}

/// The title with the start, then the status line: id, severity, who opened it and when,
/// and whether it is open, resolved or closed.
fn heading(out: &mut String, pm: &PostMortem) {
    let tz = pm.view.tz;
    let local = |t: DateTime<Utc>| t.with_timezone(&tz);
    let _ = writeln!(
        out,
        "# {} — {} ({})\n",
        inert(&pm.title, Place::Line),
        local(pm.started_at).format("%Y-%m-%d %H:%M"),
        tz.name()
    );
    let opener = pm
        .stakeholders
        .iter()
        .find(|s| {
            s.handle
                .eq_ignore_ascii_case(pm.view.opened_by.trim_start_matches('@'))
        })
        .map_or_else(
            || format!("@{}", pm.view.opened_by),
            |s| format!("{} (@{})", s.name, s.handle),
        );
    let mut status = format!(
        "{} · {} · opened {} by {}",
        pm.id,
        pm.severity,
        local(pm.view.opened_at).format("%H:%M"),
        inert(&opener, Place::Line)
    );
    match pm.view.status {
        IncidentStatus::Open => status.push_str(" · open"),
        IncidentStatus::Resolved | IncidentStatus::Closed => {
            if let Some(t) = pm.resolved_at {
                let _ = write!(status, " · resolved {}", local(t).format("%H:%M"));
            }
            if let Some(t) = pm.closed_at {
                let _ = write!(status, " · closed {}", local(t).format("%H:%M"));
            }
        }
    }
    let _ = writeln!(out, "{status}\n");
}

fn key_moments(out: &mut String, pm: &PostMortem) {
    out.push_str("\n## Key Moments\n\n");
    let km = &pm.key_moments;
    let tz = pm.view.tz;
    let since = |name: &str| match name {
        "Acknowledged" => km.minutes_to_acknowledge,
        "Mitigated" => km.minutes_to_mitigate,
        "Resolved" => km.minutes_to_resolve,
        _ => None,
    };
    for (name, moment) in km.in_order() {
        let _ = write!(out, "- {name}");
        match moment {
            Some(m) => {
                out.push(' ');
                push_hhmm(out, m.at, tz);
                out.push_str(" — ");
                push_inert(out, &m.what, Place::Item(2));
                if let Some(minutes) = since(name) {
                    let _ = write!(
                        out,
                        ", {} after detection",
                        super::minutes_in_words(minutes)
                    );
                }
                cite(out, &m.event_id);
            }
            None if name == "Mitigated" => {
                out.push_str(" — not recorded (`/incident mitigated` records it)")
            }
            None => out.push_str(" — not recorded"),
        }
        out.push('\n');
    }
    let highlighted: Vec<&TimelineEntry> = pm
        .timeline
        .iter()
        .filter(|e| e.extras().highlighted)
        .collect();
    if !highlighted.is_empty() {
        out.push_str("- Key messages:\n");
        for e in highlighted {
            out.push_str("  ");
            e.write_line(out, tz, 4, false);
        }
    }
}

fn stakeholders(out: &mut String, pm: &PostMortem) {
    out.push_str("\n## Stakeholders\n\n");
    if pm.stakeholders.is_empty() {
        out.push_str("No participants were recorded.\n");
    }
    let mut team: Option<&str> = None;
    for s in &pm.stakeholders {
        if team != Some(s.team.as_str()) {
            out.push_str("- ");
            push_inert(out, &s.team, Place::Item(2));
            out.push('\n');
            team = Some(&s.team);
        }
        out.push_str("  - ");
        if s.team == "Other" {
            out.push('@');
            push_inert(out, &s.handle, Place::Item(4));
        } else {
            push_inert(out, &format!("{} (@{})", s.name, s.handle), Place::Item(4));
        }
        out.push('\n');
    }
}

fn impact(out: &mut String, pm: &PostMortem) {
    out.push_str("\n## Impact\n\n");
    let _ = writeln!(out, "{}", pm.impact.summary);
    if pm.impact.notes.is_empty() {
        out.push_str("\nNo impact was recorded. Add it with `/incident impact area:business|customer|system text:\"…\"`.\n");
    } else {
        out.push('\n');
        for n in &pm.impact.notes {
            let area = n.area.as_str();
            let mut label = area.to_string();
            label[..1].make_ascii_uppercase();
            let _ = write!(out, "- {label}: ");
            push_inert(out, &n.text, Place::Item(2));
            cite(out, &n.event_id);
            out.push('\n');
        }
    }
}

fn contributing_factors(out: &mut String, pm: &PostMortem) {
    out.push_str("\n## Contributing Factors\n\n");
    let factors = &pm.contributing_factors;
    if factors.causes.is_empty() {
        out.push_str("No cause was recorded. Add it with `/incident cause text:\"…\"`.\n");
    }
    for n in &factors.causes {
        out.push_str("- ");
        push_inert(out, &n.text, Place::Item(2));
        cite(out, &n.event_id);
        out.push('\n');
    }
    if factors.changes_before.is_empty() {
        out.push_str("\nNo deploy was noted before the incident opened.\n");
    } else {
        out.push_str("\nChanges before the incident:\n\n");
        for c in &factors.changes_before {
            out.push_str("- ");
            push_hhmm(out, c.at, pm.view.tz);
            out.push_str(" — ");
            push_inert(out, &c.text, Place::Item(2));
            cite(out, &c.event_id);
            out.push('\n');
        }
    }
}

fn resolution(out: &mut String, pm: &PostMortem) {
    out.push_str("\n## Resolution\n\n");
    if pm.resolution.is_empty() {
        out.push_str(
            "No resolution was recorded. Add it with `/incident resolution text:\"…\"`.\n",
        );
    }
    for n in &pm.resolution {
        out.push_str("- ");
        push_inert(out, &n.text, Place::Item(2));
        cite(out, &n.event_id);
        out.push('\n');
    }
}

fn action_plan(out: &mut String, pm: &PostMortem) {
    out.push_str("\n## Action Plan\n\n");
    if pm.action_plan.is_empty() {
        out.push_str("No follow-up actions were recorded. Add them with `/incident action text:\"…\" owner:@handle due:YYYY-MM-DD`; `/action done id:A1` marks one done.\n");
    }
    for a in &pm.action_plan {
        let _ = write!(out, "- {}: ", a.id);
        push_inert(out, &a.text, Place::Item(2));
        let mut facts = Vec::new();
        if let Some(owner) = &a.owner_shown_as {
            facts.push(format!("owner: {}", inert(owner, Place::Item(2))));
        }
        if let Some(due) = a.due {
            facts.push(format!("due {due}"));
        }
        if let Some(url) = &a.issue_url {
            facts.push(format!("issue {}", inert(url, Place::Item(2))));
        }
        if let Some(done) = a.done_at {
            facts.push(format!(
                "done {}",
                done.with_timezone(&pm.view.tz).format("%Y-%m-%d")
            ));
        }
        if !facts.is_empty() {
            let _ = write!(out, " — {}", facts.join(", "));
        }
        cite(out, &a.event_id);
        out.push('\n');
    }
}

fn runs(out: &mut String, pm: &PostMortem) {
    out.push_str("\n## Runs\n\n");
    if pm.runs.is_empty() {
        out.push_str("No runbook was run.\n");
    }
    let tz = pm.view.tz;
    for run in &pm.runs {
        let _ = write!(out, "- Run {} — ", run.run);
        let mut asked = run.command.clone();
        for (name, value) in &run.params {
            let _ = write!(asked, " {name}:{value}");
        }
        push_inert(out, &asked, Place::Item(2));
        out.push_str(", asked by ");
        push_inert(out, &run.asked_by_shown, Place::Item(2));
        out.push_str(" at ");
        push_hhmm(out, run.asked_at, tz);
        match (&run.outcome, run.finished_at) {
            (Some(outcome), Some(end)) => {
                let _ = write!(out, ": {outcome} at ");
                push_hhmm(out, end, tz);
                if let Some(message) = run.message.as_deref().filter(|m| !m.is_empty()) {
                    out.push_str(" — ");
                    push_inert(out, message, Place::Item(2));
                }
            }
            _ => out.push_str(": not finished"),
        }
        cite(out, &run.event_id);
        out.push('\n');
        for step in &run.steps {
            out.push_str("  - ");
            push_hhmm(out, step.started_at, tz);
            out.push(' ');
            let mut what = step.step.clone();
            if step.attempt > 1 {
                let _ = write!(what, " (attempt {})", step.attempt);
            }
            let _ = write!(what, ": {} {}", step.program, step.args.join(" "));
            push_inert(out, what.trim_end(), Place::Item(4));
            match (step.succeeded, step.finished_at) {
                (Some(ok), Some(end)) => {
                    let _ = write!(out, " — {} at ", if ok { "succeeded" } else { "failed" });
                    push_hhmm(out, end, tz);
                    if let Some(code) = step.exit {
                        let _ = write!(out, " (exit {code})");
                    }
                }
                _ => out.push_str(" — did not finish"),
            }
            cite(out, &step.event_id);
            out.push('\n');
        }
    }
}

impl TimelineEntry {
    /// Appends the entry's Markdown list item (with its newline) to `out`.
    fn write_markdown(&self, out: &mut String, tz: Tz) {
        self.write_line(out, tz, 2, self.extras().highlighted);
    }

    /// The entry as a list item whose content starts `indent` columns in; `bold` for a
    /// message marked as key.
    fn write_line(&self, out: &mut String, tz: Tz, indent: usize, bold: bool) {
        let place = Place::Item(indent);
        let extras = self.extras();
        out.push_str("- ");
        push_hhmm(out, self.at, tz);
        out.push_str(" — ");
        match self.kind {
            "alert" => {}
            "message" => {
                push_inert(out, &self.shown_as, place);
                out.push_str(": ");
            }
            _ => {
                push_inert(out, &self.shown_as, place);
                out.push(' ');
            }
        }
        if bold {
            out.push_str("**");
        }
        if extras.deleted_at.is_some() {
            // Our own marker, not the deleted text.
            out.push_str(&self.text);
        } else {
            push_inert(out, self.text.trim_end(), place);
        }
        if bold {
            out.push_str("**");
        }
        if let (Some(last), None) = (extras.edits.last(), extras.deleted_at) {
            out.push_str(" (edited ");
            push_hhmm(out, last.at, tz);
            if let Some(found) = last.found_at {
                out.push_str("; found ");
                push_hhmm(out, found, tz);
                out.push_str(" after warroom was away");
            }
            out.push(')');
        }
        for a in &extras.attachments {
            out.push_str(" (attachment: ");
            push_inert(out, &a.name, place);
            let _ = write!(out, ", {} bytes, ", a.size);
            push_inert(out, &a.url, place);
            out.push(')');
        }
        cite(out, &self.event_id);
        out.push('\n');
    }
}

/// `HH:MM` in the zone, without parsing a format string for every line.
fn push_hhmm(out: &mut String, at: DateTime<Utc>, tz: Tz) {
    let local = at.with_timezone(&tz);
    let _ = write!(out, "{:02}:{:02}", local.hour(), local.minute());
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{madrid_or_utc, outage};
    use super::super::render_json;
    use super::*;
    use crate::domain::event::Event;
    use crate::domain::types::ImpactArea;
    use chrono::NaiveDate;

    /// The line without the reference that ends it, which must be there.
    fn without_ref(line: &str) -> &str {
        let (text, reference) = line.rsplit_once(" [").expect(line);
        assert!(
            reference.len() == 9
                && reference.ends_with(']')
                && reference[..8].chars().all(|c| c.is_ascii_hexdigit()),
            "{line}"
        );
        text
    }

    #[test]
    fn markdown_has_the_template_sections_in_order_and_the_timeline_in_time_order() {
        let md = render_markdown(&madrid_or_utc(&outage(), chrono_tz::UTC));
        assert!(
            md.starts_with("# Application outage — 2021-03-09 09:15 (UTC)\n"),
            "{md}"
        );
        let headings: Vec<&str> = md.lines().filter(|l| l.starts_with("## ")).collect();
        assert_eq!(headings, SECTIONS.map(|s| format!("## {s}")));
        let timeline: Vec<&str> = md
            .split("## Incident Timeline\n\n")
            .nth(1)
            .unwrap()
            .lines()
            .take_while(|l| l.starts_with("- "))
            .map(without_ref)
            .collect();
        assert_eq!(
            timeline[0],
            "- 09:15 — Susan Vega (@svega): Hey we can not reach the app either."
        );
        assert_eq!(
            timeline[1],
            "- 09:16 — Alert ApplicationDown firing (alertmanager): app unreachable"
        );
        assert_eq!(
            timeline[2],
            "- 09:17 — Riley Park (@rpark) opened INC-1 “Application outage” at sev1 in #ops"
        );
        assert_eq!(
            timeline[4],
            "- 09:52 — Glenn Hammer (@ghammer): Main app is back up."
        );
        assert_eq!(
            timeline[5],
            "- 09:55 — Susan Vega (@svega): App is still not responding. (edited 09:56)"
        );
        assert_eq!(
            timeline[6],
            "- 09:57 — Susan Vega (@svega): [message deleted 09:58]"
        );
        assert!(
            md.contains(
                "- 09:15 — Susan Vega (@svega): Hey we can not reach the app either. [0d3b77f7]\n"
            ),
            "each line ends with the first 8 hex digits of its event's id: {md}"
        );
        assert!(md.contains("The incident lasted 1 hour 15 minutes, from 09:15 to 10:30 (UTC)."));
    }

    #[test]
    fn empty_sections_say_so_and_an_unresolved_incident_says_how_long_so_far() {
        let mut log = outage();
        log.0.pop();
        let pm = madrid_or_utc(&log, chrono_tz::UTC);
        assert_eq!(pm.resolved_at, None);
        assert_eq!(pm.duration_minutes, None);
        let md = render_markdown(&pm);
        assert!(
            md.contains(
                "not resolved yet; by the last recorded event (09:58) it had lasted 43 minutes"
            ),
            "{md}"
        );
        assert!(md.contains("No impact was recorded."));
        assert!(md.contains("No resolution was recorded."));
        assert!(md.contains("No follow-up actions were recorded."));
    }

    #[test]
    fn notes_fill_their_sections_and_a_reopen_clears_the_resolve() {
        let mut log = outage();
        log.at(
            (10, 31),
            "rpark",
            Event::ImpactNoted {
                area: ImpactArea::System,
                text: "orders stopped".into(),
            },
        )
        .at(
            (10, 32),
            "rpark",
            Event::ImpactNoted {
                area: ImpactArea::Business,
                text: "lost revenue".into(),
            },
        )
        .at(
            (10, 33),
            "rpark",
            Event::ResolutionNoted {
                text: "redeployed the production build".into(),
            },
        )
        .at(
            (10, 34),
            "rpark",
            Event::ActionAdded {
                text: "test builds first".into(),
                owner: Some("hammer".into()),
                due: NaiveDate::from_ymd_opt(2021, 3, 23),
            },
        );
        let md = render_markdown(&madrid_or_utc(&log, chrono_tz::UTC));
        assert!(
            md.contains("- Business: lost revenue [")
                && md.contains("]\n- System: orders stopped ["),
            "{md}"
        );
        assert!(md.contains("## Resolution\n\n- redeployed the production build ["));
        assert!(md.contains(
            "- A1: test builds first — owner: Glenn Hammer (@ghammer), due 2021-03-23 ["
        ));
        log.at(
            (10, 40),
            "rpark",
            Event::IncidentReopened {
                reason: Some("back again".into()),
            },
        );
        let pm = madrid_or_utc(&log, chrono_tz::UTC);
        assert_eq!(pm.resolved_at, None);
        assert_eq!(pm.action_plan[0].owner.as_deref(), Some("ghammer"));
    }

    #[test]
    fn times_follow_the_configured_zone_and_output_is_deterministic() {
        let log = outage();
        let md = render_markdown(&madrid_or_utc(&log, chrono_tz::Europe::Madrid));
        assert!(
            md.starts_with("# Application outage — 2021-03-09 10:15 (Europe/Madrid)"),
            "{md}"
        );
        assert!(md.contains("- 10:52 — Glenn Hammer (@ghammer): Main app is back up. ["));
        assert_eq!(
            md,
            render_markdown(&madrid_or_utc(&log, chrono_tz::Europe::Madrid))
        );
        assert_eq!(
            render_json(&madrid_or_utc(&log, chrono_tz::UTC)),
            render_json(&madrid_or_utc(&log, chrono_tz::UTC))
        );
    }
}
