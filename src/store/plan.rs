//! Planning one group commit, without IO: given the head, the streams' versions and the
//! already-stored events the batch's ids collide with, decide each request's outcome and the
//! rows to insert. Both backends run their queries and then this, so the rules live once.

use super::chain::{self, ChainFields};
use super::{AppendError, Appended, ExpectedVersion, NewEvent, StoredEvent};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// One append as queued for the writer.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    /// The stream appended to.
    pub stream: String,
    /// Checked against the stream's version at this request's turn in the batch.
    pub expected: ExpectedVersion,
    /// The events, in the order they get positions.
    pub events: Vec<NewEvent>,
}

/// What identifies an event's content, for "same id, same content" idempotency. Fields
/// mirror [`NewEvent`]'s, in their stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub stream_id: String,
    pub event_type: String,
    pub schema_version: i32,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub payload: String,
}

/// An event already in the ledger whose id the batch uses.
#[derive(Debug, Clone)]
pub struct Existing {
    /// Where it is stored, reported back to an idempotent re-append.
    pub position: i64,
    /// What it says, compared with the re-appended event.
    pub content: Content,
}

impl From<StoredEvent> for Existing {
    fn from(e: StoredEvent) -> Existing {
        Existing {
            position: e.position,
            content: Content {
                stream_id: e.stream_id,
                event_type: e.event_type,
                schema_version: e.schema_version,
                occurred_at: e.occurred_at,
                actor: e.actor,
                payload: e.payload,
            },
        }
    }
}

/// The plan for one transaction.
#[derive(Debug)]
pub struct Plan {
    /// Every row the batch inserts, in position order, complete with position and hash;
    /// times are truncated to microseconds and payloads canonical, so each is stored exactly
    /// as hashed.
    pub rows: Vec<StoredEvent>,
    /// One answer per request, in request order.
    pub outcomes: Vec<Result<Appended, AppendError>>,
    /// Position and hash of the last row after the commit.
    pub head: (i64, String),
}

fn content_of(stream: &str, e: &NewEvent) -> Content {
    Content {
        stream_id: stream.to_string(),
        event_type: e.event_type.clone(),
        schema_version: e.schema_version,
        occurred_at: chain::to_micros(e.occurred_at),
        actor: e.actor.clone(),
        payload: e.payload.to_string(),
    }
}

/// Decides every request of a batch in order. `versions` holds the current version of each
/// stream the batch touches (absent = 0); `existing` the stored events with the batch's ids.
pub fn plan(
    requests: &[AppendRequest],
    head: (i64, String),
    mut versions: HashMap<String, i64>,
    mut existing: HashMap<Uuid, Existing>,
    recorded_at: DateTime<Utc>,
) -> Plan {
    let recorded_at = chain::to_micros(recorded_at);
    let (mut position, mut prev_hash) = head;
    let mut rows = Vec::new();
    let mut outcomes = Vec::with_capacity(requests.len());
    for request in requests {
        let outcome = plan_one(
            request,
            &mut position,
            &mut prev_hash,
            &mut versions,
            &mut existing,
            recorded_at,
            &mut rows,
        );
        outcomes.push(outcome);
    }
    Plan {
        rows,
        outcomes,
        head: (position, prev_hash),
    }
}

