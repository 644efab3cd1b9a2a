//! The release aggregate: `decide` holds the rules, `apply` cannot fail, `fold` rebuilds a release from its stream.

use super::capacity::*;
use super::values::*;
use crate::domain::event::{Event, Recorded};
use crate::domain::types::UnknownWord;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The release aggregate
// ---------------------------------------------------------------------------------------------

/// A change that went into the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub ticket: Option<String>,
    pub text: String,
    pub author: String,
    pub event_id: Uuid,
}

/// A person named as a stakeholder, under the team given (or their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StakeholderNote {
    pub team: Option<String>,
    pub person: String,
    pub event_id: Uuid,
}

/// A design decision, test highlight or deployment note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub text: String,
    /// The supporting document (`Design Doc 5247`), for decisions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    pub author: String,
    pub event_id: Uuid,
}

/// A component's capacity plan, with the event it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedComponent {
    #[serde(flatten)]
    pub plan: CapacityPlan,
    pub event_id: Uuid,
}

/// A release as its events leave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub version: Version,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub changes: Vec<Change>,
    pub stakeholders: Vec<StakeholderNote>,
    pub decisions: Vec<Note>,
    pub tests: Vec<Note>,
    pub notes: Vec<Note>,
    /// One plan per component, in the order first planned; a later plan replaces it.
    pub capacity: Vec<PlannedComponent>,
    pub published_at: Option<DateTime<Utc>>,
    /// Events applied: the stream version to expect on the next append.
    pub version_count: i64,
}

/// An order for a release.
#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseCommand {
    Open,
    AddChange {
        kind: ChangeKind,
        ticket: Option<String>,
        text: String,
    },
    AddStakeholder {
        team: Option<String>,
        person: String,
    },
    NoteDecision {
        text: String,
        doc: Option<String>,
    },
    NoteTest {
        text: String,
    },
    AddNote {
        text: String,
    },
    PlanCapacity(CapacityInputs),
    Publish,
}

fn non_empty(field: &'static str, value: &str) -> Result<String, ReleaseError> {
    let value = value.trim();
    if value.is_empty() {
        Err(ReleaseError::Empty(field))
    } else {
        Ok(value.to_string())
    }
}

/// Decides what an order does to the release in `state` (`None`: not opened yet).
pub fn decide(
    state: Option<&Release>,
    version: &Version,
    command: ReleaseCommand,
) -> Result<Vec<Event>, ReleaseError> {
    let release = match (state, &command) {
        (None, ReleaseCommand::Open) => {
            return Ok(vec![Event::ReleaseOpened {
                version: version.clone(),
            }])
        }
        (Some(r), ReleaseCommand::Open) if r.published_at.is_some() => {
            return Err(ReleaseError::AlreadyPublished(version.clone()))
        }
        (Some(_), ReleaseCommand::Open) => return Err(ReleaseError::AlreadyOpen(version.clone())),
        (None, _) => return Err(ReleaseError::NotFound(version.clone())),
        (Some(r), _) if r.published_at.is_some() => {
            return Err(ReleaseError::AlreadyPublished(version.clone()))
        }
        (Some(r), _) => r,
    };
    let event = match command {
        ReleaseCommand::Open => unreachable!("handled above"),
        ReleaseCommand::AddChange { kind, ticket, text } => Event::ReleaseChangeAdded {
            kind,
            ticket: ticket.map(|t| self::ticket(&t)).transpose()?,
            text: non_empty("text", &text)?,
        },
        ReleaseCommand::AddStakeholder { team, person } => {
            let person = non_empty("user", &person)?;
            let team = team.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
            let same = |a: &str, b: &str| {
                a.trim_start_matches('@')
                    .eq_ignore_ascii_case(b.trim_start_matches('@'))
            };
            if release
                .stakeholders
                .iter()
                .any(|s| same(&s.person, &person) && s.team == team)
            {
                return Err(ReleaseError::DuplicateStakeholder {
                    person,
                    version: version.clone(),
                });
            }
            Event::ReleaseStakeholderAdded { team, person }
        }
        ReleaseCommand::NoteDecision { text, doc } => Event::ReleaseDecisionNoted {
            text: non_empty("text", &text)?,
            doc: doc.map(|d| d.trim().to_string()).filter(|d| !d.is_empty()),
        },
        ReleaseCommand::NoteTest { text } => Event::ReleaseTestNoted {
            text: non_empty("text", &text)?,
        },
        ReleaseCommand::AddNote { text } => Event::ReleaseNoteAdded {
            text: non_empty("text", &text)?,
        },
        ReleaseCommand::PlanCapacity(inputs) => {
            Event::ReleaseCapacityPlanned(CapacityPlan::compute(inputs)?)
        }
        ReleaseCommand::Publish => {
            if release.changes.is_empty() {
                return Err(ReleaseError::NothingToPublish(version.clone()));
            }
            Event::ReleasePublished {}
        }
    };
    Ok(vec![event])
}

