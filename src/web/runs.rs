//! `GET /runs`: the agents (configured, and when each last asked this instance for work),
//! the runbook runs in flight and the latest ones with how they ended, and the latest
//! deploys with what the guard rules said of them.

use super::timeline::anchor;
use super::{layout, Shared};
use crate::app::deploys::DeployQuery;
use crate::domain::event::Event;
use crate::domain::types::IncidentNumber;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use std::collections::HashMap;

/// Runs and deploys listed.
const LATEST: usize = 20;
/// An agent that asked for work this recently is connected: its polls are held up to 30 s.
const CONNECTED_SECONDS: i64 = 45;

/// One run asked for, with how it ended when it did.
struct AskedRun {
    number: IncidentNumber,
    run: u32,
    command: String,
    by: String,
    at: DateTime<Utc>,
    event: uuid::Uuid,
}

pub async fn page(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let person = match console.reader(&headers, "/runs") {
        Ok(p) => p,
        Err(answer) => return *answer,
    };
    let warroom = &console.warroom;
    let now = console.now();
    let read = async {
        let in_flight = warroom.runs_now().await?;
        let deploys = warroom
            .deploys(&DeployQuery {
                last: LATEST,
                ..DeployQuery::default()
            })
            .await?;
        let asked = warroom
            .ledger()
            .read_type_backward("RunbookRequested", None, LATEST)
            .await?;
        let finished = warroom
            .ledger()
            .read_type_backward("RunbookFinished", None, 4 * LATEST)
            .await?;
        anyhow::Ok((in_flight, deploys, asked, finished))
    };
    let (in_flight, deploys, asked, finished) = match read.await {
        Ok(found) => found,
        Err(e) => return console.unavailable(&person, "the runs", &e),
    };
    let mut outcomes: HashMap<(String, u32), (String, String)> = HashMap::new();
    for stored in &finished {
        if let Ok(r) = crate::app::to_recorded(stored) {
            if let Event::RunbookFinished {
                run,
                outcome,
                message,
            } = r.event.unwrapped()
            {
                outcomes
                    .entry((stored.stream_id.clone(), *run))
                    .or_insert((outcome.clone(), message.clone()));
            }
        }
    }
    let asked: Vec<(AskedRun, Option<&(String, String)>)> = asked
        .iter()
        .filter_map(|stored| {
            let number = IncidentNumber::from_stream_id(&stored.stream_id)?;
            let r = crate::app::to_recorded(stored).ok()?;
            let Event::RunbookRequested { run, command, .. } = r.event.unwrapped() else {
                return None;
            };
            let ended = outcomes.get(&(stored.stream_id.clone(), *run));
            Some((
                AskedRun {
                    number,
                    run: *run,
                    command: command.clone(),
                    by: r.actor.clone(),
                    at: r.at,
                    event: r.event_id,
                },
                ended,
            ))
        })
        .collect();
    let settings = warroom.settings();
    let seen = warroom.agents_seen();
    let tz = settings.timezone;
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string();
    let ago = |t: DateTime<Utc>| super::incidents::span(now - t);
    let body = html! {
        h1 { "Runs, agents and deploys" }
        h2 { "Agents" }
        @if settings.agents.is_empty() {
            p.empty { "No agent is configured ([[agents]] in warroom.toml, docs/runbooks-and-agents.md)." }
        } @else {
            table.agents {
                thead { tr { th { "Agent" } th { "Labels" } th { "State" } th { "Last asked for work" } th { "Runbooks it offers" } } }
                tbody {
                    @for agent in &settings.agents {
                        @let last = seen.get(&agent.name);
                        tr {
                            td { (agent.name) }
                            td { @for (k, v) in &agent.labels { code { (k) "=" (v) } " " } }
                            td {
                                @match last {
                                    Some(s) if (now - s.at).num_seconds() <= CONNECTED_SECONDS => { span.connected { "connected" } }
                                    Some(_) => { span.gap { "silent" } }
                                    None => { span.hint { "not seen since this instance started" } }
                                }
                            }
                            td { @if let Some(s) = last { (ago(s.at)) " ago" } @else { "—" } }
                            td { @if let Some(s) = last { (s.runbooks.join(", ")) } }
                        }
                    }
                }
            }
        }
        h2 { "Runs in flight" }
        @if in_flight.running.is_empty() && in_flight.queued.is_empty() {
            p.empty { "No run is waiting for an agent or running." }
        } @else {
            table.runs {
                thead { tr { th { "Incident" } th { "Run" } th { "State" } th { "Agent (or labels it needs)" } th { "Step (or runbook)" } th { "Last heard (or expires)" } } }
                tbody {
                    @for ((number, run), r) in &in_flight.running {
                        tr {
                            td { a href={ "/incidents/" (number.0) } { (number) } }
                            td { (run) }
                            td { "running" }
                            td { (r.agent) }
                            td { (r.step.as_deref().unwrap_or("—")) }
                            td { (ago(r.last_seen)) " ago" }
                        }
                    }
                    @for ((number, run), q) in &in_flight.queued {
                        tr {
                            td { a href={ "/incidents/" (number.0) } { (number) } }
                            td { (run) }
                            td { "waiting for an agent" }
                            td { @for (k, v) in &q.agents { code { (k) "=" (v) } " " } }
                            td { (q.runbook) }
                            td { "expires " (local(q.expires_at)) }
                        }
                    }
                }
            }
        }
        h2 { "Latest runs" }
        @if asked.is_empty() {
            p.empty { "No runbook was asked for yet." }
        } @else {
            table.runs {
                thead { tr { th { "Asked" } th { "Incident" } th { "Run" } th { "Command" } th { "By" } th { "Ended" } } }
                tbody {
                    @for (a, ended) in &asked {
                        tr {
                            td { (local(a.at)) }
                            td { a href={ "/incidents/" (a.number.0) "#" (anchor(&a.event)) } { (a.number) } }
                            td { (a.run) }
                            td { code { (a.command) } }
                            td { (settings.directory.display(&a.by)) }
                            td { (ended_cell(*ended)) }
                        }
                    }
                }
            }
        }
        h2 { "Latest deploys" }
        @if deploys.is_empty() {
            p.empty { "No deploy was recorded yet (POST /v1/deploys, /deploy, docs/usage.md)." }
        } @else {
            table.deploys {
                thead { tr { th { "When" } th { "Service" } th { "Environment" } th { "Version" } th { "By" } th { "Status" } th { "Flags" } } }
                tbody {
                    @for d in &deploys {
                        tr {
                            td { (local(d.at)) }
                            td { (d.deploy.service) }
                            td { (d.deploy.environment) }
                            td { code { (d.deploy.version) } }
                            td { (d.deploy.by) }
                            td { (d.deploy.status.as_str()) }
                            td { @for f in &d.flags { span.flag { (f) } " " } }
                        }
                    }
                }
            }
        }
    };
    layout::page("Runs", Some(&person), &console.web, body).into_response()
}

fn ended_cell(ended: Option<&(String, String)>) -> Markup {
    html! {
        @match ended {
            Some((outcome, message)) => { strong { (outcome) } @if !message.is_empty() { ": " (message) } }
            None => { span.hint { "not yet" } }
        }
    }
}
