//! Messages, edits and deletes from Discord become inputs keyed by their Discord ids; after
//! a fresh session, what changed meanwhile is read back from each channel's history: new
//! messages, and edits and deletes found there, marked as found after warroom was away.
//!
//! The keys make every path idempotent: a message, an edit (by its edited timestamp) or a
//! delete heard live and found again in the history is stored once.
//!
//! A ⭐ put on a message (or taken off) is `/incident highlight` given by whoever reacted,
//! authorised by their warroom role like the command.

use super::{utc_or, Bot};
use crate::app::{Caller, Input, InputKind};
use crate::domain::event::Attachment;
use chrono::{DateTime, Utc};
use serenity::all::{
    Channel, ChannelId, GetMessages, Message, MessageId, MessageUpdateEvent, Reaction,
    ReactionType, User,
};
use std::collections::HashSet;

/// The reactions that mark a message as a key moment.
const KEY_MOMENT_EMOJI: &[&str] = &["⭐", "🌟"];

/// Messages per history page: Discord's maximum.
const HISTORY_PAGE: u8 = 100;

/// Discord's epoch (2015-01-01) in Unix milliseconds, for ids made from times.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

/// The smallest message id Discord could give a message sent at `at`.
pub(super) fn snowflake_at(at: DateTime<Utc>) -> MessageId {
    let ms = (at.timestamp_millis() - DISCORD_EPOCH_MS).max(1) as u64;
    MessageId::new(ms << 22)
}

impl Bot {
    /// The warroom name of a Discord channel (its Discord name, which is what incident
    /// channels are created with); `None` for a DM. Learnt once per channel.
    pub(super) async fn channel_name(&self, id: ChannelId) -> anyhow::Result<Option<String>> {
        if let Some(name) = self.names.lock().expect("names lock").get(&id) {
            return Ok(Some(name.clone()));
        }
        let name = match self.warroom.channel_of_chat_id(&id.to_string()).await {
            Some(name) => Some(name),
            None => match id.to_channel(&self.http).await? {
                Channel::Guild(channel) => Some(channel.name),
                _ => None,
            },
        };
        if let Some(name) = &name {
            self.remember(id, name);
        }
        Ok(name)
    }

    pub(super) fn remember(&self, id: ChannelId, name: &str) {
        self.names
            .lock()
            .expect("names lock")
            .insert(id, name.to_string());
    }

    /// How a person is named in the ledger: their contact handle when config maps their
    /// Discord id, else their Discord name marked as such (so nobody passes for a contact).
    pub(super) fn author(&self, user: &User) -> String {
        match self.settings.users.get(&user.id.get()) {
            Some(handle) => handle.clone(),
            None => format!(
                "{} (Discord)",
                user.global_name.as_deref().unwrap_or(&user.name)
            ),
        }
    }

    /// How warroom takes what is said in `channel`: recorded when the channel is an
    /// incident's (the application checks, under the same lock as the append) or watched.
    fn caller(&self, channel: &str) -> Caller {
        Caller {
            // Messages are not commands here, so no role is needed to be recorded.
            access: None,
            dedicated_channel: true,
            plain_text: true,
            incident_channels_only: !self.settings.watch_channels.iter().any(|c| c == channel),
        }
    }

