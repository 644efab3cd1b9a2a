//! `warroom bench --parts ingest`: drives `warroom serve` (a child process, so its memory is
//! its own) over loopback with 16 connections, the way Alertmanager delivers: 1 and 100
//! alerts per request, distinct and repeated; then paces alerts that each open an incident
//! and times alert to first page at a webhook pager. When an Alertmanager binary is found,
//! its own `POST /api/v2/alerts` gets the same load in the same run, for comparison.

use super::child::{free_port, ChildGuard};
use super::outside::{start_pager, start_push, PagesSeen, Sender};
use super::{ms, percentile};
use crate::progress::{Progress, Unit};
use anyhow::Context;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token";
const CONNECTIONS: usize = 16;

/// Options of the ingest part.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Distinct alerts sent in batches of 100 (the memory figure is read after them).
    pub distinct_batched: usize,
    /// Alerts sent one per request, per scenario.
    pub single: usize,
    /// Alerts per second and seconds of the alert-to-page run.
    pub paced_rate: usize,
    pub paced_seconds: usize,
    /// The store `warroom serve` uses; a temporary SQLite file when `None`.
    pub db: Option<String>,
    /// A PostgreSQL server (admin URL) to run the same load on as well, in a database of its
    /// own made for the run and dropped after it.
    pub postgres: Option<String>,
    /// An Alertmanager binary to compare with.
    pub alertmanager: Option<String>,
    /// Scrape `/metrics` once a second while the load runs.
    pub scrape_metrics: bool,
    /// Holds the console's live timeline of the storm's incident open throughout.
    pub console_page: bool,
}

/// Resident and peak resident memory of a process, in MB.
fn memory_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Sends `requests` bodies made by `body(i)` over `CONNECTIONS` concurrent connections;
/// returns the wall time and the sorted request latencies. Any non-2xx answer fails.
async fn drive(
    client: &Sender,
    url: &str,
    bearer: Option<&str>,
    requests: usize,
    body: Arc<dyn Fn(usize) -> Vec<u8> + Send + Sync>,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let next = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(Progress::start(
        format!("posting to {url}"),
        Unit::Items("requests"),
        Some(requests as u64),
    ));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, url, next, body, progress) = (
            client.clone(),
            url.to_string(),
            next.clone(),
            body.clone(),
            progress.clone(),
        );
        let bearer = bearer.map(str::to_string);
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let t = Instant::now();
                client.post_json(&url, bearer.as_deref(), body(i)).await?;
                latencies.push(t.elapsed());
                progress.add(1);
            }
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await??);
    }
    let elapsed = started.elapsed();
    progress.finish();
    all.sort();
    Ok((elapsed, all))
}

fn webhook_alert(name: &str, instance: &str, summary: &str, fingerprint: &str) -> Value {
    json!({
        "status": "firing",
        "labels": {"alertname": name, "instance": instance, "severity": "critical", "job": "bench"},
        "annotations": {"summary": summary},
        "startsAt": "2030-01-01T00:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.bench/graph",
        "fingerprint": fingerprint,
    })
}

fn webhook_body(alerts: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": "4", "status": "firing", "receiver": "warroom", "groupKey": "{}:{alertname=\"BenchStorm\"}",
        "truncatedAlerts": 0, "groupLabels": {"alertname": "BenchStorm"}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://alertmanager.bench", "alerts": alerts,
    }))
    .expect("JSON")
}

fn am_api_body(alerts: Vec<(String, String)>) -> Vec<u8> {
    // Alertmanager refuses alerts that start in the future relative to their end.
    let now = chrono::Utc::now().to_rfc3339();
    let alerts: Vec<Value> = alerts
        .into_iter()
        .map(|(name, instance)| {
            json!({
                "labels": {"alertname": name, "instance": instance, "severity": "critical", "job": "bench"},
                "annotations": {"summary": format!("{instance} is failing")},
                "startsAt": now,
                "generatorURL": "http://prometheus.bench/graph",
            })
        })
        .collect();
    serde_json::to_vec(&alerts).expect("JSON")
}

/// A scenario: how many requests of how many alerts, distinct or one alert repeated.
struct Scenario {
    label: &'static str,
    requests: usize,
    per_request: usize,
    distinct: bool,
}

