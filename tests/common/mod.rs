//! Test support shared by the integration tests: fresh stores on both backends.
#![allow(dead_code)]

use sqlx::Connection;

/// A new SQLite file in a temporary directory (kept alive by the returned guard).
pub fn fresh_sqlite_url() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("warroom.db").display());
    (dir, url)
}

/// A new, empty PostgreSQL database, when `WARROOM_TEST_POSTGRES` names a server; `None`
/// (the test then passes without running) when it is unset. When it is set, failing to create
/// the database fails the test: CI sets it, and there the suite must run, not skip.
pub async fn fresh_postgres_url() -> Option<String> {
    let Ok(admin) = std::env::var("WARROOM_TEST_POSTGRES") else {
        eprintln!("skipped: set WARROOM_TEST_POSTGRES=postgres://USER@HOST/DB to run the PostgreSQL suite");
        return None;
    };
    let name = format!("warroom_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("WARROOM_TEST_POSTGRES={admin} is set but unreachable: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database on {admin}: {e}"));
    // Same server and credentials, other database; keep any `?options`.
    let (location, query) = admin
        .split_once('?')
        .map_or((admin.as_str(), None), |(l, q)| (l, Some(q)));
    let base = location.rsplit_once('/').map_or(location, |(base, _)| base);
    Some(match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    })
}

/// Runs raw SQL against a store, as an operator (or an attacker) with database access would.
pub async fn raw_sql(url: &str, statements: &[&str]) {
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        for s in statements {
            sqlx::query(s)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        for s in statements {
            sqlx::query(s)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }
}
