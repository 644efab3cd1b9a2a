//! `warroom import-oncall`: another on-call tool's API export, turned into warroom TOML for a
//! person to review, with a list of what was made and of what could not be carried over.
//!
//! Each source reads its tool's export (one JSON file of REST API responses; the shapes are in
//! the source modules and in `docs/import-oncall.md`) into a [`Draft`]: teams, contacts,
//! schedules and escalation policies in warroom's own terms. The draft writes the TOML through
//! the `toml` crate, so names from the export are escaped as TOML requires, and every key it
//! writes is one warroom's configuration check reads.
//!
//! What one tool says and warroom cannot is never guessed at silently: it goes to
//! [`Imported::unmapped`], one line each, naming the thing and the reason.

mod grafana_oncall;
mod opsgenie;
mod pagerduty;

use crate::domain::event::EscalationStep;
use crate::domain::schedule::turns::Turn;
use crate::domain::schedule::{LayerSpec, ScheduleSpec, WindowSpec};
use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// The tool an export comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportSource {
    Opsgenie,
    GrafanaOncall,
    PagerDuty,
}

impl std::str::FromStr for ImportSource {
    type Err = String;

    fn from_str(s: &str) -> Result<ImportSource, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "opsgenie" => Ok(ImportSource::Opsgenie),
            "grafana-oncall" => Ok(ImportSource::GrafanaOncall),
            "pagerduty" => Ok(ImportSource::PagerDuty),
            _ => Err(format!(
                "'{s}' is not a tool warroom imports from; use opsgenie, grafana-oncall or pagerduty"
            )),
        }
    }
}

impl fmt::Display for ImportSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImportSource::Opsgenie => "Opsgenie",
            ImportSource::GrafanaOncall => "Grafana OnCall",
            ImportSource::PagerDuty => "PagerDuty",
        })
    }
}

/// The result of an import: the configuration and what a reviewer needs to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// warroom TOML for review: `[[teams]]`, `[[contacts]]`, `[[schedules]]` (with
    /// `[[schedules.layers]]`) and `[[escalations]]`.
    pub toml: String,
    /// One line per thing made.
    pub made: Vec<String>,
    /// One line per thing that could not be carried over, saying what and why.
    pub unmapped: Vec<String>,
}

/// Why an export could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the {tool} export is not JSON: {detail}; export the API responses as docs/import-oncall.md shows")]
    NotJson { tool: ImportSource, detail: String },
    #[error("the {tool} export is not of the expected shape at {path}: {problem}; docs/import-oncall.md shows the shape and the curl commands that make it")]
    Shape {
        tool: ImportSource,
        path: String,
        problem: String,
    },
}

/// Reads an export into `T`, naming the key path of the first thing that does not fit.
pub(crate) fn read_export<T: DeserializeOwned>(
    tool: ImportSource,
    export: &str,
) -> Result<T, ImportError> {
    // A file that is not JSON at all is told apart from JSON of the wrong shape, since the
    // fixes differ (the export command versus one key).
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(export) {
        return Err(ImportError::NotJson {
            tool,
            detail: e.to_string(),
        });
    }
    let mut reader = serde_json::Deserializer::from_str(export);
    serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let path = match e.path().to_string() {
            p if p == "." => "the top level".to_string(),
            p => p,
        };
        let mut problem = e.into_inner().to_string();
        if problem.contains("expected a sequence") {
            // The usual slip: the whole API response where only its list belongs.
            problem.push_str(" (put the response's list here, not the whole response)");
        }
        shape(tool, &path, problem)
    })
}

/// A value in the export that has the right JSON type but cannot be read.
pub(crate) fn shape(tool: ImportSource, path: &str, problem: impl Into<String>) -> ImportError {
    ImportError::Shape {
        tool,
        path: path.to_string(),
        problem: problem.into(),
    }
}

/// Converts `export` (the API responses of `source`) into warroom TOML.
pub fn import(source: ImportSource, export: &str) -> Result<Imported, ImportError> {
    import_at(source, export, Utc::now())
}