fn report(target: &str, s: &Scenario, elapsed: Duration, latencies: &[Duration]) -> f64 {
    let alerts = s.requests * s.per_request;
    let rate = alerts as f64 / elapsed.as_secs_f64();
    println!(
        "  {target:<12} {:<28} {:>8} alerts  {:>9.0} alerts/s  request p50 {}  p99 {}",
        s.label,
        alerts,
        rate,
        ms(percentile(latencies, 0.50)),
        ms(percentile(latencies, 0.99)),
    );
    rate
}

/// The server's group-commit and append counters, read from `/metrics`: what a scenario's
/// throughput is made of (commits a second, events per commit, time an append waits).
#[derive(Debug, Default, Clone, Copy)]
struct CommitCounters {
    commits: f64,
    events: f64,
    appends: f64,
    append_seconds: f64,
}

async fn commit_counters(client: &Sender, base: &str) -> anyhow::Result<CommitCounters> {
    let text = client.get_text(&format!("{base}/metrics")).await?;
    let value = |name: &str| -> anyhow::Result<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .with_context(|| format!("{name} is missing from /metrics"))?
            .trim()
            .parse::<f64>()
            .with_context(|| format!("{name} in /metrics is not a number"))
    };
    Ok(CommitCounters {
        commits: value("warroom_group_commit_batch_size_count")?,
        events: value("warroom_group_commit_batch_size_sum")?,
        appends: value("warroom_append_seconds_count")?,
        append_seconds: value("warroom_append_seconds_sum")?,
    })
}

/// Commits a second, events per commit and the mean append wait over one scenario: with
/// durable commits, the alerts a second one-alert requests reach is about the connections
/// divided by the append wait.
fn report_commits(before: &CommitCounters, after: &CommitCounters, elapsed: Duration) {
    let commits = after.commits - before.commits;
    let appends = after.appends - before.appends;
    if commits < 1.0 || appends < 1.0 {
        return;
    }
    println!(
        "  {:<12} {:<28} {:>8.0} commits/s  {:>6.1} events/commit  append wait mean {:.3} ms",
        "",
        "  store",
        commits / elapsed.as_secs_f64(),
        (after.events - before.events) / commits,
        (after.append_seconds - before.append_seconds) / appends * 1000.0,
    );
}

/// The scenarios every target gets, in order.
fn scenarios(options: &IngestOptions) -> [Scenario; 4] {
    [
        Scenario {
            label: "distinct, 1 per request",
            requests: options.single,
            per_request: 1,
            distinct: true,
        },
        Scenario {
            label: "repeated, 1 per request",
            requests: options.single,
            per_request: 1,
            distinct: false,
        },
        Scenario {
            label: "repeated, 100 per request",
            requests: options.single / 100,
            per_request: 100,
            distinct: false,
        },
        Scenario {
            label: "distinct, 100 per request",
            requests: options.distinct_batched / 100,
            per_request: 100,
            distinct: true,
        },
    ]
}

/// What one target did: alerts a second per scenario, and for warroom the alert → first page
/// p99 with every alert opening an incident.
#[derive(Debug, Default)]
struct Figures {
    rates: Vec<f64>,
    page_p99: Option<Duration>,
}

/// The webhook pager and the push server every warroom run pages through.
struct Outside {
    pager: std::net::SocketAddr,
    pages: PagesSeen,
    push: std::net::SocketAddr,
    pushed: PagesSeen,
}

