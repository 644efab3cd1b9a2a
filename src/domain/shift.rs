//! On-call shifts and the on-call summary log.
//!
//! A shift is a stream (`shift-N`): who went on call and when, and when they handed over or
//! ended it. One person is on call at a time, so starting a shift while someone else is on
//! call is a hand-over: the new shift says whom it took over from, and the old one ends then.
//!
//! The summary follows the seed's on-call log template — for each alert and incident of the
//! shift, in time order, a heading `DATE/HH:MM -- Alert N. <name>`, Troubleshooting and
//! Resolution — then the shift's figures, recurring alerts and toil candidates. It is built
//! from the ledger's events only: the same events always give the same document.

use super::contacts::Directory;
use super::event::{AlertStatus, Event, Recorded};
use super::postmortem::{self, minutes_in_words};
use super::types::IncidentNumber;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The stream of shift `number`.
pub fn stream_id(number: u32) -> String {
    format!("shift-{number}")
}

/// The shift number of a stream id, if it is a shift's.
pub fn number_of(stream_id: &str) -> Option<u32> {
    stream_id.strip_prefix("shift-")?.parse().ok()
}

/// What an `/oncall` command asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OncallOrder {
    /// Put this person (the speaker when `None`) on call.
    Start(Option<String>),
    End,
    /// Who is on call: the shift, and each schedule's person (or only this schedule's).
    Who(Option<String>),
    /// The summary of this shift (the current or last when `None`).
    Summary(Option<u32>),
}

/// A shift as its events tell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shift {
    pub number: u32,
    /// The on-call person's handle.
    pub person: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub handed_over_from: Option<String>,
    pub handed_over_to: Option<String>,
}

/// Why a shift order was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShiftError {
    #[error("{person} is already on call (shift {number}, since {since})")]
    AlreadyOnCall {
        person: String,
        number: u32,
        since: String,
    },
    #[error("nobody is on call; /oncall start puts you on call")]
    NobodyOnCall,
}

/// The events that put `person` on call at `at` as shift `number`, handing over from the
/// current shift when there is one.
pub fn start(
    current: Option<&Shift>,
    number: u32,
    person: &str,
) -> Result<Vec<(String, Event)>, ShiftError> {
    if let Some(c) = current {
        if c.person == person {
            return Err(ShiftError::AlreadyOnCall {
                person: person.to_string(),
                number: c.number,
                since: c.started_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            });
        }
    }
    Ok(vec![(
        stream_id(number),
        Event::ShiftStarted {
            number,
            person: person.to_string(),
            handed_over_from: current.map(|c| c.person.clone()),
        },
    )])
}

/// The event that ends the current shift.
pub fn end(current: Option<&Shift>) -> Result<(String, Event), ShiftError> {
    let c = current.ok_or(ShiftError::NobodyOnCall)?;
    Ok((
        stream_id(c.number),
        Event::ShiftEnded {
            number: c.number,
            handed_over_to: None,
        },
    ))
}

/// Every shift from the shift streams' events, oldest first; a shift started while another
/// ran ends the other then (a hand-over).
pub fn shifts<'a>(records: impl IntoIterator<Item = &'a Recorded>) -> Vec<Shift> {
    let mut ordered: Vec<&Recorded> = records.into_iter().collect();
    ordered.sort_by_key(|r| (r.at, r.position));
    let mut shifts: BTreeMap<u32, Shift> = BTreeMap::new();
    for r in ordered {
        match &r.event {
            Event::ShiftStarted {
                number,
                person,
                handed_over_from,
            } => {
                for s in shifts.values_mut().filter(|s| s.ended_at.is_none()) {
                    s.ended_at = Some(r.at);
                    s.handed_over_to = Some(person.clone());
                }
                shifts.insert(
                    *number,
                    Shift {
                        number: *number,
                        person: person.clone(),
                        started_at: r.at,
                        ended_at: None,
                        handed_over_from: handed_over_from.clone(),
                        handed_over_to: None,
                    },
                );
            }
            Event::ShiftEnded {
                number,
                handed_over_to,
            } => {
                if let Some(s) = shifts.get_mut(number) {
                    s.ended_at.get_or_insert(r.at);
                    if handed_over_to.is_some() {
                        s.handed_over_to = handed_over_to.clone();
                    }
                }
            }
            _ => {}
        }
    }
    shifts.into_values().collect()
}

