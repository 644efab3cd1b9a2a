//! The post-mortem draft: a pure function of an incident's events and the contact list.
//!
//! Nothing is invented: every line comes from an event and carries its id in the JSON form.
//! The only prose of our own is fixed framing (section headings, "nothing was recorded").
//! Same events in, byte-identical documents out.

use super::contacts::{Directory, Named};
use super::event::{Attachment, Event, Recorded, SYSTEM_ACTOR};
use super::types::{ImpactArea, IncidentNumber, IncidentStatus, Severity};
use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::rc::Rc;
use uuid::Uuid;

/// An incident's post-mortem draft. Serialises to the JSON form of the contract; the field
/// order is the key order.
#[derive(Debug, Clone, Serialize)]
pub struct PostMortem {
    /// `INC-7`.
    pub id: String,
    pub title: String,
    /// The severity at the end.
    pub severity: Severity,
    /// The earliest event: the first report or alert, possibly before the open.
    pub started_at: DateTime<Utc>,
    /// When it was last resolved; null while it is open again after a reopen.
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// From `started_at` to `resolved_at`, whole minutes; null while unresolved.
    pub duration_minutes: Option<i64>,
    pub stakeholders: Vec<Stakeholder>,
    pub timeline: Vec<TimelineEntry>,
    pub impact: Impact,
    pub resolution: Vec<Note>,
    pub action_plan: Vec<ActionItem>,
    /// What the Markdown form needs beyond the JSON: the time zone and the status line facts.
    #[serde(skip)]
    view: View,
}

#[derive(Debug, Clone)]
struct View {
    tz: Tz,
    status: IncidentStatus,
    opened_at: DateTime<Utc>,
    opened_by: String,
}

/// A participant, under the team the contact list gives (or `Other`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stakeholder {
    pub team: String,
    pub name: String,
    pub handle: String,
}

/// One line of the timeline: a message or a system event.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// message, alert, opened, severity, role, update, resolved, closed, reopened.
    pub kind: &'static str,
    /// The canonical handle of who said or did it (the raw name when not a contact; the
    /// sender for alerts).
    pub author: String,
    /// The message's final text verbatim, or the system event described; a deleted message's
    /// marker instead of its text.
    pub text: String,
    /// The event this entry comes from.
    pub event_id: Uuid,
    /// The author's full name when the contact list knows them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// Every edit, with the text before and after, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<Edit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// The delete was found in the history after warroom was away: `deleted_at` is when it
    /// was found, not when it happened.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted_while_away: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// How the author is shown in Markdown (`Susan Vega (@svega)`), empty for alerts.
    #[serde(skip)]
    shown_as: String,
}

/// One edit of a message.
#[derive(Debug, Clone, Serialize)]
pub struct Edit {
    pub at: DateTime<Utc>,
    /// Unknown when the original was never seen.
    pub before: Option<String>,
    pub after: String,
    /// When warroom found the edit in the history after being away (it heard no event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_at: Option<DateTime<Utc>>,
    pub event_id: Uuid,
}

/// The Impact section: the duration, then the notes by area.
#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    /// The duration in words, e.g. `1 hour 15 minutes`; null while unresolved.
    pub duration: Option<String>,
    /// The section's first sentence, as printed.
    pub summary: String,
    pub notes: Vec<ImpactNote>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImpactNote {
    pub area: ImpactArea,
    pub text: String,
    pub author: String,
    pub event_id: Uuid,
}

/// A resolution note.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub text: String,
    pub author: String,
    pub event_id: Uuid,
}

/// A follow-up action.
#[derive(Debug, Clone, Serialize)]
pub struct ActionItem {
    pub text: String,
    /// The owner's canonical handle (or the name as given when not a contact).
    pub owner: Option<String>,
    pub due: Option<NaiveDate>,
    pub author: String,
    pub event_id: Uuid,
    #[serde(skip)]
    owner_shown_as: Option<String>,
}

/// The events are not an incident's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stream has no IncidentOpened event; is it an incident?")]
pub struct NotAnIncident;

