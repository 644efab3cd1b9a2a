//! What a database must do for the ledger: the `Backend` trait SQLite and PostgreSQL
//! implement, and the `Snapshot` a backend reads inside the append transaction for the planner.

use super::id_prefix::IdPrefix;
use super::plan::{AppendRequest, Existing, Plan};
use super::{StoreError, StoredEvent, StreamTime};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// What a database must do for the ledger. Implemented for SQLite and PostgreSQL.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// In one transaction holding the store-wide append lock: read the head, the versions of
    /// the batch's streams and the stored events with the batch's ids, plan with `decide`,
    /// insert the plan's rows, commit. Returns the plan.
    async fn commit(
        &self,
        requests: &[AppendRequest],
        decide: &(dyn Fn(Snapshot) -> Plan + Send + Sync),
    ) -> Result<Plan, StoreError>;
    /// Every event of a stream as its version, position and time, in stream order.
    async fn stream_times(&self, stream: &str) -> Result<Vec<StreamTime>, StoreError>;
    /// Up to `limit` events of a stream with versions above `after_version`, oldest first.
    async fn read_stream_after(
        &self,
        stream: &str,
        after_version: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Up to `limit` events of a stream with versions below `before_version`, newest first.
    async fn read_stream_backward(
        &self,
        stream: &str,
        before_version: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    async fn stream_version(&self, stream: &str) -> Result<i64, StoreError>;
    /// Ids of the streams whose id starts with `prefix`, in byte order.
    async fn streams_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// In one transaction holding the append lock: if the head is still `expected_head`
    /// (position and hash), inserts `rows` exactly as given (positions, times, hashes) and
    /// commits; otherwise writes nothing and returns the head it found. For `warroom import`,
    /// whose caller has checked the rows' chain; never used by appends.
    async fn insert_verbatim(
        &self,
        expected_head: &(i64, String),
        rows: &[StoredEvent],
    ) -> Result<Option<(i64, String)>, StoreError>;
    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError>;
    /// Up to `limit` events of one type with positions below `before`, newest first.
    async fn read_type_backward(
        &self,
        event_type: &str,
        before: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Up to `limit` events whose ids start with `prefix`, by position, found through a
    /// range over the id's index (each backend bounds the range in its column's order).
    async fn events_with_id_prefix(
        &self,
        prefix: &IdPrefix,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    async fn head(&self) -> Result<i64, StoreError>;
    async fn contains_event(&self, id: Uuid) -> Result<bool, StoreError>;
    /// Versions of the migrations applied to the schema, in order.
    async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError>;
    /// Starts feeding other writers' heads into `heads` (PostgreSQL LISTEN) until `stop`
    /// fires or is dropped; no-op elsewhere. `followed` is set while every other writer's
    /// commit is sure to reach `heads` (listening, with the head read since it began), and
    /// cleared while notifications may be missed.
    async fn follow_other_writers(
        &self,
        heads: Arc<watch::Sender<i64>>,
        followed: Arc<AtomicBool>,
        stop: oneshot::Receiver<()>,
    ) -> Result<(), StoreError>;
    /// Writes one row outside the ledger (the `writer_probe` table) and commits it: whether
    /// the store takes writes again after a failed commit, e.g. once a full disk has room.
    async fn probe_write(&self) -> Result<(), StoreError>;
    async fn close(&self);
    /// The head every ledger of this process on the store shares, when this process is the
    /// store's only writer (an SQLite file it holds the writer lock of); `None` when others
    /// may write too.
    fn sole_writer_heads(&self) -> Option<Arc<watch::Sender<i64>>> {
        None
    }
}

/// What a backend read inside the append transaction, for the planner.
pub(crate) struct Snapshot {
    /// Last position and its hash (0 and the genesis hash when empty): where the batch chains on.
    pub head: (i64, String),
    /// Current version of each stream the batch touches; absent streams are at 0.
    pub versions: HashMap<String, i64>,
    /// Stored events whose ids the batch uses, for idempotent re-appends.
    pub existing: HashMap<Uuid, Existing>,
}

/// Which way a page of a stream runs from the version it starts at.
#[derive(Clone, Copy)]
pub(crate) enum Toward {
    Newer,
    Older,
}

impl Toward {
    /// The comparison with the starting version and the order of `stream_version`, in SQL.
    pub(crate) fn sql(self) -> (&'static str, &'static str) {
        match self {
            Toward::Newer => (">", "ASC"),
            Toward::Older => ("<", "DESC"),
        }
    }
}

/// Moves a published head forward to `head` (never back), waking subscribers if it moved.
pub(crate) fn raise_head(heads: &watch::Sender<i64>, head: i64) {
    heads.send_if_modified(|h| {
        let newer = head > *h;
        *h = (*h).max(head);
        newer
    });
}
