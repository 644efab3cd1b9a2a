//! Escalation: who is paged when, as a pure function of an incident's events and the clock.
//!
//! A policy is copied into the incident's `EscalationStarted` event, so a later change of the
//! configuration never changes a running escalation, and every instance computes the same
//! steps at the same times from the ledger alone. A step that fires is recorded as
//! `PageRequested` events whose ids derive from the incident, escalation and step, so when
//! several instances fire the same step, the store keeps one.

use crate::domain::contacts::{Directory, Named};
use crate::domain::event::{EscalationStep, Event, Recorded};
use chrono::{DateTime, Utc};
use std::fmt;

/// Someone to page: a person, a team, every contact, or whoever a schedule has on call when
/// the page fires.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Person(String),
    Team(String),
    Everyone,
    Schedule(String),
}

/// Why a target could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{given}' is not a page target; write @handle for a person, !team for a team, schedule:NAME for whoever is on call, or everyone"
)]
pub struct BadTarget {
    pub given: String,
}

impl Target {
    /// Reads `@handle`, `!team` (or `team:NAME`, `user:NAME`), `schedule:NAME` or
    /// `everyone`.
    pub fn parse(text: &str) -> Result<Target, BadTarget> {
        let t = text.trim();
        let bad = || BadTarget {
            given: text.to_string(),
        };
        let name = |rest: &str| {
            let rest = rest.trim().trim_start_matches(['@', '!']);
            if rest.is_empty() {
                Err(bad())
            } else {
                Ok(rest.to_string())
            }
        };
        if t.eq_ignore_ascii_case("everyone") || t == "@everyone" {
            Ok(Target::Everyone)
        } else if let Some(rest) = t.strip_prefix('@').or_else(|| t.strip_prefix("user:")) {
            name(rest).map(Target::Person)
        } else if let Some(rest) = t.strip_prefix('!').or_else(|| t.strip_prefix("team:")) {
            name(rest).map(Target::Team)
        } else if let Some(rest) = t.strip_prefix("schedule:") {
            name(rest).map(Target::Schedule)
        } else {
            Err(bad())
        }
    }

    /// Checks the target against the directory and names it canonically (a team by its
    /// name, a person by their handle). A schedule is checked by whoever knows schedules.
    pub fn resolve(&self, directory: &Directory) -> Result<Target, String> {
        match self {
            Target::Everyone | Target::Schedule(_) => Ok(self.clone()),
            Target::Person(name) => match directory.lookup(name) {
                Some(Named::Person(c)) => Ok(Target::Person(c.handle.clone())),
                Some(Named::Team(t)) => Err(format!(
                    "@{name} is the team {}; page a team with !{name}",
                    t.name
                )),
                None => Err(format!("@{name} is not in [[contacts]]")),
            },
            Target::Team(name) => match directory.lookup(name) {
                Some(Named::Team(t)) => Ok(Target::Team(t.name.clone())),
                Some(Named::Person(c)) => Err(format!(
                    "!{name} is the person {}; page a person with @{name}",
                    c.name
                )),
                None => Err(format!("!{name} is not in [[teams]]")),
            },
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Person(h) => write!(f, "@{h}"),
            Target::Team(t) => write!(f, "!{t}"),
            Target::Everyone => f.write_str("everyone"),
            Target::Schedule(s) => write!(f, "schedule:{s}"),
        }
    }
}

/// An escalation policy as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub steps: Vec<EscalationStep>,
    /// How many more times the steps run after the first pass when nobody acknowledges.
    pub repeat: u32,
    /// Paged when a page could not be delivered to its target.
    pub fallback: Vec<String>,
}

impl Policy {
    /// The event that starts this policy on an incident.
    pub fn start(&self, reason: &str) -> Event {
        Event::EscalationStarted {
            policy: self.name.clone(),
            steps: self.steps.clone(),
            repeat: self.repeat,
            fallback: self.fallback.clone(),
            reason: reason.to_string(),
        }
    }
}

/// A step that is due: fire it by recording one `PageRequested` per target.
#[derive(Debug, Clone, PartialEq)]
pub struct DueStep {
    /// Which escalation of the incident (1 for the first started).
    pub escalation: u32,
    pub policy: String,
    /// Position in the flattened sequence (steps × rounds), from 0.
    pub sequence: u32,
    /// Step number within the policy, from 1, and pass, from 1, for people to read.
    pub step: u32,
    pub round: u32,
    pub targets: Vec<String>,
    pub due_at: DateTime<Utc>,
    /// Paged when one of these pages cannot be delivered.
    pub fallback: Vec<String>,
    /// The step as configured: how it treats gaps, turns and its hours.
    pub rules: EscalationStep,
}

