//! The ceiling `warroom bench` measures the ledger against: plain multi-row INSERTs through
//! sqlx on a table of the ledger's shape, with no hash chain, versions or idempotency; and
//! the throwaway PostgreSQL database a bench run writes to.

use super::StoreError;
use sqlx::Connection;
use std::time::Instant;

/// One row of the raw baseline: position, stream, event id, payload.
pub type RawRow = (i64, String, uuid::Uuid, String);

/// The ledger's table, less its hash and times; the event id typed as each backend's
/// ledger types it (`TEXT` on SQLite, `uuid` on PostgreSQL).
fn raw_table(id_type: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS bench_raw (position BIGINT PRIMARY KEY, stream_id TEXT NOT NULL, \
         stream_version BIGINT NOT NULL, event_id {id_type} NOT NULL UNIQUE, event_type TEXT NOT NULL, \
         actor TEXT NOT NULL, payload TEXT NOT NULL)"
    )
}

/// Inserts `$rows` 1000 per transaction through `$conn` (a connection of database `$db`,
/// whose ledger types an id as `$id_type` and binds it as `$id` makes it) and gives the rate
/// in rows per second: the same code for both backends, so the baselines compare.
macro_rules! raw_insert {
    ($conn:expr, $db:ty, $id_type:expr, $id:expr, $rows:expr) => {{
        let conn = $conn;
        sqlx::query(&raw_table($id_type)).execute(&mut *conn).await?;
        let start = Instant::now();
        for chunk in $rows.chunks(1000) {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO bench_raw (position, stream_id, stream_version, event_id, event_type, actor, payload) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.0)
                    .push_bind(&r.1)
                    .push_bind(r.0)
                    .push_bind($id(&r.2))
                    .push_bind("MessagePosted")
                    .push_bind("rpark")
                    .push_bind(&r.3);
            });
            qb.build().execute(&mut *tx).await?;
            tx.commit().await?;
        }
        $rows.len() as f64 / start.elapsed().as_secs_f64()
    }};
}

/// Inserts `rows` into a `bench_raw` table of the store at `url` (SQLite: WAL,
/// `synchronous=FULL`, as the ledger runs; or PostgreSQL), 1000 per transaction, and gives
/// the rate in rows per second.
pub async fn raw_insert_rate(url: &str, rows: &[RawRow]) -> Result<f64, StoreError> {
    if url.starts_with("sqlite:") {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
        use sqlx::ConnectOptions;
        let opts: SqliteConnectOptions = url
            .parse::<SqliteConnectOptions>()?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        Ok(raw_insert!(
            &mut opts.connect().await?,
            sqlx::Sqlite,
            "TEXT",
            |id: &uuid::Uuid| id.to_string(),
            rows
        ))
    } else {
        Ok(raw_insert!(
            &mut sqlx::PgConnection::connect(url).await?,
            sqlx::Postgres,
            "uuid",
            |id: &uuid::Uuid| *id,
            rows
        ))
    }
}

/// Makes a fresh database on the PostgreSQL server at `admin` and gives its URL.
pub async fn create_database(admin: &str) -> Result<String, StoreError> {
    let name = format!(
        "warroom_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    // A name of our own making (letters, digits, underscores): DDL takes no bind parameters.
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

/// Drops a database [`create_database`] made.
pub async fn drop_database(admin: &str, url: &str) -> Result<(), StoreError> {
    let name = url.rsplit('/').next().unwrap_or_default();
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    Ok(())
}
