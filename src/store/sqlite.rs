//! The SQLite backend: WAL, `synchronous=FULL`, appends serialised by `BEGIN IMMEDIATE`.

use super::backend::{Backend, Snapshot, Toward};
use super::id_prefix::IdPrefix;
use super::lock::WriterLock;
use super::plan::{AppendRequest, Plan};
use super::{chain, StoreError, StoredEvent, StreamTime};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Sqlite};
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// The schema, embedded at build time.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Rows per INSERT statement, largest first: 11 placeholders a row keeps the largest well
/// under SQLite's variable limit, and fixed sizes keep the prepared statements few.
const INSERT_CHUNKS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

const COLUMNS: &str = "position, stream_id, stream_version, event_id, event_type, schema_version, occurred_at, recorded_at, actor, payload, hash";

pub(crate) struct SqliteBackend {
    /// Readers; WAL lets them run while the writer commits.
    pool: SqlitePool,
    /// The writer's own single connection, so reads queued in `pool` never delay a commit.
    writer: SqlitePool,
    /// This process's claim to be the file's one writer (none when opened read-only or in
    /// memory); given up at `close`.
    lock: std::sync::Mutex<Option<Arc<WriterLock>>>,
    /// Woken after each commit of a file-backed writer: copies the WAL back into the
    /// database beside the writer, not inside its commits (none for a reader or in memory).
    checkpointer: Option<Checkpointer>,
}

/// WAL frames the writer lets pile up before it checkpoints inside a commit itself: only
/// when the background checkpointer falls this far behind (SQLite's default is 1000).
const WRITER_AUTOCHECKPOINT_PAGES: &str = "4000";

/// The least time between two background checkpoints: each ends with an fsync of the
/// database file, which a commit a millisecond must not multiply.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(1000);

/// The background checkpointer: a task running `wal_checkpoint(PASSIVE)` on a reader
/// connection at most every [`CHECKPOINT_INTERVAL`] while commits keep coming. PASSIVE never
/// waits for readers or the writer and changes no data, so it needs no coordination; a
/// checkpoint it misses is caught by the next, or by the writer's own at
/// [`WRITER_AUTOCHECKPOINT_PAGES`].
struct Checkpointer {
    committed: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Checkpointer {
    fn start(pool: SqlitePool) -> Checkpointer {
        let committed = Arc::new(tokio::sync::Notify::new());
        let woken = committed.clone();
        let task = tokio::spawn(async move {
            loop {
                woken.notified().await;
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    // The writer still checkpoints by itself past its threshold, so a failed
                    // pass only costs speed; a closed pool ends the task. BUSY only means the
                    // writer was checkpointing at that moment.
                    if pool.is_closed() {
                        return;
                    }
                    let error = StoreError::Database(e);
                    if worth_retrying(&error) {
                        tracing::debug!(%error, "background WAL checkpoint skipped");
                    } else {
                        tracing::warn!(%error, "background WAL checkpoint failed");
                    }
                }
                tokio::time::sleep(CHECKPOINT_INTERVAL).await;
            }
        });
        Checkpointer { committed, task }
    }
}

impl Drop for Checkpointer {
    /// The task holds a clone of the readers' pool: a backend dropped without `close` must
    /// not leave it, and the pool's connections, behind.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The database file a SQLite URL names; `None` for another backend or an in-memory store.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") || url.contains("mode=memory") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (file.as_os_str() != ":memory:").then(|| file.to_path_buf())
}

