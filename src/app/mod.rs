//! Use cases: whatever arrives from a chat, the console, a transcript or HTTP becomes an
//! [`Input`] and goes through [`Warroom::handle`], which routes it, asks the domain to decide,
//! and appends the resulting events. Front ends stay thin: they build inputs and show replies.
//! This module keeps only that path (input → handle → append → catch up); each feature is a
//! slice of its own (`incidents`, `chat`, `alerts`, `paging`, `runs`, `shifts`, `releases`,
//! `deploys`) with its use cases and its view of the read model.
//!
//! Idempotency: every input carries a key (a Discord message id, a transcript's identity and
//! line); the k-th event an input produces gets an id derived from that key, so an input seen
//! twice adds nothing the second time.

pub mod alerts;
pub mod chat;
mod commands;
pub mod delivery;
pub mod deploys;
pub mod error;
pub mod followups;
pub mod incidents;
mod input;
pub mod notifications;
pub mod paging;
pub mod projection;
pub mod reading;
pub mod releases;
pub mod replay;
pub mod runs;
pub mod schedules;
pub mod shifts;
pub mod transcript;

pub use input::{event_id, Caller, HandOff, Input, InputKind, NextAction, Notice, Outcome};

use crate::config::Settings;
use crate::domain::event::{Event, Recorded, SCHEMA_VERSION};
use crate::domain::incident::IncidentError;
use crate::domain::postmortem::PostMortem;
use crate::domain::types::IncidentNumber;
use crate::store::{AppendError, Appended, ExpectedVersion, Ledger, NewEvent, StoredEvent};
use anyhow::Context;
use chat::view::channel_stream;
use chrono::{DateTime, Utc};
use error::AppError;
use projection::Projection;
use reading::Reader;
use std::sync::Arc;
use tokio::sync::Mutex;
use uuid::Uuid;

/// How often a decision (an order, a run, a release, a shift) is retried when another writer
/// changed its stream meanwhile.
const MAX_ATTEMPTS: usize = 5;

/// An event to append, with its own time and actor (imported copies keep the original's).
#[derive(Clone)]
struct Pending {
    event: Event,
    at: DateTime<Utc>,
    actor: String,
}

impl Pending {
    /// What warroom records by itself (opening an incident for an alert, a page), at `at`.
    fn system(event: Event, at: DateTime<Utc>) -> Pending {
        Pending {
            event,
            at,
            actor: crate::domain::event::SYSTEM_ACTOR.to_string(),
        }
    }
}

/// The application: the ledger, the settings, and the projection the use cases route by.
pub struct Warroom {
    ledger: Ledger,
    settings: Arc<Settings>,
    /// Held while an input is handled, so inputs within one process are decided one at a
    /// time; other processes are caught by the store's expected-version check.
    projection: Arc<Mutex<Projection>>,
    /// The task that applies new events to the projection as they commit, so a request
    /// rarely has to read the ledger to be current; stopped when the application is dropped.
    follower: tokio::task::AbortHandle,
    /// Woken when an escalation may have become due sooner (an incident opened by an alert,
    /// an acknowledgement), so the scheduler need not poll.
    escalation_changed: tokio::sync::Notify,
    /// Woken when a runbook run is queued here, so agents' held polls take it at once.
    job_queued: tokio::sync::Notify,
    /// Where recorded pages go to be delivered, when a delivery worker runs.
    page_queue: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<delivery::Delivery>>,
    /// Where notices go, when a chat front end listens.
    notices: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Notice>>,
    /// Incidents closed here so far: the ledger's witness checkpoints at each close.
    closes: tokio::sync::watch::Sender<u64>,
    /// The incidents orders were last given to, folded, so the next order reads only what
    /// was appended since.
    folded: incidents::folded::FoldedIncidents,
    /// Agents that asked this instance for work, and when they last did (for the console).
    agents_seen: std::sync::Mutex<std::collections::BTreeMap<String, runs::AgentSeen>>,
}

/// A refusal to show the person and record.
struct Refusal(String);

impl From<IncidentError> for Refusal {
    fn from(e: IncidentError) -> Self {
        Refusal(e.to_string())
    }
}

/// Refuses `command` when the caller's role is below `needs`; the operator's own tools
/// (`access: None`) may do everything.
fn allowed(
    access: Option<crate::domain::access::Access>,
    needs: crate::domain::access::Access,
    command: &str,
) -> Result<(), Refusal> {
    match access {
        Some(held) if !held.allows(needs) => Err(Refusal(format!(
            "{command} needs the {needs} role in warroom and you have {held}; ask whoever runs warroom to grant it (discord.access in warroom.toml)"
        ))),
        _ => Ok(()),
    }
}