/// Folds one recorded event into the release. Events of other kinds leave it as it is.
pub fn apply(state: Option<Release>, recorded: &Recorded) -> Option<Release> {
    let mut release = match (state, &recorded.event) {
        (None, Event::ReleaseOpened { version }) => {
            return Some(Release {
                version: version.clone(),
                opened_at: recorded.at,
                opened_by: recorded.actor.clone(),
                changes: Vec::new(),
                stakeholders: Vec::new(),
                decisions: Vec::new(),
                tests: Vec::new(),
                notes: Vec::new(),
                capacity: Vec::new(),
                published_at: None,
                version_count: 1,
            })
        }
        (None, _) => return None,
        (Some(release), _) => release,
    };
    release.version_count += 1;
    let note = |text: &str, doc: Option<&String>| Note {
        text: text.to_string(),
        doc: doc.cloned(),
        author: recorded.actor.clone(),
        event_id: recorded.event_id,
    };
    match &recorded.event {
        Event::ReleaseChangeAdded { kind, ticket, text } => release.changes.push(Change {
            kind: *kind,
            ticket: ticket.clone(),
            text: text.clone(),
            author: recorded.actor.clone(),
            event_id: recorded.event_id,
        }),
        Event::ReleaseStakeholderAdded { team, person } => {
            release.stakeholders.push(StakeholderNote {
                team: team.clone(),
                person: person.clone(),
                event_id: recorded.event_id,
            })
        }
        Event::ReleaseDecisionNoted { text, doc } => {
            release.decisions.push(note(text, doc.as_ref()))
        }
        Event::ReleaseTestNoted { text } => release.tests.push(note(text, None)),
        Event::ReleaseNoteAdded { text } => release.notes.push(note(text, None)),
        Event::ReleaseCapacityPlanned(plan) => {
            let planned = PlannedComponent {
                plan: plan.clone(),
                event_id: recorded.event_id,
            };
            match release
                .capacity
                .iter_mut()
                .find(|c| c.plan.name == plan.name)
            {
                Some(existing) => *existing = planned,
                None => release.capacity.push(planned),
            }
        }
        Event::ReleasePublished {} => release.published_at = Some(recorded.at),
        _ => {}
    }
    Some(release)
}

/// The release a stream's events describe, if it was opened.
pub fn fold(records: &[Recorded]) -> Option<Release> {
    records.iter().fold(None, apply)
}

/// `1 replica`, `6 replicas`.
pub(super) fn replicas(n: u32) -> String {
    if n == 1 {
        "1 replica".to_string()
    } else {
        format!("{n} replicas")
    }
}

