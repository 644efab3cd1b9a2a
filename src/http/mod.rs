//! The HTTP adapter (axum): alert webhooks from Alertmanager, Grafana and anything that can
//! post warroom's generic shape. The only module that knows axum.
//!
//! Every request is authenticated before its body is parsed; the answer is 2xx only after
//! the alerts are durably appended, and 503 when the store cannot take them, so the sender
//! keeps retrying rather than losing an alert.

pub mod agents;
pub mod auth;
pub mod calendars;
pub mod connections;
pub mod console;
pub mod deploys;
pub mod health;
pub mod notifications;
pub mod refusals;
pub mod status;

use crate::app::alerts::read_alerts;
use crate::app::chat::ChatDoor;
use crate::app::error::AppError;
use crate::app::{Caller, Input, InputKind, Outcome, Warroom};
use crate::clock::Clock;
use crate::config::ALERT_SOURCES;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::json;
use std::sync::Arc;

/// The router over an application, with Discord's interactions endpoint answered by the bot
/// when it runs. Every door reads "now" from `clock`, the server's one clock.
pub fn router(warroom: Arc<Warroom>, discord: Option<Arc<dyn ChatDoor>>, clock: Clock) -> Router {
    let limit = warroom.settings().max_alert_body_bytes;
    let probes = health::routes(warroom.clone(), discord.clone());
    let interactions = Router::new()
        .route("/discord/interactions", post(discord_interaction))
        .layer(Extension(clock))
        .with_state(discord);
    let router = Router::new()
        .route("/v1/alerts/{source}", post(receive_alerts))
        .route("/v1/agent/poll", post(agents::poll))
        .route("/v1/console", post(console::run))
        .route("/v1/deploys", post(deploys::record))
        .route("/v1/schedules/{file}", get(calendars::schedule))
        .route("/v1/people/{file}", get(calendars::person))
        .route(
            "/v1/ack/{token}",
            get(notifications::confirm_page).post(notifications::acknowledge),
        )
        .route("/v1/twilio/sms", post(notifications::twilio_sms))
        .route("/v1/twilio/voice", post(notifications::twilio_voice))
        .route("/v1/twilio/status", post(notifications::twilio_status))
        .route(
            "/v1/agent/jobs/{incident}/{run}/reports",
            post(agents::report),
        )
        .layer(DefaultBodyLimit::max(limit))
        .layer(Extension(clock))
        .with_state(warroom)
        .merge(interactions)
        .merge(probes)
        .fallback(no_such_door)
        .method_not_allowed_fallback(method_not_allowed);
    health::with_request_ids(router)
}

/// `POST /discord/interactions`: Discord's outgoing webhook for slash commands and
/// buttons. The bot checks the Ed25519 signature over the raw body before anything else.
async fn discord_interaction(
    State(discord): State<Option<Arc<dyn ChatDoor>>>,
    Extension(clock): Extension<Clock>,
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
        .answer_signed(
            header("x-signature-ed25519"),
            header("x-signature-timestamp"),
            &body,
            clock.now(),
        )
        .await;
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(answer),
    )
        .into_response()
}

/// A JSON error: what was wrong and what to do. Every error of every door has this shape,
/// `{"error": …, "field": …}`, with `field` null when no one field is at fault.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    answer_error(status, None, message.into())
}

/// A JSON error naming the field at fault (a path such as `alerts[0].startsAt`).
fn field_error(status: StatusCode, field: &str, message: impl Into<String>) -> Response {
    answer_error(status, Some(field), message.into())
}

fn answer_error(status: StatusCode, field: Option<&str>, message: String) -> Response {
    let mut response = (status, Json(json!({ "error": &message, "field": field }))).into_response();
    // For the log of refused requests (`refusals`), which says why as the caller was told.
    response
        .extensions_mut()
        .insert(refusals::RefusalReason(message));
    response
}

/// The answer to a use case's failure: 422 when the rules refuse it, 409 when other writers
/// kept changing what it depends on (with `Retry-After`), 400 for wrong input, each with
/// what to do; 503 with `Retry-After` only when the store failed, saying `on_store_failure`
/// (what the door's caller should do then). `door` names the door in the log.
fn app_error(door: &str, failure: AppError, on_store_failure: &str) -> Response {
    match failure {
        AppError::Refused(reason) => error(StatusCode::UNPROCESSABLE_ENTITY, reason),
        AppError::Conflict(reason) => retry_after(error(StatusCode::CONFLICT, reason)),
        AppError::Invalid { field, message } => {
            answer_error(StatusCode::BAD_REQUEST, field.as_deref(), message)
        }
        AppError::Store(e) => {
            tracing::error!(%door, "the store failed: {e:#}");
            retry_after(error(StatusCode::SERVICE_UNAVAILABLE, on_store_failure))
        }
    }
}

/// Adds `Retry-After: 5` (seconds): when the same request may succeed.
fn retry_after(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from_static("5"));
    response
}

/// Why a door refuses a request, answered as [`error`]'s JSON.
struct Refused {
    status: StatusCode,
    field: Option<String>,
    message: String,
}

