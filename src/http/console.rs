//! `POST /v1/console`: drives a running server without Discord. The body is transcript
//! lines (JSON Lines, the same shape `warroom replay` reads), run through the same use cases
//! as any chat; the replies come back in the response. For scripted drills, other chat front
//! ends and `warroom replay FILE --server URL`.

use super::{body_or_error, error, field_error};
use crate::app::error::AppError;
use crate::app::replay::replay;
use crate::app::transcript::TranscriptError;
use crate::app::Warroom;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct ConsoleQuery {
    /// Names the transcript: lines sent again under the same identity are not recorded
    /// twice. Without one, every request is new.
    identity: Option<String>,
}

pub async fn run(
    State(warroom): State<Arc<Warroom>>,
    query: Result<Query<ConsoleQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(expected) = warroom.settings().console_token_sha256 else {
        return error(
            StatusCode::NOT_FOUND,
            "the HTTP console is off; set http.console_token_sha256 to the SHA-256 of a token",
        );
    };
    if !super::auth::bearer_matches(&headers, &expected) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong console token");
    }
    let Ok(Query(query)) = query else {
        return field_error(
            StatusCode::BAD_REQUEST,
            "identity",
            "the query takes only identity=NAME (a name for the transcript, so resent lines are recorded once)",
        );
    };
    let body = match body_or_error(body, warroom.settings().max_alert_body_bytes) {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body is not UTF-8 text; send JSON Lines",
        );
    };
    let identity = match query.identity {
        Some(i) if !i.trim().is_empty() => format!("console:{}", i.trim()),
        _ => format!("console:{}", uuid::Uuid::new_v4()),
    };
    let mut replies = Vec::new();
    let result = replay(&warroom, text, &identity, |line, outcome| {
        replies.push(json!({
            "line": line.line,
            "at": line.at,
            "reply": outcome.reply,
            "refused": outcome.refused,
            "incident": outcome.incident.map(|n| n.to_string()),
            "already_recorded": outcome.already_recorded,
        }))
    })
    .await;
    match result {
        Ok(summary) => (
            StatusCode::OK,
            Json(json!({
                "lines": summary.lines,
                "events": summary.events,
                "replies": replies,
            })),
        )
            .into_response(),
        Err(e) => match e.downcast_ref::<TranscriptError>() {
            Some(bad) => field_error(
                StatusCode::BAD_REQUEST,
                &format!("line {}", bad.line),
                bad.to_string(),
            ),
            None => {
                // `line N: why`: the lines before it were recorded.
                let line = format!("{e}");
                match AppError::classify(e) {
                    AppError::Store(e) => {
                        tracing::error!("the console could not record: {e:#}");
                        error(
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!(
                                "{e:#}; the lines before it were recorded, send the rest again"
                            ),
                        )
                    }
                    failure => super::app_error(
                        "console",
                        failure.explained(|reason| {
                            format!("{line}: {reason}; the lines before it were recorded")
                        }),
                        "",
                    ),
                }
            }
        },
    }
}