/// The reply to an order that was carried out.
pub fn describe(version: &Version, events: &[Event]) -> String {
    events
        .iter()
        .map(|e| match e {
            Event::ReleaseOpened { .. } => format!(
                "Release {version} opened. Add changes with /release change, then /release publish."
            ),
            Event::ReleaseChangeAdded { kind, ticket, .. } => format!(
                "{} change{} added to release {version}.",
                kind.heading().trim_end_matches('s'),
                ticket.as_ref().map(|t| format!(" ({t})")).unwrap_or_default()
            ),
            Event::ReleaseStakeholderAdded { person, .. } => {
                format!("{person} is a stakeholder of release {version}.")
            }
            Event::ReleaseDecisionNoted { .. } => {
                format!("Design decision noted for release {version}.")
            }
            Event::ReleaseTestNoted { .. } => format!("Test note added to release {version}."),
            Event::ReleaseNoteAdded { .. } => {
                format!("Deployment note added to release {version}.")
            }
            Event::ReleaseCapacityPlanned(plan) => format!(
                "Capacity of {} for release {version}: {}, {}Mi memory, {}m CPU.\n{}",
                plan.name,
                replicas(plan.replicas),
                plan.memory_mi,
                plan.cpu_m,
                plan.steps.join("\n")
            ),
            Event::ReleasePublished {} => format!(
                "Release {version} published. `warroom as-built` prints its as-built document, `warroom as-built --release {version} --deployment` its Deployment."
            ),
            other => format!("{} recorded for release {version}.", other.event_type()),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads the options of `/release WORD` (already checked against the command table) into
/// the release named (if any) and the order. The error is the problem, without the usage line.
pub fn interpret(
    word: &str,
    options: &BTreeMap<String, String>,
) -> Result<(Option<Version>, ReleaseCommand), String> {
    let get = |name: &str| {
        options
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let text = || get("text").unwrap_or_default();
    let version = get("version")
        .map(|v| v.parse::<Version>())
        .transpose()
        .map_err(|e| e.to_string())?;
    let number = |name: &str, example: &str| -> Result<Option<u64>, String> {
        get(name)
            .map(|v| {
                v.replace([',', '_'], "").parse::<u64>().map_err(|_| {
                    format!("{name}:{v} is not a whole number; write e.g. {name}:{example}")
                })
            })
            .transpose()
    };
    let decimal = |name: &str, default: Decimal, example: &str| -> Result<Decimal, String> {
        get(name).map_or(Ok(default), |v| {
            v.parse::<Decimal>().map_err(|()| {
                format!("{name}:{v} is not a number with at most two decimals; write e.g. {name}:{example}")
            })
        })
    };
    let order = match word {
        "open" => ReleaseCommand::Open,
        "change" => ReleaseCommand::AddChange {
            kind: get("kind")
                .unwrap_or_default()
                .parse()
                .map_err(|e: UnknownWord| e.to_string())?,
            ticket: get("ticket"),
            text: text(),
        },
        "stakeholder" => ReleaseCommand::AddStakeholder {
            team: get("team").map(|t| t.trim_start_matches('!').to_string()),
            person: get("user").unwrap_or_default(),
        },
        "decision" => ReleaseCommand::NoteDecision {
            text: text(),
            doc: get("doc"),
        },
        "test" => ReleaseCommand::NoteTest { text: text() },
        "note" => ReleaseCommand::AddNote { text: text() },
        "capacity" => ReleaseCommand::PlanCapacity(CapacityInputs {
            service: get("service").unwrap_or_default(),
            image: get("image").unwrap_or_default(),
            concurrent_users: number("users", "2600")?,
            users_per_replica: number("per_replica", "500")?,
            current_replicas: number("replicas", "3")?
                .map(|r| u32::try_from(r).map_err(|_| format!("replicas:{r} is too many")))
                .transpose()?,
            memory_request_mi: parse_memory_mi(&get("memory").unwrap_or_default())
                .map_err(|e| e.to_string())?,
            memory_utilisation: decimal("utilisation", Decimal::ZERO, "85")?,
            memory_growth: decimal("growth", Decimal::ZERO, "25")?,
            cpu_request_m: parse_cpu_m(&get("cpu").unwrap_or_default())
                .map_err(|e| e.to_string())?,
            cpu_factor: decimal("cpu_factor", Decimal::ONE, "2")?,
            port: get("port")
                .map(|p| {
                    p.parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("port:{p} is not a port; write e.g. port:80"))
                })
                .transpose()?,
        }),
        "publish" => ReleaseCommand::Publish,
        other => return Err(format!("'/release {other}' is not a release command")),
    };
    Ok((version, order))
}

// ---------------------------------------------------------------------------------------------
