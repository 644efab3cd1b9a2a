//! The post-mortem draft: a pure function of an incident's events and the contact list.
//!
//! Nothing is invented: every line comes from an event and carries its id in the JSON form.
//! The only prose of our own is fixed framing (section headings, "nothing was recorded").
//! Same events in, byte-identical documents out.
//!
//! `assemble` walks the events once, in time order, and hands each to one builder per part of
//! the document: `status` (severity, resolved, closed), `moments` (key moments and
//! contributing factors), `stakeholders`, `timeline` (whose lines for alerts and pages,
//! runbook runs and deploys come from `paging`, `runs` and `deploys`), `runs` (the appendix),
//! `impact`, `resolution` and `actions`; `names` resolves each name once for them all;
//! `summary` is written last, from the rest. `markdown` renders the document and the timeline
//! alone, every free text through `text` so that none can forge structure; the JSON form is
//! the model serialised, texts verbatim.

mod actions;
mod deploys;
#[cfg(test)]
mod fixture;
#[cfg(test)]
mod hostile;
mod impact;
mod markdown;
mod moments;
mod names;
mod paging;
mod resolution;
mod runs;
mod stakeholders;
mod status;
mod summary;
mod text;
mod timeline;

pub use impact::minutes_in_words;
pub use markdown::{render_markdown, render_timeline, write_markdown, SECTIONS};
pub use moments::{Change, ContributingFactors, KeyMoments, Moment};
pub use runs::{Run, RunStep};

use super::contacts::Directory;
use super::event::{Attachment, Event, Recorded};
use super::types::{ImpactArea, IncidentNumber, IncidentStatus, Severity};
use actions::ActionPlan;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use impact::ImpactNotes;
use moments::{FirstAlert, Moments};
use names::Names;
use resolution::Resolution;
use runs::Runs;
use serde::Serialize;
use stakeholders::People;
use status::Status;
use timeline::Timeline;
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
    /// Four sentences from the events: start, impact, cause, resolution.
    pub summary: String,
    pub key_moments: KeyMoments,
    pub stakeholders: Vec<Stakeholder>,
    pub timeline: Vec<TimelineEntry>,
    pub impact: Impact,
    pub contributing_factors: ContributingFactors,
    pub resolution: Vec<Note>,
    pub action_plan: Vec<ActionItem>,
    /// Every runbook run with its steps: the appendix the timeline's run lines point to.
    pub runs: Vec<Run>,
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
    first_alert: Option<FirstAlert>,
    declared_severity: String,
    mitigated_how: Option<String>,
    /// The summary with its free texts made inert.
    summary_markdown: String,
}

/// How much of the timeline: `Folded` (a run in one line, one line per escalation step's
/// pages) for people, `Full` (every event its own line) for `--full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    #[default]
    Folded,
    Full,
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
    /// What few entries have (edits, a delete, attachments, a key mark, a run, folded
    /// events), apart so that a long timeline of plain messages stays small. Its keys are
    /// the entry's own in JSON.
    #[serde(flatten)]
    pub extras: Option<Box<Extras>>,
    /// How the author is shown in Markdown (`Susan Vega (@svega)`), empty for alerts.
    #[serde(skip)]
    shown_as: String,
}

/// The parts of a timeline entry that few entries have.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Extras {
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
    /// Marked as a key moment (`/incident highlight`, ⭐) by someone.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub highlighted: bool,
    /// For a runbook run's line: the run, whose steps are in `runs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<u32>,
    /// The other events folded into this line (the other pages of one escalation step).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Uuid>,
}

/// An entry's extras when it has none.
static NO_EXTRAS: Extras = Extras {
    edits: Vec::new(),
    deleted_at: None,
    deleted_while_away: false,
    attachments: Vec::new(),
    highlighted: false,
    run: None,
    also: Vec::new(),
};

impl TimelineEntry {
    /// Edits, delete, attachments, key mark, run and folded events (none when it has none).
    pub fn extras(&self) -> &Extras {
        self.extras.as_deref().unwrap_or(&NO_EXTRAS)
    }

    /// How the author is shown: `Susan Vega (@svega)`, empty for alerts.
    pub fn shown_as(&self) -> &str {
        &self.shown_as
    }

    pub(super) fn extras_mut(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }
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

/// A resolution or cause note.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub text: String,
    pub author: String,
    pub event_id: Uuid,
    /// The note says how a runbook run ended, rather than being someone's note.
    #[serde(skip)]
    from_run: bool,
}