/// [`import`] as of `now`: layers that ended before it are history and left out, and those
/// that start or end after it are flagged, since warroom layers have no start or end.
pub fn import_at(
    source: ImportSource,
    export: &str,
    now: DateTime<Utc>,
) -> Result<Imported, ImportError> {
    let draft = match source {
        ImportSource::Opsgenie => opsgenie::read(export, now)?,
        ImportSource::GrafanaOncall => grafana_oncall::read(export, now)?,
        ImportSource::PagerDuty => pagerduty::read(export, now)?,
    };
    Ok(draft.finish())
}

/// The team of contacts whose team the export does not tell.
pub(crate) const FALLBACK_TEAM: &str = "Imported";

/// A person as imported.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub handle: String,
    pub name: String,
    /// The team the tool puts them in.
    pub team: Option<String>,
    /// The team of the first schedule they are on, for a person without a team of their own.
    pub schedule_team: Option<String>,
}

/// An escalation policy as written to `[[escalations]]`.
#[derive(Debug, Clone, Serialize)]
struct EscalationOut {
    name: String,
    repeat: u32,
    fallback: Vec<String>,
    steps: Vec<EscalationStep>,
}

#[derive(Serialize)]
struct TeamOut<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct ContactOut<'a> {
    handle: &'a str,
    name: &'a str,
    team: &'a str,
}

#[derive(Serialize)]
struct FileOut<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    teams: Vec<TeamOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    contacts: Vec<ContactOut<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    schedules: &'a [ScheduleSpec],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    escalations: &'a [EscalationOut],
}

/// What an import makes, in warroom's terms, before it is written.
#[derive(Debug)]
pub(crate) struct Draft {
    tool: ImportSource,
    /// Team names in the order the export gives them.
    teams: Vec<String>,
    /// Teams an escalation step pages, which must be written even without members.
    paged_teams: BTreeSet<String>,
    pub people: Vec<Person>,
    schedules: Vec<ScheduleSpec>,
    escalations: Vec<EscalationOut>,
    /// Every handle and team name, lowercase: warroom looks both up in one namespace.
    taken_names: BTreeSet<String>,
    taken_schedules: BTreeSet<String>,
    taken_escalations: BTreeSet<String>,
    pub unmapped: Vec<String>,
}

impl Draft {
    pub fn new(tool: ImportSource) -> Draft {
        Draft {
            tool,
            teams: Vec::new(),
            paged_teams: BTreeSet::new(),
            people: Vec::new(),
            schedules: Vec::new(),
            escalations: Vec::new(),
            taken_names: BTreeSet::new(),
            taken_schedules: BTreeSet::new(),
            taken_escalations: BTreeSet::new(),
            unmapped: Vec::new(),
        }
    }

    /// Records a line for the reviewer about something not carried over.
    pub fn unmapped(&mut self, line: impl Into<String>) {
        self.unmapped.push(line.into());
    }

    /// Declares a team (before any person, so handles keep clear of team names); returns the
    /// name it gets.
    pub fn team(&mut self, name: &str) -> String {
        let name = name.trim();
        if let Some(known) = self.teams.iter().find(|t| t.as_str() == name) {
            return known.clone();
        }
        let base = if name.is_empty() { "team" } else { name };
        let mut chosen = base.to_string();
        let mut n = 2;
        while self.taken_names.contains(&chosen.to_lowercase()) {
            chosen = format!("{base} {n}");
            n += 1;
        }
        self.taken_names.insert(chosen.to_lowercase());
        self.teams.push(chosen.clone());
        chosen
    }

    /// The page target of a declared team, which is then written even without members.
    pub fn team_target(&mut self, team: &str) -> String {
        self.paged_teams.insert(team.to_string());
        format!("!{team}")
    }

    /// Adds a person; `wanted` is what the handle is made from (a username or an email's
    /// local part). Returns the handle, unique among handles and team names.
    pub fn person(&mut self, wanted: &str, name: &str, team: Option<String>) -> String {
        let base = handle_from(wanted);
        let mut handle = base.clone();
        let mut n = 2;
        while self.taken_names.contains(&handle) {
            handle = format!("{base}{n}");
            n += 1;
        }
        self.taken_names.insert(handle.clone());
        let name = if name.trim().is_empty() {
            handle.clone()
        } else {
            name.trim().to_string()
        };
        self.people.push(Person {
            handle: handle.clone(),
            name,
            team,
            schedule_team: None,
        });
        handle
    }