/// Runs the ingest benchmark: warroom on SQLite (or `--ingest-db`), on PostgreSQL when given,
/// then Alertmanager; and a table of the three side by side with ratios.
pub async fn run(options: &IngestOptions) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let client = Sender::new(CONNECTIONS)?;
    // The pager: a webhook receiver that notes when each incident's page arrives.
    let (pager, pages) = start_pager().await?;
    // The push server: the paged person's first notification rule, push at once.
    let (push, pushed) = start_push().await?;
    let outside = Outside {
        pager,
        pages,
        push,
        pushed,
    };
    let db = options
        .db
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", work.path().join("ingest.db").display()));
    let first_label = if options.db.is_some() {
        "as given"
    } else {
        "SQLite"
    };
    let first = load_warroom(options, &client, &outside, &db, first_label, work.path()).await?;
    let second = match &options.postgres {
        Some(admin) => {
            let url = crate::store::baseline::create_database(admin)
                .await
                .context("cannot make a database on the PostgreSQL given by --postgres")?;
            let figures =
                load_warroom(options, &client, &outside, &url, "PostgreSQL", work.path()).await;
            crate::store::baseline::drop_database(admin, &url).await?;
            Some(figures?)
        }
        None => {
            println!("  (warroom on PostgreSQL skipped: pass --postgres URL)");
            None
        }
    };
    let am = match &options.alertmanager {
        Some(binary) => {
            Some(alertmanager(&client, binary, &scenarios(options), work.path()).await?)
        }
        None => {
            println!("  (Alertmanager comparison skipped: no binary; pass --alertmanager PATH)");
            None
        }
    };
    print_table(
        &scenarios(options),
        (first_label, &first),
        second.as_ref(),
        am.as_ref(),
    );
    Ok(())
}

/// The figures side by side, each warroom rate with its ratio to Alertmanager's in this run.
fn print_table(
    scenarios: &[Scenario],
    (first_label, first): (&str, &Figures),
    postgres: Option<&Figures>,
    am: Option<&Figures>,
) {
    let cell = |figures: Option<&Figures>, i: usize| -> String {
        let Some(rate) = figures.and_then(|f| f.rates.get(i)) else {
            return "—".into();
        };
        match am.and_then(|a| a.rates.get(i)).filter(|r| **r > 0.0) {
            Some(base) => format!("{:.1}k ({:.2}×)", rate / 1000.0, rate / base),
            None => format!("{:.1}k", rate / 1000.0),
        }
    };
    println!(
        "
  | scenario | Alertmanager alerts/s | warroom {first_label} | warroom PostgreSQL |"
    );
    println!("  |---|---|---|---|");
    for (i, s) in scenarios.iter().enumerate() {
        let base = am
            .and_then(|a| a.rates.get(i))
            .map_or("—".to_string(), |r| format!("{:.1}k", r / 1000.0));
        println!(
            "  | {} | {base} | {} | {} |",
            s.label,
            cell(Some(first), i),
            cell(postgres, i)
        );
    }
    let p99 = |f: Option<&Figures>| f.and_then(|f| f.page_p99).map_or("—".into(), ms);
    println!(
        "  | alert → first page p99, every alert a new incident | | {} | {} |",
        p99(Some(first)),
        p99(postgres)
    );
}