/// A follow-up action.
#[derive(Debug, Clone, Serialize)]
pub struct ActionItem {
    /// `A1`, `A2`, … in the order added; `/action done id:INC-7/A2` marks it done.
    pub id: String,
    pub text: String,
    /// The owner's canonical handle (or the name as given when not a contact).
    pub owner: Option<String>,
    pub due: Option<NaiveDate>,
    pub author: String,
    pub event_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_event_id: Option<Uuid>,
    /// The issue it was filed as, when `[followups]` names a tracker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_url: Option<String>,
    #[serde(skip)]
    owner_shown_as: Option<String>,
}

/// The follow-up actions of one incident's events, without the rest of the post-mortem:
/// for lists across incidents.
pub fn action_plan(records: &[Recorded], directory: &Directory) -> Vec<ActionItem> {
    let names = Names::new(directory);
    let mut ordered: Vec<&Recorded> = records.iter().collect();
    ordered.sort_by_key(|r| (r.at, r.position));
    let mut plan = ActionPlan::default();
    for r in ordered {
        plan.see(r, &names);
    }
    plan.finish()
}

/// The events are not an incident's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stream has no IncidentOpened event; is it an incident?")]
pub struct NotAnIncident;

/// Builds the post-mortem from all events of one incident stream, in stream order, with
/// the timeline folded.
pub fn assemble(
    records: &[Recorded],
    directory: &Directory,
    tz: Tz,
) -> Result<PostMortem, NotAnIncident> {
    assemble_in(records, directory, tz, Detail::Folded)
}

/// `assemble`, with as much of the timeline as `detail` says.
pub fn assemble_in(
    records: &[Recorded],
    directory: &Directory,
    tz: Tz,
    detail: Detail,
) -> Result<PostMortem, NotAnIncident> {
    let number = records
        .iter()
        .find_map(|r| match &r.event {
            Event::IncidentOpened { number, .. } => Some(*number),
            _ => None,
        })
        .ok_or(NotAnIncident)?;
    let mut ordered: Vec<&Recorded> = records.iter().collect();
    ordered.sort_by_key(|r| (r.at, r.position));
    let mut assembly = Assembly::new(number, directory, tz, detail, records.len());
    for r in ordered {
        assembly.see(r);
    }
    assembly.finish()
}

/// A post-mortem being built from an incident's events handed over one at a time, in time
/// order (`at`, then position): what `assemble_in` does over a slice, for a reader that
/// streams a long incident instead of holding all of it. Nothing here borrows an event, so
/// each can be dropped once seen.
pub struct Assembly<'d> {
    number: IncidentNumber,
    tz: Tz,
    /// The contact list, with the names already resolved through it.
    names: Names<'d>,
    opened: Option<Opened>,
    first_at: Option<DateTime<Utc>>,
    last_at: Option<DateTime<Utc>>,
    status: Status,
    people: People,
    timeline: Timeline,
    moments: Moments,
    runs: Runs,
    impact: ImpactNotes,
    resolution: Resolution,
    actions: ActionPlan,
}

/// What the incident's `IncidentOpened` said, and who opened it when.
struct Opened {
    at: DateTime<Utc>,
    actor: String,
    title: String,
    severity: Severity,
}

