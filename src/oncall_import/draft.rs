//! The draft an import builds: teams, people (with how to reach them), schedules and
//! escalation policies in warroom's terms under unique names, written out as the TOML and the
//! list of what was made.

use super::layers::NONE;
use super::names::{handle_from, unique_slug};
use super::reach::{Reach, Reached};
use super::weeks::WeekMask;
use super::{ImportSource, Imported};
use crate::domain::event::EscalationStep;
use crate::domain::schedule::ScheduleSpec;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeSet;

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
    /// Their addresses and notification rules, checked.
    pub reach: Reached,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
}

/// One `[[contacts]]` entry on its own, so its rules' comment can follow it.
#[derive(Serialize)]
struct OneContactOut<'a> {
    contacts: [&'a ContactOut<'a>; 1],
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
            reach: Reached::default(),
        });
        handle
    }

    /// Checks and keeps how to reach a person; the lines about what was left out follow
    /// the ones already recorded.
    pub fn reach(&mut self, handle: &str, reach: Reach) {
        let reached = reach.finish(&mut self.unmapped);
        if let Some(p) = self.people.iter_mut().find(|p| p.handle == handle) {
            p.reach = reached;
        }
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
                email: p.reach.email.as_deref(),
                phone: p.reach.phone.as_deref(),
            })
            .collect();
        for (c, p) in contacts.iter().zip(&self.people) {
            let reached = match &p.reach.summary {
                Some(s) => format!("; {s}"),
                None => String::new(),
            };
            made.push(format!(
                "contact '@{}': {}, team {}{reached}",
                c.handle, c.name, c.team
            ));
        }
        if self.people.iter().any(|p| !p.reach.rules.is_empty()) {
            self.unmapped.push(
                "notification rules are written as comments (`# notify = …` under each contact): warroom check refuses a rule until [notifications] configures its provider ([notifications.email] for email, [notifications.twilio] for sms and voice); uncomment them then, as docs/notifications.md shows".to_string(),
            );
        }
        for s in &self.schedules {
            let people: BTreeSet<&str> = s
                .layers
                .iter()
                .flat_map(|l| &l.people)
                .map(String::as_str)
                .filter(|p| *p != NONE)
                .collect();
            let calendars = s.layers.iter().filter(|l| l.ical.is_some()).count();
            let mut who = Vec::new();
            if !people.is_empty() || calendars == 0 {
                who.push(format!(
                    "{} {}",
                    people.len(),
                    plural(people.len(), "person", "people")
                ));
            }
            match calendars {
                0 => {}
                1 => who.push("its calendar".to_string()),
                n => who.push(format!("its {n} calendars")),
            }
            made.push(format!(
                "schedule '{}': {} {}, {}",
                s.name,
                s.layers.len(),
                plural(s.layers.len(), "layer", "layers"),
                who.join(" and ")
            ));
        }
        if self
            .schedules
            .iter()
            .any(|s| s.layers.iter().any(|l| l.ical.is_some()))
        {
            self.unmapped.push(
                "calendar layers (ical = URL) follow the tool's calendars as warroom serve fetches them; each event must name a contact by handle, alias, name or email, and the URL is a secret (keep warroom.toml private)".to_string(),
            );
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
        // Serializing plain strings, numbers and lists of them cannot fail. The contacts are
        // written one by one, each followed by its rules' comment; repeated `[[contacts]]`
        // tables add up to the one array, so the file reads the same as one written whole.
        let mut parts = Vec::new();
        let head = FileOut {
            teams,
            contacts: Vec::new(),
            schedules: &[],
            escalations: &[],
        };
        parts.push(toml::to_string(&head).unwrap_or_default());
        for (c, p) in contacts.iter().zip(&self.people) {
            let mut entry = toml::to_string(&OneContactOut { contacts: [c] }).unwrap_or_default();
            if let Some(comment) = p.reach.comment() {
                entry.push_str(&comment);
                entry.push('\n');
            }
            parts.push(entry);
        }
        let tail = FileOut {
            teams: Vec::new(),
            contacts: Vec::new(),
            schedules: &self.schedules,
            escalations: &self.escalations,
        };
        parts.push(toml::to_string(&tail).unwrap_or_default());
        let body = parts
            .iter()
            .map(|p| p.trim_end_matches('\n'))
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n")
            + "\n";
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

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}
