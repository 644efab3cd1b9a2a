//! Replaying a transcript through the same use cases as chat. The transcript is checked whole
//! (syntax and alert bodies) before its first line is handled.

use super::alerts::read_alerts;
use super::transcript::{self, TranscriptEntry, TranscriptError, TranscriptLine};
use super::{Caller, Input, InputKind, Outcome, Warroom};
use crate::domain::types::IncidentNumber;
use anyhow::Context;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

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

/// Replays a checked transcript with agents in the process: after each line, they carry
/// out the runs queued by then, on the transcript's clock.
pub async fn replay_with_agents<A: JobWorker>(
    warroom: &Warroom,
    text: &str,
    identity: &str,
    agents: &mut [A],
    mut on_line: impl FnMut(&TranscriptLine, &Outcome),
) -> anyhow::Result<ReplaySummary> {
    let lines = inputs(text, identity, warroom)?;
    let mut summary = ReplaySummary::default();
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
        let outcome = warroom
            .handle(input)
            .await
            .with_context(|| format!("line {}", line.line))?;
        summary.lines += 1;
        summary.events += outcome.events;
        summary.already_recorded += usize::from(outcome.already_recorded);
        summary.incidents.extend(outcome.incident);
        // Steps due at once (an alert that opened an incident pages straight away).
        summary.pages += warroom
            .fire_due_pages(line.at)
            .await
            .map_err(|e| anyhow::anyhow!("line {}: {e:#}", line.line))?
            .len();
        for agent in agents.iter_mut() {
            summary.jobs += agent
                .work(warroom, line.at)
                .await
                .map_err(|e| anyhow::anyhow!("line {}: {e:#}", line.line))?;
        }
        on_line(&line, &outcome);
    }
    Ok(summary)
}