/// The on-call summary log of one shift (or of a time range).
#[derive(Debug, Clone, Serialize)]
pub struct ShiftSummary {
    /// The shift, when the summary is of one.
    pub shift: Option<Shift>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub entries: Vec<SummaryEntry>,
    pub figures: Figures,
    pub recurring: Vec<Recurring>,
    pub toil: Vec<String>,
    #[serde(skip)]
    tz: Tz,
}

/// One alert or incident of the shift.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryEntry {
    /// `Alert 3`, numbered in time order.
    pub number: usize,
    pub at: DateTime<Utc>,
    /// The alert's name, or the incident's title when it opened by hand.
    pub name: String,
    pub incident: Option<String>,
    pub troubleshooting: Vec<String>,
    pub resolution: Vec<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// Alert name → firings in the shift.
    pub alerts: BTreeMap<String, usize>,
    pub pages: usize,
    /// Incident → minutes from its first page to its acknowledgement.
    pub time_to_acknowledge: BTreeMap<String, Option<i64>>,
    /// Incident → minutes from start to resolution (None: unresolved).
    pub incidents: BTreeMap<String, Option<i64>>,
}

/// An alert of the shift that also fired before it.
#[derive(Debug, Clone, Serialize)]
pub struct Recurring {
    pub name: String,
    pub earlier: usize,
    pub dates: Vec<String>,
}

/// One alert firing: its name, when, where recorded.
struct Firing<'a> {
    name: &'a str,
    at: DateTime<Utc>,
    summary: Option<&'a str>,
    incident: Option<IncidentNumber>,
    fingerprint: &'a str,
    resolved_at: Option<DateTime<Utc>>,
}