/// Where one escalation of an incident stands.
#[derive(Debug, Clone, PartialEq)]
struct Running {
    number: u32,
    policy: String,
    started_at: DateTime<Utc>,
    steps: Vec<EscalationStep>,
    repeat: u32,
    fallback: Vec<String>,
    /// Sequence numbers already fired.
    fired: Vec<u32>,
}

/// The escalations of one incident, folded from its events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Escalations {
    running: Vec<Running>,
    /// Acknowledged, resolved or closed: nothing more is paged until it is reopened and a
    /// new escalation starts.
    stopped: bool,
    pub acknowledged_by: Option<String>,
}

impl Escalations {
    pub fn fold(records: &[Recorded]) -> Escalations {
        let mut state = Escalations::default();
        for r in records {
            state.apply(r);
        }
        state
    }

    pub fn apply(&mut self, r: &Recorded) {
        match r.event.unwrapped() {
            Event::EscalationStarted {
                policy,
                steps,
                repeat,
                fallback,
                ..
            } => {
                self.stopped = false;
                self.acknowledged_by = None;
                self.running.push(Running {
                    number: self.running.len() as u32 + 1,
                    policy: policy.clone(),
                    started_at: r.at,
                    steps: steps.clone(),
                    repeat: *repeat,
                    fallback: fallback.clone(),
                    fired: vec![],
                });
            }
            Event::PageRequested {
                escalation: Some(n),
                sequence: Some(s),
                ..
            }
            | Event::PageSkipped {
                escalation: n,
                sequence: s,
                ..
            } => {
                if let Some(run) = self.running.iter_mut().find(|e| e.number == *n) {
                    if !run.fired.contains(s) {
                        run.fired.push(*s);
                    }
                }
            }
            Event::Acknowledged { by, .. } => {
                self.stopped = true;
                self.acknowledged_by = Some(by.clone());
            }
            Event::IncidentResolved { .. } | Event::IncidentClosed {} => self.stopped = true,
            _ => {}
        }
    }

    /// How many escalations the incident has started.
    pub fn started(&self) -> u32 {
        self.running.len() as u32
    }

    /// Who is paged when a page cannot be delivered: the latest escalation's fallback.
    pub fn fallback(&self) -> Vec<String> {
        self.running
            .last()
            .map(|r| r.fallback.clone())
            .unwrap_or_default()
    }

    /// True while some step has yet to fire and nobody has acknowledged.
    pub fn active(&self) -> bool {
        !self.stopped && self.running.iter().any(|run| next_unfired(run).is_some())
    }

    /// The steps due at `now`, oldest first. A step is due when the waits of every step
    /// before it have passed since the escalation started; steps missed while no instance
    /// ran (a restart) are all due at once, in order.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<DueStep> {
        if self.stopped {
            return vec![];
        }
        let mut due: Vec<DueStep> = self
            .running
            .iter()
            .flat_map(|run| {
                schedule(run)
                    .take_while(move |(_, _, at)| *at <= now)
                    .filter(|(sequence, _, _)| !run.fired.contains(sequence))
                    .map(move |(sequence, step, at)| DueStep {
                        escalation: run.number,
                        policy: run.policy.clone(),
                        sequence,
                        step: sequence % run.steps.len() as u32 + 1,
                        round: sequence / run.steps.len() as u32 + 1,
                        targets: step.targets.clone(),
                        due_at: at,
                        fallback: run.fallback.clone(),
                        rules: step.clone(),
                    })
            })
            .collect();
        due.sort_by_key(|d| d.due_at);
        due
    }

    /// When the next step of any escalation falls due, for a scheduler to sleep until.
    pub fn next_due_at(&self) -> Option<DateTime<Utc>> {
        if self.stopped {
            return None;
        }
        self.running
            .iter()
            .filter_map(|run| {
                schedule(run)
                    .find(|(sequence, _, _)| !run.fired.contains(sequence))
                    .map(|(_, _, at)| at)
            })
            .min()
    }
}

/// Every step of an escalation in order (steps × rounds) with the time it falls due: the
/// start plus the waits of the steps before it.
fn schedule(run: &Running) -> impl Iterator<Item = (u32, &EscalationStep, DateTime<Utc>)> {
    let rounds = run.repeat as usize + 1;
    run.steps
        .iter()
        .cycle()
        .take(run.steps.len() * rounds)
        .enumerate()
        .scan(run.started_at, |at, (i, step)| {
            let due = *at;
            *at += chrono::Duration::minutes(step.wait_minutes.into());
            Some((i as u32, step, due))
        })
}

