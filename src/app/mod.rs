//! Use cases: whatever arrives from a chat, the console, a transcript or HTTP becomes an
//! [`Input`] and goes through [`Warroom::handle`], which routes it, asks the domain to decide,
//! and appends the resulting events. Front ends stay thin: they build inputs and show replies.
//!
//! Idempotency: every input carries a key (a Discord message id, a transcript's identity and
//! line); the k-th event an input produces gets an id derived from that key, so an input seen
//! twice adds nothing the second time.

pub mod alerts;
pub mod chat;
pub mod deploys;
pub mod error;
pub mod intake;
pub mod jobs;
pub mod paging;
pub mod projection;
pub mod reading;
pub mod releases;
pub mod replay;
pub mod runbooks;
pub mod shifts;
pub mod transcript;

use crate::config::Settings;
use crate::domain::access::Access;
use crate::domain::command::{self, ChatCommand};
use crate::domain::contacts::mentions;
use crate::domain::deploy::Deploy;
use crate::domain::event::{AlertFacts, Attachment, ChatMessage, Event, Recorded, SCHEMA_VERSION};
use crate::domain::incident::{self, IncidentCommand, IncidentError};
use crate::domain::postmortem::{self, PostMortem};
use crate::domain::types::{IncidentNumber, Severity};
use crate::store::{AppendError, Appended, ExpectedVersion, Ledger, NewEvent, StoredEvent};
use anyhow::Context;
use chrono::{DateTime, Utc};
use error::AppError;
use projection::{channel_stream, IncidentSummary, Place, Projection};
use reading::Reader;
use std::sync::Arc;
use tokio::sync::Mutex;
use uuid::Uuid;

/// Namespace of the ids derived from input keys (UUID v5).
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5f1c_2a0e_8d4b_4c1e_9a37_2b6d_e0f4_7a11);

/// Events read per page when looking back through a channel's stream.
const LOOKBACK_PAGE: usize = 256;

/// How often a decision is retried when another writer changed the stream meanwhile.
const MAX_ATTEMPTS: usize = 5;

/// How often `/incident open` tries the next number. Every lost race means another instance
/// took a number, so the whole system progresses; one instance can still lose several races
/// in a row while another opens a burst of incidents.
const MAX_OPEN_ATTEMPTS: usize = 64;

/// The id of the `index`-th event produced by the input with this key.
pub fn event_id(key: &str, index: usize) -> Uuid {
    Uuid::new_v5(&EVENT_ID_NAMESPACE, format!("{key}#{index}").as_bytes())
}

/// Something that happened in a channel, from any front end.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Identity of the input for idempotency: unique per message or transcript line.
    pub key: String,
    /// When it happened (the injected clock: Discord's timestamp, a transcript's `at`).
    pub at: DateTime<Utc>,
    /// Who did it, as the source names them.
    pub from: String,
    pub channel: String,
    pub kind: InputKind,
    /// What the front end vouches for about the person.
    pub caller: Caller,
}

impl Input {
    /// The input with control characters (NUL among them) taken out of the names that become
    /// a stream id and an event's actor, whatever front end it came from: the store cannot
    /// keep a NUL, and one such name used to fail a whole group commit on PostgreSQL.
    /// Texts need nothing: they travel inside the JSON payload, where they are escaped.
    pub fn normalised(mut self) -> Input {
        let clean = |name: &mut String| {
            if name.chars().any(char::is_control) {
                name.retain(|c| !c.is_control());
            }
        };
        clean(&mut self.from);
        clean(&mut self.channel);
        self
    }
}

/// What a front end tells the use cases about who is speaking and how it works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caller {
    /// The warroom role the front end granted the person; `None` for the operator's own
    /// tools (console, transcripts, the CLI), which are trusted.
    pub access: Option<Access>,
    /// Whether `/incident open` gives the incident a channel of its own (`inc-42-title`),
    /// as a chat service that can create channels does, rather than binding the channel the
    /// command was typed in.
    pub dedicated_channel: bool,
    /// Whether messages are always plain text, never commands: a chat service with its own
    /// command path (Discord's slash commands) records "/incident close" typed in a message
    /// as what was said, not as an order.
    pub plain_text: bool,
}

