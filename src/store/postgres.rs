//! The PostgreSQL backend: appends serialised across every instance by a transaction-scoped
//! advisory lock, so positions commit in order and a follower never skips a late commit;
//! other instances learn of new events through `LISTEN/NOTIFY`.

use super::backend::{Backend, Snapshot, Toward};
use super::id_prefix::IdPrefix;
use super::plan::{AppendRequest, Plan};
use super::{chain, StoreError, StoredEvent, StreamTime};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Row};
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// The schema, embedded at build time.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

const COLUMNS: &str = "position, stream_id, stream_version, event_id, event_type, schema_version, occurred_at, recorded_at, actor, payload, hash";
/// The advisory lock every appender takes: "warroom" in ASCII.
const APPEND_LOCK: i64 = 0x0077_6172_726f_6f6d;
const CHANNEL: &str = "warroom_events";

pub(crate) struct PgBackend {
    /// Shared by readers, the writer and the listener.
    pool: PgPool,
}

impl PgBackend {
    pub async fn open(url: &str, migrate: bool) -> Result<PgBackend, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        // One plain connection first: the pool would retry a refused connection until its
        // timeout and then report only "pool timed out", hiding the reason.
        PgConnection::connect_with(&options).await?.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        if migrate {
            MIGRATOR.run(&pool).await?;
        }
        Ok(PgBackend { pool })
    }
}

fn decode(row: &PgRow) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        position: row.try_get("position")?,
        stream_id: row.try_get("stream_id")?,
        stream_version: row.try_get("stream_version")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        occurred_at: row.try_get::<DateTime<Utc>, _>("occurred_at")?,
        recorded_at: row.try_get::<DateTime<Utc>, _>("recorded_at")?,
        actor: row.try_get("actor")?,
        payload: row.try_get("payload")?,
        hash: row.try_get("hash")?,
    })
}

/// Inserts rows as given (positions ascending; none: nothing to do) and notifies other
/// instances of the new head, in one statement: arrays of columns unnested into rows, and
/// one round trip for both.
async fn insert_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    rows: &[StoredEvent],
) -> Result<(), StoreError> {
    let Some(last) = rows.last() else {
        return Ok(());
    };
    sqlx::query(&format!(
        "WITH inserted AS (INSERT INTO events ({COLUMNS}) SELECT * FROM UNNEST($1::bigint[], $2::text[], \
         $3::bigint[], $4::uuid[], $5::text[], $6::int[], $7::timestamptz[], $8::timestamptz[], $9::text[], \
         $10::text[], $11::text[]) RETURNING 1) SELECT pg_notify($12, $13)"
    ))
    .bind(rows.iter().map(|r| r.position).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.stream_id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.stream_version).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.event_type.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.schema_version).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.occurred_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.recorded_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.actor.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.payload.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.hash.clone()).collect::<Vec<_>>())
    .bind(CHANNEL)
    .bind(last.position.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Listens for other writers' commits, then reads the head into `heads`: a commit made
/// before the listening began sent its note to no one, and is counted all the same.
async fn listen(pool: &PgPool, heads: &watch::Sender<i64>) -> Result<PgListener, StoreError> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    super::backend::raise_head(heads, read_head(pool).await?);
    Ok(listener)
}

/// The last position; 0 when the ledger is empty.
async fn read_head(pool: &PgPool) -> Result<i64, StoreError> {
    let head: Option<i64> = sqlx::query_scalar("SELECT MAX(position) FROM events")
        .fetch_one(pool)
        .await?;
    Ok(head.unwrap_or(0))
}

impl PgBackend {
    /// Up to `limit` events of `stream` past `version` the way `toward` says, nearest first.
    async fn stream_page(
        &self,
        stream: &str,
        toward: Toward,
        version: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let (past, order) = toward.sql();
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events WHERE stream_id = $1 AND stream_version {past} $2 \
             ORDER BY stream_version {order} LIMIT $3"
        ))
        .bind(stream)
        .bind(version)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }
}

