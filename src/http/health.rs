//! Probes and metrics: `GET /healthz` (the process serves), `GET /readyz` (it can do its
//! work: the store answers, its schema is this build's, the Discord gateway is up when this
//! instance should hold it) and `GET /metrics` (Prometheus text, optionally behind a bearer
//! token). Also the request-id and trace layers every route goes through.

use crate::app::chat::ChatDoor;
use crate::app::Warroom;
use crate::store::SchemaState;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

/// Longest a readiness check may take: a probe that hangs is worse than one that fails.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the probes look at.
#[derive(Clone)]
struct Probes {
    warroom: Arc<Warroom>,
    discord: Option<Arc<dyn ChatDoor>>,
    /// The checks the last `/readyz` found failing (every check, before `exclude`); empty
    /// when ready. A change is logged once, not every probe.
    unready: Arc<std::sync::Mutex<Vec<String>>>,
}

/// The probe and metrics routes.
pub fn routes(warroom: Arc<Warroom>, discord: Option<Arc<dyn ChatDoor>>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Probes {
            warroom,
            discord,
            unready: Arc::default(),
        })
}

/// Gives every request an id (the caller's `x-request-id`, else a new UUID), opens a span
/// carrying it around everything logged while the request is served, and echoes it in the
/// response. Only the method and path are in the span: headers carry tokens, and query
/// strings are the caller's business.
pub fn with_request_ids(router: Router) -> Router {
    router
        .layer(axum::middleware::from_fn(super::refusals::log_refusals))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<Body>| {
                    let id = request
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        id = %id,
                        method = %request.method(),
                        path = %loggable_path(request),
                    )
                })
                // A 5xx is logged where it happens, with why (the store failed, …); the
                // layer's own line per 5xx repeated every failed `/readyz` at ERROR.
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The request's path for the log: as sent, except where the rest of the path is a secret
/// (an acknowledgement link's token, a calendar feed's), which shows as `…`.
fn loggable_path(request: &Request<Body>) -> String {
    const SECRET_SEGMENTS: [&str; 3] = ["/v1/ack/", "/v1/schedules/", "/v1/people/"];
    let path = request.uri().path();
    match SECRET_SEGMENTS.iter().find(|p| path.starts_with(*p)) {
        Some(prefix) => format!("{prefix}…"),
        None => path.to_string(),
    }
}

/// One failed readiness check.
fn failed(check: &str, error: impl std::fmt::Display) -> serde_json::Value {
    json!({ "check": check, "error": error.to_string() })
}

/// Logs readiness when the set of failing checks changes: which fail and why, once, and
/// when all pass again. A probe every few seconds would otherwise repeat the same line all
/// outage long (the reasons' own wording, "for 12 s", changes at every probe).
fn note_readiness(probes: &Probes, failures: &[serde_json::Value]) {
    let check = |f: &serde_json::Value| f["check"].as_str().unwrap_or_default().to_string();
    let failing: Vec<String> = failures.iter().map(check).collect();
    let mut last = probes.unready.lock().expect("readiness lock");
    if *last == failing {
        return;
    }
    if failing.is_empty() {
        tracing::info!("ready again: every readiness check passes");
    } else {
        let why: Vec<String> = failures
            .iter()
            .map(|f| format!("{}: {}", check(f), f["error"].as_str().unwrap_or_default()))
            .collect();
        tracing::warn!(failing = %failing.join(","), "not ready: {}", why.join("; "));
    }
    *last = failing;
}

/// The checks `/readyz` runs, each of which `?exclude=NAME` (repeatable) leaves out.
const READINESS_CHECKS: [&str; 3] = ["store", "migrations", "discord"];

async fn readyz(State(probes): State<Probes>, RawQuery(query): RawQuery) -> Response {
    // As Kubernetes' own components do: `exclude` leaves a check out, so a load balancer can
    // ask only what matters for traffic. The shipped probe leaves out Discord: alert intake
    // must go on while Discord is down.
    let mut excluded = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if key != "exclude" || !READINESS_CHECKS.contains(&value.as_ref()) {
            let error = format!(
                "unknown readiness parameter {key}={value}; use exclude=CHECK with CHECK one of {}",
                READINESS_CHECKS.join(", ")
            );
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response();
        }
        excluded.push(value.into_owned());
    }
    let mut failures = Vec::new();
    let ledger = probes.warroom.ledger();
    match tokio::time::timeout(CHECK_TIMEOUT, ledger.head()).await {
        Err(_) => failures.push(failed(
            "store",
            format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
        )),
        Ok(Err(e)) => failures.push(failed("store", e)),
        Ok(Ok(_)) => match tokio::time::timeout(CHECK_TIMEOUT, ledger.schema_state()).await {
            Err(_) => failures.push(failed(
                "migrations",
                format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
            )),
            Ok(Err(e)) => failures.push(failed("migrations", e)),
            Ok(Ok(SchemaState::Current)) => {
                // Reads work; after a failed commit, whether writes do is probed.
                match tokio::time::timeout(CHECK_TIMEOUT, ledger.writable()).await {
                    Err(_) => failures.push(failed(
                        "store",
                        format!(
                            "a probe write had no answer within {} s",
                            CHECK_TIMEOUT.as_secs()
                        ),
                    )),
                    Ok(Err(why)) => failures.push(failed("store", why)),
                    Ok(Ok(())) => {}
                }
            }
            Ok(Ok(SchemaState::Behind(missing))) => failures.push(failed(
                "migrations",
                format!("migrations {missing:?} are not applied; run `warroom migrate`"),
            )),
            Ok(Ok(SchemaState::Newer(unknown))) => failures.push(failed(
                "migrations",
                format!("migrations {unknown:?} come from a newer warroom; upgrade this one"),
            )),
        },
    }
    if let Some(bot) = &probes.discord {
        // A follower (see `GatewayState::set_follower`) holds no gateway by design.
        if let Some(why) = bot.not_ready() {
            failures.push(failed("discord", why));
        }
    }
    note_readiness(&probes, &failures);
    failures.retain(|f| !excluded.iter().any(|x| f["check"] == x.as_str()));
    if failures.is_empty() {
        (StatusCode::OK, Json(json!({ "ready": true }))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false, "failed": failures })),
        )
            .into_response()
    }
}

async fn metrics(State(probes): State<Probes>, headers: HeaderMap) -> Response {
    if let Some(expected) = probes.warroom.settings().metrics_token_sha256 {
        let token = super::auth::bearer(&headers).unwrap_or_default();
        if token.is_empty() || !crate::secret::token_matches(token, &expected) {
            return super::error(
                StatusCode::UNAUTHORIZED,
                "missing or wrong metrics token (Authorization: Bearer; its SHA-256 is http.metrics_token_sha256)",
            );
        }
    }
    let metrics = crate::metrics::get();
    metrics.set_incidents_open(probes.warroom.open_incident_count().await);
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        metrics.encode(),
    )
        .into_response()
}
