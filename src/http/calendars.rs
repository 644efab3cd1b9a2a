//! `GET /v1/schedules/NAME.ics` and `GET /v1/people/HANDLE.ics?token=…`: the iCalendar
//! feeds calendar clients subscribe to. The token is in the URL because clients cannot send
//! headers; it is checked before anything is read, and a wrong one gets 401.

use super::error;
use crate::app::schedules::calendar::Feed;
use crate::app::Warroom;
use crate::clock::Clock;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use std::collections::HashMap;
use std::sync::Arc;

pub async fn schedule(
    State(warroom): State<Arc<Warroom>>,
    Extension(clock): Extension<Clock>,
    Path(file): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let name = file.strip_suffix(".ics").unwrap_or(&file).to_string();
    serve(&warroom, clock, Feed::Schedule(name), query.get("token")).await
}

pub async fn person(
    State(warroom): State<Arc<Warroom>>,
    Extension(clock): Extension<Clock>,
    Path(file): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let handle = file.strip_suffix(".ics").unwrap_or(&file);
    let handle = handle.trim_start_matches('@').to_string();
    serve(&warroom, clock, Feed::Person(handle), query.get("token")).await
}

async fn serve(warroom: &Warroom, clock: Clock, feed: Feed, token: Option<&String>) -> Response {
    let Some(calendars) = &warroom.settings().calendars else {
        return error(
            StatusCode::NOT_FOUND,
            "the calendar feeds are off; set [calendars] secret_env or secret_file (docs/oncall.md)",
        );
    };
    if !token.is_some_and(|t| feed.accepts(&calendars.secret, t)) {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong calendar token; /oncall calendar in chat gives your links",
        );
    }
    match warroom.calendar(&feed, clock.now()).await {
        Ok(Some(text)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
            text,
        )
            .into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such schedule or person"),
        Err(e) => {
            tracing::error!("cannot make a calendar feed: {e:#}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store cannot be read just now; the calendar client will try again",
            )
        }
    }
}
