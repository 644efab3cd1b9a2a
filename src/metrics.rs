//! Process metrics for `GET /metrics`: one registry (the `prometheus-client` crate, which
//! also writes the exposition) and typed handles the rest of the code bumps in one line.
//!
//! The registry is process-global ([`get`]): the store's writer, the alert intake, the page
//! worker, the agents' door and the Discord handler all report into it without a handle
//! being threaded through them. Tests that run several servers in one process share it,
//! so they assert presence and deltas, never absolute values.
//!
//! Gauges that describe state another module already keeps (incidents open, agents
//! connected) are computed when scraped, not maintained on every change, so the hot paths
//! pay nothing for them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The `Content-Type` of what [`Metrics::encode`] writes (Prometheus text, version 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// An agent counts as connected while it has a poll or report in flight, or sent one within
/// this window: a held poll lasts at most 30 s and an agent busy with a job sends a heartbeat
/// every 10 s, so a live agent is never outside it.
pub const AGENT_WINDOW: Duration = Duration::from_secs(45);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    source: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PageLabels {
    notifier: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckpointLabels {
    hash: String,
    signature: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    runbook: String,
    outcome: String,
}

/// What is known of one agent's requests.
#[derive(Debug, Clone, Copy)]
struct AgentSeen {
    in_flight: u32,
    last: Instant,
}

/// The registry and every metric warroom exports.
pub struct Metrics {
    registry: Registry,
    events_appended: Counter,
    append_seconds: Histogram,
    batch_size: Histogram,
    alerts_received: Family<AlertLabels, Counter>,
    incidents_open: Gauge,
    pages: Family<PageLabels, Counter>,
    jobs: Family<JobLabels, Counter>,
    agents_connected: Gauge,
    discord_connected: Gauge,
    leader: Gauge,
    checkpoint_position: Gauge,
    checkpoint: Family<CheckpointLabels, Gauge>,
    agents: Mutex<HashMap<String, AgentSeen>>,
}

/// The process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("warroom");
        let events_appended = Counter::default();
        registry.register(
            "events_appended",
            "Events this process's store writer committed to the ledger",
            events_appended.clone(),
        );
        // 100 µs … 3.3 s: an fsync'd SQLite commit is about 1 ms, a slow disk or a busy
        // PostgreSQL a few hundred.
        let append_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "append_seconds",
            "Time from an append being asked to it being durable (queue wait and group commit)",
            append_seconds.clone(),
        );
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "group_commit_batch_size",
            "Events written by one group commit",
            batch_size.clone(),
        );
        let alerts_received = Family::<AlertLabels, Counter>::default();
        registry.register(
            "alerts_received",
            "Alerts received from senders, by source and alert status (firing, resolved)",
            alerts_received.clone(),
        );
        let incidents_open = Gauge::default();
        registry.register(
            "incidents_open",
            "Incidents whose status is open (neither resolved nor closed)",
            incidents_open.clone(),
        );
        let pages = Family::<PageLabels, Counter>::default();
        registry.register(
            "pages",
            "Page delivery attempts by pager (notifier) and outcome: delivered, failed (retried), refused, gave_up (once per page abandoned)",
            pages.clone(),
        );
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register(
            "jobs",
            "Runbook runs ended, by runbook and outcome: succeeded, failed, timed_out, refused, lost, stale",
            jobs.clone(),
        );
        let agents_connected = Gauge::default();
        registry.register(
            "agents_connected",
            "Agents with a poll or report in flight here, or one within the last 45 s",
            agents_connected.clone(),
        );
        let discord_connected = Gauge::default();
        registry.register(
            "discord_gateway_connected",
            "1 while this process's Discord gateway session is connected",
            discord_connected.clone(),
        );
        let leader = Gauge::default();
        // Without a leader lease every instance does the singleton work itself.
        leader.set(1);
        registry.register(
            "leader",
            "1 on the instance holding the leader lease (always 1 when no lease is configured)",
            leader.clone(),
        );
        let checkpoint_position = Gauge::default();
        registry.register(
            "ledger_checkpoint_position",
            "Position of the last signed ledger checkpoint this process wrote",
            checkpoint_position.clone(),
        );
        let checkpoint = Family::<CheckpointLabels, Gauge>::default();
        registry.register(
            "ledger_checkpoint",
            "The last signed ledger checkpoint: its hash and signature as labels, its position as the value",
            checkpoint.clone(),
        );
        Metrics {
            registry,
            events_appended,
            append_seconds,
            batch_size,
            alerts_received,
            incidents_open,
            pages,
            jobs,
            agents_connected,
            discord_connected,
            leader,
            checkpoint_position,
            checkpoint,
            agents: Mutex::new(HashMap::new()),
        }
    }

    /// A ledger checkpoint was written: only the latest is exported, so a scraper that keeps
    /// history (Prometheus) holds every checkpoint outside the database.
    pub fn checkpoint(&self, position: i64, hash: &str, signature: &str) {
        self.checkpoint.clear();
        self.checkpoint
            .get_or_create(&CheckpointLabels {
                hash: hash.to_string(),
                signature: signature.to_string(),
            })
            .set(position);
        self.checkpoint_position.set(position);
    }

    /// A group commit wrote `events` events.
    pub fn committed(&self, events: usize) {
        self.events_appended.inc_by(events as u64);
        self.batch_size.observe(events as f64);
    }

    /// An append was answered after `elapsed`.
    pub fn append_took(&self, elapsed: Duration) {
        self.append_seconds.observe(elapsed.as_secs_f64());
    }

    /// `count` alerts of `source` arrived in state `status` (`firing`, `resolved`).
    pub fn alerts_received(&self, source: &str, status: &str, count: usize) {
        self.alerts_received
            .get_or_create(&AlertLabels {
                source: source.to_string(),
                status: status.to_string(),
            })
            .inc_by(count as u64);
    }

    /// Alerts arrived, as (source, status) pairs: counted per run of equal pairs, so a body
    /// of a hundred firing alerts costs one label lookup.
    pub fn alerts_in<'a>(&self, alerts: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut run: Option<((&str, &str), usize)> = None;
        for pair in alerts {
            match &mut run {
                Some((current, count)) if *current == pair => *count += 1,
                _ => {
                    if let Some(((source, status), count)) = run.replace((pair, 1)) {
                        self.alerts_received(source, status, count);
                    }
                }
            }
        }
        if let Some(((source, status), count)) = run {
            self.alerts_received(source, status, count);
        }
    }

    /// One page attempt through pager `notifier` ended with `outcome`.
    pub fn page(&self, notifier: &str, outcome: &str) {
        self.pages
            .get_or_create(&PageLabels {
                notifier: notifier.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// A run of `runbook` ended with `outcome`.
    pub fn job(&self, runbook: &str, outcome: &str) {
        self.jobs
            .get_or_create(&JobLabels {
                runbook: runbook.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The Discord gateway connected (READY, RESUMED) or dropped.
    pub fn set_discord_connected(&self, connected: bool) {
        self.discord_connected.set(i64::from(connected));
    }

    /// Whether this instance holds the leader lease; for the lease to call as it is won or
    /// lost. 1 until then.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// The incidents open now, set by whoever serves the scrape from the projection.
    pub fn set_incidents_open(&self, open: usize) {
        self.incidents_open.set(open as i64);
    }

    /// A request from agent `name` begins; the agent counts as connected until the guard
    /// is dropped and for [`AGENT_WINDOW`] after.
    pub fn agent_request(&'static self, name: &str) -> AgentRequest {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let seen = agents.entry(name.to_string()).or_insert(AgentSeen {
            in_flight: 0,
            last: Instant::now(),
        });
        seen.in_flight += 1;
        seen.last = Instant::now();
        AgentRequest {
            metrics: self,
            name: name.to_string(),
        }
    }

    /// The agents connected now (see [`AGENT_WINDOW`]); forgets the ones long gone.
    pub fn agents_connected(&self) -> usize {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        agents.retain(|_, seen| seen.in_flight > 0 || now - seen.last < AGENT_WINDOW);
        agents.len()
    }

    /// The exposition, Prometheus text format: computes the scrape-time gauges first.
    pub fn encode(&self) -> String {
        self.agents_connected.set(self.agents_connected() as i64);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// Held while an agent's request is served: see [`Metrics::agent_request`].
pub struct AgentRequest {
    metrics: &'static Metrics,
    name: String,
}

impl Drop for AgentRequest {
    fn drop(&mut self) {
        let mut agents = self
            .metrics
            .agents
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(seen) = agents.get_mut(&self.name) {
            seen.in_flight = seen.in_flight.saturating_sub(1);
            seen.last = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_of_the_issue_is_exported() {
        let metrics = get();
        metrics.committed(3);
        metrics.append_took(Duration::from_millis(2));
        metrics.alerts_received("alertmanager", "firing", 2);
        metrics.page("pagerduty", "delivered");
        metrics.job("failover-dns", "succeeded");
        let text = metrics.encode();
        for name in [
            "warroom_events_appended_total",
            "warroom_append_seconds_bucket",
            "warroom_group_commit_batch_size_bucket",
            "warroom_alerts_received_total{source=\"alertmanager\",status=\"firing\"}",
            "warroom_incidents_open",
            "warroom_pages_total{notifier=\"pagerduty\",outcome=\"delivered\"}",
            "warroom_jobs_total{runbook=\"failover-dns\",outcome=\"succeeded\"}",
            "warroom_agents_connected",
            "warroom_discord_gateway_connected",
            "warroom_leader ",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }

    #[test]
    fn an_agent_is_connected_while_polling_and_for_a_while_after() {
        let metrics = get();
        let name = format!("agent-{}", uuid::Uuid::new_v4());
        let request = metrics.agent_request(&name);
        assert!(metrics.agents_connected() >= 1);
        assert_eq!(metrics.agents.lock().unwrap()[&name].in_flight, 1);
        drop(request);
        let agents = metrics.agents.lock().unwrap();
        let seen = agents[&name];
        assert_eq!(seen.in_flight, 0);
        assert!(seen.last.elapsed() < AGENT_WINDOW);
    }
}
