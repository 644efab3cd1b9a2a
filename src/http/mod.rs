//! The HTTP adapter (axum): alert webhooks from Alertmanager, Grafana and anything that can
//! post warroom's generic shape. The only module that knows axum.
//!
//! Every request is authenticated before its body is parsed; the answer is 2xx only after
//! the alerts are durably appended, and 503 when the store cannot take them, so the sender
//! keeps retrying rather than losing an alert.

pub mod agents;
pub mod auth;
pub mod console;
pub mod deploys;
pub mod health;
pub mod status;

use crate::app::alerts::read_alerts;
use crate::app::Warroom;
use crate::clock::Clock;
use crate::config::ALERT_SOURCES;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde_json::json;
use std::sync::Arc;

/// The router over an application, with Discord's interactions endpoint answered by the bot
/// when it runs. Every door reads "now" from `clock`, the server's one clock.
pub fn router(
    warroom: Arc<Warroom>,
    discord: Option<Arc<crate::discord::Bot>>,
    clock: Clock,
) -> Router {
    let limit = warroom.settings().max_alert_body_bytes;
    let probes = health::routes(warroom.clone(), discord.clone());
    let interactions = Router::new()
        .route("/discord/interactions", post(discord_interaction))
        .with_state(discord);
    let router = Router::new()
        .route("/v1/alerts/{source}", post(receive_alerts))
        .route("/v1/agent/poll", post(agents::poll))
        .route("/v1/console", post(console::run))
        .route("/v1/deploys", post(deploys::record))
        .route(
            "/v1/agent/jobs/{incident}/{run}/reports",
            post(agents::report),
        )
        .layer(DefaultBodyLimit::max(limit))
        .layer(Extension(clock))
        .with_state(warroom)
        .merge(interactions)
        .merge(probes);
    health::with_request_ids(router)
}

/// `POST /discord/interactions`: Discord's outgoing webhook for slash commands and
/// buttons. The bot checks the Ed25519 signature over the raw body before anything else.
async fn discord_interaction(
    State(discord): State<Option<Arc<crate::discord::Bot>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(bot) = discord else {
        return error(
            StatusCode::NOT_FOUND,
            "Discord is off: give warroom a bot token (WARROOM_DISCORD_TOKEN) and discord.public_key",
        );
    };
    let (status, answer) = bot
        .answer_http(
            header("x-signature-ed25519"),
            header("x-signature-timestamp"),
            &body,
        )
        .await;
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(answer),
    )
        .into_response()
}

/// A JSON error: what was wrong and what to do.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn receive_alerts(
    State(warroom): State<Arc<Warroom>>,
    Extension(clock): Extension<Clock>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !ALERT_SOURCES.contains(&source.as_str()) {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no alert source '{source}'; post to /v1/alerts/alertmanager, /v1/alerts/grafana or /v1/alerts/generic"
            ),
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body is larger than {} KiB; send fewer alerts per request or raise alerts.max_body_kib",
                    warroom.settings().max_alert_body_bytes / 1024
                ),
            )
        }
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    if let Err(refusal) = auth::check(
        warroom.settings().sources.get(&source),
        &source,
        &headers,
        &body,
    ) {
        tracing::warn!(%source, "alert refused: {refusal}");
        return error(StatusCode::UNAUTHORIZED, refusal);
    }
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {e}"),
            )
        }
    };
    let channel = warroom.settings().alerts_channel.clone();
    let alerts = match read_alerts(&source, &value, &channel) {
        Ok(alerts) => alerts,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match warroom.ingest_alerts(clock.now(), &alerts).await {
        Ok(report) => (
            StatusCode::OK,
            Json(json!({
                "received": alerts.len(),
                "recorded": report.recorded,
                "duplicates": report.duplicates,
                "opened": report.opened.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "joined": report.joined.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(%source, "could not record alerts: {e:#}");
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event store is unavailable; nothing was recorded, retry later",
            );
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("5"));
            response
        }
    }
}
