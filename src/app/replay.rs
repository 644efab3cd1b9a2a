//! Replaying a transcript through the same use cases as chat. The transcript is checked whole
//! (syntax and alert bodies) before its first line is handled.

use super::alerts::read_alerts;
use super::chat::messages::QueuedOutcome;
use super::transcript::{self, TranscriptEntry, TranscriptError, TranscriptLine};
use super::{Caller, Input, InputKind, Outcome, Warroom};
use crate::domain::types::IncidentNumber;
use anyhow::Context;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, VecDeque};

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplaySummary {
    pub lines: usize,
    pub events: usize,
    /// Lines handled before, by an earlier replay of the same transcript.
    pub already_recorded: usize,
    /// Incidents the transcript touched.
    pub incidents: BTreeSet<IncidentNumber>,
    /// Pages fired by escalations during the replay (recorded, never delivered).
    pub pages: usize,
    /// Runbook jobs an agent in the process carried out.
    pub jobs: usize,
}

/// Checks a transcript and turns its lines into inputs. `identity` names the transcript so
/// that its lines get stable input keys.
pub fn inputs(
    text: &str,
    identity: &str,
    warroom: &Warroom,
) -> Result<Vec<(TranscriptLine, Input)>, TranscriptError> {
    let settings = warroom.settings();
    let mut out = Vec::new();
    for line in transcript::parse(text)? {
        let key = format!("transcript:{identity}:{}", line.line);
        let channel_or =
            |c: &Option<String>, default: &str| c.clone().unwrap_or_else(|| default.to_string());
        let (from, channel, kind) = match &line.entry {
            TranscriptEntry::Chat {
                from,
                text,
                channel,
                id,
                reply_to,
            } => (
                from.clone(),
                channel_or(channel, &settings.default_channel),
                InputKind::Message {
                    text: text.clone(),
                    message_id: id.clone(),
                    reply_to: reply_to.clone(),
                    attachments: vec![],
                },
            ),
            TranscriptEntry::Edit {
                from,
                message_id,
                text,
                channel,
            } => (
                from.clone(),
                channel_or(channel, &settings.default_channel),
                InputKind::Edit {
                    message_id: message_id.clone(),
                    text: text.clone(),
                    found_at: None,
                },
            ),
            TranscriptEntry::Delete {
                from,
                message_id,
                channel,
            } => (
                from.clone(),
                channel_or(channel, &settings.default_channel),
                InputKind::Delete {
                    message_id: message_id.clone(),
                    found_at: None,
                },
            ),
            TranscriptEntry::Alert {
                source,
                body,
                channel,
            } => {
                let channel = channel_or(channel, &settings.alerts_channel);
                let alerts = read_alerts(source, body, &channel).map_err(|e| TranscriptError {
                    line: line.line,
                    problem: e.to_string(),
                })?;
                (source.clone(), channel, InputKind::Alerts(alerts))
            }
            TranscriptEntry::Deploy(deploy) => (
                deploy.by.clone(),
                settings.default_channel.clone(),
                InputKind::Deploy(deploy.clone()),
            ),
        };
        let input = Input {
            key,
            at: line.at,
            from,
            channel,
            kind,
            caller: Caller::default(),
        };
        out.push((line, input));
    }
    Ok(out)
}

/// Replays a checked transcript; `on_line` sees each line's outcome (replies for commands).
/// Runbook runs it queues wait for an agent.
pub async fn replay(
    warroom: &Warroom,
    text: &str,
    identity: &str,
    on_line: impl FnMut(&TranscriptLine, &Outcome),
) -> anyhow::Result<ReplaySummary> {
    replay_with_agents::<NoAgents>(warroom, text, identity, &mut [], on_line).await
}

/// What carries out runbook jobs during a replay, on the transcript's clock: the demo's
/// agents inside the process (`agent::local::LocalAgent`).
#[async_trait::async_trait]
pub trait JobWorker: Send {
    /// Carries out the runs queued for it by `now`; returns how many it took.
    async fn work(&mut self, warroom: &Warroom, now: DateTime<Utc>) -> anyhow::Result<usize>;
}

/// No agents: a replay whose runs stay queued.
enum NoAgents {}

#[async_trait::async_trait]
impl JobWorker for NoAgents {
    async fn work(&mut self, _: &Warroom, _: DateTime<Utc>) -> anyhow::Result<usize> {
        match *self {}
    }
}

/// Lines a replay has queued and not yet seen answered, at most this many at once: enough
/// for one group commit to take thousands of lines, few enough to keep their memory small.
const IN_FLIGHT: usize = 2048;