/// Builds the post-mortem from all events of one incident stream, in stream order.
pub fn assemble(
    records: &[Recorded],
    directory: &Directory,
    tz: Tz,
) -> Result<PostMortem, NotAnIncident> {
    let (opened, number, title, channel_severity) = records
        .iter()
        .find_map(|r| match &r.event {
            Event::IncidentOpened {
                number,
                title,
                severity,
                ..
            } => Some((r, *number, title.clone(), *severity)),
            _ => None,
        })
        .ok_or(NotAnIncident)?;
    // Every name resolves the same way each time and an incident has few distinct names, so
    // each is looked up once (a 100k-event incident would otherwise redo it 300k times).
    let names: RefCell<HashMap<String, Rc<Resolved>>> = RefCell::new(HashMap::new());
    let resolve = |name: &str| -> Rc<Resolved> {
        if let Some(known) = names.borrow().get(name) {
            return known.clone();
        }
        let resolved = Rc::new(Resolved::of(directory, name));
        names
            .borrow_mut()
            .insert(name.to_string(), resolved.clone());
        resolved
    };
    let canonical = |name: &str| resolve(name).handle.clone();
    let hhmm = |t: DateTime<Utc>| t.with_timezone(&tz).format("%H:%M").to_string();

    let mut severity = channel_severity;
    let mut status = IncidentStatus::Open;
    let mut resolved_at = None;
    let mut closed_at = None;
    let mut timeline: Vec<TimelineEntry> = Vec::new();
    // Borrowed keys: the records outlive the assembly, so no key is copied.
    let mut by_message: HashMap<(&str, &str), usize> = HashMap::new();
    // Participants in order of first participation: events are visited in time order, so
    // the first sighting is the earliest.
    let mut people: Vec<Stakeholder> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut impact_notes = Vec::new();
    let mut resolution = Vec::new();
    let mut action_plan = Vec::new();

    let mut ordered: Vec<&Recorded> = records.iter().collect();
    ordered.sort_by_key(|r| (r.at, r.position));
    let mut take_part = |name: &str, _: &Recorded| {
        let who = resolve(name);
        if !who.is_team && !seen.contains(&who.key) {
            seen.insert(who.key.clone());
            people.push(Stakeholder {
                team: who.team.clone(),
                name: who.name.clone().unwrap_or_else(|| who.handle.clone()),
                handle: who.handle.clone(),
            });
        }
    };

    // Run number → (command, requester, approver), for the Resolution lines of runs.
    let mut asked: HashMap<u32, (String, String, Option<String>)> = HashMap::new();
    for r in &ordered {
        let entry = |kind: &'static str, author: &str, text: String| {
            let who = resolve(author);
            TimelineEntry {
                at: r.at,
                kind,
                author: who.handle.clone(),
                text,
                event_id: r.event_id,
                author_name: who.name.clone(),
                edits: vec![],
                deleted_at: None,
                deleted_while_away: false,
                attachments: vec![],
                shown_as: who.shown.clone(),
            }
        };
        let n = number;
        match r.event.unwrapped() {
            Event::IncidentOpened {
                title,
                severity,
                channel,
                ..
            } => {
                if r.actor != SYSTEM_ACTOR {
                    take_part(&r.actor, r);
                }
                timeline.push(entry(
                    "opened",
                    &r.actor,
                    format!("opened {n} “{title}” at {severity} in #{channel}"),
                ));
            }
            Event::SeverityChanged { from, to } => {
                severity = *to;
                take_part(&r.actor, r);
                timeline.push(entry(
                    "severity",
                    &r.actor,
                    format!("changed the severity from {from} to {to}"),
                ));
            }
            Event::RoleAssigned { role, handle, .. } => {
                take_part(&r.actor, r);
                take_part(handle, r);
                let text = if canonical(handle) == canonical(&r.actor) {
                    format!("took the {role} role")
                } else {
                    format!("made {} {role}", resolve(handle).shown)
                };
                timeline.push(entry("role", &r.actor, text));
            }
            Event::StatusUpdatePosted { text } => {
                take_part(&r.actor, r);
                timeline.push(entry(
                    "update",
                    &r.actor,
                    format!("posted a status update: {text}"),
                ));
            }
            Event::ImpactNoted { area, text } => {
                take_part(&r.actor, r);
                impact_notes.push(ImpactNote {
                    area: *area,
                    text: text.clone(),
                    author: canonical(&r.actor),
                    event_id: r.event_id,
                });
            }
            Event::ResolutionNoted { text } => {
                take_part(&r.actor, r);
                resolution.push(Note {
                    text: text.clone(),
                    author: canonical(&r.actor),
                    event_id: r.event_id,
                });
            }
            Event::ActionAdded { text, owner, due } => {
                take_part(&r.actor, r);
                action_plan.push(ActionItem {
                    text: text.clone(),
                    owner: owner.as_deref().map(canonical),
                    due: *due,
                    author: canonical(&r.actor),
                    event_id: r.event_id,
                    owner_shown_as: owner.as_deref().map(|o| resolve(o).shown.clone()),
                });
            }
            Event::IncidentResolved { implicit } => {
                status = IncidentStatus::Resolved;
                resolved_at = Some(r.at);
                take_part(&r.actor, r);
                let text = if *implicit {
                    format!("resolved {n} on closing it")
                } else {
                    format!("resolved {n}")
                };
                timeline.push(entry("resolved", &r.actor, text));
            }
            Event::IncidentClosed {} => {
                status = IncidentStatus::Closed;
                closed_at = Some(r.at);
                take_part(&r.actor, r);
                timeline.push(entry("closed", &r.actor, format!("closed {n}")));
            }
            Event::IncidentReopened { reason } => {
                status = IncidentStatus::Open;
                resolved_at = None;
                closed_at = None;
                take_part(&r.actor, r);
                let text = match reason {
                    Some(reason) => format!("reopened {n}: {reason}"),
                    None => format!("reopened {n}"),
                };
                timeline.push(entry("reopened", &r.actor, text));
            }
            Event::MessagePosted(m) => {
                take_part(&m.author, r);
                for mention in &m.mentions {
                    take_part(mention, r);
                }
                let mut e = entry("message", &m.author, m.text.clone());
                e.attachments = m.attachments.clone();
                if let Some(id) = &m.message_id {
                    by_message.insert((m.channel.as_str(), id.as_str()), timeline.len());
                }
                timeline.push(e);
            }
            Event::MessageEdited {
                channel,
                message_id,
                before,
                after,
                found_at,
            } => {
                let edit = Edit {
                    at: r.at,
                    before: before.clone(),
                    after: after.clone(),
                    found_at: *found_at,
                    event_id: r.event_id,
                };
                match by_message.get(&(channel.as_str(), message_id.as_str())) {
                    Some(&i) => {
                        timeline[i].text = after.clone();
                        timeline[i].edits.push(edit);
                    }
                    None => {
                        take_part(&r.actor, r);
                        let mut e = entry("message", &r.actor, after.clone());
                        e.edits.push(edit);
                        by_message.insert((channel.as_str(), message_id.as_str()), timeline.len());
                        timeline.push(e);
                    }
                }
            }
            Event::MessageDeleted {
                channel,
                message_id,
                found_at,
            } => {
                let i = match by_message.get(&(channel.as_str(), message_id.as_str())) {
                    Some(&i) => i,
                    None => {
                        timeline.push(entry("message", &r.actor, String::new()));
                        timeline.len() - 1
                    }
                };
                // A published document must not re-expose what someone deleted (a pasted
                // secret, say); the ledger keeps the original.
                let e = &mut timeline[i];
                e.text = match found_at {
                    Some(found) => format!(
                        "[message deleted while warroom was away; found {}]",
                        hhmm(*found)
                    ),
                    None => format!("[message deleted {}]", hhmm(r.at)),
                };
                e.deleted_while_away = found_at.is_some();
                e.edits.clear();
                e.attachments.clear();
                e.deleted_at = Some(r.at);
            }
            Event::AlertReceived(a) => {
                let mut text = format!("Alert {} {} ({})", a.name, a.status.as_str(), a.source);
                if let Some(summary) = &a.summary {
                    let _ = write!(text, ": {summary}");
                }
                let mut e = entry("alert", &r.actor, text);
                e.author = a.source.clone();
                e.author_name = None;
                e.shown_as = String::new();
                timeline.push(e);
            }
            Event::SopPosted { path, suggest, .. } => {
                let mut text = format!("SOP posted: {path}");
                if !suggest.is_empty() {
                    let _ = write!(text, " (suggested: {})", suggest.join(", "));
                }
                timeline.push(entry("sop", &r.actor, text));
            }
            Event::EscalationStarted { policy, reason, .. } => {
                timeline.push(entry(
                    "escalation",
                    &r.actor,
                    format!("escalation policy '{policy}' started: {reason}"),
                ));
            }
            Event::PageRequested {
                target,
                message,
                reason,
                ..
            } => {
                if r.actor != SYSTEM_ACTOR {
                    take_part(&r.actor, r);
                }
                let mut text = format!("paged {target} ({reason})");
                if let Some(message) = message {
                    let _ = write!(text, ": {message}");
                }
                timeline.push(entry("page", &r.actor, text));
            }
            Event::PageGaveUp {
                target,
                pager,
                reason,
                ..
            } => {
                timeline.push(entry(
                    "page",
                    &r.actor,
                    format!("could not reach {target} through {pager}: {reason}"),
                ));
            }
            Event::Acknowledged { by } => {
                take_part(by, r);
                timeline.push(entry("ack", by, "acknowledged the page".to_string()));
            }
            // Bookkeeping: the group binding and each delivery attempt are in the ledger;
            // the timeline shows the pages and the give-ups people act on.
            Event::AlertGroupOpened { .. } | Event::PageAttempted { .. } => {}
            Event::RunbookRequested {
                run,
                command,
                params,
                confirm,
                approval,
                ..
            } => {
                take_part(&r.actor, r);
                asked.insert(*run, (command.clone(), r.actor.clone(), None));
                let mut text = format!("asked for run {run}: {command}");
                for (name, value) in params {
                    text.push_str(&format!(" {name}:{value}"));
                }
                let mut waits = Vec::new();
                if *confirm {
                    waits.push("their confirmation".to_string());
                }
                if let Some(approver) = approval {
                    waits.push(format!("approval by {approver}"));
                }
                if !waits.is_empty() {
                    text.push_str(&format!(" (waits for {})", waits.join(" and ")));
                }
                timeline.push(entry("runbook", &r.actor, text));
            }
            Event::RunbookConfirmed { run } => {
                timeline.push(entry("runbook", &r.actor, format!("confirmed run {run}")));
            }
            Event::RunbookApproved { run, by } => {
                take_part(by, r);
                if let Some(a) = asked.get_mut(run) {
                    a.2 = Some(by.clone());
                }
                timeline.push(entry("runbook", by, format!("approved run {run}")));
            }
            Event::RunbookQueued { run, .. } => {
                timeline.push(entry(
                    "runbook",
                    &r.actor,
                    format!("run {run} queued for an agent"),
                ));
            }
            Event::RunbookHeartbeat { .. } => {}
            Event::RunbookClaimed { run, agent, .. } => {
                timeline.push(entry(
                    "runbook",
                    &r.actor,
                    format!("agent {agent} started run {run}"),
                ));
            }
            Event::RunbookStepStarted {
                run,
                step,
                attempt,
                program,
                args,
            } => {
                let again = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                timeline.push(entry(
                    "runbook",
                    &r.actor,
                    format!("run {run} step {step}{again}: {program} {}", args.join(" ")),
                ));
            }
            Event::RunbookStepFinished {
                run,
                step,
                exit,
                succeeded,
                ..
            } => {
                let how = if *succeeded { "succeeded" } else { "failed" };
                let code = exit.map(|c| format!(" (exit {c})")).unwrap_or_default();
                timeline.push(entry(
                    "runbook",
                    &r.actor,
                    format!("run {run} step {step} {how}{code}"),
                ));
            }
            // Output is in the ledger; the timeline shows what each step did.
            Event::RunbookOutput { .. } => {}
            Event::RunbookFinished {
                run,
                outcome,
                message,
            } => {
                timeline.push(entry(
                    "runbook",
                    &r.actor,
                    format!("run {run} {}: {message}", outcome.replace('_', " ")),
                ));
                if let Some((command, requester, approver)) = asked.get(run) {
                    let approved = approver
                        .as_ref()
                        .map(|a| format!(", approved by {}", directory.display(a)))
                        .unwrap_or_default();
                    resolution.push(Note {
                        text: format!(
                            "{command} (run {run}, asked by {}{approved}) {}: {message}",
                            directory.display(requester),
                            outcome.replace('_', " ")
                        ),
                        author: canonical(requester),
                        event_id: r.event_id,
                    });
                }
            }
            // The chat channel link and the posted draft itself: the draft must read the same
            // before and after it is posted.
            Event::ChatChannelLinked { .. } | Event::PostmortemPublished { .. } => {}
            Event::CommandRejected { .. } | Event::Imported { .. } => {}
            // Deploys live in their services' streams; an incident holds notes of them.
            Event::DeployRecorded(_) | Event::DeployFlagged { .. } => {}
            // Shifts live in their own streams.
            Event::ShiftStarted { .. } | Event::ShiftEnded { .. } => {}
            Event::DeployNoted {
                deploy,
                deployed_at,
                flags,
            } => {
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
                let mut noted = entry("deploy", &r.actor, text);
                // Shown when it happened, before the incident's own events.
                noted.at = *deployed_at;
                timeline.push(noted);
            }
            // Release events live in release streams, never in an incident's.
            Event::ReleaseOpened { .. }
            | Event::ReleaseChangeAdded { .. }
            | Event::ReleaseStakeholderAdded { .. }
            | Event::ReleaseDecisionNoted { .. }
            | Event::ReleaseTestNoted { .. }
            | Event::ReleaseNoteAdded { .. }
            | Event::ReleaseCapacityPlanned(_)
            | Event::ReleasePublished {} => {}
        }
    }
    // Deploy notes carry an earlier time than the event that holds them.
    timeline.sort_by_key(|e| e.at);

    let started_at = ordered.first().map_or(opened.at, |r| r.at);
    let last_at = ordered.last().map_or(opened.at, |r| r.at);
    let duration_minutes = resolved_at.map(|end| (end - started_at).num_minutes().max(0));
    let duration = duration_minutes.map(minutes_in_words);
    let tz_name = tz.name();
    let summary = match (resolved_at, &duration) {
        (Some(end), Some(words)) => format!(
            "The incident lasted {words}, from {} to {} ({tz_name}).",
            hhmm(started_at),
            hhmm(end)
        ),
        _ => format!(
            "The incident is not resolved yet; by the last recorded event ({}) it had lasted {}, from {} ({tz_name}).",
            hhmm(last_at),
            minutes_in_words((last_at - started_at).num_minutes().max(0)),
            hhmm(started_at)
        ),
    };
    impact_notes.sort_by_key(|n| n.area);

    Ok(PostMortem {
        id: number_label(number),
        title,
        severity,
        started_at,
        resolved_at,
        closed_at,
        duration_minutes,
        stakeholders: by_team(directory, people),
        timeline,
        impact: Impact {
            duration,
            summary,
            notes: impact_notes,
        },
        resolution,
        action_plan,
        view: View {
            tz,
            status,
            opened_at: opened.at,
            opened_by: opened.actor.clone(),
        },
    })
}