fn plan_one(
    request: &AppendRequest,
    position: &mut i64,
    prev_hash: &mut String,
    versions: &mut HashMap<String, i64>,
    existing: &mut HashMap<Uuid, Existing>,
    recorded_at: DateTime<Utc>,
    rows: &mut Vec<StoredEvent>,
) -> Result<Appended, AppendError> {
    let stream = &request.stream;
    if request.events.is_empty() {
        return Err(AppendError::Invalid(format!(
            "an append to {stream} has no events"
        )));
    }
    if stream.trim().is_empty() {
        return Err(AppendError::Invalid("the stream id is empty".into()));
    }
    let mut ids = HashSet::new();
    for e in &request.events {
        if !ids.insert(e.event_id) {
            return Err(AppendError::Invalid(format!(
                "event id {} appears twice in one append",
                e.event_id
            )));
        }
    }
    let contents: Vec<Content> = request
        .events
        .iter()
        .map(|e| content_of(stream, e))
        .collect();
    let mut stored_positions = Vec::new();
    for (e, content) in request.events.iter().zip(&contents) {
        if let Some(found) = existing.get(&e.event_id) {
            if &found.content != content {
                return Err(AppendError::DuplicateEventId {
                    event_id: e.event_id,
                    stream: found.content.stream_id.clone(),
                });
            }
            stored_positions.push(found.position);
        }
    }
    let current = versions.get(stream).copied().unwrap_or(0);
    if stored_positions.len() == request.events.len() {
        return Ok(Appended {
            first_position: stored_positions.iter().copied().min().unwrap_or(0),
            last_position: stored_positions.iter().copied().max().unwrap_or(0),
            stream_version: current,
            already_stored: true,
        });
    }
    if !stored_positions.is_empty() {
        return Err(AppendError::Invalid(format!(
            "{} of the {} events of this append to {stream} are already stored; re-send the whole append or none of it",
            stored_positions.len(),
            request.events.len()
        )));
    }
    let matches = match request.expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => current == 0,
        ExpectedVersion::Exactly(v) => current == v,
    };
    if !matches {
        return Err(AppendError::Conflict {
            stream: stream.clone(),
            expected: request.expected,
            actual: current,
        });
    }
    let first_position = *position + 1;
    let mut version = current;
    for (e, content) in request.events.iter().zip(contents) {
        *position += 1;
        version += 1;
        let hash = chain::hash(
            prev_hash,
            &ChainFields {
                position: *position,
                stream_id: stream,
                stream_version: version,
                event_id: e.event_id,
                event_type: &content.event_type,
                schema_version: content.schema_version,
                occurred_at: content.occurred_at,
                recorded_at,
                actor: &content.actor,
                payload: &content.payload,
            },
        );
        *prev_hash = hash.clone();
        existing.insert(
            e.event_id,
            Existing {
                position: *position,
                content: content.clone(),
            },
        );
        rows.push(StoredEvent {
            position: *position,
            stream_id: stream.clone(),
            stream_version: version,
            event_id: e.event_id,
            event_type: content.event_type,
            schema_version: content.schema_version,
            occurred_at: content.occurred_at,
            recorded_at,
            actor: content.actor,
            payload: content.payload,
            hash,
        });
    }
    versions.insert(stream.clone(), version);
    Ok(Appended {
        first_position,
        last_position: *position,
        stream_version: version,
        already_stored: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn event(id: u128, text: &str) -> NewEvent {
        NewEvent {
            event_id: Uuid::from_u128(id),
            event_type: "MessagePosted".into(),
            schema_version: 1,
            occurred_at: Utc.with_ymd_and_hms(2021, 3, 9, 9, 15, 0).unwrap(),
            actor: "svega".into(),
            payload: serde_json::json!({ "text": text }),
        }
    }

    fn request(stream: &str, expected: ExpectedVersion, events: Vec<NewEvent>) -> AppendRequest {
        AppendRequest {
            stream: stream.into(),
            expected,
            events,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap()
    }

    #[test]
    fn requests_in_one_batch_see_each_other() {
        let plan = plan(
            &[
                request(
                    "s",
                    ExpectedVersion::NoStream,
                    vec![event(1, "a"), event(2, "b")],
                ),
                request("s", ExpectedVersion::Exactly(2), vec![event(3, "c")]),
                request("s", ExpectedVersion::Exactly(2), vec![event(4, "d")]),
                request("s", ExpectedVersion::Any, vec![event(1, "a")]),
            ],
            (10, chain::GENESIS.into()),
            HashMap::new(),
            HashMap::new(),
            now(),
        );
        assert_eq!(
            plan.rows
                .iter()
                .map(|r| (r.position, r.stream_version))
                .collect::<Vec<_>>(),
            [(11, 1), (12, 2), (13, 3)]
        );
        assert!(matches!(
            plan.outcomes[2],
            Err(AppendError::Conflict { actual: 3, .. })
        ));
        assert!(matches!(&plan.outcomes[3], Ok(a) if a.already_stored && a.first_position == 11));
        assert_eq!(plan.head.0, 13);
        assert_eq!(
            plan.rows[1].hash,
            chain::hash(
                &plan.rows[0].hash,
                &ChainFields {
                    position: 12,
                    stream_id: "s",
                    stream_version: 2,
                    event_id: Uuid::from_u128(2),
                    event_type: "MessagePosted",
                    schema_version: 1,
                    occurred_at: plan.rows[1].occurred_at,
                    recorded_at: now(),
                    actor: "svega",
                    payload: "{\"text\":\"b\"}",
                }
            )
        );
    }

    #[test]
    fn ids_already_stored_are_a_no_op_or_an_error() {
        let existing = HashMap::from([(
            Uuid::from_u128(1),
            Existing {
                position: 5,
                content: content_of("s", &event(1, "a")),
            },
        )]);
        let plan = plan(
            &[
                request("s", ExpectedVersion::NoStream, vec![event(1, "a")]),
                request("s", ExpectedVersion::Any, vec![event(1, "changed")]),
                request(
                    "s",
                    ExpectedVersion::Any,
                    vec![event(1, "a"), event(2, "new")],
                ),
                request(
                    "s",
                    ExpectedVersion::Any,
                    vec![event(3, "x"), event(3, "x")],
                ),
                request("s", ExpectedVersion::Any, vec![]),
            ],
            (5, "h".into()),
            HashMap::from([("s".to_string(), 1)]),
            existing,
            now(),
        );
        assert!(matches!(&plan.outcomes[0], Ok(a) if a.already_stored && a.stream_version == 1));
        assert!(matches!(
            plan.outcomes[1],
            Err(AppendError::DuplicateEventId { .. })
        ));
        assert!(
            matches!(&plan.outcomes[2], Err(AppendError::Invalid(m)) if m.contains("1 of the 2 events"))
        );
        assert!(matches!(plan.outcomes[3], Err(AppendError::Invalid(_))));
        assert!(matches!(plan.outcomes[4], Err(AppendError::Invalid(_))));
        assert!(plan.rows.is_empty());
        assert_eq!(plan.head, (5, "h".to_string()));
    }
}
