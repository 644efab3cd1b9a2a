//! `POST /v1/deploys`: CI/CD pipelines report deploys here. Token-authenticated
//! (`deploys.token_sha256`); the body is the deploy as JSON; a bad body gets 400 naming the
//! field. Answered 201 once the deploy is in the ledger (200 for a resend of the same `id`
//! and status).

use super::{body_or_error, error, json_body};
use crate::app::{Caller, Input, InputKind, Warroom};
use crate::clock::Clock;
use crate::domain::deploy::Deploy;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;
use std::sync::Arc;

pub async fn record(
    State(warroom): State<Arc<Warroom>>,
    Extension(clock): Extension<Clock>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(expected) = warroom.settings().deploys.token_sha256 else {
        return error(
            StatusCode::NOT_FOUND,
            "the deploys endpoint is off; set deploys.token_sha256 to the SHA-256 of a token",
        );
    };
    if !super::auth::bearer_matches(&headers, &expected) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong deploys token");
    }
    let value: serde_json::Value =
        match body_or_error(body, warroom.settings().max_alert_body_bytes)
            .and_then(|body| json_body(&body))
        {
            Ok(v) => v,
            Err(refused) => return refused.into_response(),
        };
    let deploy = match Deploy::from_json(&value) {
        Ok(d) => d,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": e.to_string(), "field": e.field})),
            )
                .into_response()
        }
    };
    // A pipeline reports each stage of a deploy under its own id (started, then succeeded):
    // each status is recorded once, and a resend of the same one is a no-op.
    let key = match &deploy.id {
        Some(id) => format!("deploy:{}:{id}:{}", deploy.service, deploy.status.as_str()),
        None => format!("deploy:{}", uuid::Uuid::new_v4()),
    };
    let input = Input {
        key,
        at: clock.now(),
        from: deploy.by.clone(),
        channel: warroom.settings().default_channel.clone(),
        kind: InputKind::Deploy(Box::new(deploy.clone())),
        caller: Caller::default(),
    };
    match warroom.handle(input).await {
        Ok(outcome) => {
            let status = if outcome.already_recorded {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (
                status,
                Json(json!({
                    "stream": deploy.stream_id(),
                    "recorded": !outcome.already_recorded,
                    "reply": outcome.reply,
                })),
            )
                .into_response()
        }
        Err(failure) => super::app_error(
            "deploys",
            failure,
            "the event store is unavailable; the deploy was not recorded, retry",
        ),
    }
}