/// Builds the summary of `[from, to)` from every stream's events (`stream id → records`).
pub fn summarize(
    streams: &BTreeMap<String, Vec<Recorded>>,
    shift: Option<Shift>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    directory: &Directory,
    tz: Tz,
) -> ShiftSummary {
    let within = |at: DateTime<Utc>| at >= from && at < to;
    // Every alert firing in the ledger (a repeat of the same firing is one), and when its
    // fingerprint resolved next.
    let mut firings: Vec<Firing> = Vec::new();
    let mut seen: BTreeSet<(&str, Option<DateTime<Utc>>)> = BTreeSet::new();
    for (stream, records) in streams {
        let incident = IncidentNumber::from_stream_id(stream);
        for r in records {
            let Event::AlertReceived(a) = r.event.unwrapped() else {
                continue;
            };
            match a.status {
                AlertStatus::Firing => {
                    if seen.insert((a.fingerprint.as_str(), a.starts_at)) {
                        firings.push(Firing {
                            name: &a.name,
                            at: r.at,
                            summary: a.summary.as_deref(),
                            incident,
                            fingerprint: &a.fingerprint,
                            resolved_at: None,
                        });
                    }
                }
                AlertStatus::Resolved => {
                    if let Some(f) = firings
                        .iter_mut()
                        .filter(|f| f.fingerprint == a.fingerprint && f.at <= r.at)
                        .rfind(|f| f.resolved_at.is_none())
                    {
                        f.resolved_at = Some(r.at);
                    }
                }
            }
        }
    }
    firings.sort_by_key(|f| f.at);

    let mut entries = Vec::new();
    let mut figures = Figures::default();
    let mut incidents_done: BTreeSet<IncidentNumber> = BTreeSet::new();
    // Incidents of the shift: opened in it, or joined by one of its alerts.
    let mut shift_incidents: BTreeMap<IncidentNumber, DateTime<Utc>> = BTreeMap::new();
    for (stream, records) in streams {
        let Some(number) = IncidentNumber::from_stream_id(stream) else {
            continue;
        };
        if let Some(opened) = records
            .iter()
            .find(|r| matches!(r.event, Event::IncidentOpened { .. }))
        {
            if within(opened.at) {
                shift_incidents.insert(number, opened.at);
            }
        }
    }
    // In time order: alert firings of the shift, and incidents opened by hand.
    enum Item<'f, 'a> {
        Alert(&'f Firing<'a>),
        Incident(IncidentNumber),
    }
    let mut items: Vec<(DateTime<Utc>, Item)> = firings
        .iter()
        .filter(|f| within(f.at))
        .map(|f| (f.at, Item::Alert(f)))
        .collect();
    for (number, at) in &shift_incidents {
        let by_alert = firings
            .iter()
            .any(|f| f.incident == Some(*number) && within(f.at));
        if !by_alert {
            items.push((*at, Item::Incident(*number)));
        }
    }
    items.sort_by_key(|(at, _)| *at);

    for (at, item) in items {
        let (name, incident, mut troubleshooting) = match item {
            Item::Alert(f) => {
                *figures.alerts.entry(f.name.to_string()).or_default() += 1;
                let mut lines = Vec::new();
                lines.push(format!(
                    "{} the alert {} fired{}.",
                    hhmm(f.at, tz),
                    f.name,
                    f.summary.map(|s| format!(": {s}")).unwrap_or_default()
                ));
                (f.name.to_string(), f.incident, lines)
            }
            Item::Incident(number) => (String::new(), Some(number), Vec::new()),
        };
        let mut resolution = Vec::new();
        let mut resolved_at = match item {
            Item::Alert(f) => f.resolved_at,
            Item::Incident(_) => None,
        };
        let mut title = name.clone();
        let mut incident_label = None;
        if let Some(number) = incident {
            let records = &streams[&number.stream_id()];
            incident_label = Some(number.to_string());
            if incidents_done.insert(number) {
                if let Ok(pm) = postmortem::assemble(records, directory, tz) {
                    if title.is_empty() {
                        title = pm.title.clone();
                    }
                    describe_incident(&pm, records, tz, &mut troubleshooting, &mut resolution);
                    resolved_at = pm.resolved_at.or(resolved_at);
                    figures.incidents.insert(pm.id.clone(), pm.duration_minutes);
                    let first_page = pm.timeline.iter().find(|e| e.kind == "page");
                    let ack = pm.timeline.iter().find(|e| e.kind == "ack");
                    figures.pages += pm.timeline.iter().filter(|e| e.kind == "page").count();
                    if let Some(page) = first_page {
                        figures.time_to_acknowledge.insert(
                            pm.id.clone(),
                            ack.map(|a| (a.at - page.at).num_minutes().max(0)),
                        );
                    }
                }
            } else {
                troubleshooting.push(format!("It joined {number}, above."));
            }
        }
        if resolution.is_empty() {
            resolution.push(match resolved_at {
                Some(t) => format!("Resolved at {}.", hhmm(t, tz)),
                None => "Not resolved by the end of the summary.".to_string(),
            });
        }
        entries.push(SummaryEntry {
            number: entries.len() + 1,
            at,
            name: title,
            incident: incident_label,
            troubleshooting,
            resolution,
            resolved_at,
        });
    }

    // Recurring: alerts of the shift that fired before it began.
    let mut recurring = Vec::new();
    for name in figures.alerts.keys() {
        let earlier: Vec<&Firing> = firings
            .iter()
            .filter(|f| f.name == name && f.at < from)
            .collect();
        if !earlier.is_empty() {
            let dates: BTreeSet<String> = earlier
                .iter()
                .map(|f| f.at.with_timezone(&tz).format("%Y-%m-%d").to_string())
                .collect();
            recurring.push(Recurring {
                name: name.clone(),
                earlier: earlier.len(),
                dates: dates.into_iter().collect(),
            });
        }
    }
    let toil = toil_candidates(streams, &recurring, to);
    ShiftSummary {
        shift,
        from,
        to,
        entries,
        figures,
        recurring,
        toil,
        tz,
    }
}

/// Troubleshooting and resolution lines of an incident, from its post-mortem.
fn describe_incident(
    pm: &postmortem::PostMortem,
    records: &[Recorded],
    tz: Tz,
    troubleshooting: &mut Vec<String>,
    resolution: &mut Vec<String>,
) {
    troubleshooting.push(format!("{} “{}” was opened.", pm.id, pm.title));
    for r in records {
        if let Event::SopPosted { path, .. } = &r.event {
            troubleshooting.push(format!("The SOP {path} was attached."));
        }
    }
    for e in &pm.timeline {
        match e.kind {
            "message" if !e.text.is_empty() => {
                let who = e.author_name.as_deref().unwrap_or(&e.author);
                troubleshooting.push(format!("{} {who}: {}", hhmm(e.at, tz), e.text));
            }
            "runbook"
                if e.text.contains(" succeeded:")
                    || e.text.contains(" failed:")
                    || e.text.contains("lost")
                    || e.text.contains("timed out") =>
            {
                troubleshooting.push(format!("{} {}", hhmm(e.at, tz), e.text));
            }
            "deploy" => troubleshooting.push(format!("{} {}", hhmm(e.at, tz), e.text)),
            _ => {}
        }
    }
    for note in &pm.resolution {
        resolution.push(note.text.clone());
    }
    if let Some(t) = pm.resolved_at {
        let took = pm
            .duration_minutes
            .map(|m| format!(" after {}", minutes_in_words(m)))
            .unwrap_or_default();
        resolution.push(format!("Resolved at {}{took}.", hhmm(t, tz)));
    }
}

