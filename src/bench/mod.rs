//! `warroom bench`: figures for the store and the post-mortem, printed, never asserted.
//! Targets and figures live in docs/benchmarks.md; this only measures, on whatever machine it runs.

mod child;
pub mod ingest;
mod oncall;
mod outside;
mod portable;
pub mod replay;
mod web;

use crate::app::{event_id, Warroom};
use crate::config::Settings;
use crate::domain::contacts::mentions;
use crate::domain::event::{ChatMessage, Event, Recorded, SCHEMA_VERSION};
use crate::domain::postmortem;
use crate::domain::types::{IncidentNumber, Severity};
use crate::progress::{Progress, Unit};
use crate::store::baseline::{self, RawRow};
use crate::store::{ExpectedVersion, Ledger, NewEvent};
use anyhow::Context;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::time::{Duration as StdDuration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Parts to run, comma-separated: append, postmortem, rebuild, demo, ingest, export
    /// (export then import `--events` events), oncall (who is on call, every minute of a
    /// year), replay (`warroom replay` of a `--replay-lines` transcript), web (the console's
    /// page of a `--postmortem-events` incident).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "append,postmortem,rebuild,demo"
    )]
    pub parts: Vec<String>,
    /// Also bench PostgreSQL: an admin URL; the bench creates and drops its own database.
    #[arg(long, env = "WARROOM_BENCH_POSTGRES")]
    pub postgres: Option<String>,
    /// Events per append scenario, and in the export/import ledger.
    #[arg(long, default_value_t = 20_000)]
    pub events: usize,
    /// Events in the incident whose post-mortem is assembled.
    #[arg(long, default_value_t = 100_000)]
    pub postmortem_events: usize,
    /// Events in the ledger the projections are rebuilt from.
    #[arg(long, default_value_t = 1_000_000)]
    pub rebuild_events: usize,
    /// Lines of the transcript the replay part replays.
    #[arg(long, default_value_t = 100_000)]
    pub replay_lines: usize,
    /// Ingest: distinct alerts sent 100 per request (memory is read after them).
    #[arg(long, default_value_t = 300_000)]
    pub ingest_distinct: usize,
    /// Ingest: alerts sent one per request, per scenario.
    #[arg(long, default_value_t = 20_000)]
    pub ingest_single: usize,
    /// Ingest: alerts per second, each opening an incident, for the alert-to-page figure.
    #[arg(long, default_value_t = 1_000)]
    pub ingest_rate: usize,
    /// Ingest: seconds of the paced alert-to-page run.
    #[arg(long, default_value_t = 5)]
    pub ingest_seconds: usize,
    /// Ingest: the store of the `warroom serve` under load (default a temporary SQLite file).
    #[arg(long)]
    pub ingest_db: Option<String>,
    /// Ingest: Alertmanager binary to run the same load against (default Debian's, if
    /// installed).
    #[arg(long)]
    pub alertmanager: Option<String>,
    /// Ingest: scrape the server's /metrics once a second throughout, to measure what
    /// being scraped costs (compare with a run without).
    #[arg(long)]
    pub scrape_metrics: bool,
    /// Ingest: hold the console's live timeline of the storm's incident open throughout, as
    /// a browser would, to measure what an open page costs (compare with a run without).
    #[arg(long)]
    pub console_page: bool,
}

/// Runs the chosen parts and prints their figures.
pub async fn run(args: &BenchArgs) -> anyhow::Result<i32> {
    let wants = |p: &str| args.parts.iter().any(|x| x == p);
    println!(
        "warroom bench ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if wants("append") {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        append_suite("sqlite (file, WAL, synchronous=FULL)", &url, args.events).await?;
        raw_baseline(
            &format!("sqlite://{}", dir.path().join("raw.db").display()),
            args.events,
        )
        .await?;
        if let Some(admin) = &args.postgres {
            let url = baseline::create_database(admin)
                .await
                .context("cannot make a database on the PostgreSQL given by --postgres")?;
            append_suite("postgresql", &url, args.events).await?;
            raw_baseline(&url, args.events).await?;
            baseline::drop_database(admin, &url).await?;
        } else {
            println!("  (postgresql skipped: pass --postgres URL or set WARROOM_BENCH_POSTGRES)");
        }
    }
    if wants("postmortem") {
        postmortem_bench(args.postmortem_events)?;
        postmortem_command_bench(args.postmortem_events).await?;
    }
    if wants("rebuild") {
        rebuild_bench(args.rebuild_events).await?;
    }
    if wants("demo") {
        demo_rss()?;
    }
    if wants("replay") {
        replay::run(args.replay_lines, args.postgres.as_deref()).await?;
    }
    if wants("web") {
        web::run(args.postmortem_events).await?;
    }
    if wants("oncall") {
        oncall::run()?;
    }
    if wants("export") || wants("import") {
        portable::run(args.events, args.postgres.as_deref()).await?;
    }
    if wants("ingest") {
        let alertmanager = args.alertmanager.clone().or_else(|| {
            let debian = "/usr/bin/prometheus-alertmanager";
            std::path::Path::new(debian)
                .exists()
                .then(|| debian.to_string())
        });
        ingest::run(&ingest::IngestOptions {
            distinct_batched: args.ingest_distinct,
            single: args.ingest_single,
            paced_rate: args.ingest_rate,
            paced_seconds: args.ingest_seconds,
            db: args.ingest_db.clone(),
            postgres: args.postgres.clone(),
            alertmanager,
            scrape_metrics: args.scrape_metrics,
            console_page: args.console_page,
        })
        .await?;
    }
    Ok(0)
}

