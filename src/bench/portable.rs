//! `warroom bench --parts export`: fills a store with N events, exports it to a file and
//! imports that file into a fresh SQLite store (and a fresh PostgreSQL database with
//! `--postgres`), printing rows/s, the file's size and the peak memory (the export and the
//! import stream, so memory should not grow with N).

use super::peak_rss_kb;
use crate::store::baseline::{create_database, drop_database};
use crate::store::{portable, Ledger};
use std::time::Instant;

/// Runs the part with `events` events; `postgres` is an admin URL (the bench creates and
/// drops its own database).
pub async fn run(events: usize, postgres: Option<&str>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let source = format!("sqlite://{}", dir.path().join("source.db").display());
    let ledger = Ledger::open(&source).await?;
    let t = Instant::now();
    super::fill_incidents(&ledger, events, "portable").await?;
    println!(
        "\nexport/import: wrote {events} events (~300-byte payloads, incidents of 1000) in {:.1} s to set up",
        t.elapsed().as_secs_f64()
    );
    let file = dir.path().join("ledger.jsonl");
    let rss = peak_rss_kb();
    let t = Instant::now();
    let out = tokio::fs::File::create(&file).await?;
    let summary = portable::export(&ledger, 0, out).await?;
    let elapsed = t.elapsed().as_secs_f64();
    ledger.close().await;
    println!(
        "  export from SQLite:  {} rows in {elapsed:.1} s = {:>7.0} rows/s; file {:.0} MB ({:.0} bytes/row); peak RSS {} MB (was {} MB)",
        summary.rows,
        summary.rows as f64 / elapsed,
        summary.bytes as f64 / 1e6,
        summary.bytes as f64 / summary.rows.max(1) as f64,
        peak_rss_kb() / 1024,
        rss / 1024
    );
    let target = format!("sqlite://{}", dir.path().join("target.db").display());
    import_into("SQLite", &target, &file).await?;
    match postgres {
        Some(admin) => {
            let url = create_database(admin).await?;
            let result = import_into("PostgreSQL", &url, &file).await;
            drop_database(admin, &url).await?;
            result?;
        }
        None => println!(
            "  (PostgreSQL import skipped: pass --postgres URL or set WARROOM_BENCH_POSTGRES)"
        ),
    }
    Ok(())
}

async fn import_into(label: &str, url: &str, file: &std::path::Path) -> anyhow::Result<()> {
    let ledger = Ledger::open(url).await?;
    let input = tokio::io::BufReader::with_capacity(256 * 1024, tokio::fs::File::open(file).await?);
    let t = Instant::now();
    let summary = portable::import(&ledger, input).await?;
    let elapsed = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let report = ledger.verify().await?;
    let verified = t.elapsed().as_secs_f64();
    anyhow::ensure!(report.problem.is_none(), "{report}");
    ledger.close().await;
    println!(
        "  import into {label:<10} {} rows in {elapsed:.1} s = {:>7.0} rows/s (checked and written); verify after it {verified:.1} s; peak RSS {} MB",
        summary.imported,
        summary.imported as f64 / elapsed,
        peak_rss_kb() / 1024
    );
    Ok(())
}