/// What happened that a chat front end acts on outside the reply: create the incident's
/// channel, publish the post-mortem, announce an alert that opened nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Opened(IncidentNumber),
    Closed(IncidentNumber),
    /// An alert recorded in the alerts channel, in no incident; `title` and `severity` are
    /// what its route would open an incident with.
    Alert {
        alert: Box<AlertFacts>,
        title: String,
        severity: Severity,
    },
    /// A runbook run moved on (claimed, a step ended, finished, lost): said in the
    /// incident's channel.
    Run {
        incident: IncidentNumber,
        text: String,
    },
    /// A guard rule flagged a deploy: a warning in the announcement channel.
    DeployFlagged {
        text: String,
    },
    /// An on-call shift ended: its summary goes to the announcement channel.
    ShiftEnded(u32),
    /// A signed ledger checkpoint taken at an incident close: posted in the announcement
    /// channel, one more witness outside the database.
    Checkpoint {
        text: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum InputKind {
    /// A message; a text starting with `/` is a command.
    Message {
        text: String,
        message_id: Option<String>,
        /// The source's id of the message this one replies to.
        reply_to: Option<String>,
        attachments: Vec<Attachment>,
    },
    Edit {
        message_id: String,
        text: String,
        /// When warroom found the edit in the history after being away; `None` when it
        /// heard of it as it happened.
        found_at: Option<DateTime<Utc>>,
    },
    Delete {
        message_id: String,
        /// When warroom found the message gone from the history after being away.
        found_at: Option<DateTime<Utc>>,
    },
    /// Alerts already read from their sender's body.
    Alerts(Vec<AlertFacts>),
    /// A deploy reported by a pipeline, a chat command or a transcript.
    Deploy(Box<Deploy>),
}

/// What handling an input did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// The answer to show the person, for commands.
    pub reply: Option<String>,
    /// Events appended.
    pub events: usize,
    /// True when the input had been handled before and nothing was appended.
    pub already_recorded: bool,
    /// The incident the input went to, if any.
    pub incident: Option<IncidentNumber>,
    /// True when a command was refused (the reply says why): front ends show it privately.
    pub refused: bool,
}

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
    page_queue: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<paging::Delivery>>,
    /// Where notices go, when a chat front end listens.
    notices: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Notice>>,
    /// Incidents closed here so far: the ledger's witness checkpoints at each close.
    closes: tokio::sync::watch::Sender<u64>,
}

/// A refusal to show the person and record.
struct Refusal(String);