    /// A ⭐ on a message: the reactor highlights it as a key moment of the channel's
    /// incident (or takes their mark off), as `/incident highlight` would, with their role.
    /// Other emoji, and stars outside incident channels, are not warroom's business.
    pub(super) async fn record_reaction(
        &self,
        reaction: &Reaction,
        added: bool,
    ) -> anyhow::Result<()> {
        let ReactionType::Unicode(emoji) = &reaction.emoji else {
            return Ok(());
        };
        if !KEY_MOMENT_EMOJI.contains(&emoji.as_str()) {
            return Ok(());
        }
        let Some(user) = reaction.user_id else {
            return Ok(());
        };
        if self.bot_user.get() == Some(&user) {
            return Ok(());
        }
        let Some(channel) = self.channel_name(reaction.channel_id).await? else {
            return Ok(());
        };
        // Discord names the member on an add only: remember how they were named, so the
        // mark they take off later is found under the same name.
        let from = match &reaction.member {
            Some(member) => {
                let name = self.author(&member.user);
                self.reactors
                    .lock()
                    .expect("reactors lock")
                    .insert(user, name.clone());
                name
            }
            None => {
                let known = self.settings.users.get(&user.get()).cloned().or_else(|| {
                    let reactors = self.reactors.lock().expect("reactors lock");
                    reactors.get(&user).cloned()
                });
                let Some(name) = known else {
                    tracing::info!(
                        message = %reaction.message_id,
                        "Discord: a ⭐ was taken off by someone warroom cannot name; \
                         /incident highlight message:… off:yes takes a mark off"
                    );
                    return Ok(());
                };
                name
            }
        };
        let roles: Vec<u64> = reaction
            .member
            .as_ref()
            .map(|m| m.roles.iter().map(|r| r.get()).collect())
            .unwrap_or_default();
        let mut command = format!("/incident highlight message:{}", reaction.message_id);
        if !added {
            command.push_str(" off:yes");
        }
        let input = Input {
            key: format!(
                "discord:star:{}:{user}:{added}:{}",
                reaction.message_id,
                Utc::now().timestamp_millis()
            ),
            at: Utc::now(),
            from,
            channel: channel.clone(),
            caller: Caller {
                access: Some(self.settings.access_of(user.get(), &roles)),
                plain_text: false,
                ..self.caller(&channel)
            },
            kind: InputKind::Message {
                text: command,
                message_id: None,
                reply_to: None,
                attachments: vec![],
            },
        };
        let outcome = self.warroom.handle(input).await?;
        if outcome.refused {
            tracing::info!(
                message = %reaction.message_id,
                "Discord: a ⭐ did not highlight the message: {}",
                outcome.reply.unwrap_or_default()
            );
        }
        Ok(())
    }

    fn is_own(&self, user: &User) -> bool {
        self.bot_user.get() == Some(&user.id)
    }

    /// Records a message, unless it is the bot's own or in a channel warroom does not watch.
    pub(super) async fn record_message(&self, message: &Message) -> anyhow::Result<()> {
        if self.is_own(&message.author) {
            return Ok(());
        }
        let Some(channel) = self.channel_name(message.channel_id).await? else {
            return Ok(());
        };
        self.record_in(&channel, message).await.map(|_| ())
    }

    /// Records a message in `channel`; true when it was recorded now (not before, and in a
    /// channel warroom records).
    async fn record_in(&self, channel: &str, message: &Message) -> anyhow::Result<bool> {
        let input = Input {
            key: format!("discord:message:{}", message.id),
            // A snowflake always holds a sensible creation time.
            at: utc_or(message.timestamp, || *message.id.created_at()),
            from: self.author(&message.author),
            channel: channel.to_string(),
            caller: self.caller(channel),
            kind: InputKind::Message {
                text: message.content.clone(),
                message_id: Some(message.id.to_string()),
                reply_to: message
                    .message_reference
                    .as_ref()
                    .and_then(|r| r.message_id)
                    .map(|id| id.to_string()),
                attachments: message
                    .attachments
                    .iter()
                    .map(|a| Attachment {
                        name: a.filename.clone(),
                        url: a.url.clone(),
                        size: a.size.into(),
                    })
                    .collect(),
            },
        };
        Ok(self.warroom.handle(input).await?.events > 0)
    }

    /// Records an edit with the text before (from the ledger) and after.
    pub(super) async fn record_edit(&self, event: &MessageUpdateEvent) -> anyhow::Result<()> {
        // Discord also sends updates for embeds unfurling: only a new text is an edit.
        let Some(text) = &event.content else {
            return Ok(());
        };
        if event.author.as_ref().is_some_and(|a| self.is_own(a)) {
            return Ok(());
        }
        let Some(channel) = self.channel_name(event.channel_id).await? else {
            return Ok(());
        };
        let at = event
            .edited_timestamp
            .map_or_else(Utc::now, |t| utc_or(t, Utc::now));
        let from = event
            .author
            .as_ref()
            .map(|a| self.author(a))
            .unwrap_or_else(|| "unknown (Discord)".into());
        self.record_edit_in(&channel, event.id, text, at, from, None)
            .await
            .map(|_| ())
    }