impl SqliteBackend {
    /// `write`: take the file's writer lock first, so a second instance is refused before it
    /// touches the file.
    pub async fn open(url: &str, migrate: bool, write: bool) -> Result<SqliteBackend, StoreError> {
        // Only a writer creates the file: a reader pointed at a mistyped path must not find
        // (and leave behind) an empty ledger that "verifies".
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(write)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // A reader (the command line's documents) reads long runs of rows once: SQLite's
        // default page cache of 2 MiB a connection would only add to its peak memory.
        // The writer, profiled under 16 × 100-event appends, spent a sixth of its time writing
        // statement journals to a temporary file (each multi-row INSERT after the first in a
        // commit must be able to undo itself alone; never read after a crash, so memory costs
        // no durability), a tenth spilling a 2 MiB cache mid-commit, and a sixth in the WAL
        // checkpoints SQLite runs inside commits, which the `Checkpointer` now runs beside it.
        let options = if write {
            options
                .pragma("temp_store", "memory")
                .pragma("cache_size", "-16384")
                .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
        } else {
            options.pragma("cache_size", "-512")
        };
        let filename = options.get_filename();
        let in_memory = filename.as_os_str() == ":memory:" || url.contains("mode=memory");
        if !write && !in_memory && !filename.exists() {
            return Err(StoreError::Missing {
                path: filename.to_path_buf(),
            });
        }
        let lock = if write && !in_memory {
            Some(super::lock::acquire(filename)?)
        } else {
            None
        };
        // Switching a new file to WAL takes a lock SQLite does not wait for, and sqlx takes
        // no lock to migrate SQLite, so instances opening a new file together can see "database
        // is locked" or lose a migration race. The loser's work rolled back; a retry finds the
        // file in WAL mode and the schema current.
        // A reader leaves the file as it is: switching it to WAL writes its header, which
        // would turn an emptied file into a database.
        let mut attempt = 0;
        let mut prepared = !(write || migrate);
        while !prepared {
            match prepare(&options, migrate).await {
                Ok(()) => prepared = true,
                Err(e) if attempt < 10 && worth_retrying(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(25 * attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
        // WAL mode is stored in the file, so the pools' connections need not switch it again.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let checkpointer = (write && !in_memory).then(|| Checkpointer::start(pool.clone()));
        Ok(SqliteBackend {
            pool,
            writer,
            lock: std::sync::Mutex::new(lock),
            checkpointer,
        })
    }
}

impl SqliteBackend {
    /// Wakes the background checkpointer after a commit.
    fn committed(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.committed.notify_one();
        }
    }

    /// Up to `limit` events of `stream` past `version` the way `toward` says, nearest first.
    async fn stream_page(
        &self,
        stream: &str,
        toward: Toward,
        version: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let (past, order) = toward.sql();
        let page = sqlx::query_as(&packed(&format!(
            "SELECT {COLUMNS} FROM events WHERE stream_id = ? AND stream_version {past} ? \
             ORDER BY stream_version {order} LIMIT ?"
        )))
        .bind(stream)
        .bind(version)
        .bind(limit)
        .fetch_one(&self.pool)
        .await?;
        unpack(page, |e| match toward {
            Toward::Newer => e.stream_version,
            Toward::Older => -e.stream_version,
        })
    }
}

/// Puts the file in WAL mode and, when asked, migrates it, over one connection.
async fn prepare(options: &SqliteConnectOptions, migrate: bool) -> Result<(), StoreError> {
    let wal = options.clone().journal_mode(SqliteJournalMode::Wal);
    let mut conn = SqliteConnection::connect_with(&wal).await?;
    if migrate {
        MIGRATOR.run(&mut conn).await?;
    }
    conn.close().await?;
    Ok(())
}

/// Another opener held a lock (SQLite's BUSY and LOCKED, any extended code) or won a race.
fn worth_retrying(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Database(db)) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
        // A schema newer than this build stays newer: retrying would only delay the refusal.
        StoreError::Migrate(sqlx::migrate::MigrateError::VersionMissing(_)) => false,
        StoreError::Migrate(_) => true,
        _ => false,
    }
}

/// A stored time (RFC 3339 text) of the event at `position`.
fn parse_time(column: &str, text: &str, position: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            position,
            reason: format!("{column} '{text}' is not a time: {e}"),
        })
}

/// The query reading the `columns` of the rows `rows` selects as one text value, with their
/// count: what `Fields` reads back. Each value is written as its length in bytes, a colon
/// and its text, so any text (a payload, an actor's name) is kept exactly and needs neither
/// escaping by SQLite nor unescaping here. The rows come in the order `rows` gives them,
/// which SQLite does not promise to keep through an aggregate: readers put them in order
/// again (an `ORDER BY` inside the aggregate would make SQLite sort a copy of every row).
fn packed_as(columns: &str, rows: &str) -> String {
    // One concat() a row: `a || b || …` would copy the row so far at every step.
    let fields: Vec<String> = columns
        .split(", ")
        .map(|column| format!("octet_length({column}), ':', {column}"))
        .collect();
    format!(
        "SELECT count(*), coalesce(group_concat(concat({}), ''), '') FROM ({rows})",
        fields.join(", ")
    )
}

/// `packed_as` for every column of an event (`COLUMNS`), which `unpack` reads back.
fn packed(rows: &str) -> String {
    packed_as(COLUMNS, rows)
}

/// The values of a page `packed_as` wrote, one after another.
struct Fields<'a> {
    rest: &'a str,
    /// The position of the event being read, for errors.
    position: i64,
}