enum Failure {
    Refused(Refusal),
    Store(anyhow::Error),
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused(r)
    }
}

impl From<IncidentError> for Failure {
    fn from(e: IncidentError) -> Self {
        Failure::Refused(e.into())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Store(e)
    }
}

impl Warroom {
    /// Builds the application on a ledger, rebuilding the projection from it.
    pub async fn start(ledger: Ledger, settings: Settings) -> anyhow::Result<Warroom> {
        let projection = Arc::new(Mutex::new(Projection::default()));
        let follower = tokio::spawn(follow(ledger.clone(), projection.clone())).abort_handle();
        let app = Warroom {
            ledger,
            settings: Arc::new(settings),
            projection,
            follower,
            escalation_changed: tokio::sync::Notify::new(),
            job_queued: tokio::sync::Notify::new(),
            page_queue: std::sync::OnceLock::new(),
            notices: std::sync::OnceLock::new(),
            closes: tokio::sync::watch::Sender::new(0),
            folded: Default::default(),
            agents_seen: Default::default(),
        };
        {
            let mut projection = app.projection.lock().await;
            app.catch_up(&mut projection).await?;
        }
        Ok(app)
    }

    /// Sends notices (an incident opened or closed here) to a chat front end from now on.
    pub fn send_notices_to(&self, queue: tokio::sync::mpsc::UnboundedSender<Notice>) {
        let _ = self.notices.set(queue);
    }

