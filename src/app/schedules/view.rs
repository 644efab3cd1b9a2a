//! What the projection keeps about on-call schedules: every recorded version of each
//! schedule, the last one recorded from the configuration, and the overrides still in force,
//! so "who is on call at T" is answered from the ledger alone.

use crate::domain::event::{Event, Recorded};
use crate::domain::schedule::{Override, Roster, Schedule, ScheduleSpec, Version};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The stream of a schedule's versions.
pub fn stream_id(name: &str) -> String {
    format!("schedule-{name}")
}

/// The stream of every override and cover.
pub const OVERRIDES_STREAM: &str = "oncall-overrides";

/// An override as recorded, with the schedule it is limited to (every one when `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedOverride {
    pub schedule: Option<String>,
    pub rule: Override,
}

/// Schedules, their versions and overrides.
#[derive(Debug, Default)]
pub struct ScheduleIndex {
    versions: BTreeMap<String, Roster>,
    /// The spec last recorded from warroom.toml, `None` once it was removed from it.
    configured: BTreeMap<String, Option<ScheduleSpec>>,
    /// The position of each schedule's last recorded event, so a new version's id can say
    /// what it follows and two instances recording the same change keep one.
    last_position: BTreeMap<String, i64>,
    overrides: Vec<RecordedOverride>,
    /// When each schedule last handed over, as recorded.
    last_handoff: BTreeMap<String, DateTime<Utc>>,
    /// The spec of each schedule's newest version (for its `shifts` flag).
    newest: BTreeMap<String, ScheduleSpec>,
    /// Swaps asked for and not answered, by reference.
    swaps: BTreeMap<String, PendingSwap>,
    /// The specs of each schedule's versions still in force or to come when they were last
    /// looked at (`None`: removed), by effective time: what a fetched calendar changes.
    current_specs: BTreeMap<String, Vec<SpecFrom>>,
}

/// A version's spec and the time it holds from; `None`: the schedule removed.
type SpecFrom = (DateTime<Utc>, Option<ScheduleSpec>);

/// A swap asked for and not answered yet.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingSwap {
    /// Who asked: whose turns `with` would take.
    pub asker: String,
    pub with: String,
    pub schedule: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub back: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The short reference of an event: the first 8 hex digits of its id.
pub fn reference(r: &Recorded) -> String {
    r.event_id.simple().to_string()[..8].to_string()
}

impl ScheduleIndex {
    /// Folds one event of a stream that is not an incident's.
    pub fn apply(&mut self, stream: &str, r: &Recorded) {
        let name = stream.strip_prefix("schedule-");
        match (&r.event, name) {
            (
                Event::ScheduleDefined {
                    spec,
                    effective_from,
                    source,
                },
                Some(name),
            ) => {
                // Recorded specs were checked when recorded; one this build cannot read
                // leaves the schedule without that version rather than stopping the replay.
                let schedule = match Schedule::from_recorded(spec) {
                    Ok(s) => Some(s),
                    Err(problems) => {
                        tracing::warn!(
                            schedule = name,
                            "skipping a schedule version this build cannot read: {}",
                            problems.join("; ")
                        );
                        return;
                    }
                };
                self.versions
                    .entry(name.to_string())
                    .or_default()
                    .add_version(Version {
                        effective_from: *effective_from,
                        schedule,
                    });
                self.newest.insert(name.to_string(), spec.clone());
                self.keep_current_spec(name, *effective_from, Some(spec.clone()), r.at);
                if source == "config" {
                    self.configured.insert(name.to_string(), Some(spec.clone()));
                }
                self.last_position.insert(name.to_string(), r.position);
            }
            (Event::ScheduleRemoved { effective_from }, Some(name)) => {
                self.versions
                    .entry(name.to_string())
                    .or_default()
                    .add_version(Version {
                        effective_from: *effective_from,
                        schedule: None,
                    });
                self.configured.insert(name.to_string(), None);
                self.keep_current_spec(name, *effective_from, None, r.at);
                self.last_position.insert(name.to_string(), r.position);
            }
            (Event::OncallHandedOff { at, .. }, Some(name)) => {
                let last = self.last_handoff.entry(name.to_string()).or_insert(*at);
                *last = (*last).max(*at);
            }
            (
                Event::OncallOverridden {
                    schedule,
                    person,
                    from,
                    to,
                    replaces,
                },
                _,
            ) => self.overrides.push(RecordedOverride {
                schedule: schedule.clone(),
                rule: Override {
                    person: person.clone(),
                    from: *from,
                    to: *to,
                    replaces: replaces.clone(),
                    by: r.actor.clone(),
                    reference: reference(r),
                },
            }),
            (
                Event::OncallSwapRequested {
                    schedule,
                    asker,
                    with,
                    from,
                    to,
                    back_from,
                    back_to,
                },
                _,
            ) => {
                self.swaps.insert(
                    reference(r),
                    PendingSwap {
                        asker: asker.clone(),
                        with: with.clone(),
                        schedule: schedule.clone(),
                        from: *from,
                        to: *to,
                        back: back_from.zip(*back_to),
                    },
                );
            }
            (
                Event::OncallSwapAnswered {
                    reference,
                    accepted,
                },
                _,
            ) => {
                let Some(swap) = self.swaps.remove(reference) else {
                    return;
                };
                if !accepted {
                    return;
                }
                // Two covers under the swap's reference, so cancelling it undoes both.
                let cover = |person: &str, replaces: &str, from, to| RecordedOverride {
                    schedule: swap.schedule.clone(),
                    rule: Override {
                        person: person.to_string(),
                        from,
                        to,
                        replaces: Some(replaces.to_string()),
                        by: r.actor.clone(),
                        reference: reference.clone(),
                    },
                };
                self.overrides
                    .push(cover(&swap.with, &swap.asker, swap.from, swap.to));
                if let Some((from, to)) = swap.back {
                    self.overrides
                        .push(cover(&swap.asker, &swap.with, from, to));
                }
            }
            (
                Event::OncallOverrideCancelled {
                    reference,
                    effective_from,
                },
                _,
            ) => {
                for o in self.overrides.iter_mut() {
                    if o.rule.reference == *reference {
                        o.rule.to = o.rule.to.min(*effective_from);
                    }
                }
                self.overrides.retain(|o| o.rule.from < o.rule.to);
            }
            _ => {}
        }
    }

