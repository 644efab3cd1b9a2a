//! `GET /incidents`: every incident, open ones first, with severity, commander, age and time
//! to acknowledge; filters by status and severity, and a search over titles and what was
//! said in the incidents.

use super::{layout, Shared};
use crate::app::incidents::view::IncidentSummary;
use crate::domain::event::Event;
use crate::domain::types::{IncidentNumber, IncidentStatus};
use axum::extract::{Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::html;
use serde::Deserialize;
use std::collections::BTreeSet;

/// Messages searched, newest first: a search answers at once on a ledger of any size and
/// says when it stopped short.
const MESSAGES_SEARCHED: usize = 20_000;

#[derive(Deserialize, Default)]
pub struct Filters {
    /// `open`, `resolved`, `closed`, or empty for all.
    status: Option<String>,
    /// `sev1` … `sev4`, or empty for all.
    severity: Option<String>,
    /// Words to find in titles and messages.
    q: Option<String>,
}

pub async fn list(
    State(console): State<Shared>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    filters: Result<Query<Filters>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let back = match &raw {
        Some(q) => format!("/incidents?{q}"),
        None => "/incidents".to_string(),
    };
    let person = match console.reader(&headers, &back) {
        Ok(p) => p,
        Err(answer) => return *answer,
    };
    let filters = filters.map(|Query(f)| f).unwrap_or_default();
    let mut incidents = match console.warroom.incidents().await {
        Ok(all) => all,
        Err(e) => return console.unavailable(&person, "the incidents", &e),
    };
    let status = filters
        .status
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_lowercase();
    let severity = filters
        .severity
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_lowercase();
    let query = filters.q.as_deref().unwrap_or("").trim().to_string();
    incidents.retain(|i| {
        (status.is_empty() || i.status.to_string().eq_ignore_ascii_case(&status))
            && (severity.is_empty() || i.severity.to_string().eq_ignore_ascii_case(&severity))
    });
    let mut searched_all = true;
    if !query.is_empty() {
        let (said, complete) = incidents_saying(&console, &query).await;
        searched_all = complete;
        let needle = query.to_lowercase();
        incidents.retain(|i| i.title.to_lowercase().contains(&needle) || said.contains(&i.number));
    }
    // Open first, then the newest.
    incidents.sort_by_key(|i| {
        (
            i.status != IncidentStatus::Open,
            std::cmp::Reverse(i.number),
        )
    });
    let now = console.now();
    let body = html! {
        h1 { "Incidents" }
        form.filters method="get" action="/incidents" {
            label { "Status "
                select name="status" {
                    @for (value, label) in [("", "any"), ("open", "open"), ("resolved", "resolved"), ("closed", "closed")] {
                        option value=(value) selected[status == value] { (label) }
                    }
                }
            }
            label { "Severity "
                select name="severity" {
                    @for (value, label) in [("", "any"), ("sev1", "sev1"), ("sev2", "sev2"), ("sev3", "sev3"), ("sev4", "sev4")] {
                        option value=(value) selected[severity == value] { (label) }
                    }
                }
            }
            label { "Search "
                input type="search" name="q" value=(query) placeholder="title or message";
            }
            button type="submit" { "Filter" }
        }
        @if !searched_all {
            p.hint { "Only the newest " (MESSAGES_SEARCHED) " messages were searched." }
        }
        @if incidents.is_empty() {
            p.empty { "No incident matches." }
        } @else {
            table.incidents {
                thead { tr {
                    th { "Incident" } th { "Severity" } th { "Status" } th { "Commander" }
                    th { "Age" } th { "Time to acknowledge" } th { "Channel" }
                } }
                tbody {
                    @for i in &incidents {
                        (row(i, now))
                    }
                }
            }
        }
    };
    layout::page("Incidents", Some(&person), &console.web, body).into_response()
}

fn row(i: &IncidentSummary, now: DateTime<Utc>) -> maud::Markup {
    html! {
        tr class={ "status-" (i.status) } {
            td { a href={ "/incidents/" (i.number.0) } { (i.number) " " (i.title) } }
            td { span class={ "sev " (i.severity) } { (i.severity) } }
            td { (i.status) }
            td { (i.commander.as_deref().unwrap_or("—")) }
            td title=(i.opened_at.to_rfc3339()) { (span(now - i.opened_at)) }
            td {
                @match i.acknowledged_at {
                    Some(at) => (span(at - i.opened_at)),
                    None => "—",
                }
            }
            td { "#" (i.channel) }
        }
    }
}

/// A duration as people read it on a board: `3 d 4 h`, `2 h 05 min`, `7 min`, `40 s`.
pub fn span(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        s if s >= 86_400 => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// The incidents whose messages say `query` (case-insensitive), among the newest messages;
/// and whether every message was searched.
async fn incidents_saying(console: &Shared, query: &str) -> (BTreeSet<IncidentNumber>, bool) {
    let needle = query.to_lowercase();
    let mut found = BTreeSet::new();
    let mut before = None;
    let mut seen = 0;
    while seen < MESSAGES_SEARCHED {
        let page = match console
            .warroom
            .ledger()
            .read_type_backward("MessagePosted", before, 2_000)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!("the incident search could not read messages: {e}");
                return (found, false);
            }
        };
        let Some(last) = page.last() else {
            return (found, true);
        };
        before = Some(last.position);
        seen += page.len();
        for stored in &page {
            let Some(number) = IncidentNumber::from_stream_id(&stored.stream_id) else {
                continue;
            };
            let says = crate::app::to_recorded(stored).is_ok_and(|r| {
                matches!(r.event.unwrapped(), Event::MessagePosted(m) if m.text.to_lowercase().contains(&needle))
            });
            if says {
                found.insert(number);
            }
        }
    }
    (found, false)
}

#[cfg(test)]
mod tests {
    use super::span;
    use chrono::Duration;

    #[test]
    fn durations_read_as_on_a_board() {
        assert_eq!(span(Duration::seconds(40)), "40 s");
        assert_eq!(span(Duration::seconds(7 * 60 + 5)), "7 min");
        assert_eq!(span(Duration::seconds(2 * 3600 + 5 * 60)), "2 h 05 min");
        assert_eq!(span(Duration::seconds(3 * 86_400 + 4 * 3600)), "3 d 4 h");
        assert_eq!(span(Duration::seconds(-5)), "0 s");
    }
}