/// Alerts that recur, runbooks run in more than one incident, and commands typed by hand
/// (`` `dnsTool -q active_server` ``) in more than one incident, up to `to`.
fn toil_candidates(
    streams: &BTreeMap<String, Vec<Recorded>>,
    recurring: &[Recurring],
    to: DateTime<Utc>,
) -> Vec<String> {
    let mut toil: Vec<String> = recurring
        .iter()
        .map(|r| {
            format!(
                "The alert {} recurs: {} earlier {} ({}). Automate its fix or remove its cause.",
                r.name,
                r.earlier,
                if r.earlier == 1 { "firing" } else { "firings" },
                r.dates.join(", ")
            )
        })
        .collect();
    let mut runbooks: BTreeMap<String, BTreeSet<IncidentNumber>> = BTreeMap::new();
    let mut typed: BTreeMap<String, BTreeSet<IncidentNumber>> = BTreeMap::new();
    for (stream, records) in streams {
        let Some(number) = IncidentNumber::from_stream_id(stream) else {
            continue;
        };
        for r in records.iter().filter(|r| r.at < to) {
            match r.event.unwrapped() {
                Event::RunbookRequested { command, .. } => {
                    runbooks.entry(command.clone()).or_default().insert(number);
                }
                Event::MessagePosted(m) => {
                    for command in typed_commands(&m.text) {
                        typed.entry(command).or_default().insert(number);
                    }
                }
                _ => {}
            }
        }
    }
    for (command, incidents) in runbooks.iter().filter(|(_, i)| i.len() > 1) {
        toil.push(format!(
            "The runbook {command} ran in {} incidents ({}): run it from the alert's route, or remove the cause.",
            incidents.len(),
            list(incidents)
        ));
    }
    for (command, incidents) in typed.iter().filter(|(_, i)| i.len() > 1) {
        toil.push(format!(
            "`{command}` was typed by hand in {} incidents ({}): make it a runbook.",
            incidents.len(),
            list(incidents)
        ));
    }
    toil
}