    /// Changes each time an incident is closed here.
    pub fn incident_closes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.closes.subscribe()
    }

    pub(crate) fn notify(&self, notice: Notice) {
        if let Some(queue) = self.notices.get() {
            let _ = queue.send(notice);
        }
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The projection, locked and caught up with everything appended so far.
    async fn current(&self) -> anyhow::Result<tokio::sync::MutexGuard<'_, Projection>> {
        let mut projection = self.projection.lock().await;
        self.catch_up(&mut projection).await?;
        Ok(projection)
    }

    /// Brings the projection up to date, so what was just appended is visible to the next
    /// decision.
    async fn refresh(&self) -> anyhow::Result<()> {
        self.current().await.map(drop)
    }

    /// Applies everything appended since the projection's position, by anyone: the store is
    /// read unless this process is its only writer and the projection is already at the
    /// head, so whatever any instance committed before this call is seen (a view, a chat
    /// command).
    async fn catch_up(&self, projection: &mut Projection) -> anyhow::Result<()> {
        self.catch_up_to(projection, self.ledger.sole_writer())
            .await
    }

    /// [`Warroom::catch_up`] for warroom's own loops (alert intake after its opens,
    /// escalations, notifications): also trusts the head the PostgreSQL listener keeps, so
    /// another instance's commit of the last millisecond or so is seen on the next pass.
    /// Those loops decide again every pass and append under ids that make a repeat a no-op;
    /// on PostgreSQL each read is a round trip under the projection lock, which at 1k new
    /// incidents a second kept pages waiting hundreds of milliseconds.
    async fn catch_up_known(&self, projection: &mut Projection) -> anyhow::Result<()> {
        self.catch_up_to(projection, self.ledger.head_is_known())
            .await
    }

    async fn catch_up_to(
        &self,
        projection: &mut Projection,
        head_is_known: bool,
    ) -> anyhow::Result<()> {
        // A projection already at a head known without asking has nothing to read: most
        // requests, and every line of a replay, ask this several times.
        if head_is_known && projection.position >= self.ledger.known_head() {
            return Ok(());
        }
        loop {
            let batch = self.ledger.read_all(projection.position, 2000).await?;
            if batch.is_empty() {
                return Ok(());
            }
            for stored in &batch {
                apply_stored(projection, stored, to_recorded(stored));
            }
        }
    }

    /// Handles one input from any front end.
    pub async fn handle(&self, input: Input) -> Result<Outcome, AppError> {
        let input = input.normalised();
        if let InputKind::Alerts(alerts) = &input.kind {
            // Alerts from every door (HTTP, a transcript, the console) take the one batched
            // intake, which decides under the lock and appends outside it. Their ids derive
            // from the alerts themselves, so the input's key plays no part.
            let report = self.ingest_alerts(input.at, alerts).await?;
            return Ok(report.into());
        }
        self.handle_any(input).await.map_err(AppError::classify)
    }

    async fn handle_any(&self, input: Input) -> anyhow::Result<Outcome> {
        let mut projection = self.projection.lock().await;
        self.catch_up(&mut projection).await?;
        if input.caller.incident_channels_only
            && !chat::is_incident_channel(&projection, &input.channel)
        {
            return Ok(Outcome::default());
        }
        // A plain message is a fact appended under its key's id, and the append itself tells
        // a repeat (`record_facts`): the busiest input costs one read and one append. Inputs
        // that decide something look for their first event before deciding again.
        let command = input.command_text();
        let said = matches!(input.kind, InputKind::Message { .. }) && command.is_none();
        if !said && self.ledger.contains_event(event_id(&input.key, 0)).await? {
            return Ok(Outcome {
                already_recorded: true,
                ..Outcome::default()
            });
        }
        let outcome = match &input.kind {
            InputKind::Message { .. } if let Some(text) = command => {
                self.command(&mut projection, &input, text).await
            }
            InputKind::Message {
                text,
                message_id,
                reply_to,
                attachments,
            } => {
                let message =
                    chat::messages::chat_message(&input, text, message_id, reply_to, attachments);
                let recorded = self.record_message(&mut projection, &input, message).await;
                // Replying `confirm` confirms the speaker's waiting runbook run.
                match recorded {
                    Ok(outcome) if !outcome.already_recorded => {
                        let reply = self.confirm_by_reply(&projection, &input, text).await;
                        Ok(Outcome { reply, ..outcome })
                    }
                    other => other,
                }
            }
            InputKind::Edit {
                message_id,
                text,
                found_at,
            } => {
                self.edit_or_delete(
                    &mut projection,
                    &input,
                    message_id,
                    Some(text.clone()),
                    *found_at,
                )
                .await
            }
            InputKind::Delete {
                message_id,
                found_at,
            } => {
                self.edit_or_delete(&mut projection, &input, message_id, None, *found_at)
                    .await
            }
            // Taken by the batched intake before the lock (see `handle`).
            InputKind::Alerts(_) => Ok(Outcome::default()),
            InputKind::Deploy(deploy) => self.record_deploy(&projection, &input, deploy).await,
        };
        if !said {
            // What was decided is visible at once to what reads without catching up (the
            // metrics scrape, the escalation scheduler); a message changes nothing they read.
            self.catch_up(&mut projection).await?;
        }
        outcome
    }

    /// Appends facts — events no rule depends on — to the incident's stream, or else to the
    /// input channel's own stream, without an expected version.
    async fn record_facts(
        &self,
        incident: Option<IncidentNumber>,
        input: &Input,
        pending: Vec<Pending>,
    ) -> anyhow::Result<Outcome> {
        self.queue_facts(incident, input, pending).await?.await
    }

    /// [`Warroom::record_facts`] in two steps: returns once the append is queued, with what
    /// gives the outcome once it commits.
    async fn queue_facts(
        &self,
        incident: Option<IncidentNumber>,
        input: &Input,
        pending: Vec<Pending>,
    ) -> Result<
        impl std::future::Future<Output = anyhow::Result<Outcome>> + Send + 'static,
        AppendError,
    > {
        let count = pending.len();
        let stream = incident
            .map(IncidentNumber::stream_id)
            .unwrap_or_else(|| channel_stream(&input.channel));
        let first = event_id(&input.key, 0);
        let queued = self
            .queue_ids(&stream, ExpectedVersion::Any, keyed(&input.key, pending))
            .await?;
        Ok(async move {
            match queued.await {
                Ok(appended) => Ok(outcome_of(&appended, count, incident)),
                // The input was recorded before, with other content (a message heard live,
                // then found edited in the history): it stays as first recorded.
                Err(AppendError::DuplicateEventId { event_id: id, .. }) if id == first => {
                    Ok(Outcome {
                        already_recorded: true,
                        incident,
                        ..Outcome::default()
                    })
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn pending(&self, input: &Input, event: Event) -> Pending {
        Pending {
            event,
            at: input.at,
            actor: input.from.clone(),
        }
    }

    /// Appends events whose ids derive from the input's key and their place in the list.
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        key: &str,
        pending: Vec<Pending>,
    ) -> Result<Appended, AppendError> {
        self.append_ids(stream, expected, keyed(key, pending)).await
    }

    /// Appends events with ids chosen by the caller.
    async fn append_ids(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<(Uuid, Pending)>,
    ) -> Result<Appended, AppendError> {
        self.queue_ids(stream, expected, events).await?.await
    }

    /// Queues an append of events with ids chosen by the caller; see [`Ledger::queue_append`].
    async fn queue_ids(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<(Uuid, Pending)>,
    ) -> Result<crate::store::QueuedAppend, AppendError> {
        let events = events
            .into_iter()
            .map(|(id, p)| NewEvent {
                event_id: id,
                event_type: p.event.event_type().to_string(),
                schema_version: SCHEMA_VERSION,
                occurred_at: p.at,
                actor: p.actor,
                payload: p.event.to_payload(),
            })
            .collect();
        self.ledger.queue_append(stream, expected, events).await
    }

    /// Every event of an incident, in stream order.
    pub async fn incident_records(&self, number: IncidentNumber) -> anyhow::Result<Vec<Recorded>> {
        self.reader().incident_records(number).await
    }

    /// The post-mortem draft of an incident, from its events.
    pub async fn postmortem(&self, number: IncidentNumber) -> anyhow::Result<PostMortem> {
        self.reader().postmortem(number).await
    }

    /// The post-mortem draft with as much of the timeline as `detail` says.
    pub async fn postmortem_in(
        &self,
        number: IncidentNumber,
        detail: crate::domain::postmortem::Detail,
    ) -> anyhow::Result<PostMortem> {
        self.reader().postmortem_in(number, detail).await
    }

    /// The read-only side of this application's ledger (two reference counts: cheap).
    fn reader(&self) -> Reader {
        Reader::sharing(self.ledger.clone(), self.settings.clone())
    }
}

impl Drop for Warroom {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

/// Applies one stored event, unless the projection already has it. Both the follower and
/// `catch_up` apply events in position order from the projection's position, so whatever
/// either applies next is the one after it.
fn apply_stored(
    projection: &mut Projection,
    stored: &StoredEvent,
    recorded: anyhow::Result<Recorded>,
) {
    if stored.position <= projection.position {
        return;
    }
    match recorded {
        Ok(r) => projection.apply(&stored.stream_id, &r),
        Err(e) => {
            tracing::warn!(
                position = stored.position,
                "skipping an event this build cannot read: {e}"
            );
            projection.position = stored.position;
        }
    }
}

/// Follows the ledger, applying each event to the projection as soon as it commits (here or,
/// through the store's notifications, in another instance). This process's own commits come
/// as written, without a read back; parsing happens outside the projection's lock, and a
/// batch is applied under one lock.
async fn follow(ledger: Ledger, projection: Arc<Mutex<Projection>>) {
    loop {
        let from = projection.lock().await.position;
        let mut subscription = ledger.subscribe(from);
        loop {
            match subscription.next_batch().await {
                Ok(batch) => {
                    let recorded: Vec<_> = batch.iter().map(to_recorded).collect();
                    // One lock per batch: requests wait for a page's applying, not queue
                    // behind it event by event.
                    let mut projection = projection.lock().await;
                    if batch[0].position > projection.position + 1 {
                        // The follower fell behind the projection's own reads and then
                        // further: start again from the projection's position.
                        break;
                    }
                    for (stored, recorded) in batch.iter().zip(recorded) {
                        apply_stored(&mut projection, stored, recorded);
                    }
                }
                // Closed while the follower was still applying the last commits (a replay
                // that ends at once): nothing is wrong, and nothing more will come.
                Err(_) if ledger.is_closed() => return,
                Err(e) => {
                    tracing::warn!(
                        "the projection follower could not read the ledger (retrying in 1 s): {e}"
                    );
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

/// Reads a stored event into the domain's terms.
pub fn to_recorded(stored: &StoredEvent) -> anyhow::Result<Recorded> {
    let event = Event::from_stored(&stored.event_type, &stored.payload)
        .with_context(|| format!("event at position {}", stored.position))?;
    Ok(Recorded {
        event_id: stored.event_id,
        position: stored.position,
        at: stored.occurred_at,
        actor: stored.actor.clone(),
        event,
    })
}

/// Events with ids derived from the input's key and their place in the list.
fn keyed(key: &str, pending: Vec<Pending>) -> Vec<(Uuid, Pending)> {
    pending
        .into_iter()
        .enumerate()
        .map(|(i, p)| (event_id(key, i), p))
        .collect()
}

fn count_new(appended: &Appended, count: usize) -> usize {
    if appended.already_stored {
        0
    } else {
        count
    }
}

fn outcome_of(appended: &Appended, count: usize, incident: Option<IncidentNumber>) -> Outcome {
    Outcome {
        events: count_new(appended, count),
        already_recorded: appended.already_stored,
        incident,
        ..Outcome::default()
    }
}
