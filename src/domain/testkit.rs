//! What the domain's tests share: the scenario's people and teams as a directory, and
//! `given` and `recorded`, which turn events into the recorded history a fold reads.

use super::contacts::{Contact, Directory, Team};
use super::event::{Event, Recorded};
use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

/// The scenario's fictional people and teams, with the aliases chat uses for them.
pub fn directory() -> Directory {
    let person = |handle: &str, name: &str, team: &str, aliases: &[&str]| Contact {
        handle: handle.into(),
        name: name.into(),
        team: team.into(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
    };
    let team = |name: &str, aliases: &[&str]| Team {
        name: name.into(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
    };
    Directory::new(
        vec![
            person("svega", "Susan Vega", "Customer Support", &[]),
            person("ghammer", "Glenn Hammer", "Ops", &["hammer"]),
            person("rpark", "Riley Park", "SRE", &[]),
            person("khouse", "Kim House", "Database Admin", &[]),
        ],
        vec![
            team("Customer Support", &["support"]),
            team("Ops", &["ops-team"]),
            team("SRE", &["sre"]),
            team("Database Admin", &["dba"]),
        ],
    )
    .expect("the scenario's directory is valid")
}

/// When the first event of a [`given`] history happened: the seed's outage, 09:17.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 3, 9, 9, 17, 0).unwrap()
}

/// A recorded history of `events` by `actor`, one minute apart from [`start`], at positions
/// 1, 2, 3, … with ids that follow the position.
pub fn given(actor: &str, events: impl IntoIterator<Item = Event>) -> Vec<Recorded> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Recorded {
            event_id: Uuid::from_u128(i as u128 + 1),
            position: i as i64 + 1,
            at: start() + Duration::minutes(i as i64),
            actor: actor.into(),
            event,
        })
        .collect()
}

/// One recorded event at the time and position a test needs (histories whose times matter:
/// escalation steps falling due, shifts, flapping windows); its id follows the position.
pub fn recorded(position: i64, at: DateTime<Utc>, actor: &str, event: Event) -> Recorded {
    Recorded {
        event_id: Uuid::from_u128(position as u128),
        position,
        at,
        actor: actor.into(),
        event,
    }
}