impl<'a> Fields<'a> {
    fn new(packed: &'a str) -> Fields<'a> {
        Fields {
            rest: packed,
            position: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn corrupt(&self, reason: &str) -> StoreError {
        StoreError::Corrupt {
            position: self.position,
            reason: format!("a page of events could not be read back: {reason}"),
        }
    }

    fn text(&mut self) -> Result<&'a str, StoreError> {
        let digits = self.rest.bytes().take_while(u8::is_ascii_digit).count();
        let length: usize = self.rest[..digits]
            .parse()
            .map_err(|_| self.corrupt("a value without its length"))?;
        let value = self
            .rest
            .get(digits + 1..digits + 1 + length)
            .filter(|_| self.rest.as_bytes().get(digits) == Some(&b':'))
            .ok_or_else(|| self.corrupt("a value cut short"))?;
        self.rest = &self.rest[digits + 1 + length..];
        Ok(value)
    }

    fn string(&mut self) -> Result<String, StoreError> {
        self.text().map(str::to_string)
    }

    fn int<T: FromStr>(&mut self) -> Result<T, StoreError> {
        let text = self.text()?;
        text.parse()
            .map_err(|_| self.corrupt(&format!("'{text}' is not a number")))
    }

    fn time(&mut self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        let text = self.text()?;
        parse_time(column, text, self.position)
    }

    /// The rows read from the page, checked to be all `count` of them and put back in the
    /// order of `key` if SQLite did not keep it (one pass over them when it did).
    fn all_of<T>(
        &self,
        mut rows: Vec<T>,
        count: i64,
        key: impl Fn(&T) -> i64,
    ) -> Result<Vec<T>, StoreError> {
        if rows.len() as i64 != count {
            return Err(self.corrupt(&format!("{} of {count} rows", rows.len())));
        }
        if !rows.is_sorted_by_key(&key) {
            rows.sort_by_key(key);
        }
        Ok(rows)
    }
}

/// The rows SQLite packed into one value (`packed`), `count` of them. Every read of events
/// comes back this way because sqlx hands each row across from SQLite's thread on its own
/// (about 9 µs a row, against 1.5 µs for SQLite to produce it): one value per page instead
/// makes a 100k-event stream read several times faster. Every value is kept exactly, the
/// payload as the text that was hashed.
///
/// `order` is the key the rows were selected in; they are put back in it when they did not
/// come in it (it costs one pass over the page when they did).
fn unpack(
    (count, packed): (i64, String),
    order: impl Fn(&StoredEvent) -> i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut fields = Fields::new(&packed);
    let mut events = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    while !fields.is_empty() {
        fields.position = fields.int()?;
        let stream_id = fields.string()?;
        let stream_version = fields.int()?;
        let event_id = fields.text()?;
        let event_id = Uuid::parse_str(event_id).map_err(|e| StoreError::Corrupt {
            position: fields.position,
            reason: format!("event_id '{event_id}' is not a UUID: {e}"),
        })?;
        events.push(StoredEvent {
            position: fields.position,
            stream_id,
            stream_version,
            event_id,
            event_type: fields.string()?,
            schema_version: fields.int()?,
            occurred_at: fields.time("occurred_at")?,
            recorded_at: fields.time("recorded_at")?,
            actor: fields.string()?,
            payload: fields.string()?,
            hash: fields.string()?,
        });
    }
    fields.all_of(events, count, order)
}

/// Inserts rows as given. One placeholder per value (cheaper than unpacking JSON), in chunks
/// of fixed sizes so at most a handful of distinct statements are ever prepared.
async fn insert_rows(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    rows: &[StoredEvent],
) -> Result<(), StoreError> {
    let mut rest = rows;
    while !rest.is_empty() {
        let size = INSERT_CHUNKS
            .iter()
            .copied()
            .find(|c| *c <= rest.len())
            .unwrap_or(1);
        let (chunk, tail) = rest.split_at(size);
        let mut q = QueryBuilder::<Sqlite>::new(format!("INSERT INTO events ({COLUMNS}) "));
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.position)
                .push_bind(&r.stream_id)
                .push_bind(r.stream_version)
                .push_bind(r.event_id.to_string())
                .push_bind(&r.event_type)
                .push_bind(r.schema_version)
                .push_bind(chain::canonical_time(r.occurred_at))
                .push_bind(chain::canonical_time(r.recorded_at))
                .push_bind(&r.actor)
                .push_bind(&r.payload)
                .push_bind(&r.hash);
        });
        q.build().execute(&mut **tx).await?;
        rest = tail;
    }
    Ok(())
}

