//! The shifts of a period, per schedule, with the hours each person was on call: what
//! `warroom oncall --from --to` prints, and what on-call pay is reckoned from.

use super::{Roster, Source, Span};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One schedule's shifts in a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleReport {
    pub schedule: String,
    pub timezone: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub shifts: Vec<Span>,
    /// Hours on call per handle; `nobody` for the gaps.
    pub hours: BTreeMap<String, f64>,
    /// The newest version is warroom.toml's, not recorded in the ledger yet.
    pub unrecorded_configuration: bool,
}

/// Who says "nobody" in the hours.
pub const NOBODY: &str = "nobody";

/// The shifts of `roster` in `[from, to)` and the hours per person.
pub fn report(
    schedule: &str,
    zone: Tz,
    roster: &Roster,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    unrecorded_configuration: bool,
) -> ScheduleReport {
    let shifts = roster.resolve(from, to);
    let mut hours: BTreeMap<String, f64> = BTreeMap::new();
    for s in &shifts {
        let who = s.person.clone().unwrap_or_else(|| NOBODY.to_string());
        *hours.entry(who).or_default() += (s.end - s.start).num_seconds() as f64 / 3600.0;
    }
    ScheduleReport {
        schedule: schedule.to_string(),
        timezone: zone.name().to_string(),
        from,
        to,
        shifts,
        hours,
        unrecorded_configuration,
    }
}

/// The reports as Markdown: a table of shifts per schedule, then the hours per person.
/// `display` names a handle for people (`Riley Park (@rpark)`).
pub fn render_markdown(reports: &[ScheduleReport], display: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    for r in reports {
        let zone: Tz = r.timezone.parse().unwrap_or(chrono_tz::UTC);
        let local = |t: DateTime<Utc>| t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string();
        let _ = writeln!(
            out,
            "## {} ({}), {} to {}\n",
            r.schedule,
            r.timezone,
            local(r.from),
            local(r.to)
        );
        if r.unrecorded_configuration {
            out.push_str("warroom.toml's version is shown from now on; `warroom serve` records it when it starts.\n\n");
        }
        out.push_str("| From | To | On call | Hours | Why |\n|---|---|---|---|---|\n");
        for s in &r.shifts {
            let why = match &s.source {
                Source::Layer { layer } => format!("rotation {layer}"),
                Source::Override { by, reference } => format!("override {reference} by @{by}"),
                Source::Gap => "gap".to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} | {} |",
                local(s.start),
                local(s.end),
                s.person.as_deref().map_or("nobody".to_string(), display),
                (s.end - s.start).num_seconds() as f64 / 3600.0,
                why
            );
        }
        out.push_str("\nHours on call: ");
        let totals: Vec<String> = r
            .hours
            .iter()
            .map(|(who, h)| {
                let name = if who == NOBODY {
                    "nobody".to_string()
                } else {
                    display(who)
                };
                format!("{name} {h:.1}")
            })
            .collect();
        out.push_str(&totals.join(", "));
        out.push_str("\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schedule::{LayerSpec, Schedule, ScheduleSpec, Version};
    use chrono::TimeZone;

    #[test]
    fn hours_per_person_add_up_to_the_period_gaps_included() {
        let spec = ScheduleSpec {
            name: "sre".into(),
            timezone: Some("UTC".into()),
            shifts: false,
            layers: vec![LayerSpec {
                name: Some("primary".into()),
                people: vec!["@rpark".into(), "@ghammer".into()],
                turn: "12h".into(),
                anchor: "2026-12-07T09:00".into(),
                handoff: None,
                timezone: None,
                restrict: vec![],
                masked_turns: None,
                ..LayerSpec::default()
            }],
        };
        let s = Schedule::from_recorded(&spec).unwrap();
        let roster = Roster {
            versions: vec![Version {
                effective_from: Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap(),
                schedule: Some(s),
            }],
            overrides: vec![],
        };
        let from = Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap();
        let r = report(
            "sre",
            chrono_tz::UTC,
            &roster,
            from,
            from + chrono::Duration::days(2),
            false,
        );
        assert_eq!(r.hours["nobody"], 9.0);
        assert_eq!(r.hours["rpark"], 24.0);
        assert_eq!(r.hours["ghammer"], 15.0);
        let md = render_markdown(&[r], &|h| format!("@{h}"));
        assert!(
            md.contains(
                "| 2026-12-07 09:00 | 2026-12-07 21:00 | @rpark | 12.0 | rotation primary |"
            ),
            "{md}"
        );
        assert!(
            md.contains("Hours on call: @ghammer 15.0, nobody 9.0, @rpark 24.0"),
            "{md}"
        );
    }
}