    /// Notes that `handle` is on a schedule of `team`, the team they get when the export
    /// gives them none.
    pub fn on_schedule_of(&mut self, handle: &str, team: &str) {
        if let Some(p) = self.people.iter_mut().find(|p| p.handle == handle) {
            p.schedule_team.get_or_insert_with(|| team.to_string());
        }
    }

    /// A schedule name made from the tool's: letters, digits, `-`, `_`, `.`, unique.
    pub fn schedule_name(&mut self, wanted: &str) -> String {
        unique_slug(wanted, "schedule", &mut self.taken_schedules)
    }

    /// An escalation policy name made from the tool's, unique.
    pub fn escalation_name(&mut self, wanted: &str) -> String {
        unique_slug(wanted, "escalation", &mut self.taken_escalations)
    }

    pub fn add_schedule(&mut self, schedule: ScheduleSpec) {
        self.schedules.push(schedule);
    }

    /// Adds a policy whose steps are checked for warroom's bounds; one left with no step is
    /// not written (and said so).
    /// A step with no target (everything it paged was left out, or a wait before anyone is
    /// paged) is dropped and its wait added to the step before it, so the later steps keep
    /// their times.
    pub fn add_escalation(&mut self, name: String, given: Vec<EscalationStep>, repeat: u64) {
        let mut steps: Vec<EscalationStep> = Vec::new();
        let mut leading = 0;
        for s in given {
            if !s.targets.is_empty() {
                steps.push(s);
            } else if let Some(last) = steps.last_mut() {
                last.wait_minutes = last.wait_minutes.saturating_add(s.wait_minutes);
            } else {
                leading += s.wait_minutes;
            }
        }
        if leading > 0 && !steps.is_empty() {
            self.unmapped.push(format!(
                "escalation '{name}': nobody is paged in its first {leading} minutes, and warroom's first step pages at once"
            ));
        }
        for s in &mut steps {
            if s.wait_minutes > MAX_WAIT_MINUTES {
                self.unmapped.push(format!(
                    "escalation '{name}': a wait of {} minutes is longer than warroom's {MAX_WAIT_MINUTES}; shortened",
                    s.wait_minutes
                ));
                s.wait_minutes = MAX_WAIT_MINUTES;
            }
        }
        if steps.is_empty() {
            self.unmapped.push(format!(
                "escalation '{name}': nothing in it pages anyone warroom knows; not written"
            ));
            return;
        }
        let repeat = if repeat > MAX_REPEAT {
            self.unmapped.push(format!(
                "escalation '{name}': repeats {repeat} times; warroom repeats at most {MAX_REPEAT}"
            ));
            MAX_REPEAT as u32
        } else {
            repeat as u32
        };
        self.escalations.push(EscalationOut {
            name,
            repeat,
            fallback: Vec::new(),
            steps,
        });
    }