/// After a failed transaction the connection's state is unknown: SQLite may have rolled back
/// by itself (a full disk fails COMMIT that way), and sqlx's rollback on drop then fails and
/// leaves the connection believing it is still inside a transaction, so every later BEGIN
/// failed for as long as the process lived. The writer's connection is closed instead and
/// the pool opens a fresh one for the next commit.
fn discard(conn: &mut sqlx::pool::PoolConnection<Sqlite>) {
    conn.close_on_drop();
}

/// One group commit on the writer's connection.
async fn commit_on(
    conn: &mut SqliteConnection,
    requests: &[AppendRequest],
    decide: &(dyn Fn(Snapshot) -> Plan + Send + Sync),
) -> Result<Plan, StoreError> {
    // IMMEDIATE takes the write lock before the head is read, so another process
    // appending to the same file waits (busy timeout) instead of planning on a stale head.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    // The lookups have fixed SQL and take the batch's streams and ids as one JSON array
    // that SQLite unpacks with json_each, so each is prepared once and reused.
    let streams: BTreeSet<&str> = requests.iter().map(|r| r.stream.as_str()).collect();
    let streams = serde_json::to_string(&streams).expect("strings serialise");
    // One index probe per stream for its last version, whatever the stream's length
    // (MAX … GROUP BY would walk every entry of every stream in the batch).
    let mut versions = HashMap::new();
    for (stream, version) in sqlx::query_as::<_, (String, Option<i64>)>(
        "SELECT s.value, (SELECT stream_version FROM events WHERE stream_id = s.value \
         ORDER BY stream_version DESC LIMIT 1) FROM json_each(?) AS s",
    )
    .bind(&streams)
    .fetch_all(&mut *tx)
    .await?
    {
        if let Some(version) = version {
            versions.insert(stream, version);
        }
    }
    let ids: Vec<String> = requests
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.event_id.to_string()))
        .collect();
    let ids = serde_json::to_string(&ids).expect("strings serialise");
    let found = sqlx::query_as(&packed(&format!(
        "SELECT {COLUMNS} FROM events WHERE event_id IN (SELECT value FROM json_each(?))"
    )))
    .bind(&ids)
    .fetch_one(&mut *tx)
    .await?;
    let existing = unpack(found, |e| e.position)?
        .into_iter()
        .map(|e| (e.event_id, e.into()))
        .collect();
    let plan = decide(Snapshot {
        head: head.unwrap_or((0, chain::GENESIS.to_string())),
        versions,
        existing,
    });
    insert_rows(&mut tx, &plan.rows).await?;
    tx.commit().await?;
    Ok(plan)
}

