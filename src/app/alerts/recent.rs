//! `warroom alerts`: the recent alerts, inside incidents or not, each with its latest state,
//! the route it takes and the incident it is in, read newest first from the alert events
//! alone (never the chat streams around them).

use crate::app::reading::Reader;
use crate::app::to_recorded;
use crate::domain::event::{AlertFacts, AlertStatus, Event};
use crate::domain::types::IncidentNumber;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

/// Which alerts to list.
#[derive(Debug, Clone)]
pub struct AlertQuery {
    /// Only alerts whose latest state is firing.
    pub firing_only: bool,
    /// Only alerts whose latest change (firing or resolving) came at or after this moment.
    pub since: Option<DateTime<Utc>>,
    /// Only alerts of this name, in any case.
    pub name: Option<String>,
    /// At most this many.
    pub last: usize,
}

/// One alert as it stands: its latest recorded change, and where it went.
#[derive(Debug, Clone, Serialize)]
pub struct RecentAlert {
    pub name: String,
    pub status: AlertStatus,
    pub source: String,
    pub fingerprint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// When the sender says it started firing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<DateTime<Utc>>,
    /// When it fired or resolved: its latest change, as the sender dates it.
    pub at: DateTime<Utc>,
    /// When warroom recorded that change.
    pub recorded_at: DateTime<Utc>,
    /// The route the configuration gives it (routes are decided afresh for every alert).
    pub route: String,
    /// The incident its latest change joined or opened; `None`: recorded in the alerts
    /// channel only.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "incident_as_text"
    )]
    pub incident: Option<IncidentNumber>,
    /// The event of its latest change, for `warroom show`.
    pub event_id: Uuid,
    pub labels: BTreeMap<String, String>,
}

/// Alert events read per query of the store.
const PAGE: usize = 500;

impl Reader {
    /// The alerts matching `query`, newest change first. Reads the alert events backward
    /// from the head and stops at `query.last` alerts or at the first change older than
    /// `since`.
    pub async fn recent_alerts(&self, query: &AlertQuery) -> anyhow::Result<Vec<RecentAlert>> {
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut found = Vec::new();
        let mut before = None;
        while found.len() < query.last {
            let page = self
                .ledger
                .read_type_backward("AlertReceived", before, PAGE)
                .await?;
            let Some(oldest) = page.last() else { break };
            before = Some(oldest.position);
            for stored in &page {
                // A change is dated no later than it was recorded, and the ledger records in
                // order: past one recorded before `since`, every older one is too.
                if query.since.is_some_and(|since| stored.recorded_at < since) {
                    return Ok(found);
                }
                let recorded = to_recorded(stored)?;
                let Event::AlertReceived(alert) = recorded.event else {
                    continue;
                };
                // Newest first: an alert's first change seen is its latest; the older ones
                // say nothing about where it stands now.
                if !seen.insert((alert.source.clone(), alert.fingerprint.clone())) {
                    continue;
                }
                if !wanted(&alert, query) || query.since.is_some_and(|s| stored.occurred_at < s) {
                    continue;
                }
                let route = self.settings.routes.route(&alert).name.clone();
                found.push(RecentAlert {
                    incident: IncidentNumber::from_stream_id(&stored.stream_id),
                    at: stored.occurred_at,
                    recorded_at: stored.recorded_at,
                    event_id: stored.event_id,
                    route,
                    name: alert.name,
                    status: alert.status,
                    source: alert.source,
                    fingerprint: alert.fingerprint,
                    severity: alert.severity,
                    summary: alert.summary,
                    starts_at: alert.starts_at,
                    labels: alert.labels,
                });
                if found.len() == query.last {
                    break;
                }
            }
        }
        Ok(found)
    }
}

/// `INC-4`, as every document names an incident.
fn incident_as_text<S: serde::Serializer>(
    number: &Option<IncidentNumber>,
    out: S,
) -> Result<S::Ok, S::Error> {
    match number {
        Some(n) => out.collect_str(n),
        None => out.serialize_none(),
    }
}

fn wanted(alert: &AlertFacts, query: &AlertQuery) -> bool {
    (!query.firing_only || alert.status == AlertStatus::Firing)
        && query
            .name
            .as_deref()
            .is_none_or(|n| n.trim().eq_ignore_ascii_case(&alert.name))
}

/// One line per alert: `2021-03-09 09:15 UTC  firing    ApplicationDown (critical)  route
/// application-down  INC-5  — summary`.
pub fn describe_alerts(alerts: &[RecentAlert], tz: chrono_tz::Tz) -> String {
    if alerts.is_empty() {
        return "no alerts match".to_string();
    }
    alerts
        .iter()
        .map(|a| {
            let severity = a
                .severity
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            let place = a
                .incident
                .map_or_else(|| "no incident".to_string(), |n| n.to_string());
            let summary = a
                .summary
                .as_deref()
                .map(|s| format!(" — {s}"))
                .unwrap_or_default();
            format!(
                "{}  {:<8}  {}{severity}  route {}  {place}{summary}",
                a.at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z"),
                a.status.as_str(),
                a.name,
                a.route,
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