fn payload_text(i: usize) -> String {
    format!(
        "message {i}: checked the app servers, planthost1 and planthost2 are up, the endpoint still times out; \
         restarting the order processor next, will report back in five minutes !ghammer @khouse"
    )
}

fn message_event(key: &str, i: usize, at: DateTime<Utc>) -> NewEvent {
    let text = payload_text(i);
    let event = Event::MessagePosted(ChatMessage {
        channel: "ops".into(),
        message_id: Some(format!("m{i}")),
        author: "rpark".into(),
        mentions: mentions(&text),
        text,
        reply_to: None,
        attachments: vec![],
    });
    NewEvent {
        event_id: event_id(key, i),
        event_type: event.event_type().into(),
        schema_version: SCHEMA_VERSION,
        occurred_at: at,
        actor: "rpark".into(),
        payload: event.to_payload(),
    }
}

fn percentile(sorted: &[StdDuration], p: f64) -> StdDuration {
    if sorted.is_empty() {
        return StdDuration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn ms(d: StdDuration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// `writers` tasks each append `per_writer` events in appends of `batch` events; returns
/// events/s and the sorted latencies of the appends.
async fn append_run(
    ledger: &Ledger,
    tag: &str,
    writers: usize,
    total: usize,
    batch: usize,
) -> anyhow::Result<(f64, Vec<StdDuration>)> {
    let per_writer = total / writers;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let ledger = ledger.clone();
        let key = format!("bench:{tag}:{w}");
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_writer / batch + 1);
            let at = Utc::now();
            let mut i = 0;
            while i < per_writer {
                let n = batch.min(per_writer - i);
                let events: Vec<NewEvent> =
                    (i..i + n).map(|j| message_event(&key, j, at)).collect();
                let t = Instant::now();
                ledger
                    .append(&format!("channel-{key}"), ExpectedVersion::Any, events)
                    .await?;
                latencies.push(t.elapsed());
                i += n;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed();
    all.sort();
    Ok(((per_writer * writers) as f64 / elapsed.as_secs_f64(), all))
}

async fn append_suite(label: &str, url: &str, events: usize) -> anyhow::Result<()> {
    println!("\nappends on {label}, {events} events per run, ~300-byte payloads:");
    let ledger = Ledger::open(url).await?;
    let single = events.min(5_000);
    for (name, writers, total, batch) in [
        ("1 writer, 1 event per append", 1, single, 1),
        ("16 writers, 1 event per append", 16, events, 1),
        ("16 writers, 100 events per append", 16, events, 100),
    ] {
        let commits_before = ledger.stats().commits;
        let (rate, lat) =
            append_run(&ledger, &format!("{name}-{label}"), writers, total, batch).await?;
        let commits = ledger.stats().commits - commits_before;
        println!(
            "  {name:<36} {rate:>9.0} events/s   append p50 {}  p99 {}   ({} commits, {:.1} events/commit)",
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            commits,
            total as f64 / commits.max(1) as f64
        );
    }
    ledger.close().await;
    Ok(())
}

/// The raw sqlx batch insert of `events` rows on the store at `url`, printed: the ceiling
/// the ledger's appends are compared with.
async fn raw_baseline(url: &str, events: usize) -> anyhow::Result<()> {
    let rate = baseline::raw_insert_rate(url, &raw_rows(events)).await?;
    println!(
        "  raw sqlx multi-row INSERT, 1000 rows per transaction (baseline): {rate:>9.0} rows/s"
    );
    Ok(())
}

fn raw_rows(events: usize) -> Vec<RawRow> {
    let at = Utc::now();
    (0..events)
        .map(|i| {
            let e = message_event("raw", i, at);
            (
                i as i64 + 1,
                format!("channel-raw-{}", i % 16),
                e.event_id,
                e.payload.to_string(),
            )
        })
        .collect()
}

/// A long incident: opened, then `n - 1` messages with mentions and a few edits.
fn big_incident(n: usize) -> Vec<Recorded> {
    let start = Utc.with_ymd_and_hms(2021, 3, 9, 9, 15, 0).unwrap();
    let authors = [
        "svega", "bsparrow", "ghammer", "hammer", "khouse", "gtree", "rpark", "stranger",
    ];
    let mut records = vec![Recorded {
        event_id: event_id("pm", 0),
        position: 1,
        at: start,
        actor: "rpark".into(),
        event: Event::IncidentOpened {
            number: IncidentNumber(1),
            title: "Application outage".into(),
            severity: Severity::Sev1,
            channel: "ops".into(),
        },
    }];
    for i in 1..n {
        let at = start + Duration::milliseconds(i as i64 * 50);
        let event = if i % 50 == 0 {
            Event::MessageEdited {
                channel: "ops".into(),
                message_id: format!("m{}", i - 1),
                before: None,
                after: payload_text(i),
                found_at: None,
            }
        } else {
            let text = payload_text(i);
            Event::MessagePosted(ChatMessage {
                channel: "ops".into(),
                message_id: Some(format!("m{i}")),
                author: authors[i % authors.len()].into(),
                mentions: mentions(&text),
                text,
                reply_to: None,
                attachments: vec![],
            })
        };
        records.push(Recorded {
            event_id: event_id("pm", i),
            position: i as i64 + 1,
            at,
            actor: authors[i % authors.len()].into(),
            event,
        });
    }
    records
}

fn postmortem_bench(n: usize) -> anyhow::Result<()> {
    let settings = Settings::example()?;
    let records = big_incident(n);
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let pm = postmortem::assemble(&records, &settings.directory, settings.timezone)?;
        bytes = postmortem::render_markdown(&pm).len();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "\npost-mortem of a {n}-event incident (assemble + Markdown, {:.1} MB out): median {}, best {}",
        bytes as f64 / 1e6,
        ms(times[2]),
        ms(times[0])
    );
    Ok(())
}

/// Times `warroom postmortem` as a user runs it, a child process each time, on a SQLite
/// ledger holding one incident of `n` events, and reads the child's own peak RSS.
async fn postmortem_command_bench(n: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("postmortem.db").display());
    write_big_incident(&url, n, "writing the post-mortem's incident").await?;
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(child_run(
            dir.path(),
            &["postmortem", "INC-1", "--db", &url],
        )?);
    }
    runs.sort_by_key(|(elapsed, _)| *elapsed);
    let peak_kb = runs.iter().map(|(_, kb)| *kb).max().unwrap_or(0);
    println!(
        "  `warroom postmortem INC-1` on that incident (whole process): median {}, min {}, max {}; peak RSS {:.1} MB",
        ms(runs[2].0),
        ms(runs[0].0),
        ms(runs[4].0),
        peak_kb as f64 / 1024.0
    );
    Ok(())
}

