//! `GET /ledger`: the ledger's head (position and hash), the last checkpoint the witness
//! file holds, and the last verify run from the console with its result; `POST
//! /ledger/verify` (the sre role) walks the whole chain against the witness file in the
//! background, as `warroom verify` does.

use super::session::Person;
use super::{layout, refusal, Shared};
use crate::domain::access::Access;
use crate::witness::Checkpoint;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use maud::html;
use serde::Deserialize;
use std::sync::Arc;

/// A verify started from the console, and how it ended once it has.
#[derive(Debug, Clone)]
pub struct Verify {
    pub by: String,
    pub started_at: DateTime<Utc>,
    /// When it ended, whether the chain is intact, and what it said.
    pub ended: Option<(DateTime<Utc>, bool, String)>,
}

/// The checkpoints of the witness file, or why there are none to show.
fn checkpoints(console: &Shared) -> Result<Vec<Checkpoint>, String> {
    let Some(path) = console.warroom.settings().witness.file.clone() else {
        return Err("no witness file is kept for this store (witness.file)".into());
    };
    if !path.exists() {
        return Err(format!(
            "the witness file {} holds no checkpoint yet",
            path.display()
        ));
    }
    crate::witness::read_witness(&path, None)
}

pub async fn page(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let person = match console.reader(&headers, "/ledger") {
        Ok(p) => p,
        Err(answer) => return *answer,
    };
    let head = match console.warroom.ledger().last().await {
        Ok(head) => head,
        Err(e) => return console.unavailable(&person, "the ledger's head", &e.into()),
    };
    let for_reading = console.clone();
    let witnessed = tokio::task::spawn_blocking(move || checkpoints(&for_reading))
        .await
        .unwrap_or_else(|e| Err(format!("the witness file could not be read: {e}")));
    let last_verify = console
        .verify
        .lock()
        .expect("the verify state is never poisoned")
        .clone();
    let tz = console.warroom.settings().timezone;
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    };
    let body = html! {
        h1 { "Ledger" }
        dl.state {
            dt { "Store" } dd { (console.warroom.ledger().backend()) }
            dt { "Head position" } dd { (head.0) }
            dt { "Head hash" } dd { code { (head.1) } }
        }
        h2 { "Last checkpoint" }
        @match &witnessed {
            Ok(all) if !all.is_empty() => {
                @let c = &all[all.len() - 1];
                dl.state {
                    dt { "Position" } dd { (c.position) }
                    dt { "Hash" } dd { code { (c.hash) } }
                    dt { "Taken" } dd { (local(c.at)) }
                    dt { "Signed by" } dd { code { (c.key) } }
                    dt { "Checkpoints" } dd { (all.len()) }
                }
            }
            Ok(_) => { p.empty { "The witness file holds no checkpoint yet." } }
            Err(why) => { p.empty { (why) "." } }
        }
        h2 { "Last verify" }
        @match &last_verify {
            None => { p.empty { "No verify was run from this console since the server started (`warroom verify` runs one from the command line)." } }
            Some(Verify { by, started_at, ended: None }) => {
                p { "Running since " (local(*started_at)) ", started by " (by) ". Reload to see the result." }
            }
            Some(Verify { by, started_at, ended: Some((at, intact, said)) }) => {
                p class=(if *intact { "verify ok" } else { "verify broken" }) {
                    strong { @if *intact { "Intact" } @else { "Broken" } } ": " (said)
                }
                p.hint { "Started " (local(*started_at)) " by " (by) ", finished " (local(*at)) "." }
            }
        }
        @if person.access.allows(Access::Sre) {
            form.verify method="post" action="/ledger/verify" {
                input type="hidden" name="csrf" value=(person.session.form_token(&console.web));
                button type="submit" { "Verify now" }
                " " span.hint { "Walks every event's hash and the checkpoints; it reads the whole ledger." }
            }
        }
    };
    layout::page("Ledger", Some(&person), &console.web, body).into_response()
}

#[derive(Deserialize)]
pub struct VerifyForm {
    csrf: Option<String>,
}

/// `POST /ledger/verify`: starts a verify in the background (one at a time), for the sre
/// role only: it reads the whole ledger.
pub async fn verify(
    State(console): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<VerifyForm>,
) -> Response {
    let person = match console.sender(&headers, form.csrf.as_deref()) {
        Ok(person) => person,
        Err(answer) => return *answer,
    };
    if !person.access.allows(Access::Sre) {
        return refusal(
            StatusCode::FORBIDDEN,
            &format!(
                "Verifying the ledger from the console needs the sre role in warroom and you have {}; `warroom verify` runs it from the command line.",
                person.access
            ),
            Some(&person),
            &console.web,
        );
    }
    start(&console, &person);
    Redirect::to("/ledger").into_response()
}

/// Starts a verify unless one is running.
fn start(console: &Shared, person: &Person) {
    {
        let mut state = console
            .verify
            .lock()
            .expect("the verify state is never poisoned");
        if state.as_ref().is_some_and(|v| v.ended.is_none()) {
            return;
        }
        *state = Some(Verify {
            by: person.actor.clone(),
            started_at: console.now(),
            ended: None,
        });
    }
    tracing::info!(by = %person.actor, "a ledger verify started from the web console");
    let console = Arc::clone(console);
    tokio::spawn(async move {
        let for_reading = console.clone();
        let witnessed = tokio::task::spawn_blocking(move || checkpoints(&for_reading))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let heads: Vec<(i64, String)> = witnessed
            .iter()
            .map(|c| (c.position, c.hash.clone()))
            .collect();
        let ended = match console.warroom.ledger().verify_witnessed(&heads).await {
            Ok(report) => {
                let intact = report.problem.is_none();
                let mut said = report.to_string();
                if !heads.is_empty() {
                    said.push_str(&format!("; {} checkpoints compared", heads.len()));
                }
                (intact, said)
            }
            Err(e) => (
                false,
                format!("the store could not be read to the end: {e}"),
            ),
        };
        if !ended.0 {
            tracing::error!("the ledger verify from the web console found: {}", ended.1);
        }
        let mut state = console
            .verify
            .lock()
            .expect("the verify state is never poisoned");
        if let Some(v) = state.as_mut() {
            v.ended = Some((console.now(), ended.0, ended.1));
        }
    });
}