fn number_label(number: IncidentNumber) -> String {
    number.to_string()
}

/// Participants grouped by team: configured teams in order, then teams only named on
/// contacts, then `Other`; within a team, by first participation.
fn by_team(directory: &Directory, mut people: Vec<Stakeholder>) -> Vec<Stakeholder> {
    let team_rank = |team: &str| -> (usize, String) {
        match directory.teams().iter().position(|t| t.name == team) {
            Some(i) => (i, String::new()),
            None if team == OTHER => (usize::MAX, String::new()),
            None => (usize::MAX - 1, team.to_string()),
        }
    };
    // A stable sort keeps first-participation order within each team.
    people.sort_by_key(|p| team_rank(&p.team));
    people
}

/// The team of people who are not in the contact list.
const OTHER: &str = "Other";

/// How a name from an event is shown, resolved once per distinct name.
struct Resolved {
    /// The contact's handle, or the name as written without its sigil.
    handle: String,
    /// The handle lowercased: one person, however their name is capitalised.
    key: String,
    /// The contact's full name, when known.
    name: Option<String>,
    /// `Susan Vega (@svega)`, or `@name` for a stranger.
    shown: String,
    /// The contact's team, or `Other`.
    team: String,
    /// The name is a team's (`!sre`): not a person, so never a stakeholder.
    is_team: bool,
}