impl From<IncidentError> for Refusal {
    fn from(e: IncidentError) -> Self {
        Refusal(e.to_string())
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

    /// Applies everything appended since the projection's position, by anyone.
    async fn catch_up(&self, projection: &mut Projection) -> anyhow::Result<()> {
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
        self.handle_any(input).await.map_err(AppError::classify)
    }

    async fn handle_any(&self, input: Input) -> anyhow::Result<Outcome> {
        let input = input.normalised();
        let mut projection = self.projection.lock().await;
        self.catch_up(&mut projection).await?;
        if self.ledger.contains_event(event_id(&input.key, 0)).await? {
            return Ok(Outcome {
                already_recorded: true,
                ..Outcome::default()
            });
        }
        let outcome = match &input.kind {
            InputKind::Message { text, .. }
                if !input.caller.plain_text && text.trim_start().starts_with('/') =>
            {
                self.command(&mut projection, &input, text.trim()).await
            }
            InputKind::Message {
                text,
                message_id,
                reply_to,
                attachments,
            } => {
                let message = ChatMessage {
                    channel: input.channel.clone(),
                    message_id: message_id.clone(),
                    author: input.from.clone(),
                    text: text.clone(),
                    mentions: mentions(text),
                    reply_to: reply_to.clone(),
                    attachments: attachments.clone(),
                };
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
            InputKind::Alerts(alerts) => self.record_alerts(&mut projection, &input, alerts).await,
            InputKind::Deploy(deploy) => self.record_deploy(&projection, &input, deploy).await,
        };
        self.catch_up(&mut projection).await?;
        outcome
    }

    /// Records a message where the channel's messages go now. A message is a fact: no rule
    /// depends on the stream's version, so it is appended without reading the stream first
    /// (recording stays O(1) however long the incident runs).
    async fn record_message(
        &self,
        projection: &mut Projection,
        input: &Input,
        message: ChatMessage,
    ) -> anyhow::Result<Outcome> {
        let incident = projection.bound_incident(&input.channel);
        let pending = vec![self.pending(input, Event::MessagePosted(message))];
        self.record_facts(incident, input, pending).await
    }

    /// Appends facts — events no rule depends on — to the incident's stream, or else to the
    /// input channel's own stream, without an expected version.
    async fn record_facts(
        &self,
        incident: Option<IncidentNumber>,
        input: &Input,
        pending: Vec<Pending>,
    ) -> anyhow::Result<Outcome> {
        let count = pending.len();
        let stream = incident
            .map(IncidentNumber::stream_id)
            .unwrap_or_else(|| channel_stream(&input.channel));
        let appended = self
            .append(&stream, ExpectedVersion::Any, &input.key, pending)
            .await?;
        Ok(outcome_of(&appended, count, incident))
    }

    async fn edit_or_delete(
        &self,
        projection: &mut Projection,
        input: &Input,
        message_id: &str,
        new_text: Option<String>,
        found_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<Outcome> {
        let channel = input.channel.clone();
        let place = projection.message_place(&channel, message_id);
        if let Some(Place::Incident(number)) = place {
            let command = match new_text {
                Some(text) => IncidentCommand::EditMessage {
                    channel,
                    message_id: message_id.into(),
                    text,
                    found_at,
                },
                None => IncidentCommand::DeleteMessage {
                    channel,
                    message_id: message_id.into(),
                    found_at,
                },
            };
            return match self.order(projection, input, number, command).await {
                Ok((events, _)) => Ok(Outcome {
                    events,
                    incident: Some(number),
                    ..Outcome::default()
                }),
                Err(Failure::Store(e)) => Err(e),
                Err(Failure::Refused(r)) => Err(AppError::refused(format!(
                    "recording an edit was refused: {}",
                    r.0
                ))),
            };
        }
        // The message lives in the channel's stream, or was never seen: record the fact where
        // the channel's messages go now, stating the text it replaces when it is known.
        let before = match place {
            Some(Place::Channel { position }) => self.text_at(position).await?,
            _ => None,
        };
        let event = match new_text {
            Some(after) => Event::MessageEdited {
                channel: channel.clone(),
                message_id: message_id.into(),
                before,
                after,
                found_at,
            },
            None => Event::MessageDeleted {
                channel: channel.clone(),
                message_id: message_id.into(),
                found_at,
            },
        };
        let incident = projection
            .bound_incident(&channel)
            .filter(|_| place.is_none());
        self.record_facts(incident, input, vec![self.pending(input, event)])
            .await
    }

    /// The message text held by the event at a position (a post or an edit).
    async fn text_at(&self, position: i64) -> anyhow::Result<Option<String>> {
        let found = self.ledger.read_all(position - 1, 1).await?;
        Ok(found
            .first()
            .and_then(|s| to_recorded(s).ok())
            .and_then(|r| match r.event {
                Event::MessagePosted(m) => Some(m.text),
                Event::MessageEdited { after, .. } => Some(after),
                _ => None,
            }))
    }

    async fn record_alerts(
        &self,
        projection: &mut Projection,
        input: &Input,
        alerts: &[AlertFacts],
    ) -> anyhow::Result<Outcome> {
        let mut report = self.new_report();
        for alert in alerts {
            self.ingest_one(projection, input.at, alert, &mut report)
                .await?;
        }
        if !report.opened.is_empty() {
            self.escalation_changed.notify_one();
        }
        self.announce(&report);
        Ok(Outcome {
            reply: (!report.lines.is_empty()).then(|| report.lines.join("\n")),
            events: report.events,
            already_recorded: report.recorded == 0 && report.duplicates > 0,
            incident: report
                .opened
                .first()
                .copied()
                .or_else(|| report.joined.iter().next().copied()),
            refused: false,
        })
    }

    async fn command(
        &self,
        projection: &mut Projection,
        input: &Input,
        text: &str,
    ) -> anyhow::Result<Outcome> {
        let parsed = command::parse(text).map_err(|e| Refusal(e.to_string()));
        if let Ok(p) = &parsed {
            if let Some(runbook) = self.runbook_for(&p.words) {
                let result = self.request_run(projection, input, p, runbook).await;
                return self.conclude(projection, input, text, result).await;
            }
        }
        let interpreted = parsed.and_then(|p| {
            authorise(&p, input.caller.access)?;
            command::interpret(&p).map_err(|e| Refusal(e.to_string()))
        });
        let result = match interpreted {
            Err(refusal) => Err(Failure::Refused(refusal)),
            Ok(ChatCommand::Help) => {
                return Ok(Outcome {
                    reply: Some(command::help_text()),
                    ..Outcome::default()
                });
            }
            Ok(ChatCommand::Open { title, severity }) => {
                self.open(projection, input, title, severity).await
            }
            Ok(ChatCommand::Page {
                incident,
                target,
                message,
            }) => match self.target(projection, &input.channel, incident) {
                Ok(number) => {
                    self.page_on_demand(projection, input, number, &target, message)
                        .await
                }
                Err(refusal) => Err(refusal.into()),
            },
            Ok(ChatCommand::Order { incident, order }) => {
                // An acknowledgement is by whoever sent it.
                let order = match *order {
                    IncidentCommand::Acknowledge { .. } => Box::new(IncidentCommand::Acknowledge {
                        by: input.from.clone(),
                    }),
                    other => Box::new(other),
                };
                match self.target(projection, &input.channel, incident) {
                    Ok(number) => {
                        self.order(projection, input, number, *order)
                            .await
                            .map(|(events, new)| {
                                self.mirror_to_pagers(number, &new);
                                if events > 0
                                    && new.iter().any(|e| matches!(e, Event::IncidentClosed {}))
                                {
                                    self.notify(Notice::Closed(number));
                                    self.closes.send_modify(|n| *n += 1);
                                }
                                (number, events, self.describe(number, &new))
                            })
                    }
                    Err(refusal) => Err(refusal.into()),
                }
            }
            Ok(ChatCommand::Timeline { incident }) => {
                return self
                    .show(projection, input, incident, postmortem::render_timeline)
                    .await;
            }
            Ok(ChatCommand::Postmortem { incident }) => {
                return self
                    .show(projection, input, incident, postmortem::render_markdown)
                    .await;
            }
            Ok(ChatCommand::Oncall(order)) => {
                return match self.oncall(projection, input, order).await? {
                    Ok(outcome) => Ok(outcome),
                    Err(reason) => self.reject(projection, input, text, reason).await,
                };
            }
            Ok(ChatCommand::RecordDeploy { options }) => {
                return match Deploy::from_options(&options, &input.from) {
                    Ok(deploy) => {
                        let outcome = self.record_deploy(projection, input, &deploy).await?;
                        Ok(Outcome {
                            incident: projection.bound_incident(&input.channel),
                            ..outcome
                        })
                    }
                    Err(e) => self.reject(projection, input, text, e.to_string()).await,
                };
            }
            Ok(ChatCommand::LastDeploys {
                service,
                environment,
                count,
            }) => {
                let query = deploys::DeployQuery {
                    service,
                    environment,
                    last: count,
                };
                let found = projection.deploys.matching(|d| query.matches(d));
                let newest: Vec<_> = found.into_iter().rev().take(count).cloned().collect();
                return Ok(Outcome {
                    reply: Some(deploys::describe_deploys(&newest, self.settings.timezone)),
                    ..Outcome::default()
                });
            }
            Ok(ChatCommand::Release { version, order }) => {
                return self
                    .release_command(projection, input, text, version, order)
                    .await;
            }
            Ok(ChatCommand::ConfirmRun { incident, run }) => {
                match self.target(projection, &input.channel, incident) {
                    Ok(number) => {
                        self.decide_run(input, number, runbooks::RunOrder::Confirm(run))
                            .await
                    }
                    Err(refusal) => Err(refusal.into()),
                }
            }
            Ok(ChatCommand::ApproveRun { incident, run }) => {
                match self.target(projection, &input.channel, incident) {
                    Ok(number) => {
                        self.decide_run(input, number, runbooks::RunOrder::Approve(run))
                            .await
                    }
                    Err(refusal) => Err(refusal.into()),
                }
            }
        };
        self.conclude(projection, input, text, result).await
    }

    /// The outcome of a decided command: its reply, or the refusal recorded.
    async fn conclude(
        &self,
        projection: &Projection,
        input: &Input,
        text: &str,
        result: Result<(IncidentNumber, usize, String), Failure>,
    ) -> anyhow::Result<Outcome> {
        match result {
            Ok((number, events, reply)) => Ok(Outcome {
                reply: Some(reply),
                events,
                incident: Some(number),
                ..Outcome::default()
            }),
            Err(Failure::Store(e)) => Err(e),
            Err(Failure::Refused(Refusal(reason))) => {
                self.reject(projection, input, text, reason).await
            }
        }
    }

    /// Records a refused command where the channel's messages go, and replies with the reason.
    async fn reject(
        &self,
        projection: &Projection,
        input: &Input,
        text: &str,
        reason: String,
    ) -> anyhow::Result<Outcome> {
        let number = projection.bound_incident(&input.channel);
        let event = Event::CommandRejected {
            channel: input.channel.clone(),
            command: text.to_string(),
            reason: reason.clone(),
        };
        let recorded = self
            .record_facts(number, input, vec![self.pending(input, event)])
            .await?;
        Ok(Outcome {
            reply: Some(reason),
            refused: true,
            ..recorded
        })
    }

    async fn show(
        &self,
        projection: &Projection,
        input: &Input,
        incident: Option<IncidentNumber>,
        render: fn(&PostMortem) -> String,
    ) -> anyhow::Result<Outcome> {
        let number = match self.target(projection, &input.channel, incident) {
            Ok(n) => n,
            Err(Refusal(reason)) => {
                return Ok(Outcome {
                    reply: Some(reason),
                    refused: true,
                    ..Outcome::default()
                })
            }
        };
        let document = self.postmortem(number).await?;
        Ok(Outcome {
            reply: Some(render(&document)),
            incident: Some(number),
            ..Outcome::default()
        })
    }

    /// The incident a command addresses: the one named, else the channel's.
    fn target(
        &self,
        projection: &Projection,
        channel: &str,
        named: Option<IncidentNumber>,
    ) -> Result<IncidentNumber, Refusal> {
        match named {
            Some(n) if projection.incident(n).is_some() => Ok(n),
            Some(n) => Err(IncidentError::NotFound(n).into()),
            None => projection.bound_incident(channel).ok_or_else(|| {
                Refusal(format!(
                    "#{channel} has no open incident; name one with incident:INC-N, or start one with /incident open"
                ))
            }),
        }
    }

    async fn open(
        &self,
        projection: &mut Projection,
        input: &Input,
        title: String,
        severity: Severity,
    ) -> Result<(IncidentNumber, usize, String), Failure> {
        let dedicated = input.caller.dedicated_channel;
        if let Some(existing) = projection
            .bound_incident(&input.channel)
            .filter(|_| !dedicated)
        {
            let title = projection
                .incident(existing)
                .map(|s| s.title.clone())
                .unwrap_or_default();
            return Err(Refusal(format!(
                "#{} already has {existing} open (“{title}”); close it first, or open the new incident in another channel",
                input.channel
            ))
            .into());
        }
        let imports = self.lookback_of(&input.channel, input.at).await?;
        let deploys = self.deploys_before(projection, None, input.at);
        for _ in 0..MAX_OPEN_ATTEMPTS {
            let number = projection.next_number();
            let channel = if dedicated {
                intake::incident_channel(number, &title)
            } else {
                input.channel.clone()
            };
            let opened = incident::decide(
                None,
                number,
                IncidentCommand::Open {
                    number,
                    title: title.clone(),
                    severity,
                    channel: channel.clone(),
                },
            )?;
            let mut pending: Vec<Pending> =
                opened.into_iter().map(|e| self.pending(input, e)).collect();
            let imported = imports.len();
            pending.extend(imports.iter().map(|p| Pending {
                event: p.event.clone(),
                at: p.at,
                actor: p.actor.clone(),
            }));
            pending.extend(deploys.iter().map(|e| Pending::system(e.clone(), input.at)));
            match self
                .append(
                    &number.stream_id(),
                    ExpectedVersion::NoStream,
                    &input.key,
                    pending,
                )
                .await
            {
                Ok(appended) => {
                    if !appended.already_stored {
                        self.notify(Notice::Opened(number));
                    }
                    let mut reply = format!(
                        "{number} opened: “{}” ({severity}). #{channel} is bound to it until it closes.",
                        title.trim(),
                    );
                    if imported > 0 {
                        reply.push_str(&format!(
                            " {imported} earlier event(s) from the last {} minutes joined its timeline.",
                            self.settings.lookback.num_minutes()
                        ));
                    }
                    return Ok((number, count_new(&appended, imported + 1), reply));
                }
                Err(AppendError::Conflict { .. }) => {
                    // Another instance took this number: learn about it and take the next.
                    self.catch_up(projection).await?;
                }
                Err(e) => return Err(anyhow::Error::from(e).into()),
            }
        }
        Err(AppError::conflict(format!("could not take an incident number after {MAX_OPEN_ATTEMPTS} attempts; the store is very busy, try again")).into())
    }

    /// The channel's messages and alerts from the lookback window before `until`, as
    /// imported copies.
    async fn lookback_of(
        &self,
        channel: &str,
        until: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Pending>> {
        let stream = channel_stream(channel);
        let since = until - self.settings.lookback;
        // Page back from the channel's newest event until a whole page is older than the
        // window: the cost is the window's size, not the channel's whole history.
        let mut window = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .ledger
                .read_stream_backward(&stream, before, LOOKBACK_PAGE)
                .await?;
            let Some(oldest) = page.last() else { break };
            before = Some(oldest.stream_version);
            let done = page.len() < LOOKBACK_PAGE || page.iter().all(|e| e.occurred_at < since);
            window.extend(
                page.into_iter()
                    .filter(|e| e.occurred_at >= since && e.occurred_at <= until),
            );
            if done {
                break;
            }
        }
        window.reverse();
        let mut imported_ids = std::collections::HashSet::new();
        let mut copies = Vec::new();
        for stored in window {
            let Ok(recorded) = to_recorded(&stored) else {
                continue;
            };
            let keep = match &recorded.event {
                Event::MessagePosted(m) => {
                    if let Some(id) = &m.message_id {
                        imported_ids.insert(id.clone());
                    }
                    true
                }
                Event::MessageEdited { message_id, .. }
                | Event::MessageDeleted { message_id, .. } => imported_ids.contains(message_id),
                Event::AlertReceived(_) => true,
                _ => false,
            };
            if keep {
                copies.push(Pending {
                    event: Event::Imported {
                        original_event_id: recorded.event_id,
                        from_stream: stream.clone(),
                        event: Box::new(recorded.event),
                    },
                    at: recorded.at,
                    actor: recorded.actor,
                });
            }
        }
        Ok(copies)
    }

    /// Gives an order to an incident: load, decide, append; retried when another writer got
    /// there first. Returns the number of events appended and the events decided.
    async fn order(
        &self,
        projection: &mut Projection,
        input: &Input,
        number: IncidentNumber,
        command: IncidentCommand,
    ) -> Result<(usize, Vec<Event>), Failure> {
        if let IncidentCommand::Reopen { .. } = command {
            let channel = projection.incident(number).map(|s| s.channel.clone());
            if let Some(channel) = channel {
                if let Some(other) = projection.bound_incident(&channel).filter(|o| *o != number) {
                    return Err(Refusal(format!(
                        "#{channel} is now bound to {other}; close {other} before reopening {number}"
                    ))
                    .into());
                }
            }
        }
        for _ in 0..MAX_ATTEMPTS {
            let records = self.incident_records(number).await?;
            let state = incident::fold(&records);
            let version = state.as_ref().map_or(0, |s| s.version);
            let events = incident::decide(state.as_ref(), number, command.clone())?;
            let pending = events
                .iter()
                .cloned()
                .map(|e| self.pending(input, e))
                .collect::<Vec<_>>();
            match self
                .append(
                    &number.stream_id(),
                    ExpectedVersion::Exactly(version),
                    &input.key,
                    pending,
                )
                .await
            {
                Ok(appended) => return Ok((count_new(&appended, events.len()), events)),
                Err(AppendError::Conflict { .. }) => continue,
                Err(e) => return Err(anyhow::Error::from(e).into()),
            }
        }
        Err(AppError::conflict(format!("{number} kept changing while recording; try again")).into())
    }

    /// Pagers that delivered this incident's pages hear of its acknowledgement and
    /// resolution, so their own escalations stop too.
    fn mirror_to_pagers(&self, number: IncidentNumber, events: &[Event]) {
        for event in events {
            let action = match event {
                Event::Acknowledged { .. } => "acknowledge",
                Event::IncidentResolved { .. } => "resolve",
                _ => continue,
            };
            self.queue(paging::Delivery::Mirror {
                incident: number,
                action,
            });
        }
    }

    fn describe(&self, number: IncidentNumber, events: &[Event]) -> String {
        let dir = &self.settings.directory;
        let replies: Vec<String> = events
            .iter()
            .map(|e| match e {
                Event::SeverityChanged { from, to } => format!("{number} is now {to} (was {from})."),
                Event::RoleAssigned { role, handle, .. } => format!("{} is now {role} of {number}.", dir.display(handle)),
                Event::StatusUpdatePosted { .. } => format!("Status update recorded for {number}."),
                Event::ImpactNoted { area, .. } => format!("Impact on {area} noted for {number}."),
                Event::ResolutionNoted { .. } => format!("Resolution noted for {number}."),
                Event::ActionAdded { .. } => format!("Action added to the action plan of {number}."),
                Event::IncidentResolved { implicit: true } => format!("{number} was not resolved; resolved it first."),
                Event::IncidentResolved { implicit: false } => {
                    format!("{number} resolved. /incident close finishes it and drafts the post-mortem.")
                }
                Event::IncidentClosed {} => {
                    format!("{number} closed. `warroom postmortem {number}` prints the post-mortem draft.")
                }
                Event::IncidentReopened { .. } => format!("{number} reopened."),
                Event::Acknowledged { by } => format!("{} acknowledged {number}; its escalation stops.", dir.display(by)),
                other => format!("{} recorded for {number}.", other.event_type()),
            })
            .collect();
        replies.join(" ")
    }

    fn pending(&self, input: &Input, event: Event) -> Pending {
        Pending {
            event,
            at: input.at,
            actor: input.from.clone(),
        }
    }

    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        key: &str,
        pending: Vec<Pending>,
    ) -> Result<Appended, AppendError> {
        let events = pending
            .into_iter()
            .enumerate()
            .map(|(i, p)| NewEvent {
                event_id: event_id(key, i),
                event_type: p.event.event_type().to_string(),
                schema_version: SCHEMA_VERSION,
                occurred_at: p.at,
                actor: p.actor,
                payload: p.event.to_payload(),
            })
            .collect();
        self.ledger.append(stream, expected, events).await
    }

    /// Every event of an incident, in stream order.
    pub async fn incident_records(&self, number: IncidentNumber) -> anyhow::Result<Vec<Recorded>> {
        self.reader().incident_records(number).await
    }

    /// The post-mortem draft of an incident, from its events.
    pub async fn postmortem(&self, number: IncidentNumber) -> anyhow::Result<PostMortem> {
        self.reader().postmortem(number).await
    }

    /// The read-only side of this application's ledger (two reference counts: cheap).
    fn reader(&self) -> Reader {
        Reader::sharing(self.ledger.clone(), self.settings.clone())
    }

    /// All incidents, by number.
    pub async fn incidents(&self) -> anyhow::Result<Vec<IncidentSummary>> {
        let mut projection = self.projection.lock().await;
        self.catch_up(&mut projection).await?;
        Ok(projection.incidents().cloned().collect())
    }

    /// Incidents whose status is open, as the follower has applied them (no store read:
    /// for the metrics scrape, which must not load the store).
    pub async fn open_incident_count(&self) -> usize {
        let projection = self.projection.lock().await;
        projection
            .incidents()
            .filter(|i| i.status == crate::domain::types::IncidentStatus::Open)
            .count()
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
        Ok(r) => projection.apply(&stored.stream_id, stored.position, r.at, &r.actor, &r.event),
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
/// through the store's notifications, in another instance). Reading and parsing happen
/// outside the projection's lock.
async fn follow(ledger: Ledger, projection: Arc<Mutex<Projection>>) {
    loop {
        let from = projection.lock().await.position;
        let mut subscription = ledger.subscribe(from);
        loop {
            match subscription.next().await {
                Ok(stored) => {
                    let recorded = to_recorded(&stored);
                    let mut projection = projection.lock().await;
                    if stored.position > projection.position + 1 {
                        // Someone else applied past us and we missed nothing, or the
                        // follower is behind: start again from the projection's position.
                        break;
                    }
                    apply_stored(&mut projection, &stored, recorded);
                }
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
    let payload = stored.payload_json().with_context(|| {
        format!(
            "event at position {} has a payload that is not JSON",
            stored.position
        )
    })?;
    let event = Event::from_parts(&stored.event_type, payload)
        .with_context(|| format!("event at position {}", stored.position))?;
    Ok(Recorded {
        event_id: stored.event_id,
        position: stored.position,
        at: stored.occurred_at,
        actor: stored.actor.clone(),
        event,
    })
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

/// Refuses a command the caller's warroom role does not allow. The operator's own tools
/// (`access: None`) may do everything; unknown commands are left to `interpret` to explain.
fn authorise(parsed: &command::ParsedCommand, access: Option<Access>) -> Result<(), Refusal> {
    match command::spec_for(&parsed.words) {
        Some(spec) => allowed(access, spec.needs, &format!("/{}", spec.words.join(" "))),
        None => Ok(()),
    }
}

/// Refuses `command` when the caller's role is below `needs`; the operator's own tools
/// (`access: None`) may do everything.
fn allowed(access: Option<Access>, needs: Access, command: &str) -> Result<(), Refusal> {
    match access {
        Some(held) if !held.allows(needs) => Err(Refusal(format!(
            "{command} needs the {needs} role in warroom and you have {held}; ask whoever runs warroom to grant it (discord.access in warroom.toml)"
        ))),
        _ => Ok(()),
    }
}
