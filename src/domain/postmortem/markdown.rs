//! The post-mortem in Markdown, one writer per section in the seed template's order, and the
//! timeline alone in the same lines.

use super::{PostMortem, TimelineEntry};
use crate::domain::types::IncidentStatus;
use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use std::fmt::Write as _;

/// The post-mortem in Markdown, with the seed template's sections in order.
pub fn render_markdown(pm: &PostMortem) -> String {
    let mut out = String::new();
    heading(&mut out, pm);
    stakeholders(&mut out, pm);
    timeline(&mut out, pm);
    impact(&mut out, pm);
    resolution(&mut out, pm);
    action_plan(&mut out, pm);
    out
}

/// Just the timeline, for `warroom timeline` and `/incident timeline`.
pub fn render_timeline(pm: &PostMortem) -> String {
    let mut out = format!(
        "{} {} — timeline ({})\n",
        pm.id,
        pm.title,
        pm.view.tz.name()
    );
    for e in &pm.timeline {
        e.write_markdown(&mut out, pm.view.tz);
    }
    out
}

/// The title with the start, then the status line: id, severity, who opened it and when,
/// and whether it is open, resolved or closed.
fn heading(out: &mut String, pm: &PostMortem) {
    let tz = pm.view.tz;
    let local = |t: DateTime<Utc>| t.with_timezone(&tz);
    let _ = writeln!(
        out,
        "# {} — {} ({})\n",
        pm.title,
        local(pm.started_at).format("%Y-%m-%d %H:%M"),
        tz.name()
    );
    let mut status = format!(
        "{} · {} · opened {} by {}",
        pm.id,
        pm.severity,
        local(pm.view.opened_at).format("%H:%M"),
        pm.stakeholders
            .iter()
            .find(|s| s
                .handle
                .eq_ignore_ascii_case(pm.view.opened_by.trim_start_matches('@')))
            .map_or_else(
                || format!("@{}", pm.view.opened_by),
                |s| format!("{} (@{})", s.name, s.handle)
            )
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

fn stakeholders(out: &mut String, pm: &PostMortem) {
    out.push_str("## Stakeholders\n\n");
    if pm.stakeholders.is_empty() {
        out.push_str("No participants were recorded.\n");
    }
    let mut team: Option<&str> = None;
    for s in &pm.stakeholders {
        if team != Some(s.team.as_str()) {
            let _ = writeln!(out, "- {}", s.team);
            team = Some(&s.team);
        }
        if s.team == "Other" {
            let _ = writeln!(out, "  - @{}", s.handle);
        } else {
            let _ = writeln!(out, "  - {} (@{})", s.name, s.handle);
        }
    }
}

fn timeline(out: &mut String, pm: &PostMortem) {
    out.push_str("\n## Incident Timeline\n\n");
    for e in &pm.timeline {
        e.write_markdown(out, pm.view.tz);
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
            let _ = writeln!(out, "- {label}: {}", n.text);
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
        let _ = writeln!(out, "- {}", n.text);
    }
}

fn action_plan(out: &mut String, pm: &PostMortem) {
    out.push_str("\n## Action Plan\n\n");
    if pm.action_plan.is_empty() {
        out.push_str("No follow-up actions were recorded. Add them with `/incident action text:\"…\" owner:@handle due:YYYY-MM-DD`.\n");
    }
    for a in &pm.action_plan {
        let mut line = format!("- {}", a.text);
        let mut facts = Vec::new();
        if let Some(owner) = &a.owner_shown_as {
            facts.push(format!("owner: {owner}"));
        }
        if let Some(due) = a.due {
            facts.push(format!("due {due}"));
        }
        if !facts.is_empty() {
            let _ = write!(line, " — {}", facts.join(", "));
        }
        let _ = writeln!(out, "{line}");
    }
}

impl TimelineEntry {
    /// Appends the entry's Markdown line (with its newline) to `out`.
    fn write_markdown(&self, out: &mut String, tz: Tz) {
        out.push_str("- ");
        push_hhmm(out, self.at, tz);
        out.push_str(" — ");
        match self.kind {
            "alert" => out.push_str(&self.text),
            "message" => {
                out.push_str(&self.shown_as);
                out.push_str(": ");
                out.push_str(&self.text);
            }
            _ => {
                out.push_str(&self.shown_as);
                out.push(' ');
                out.push_str(&self.text);
            }
        }
        if let (Some(last), None) = (self.edits.last(), self.deleted_at) {
            out.push_str(" (edited ");
            push_hhmm(out, last.at, tz);
            if let Some(found) = last.found_at {
                out.push_str("; found ");
                push_hhmm(out, found, tz);
                out.push_str(" after warroom was away");
            }
            out.push(')');
        }
        for a in &self.attachments {
            let _ = write!(
                out,
                " [attachment: {} ({} bytes) {}]",
                a.name, a.size, a.url
            );
        }
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

    #[test]
    fn markdown_has_the_template_sections_in_order_and_the_timeline_in_time_order() {
        let md = render_markdown(&madrid_or_utc(&outage(), chrono_tz::UTC));
        assert!(
            md.starts_with("# Application outage — 2021-03-09 09:15 (UTC)\n"),
            "{md}"
        );
        let headings: Vec<&str> = md.lines().filter(|l| l.starts_with("## ")).collect();
        assert_eq!(
            headings,
            [
                "## Stakeholders",
                "## Incident Timeline",
                "## Impact",
                "## Resolution",
                "## Action Plan"
            ]
        );
        let timeline: Vec<&str> = md
            .lines()
            .filter(|l| l.starts_with("- 0") || l.starts_with("- 1"))
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
            md.contains("- Business: lost revenue\n- System: orders stopped\n"),
            "{md}"
        );
        assert!(md.contains("## Resolution\n\n- redeployed the production build\n"));
        assert!(md.contains("- test builds first — owner: Glenn Hammer (@ghammer), due 2021-03-23"));
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
        assert!(md.contains("- 10:52 — Glenn Hammer (@ghammer): Main app is back up."));
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
