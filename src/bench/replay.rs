//! `warroom bench --parts replay`: `warroom replay` of a long generated transcript, run the way
//! an operator runs it (a child process), into a fresh SQLite file and, with `--postgres`, a
//! fresh PostgreSQL database: lines a second the first time, then again when every line is
//! already recorded (a replay is idempotent), with the child's peak memory.

use super::{child_run, ms};
use crate::store::baseline;
use anyhow::Context;
use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use std::fmt::Write as _;

/// A transcript of `lines` lines like a long incident's chat: an incident opened in #ops by
/// command, then messages in #ops (bound to it) and #general (bound to none), one a second.
/// Every 10th #ops message answers one three lines before; every 500th line is a reply in
/// #general and every 250th an edit, which each wait for the lines before them; every
/// 5,000th a delete.
pub fn transcript(lines: usize) -> String {
    let start = Utc.with_ymd_and_hms(2021, 3, 9, 9, 0, 0).unwrap();
    let authors = ["rpark", "svega", "bsparrow", "ghammer", "khouse", "gtree"];
    let mut out = String::with_capacity(lines * 220);
    let mut push = |value: serde_json::Value| {
        let _ = writeln!(out, "{value}");
    };
    push(json!({
        "at": start.to_rfc3339(), "from": "rpark", "channel": "ops",
        "text": "/incident open title:\"Bench outage\"",
    }));
    for i in 1..lines {
        let at = (start + Duration::seconds(i as i64)).to_rfc3339();
        let from = authors[i % authors.len()];
        let channel = if i % 3 == 0 { "general" } else { "ops" };
        let line = if i % 5000 == 0 {
            json!({"at": at, "from": from, "channel": "ops", "deletes": format!("m{}", i - 2)})
        } else if i % 250 == 0 {
            json!({
                "at": at, "from": from, "channel": "ops", "edits": format!("m{}", i - 1),
                "text": format!("(edited) line {i}: the order processor is back, error rate falling"),
            })
        } else {
            let mut message = json!({
                "at": at, "from": from, "channel": channel, "id": format!("m{i}"),
                "text": format!(
                    "line {i}: checked planthost1 and planthost2, both up; the endpoint still times out, restarting the order processor next @{}",
                    authors[(i + 1) % authors.len()]
                ),
            });
            let answers =
                (channel == "ops" && i % 10 == 1) || (channel == "general" && i % 500 == 0);
            if answers && i > 3 {
                message["reply_to"] = json!(format!("m{}", i - 3));
            }
            message
        };
        push(line);
    }
    out
}

/// Runs the replay part on SQLite and, given an admin URL, on PostgreSQL.
pub async fn run(lines: usize, postgres: Option<&str>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bench-transcript.jsonl");
    std::fs::write(&file, transcript(lines))?;
    println!("\nreplay: `warroom replay` of a {lines}-line transcript (a child process, --quiet)");
    let sqlite = format!("sqlite://{}", dir.path().join("replay.db").display());
    replay_twice("sqlite", &sqlite, dir.path(), &file, lines)?;
    if let Some(admin) = postgres {
        let url = baseline::create_database(admin)
            .await
            .context("cannot make a database on the PostgreSQL given by --postgres")?;
        let result = replay_twice("postgresql", &url, dir.path(), &file, lines);
        baseline::drop_database(admin, &url).await?;
        result?;
    } else {
        println!("  (postgresql skipped: pass --postgres URL or set WARROOM_BENCH_POSTGRES)");
    }
    Ok(())
}

fn replay_twice(
    backend: &str,
    url: &str,
    dir: &std::path::Path,
    file: &std::path::Path,
    lines: usize,
) -> anyhow::Result<()> {
    let file = file.to_string_lossy();
    for pass in ["new", "again, every line already recorded"] {
        let (elapsed, kb) = child_run(dir, &["replay", &file, "--quiet", "--db", url])?;
        println!(
            "  {backend:<11} {pass:<37} {:>8.0} lines/s  ({} in all, peak RSS {:.1} MB)",
            lines as f64 / elapsed.as_secs_f64(),
            ms(elapsed),
            kb as f64 / 1024.0
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::app::transcript;

    #[test]
    fn the_bench_transcript_is_one_a_replay_takes() {
        let text = super::transcript(12_000);
        let lines = transcript::parse(&text).expect("a valid transcript");
        assert_eq!(lines.len(), 12_000);
    }
}