/// Starts `warroom serve` on `db` and drives every scenario and the paced runs against it.
async fn load_warroom(
    options: &IngestOptions,
    client: &Sender,
    outside: &Outside,
    db: &str,
    store: &str,
    work: &std::path::Path,
) -> anyhow::Result<Figures> {
    let (receiver_addr, push_addr) = (outside.pager, outside.push);
    let port = free_port()?;
    let config = work.join(format!("bench-{port}.toml"));
    let (cookie, web) = if options.console_page {
        let (cookie, section) = super::web::console_web(work)?;
        (Some(cookie), section)
    } else {
        (None, String::new())
    };
    std::fs::write(
        &config,
        format!(
            r#"
{web}
[http]
listen = "127.0.0.1:{port}"
[alerts]
max_body_kib = 4096
[alerts.sources.alertmanager]
auth = "bearer"
secret_env = "WARROOM_BENCH_TOKEN"
[[teams]]
name = "Bench"
[[contacts]]
handle = "oncall"
name = "On Call"
team = "Bench"
push_topic = "bench-oncall"
notify = [{{ method = "push", after_minutes = 0 }}]
[notifications.ntfy]
url = "http://{push_addr}"
# Distinct alerts of one storm: one incident, every alert joins it.
[[routes]]
name = "storm"
match = {{ alertname = "BenchStorm" }}
title = "Bench alert storm"
severity = "sev2"
auto_open = true
group_by = ["alertname"]
# Each alert its own incident, paged at once: alert to first page.
[[routes]]
name = "page"
match = {{ alertname = "BenchPage" }}
severity = "sev1"
auto_open = true
escalation = "page-now"
group_by = ["instance"]
[[escalations]]
name = "page-now"
steps = [{{ targets = ["@oncall"], wait_minutes = 60 }}]
[[pagers]]
name = "bench-webhook"
kind = "webhook"
url = "http://{receiver_addr}/page"
targets = ["!Bench"]
"#
        ),
    )?;
    let exe = std::env::current_exe()?;
    let child = Command::new(exe)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(db)
        .env("WARROOM_BENCH_TOKEN", TOKEN)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start warroom serve")?;
    let warroom = ChildGuard(child);
    let pid = warroom.0.id();
    let base = format!("http://127.0.0.1:{port}");
    client.wait_ready(&format!("{base}/healthz")).await?;
    let scrapes = Arc::new(AtomicUsize::new(0));
    let scraper = options.scrape_metrics.then(|| {
        let (client, url, scrapes) = (client.clone(), format!("{base}/metrics"), scrapes.clone());
        // What a Prometheus server does, at an aggressive interval: one GET a second.
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if client.get_text(&url).await.is_ok() {
                    scrapes.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    });
    // A browser's page on the storm's incident (INC-1, which every storm alert joins):
    // every event of the storm is rendered and streamed to it.
    let page =
        cookie.map(|cookie| client.follow_live(format!("{base}/incidents/1/live?after=0"), cookie));
    let url = format!("{base}/v1/alerts/alertmanager");
    println!(
        "\ningest: warroom serve (pid {pid}, store {store}) over loopback, {CONNECTIONS} connections"
    );
    let mut figures = Figures::default();
    let scenarios = scenarios(options);
    let offset = Arc::new(AtomicUsize::new(0));
    for s in &scenarios {
        let (per, distinct) = (s.per_request, s.distinct);
        let base_index = offset.fetch_add(s.requests * per, Ordering::Relaxed);
        let body: Arc<dyn Fn(usize) -> Vec<u8> + Send + Sync> = Arc::new(move |i| {
            webhook_body(
                (0..per)
                    .map(|k| {
                        let n = if distinct {
                            base_index + i * per + k
                        } else {
                            k
                        };
                        let instance = format!("host-{n}");
                        webhook_alert("BenchStorm", &instance, "bench storm", &format!("{n:016x}"))
                    })
                    .collect(),
            )
        });
        let before = commit_counters(client, &base).await?;
        let (elapsed, latencies) = drive(client, &url, Some(TOKEN), s.requests, body).await?;
        let after = commit_counters(client, &base).await?;
        figures
            .rates
            .push(report("warroom", s, elapsed, &latencies));
        report_commits(&before, &after, elapsed);
    }
    let (rss, peak) = memory_mb(pid);
    println!(
        "  warroom memory after {} distinct alerts: RSS {rss:.1} MB, peak {peak:.1} MB",
        options.single + options.distinct_batched
    );

    // Alert to first page, paced: every alert opens an incident (the worst case), then a
    // storm in which one alert in 20 is new and pages while the rest join an incident.
    for (every, what) in [
        (1, "every alert a new incident"),
        (20, "1 in 20 a new incident"),
    ] {
        // A run the server could not keep up with is a figure too: said, and the rest runs.
        match paced(
            client,
            &url,
            (&outside.pages, &outside.pushed),
            options,
            every,
            what,
        )
        .await
        {
            Ok(p99) if every == 1 => figures.page_p99 = p99,
            Ok(_) => {}
            Err(e) => println!("  warroom alert → first page, {what}: failed: {e:#}"),
        }
    }
    let (rss, peak) = memory_mb(pid);
    println!("  warroom memory at the end: RSS {rss:.1} MB, peak {peak:.1} MB");
    if let Some((task, lines)) = page {
        // The page gets what commits within moments: wait until its count settles.
        let mut seen = lines.load(Ordering::Relaxed);
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = lines.load(Ordering::Relaxed);
            if now == seen {
                break;
            }
            seen = now;
        }
        task.abort();
        println!(
            "  the console's live timeline of INC-1 was open throughout: {} lines streamed to it",
            lines.load(Ordering::Relaxed)
        );
    }
    if let Some(scraper) = scraper {
        scraper.abort();
        println!(
            "  /metrics scraped {} times (once a second) during the run",
            scrapes.load(Ordering::Relaxed)
        );
    }
    drop(warroom);
    Ok(figures)
}