    /// Whether a layer running from `start` to `end` (as the tool says) still matters at
    /// `now`; a note for what warroom cannot say about it. `what` names the layer.
    pub fn keep_layer(
        &mut self,
        what: &str,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> bool {
        if let Some(end) = end {
            if end <= now {
                self.unmapped.push(format!(
                    "{what}: ended {}; past layers are history, not imported",
                    end.format("%Y-%m-%d %H:%M UTC")
                ));
                return false;
            }
            self.unmapped.push(format!(
                "{what}: ends {}, and warroom layers do not end; remove it from the schedule then",
                end.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        if let Some(start) = start.filter(|s| *s > now) {
            self.unmapped.push(format!(
                "{what}: starts {}, and warroom layers have no start date, so it applies at once; add it then instead",
                start.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        true
    }

    /// Notes the layers of a schedule that are active at the same time, where `tool` puts
    /// everyone of them on call and warroom only the later layer's person.
    pub fn note_overlaps(&mut self, schedule: &str, layers: &[(String, WeekMask)], why: &str) {
        for (i, (later, a)) in layers.iter().enumerate() {
            for (earlier, b) in &layers[..i] {
                if a.overlaps(b) {
                    self.unmapped.push(format!(
                        "schedule '{schedule}': '{earlier}' and '{later}' are active at the same times; {why}, but in warroom the later layer ('{later}') alone is on call there"
                    ));
                }
            }
        }
    }

    /// Writes the configuration and the list of what was made.
    pub fn finish(mut self) -> Imported {
        let mut made = Vec::new();
        // Everyone needs a team: their own, else their first schedule's, else one shared.
        let mut fallback: Option<String> = None;
        for i in 0..self.people.len() {
            if self.people[i].team.is_none() {
                let team = match self.people[i].schedule_team.clone() {
                    Some(t) => t,
                    None => fallback
                        .get_or_insert_with(|| {
                            let t = FALLBACK_TEAM.to_string();
                            if self.teams.contains(&t) {
                                t
                            } else {
                                self.team(&t)
                            }
                        })
                        .clone(),
                };
                self.people[i].team = Some(team);
            }
        }
        let used: BTreeSet<&str> = self
            .people
            .iter()
            .filter_map(|p| p.team.as_deref())
            .chain(self.paged_teams.iter().map(String::as_str))
            .collect();
        let teams: Vec<TeamOut> = self
            .teams
            .iter()
            .filter(|t| used.contains(t.as_str()))
            .map(|t| TeamOut { name: t })
            .collect();
        for t in &teams {
            let members = self
                .people
                .iter()
                .filter(|p| p.team.as_deref() == Some(t.name))
                .count();
            made.push(format!(
                "team '{}': {members} {}",
                t.name,
                plural(members, "person", "people")
            ));
        }
        let contacts: Vec<ContactOut> = self
            .people
            .iter()
            .map(|p| ContactOut {
                handle: &p.handle,
                name: &p.name,
                team: p.team.as_deref().unwrap_or(FALLBACK_TEAM),
            })
            .collect();
        for c in &contacts {
            made.push(format!(
                "contact '@{}': {}, team {}",
                c.handle, c.name, c.team
            ));
        }
        for s in &self.schedules {
            let people: BTreeSet<&str> = s
                .layers
                .iter()
                .flat_map(|l| &l.people)
                .map(String::as_str)
                .filter(|p| *p != NONE)
                .collect();
            made.push(format!(
                "schedule '{}': {} {}, {} {}",
                s.name,
                s.layers.len(),
                plural(s.layers.len(), "layer", "layers"),
                people.len(),
                plural(people.len(), "person", "people")
            ));
        }
        for e in &self.escalations {
            made.push(format!(
                "escalation '{}': {} {}, repeat {}",
                e.name,
                e.steps.len(),
                plural(e.steps.len(), "step", "steps"),
                e.repeat
            ));
        }
        let file = FileOut {
            teams,
            contacts,
            schedules: &self.schedules,
            escalations: &self.escalations,
        };
        // Serializing plain strings, numbers and lists of them cannot fail.
        let body = toml::to_string(&file).unwrap_or_default();
        let mut toml = format!(
            "# Imported from {} by `warroom import-oncall`. Review it, then run `warroom check --config FILE`.\n",
            self.tool
        );
        if !self.unmapped.is_empty() {
            toml.push_str("# Not imported (each line says why):\n");
            for line in &self.unmapped {
                toml.push_str("#   - ");
                toml.push_str(&line.replace(['\n', '\r'], " "));
                toml.push('\n');
            }
        }
        toml.push('\n');
        toml.push_str(&body);
        Imported {
            toml,
            made,
            unmapped: self.unmapped,
        }
    }
}

/// warroom's bounds on a step's wait and a policy's repeats.
const MAX_WAIT_MINUTES: u32 = 10_080;
const MAX_REPEAT: u64 = 100;

/// A layer's empty slot.
pub(crate) const NONE: &str = "none";

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// A chat handle from a username or an email: the local part, lowercase, letters, digits,
/// `.`, `_` and `-` only, starting with a letter (a mention needs one).
pub(crate) fn handle_from(wanted: &str) -> String {
    let local = wanted.split('@').next().unwrap_or_default();
    let mut handle: String = local
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    handle = handle
        .trim_matches(|c| matches!(c, '.' | '_' | '-'))
        .to_string();
    if !handle.starts_with(|c: char| c.is_ascii_alphabetic()) {
        handle.insert(0, 'u');
    }
    handle
}

/// A name of letters, digits, `-`, `_` and `.`, lowercase, unique in `taken`.
fn unique_slug(wanted: &str, default: &str, taken: &mut BTreeSet<String>) -> String {
    let mut slug = String::new();
    for c in wanted.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    let base = if slug.is_empty() { default } else { slug };
    let mut chosen = base.to_string();
    let mut n = 2;
    while taken.contains(&chosen) {
        chosen = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(chosen.clone());
    chosen
}

/// Reads an IANA zone name from the export.
pub(crate) fn read_zone(tool: ImportSource, path: &str, name: &str) -> Result<Tz, ImportError> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| shape(tool, path, format!("'{name}' is not an IANA time zone")))
}

/// Reads an RFC 3339 instant (`2026-03-02T09:00:00+01:00`, `…Z`) from the export.
pub(crate) fn read_instant(
    tool: ImportSource,
    path: &str,
    text: &str,
) -> Result<DateTime<Utc>, ImportError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            shape(
                tool,
                path,
                format!(
                    "'{text}' is not a date and time with its offset, e.g. 2026-03-02T09:00:00Z"
                ),
            )
        })
}

/// A layer's anchor: the wall-clock time of `t` in `zone`, to the minute.
pub(crate) fn local_anchor(t: DateTime<Utc>, zone: Tz) -> NaiveDateTime {
    let local = t.with_timezone(&zone).naive_local();
    local
        .with_second(0)
        .and_then(|l| l.with_nanosecond(0))
        .unwrap_or(local)
}

pub(crate) fn anchor_text(local: NaiveDateTime) -> String {
    local.format("%Y-%m-%dT%H:%M").to_string()
}

/// A turn of `seconds` in the largest unit that divides it exactly (weeks, days, hours), if
/// warroom can count it.
pub(crate) fn turn_from_seconds(seconds: u64) -> Result<String, String> {
    let text = if seconds > 0 && seconds % (7 * 86_400) == 0 {
        format!("{}w", seconds / (7 * 86_400))
    } else if seconds > 0 && seconds % 86_400 == 0 {
        format!("{}d", seconds / 86_400)
    } else if seconds > 0 && seconds % 3_600 == 0 {
        format!("{}h", seconds / 3_600)
    } else {
        return Err(format!(
            "a turn of {seconds} seconds is not a whole number of hours, and warroom counts turns in hours, days, weeks or months"
        ));
    };
    checked_turn(&text)
}

/// A turn length warroom accepts, or why not.
pub(crate) fn checked_turn(text: &str) -> Result<String, String> {
    Turn::parse(text).map(|t| t.to_string())
}

/// Minutes in a week, Monday 00:00 first.
pub(crate) const WEEK_MINUTES: u32 = 7 * 1440;

/// When in the week a layer is active, minute by minute on its zone's wall clock: the tools'
/// restrictions, which may span days, are laid on it, and it is read back as warroom's
/// day-and-time windows.
#[derive(Debug, Clone)]
pub(crate) struct WeekMask {
    on: Vec<bool>,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl WeekMask {
    pub fn new() -> WeekMask {
        WeekMask {
            on: vec![false; WEEK_MINUTES as usize],
        }
    }

    /// Marks `minutes` from `start` minutes after Monday 00:00, wrapping the week.
    pub fn add(&mut self, start: u32, minutes: u32) {
        for i in 0..minutes.min(WEEK_MINUTES) {
            self.on[((start + i) % WEEK_MINUTES) as usize] = true;
        }
    }

    /// Every minute of the week: a layer without restrictions.
    pub fn full() -> WeekMask {
        WeekMask {
            on: vec![true; WEEK_MINUTES as usize],
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.on.iter().any(|&m| m)
    }

    /// Whether both masks are active at some minute of the week.
    pub fn overlaps(&self, other: &WeekMask) -> bool {
        self.on.iter().zip(&other.on).any(|(a, b)| *a && *b)
    }

    /// warroom's windows for this mask; none when it covers the whole week.
    pub fn windows(&self) -> Vec<WindowSpec> {
        let Some(off) = self.on.iter().position(|&m| !m) else {
            return Vec::new();
        };
        // Each run of active minutes, as (day, from, to) pieces: a run of at most a day is
        // one window (crossing midnight when it must), a longer one is cut at midnights.
        let mut pieces: Vec<(usize, u32, u32)> = Vec::new();
        let mut i = 0;
        while i < WEEK_MINUTES {
            let at = |k: u32| self.on[((off as u32 + k) % WEEK_MINUTES) as usize];
            if !at(i) {
                i += 1;
                continue;
            }
            let start = i;
            while i < WEEK_MINUTES && at(i) {
                i += 1;
            }
            let begin = (off as u32 + start) % WEEK_MINUTES;
            split_run(begin, i - start, &mut pieces);
        }
        // Days that share their times become one window.
        let mut grouped: Vec<((u32, u32), BTreeSet<usize>)> = Vec::new();
        pieces.sort_by_key(|&(day, from, _)| (day, from));
        for (day, from, to) in pieces {
            match grouped.iter_mut().find(|(times, _)| *times == (from, to)) {
                Some((_, days)) => {
                    days.insert(day);
                }
                None => grouped.push(((from, to), BTreeSet::from([day]))),
            }
        }
        grouped
            .into_iter()
            .map(|((from, to), days)| WindowSpec {
                days: day_ranges(&days),
                from: Some(clock(from)),
                to: Some(clock(to)),
            })
            .collect()
    }
}

/// Cuts a run of `len` active minutes from minute-of-week `begin` into windows.
fn split_run(begin: u32, len: u32, pieces: &mut Vec<(usize, u32, u32)>) {
    let (mut day, mut t0, mut left) = ((begin / 1440) as usize, begin % 1440, len);
    while left > 0 {
        if t0 > 0 && left <= 1440 {
            // `to` at or before `from` runs into the next day, which warroom reads.
            let end = t0 + left;
            pieces.push((day % 7, t0, if end == 1440 { 1440 } else { end % 1440 }));
            return;
        }
        let today = (1440 - t0).min(left);
        pieces.push((day % 7, t0, t0 + today));
        left -= today;
        t0 = 0;
        day += 1;
    }
}

/// `HH:MM`, with `24:00` for the end of a day.
fn clock(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `mon-fri`, `sat`, …; nothing for every day.
fn day_ranges(days: &BTreeSet<usize>) -> Vec<String> {
    if days.len() == 7 {
        return Vec::new();
    }
    let mut ranges = Vec::new();
    let list: Vec<usize> = days.iter().copied().collect();
    let mut i = 0;
    while i < list.len() {
        let mut j = i;
        while j + 1 < list.len() && list[j + 1] == list[j] + 1 {
            j += 1;
        }
        ranges.push(if i == j {
            DAY_NAMES[list[i]].to_string()
        } else {
            format!("{}-{}", DAY_NAMES[list[i]], DAY_NAMES[list[j]])
        });
        i = j + 1;
    }
    ranges
}

/// Monday = 0 from a day name the tools use (`monday`, `MO`, ISO number as text is not).
pub(crate) fn weekday_index(name: &str) -> Option<u32> {
    let n = name.trim().to_ascii_lowercase();
    let i = match n.as_str() {
        "monday" | "mo" | "mon" => 0,
        "tuesday" | "tu" | "tue" => 1,
        "wednesday" | "we" | "wed" => 2,
        "thursday" | "th" | "thu" => 3,
        "friday" | "fr" | "fri" => 4,
        "saturday" | "sa" | "sat" => 5,
        "sunday" | "su" | "sun" => 6,
        _ => return None,
    };
    Some(i)
}

/// A layer with warroom's defaults filled in.
pub(crate) fn layer(
    name: &str,
    people: Vec<String>,
    turn: String,
    anchor: NaiveDateTime,
    timezone: Option<String>,
    restrict: Vec<WindowSpec>,
    hold: bool,
) -> LayerSpec {
    LayerSpec {
        name: Some(name.trim().to_string()).filter(|n| !n.is_empty()),
        people,
        turn,
        anchor: anchor_text(anchor),
        handoff: None,
        timezone,
        restrict,
        masked_turns: hold.then(|| "hold".to_string()),
    }
}

#[cfg(test)]
mod tests;