    /// Records that a message's text became `text` at `at`; keyed by the edit's time, so an
    /// edit heard live and found again in the history is one edit. True when it is new.
    async fn record_edit_in(
        &self,
        channel: &str,
        id: MessageId,
        text: &str,
        at: DateTime<Utc>,
        from: String,
        found_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<bool> {
        let input = Input {
            key: format!("discord:edit:{id}:{}", at.timestamp_millis()),
            at,
            from,
            channel: channel.to_string(),
            caller: self.caller(channel),
            kind: InputKind::Edit {
                message_id: id.to_string(),
                text: text.to_string(),
                found_at,
            },
        };
        Ok(self.warroom.handle(input).await?.events > 0)
    }

    /// Records a delete as a marker; the original stays in the ledger.
    pub(super) async fn record_delete(
        &self,
        channel_id: ChannelId,
        message: MessageId,
    ) -> anyhow::Result<()> {
        let Some(channel) = self.channel_name(channel_id).await? else {
            return Ok(());
        };
        self.record_delete_in(&channel, message, None)
            .await
            .map(|_| ())
    }

    /// Records a delete marker. Discord does not say when a message was deleted: the time is
    /// now, as the gateway delivers deletes as they happen, or when it was found missing.
    async fn record_delete_in(
        &self,
        channel: &str,
        message: MessageId,
        found_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<bool> {
        let input = Input {
            key: format!("discord:delete:{message}"),
            at: found_at.unwrap_or_else(Utc::now),
            from: "unknown (Discord)".into(),
            channel: channel.to_string(),
            caller: self.caller(channel),
            kind: InputKind::Delete {
                message_id: message.to_string(),
                found_at,
            },
        };
        Ok(self.warroom.handle(input).await?.events > 0)
    }

    /// Reads each open incident channel's history after the last message recorded there
    /// (or since the incident opened) and records what the gateway did not deliver: after a
    /// fresh session Discord does not replay missed events.
    pub(super) async fn backfill(&self) -> anyhow::Result<()> {
        for incident in self.warroom.open_incidents().await? {
            let Some(chat_id) = self.warroom.chat_id(&incident.channel).await else {
                continue;
            };
            let Ok(id) = chat_id.parse::<u64>() else {
                continue;
            };
            let after = match self.warroom.latest_message_id(&incident.channel).await {
                Some(latest) => latest.parse().map(MessageId::new).ok(),
                None => None,
            }
            .unwrap_or_else(|| snowflake_at(incident.opened_at));
            let recorded = self
                .read_history(ChannelId::new(id), &incident.channel, after)
                .await?;
            if recorded > 0 {
                tracing::info!(
                    incident = %incident.number,
                    recorded,
                    "recorded messages Discord did not deliver while the bot was away"
                );
            }
        }
        Ok(())
    }

    /// Compares the recent history of every recorded channel — open incidents' channels,
    /// those of incidents settled within the window, and the watched channels — with the
    /// ledger, and records what differs (see [`Bot::reconcile_channel`]). Runs after every
    /// new session: Discord replays nothing of what happened before it.
    pub(super) async fn reconcile_history(&self) -> anyhow::Result<()> {
        let window = self.settings.reconcile_window;
        let since = Utc::now() - window;
        let mut channels: Vec<(ChannelId, String)> = Vec::new();
        for incident in self.warroom.incidents().await? {
            let recent = incident.status != crate::domain::types::IncidentStatus::Closed
                || incident.settled_at.is_some_and(|t| t >= since);
            if !recent {
                continue;
            }
            if let Some(id) = self
                .warroom
                .chat_id(&incident.channel)
                .await
                .and_then(|id| id.parse::<u64>().ok())
            {
                channels.push((ChannelId::new(id), incident.channel.clone()));
            }
        }
        if !self.settings.watch_channels.is_empty() {
            let guild_channels = self.guild.channels(&self.http).await?;
            for watched in &self.settings.watch_channels {
                if let Some(c) = guild_channels.values().find(|c| &c.name == watched) {
                    self.remember(c.id, &c.name);
                    channels.push((c.id, c.name.clone()));
                }
            }
        }
        let mut done = HashSet::new();
        for (id, name) in channels {
            if !done.insert(id) {
                continue;
            }
            match self.reconcile_channel(id, &name, since).await {
                Ok(found) if found.any() => tracing::info!(
                    channel = %name,
                    messages = found.messages,
                    edits = found.edits,
                    deletes = found.deletes,
                    "recorded what changed in #{name} while warroom was away"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(
                    "Discord: cannot compare #{name} with the ledger: {}",
                    super::explain(&e)
                ),
            }
        }
        Ok(())
    }

    /// Reads a channel's newest messages (back to `since`, at most
    /// `discord.reconcile_messages`) and records, marked as found now: messages never
    /// recorded; edits whose edited time was never recorded; and recorded messages no longer
    /// there, as deleted.
    pub(super) async fn reconcile_channel(
        &self,
        id: ChannelId,
        channel: &str,
        since: DateTime<Utc>,
    ) -> anyhow::Result<Found> {
        let found_at = Utc::now();
        let limit = self.settings.reconcile_messages;
        let mut history: Vec<Message> = Vec::new();
        let mut before: Option<MessageId> = None;
        let mut complete = false;
        let floor = snowflake_at(since);
        loop {
            let mut ask = GetMessages::new().limit(HISTORY_PAGE);
            if let Some(before) = before {
                ask = ask.before(before);
            }
            let page = id.messages(&self.http, ask).await?;
            let full = page.len() == usize::from(HISTORY_PAGE);
            let mut reached_floor = false;
            for message in page {
                if message.id <= floor {
                    reached_floor = true;
                } else if history.len() < limit {
                    history.push(message);
                }
            }
            before = history.iter().map(|m| m.id).min();
            if reached_floor || !full {
                complete = true;
                break;
            }
            if history.len() >= limit {
                break;
            }
        }
        history.sort_by_key(|m| m.id);
        let mut found = Found::default();
        for message in &history {
            if self.is_own(&message.author) {
                continue;
            }
            if self.record_in(channel, message).await? {
                found.messages += 1;
            } else if let Some(edited) = message.edited_timestamp {
                // A new message already holds its edited text; a recorded one whose edit was
                // never heard gets it now (one heard live has the same key: nothing to do).
                let at = utc_or(edited, Utc::now);
                let from = self.author(&message.author);
                let text = &message.content;
                if self
                    .record_edit_in(channel, message.id, text, at, from, Some(found_at))
                    .await?
                {
                    found.edits += 1;
                }
            }
        }
        // Recorded messages the history should hold but does not were deleted. The window
        // is what was read: back to `since` when the read got there, else to the oldest
        // message read; and only up to when the read began, as later messages may have
        // arrived live meanwhile.
        let floor = if complete {
            floor
        } else {
            match history.first() {
                Some(oldest) => oldest.id,
                None => return Ok(found),
            }
        };
        let ceiling = snowflake_at(found_at);
        let present: HashSet<MessageId> = history.iter().map(|m| m.id).collect();
        for recorded in self.warroom.live_message_ids(channel).await {
            let Ok(number) = recorded.parse::<u64>() else {
                continue;
            };
            if number == 0 {
                continue;
            }
            let message = MessageId::new(number);
            if message > floor
                && message < ceiling
                && !present.contains(&message)
                && self
                    .record_delete_in(channel, message, Some(found_at))
                    .await?
            {
                found.deletes += 1;
            }
        }
        Ok(found)
    }

    /// Records a channel's messages after `after`, oldest first; returns how many were read.
    pub(super) async fn read_history(
        &self,
        id: ChannelId,
        channel: &str,
        mut after: MessageId,
    ) -> anyhow::Result<usize> {
        let mut read = 0;
        loop {
            let mut page = id
                .messages(
                    &self.http,
                    GetMessages::new().after(after).limit(HISTORY_PAGE),
                )
                .await?;
            page.sort_by_key(|m| m.id);
            let Some(last) = page.last().map(|m| m.id) else {
                return Ok(read);
            };
            for message in &page {
                if !self.is_own(&message.author) {
                    self.record_in(channel, message).await?;
                }
            }
            read += page.len();
            if page.len() < usize::from(HISTORY_PAGE) {
                return Ok(read);
            }
            after = last;
        }
    }

    /// Records the lookback window of a channel through its history before an incident is
    /// opened from it, so the window joins the incident even when the channel is not
    /// watched or the bot was away.
    pub(super) async fn read_lookback(&self, id: ChannelId, channel: &str) -> anyhow::Result<()> {
        let since = Utc::now() - self.warroom.settings().lookback;
        self.read_history(id, channel, snowflake_at(since)).await?;
        Ok(())
    }
}

/// What a reconciliation recorded in one channel.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub messages: usize,
    pub edits: usize,
    pub deletes: usize,
}

impl Found {
    fn any(&self) -> bool {
        self.messages + self.edits + self.deletes > 0
    }
}