fn next_unfired(run: &Running) -> Option<u32> {
    schedule(run)
        .map(|(s, _, _)| s)
        .find(|s| !run.fired.contains(s))
}

/// The PagerDuty-style deduplication key of a page: fixed per incident, escalation step
/// and target, so a retried or re-fired page never pages twice.
pub fn dedup_key(
    incident: &str,
    escalation: Option<u32>,
    sequence: Option<u32>,
    target: &str,
    salt: &str,
) -> String {
    let target = target
        .trim_start_matches(['@', '!'])
        .replace(' ', "-")
        .to_lowercase();
    match (escalation, sequence) {
        (Some(e), Some(s)) => format!("warroom-{incident}-e{e}-s{s}-{target}"),
        _ => format!("warroom-{incident}-{salt}-{target}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2021, 3, 9, 9, 0, 0).unwrap() + chrono::Duration::minutes(min)
    }

    fn rec(min: i64, event: Event) -> Recorded {
        crate::domain::testkit::recorded(min, at(min), "warroom", event)
    }

    fn policy() -> Policy {
        Policy {
            name: "dns".into(),
            steps: vec![
                EscalationStep {
                    targets: vec!["!Networking".into()],
                    wait_minutes: 5,
                    ..EscalationStep::default()
                },
                EscalationStep {
                    targets: vec!["@ghammer".into()],
                    wait_minutes: 10,
                    ..EscalationStep::default()
                },
            ],
            repeat: 1,
            fallback: vec!["!SRE".into()],
        }
    }

    fn fired(min: i64, sequence: u32) -> Recorded {
        rec(
            min,
            Event::PageRequested {
                escalation: Some(1),
                sequence: Some(sequence),
                step: Some(sequence + 1),
                target: "x".into(),
                message: None,
                dedup_key: "k".into(),
                reason: String::new(),
            },
        )
    }

    #[test]
    fn steps_fall_due_after_the_waits_and_repeat() {
        let mut records = vec![rec(0, policy().start("alert"))];
        let state = Escalations::fold(&records);
        let due = state.due(at(0));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].targets, vec!["!Networking"]);
        assert_eq!(state.next_due_at(), Some(at(0)));
        records.push(fired(0, 0));
        let state = Escalations::fold(&records);
        assert!(state.due(at(4)).is_empty());
        assert_eq!(state.next_due_at(), Some(at(5)));
        let due = state.due(at(5));
        assert_eq!((due[0].step, due[0].round), (2, 1));
        // Missed while down: the second pass's first step is due too, in order.
        let due = state.due(at(16));
        assert_eq!(
            due.iter().map(|d| d.sequence).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!((due[1].step, due[1].round), (1, 2));
        records.extend([fired(16, 1), fired(16, 2), fired(30, 3)]);
        let state = Escalations::fold(&records);
        assert!(!state.active());
        assert!(state.due(at(100)).is_empty());
    }

    #[test]
    fn acknowledging_or_resolving_stops_paging() {
        let records = vec![
            rec(0, policy().start("alert")),
            fired(0, 0),
            rec(
                2,
                Event::Acknowledged {
                    by: "bsparrow".into(),
                    via: None,
                    notification: None,
                },
            ),
        ];
        let state = Escalations::fold(&records);
        assert!(state.due(at(60)).is_empty());
        assert_eq!(state.acknowledged_by.as_deref(), Some("bsparrow"));
        let records = vec![
            rec(0, policy().start("alert")),
            rec(1, Event::IncidentResolved { implicit: false }),
        ];
        assert!(!Escalations::fold(&records).active());
    }

    #[test]
    fn targets_read_chat_syntax_and_resolve_against_the_directory() {
        assert_eq!(
            Target::parse("@khouse").unwrap(),
            Target::Person("khouse".into())
        );
        assert_eq!(
            Target::parse("team:dba").unwrap(),
            Target::Team("dba".into())
        );
        assert_eq!(Target::parse("everyone").unwrap(), Target::Everyone);
        let err = Target::parse("khouse").unwrap_err();
        assert!(err.to_string().contains("@handle"), "{err}");
        let dir = crate::domain::testkit::directory();
        assert_eq!(
            Target::Team("dba".into()).resolve(&dir).unwrap(),
            Target::Team("Database Admin".into())
        );
        assert_eq!(
            Target::Person("hammer".into()).resolve(&dir).unwrap(),
            Target::Person("ghammer".into())
        );
        assert!(Target::Person("nobody".into()).resolve(&dir).is_err());
    }
}