/// Inserts verified rows on the writer's connection if the head is still `expected_head`.
async fn insert_verbatim_on(
    conn: &mut SqliteConnection,
    expected_head: &(i64, String),
    rows: &[StoredEvent],
) -> Result<Option<(i64, String)>, StoreError> {
    // The same lock as appends: nobody can slip a row in between the check and the insert.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let head: (i64, String) =
        sqlx::query_as("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or((0, chain::GENESIS.to_string()));
    if &head != expected_head {
        return Ok(Some(head));
    }
    insert_rows(&mut tx, rows).await?;
    tx.commit().await?;
    Ok(None)
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn commit(
        &self,
        requests: &[AppendRequest],
        decide: &(dyn Fn(Snapshot) -> Plan + Send + Sync),
    ) -> Result<Plan, StoreError> {
        let mut conn = self.writer.acquire().await?;
        let result = commit_on(&mut conn, requests, decide).await;
        if result.is_err() {
            discard(&mut conn);
        }
        self.committed();
        result
    }

    async fn insert_verbatim(
        &self,
        expected_head: &(i64, String),
        rows: &[StoredEvent],
    ) -> Result<Option<(i64, String)>, StoreError> {
        let mut conn = self.writer.acquire().await?;
        let result = insert_verbatim_on(&mut conn, expected_head, rows).await;
        if result.is_err() {
            discard(&mut conn);
        }
        self.committed();
        result
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await?;
        let result = async {
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query(
                "INSERT INTO writer_probe (id, probed_at) VALUES (1, ?) \
                 ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at",
            )
            .bind(chain::canonical_time(Utc::now()))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            discard(&mut conn);
        }
        result
    }

    async fn stream_times(&self, stream: &str) -> Result<Vec<StreamTime>, StoreError> {
        // One value for the whole stream, as `unpack` explains: 100k rows one at a time
        // would cost more than the rest of a post-mortem.
        let (count, packed): (i64, String) = sqlx::query_as(&packed_as(
            "stream_version, position, occurred_at",
            "SELECT stream_version, position, occurred_at FROM events WHERE stream_id = ? \
             ORDER BY stream_version",
        ))
        .bind(stream)
        .fetch_one(&self.pool)
        .await?;
        let mut fields = Fields::new(&packed);
        let mut times = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        while !fields.is_empty() {
            let stream_version = fields.int()?;
            fields.position = fields.int()?;
            times.push(StreamTime {
                stream_version,
                position: fields.position,
                occurred_at: fields.time("occurred_at")?,
            });
        }
        fields.all_of(times, count, |t| t.stream_version)
    }

    async fn read_stream_after(
        &self,
        stream: &str,
        after_version: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.stream_page(stream, Toward::Newer, after_version, limit)
            .await
    }

    async fn read_stream_backward(
        &self,
        stream: &str,
        before_version: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.stream_page(stream, Toward::Older, before_version, limit)
            .await
    }

    async fn stream_version(&self, stream: &str) -> Result<i64, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(stream_version) FROM events WHERE stream_id = ?")
                .bind(stream)
                .fetch_one(&self.pool)
                .await?;
        Ok(v.unwrap_or(0))
    }

    async fn streams_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // A range over the (stream_id, stream_version) index: SQLite compares TEXT byte by
        // byte (BINARY), and LIKE would not use the index.
        let Some(end) = super::prefix_end(prefix) else {
            return Ok(sqlx::query_scalar(
                "SELECT DISTINCT stream_id FROM events WHERE substr(stream_id, 1, length(?1)) = ?1 ORDER BY stream_id",
            )
            .bind(prefix)
            .fetch_all(&self.pool)
            .await?);
        };
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT stream_id FROM events WHERE stream_id >= ? AND stream_id < ? ORDER BY stream_id",
        )
        .bind(prefix)
        .bind(end)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let page = sqlx::query_as(&packed(&format!(
            "SELECT {COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
        )))
        .bind(after)
        .bind(limit)
        .fetch_one(&self.pool)
        .await?;
        unpack(page, |e| e.position)
    }

    async fn read_type_backward(
        &self,
        event_type: &str,
        before: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        // Backward along the position key, skipping other types: recent events of a type
        // come first, and the reader stops when it has seen enough.
        let page = sqlx::query_as(&packed(&format!(
            "SELECT {COLUMNS} FROM events WHERE event_type = ? AND position < ? \
             ORDER BY position DESC LIMIT ?"
        )))
        .bind(event_type)
        .bind(before)
        .bind(limit)
        .fetch_one(&self.pool)
        .await?;
        unpack(page, |e| -e.position)
    }

    async fn events_with_id_prefix(
        &self,
        prefix: &IdPrefix,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        // A range over the UNIQUE index on the id text (BINARY: byte order), `[prefix, the
        // next prefix)`, not LIKE, which SQLite would answer by reading every row.
        let found = sqlx::query_as(&packed(&format!(
            "SELECT {COLUMNS} FROM events WHERE event_id >= ? AND event_id < ? \
                 ORDER BY position LIMIT ?"
        )))
        .bind(prefix.as_str())
        .bind(prefix.range_end())
        .bind(limit)
        .fetch_one(&self.pool)
        .await?;
        unpack(found, |e| e.position)
    }

    async fn head(&self) -> Result<i64, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(position) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.unwrap_or(0))
    }

    async fn contains_event(&self, id: Uuid) -> Result<bool, StoreError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT position FROM events WHERE event_id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        use sqlx::migrate::Migrate;
        let mut conn = self.pool.acquire().await?;
        let applied = conn.list_applied_migrations().await?;
        Ok(applied.into_iter().map(|m| m.version).collect())
    }

    async fn follow_other_writers(
        &self,
        _heads: Arc<watch::Sender<i64>>,
        _followed: Arc<std::sync::atomic::AtomicBool>,
        _stop: oneshot::Receiver<()>,
    ) -> Result<(), StoreError> {
        // SQLite has no notifications: a follower learns of another process's commits to the
        // same file from its subscription's re-read timer.
        Ok(())
    }

    fn sole_writer_heads(&self) -> Option<Arc<watch::Sender<i64>>> {
        self.lock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|lock| lock.heads.clone())
    }

    async fn close(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.task.abort();
        }
        self.writer.close().await;
        self.pool.close().await;
        // Another instance may take over once this one's connections are gone.
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}