impl Resolved {
    fn of(directory: &Directory, name: &str) -> Resolved {
        match directory.lookup(name) {
            Some(Named::Person(c)) => Resolved {
                key: c.handle.to_lowercase(),
                handle: c.handle.clone(),
                name: Some(c.name.clone()),
                shown: directory.display(name),
                team: c.team.clone(),
                is_team: false,
            },
            other => {
                let raw = name.trim_start_matches(['@', '!']).to_string();
                Resolved {
                    key: raw.to_lowercase(),
                    shown: format!("@{raw}"),
                    handle: raw,
                    name: None,
                    team: OTHER.to_string(),
                    is_team: matches!(other, Some(Named::Team(_))),
                }
            }
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

/// The post-mortem in Markdown, with the seed template's sections in order.
pub fn render_markdown(pm: &PostMortem) -> String {
    let tz = pm.view.tz;
    let local = |t: DateTime<Utc>| t.with_timezone(&tz);
    let mut out = String::new();
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

    out.push_str("\n## Incident Timeline\n\n");
    for e in &pm.timeline {
        e.write_markdown(&mut out, tz);
    }

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

    out.push_str("\n## Resolution\n\n");
    if pm.resolution.is_empty() {
        out.push_str(
            "No resolution was recorded. Add it with `/incident resolution text:\"…\"`.\n",
        );
    }
    for n in &pm.resolution {
        let _ = writeln!(out, "- {}", n.text);
    }

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
    out
}

/// The post-mortem as pretty JSON.
pub fn render_json(pm: &PostMortem) -> String {
    let mut json = serde_json::to_string_pretty(pm).expect("a post-mortem always serialises");
    json.push('\n');
    json
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{AlertFacts, AlertStatus, ChatMessage};
    use chrono::TimeZone;

    fn directory() -> Directory {
        crate::domain::testkit::directory()
    }

    struct Log(Vec<Recorded>);

    impl Log {
        fn at(&mut self, hm: (u32, u32), actor: &str, event: Event) -> &mut Self {
            let n = self.0.len() as i64 + 1;
            self.0.push(Recorded {
                event_id: Uuid::from_u128(n as u128),
                position: n,
                at: Utc.with_ymd_and_hms(2021, 3, 9, hm.0, hm.1, 0).unwrap(),
                actor: actor.into(),
                event,
            });
            self
        }
    }

    fn say(id: &str, author: &str, text: &str) -> Event {
        Event::MessagePosted(ChatMessage {
            channel: "ops".into(),
            message_id: Some(id.into()),
            author: author.into(),
            text: text.into(),
            mentions: crate::domain::contacts::mentions(text),
            reply_to: None,
            attachments: vec![],
        })
    }

    fn outage() -> Log {
        let mut log = Log(vec![]);
        log.at(
            (9, 17),
            "rpark",
            Event::IncidentOpened {
                number: IncidentNumber(1),
                title: "Application outage".into(),
                severity: Severity::Sev1,
                channel: "ops".into(),
            },
        )
        .at(
            (9, 15),
            "svega",
            Event::Imported {
                original_event_id: Uuid::nil(),
                from_stream: "channel-ops".into(),
                event: Box::new(say("m1", "svega", "Hey we can not reach the app either.")),
            },
        )
        .at(
            (9, 16),
            "alertmanager",
            Event::AlertReceived(AlertFacts {
                source: "alertmanager".into(),
                name: "ApplicationDown".into(),
                status: AlertStatus::Firing,
                channel: "ops".into(),
                fingerprint: "f".into(),
                severity: None,
                summary: Some("app unreachable".into()),
                labels: Default::default(),
                annotations: Default::default(),
                starts_at: None,
                ends_at: None,
            }),
        )
        .at(
            (9, 20),
            "rpark",
            say(
                "m2",
                "rpark",
                "!svega !hammer !sre !stranger we have an outage",
            ),
        )
        .at(
            (9, 52),
            "hammer",
            say("m3", "hammer", "Main app is back up."),
        )
        .at(
            (9, 55),
            "svega",
            say("m4", "svega", "App is still not respond."),
        )
        .at(
            (9, 56),
            "svega",
            Event::MessageEdited {
                channel: "ops".into(),
                message_id: "m4".into(),
                before: Some("App is still not respond.".into()),
                after: "App is still not responding.".into(),
                found_at: None,
            },
        )
        .at(
            (9, 57),
            "svega",
            say("m5", "svega", "my password is hunter2"),
        )
        .at(
            (9, 58),
            "svega",
            Event::MessageDeleted {
                channel: "ops".into(),
                message_id: "m5".into(),
                found_at: None,
            },
        )
        .at(
            (10, 30),
            "rpark",
            Event::IncidentResolved { implicit: false },
        );
        log
    }

    fn madrid_or_utc(log: &Log, tz: Tz) -> PostMortem {
        assemble(&log.0, &directory(), tz).unwrap()
    }

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
    fn stakeholders_are_grouped_by_team_with_aliases_resolved_and_strangers_under_other() {
        let pm = madrid_or_utc(&outage(), chrono_tz::UTC);
        let people: Vec<(&str, &str)> = pm
            .stakeholders
            .iter()
            .map(|s| (s.team.as_str(), s.handle.as_str()))
            .collect();
        assert_eq!(
            people,
            [
                ("Customer Support", "svega"),
                ("Ops", "ghammer"),
                ("SRE", "rpark"),
                ("Other", "stranger")
            ],
            "a team mention (!sre) is not a person; the alert sender is not a stakeholder"
        );
        let md = render_markdown(&pm);
        assert!(md.contains("## Stakeholders\n\n- Customer Support\n  - Susan Vega (@svega)\n- Ops\n  - Glenn Hammer (@ghammer)\n"), "{md}");
        assert!(md.contains("- Other\n  - @stranger\n"));
    }

    #[test]
    fn json_has_the_contract_keys_in_order_and_both_texts_of_an_edit_but_not_a_deleted_text() {
        let json = render_json(&madrid_or_utc(&outage(), chrono_tz::UTC));
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut sorted_contract = vec![
            "id",
            "title",
            "severity",
            "started_at",
            "resolved_at",
            "closed_at",
            "duration_minutes",
            "stakeholders",
            "timeline",
            "impact",
            "resolution",
            "action_plan",
        ];
        sorted_contract.sort();
        assert_eq!(
            keys, sorted_contract,
            "serde_json sorts keys when parsed; the text keeps contract order"
        );
        let order: Vec<usize> = [
            "\"id\"",
            "\"title\"",
            "\"severity\"",
            "\"started_at\"",
            "\"resolved_at\"",
            "\"closed_at\"",
            "\"duration_minutes\"",
            "\"stakeholders\"",
            "\"timeline\"",
            "\"impact\"",
            "\"resolution\"",
            "\"action_plan\"",
        ]
        .iter()
        .map(|k| json.find(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(value["started_at"], "2021-03-09T09:15:00Z");
        assert_eq!(value["duration_minutes"], 75);
        let edited = value["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["text"] == "App is still not responding.")
            .unwrap();
        assert_eq!(edited["edits"][0]["before"], "App is still not respond.");
        assert!(
            !json.contains("hunter2"),
            "a deleted message's text is not published"
        );
        assert!(value["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["event_id"].is_string()));
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

    #[test]
    fn durations_read_as_words() {
        assert_eq!(minutes_in_words(75), "1 hour 15 minutes");
        assert_eq!(minutes_in_words(1), "1 minute");
        assert_eq!(minutes_in_words(120), "2 hours");
        assert_eq!(minutes_in_words(0), "less than a minute");
        assert_eq!(minutes_in_words(1440 + 125), "1 day 2 hours 5 minutes");
    }

    #[test]
    fn a_stream_without_an_open_is_not_an_incident() {
        let mut log = Log(vec![]);
        log.at((9, 0), "svega", say("m1", "svega", "hello"));
        assert!(assemble(&log.0, &directory(), chrono_tz::UTC).is_err());
    }
}