fn list(incidents: &BTreeSet<IncidentNumber>) -> String {
    incidents
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Commands quoted in a chat message: `` `…` `` spans, and a line starting with `$ `.
fn typed_commands(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut parts = text.split('`');
    parts.next();
    while let (Some(code), Some(_)) = (parts.next(), parts.next()) {
        let code = code.trim();
        if !code.is_empty() {
            found.push(code.to_string());
        }
    }
    for line in text.lines() {
        if let Some(command) = line.trim_start().strip_prefix("$ ") {
            found.push(command.trim().to_string());
        }
    }
    found
}

fn hhmm(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%H:%M").to_string()
}

/// The summary in the seed's on-call log template.
pub fn render_markdown(s: &ShiftSummary) -> String {
    let tz = s.tz;
    let mut out = String::new();
    match &s.shift {
        Some(shift) => {
            let _ = write!(
                out,
                "# On-call summary — shift {} ({})\n\n{} to {} ({})",
                shift.number,
                shift.person,
                s.from.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                s.to.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                tz.name()
            );
            if let Some(from) = &shift.handed_over_from {
                let _ = write!(out, "; taken over from {from}");
            }
            if let Some(to) = &shift.handed_over_to {
                let _ = write!(out, "; handed over to {to}");
            }
            out.push_str(".\n");
        }
        None => {
            let _ = writeln!(
                out,
                "# On-call summary\n\n{} to {} ({}).",
                s.from.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                s.to.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                tz.name()
            );
        }
    }
    if s.entries.is_empty() {
        out.push_str("\nNo alerts or incidents in this shift.\n");
    }
    for e in &s.entries {
        let recurring = s
            .recurring
            .iter()
            .find(|r| r.name == e.name)
            .map(|r| {
                format!(
                    " (recurring: {} earlier, {})",
                    r.earlier,
                    r.dates.join(", ")
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\n## {} -- Alert {}. {}{recurring}\n\n### Troubleshooting\n",
            e.at.with_timezone(&tz).format("%d.%m.%Y/%H:%M"),
            e.number,
            e.name
        );
        for line in &e.troubleshooting {
            let _ = writeln!(out, "- {line}");
        }
        out.push_str("\n### Resolution\n\n");
        for line in &e.resolution {
            let _ = writeln!(out, "- {line}");
        }
    }
    out.push_str("\n## Shift figures\n\n");
    if s.figures.alerts.is_empty() {
        out.push_str("- Alerts: none\n");
    } else {
        let alerts: Vec<String> = s
            .figures
            .alerts
            .iter()
            .map(|(name, n)| format!("{name} ×{n}"))
            .collect();
        let _ = writeln!(out, "- Alerts: {}", alerts.join(", "));
    }
    let _ = writeln!(out, "- Pages sent: {}", s.figures.pages);
    for (incident, minutes) in &s.figures.time_to_acknowledge {
        let _ = writeln!(
            out,
            "- {incident} acknowledged {}",
            minutes
                .map(|m| format!("{} after its first page", minutes_in_words(m)))
                .unwrap_or_else(|| "never".to_string())
        );
    }
    for (incident, minutes) in &s.figures.incidents {
        let _ = writeln!(
            out,
            "- {incident} lasted {}",
            minutes
                .map(minutes_in_words)
                .unwrap_or_else(|| "until after the shift (unresolved)".to_string())
        );
    }
    out.push_str("\n## Toil candidates\n\n");
    if s.toil.is_empty() {
        out.push_str("- None seen.\n");
    }
    for t in &s.toil {
        let _ = writeln!(out, "- {t}");
    }
    out
}

/// The summary as JSON.
pub fn render_json(s: &ShiftSummary) -> String {
    serde_json::to_string_pretty(s).expect("summaries serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
    }

    fn rec(position: i64, t: &str, event: Event) -> Recorded {
        crate::domain::testkit::recorded(position, at(t), "x", event)
    }

    #[test]
    fn a_recurring_alert_counts_its_earlier_firings_in_words() {
        let recurs = |earlier: usize, dates: &[&str]| Recurring {
            name: "LowStorage".into(),
            earlier,
            dates: dates.iter().map(|d| d.to_string()).collect(),
        };
        let toil = toil_candidates(
            &BTreeMap::new(),
            &[
                recurs(1, &["2021-03-01"]),
                recurs(2, &["2021-03-01", "2021-03-08"]),
            ],
            at("2021-03-10T00:00:00Z"),
        );
        assert!(
            toil[0].contains("recurs: 1 earlier firing (2021-03-01)."),
            "{toil:?}"
        );
        assert!(toil[1].contains("recurs: 2 earlier firings (2021-03-01, 2021-03-08)."));
    }

    #[test]
    fn a_start_while_someone_is_on_call_hands_over() {
        let records = vec![
            rec(
                1,
                "2021-03-08T08:00:00Z",
                Event::ShiftStarted {
                    number: 1,
                    person: "ghammer".into(),
                    handed_over_from: None,
                },
            ),
            rec(
                2,
                "2021-03-09T08:00:00Z",
                Event::ShiftStarted {
                    number: 2,
                    person: "rpark".into(),
                    handed_over_from: Some("ghammer".into()),
                },
            ),
        ];
        let all = shifts(&records);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].ended_at, Some(at("2021-03-09T08:00:00Z")));
        assert_eq!(all[0].handed_over_to.as_deref(), Some("rpark"));
        assert_eq!(all[1].ended_at, None);
        let again = start(Some(&all[1]), 3, "rpark").unwrap_err();
        assert!(matches!(again, ShiftError::AlreadyOnCall { number: 2, .. }));
        let events = start(Some(&all[1]), 3, "svega").unwrap();
        assert_eq!(events[0].0, "shift-3");
        assert!(
            matches!(&events[0].1, Event::ShiftStarted { handed_over_from: Some(p), .. } if p == "rpark")
        );
        assert_eq!(end(None).unwrap_err(), ShiftError::NobodyOnCall);
    }

    #[test]
    fn commands_typed_by_hand_are_code_spans_and_dollar_lines() {
        assert_eq!(
            typed_commands("ran `dnsTool -q active_server` then\n$ systemctl restart app"),
            ["dnsTool -q active_server", "systemctl restart app"]
        );
        assert!(typed_commands("no code here, just `unclosed").is_empty());
    }
}