#[async_trait]
impl Backend for PgBackend {
    async fn commit(
        &self,
        requests: &[AppendRequest],
        decide: &(dyn Fn(Snapshot) -> Plan + Send + Sync),
    ) -> Result<Plan, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK)
            .execute(&mut *tx)
            .await?;
        let streams: Vec<String> = requests
            .iter()
            .map(|r| r.stream.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // The head (the row without a stream) and, one index probe per stream whatever its
        // length, each stream's last version: one round trip, read under the lock.
        let mut head = None;
        let mut versions = HashMap::new();
        for (stream, position, hash) in
            sqlx::query_as::<_, (Option<String>, Option<i64>, Option<String>)>(
                "SELECT NULL::text, h.position, h.hash FROM \
             (SELECT position, hash FROM events ORDER BY position DESC LIMIT 1) AS h \
             UNION ALL SELECT s.id, (SELECT stream_version FROM events WHERE stream_id = s.id \
             ORDER BY stream_version DESC LIMIT 1), NULL FROM unnest($1::text[]) AS s(id)",
            )
            .bind(&streams)
            .fetch_all(&mut *tx)
            .await?
        {
            match (stream, position, hash) {
                (None, Some(position), Some(hash)) => head = Some((position, hash)),
                (Some(stream), Some(version), _) => {
                    versions.insert(stream, version);
                }
                _ => {}
            }
        }
        let ids: Vec<Uuid> = requests
            .iter()
            .flat_map(|r| r.events.iter().map(|e| e.event_id))
            .collect();
        let mut existing = HashMap::new();
        // One probe of the id's index per id, whatever the planner thinks. `event_id =
        // ANY($1)` under a generic plan compared every row with every id; a plain join, for
        // a commit of a thousand ids or more on a table not yet analysed, became a hash join
        // over a scan of the whole table (25–90 ms per commit at 300k events, under the
        // appenders' lock). A LATERAL subquery with LIMIT cannot be turned into a join.
        for row in sqlx::query(&format!(
            "SELECT e.* FROM unnest($1::uuid[]) AS ids(id) CROSS JOIN LATERAL \
             (SELECT {COLUMNS} FROM events WHERE events.event_id = ids.id LIMIT 1) AS e"
        ))
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?
        {
            let e = decode(&row)?;
            existing.insert(e.event_id, e.into());
        }
        let plan = decide(Snapshot {
            head: head.unwrap_or((0, chain::GENESIS.to_string())),
            versions,
            existing,
        });
        insert_rows(&mut tx, &plan.rows).await?;
        tx.commit().await?;
        Ok(plan)
    }

    async fn insert_verbatim(
        &self,
        expected_head: &(i64, String),
        rows: &[StoredEvent],
    ) -> Result<Option<(i64, String)>, StoreError> {
        // The appenders' lock: nobody can slip a row in between the check and the insert.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK)
            .execute(&mut *tx)
            .await?;
        let head: (i64, String) =
            sqlx::query_as("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or((0, chain::GENESIS.to_string()));
        if &head != expected_head {
            return Ok(Some(head));
        }
        // Positions are plain columns assigned by the planner from the head (no sequence or
        // identity), so appends after an import simply continue at its last position + 1.
        insert_rows(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn stream_times(&self, stream: &str) -> Result<Vec<StreamTime>, StoreError> {
        sqlx::query(
            "SELECT stream_version, position, occurred_at FROM events WHERE stream_id = $1 \
             ORDER BY stream_version",
        )
        .bind(stream)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(StreamTime {
                stream_version: row.try_get("stream_version")?,
                position: row.try_get("position")?,
                occurred_at: row.try_get::<DateTime<Utc>, _>("occurred_at")?,
            })
        })
        .collect()
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
            sqlx::query_scalar("SELECT MAX(stream_version) FROM events WHERE stream_id = $1")
                .bind(stream)
                .fetch_one(&self.pool)
                .await?;
        Ok(v.unwrap_or(0))
    }

    async fn streams_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // `starts_with` rather than a range: under a linguistic collation (en_US) a range of
        // text is not a range of bytes.
        let mut found: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT stream_id FROM events WHERE starts_with(stream_id, $1)",
        )
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        found.sort();
        Ok(found)
    }

    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn read_type_backward(
        &self,
        event_type: &str,
        before: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events WHERE event_type = $1 AND position < $2 \
             ORDER BY position DESC LIMIT $3"
        ))
        .bind(event_type)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn events_with_id_prefix(
        &self,
        prefix: &IdPrefix,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        // A range over the UNIQUE index on event_id, a `uuid`: ordered as 16 bytes, so the
        // ids that start with the prefix are exactly those between its two bounds.
        let (least, greatest) = prefix.uuid_bounds();
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events WHERE event_id BETWEEN $1 AND $2 \
             ORDER BY position LIMIT $3"
        ))
        .bind(least)
        .bind(greatest)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn head(&self) -> Result<i64, StoreError> {
        read_head(&self.pool).await
    }

    async fn contains_event(&self, id: Uuid) -> Result<bool, StoreError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT position FROM events WHERE event_id = $1")
                .bind(id)
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
        heads: Arc<watch::Sender<i64>>,
        followed: Arc<AtomicBool>,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<(), StoreError> {
        let mut listener = listen(&self.pool, &heads).await?;
        followed.store(true, Ordering::Release);
        let pool = self.pool.clone();
        tokio::spawn(async move {
            loop {
                let note = tokio::select! {
                    // The ledger was dropped: give the pooled connection back.
                    _ = &mut stop => return,
                    note = listener.try_recv() => note,
                };
                let lost = match note {
                    Ok(Some(note)) => {
                        if let Ok(head) = note.payload().parse::<i64>() {
                            super::backend::raise_head(&heads, head);
                        }
                        continue;
                    }
                    Err(sqlx::Error::PoolClosed) => return,
                    // The connection dropped (and was made again): notes sent meanwhile
                    // are gone.
                    Ok(None) => "the connection was lost".to_string(),
                    Err(e) => e.to_string(),
                };
                // Until listening again with the head read after, other writers' commits
                // may not reach `heads`: readers ask the store meanwhile, and subscribers
                // re-read on a timer, so a lost note delays, never loses, an event.
                followed.store(false, Ordering::Release);
                tracing::warn!("LISTEN {CHANNEL} interrupted ({lost}), listening again");
                loop {
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                    match listen(&pool, &heads).await {
                        Ok(again) => {
                            listener = again;
                            followed.store(true, Ordering::Release);
                            break;
                        }
                        Err(StoreError::Database(sqlx::Error::PoolClosed)) => return,
                        Err(e) => tracing::warn!("LISTEN {CHANNEL} failed again: {e}"),
                    }
                }
            }
        });
        Ok(())
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO writer_probe (id, probed_at) VALUES (1, now()) \
             ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