    /// Adds a version's spec as [`Roster::add_version`] adds the version, and forgets the
    /// specs that ended before `recorded_at`: time only moves on, so they are never in force
    /// again, and a calendar's text is not held twice for the past.
    fn keep_current_spec(
        &mut self,
        name: &str,
        effective_from: DateTime<Utc>,
        spec: Option<ScheduleSpec>,
        recorded_at: DateTime<Utc>,
    ) {
        let specs = self.current_specs.entry(name.to_string()).or_default();
        specs.retain(|(from, _)| *from < effective_from);
        specs.push((effective_from, spec));
        let ended = specs
            .iter()
            .skip(1)
            .take_while(|(from, _)| *from <= recorded_at)
            .count();
        specs.drain(..ended);
    }

    /// The spec in force at `t` (if the schedule is not removed then) and each one to come
    /// after it, up to a removal, by effective time.
    pub fn specs_from(&self, name: &str, t: DateTime<Utc>) -> Vec<(DateTime<Utc>, &ScheduleSpec)> {
        let Some(specs) = self.current_specs.get(name) else {
            return vec![];
        };
        let first = specs
            .partition_point(|(from, _)| *from <= t)
            .saturating_sub(1);
        specs[first..]
            .iter()
            .map_while(|(from, spec)| spec.as_ref().map(|s| (*from, s)))
            .collect()
    }

    /// Everything that decides who is on call in `name`: its versions and the overrides
    /// that apply to it, in recorded order. `None` for a schedule never recorded.
    pub fn roster(&self, name: &str) -> Option<Roster> {
        let mut roster = self.versions.get(name)?.clone();
        roster.overrides = self
            .overrides
            .iter()
            .filter(|o| o.schedule.as_deref().is_none_or(|s| s == name))
            .map(|o| o.rule.clone())
            .collect();
        Some(roster)
    }

    /// The schedules recorded and not removed, by name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.versions
            .iter()
            .filter(|(_, r)| r.versions.last().is_some_and(|v| v.schedule.is_some()))
            .map(|(name, _)| name.as_str())
    }

    /// The spec last recorded from the configuration for `name`, if one is in force.
    pub fn configured(&self, name: &str) -> Option<&ScheduleSpec> {
        self.configured.get(name)?.as_ref()
    }

    /// Every schedule recorded from the configuration and not removed since.
    pub fn configured_names(&self) -> impl Iterator<Item = &str> {
        self.configured
            .iter()
            .filter(|(_, spec)| spec.is_some())
            .map(|(name, _)| name.as_str())
    }

    /// The position of the last event recorded for `name` (0 when none).
    pub fn last_position(&self, name: &str) -> i64 {
        self.last_position.get(name).copied().unwrap_or(0)
    }

    /// When `name` last handed over, as recorded.
    pub fn last_handoff(&self, name: &str) -> Option<DateTime<Utc>> {
        self.last_handoff.get(name).copied()
    }

    /// The spec of the newest version recorded for `name`.
    pub fn newest_spec(&self, name: &str) -> Option<&ScheduleSpec> {
        self.newest.get(name)
    }

    /// Whether whoever `name` has on call also takes the `/oncall` shift.
    pub fn drives_shifts(&self, name: &str) -> bool {
        self.newest.get(name).is_some_and(|s| s.shifts)
    }

    /// A swap asked for and not answered, by its reference.
    pub fn pending_swap(&self, reference: &str) -> Option<&PendingSwap> {
        self.swaps.get(reference)
    }

    /// The overrides in force, in recorded order.
    pub fn overrides(&self) -> &[RecordedOverride] {
        &self.overrides
    }
}