impl Refused {
    fn at(status: StatusCode, field: &str, message: impl Into<String>) -> Refused {
        Refused {
            status,
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        answer_error(self.status, self.field.as_deref(), self.message)
    }
}

/// The body, or why it could not be read (413 past the door's limit).
fn body_or_error(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, Refused> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refused::at(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body",
                format!(
                    "the body is larger than {} KiB; send less per request or raise alerts.max_body_kib",
                    limit / 1024
                ),
            )
        } else if let Some(slow) = cause::<connections::BodyTooSlow>(&rejection) {
            Refused::at(StatusCode::REQUEST_TIMEOUT, "body", slow.to_string())
        } else {
            Refused::at(rejection.status(), "body", rejection.body_text())
        }
    })
}

/// The first error of type `E` in `error`'s chain of causes.
fn cause<'e, E: std::error::Error + 'static>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e E> {
    std::iter::successors(Some(error), |e| e.source()).find_map(|e| e.downcast_ref::<E>())
}

/// Reads an authenticated request's JSON body as `T`. A wrong type or a missing field is
/// answered 400 naming it (`runbooks[1]`: "invalid type: integer `5`, expected a string").
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refused> {
    let mut reader = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let problem = inner.to_string();
        // serde_json's " at line 1 column 9" says nothing to someone who sent one object.
        let problem = problem.split(" at line ").next().unwrap_or(&problem);
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => Refused::at(
                StatusCode::BAD_REQUEST,
                "body",
                format!("the body is not JSON ({problem})"),
            ),
            _ if field == "." => Refused::at(StatusCode::BAD_REQUEST, "body", problem),
            _ => Refused::at(
                StatusCode::BAD_REQUEST,
                &field,
                format!("{field}: {problem}"),
            ),
        }
    })
}

/// What any path or method no door serves is answered: the same JSON shape.
async fn no_such_door() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such endpoint; see docs/alerts-and-paging.md and docs/operations.md for the doors warroom serves",
    )
}

async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method (the doors take POST, the probes GET)",
    )
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
    // An HMAC covers the raw body, so the body is read (within the limit) before the check.
    let body = match body_or_error(body, warroom.settings().max_alert_body_bytes) {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    if let Err(refusal) = auth::check(
        warroom.settings().sources.get(&source),
        &source,
        &headers,
        &body,
    ) {
        return error(StatusCode::UNAUTHORIZED, refusal);
    }
    let value: serde_json::Value = match json_body(&body) {
        Ok(v) => v,
        Err(refused) => return refused.into_response(),
    };
    let channel = warroom.settings().alerts_channel.clone();
    let alerts = match read_alerts(&source, &value, &channel) {
        Ok(alerts) => alerts,
        Err(e) => return answer_error(StatusCode::BAD_REQUEST, e.field.as_deref(), e.to_string()),
    };
    let received = alerts.len();
    let now = clock.now();
    let input = Input {
        // Alerts are told apart by their own ids (source, fingerprint, state), not by a key.
        key: format!(
            "alerts/{source}@{}",
            now.timestamp_nanos_opt().unwrap_or_default()
        ),
        at: now,
        from: source.clone(),
        channel,
        kind: InputKind::Alerts(alerts),
        caller: Caller::default(),
    };
    match warroom.handle(input).await {
        Ok(Outcome {
            intake: Some(report),
            ..
        }) => (
            StatusCode::OK,
            Json(json!({
                "received": received,
                "recorded": report.recorded,
                "duplicates": report.duplicates,
                "opened": report.opened.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "joined": report.joined.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })),
        )
            .into_response(),
        Ok(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the alerts were handled but no intake report came back; this is a bug in warroom",
        ),
        // Alert senders (Alertmanager, Grafana) retry a 5xx but drop an alert answered 4xx:
        // a conflict that outlasted our own retries is answered 503, so the alert comes back.
        Err(AppError::Conflict(reason)) => {
            tracing::warn!(%source, "alerts not recorded, the sender will retry: {reason}");
            retry_after(error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{reason}; nothing was recorded"),
            ))
        }
        Err(failure) => app_error(
            &format!("alerts/{source}"),
            failure,
            "the event store is unavailable; nothing was recorded, retry later",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answered(response: Response) -> (u16, Option<String>, serde_json::Value) {
        let status = response.status().as_u16();
        let retry = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, retry, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn only_a_store_failure_is_answered_503() {
        let (status, retry, body) = answered(app_error(
            "test",
            AppError::Refused("INC-1 is closed; /incident reopen first".into()),
            "retry",
        ))
        .await;
        assert_eq!((status, retry), (422, None));
        assert_eq!(body["error"], "INC-1 is closed; /incident reopen first");

        let (status, retry, _) = answered(app_error(
            "test",
            AppError::Conflict("INC-1 kept changing while recording; try again".into()),
            "retry",
        ))
        .await;
        assert_eq!((status, retry.as_deref()), (409, Some("5")));

        let (status, _, body) = answered(app_error(
            "test",
            AppError::Invalid {
                field: Some("version".into()),
                message: "version: not a version".into(),
            },
            "retry",
        ))
        .await;
        assert_eq!(status, 400);
        assert_eq!(body["field"], "version");

        let (status, retry, body) = answered(app_error(
            "test",
            AppError::Store(anyhow::anyhow!("database error: disk full")),
            "the event store is unavailable; retry",
        ))
        .await;
        assert_eq!((status, retry.as_deref()), (503, Some("5")));
        // The store's own words stay in the log, not in the answer.
        assert_eq!(body["error"], "the event store is unavailable; retry");
    }
}
