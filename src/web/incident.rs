//! `GET /incidents/N`: one incident — its state, what a responder can do, and the timeline of
//! every event. The page is streamed: the first screen of events goes out with the head,
//! the rest of a long incident follows page by page. `GET /incidents/N/live` then sends each
//! new event as it commits (Server-Sent Events), from the last one the page holds.

use super::session::Person;
use super::timeline::Lines;
use super::{layout, refusal, Shared};
use crate::app::incidents::view::IncidentSummary;
use crate::domain::types::{IncidentNumber, IncidentStatus};
use crate::store::StoredEvent;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use std::convert::Infallible;

/// Events in the first part of the page: more than a screen holds, few enough to render at
/// once on any incident.
const FIRST_SCREEN: usize = 200;
/// Events per later part of a streamed page.
const PAGE: usize = 2_000;

/// How often a live timeline sends what has committed while events keep coming: well
/// inside the second a line may take to show, and few messages a second in a storm.
const SEND_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// The incident a path names, with the person allowed to read it; else the answer to give.
pub(super) async fn incident_for(
    console: &Shared,
    headers: &HeaderMap,
    given: &str,
    back: &str,
) -> Result<(Person, IncidentSummary), Box<Response>> {
    let person = console.reader(headers, back)?;
    let Ok(number) = given.parse::<IncidentNumber>() else {
        return Err(Box::new(refusal(
            StatusCode::NOT_FOUND,
            &format!("'{given}' is not an incident number; incidents are INC-1, INC-2, … (the list is at /incidents)."),
            Some(&person),
            &console.web,
        )));
    };
    match console.warroom.incident(number).await {
        Ok(Some(summary)) => Ok((person, summary)),
        Ok(None) => Err(Box::new(refusal(
            StatusCode::NOT_FOUND,
            &format!("{number} does not exist; the list is at /incidents."),
            Some(&person),
            &console.web,
        ))),
        Err(e) => Err(Box::new(console.unavailable(&person, "an incident", &e))),
    }
}

pub async fn page(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(given): Path<String>,
) -> Response {
    let back = format!("/incidents/{given}");
    let (person, incident) = match incident_for(&console, &headers, &given, &back).await {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let body = html! {
        (heading(&incident))
        @if person.access.allows(crate::domain::access::Access::Responder) {
            (super::actions::forms(&console, &person, &incident))
        } @else {
            p.hint { "You have the " (person.access) " role: you can read this incident, not act on it." }
        }
        h2 { "Timeline" }
        ol #timeline data-incident=(incident.number.0) {
            (layout::stream_mark())
        }
    };
    let title = format!("{} {}", incident.number, incident.title);
    let whole = layout::frame(&title, Some(&person), &console.web, body).into_string();
    let (top, bottom) = whole
        .split_once(layout::STREAM_MARK)
        .expect("the page has its stream mark");
    let parts = Parts {
        console: console.clone(),
        form_token: person.session.form_token(&console.web),
        stream: incident.number.stream_id(),
        number: incident.number,
        after: 0,
        top: Some(top.to_string()),
        bottom: Some(bottom.to_string()),
    };
    let body = Body::from_stream(futures_util::stream::unfold(parts, Parts::next));
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// `GET /incidents/N/state`: the state block alone, which the page's script fetches again
/// when a line that changes it arrives (a severity, a role, an acknowledgement, a resolve).
pub async fn state(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(given): Path<String>,
) -> Response {
    let back = format!("/incidents/{given}");
    match incident_for(&console, &headers, &given, &back).await {
        Ok((_, incident)) => {
            axum::response::Html(state_block(&incident).into_string()).into_response()
        }
        Err(answer) => *answer,
    }
}

/// The incident's title, its post-mortem link and its state.
fn heading(i: &IncidentSummary) -> Markup {
    html! {
        h1 { (i.number) " " (i.title) }
        p.links { a href={ "/incidents/" (i.number.0) "/postmortem" } { "Post-mortem draft" } }
        (state_block(i))
    }
}

/// Severity, status, commander, when it opened and was acknowledged, its channel.
fn state_block(i: &IncidentSummary) -> Markup {
    html! {
        dl.state #state {
            dt { "Severity" } dd { span class={ "sev " (i.severity) } { (i.severity) } }
            dt { "Status" } dd { (i.status) }
            dt { "Commander" } dd { (i.commander.as_deref().unwrap_or("nobody yet")) }
            dt { "Opened" } dd title=(i.opened_at.to_rfc3339()) { (i.opened_at.format("%Y-%m-%d %H:%M UTC")) " by " (i.opened_by) }
            dt { "Acknowledged" } dd {
                @match i.acknowledged_at {
                    Some(at) => { "after " (super::incidents::span(at - i.opened_at)) }
                    None => { @if i.status == IncidentStatus::Open { "not yet" } @else { "—" } }
                }
            }
            dt { "Channel" } dd { "#" (i.channel) }
        }
    }
}

/// A streamed incident page: the head with the first screen of events, then the rest a page
/// at a time, then the foot, which tells the script the last version shown.
struct Parts {
    console: Shared,
    form_token: String,
    stream: String,
    number: IncidentNumber,
    /// The last stream version sent.
    after: i64,
    top: Option<String>,
    bottom: Option<String>,
}

