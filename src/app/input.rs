//! The one way into the application: what a front end hands over (an [`Input`]: a message,
//! an edit, a delete, a batch of alerts, a deploy), who it vouches for, what handling it did
//! (an [`Outcome`]), and what a chat front end acts on afterwards (a [`Notice`]).

use super::alerts::report::IntakeReport;
use crate::domain::access::Access;
use crate::domain::deploy::Deploy;
use crate::domain::event::{AlertFacts, Attachment};
use crate::domain::types::{IncidentNumber, Severity};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Namespace of the ids derived from input keys (UUID v5).
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5f1c_2a0e_8d4b_4c1e_9a37_2b6d_e0f4_7a11);

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

    /// Whether this is a chat message that only says something: no command, and not the
    /// `confirm` that answers a runbook run. Recording it decides nothing later inputs read,
    /// except where it lives (for an edit, a delete or a reply to it).
    pub fn is_plain_message(&self) -> bool {
        match &self.kind {
            InputKind::Message { text, .. } => {
                self.command_text().is_none() && !text.trim().eq_ignore_ascii_case("confirm")
            }
            _ => false,
        }
    }

    /// The command a message gives (`/incident close`), trimmed; `None` for what is only said,
    /// and for every message of a front end whose messages are never commands.
    pub fn command_text(&self) -> Option<&str> {
        match &self.kind {
            InputKind::Message { text, .. }
                if !self.caller.plain_text && text.trim_start().starts_with('/') =>
            {
                Some(text.trim())
            }
            _ => None,
        }
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
    /// Whether the input is taken only in a channel an incident is (or was) in: a front end
    /// that hears every channel of a server records only incidents' channels and the ones it
    /// was told to watch. Checked under the lock the input is handled in, so a message right
    /// after an incident opens is not lost to a read model that had not seen the open.
    pub incident_channels_only: bool,
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
    /// A schedule handed over: the incoming and outgoing people are told.
    HandOff(Box<HandOff>),
    /// An on-call shift ended: its summary goes to the announcement channel.
    ShiftEnded(u32),
    /// A signed ledger checkpoint taken at an incident close: posted in the announcement
    /// channel, one more witness outside the database.
    Checkpoint {
        text: String,
    },
}

/// A command offered under a reply: its label and its console text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextAction {
    pub label: String,
    pub command: String,
}

/// A hand-over of a schedule, as the people in it are told.
#[derive(Debug, Clone, PartialEq)]
pub struct HandOff {
    pub schedule: String,
    pub at: DateTime<Utc>,
    pub outgoing: Option<String>,
    pub incoming: Option<String>,
    pub until: Option<DateTime<Utc>>,
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
    /// What someone may do next about the reply, offered as buttons where the front end
    /// has them (a swap's Accept and Decline); each runs its command as whoever presses
    /// it, authorised like any command.
    pub actions: Vec<NextAction>,
    /// For a batch of alerts: what each alert did, for the door that answers their sender.
    pub intake: Option<IntakeReport>,
}

/// What handling a batch of alerts did, as any input's outcome: the report's lines as the
/// reply, the incident opened (else joined), and the report itself for the door's answer.
impl From<IntakeReport> for Outcome {
    fn from(report: IntakeReport) -> Outcome {
        Outcome {
            reply: (!report.lines.is_empty()).then(|| report.lines.join("\n")),
            events: report.events,
            already_recorded: report.recorded == 0 && report.duplicates > 0,
            incident: report
                .opened
                .first()
                .copied()
                .or_else(|| report.joined.iter().next().copied()),
            refused: false,
            actions: vec![],
            intake: Some(report),
        }
    }
}