impl<'d> Assembly<'d> {
    /// `events`: about how many events will be seen, to size the timeline once.
    pub fn new(
        number: IncidentNumber,
        directory: &'d Directory,
        tz: Tz,
        detail: Detail,
        events: usize,
    ) -> Assembly<'d> {
        Assembly {
            number,
            tz,
            names: Names::new(directory),
            opened: None,
            first_at: None,
            last_at: None,
            status: Status::new(),
            people: People::default(),
            timeline: Timeline::new(number, tz, detail, events),
            moments: Moments::new(),
            runs: Runs::default(),
            impact: ImpactNotes::default(),
            resolution: Resolution::default(),
            actions: ActionPlan::default(),
        }
    }

    /// Takes the next event in time order.
    pub fn see(&mut self, r: &Recorded) {
        if let (
            None,
            Event::IncidentOpened {
                title, severity, ..
            },
        ) = (&self.opened, &r.event)
        {
            self.opened = Some(Opened {
                at: r.at,
                actor: r.actor.clone(),
                title: title.clone(),
                severity: *severity,
            });
        }
        self.first_at.get_or_insert(r.at);
        self.last_at = Some(r.at);
        let names = &self.names;
        self.status.see(r);
        // Before the timeline takes the event: an edit of a message the timeline has not
        // seen stands for the message, and its editor takes part.
        self.people.see(r, names, &self.timeline);
        self.timeline.see(r, names);
        self.moments.see(r, names);
        self.runs.see(r, names);
        self.impact.see(r, names);
        self.resolution.see(r, names, &self.runs);
        self.actions.see(r, names);
    }

    /// The document, once every event has been seen; refused when none opened the incident.
    pub fn finish(self) -> Result<PostMortem, NotAnIncident> {
        let Assembly {
            number,
            tz,
            names,
            opened,
            first_at,
            last_at,
            status,
            people,
            timeline,
            mut moments,
            runs,
            impact,
            resolution,
            actions,
        } = self;
        let opened = opened.ok_or(NotAnIncident)?;
        let started_at = first_at.unwrap_or(opened.at);
        let last_at = last_at.unwrap_or(opened.at);
        let duration_minutes = status
            .resolved_at
            .map(|end| (end - started_at).num_minutes().max(0));
        let timeline = timeline.finish(&runs, &names);
        let highlights = timeline
            .iter()
            .filter(|e| e.extras().highlighted)
            .map(|e| e.event_id)
            .collect();
        let key_moments = moments.key_moments(highlights);
        let contributing_factors = moments.factors(&timeline);
        let mut pm = PostMortem {
            id: number_label(number),
            title: opened.title,
            severity: status.severity_or(opened.severity),
            started_at,
            resolved_at: status.resolved_at,
            closed_at: status.closed_at,
            duration_minutes,
            summary: String::new(),
            key_moments,
            stakeholders: people.by_team(names.directory()),
            timeline,
            impact: impact.finish(
                started_at,
                last_at,
                status.resolved_at,
                duration_minutes,
                tz,
            ),
            contributing_factors,
            resolution: resolution.finish(),
            action_plan: actions.finish(),
            runs: runs.finish(),
            view: View {
                tz,
                status: status.state,
                opened_at: opened.at,
                opened_by: opened.actor,
                first_alert: moments.first_alert.take(),
                declared_severity: opened.severity.to_string(),
                mitigated_how: moments.mitigated_how.take(),
                summary_markdown: String::new(),
            },
        };
        pm.summary = summary::write(&pm, &names, &|s| s.to_string());
        pm.view.summary_markdown =
            summary::write(&pm, &names, &|s| text::inert(s, text::Place::Line));
        Ok(pm)
    }
}

fn number_label(number: IncidentNumber) -> String {
    number.to_string()
}

/// One event of incident `number` in the full timeline's words, read alone: for views that
/// show events as they come (the web console's live timeline). `None` for what is shown as
/// said (messages, edits, deletes, marks, notes) or not at all.
pub fn describe_event(
    number: IncidentNumber,
    r: &Recorded,
    directory: &Directory,
    tz: Tz,
) -> Option<TimelineEntry> {
    timeline::alone(r, &Names::new(directory), number, tz)
}

/// The short reference to an event that ends each line of the Markdown: the first 8 hex
/// digits of its id, which `warroom show` finds.
pub fn short_ref(id: &Uuid) -> String {
    let mut hex = id.simple().to_string();
    hex.truncate(8);
    hex
}

/// `HH:MM` in the zone, for the times inside a sentence.
fn hhmm(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%H:%M").to_string()
}

/// The post-mortem as pretty JSON.
pub fn render_json(pm: &PostMortem) -> String {
    let mut json = serde_json::to_string_pretty(pm).expect("a post-mortem always serialises");
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use super::fixture::{directory, madrid_or_utc, outage, say, Log};
    use super::*;

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
            "summary",
            "key_moments",
            "stakeholders",
            "timeline",
            "impact",
            "contributing_factors",
            "resolution",
            "action_plan",
            "runs",
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
            "\"summary\"",
            "\"key_moments\"",
            "\"stakeholders\"",
            "\"timeline\"",
            "\"impact\"",
            "\"contributing_factors\"",
            "\"resolution\"",
            "\"action_plan\"",
            "\"runs\"",
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
    fn a_stream_without_an_open_is_not_an_incident() {
        let mut log = Log(vec![]);
        log.at((9, 0), "svega", say("m1", "svega", "hello"));
        assert!(assemble(&log.0, &directory(), chrono_tz::UTC).is_err());
    }
}