/// Writes INC-1 of `n` events, as an outage that long would have them, into the store at `url`.
async fn write_big_incident(url: &str, n: usize, what: &str) -> anyhow::Result<()> {
    let ledger = Ledger::open(url).await?;
    let records = big_incident(n);
    let progress = Progress::start(what, Unit::Items("events"), Some(records.len() as u64));
    for chunk in records.chunks(1000) {
        let events = chunk
            .iter()
            .map(|r| NewEvent {
                event_id: r.event_id,
                event_type: r.event.event_type().into(),
                schema_version: SCHEMA_VERSION,
                occurred_at: r.at,
                actor: r.actor.clone(),
                payload: r.event.to_payload(),
            })
            .collect();
        ledger
            .append(&IncidentNumber(1).stream_id(), ExpectedVersion::Any, events)
            .await?;
        progress.add(chunk.len() as u64);
    }
    progress.finish();
    ledger.close().await;
    Ok(())
}

/// Runs this binary with `args` as a child, its output discarded, and returns its wall
/// time and the peak resident memory it reports of itself. (The parent's
/// `RUSAGE_CHILDREN` would count the pages a forked child shares with this process until
/// it execs, so it would report the bench's own size.) It runs in `dir`, where no
/// `warroom.toml` or `commands/` of the bench's own working directory can change it.
fn child_run(dir: &std::path::Path, args: &[&str]) -> anyhow::Result<(StdDuration, u64)> {
    let exe = std::env::current_exe()?;
    let t = Instant::now();
    let out = std::process::Command::new(exe)
        .args(args)
        .current_dir(dir)
        .env(PRINT_PEAK_RSS, "1")
        .stdout(std::process::Stdio::null())
        .output()?;
    let elapsed = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        out.status.success(),
        "warroom {} failed: {stderr}",
        args.join(" ")
    );
    let kb = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak RSS: "))
        .and_then(|v| v.trim_end_matches(" kB").parse().ok())
        .with_context(|| format!("warroom {} did not report its peak RSS", args.join(" ")))?;
    Ok((elapsed, kb))
}