/// Replays a checked transcript with agents in the process: after each line, they carry
/// out the runs queued by then, on the transcript's clock.
///
/// Without agents, plain chat messages (most of a long transcript) are queued and many are in
/// flight at once, so one durable commit takes many lines; each is still decided on what the
/// lines before it did, in order: a line that reads what a message in flight records (an
/// edit, a delete, a command, an alert, a reply that goes where the message it answers
/// lives: see [`Warroom::queue_message`]) first waits for every line before it.
/// Each line is reported (`on_line`) in order once it is durable. A failing line stops the
/// replay with its number; lines after it already in flight may be recorded, and a replay
/// again skips them as already recorded.
pub async fn replay_with_agents<A: JobWorker>(
    warroom: &Warroom,
    text: &str,
    identity: &str,
    agents: &mut [A],
    mut on_line: impl FnMut(&TranscriptLine, &Outcome),
) -> anyhow::Result<ReplaySummary> {
    let lines = inputs(text, identity, warroom)?;
    let mut summary = ReplaySummary::default();
    let pipelined = agents.is_empty();
    // Queued lines, oldest first, each reported once durable.
    let mut flight: VecDeque<(TranscriptLine, QueuedOutcome)> = VecDeque::new();
    // Schedules the ledger has never had hold from the transcript's start; their hand-overs
    // happen on the transcript's clock, between its lines, before what is due by then.
    let mut handed_off_until = match lines.first() {
        Some((first, _)) => {
            warroom.adopt_new_schedules(first.at).await?;
            first.at - chrono::Duration::seconds(1)
        }
        None => chrono::DateTime::<chrono::Utc>::MIN_UTC,
    };
    for (line, input) in lines {
        let (number, at) = (line.line, line.at);
        if line.at > handed_off_until {
            warroom
                .record_handoffs_since(handed_off_until, line.at)
                .await
                .map_err(|e| anyhow::anyhow!("line {}: {e:#}", line.line))?;
            handed_off_until = line.at;
        }
        // The transcript's clock drives escalations: steps due by this line fire first.
        let pages = warroom
            .fire_due_pages(line.at)
            .await
            .map_err(|e| anyhow::anyhow!("line {}: {e:#}", line.line))?;
        summary.pages += pages.len();
        let unqueued = if pipelined && input.is_plain_message() {
            match warroom
                .queue_message(input)
                .await
                .with_context(|| format!("line {number}"))?
            {
                Ok(queued) => {
                    flight.push_back((line, queued));
                    if flight.len() >= IN_FLIGHT {
                        land_one(&mut flight, &mut summary, &mut on_line).await?;
                    }
                    None
                }
                // It answers a message that may still be in flight.
                Err(input) => Some((line, input)),
            }
        } else {
            Some((line, input))
        };
        if let Some((line, input)) = unqueued {
            if land_all(&mut flight, &mut summary, &mut on_line).await? {
                // Decided on everything before it, as a line at a time would be (the alert
                // intake decides on the projection as it is, without reading the store).
                warroom
                    .refresh()
                    .await
                    .with_context(|| format!("line {number}"))?;
            }
            let outcome = warroom
                .handle(input)
                .await
                .with_context(|| format!("line {number}"))?;
            account(&mut summary, &outcome);
            on_line(&line, &outcome);
        }
        // Steps due at once (an alert that opened an incident pages straight away).
        summary.pages += warroom
            .fire_due_pages(at)
            .await
            .map_err(|e| anyhow::anyhow!("line {number}: {e:#}"))?
            .len();
        for agent in agents.iter_mut() {
            summary.jobs += agent
                .work(warroom, at)
                .await
                .map_err(|e| anyhow::anyhow!("line {number}: {e:#}"))?;
        }
    }
    land_all(&mut flight, &mut summary, &mut on_line).await?;
    Ok(summary)
}

/// Adds one handled line to the summary.
fn account(summary: &mut ReplaySummary, outcome: &Outcome) {
    summary.lines += 1;
    summary.events += outcome.events;
    summary.already_recorded += usize::from(outcome.already_recorded);
    summary.incidents.extend(outcome.incident);
}

/// Waits for every queued line's answer, reporting each in order; whether there was any.
async fn land_all(
    flight: &mut VecDeque<(TranscriptLine, QueuedOutcome)>,
    summary: &mut ReplaySummary,
    on_line: &mut impl FnMut(&TranscriptLine, &Outcome),
) -> anyhow::Result<bool> {
    let landed = !flight.is_empty();
    while !flight.is_empty() {
        land_one(flight, summary, on_line).await?;
    }
    Ok(landed)
}

/// Waits for the oldest queued line's answer and reports it.
async fn land_one(
    flight: &mut VecDeque<(TranscriptLine, QueuedOutcome)>,
    summary: &mut ReplaySummary,
    on_line: &mut impl FnMut(&TranscriptLine, &Outcome),
) -> anyhow::Result<()> {
    let Some((line, queued)) = flight.pop_front() else {
        return Ok(());
    };
    let outcome = queued
        .await
        .with_context(|| format!("line {}", line.line))?;
    account(summary, &outcome);
    on_line(&line, &outcome);
    Ok(())
}
