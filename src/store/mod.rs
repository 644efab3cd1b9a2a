//! The event store: one append-only, hash-chained ledger of events, on SQLite or PostgreSQL.
//!
//! Everything above this module talks to [`Ledger`]; the two database backends sit behind the
//! crate-private `Backend` trait so the group-commit writer, the chain hashing and `verify` are
//! written once. Invariants every backend keeps:
//! - global positions are 1, 2, 3, … with no gaps, and a position becomes visible to readers only
//!   after every lower position is visible (appends are serialised by one lock per store), so a
//!   reader following the global order never skips an event that commits late;
//! - `(stream_id, stream_version)` is unique and versions in a stream are 1, 2, 3, …;
//! - `event_id` is unique: re-appending an identical event is a no-op, a different one an error;
//! - each row's `hash` is SHA-256 over the previous row's hash and the row's canonical bytes.

mod backend;
pub mod baseline;
mod chain;
mod id_prefix;
mod lease;
mod ledger;
mod lock;
mod plan;
pub mod portable;
mod postgres;
mod sqlite;

pub use id_prefix::{IdPrefix, IdPrefixError};
pub use lease::{LeaderState, Lease, LeaseSettings, Role};
pub use ledger::{
    migrate, migrator_for, redact, Ledger, LedgerOptions, LedgerStats, QueuedAppend, SchemaState,
    Subscription, VerifyProblem, VerifyReport,
};
pub use sqlite::sqlite_file;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The least string above every string that starts with `prefix`, when its last character
/// can simply be raised (ASCII below DEL); `None` otherwise.
fn prefix_end(prefix: &str) -> Option<String> {
    let last = *prefix.as_bytes().last()?;
    if last >= 0x7f {
        return None;
    }
    let mut end = prefix[..prefix.len() - 1].to_string();
    end.push(char::from(last + 1));
    Some(end)
}

/// An event as the application hands it to the store, before it has a position.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Unique id; derived from the input's identity so a redelivered input maps to the same id.
    pub event_id: Uuid,
    /// The event's type name, e.g. `IncidentOpened`.
    pub event_type: String,
    /// Version of the payload's schema, bumped when the payload shape changes.
    pub schema_version: i32,
    /// When it happened in the world (Discord timestamp, alert `startsAt`, transcript `at`).
    pub occurred_at: DateTime<Utc>,
    /// Who caused it: a contact handle, a raw chat name, or a system name such as `alertmanager`.
    pub actor: String,
    /// The event's facts as JSON; stored as canonical text (sorted keys) and hashed as stored.
    pub payload: serde_json::Value,
}

/// An event as read back from the ledger, with its full envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Global position: total order over the whole ledger, gapless from 1.
    pub position: i64,
    /// The stream this event belongs to (`incident-7`, `channel-ops`, …).
    pub stream_id: String,
    /// Version within the stream, gapless from 1.
    pub stream_version: i64,
    /// The id it was appended with; the key for idempotent re-appends.
    pub event_id: Uuid,
    /// Tells readers how to interpret the payload.
    pub event_type: String,
    /// Lets readers upcast payloads written under an older shape.
    pub schema_version: i32,
    /// When it happened in the world, truncated to microseconds (what both backends keep).
    pub occurred_at: DateTime<Utc>,
    /// When the store committed it (one value per group commit), to the microsecond.
    pub recorded_at: DateTime<Utc>,
    /// Who caused it, as appended.
    pub actor: String,
    /// The payload exactly as stored (canonical JSON text); this is what the hash covers.
    pub payload: String,
    /// Hex SHA-256 chained to the previous position's hash.
    pub hash: String,
}

/// When one event of a stream happened and where it stands: what a reader needs to take a
/// stream's events in time order while reading them, cheaply, in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamTime {
    pub stream_version: i64,
    pub position: i64,
    pub occurred_at: DateTime<Utc>,
}

impl StoredEvent {
    /// The payload parsed as JSON.
    pub fn payload_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.payload)
    }
}

/// What the appender believes the stream's current version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the current version is.
    Any,
    /// The stream must not exist yet (version 0).
    NoStream,
    /// The stream's last event must have exactly this version (0 means "no stream").
    Exactly(i64),
}

/// The result of a successful append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Position of the first event appended (or already stored, for a no-op).
    pub first_position: i64,
    /// Position of the last event appended (or already stored, for a no-op).
    pub last_position: i64,
    /// The stream's version after the append.
    pub stream_version: i64,
    /// True when every event was already stored with identical content and nothing was written.
    pub already_stored: bool,
}

/// Why an append was refused. Callers branch on these.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The stream moved on since the caller read it: reload, decide again, retry.
    #[error("stream {stream} is at version {actual}, but the append expected {expected:?}; reload and retry")]
    Conflict {
        stream: String,
        expected: ExpectedVersion,
        actual: i64,
    },
    /// The id is taken by a different event: a bug in how the caller derives ids.
    #[error("event {event_id} is already stored with different content (stream {stream}); an event id can be used once")]
    DuplicateEventId { event_id: Uuid, stream: String },
    /// The request itself is malformed (empty, duplicate ids, partial re-append).
    #[error("invalid append: {0}")]
    Invalid(String),
    /// The store failed; see [`StoreError::Commit`] for whether a retry is safe.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The store itself failed (unreachable, disk full, schema too new, …).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Connecting or migrating at open failed; `url` has its password hidden.
    #[error("cannot open the store at {url}: {reason}")]
    Open { url: String, reason: String },
    /// A query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date (for instance it is newer than this build).
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The ledger was closed, or its writer task is gone.
    #[error("the store's writer has stopped (the ledger was closed); reopen the store or restart warroom")]
    WriterStopped,
    /// The group commit this append was part of failed as a whole. If the connection broke
    /// during COMMIT the rows may be stored after all; a retry with the same event ids is
    /// safe either way (it then answers `already_stored`).
    #[error("the commit failed ({0}); the append was most likely not stored: retry it with the same event ids, which is safe")]
    Commit(String),
    /// A stored row cannot be decoded, which only a change outside warroom can cause.
    #[error("corrupt row at position {position}: {reason}")]
    Corrupt { position: i64, reason: String },
    /// Another process writes to this SQLite file (it holds the lock file beside it).
    #[error(
        "another warroom{} is using {}; SQLite is single-instance: stop that one, or move the \
         store to PostgreSQL (`warroom export` then `warroom import`) to run several instances \
         (read-only commands such as verify, export, incidents and postmortem still work meanwhile)",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        path.display()
    )]
    InUse {
        path: std::path::PathBuf,
        pid: Option<u32>,
    },
    /// A command that only reads was pointed at an SQLite file that does not exist: most
    /// likely a mistyped path, which must not pass for an empty ledger.
    #[error("no ledger at {}: check the path given with --db or WARROOM_DB (commands that only read never create a store)", path.display())]
    Missing { path: std::path::PathBuf },
    /// The ledger was opened read-only ([`Ledger::open_read_only`]) and was asked to write.
    #[error("this store was opened read-only; open it with `Ledger::open` to append")]
    ReadOnly,
}