async fn rebuild_bench(n: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("rebuild.db").display());
    let ledger = Ledger::open(&url).await?;
    let t = Instant::now();
    fill_incidents(&ledger, n, "rebuild").await?;
    let written = n;
    println!(
        "\nprojection rebuild: wrote {written} events in {:.1} s to set up",
        t.elapsed().as_secs_f64()
    );
    let rss_before = peak_rss_kb();
    let t = Instant::now();
    let warroom = Warroom::start(ledger.clone(), Settings::example()?).await?;
    let elapsed = t.elapsed();
    let incidents = warroom.incidents().await?.len();
    println!(
        "  rebuilt projections from {written} events ({incidents} incidents) in {:.2} s = {:.0} events/s; peak RSS {} MB (was {} MB)",
        elapsed.as_secs_f64(),
        written as f64 / elapsed.as_secs_f64(),
        peak_rss_kb() / 1024,
        rss_before / 1024
    );
    drop(warroom);
    ledger.close().await;
    readonly_commands(
        dir.path(),
        &url,
        IncidentNumber((written as u64).div_ceil(1000)),
    )?;
    Ok(())
}

/// Times `warroom postmortem` and `warroom timeline` as a user runs them, a child process
/// each, on the ledger at `url`: they read one stream, whatever the ledger's size. Then
/// `warroom incidents`, which rebuilds the projection as every read-only command did before
/// they read only their streams. They run in `dir`, as `child_run` explains.
fn readonly_commands(
    dir: &std::path::Path,
    url: &str,
    incident: IncidentNumber,
) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let number = incident.to_string();
    let commands: [&[&str]; 3] = [
        &["postmortem", &number],
        &["timeline", &number],
        &["incidents"],
    ];
    for command in commands {
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let out = std::process::Command::new(&exe)
                .args(command)
                .args(["--db", url])
                .current_dir(dir)
                .stdout(std::process::Stdio::null())
                .output()?;
            times.push(t.elapsed());
            anyhow::ensure!(
                out.status.success(),
                "warroom {} failed: {}",
                command.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        times.sort();
        println!(
            "  `warroom {}` on that ledger (whole process): median {}, min {}, max {}",
            command.join(" "),
            ms(times[2]),
            ms(times[0]),
            ms(times[4])
        );
    }
    Ok(())
}

/// Set in a child's environment to make `warroom` print its own peak RSS when it exits.
pub const PRINT_PEAK_RSS: &str = "WARROOM_PRINT_PEAK_RSS";

/// Runs `warroom demo` as a child, which reports its own peak resident memory.
fn demo_rss() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (elapsed, kb) = child_run(dir.path(), &["demo"])?;
    println!(
        "\ndemo: peak RSS {:.1} MB, wall time {}",
        kb as f64 / 1024.0,
        ms(elapsed)
    );
    Ok(())
}

/// This process's peak resident memory (VmHWM), in KiB.
pub fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// `n` events in incidents of 1000 (an opening and chat messages), one append each, with
/// event ids keyed by `prefix`.
pub(crate) async fn fill_incidents(ledger: &Ledger, n: usize, prefix: &str) -> anyhow::Result<()> {
    let start = Utc.with_ymd_and_hms(2021, 3, 9, 9, 15, 0).unwrap();
    let progress = Progress::start(
        format!("writing {prefix} incidents"),
        Unit::Items("events"),
        Some(n as u64),
    );
    let mut written = 0;
    let mut incident = 0u64;
    while written < n {
        incident += 1;
        let number = IncidentNumber(incident);
        let key = format!("{prefix}:{incident}");
        let count = 1000.min(n - written);
        let opened = Event::IncidentOpened {
            number,
            title: format!("Incident {incident}"),
            severity: Severity::Sev2,
            channel: format!("inc-{incident}"),
        };
        let mut events = vec![NewEvent {
            event_id: event_id(&key, 0),
            event_type: opened.event_type().into(),
            schema_version: SCHEMA_VERSION,
            occurred_at: start,
            actor: "rpark".into(),
            payload: opened.to_payload(),
        }];
        events.extend((1..count).map(|i| message_event(&key, i, start)));
        ledger
            .append(&number.stream_id(), ExpectedVersion::NoStream, events)
            .await?;
        written += count;
        progress.add(count as u64);
    }
    progress.finish();
    Ok(())
}
