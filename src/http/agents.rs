//! The agents' door: `POST /v1/agent/poll` (long-poll for a job) and
//! `POST /v1/agent/jobs/{incident}/{run}/reports`. Agents connect out to us; each is known
//! by its token, of which the configuration holds only the SHA-256.

use super::{body_or_error, error, field_error, json_body};
use crate::app::runs::jobs::ReportError;
use crate::app::Warroom;
use crate::clock::Clock;
use crate::config::AgentSettings;
use crate::domain::types::IncidentNumber;
use crate::protocol::{Poll, ReportBody};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use std::sync::Arc;
use std::time::Duration;

/// The longest a poll is held open.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// How often a held poll looks for a job queued by another instance.
const POLL_STEP: Duration = Duration::from_millis(500);

/// The agent whose bearer token the request carries.
fn agent<'a>(warroom: &'a Warroom, headers: &HeaderMap) -> Option<&'a AgentSettings> {
    super::auth::bearer(headers).and_then(|t| warroom.agent_by_token(t))
}

fn unknown_agent() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "unknown agent token; give the agent a token whose SHA-256 is in [[agents]] of warroom.toml",
    )
}

/// Set by `warroom serve` when it begins to stop: held polls are answered at once so the
/// agents reconnect (to another instance, or to this one once restarted) instead of holding
/// the shutdown for up to [`MAX_WAIT`].
#[derive(Clone)]
pub struct Stopping(pub tokio::sync::watch::Receiver<bool>);

/// The layer that tells held polls the server is stopping (when `stopped` turns true).
pub fn stopping_layer(stopped: tokio::sync::watch::Receiver<bool>) -> Extension<Stopping> {
    Extension(Stopping(stopped))
}

/// The answer to a poll held while the server stops: 503 with `Retry-After`, which agents
/// take as "reconnect after a short wait".
fn reconnect() -> Response {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "this server is shutting down; reconnect",
    );
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from_static("1"));
    response
}

pub async fn poll(
    State(warroom): State<Arc<Warroom>>,
    Extension(clock): Extension<Clock>,
    stopping: Option<Extension<Stopping>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // The token first: a stranger learns nothing about what the door parses.
    let Some(agent) = agent(&warroom, &headers).cloned() else {
        return unknown_agent();
    };
    let poll: Poll = match body_or_error(body, warroom.settings().max_alert_body_bytes)
        .and_then(|body| json_body(&body))
    {
        Ok(poll) => poll,
        Err(refused) => return refused.into_response(),
    };
    let _seen = crate::metrics::get().agent_request(&agent.name);
    let mut stopping = stopping.map(|s| s.0 .0.clone());
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(poll.wait_seconds).min(MAX_WAIT);
    loop {
        match warroom.claim_job(&agent, &poll.runbooks, clock.now()).await {
            Ok(Some(job)) => {
                tracing::info!(agent = %agent.name, incident = job.incident, run = job.run, runbook = %job.runbook, "job claimed");
                return (StatusCode::OK, Json(job)).into_response();
            }
            Ok(None) if tokio::time::Instant::now() < deadline => {
                // Woken at once by a run queued here; other instances' runs are found at
                // the next look.
                let stop = async {
                    match stopping.as_mut() {
                        Some(s) => {
                            let _ = s.wait_for(|stop| *stop).await;
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = warroom.job_queued() => {}
                    _ = tokio::time::sleep(POLL_STEP) => {}
                    _ = stop => return reconnect(),
                }
            }
            Ok(None) => return StatusCode::NO_CONTENT.into_response(),
            Err(e) => {
                tracing::error!("could not look for jobs: {e:#}");
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store is unavailable; poll again shortly",
                );
            }
        }
    }
}

pub async fn report(
    State(warroom): State<Arc<Warroom>>,
    Extension(clock): Extension<Clock>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(agent) = agent(&warroom, &headers).cloned() else {
        return unknown_agent();
    };
    let Ok(Path((incident, run))) = path else {
        return error(
            StatusCode::NOT_FOUND,
            "post reports to /v1/agent/jobs/INCIDENT/RUN/reports",
        );
    };
    let Ok(incident) = incident.parse::<u64>() else {
        return field_error(
            StatusCode::BAD_REQUEST,
            "incident",
            format!("incident: '{incident}' is not an incident number"),
        );
    };
    let Ok(run) = run.parse::<u32>() else {
        return field_error(
            StatusCode::BAD_REQUEST,
            "run",
            format!("run: '{run}' is not a run number"),
        );
    };
    let body: ReportBody = match body_or_error(body, warroom.settings().max_alert_body_bytes)
        .and_then(|body| json_body(&body))
    {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let _seen = crate::metrics::get().agent_request(&agent.name);
    match warroom
        .record_report(
            &agent,
            IncidentNumber(incident),
            run,
            &body.nonce,
            body.report,
            clock.now(),
        )
        .await
    {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({ "recorded": true })),
        )
            .into_response(),
        Err(e @ ReportError::NotYours { .. }) => error(StatusCode::CONFLICT, e.to_string()),
        Err(ReportError::Store(e)) => {
            tracing::error!("could not record an agent report: {e:#}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is unavailable; send the report again",
            )
        }
    }
}