impl Parts {
    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Parts)> {
        let first = self.top.is_some();
        if !first && self.bottom.is_none() {
            return None;
        }
        let limit = if first { FIRST_SCREEN } else { PAGE };
        let events = match self
            .console
            .warroom
            .ledger()
            .read_stream_after(&self.stream, self.after, limit)
            .await
        {
            Ok(events) => events,
            Err(e) => {
                // Mid-page, all that can be done is to end it; the reader reloads.
                tracing::error!("the incident page could not read the ledger: {e}");
                return Some((Err(std::io::Error::other(e.to_string())), self.ended()));
            }
        };
        let mut out = self.top.take().unwrap_or_default();
        self.render(&events, &mut out);
        if events.len() < limit {
            let bottom = self.bottom.take().unwrap_or_default();
            out.push_str(&format!(
                "<div id=\"end\" hidden data-version=\"{}\" data-token=\"{}\"></div>",
                self.after,
                maud::html! { (self.form_token) }.into_string()
            ));
            out.push_str(&bottom);
        }
        Some((Ok(Bytes::from(out)), self))
    }

    fn ended(mut self) -> Parts {
        self.top = None;
        self.bottom = None;
        self
    }

    fn render(&mut self, events: &[StoredEvent], out: &mut String) {
        let settings = self.console.warroom.settings();
        let lines = Lines {
            number: self.number,
            directory: &settings.directory,
            tz: settings.timezone,
            form_token: Some(&self.form_token),
        };
        for stored in events {
            self.after = stored.stream_version;
            match crate::app::to_recorded(stored) {
                Ok(r) => out.push_str(&lines.line(stored.stream_version, &r).into_string()),
                Err(e) => {
                    tracing::warn!("the incident page skipped an event it cannot read: {e:#}")
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct LiveQuery {
    after: Option<i64>,
}

/// `GET /incidents/N/live?after=V`: the incident's events after version `V` (or after the
/// browser's `Last-Event-ID` when it reconnects) as the timeline lines to append, as they
/// commit: `lines` messages (each id the last version in it), at most every
/// [`SEND_EVERY`] while events keep coming. Ends when the server stops or the browser goes.
pub async fn live(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(given): Path<String>,
    Query(q): Query<LiveQuery>,
) -> Response {
    let back = format!("/incidents/{given}");
    let (person, incident) = match incident_for(&console, &headers, &given, &back).await {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let after = resumed.or(q.after).unwrap_or(0).max(0);
    let (tx, rx) = tokio::sync::mpsc::channel::<SseEvent>(64);
    let form_token = person.session.form_token(&console.web);
    tokio::spawn(follow(console, incident.number, after, form_token, tx));
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Sends the incident's events after `after` down `tx`: those already stored, then each
/// commit's as it comes. The subscription starts at the head read before the catch-up, so
/// nothing committed in between is missed; versions already sent are skipped.
async fn follow(
    console: Shared,
    number: IncidentNumber,
    mut after: i64,
    form_token: String,
    tx: tokio::sync::mpsc::Sender<SseEvent>,
) {
    let ledger = console.warroom.ledger().clone();
    let stream = number.stream_id();
    let mut stopped = console.stopped.clone();
    let settings = console.warroom.settings();
    let lines = Lines {
        number,
        directory: &settings.directory,
        tz: settings.timezone,
        form_token: Some(&form_token),
    };
    // Lines go in messages: the catch-up a page at a time, then what commits — at once when
    // the last message went more than SEND_EVERY ago, else gathered until then. A message
    // said alone shows at once; a storm of alerts joining the incident costs a few messages
    // a second, not one per commit.
    let render = |events: &mut dyn Iterator<Item = &StoredEvent>,
                  after: &mut i64,
                  html: &mut String| {
        for stored in events {
            if stored.stream_id != stream || stored.stream_version <= *after {
                continue;
            }
            *after = stored.stream_version;
            match crate::app::to_recorded(stored) {
                Ok(r) => html.push_str(&lines.line(stored.stream_version, &r).0),
                Err(e) => tracing::warn!("a live timeline skipped an event it cannot read: {e:#}"),
            }
        }
    };
    let message = |html: &mut String, after: i64| {
        SseEvent::default()
            .id(after.to_string())
            .event("lines")
            .data(std::mem::take(html))
    };
    let head = match ledger.head().await {
        Ok(head) => head,
        Err(e) => {
            tracing::warn!("a live timeline could not read the ledger's head: {e}");
            return;
        }
    };
    let mut subscription = ledger.subscribe(head);
    let stopping = async move {
        let _ = stopped.wait_for(|s| *s).await.is_ok();
    };
    tokio::pin!(stopping);
    loop {
        let page = match ledger.read_stream_after(&stream, after, PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!("a live timeline could not read the ledger: {e}");
                return;
            }
        };
        let short = page.len() < PAGE;
        let mut html = String::new();
        render(&mut page.iter(), &mut after, &mut html);
        if !html.is_empty() && tx.send(message(&mut html, after)).await.is_err() {
            return;
        }
        if short {
            break;
        }
    }
    let mut pending = String::new();
    let mut last_sent = tokio::time::Instant::now() - SEND_EVERY;
    loop {
        let due = last_sent + SEND_EVERY;
        tokio::select! {
            _ = tx.closed() => return,
            _ = &mut stopping => return,
            _ = tokio::time::sleep_until(due), if !pending.is_empty() => {}
            batch = subscription.next_batch() => {
                let Ok(batch) = batch else {
                    tracing::warn!("a live timeline lost the ledger; the browser reconnects");
                    return;
                };
                render(&mut batch.iter(), &mut after, &mut pending);
            }
        }
        if !pending.is_empty() && tokio::time::Instant::now() >= due {
            if tx.send(message(&mut pending, after)).await.is_err() {
                return;
            }
            last_sent = tokio::time::Instant::now();
        }
    }
}