/// Sends `rate` alerts per second for `seconds`; every `every`-th opens an incident that
/// pages a person at once, and the time from sending it to the page reaching the webhook,
/// and to the person's first notification (push) reaching the push server, is taken.
async fn paced(
    client: &Sender,
    url: &str,
    (pages, pushed): (&PagesSeen, &PagesSeen),
    options: &IngestOptions,
    every: usize,
    what: &str,
) -> anyhow::Result<Option<Duration>> {
    let total = options.paced_rate * options.paced_seconds;
    let interval = Duration::from_secs_f64(1.0 / options.paced_rate as f64);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut sent: Vec<(String, Instant)> = Vec::new();
    let mut in_flight = Vec::with_capacity(total);
    let started = Instant::now();
    for i in 0..total {
        tokio::time::sleep_until((started + interval * i as u32).into()).await;
        let body = if i % every == 0 {
            let id = format!("page-{run}-{i}");
            sent.push((format!("BenchPage: {id}"), Instant::now()));
            webhook_body(vec![webhook_alert(
                "BenchPage",
                &format!("host-{id}"),
                &id,
                &id,
            )])
        } else {
            let id = format!("storm-{run}-{i}");
            webhook_body(vec![webhook_alert("BenchStorm", &id, "bench storm", &id)])
        };
        let (client, url) = (client.clone(), url.to_string());
        in_flight.push(tokio::spawn(async move {
            client.post_json(&url, Some(TOKEN), body).await
        }));
    }
    for f in in_flight {
        f.await?.context("a paced alert was refused")?;
    }
    let mut first_page_p99 = None;
    for (seen, arrival) in [(pages, "first page"), (pushed, "first notification (push)")] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let have = {
                let received = seen.lock().expect("arrivals lock");
                sent.iter()
                    .filter(|(t, _)| received.contains_key(t))
                    .count()
            };
            if have == sent.len() || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let received = seen.lock().expect("arrivals lock").clone();
        let mut latencies: Vec<Duration> = sent
            .iter()
            .filter_map(|(title, at)| received.get(title).map(|r| r.duration_since(*at)))
            .collect();
        latencies.sort();
        if first_page_p99.is_none() && !latencies.is_empty() {
            first_page_p99 = Some(percentile(&latencies, 0.99));
        }
        println!(
            "  warroom alert → {arrival}, {} alerts/s for {} s, {what}: {} of {} reached, p50 {}  p99 {}  max {}",
            options.paced_rate,
            options.paced_seconds,
            latencies.len(),
            sent.len(),
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.99)),
            ms(latencies.last().copied().unwrap_or_default()),
        );
    }
    Ok(first_page_p99)
}

/// The same load on Alertmanager's own API, which holds alerts in memory only.
async fn alertmanager(
    client: &Sender,
    binary: &str,
    scenarios: &[Scenario],
    dir: &std::path::Path,
) -> anyhow::Result<Figures> {
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n",
    )?;
    let port = free_port()?;
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {binary}"))?;
    let am = ChildGuard(child);
    let base = format!("http://127.0.0.1:{port}");
    client.wait_ready(&format!("{base}/-/ready")).await?;
    let url = format!("{base}/api/v2/alerts");
    println!(
        "  alertmanager: {binary} (pid {}), same load on POST /api/v2/alerts",
        am.0.id()
    );
    let mut figures = Figures::default();
    let offset = Arc::new(AtomicUsize::new(0));
    for s in scenarios {
        let (per, distinct) = (s.per_request, s.distinct);
        let base_index = offset.fetch_add(s.requests * per, Ordering::Relaxed);
        let body: Arc<dyn Fn(usize) -> Vec<u8> + Send + Sync> = Arc::new(move |i| {
            am_api_body(
                (0..per)
                    .map(|k| {
                        let n = if distinct {
                            base_index + i * per + k
                        } else {
                            k
                        };
                        ("BenchStorm".to_string(), format!("host-{n}"))
                    })
                    .collect(),
            )
        });
        let (elapsed, latencies) = drive(client, &url, None, s.requests, body).await?;
        figures
            .rates
            .push(report("alertmanager", s, elapsed, &latencies));
    }
    let (rss, peak) = memory_mb(am.0.id());
    println!("  alertmanager memory: RSS {rss:.1} MB, peak {peak:.1} MB");
    Ok(figures)
}
