//! `warroom export` and `warroom import`: the ledger as JSON Lines on standard output, and
//! such a file loaded into another store (see `store::portable` for the format and the rules).
//! Kept apart from `cli/mod.rs`, which only routes the two subcommands here.

use crate::progress::{Counting, Progress, Unit};
use crate::store::portable::{self, ExportError};
use crate::store::Ledger;
use anyhow::Context;
use std::path::Path;
use std::time::Instant;
use tokio::io::AsyncBufRead;

/// `warroom export [--from POS]`: rows after POS to standard output, a summary to standard
/// error. Opens the store read-only, so it runs beside `warroom serve`.
pub async fn export(db: &str, from: i64) -> anyhow::Result<i32> {
    let ledger = Ledger::open_read_only(db).await?;
    let started = Instant::now();
    let rows = (ledger.head().await? - from).max(0) as u64;
    let progress = Progress::start("exporting", Unit::Items("rows"), Some(rows));
    let result = portable::export(
        &ledger,
        from,
        Counting::lines(tokio::io::stdout(), &progress),
    )
    .await;
    progress.finish();
    ledger.close().await;
    match result {
        Ok(s) => {
            eprintln!(
                "exported {} rows after position {} (last position {}, hash {}) in {:.1} s, {} bytes; \
                 `warroom export --from {}` continues from here",
                s.rows,
                s.after,
                s.last_position,
                s.last_hash,
                started.elapsed().as_secs_f64(),
                s.bytes,
                s.last_position
            );
            Ok(0)
        }
        // `warroom export | head`: the reader had enough. The file lacks its closing line, so
        // an import of it would say it was cut short.
        Err(ExportError::Write { rows, source })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            eprintln!("export stopped after {rows} rows: standard output was closed");
            Ok(0)
        }
        Err(e) => Err(e.into()),
    }
}

/// `warroom import FILE` (`-` for standard input): loads an export into the store, then walks
/// the whole ledger as `warroom verify` does.
pub async fn import(db: &str, file: &Path) -> anyhow::Result<i32> {
    let name = if file == Path::new("-") {
        "standard input".to_string()
    } else {
        file.display().to_string()
    };
    let (input, size): (Box<dyn AsyncBufRead + Unpin + Send>, _) = if file == Path::new("-") {
        (
            Box::new(tokio::io::BufReader::new(tokio::io::stdin())),
            None,
        )
    } else {
        let f = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("cannot read the export {name}"))?;
        let size = f.metadata().await.ok().map(|m| m.len());
        (
            Box::new(tokio::io::BufReader::with_capacity(256 * 1024, f)),
            size,
        )
    };
    let ledger = Ledger::open(db).await?;
    let started = Instant::now();
    let progress = Progress::start(format!("importing {name}"), Unit::Bytes, size);
    let imported = portable::import(&ledger, Counting::bytes(input, &progress)).await;
    progress.finish();
    let summary = match imported {
        Ok(summary) => summary,
        Err(e) => {
            ledger.close().await;
            anyhow::bail!("cannot import {name} into {}: {e}", redacted(db));
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "imported {} rows from {name} into {} in {:.1} s ({:.0} rows/s){}; the store ends at position {} (hash {})",
        summary.imported,
        redacted(db),
        elapsed,
        summary.imported as f64 / elapsed.max(1e-9),
        if summary.skipped > 0 {
            format!(", skipped {} rows it already held", summary.skipped)
        } else {
            String::new()
        },
        summary.head,
        summary.head_hash
    );
    let report = ledger.verify().await?;
    ledger.close().await;
    println!("{report}");
    Ok(if report.problem.is_none() { 0 } else { 1 })
}

fn redacted(db: &str) -> String {
    crate::store::redact(db)
}
