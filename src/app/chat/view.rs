//! What the projection keeps about chat: where each message lives, which were deleted,
//! which chat-service channel each warroom channel is linked to, and how recent each
//! channel's own stream is.

use crate::domain::event::Event;
use crate::domain::types::IncidentNumber;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// The stream a chat message was recorded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Incident(IncidentNumber),
    /// The channel's own stream; `position` is the event holding the message's current text,
    /// so an edit can state the text it replaces without reading the whole channel.
    Channel {
        position: i64,
    },
}

/// The stream that holds a channel's messages while no incident is bound to it.
pub fn channel_stream(channel: &str) -> String {
    format!("channel-{channel}")
}

/// Messages and channels, as chat front ends and the recording of edits need them.
#[derive(Debug, Default)]
pub struct ChatIndex {
    /// (channel, source message id) → where the message lives.
    messages: HashMap<(String, String), Place>,
    /// (channel, source message id) of the messages recorded as deleted.
    deleted: HashSet<(String, String)>,
    /// Channel stream → the latest time of its events, so a lookback over a quiet channel
    /// needs no read.
    channel_latest: HashMap<String, DateTime<Utc>>,
    /// Channel → its id in the chat service, once warroom linked it.
    chat_ids: HashMap<String, String>,
    /// Channel → the highest source message id recorded in it (Discord ids grow with time),
    /// where a chat front end resumes reading history after missing events.
    latest_message_id: HashMap<String, String>,
}

impl ChatIndex {
    /// Folds one event of any stream; `incident` is the incident whose stream it is.
    pub fn apply(
        &mut self,
        stream_id: &str,
        incident: Option<IncidentNumber>,
        position: i64,
        at: DateTime<Utc>,
        event: &Event,
    ) {
        if incident.is_none() && stream_id.starts_with("channel-") {
            let latest = self
                .channel_latest
                .entry(stream_id.to_string())
                .or_insert(at);
            *latest = (*latest).max(at);
        }
        match event.unwrapped() {
            Event::MessagePosted(message) => {
                let Some(id) = &message.message_id else {
                    return;
                };
                // Numeric ids of different lengths order by length first.
                match self.latest_message_id.get_mut(&message.channel) {
                    Some(latest) if (id.len(), id.as_str()) > (latest.len(), latest.as_str()) => {
                        latest.clone_from(id)
                    }
                    Some(_) => {}
                    None => {
                        self.latest_message_id
                            .insert(message.channel.clone(), id.clone());
                    }
                }
                let place = incident
                    .map(Place::Incident)
                    .unwrap_or(Place::Channel { position });
                self.messages
                    .insert((message.channel.clone(), id.clone()), place);
            }
            Event::MessageDeleted {
                channel,
                message_id,
                ..
            } => {
                self.deleted.insert((channel.clone(), message_id.clone()));
            }
            Event::MessageEdited {
                channel,
                message_id,
                ..
            } if incident.is_none() => {
                self.messages.insert(
                    (channel.clone(), message_id.clone()),
                    Place::Channel { position },
                );
            }
            Event::ChatChannelLinked {
                channel, chat_id, ..
            } => {
                self.chat_ids.insert(channel.clone(), chat_id.clone());
            }
            _ => {}
        }
    }

    /// The chat service's id of a channel warroom linked.
    pub fn chat_id(&self, channel: &str) -> Option<&str> {
        self.chat_ids.get(channel).map(String::as_str)
    }

    /// The channel linked to a chat service's channel id.
    pub fn channel_of_chat_id(&self, chat_id: &str) -> Option<&str> {
        self.chat_ids
            .iter()
            .find(|(_, id)| id.as_str() == chat_id)
            .map(|(channel, _)| channel.as_str())
    }

    /// The highest source message id recorded in a channel.
    pub fn latest_message_id(&self, channel: &str) -> Option<&str> {
        self.latest_message_id.get(channel).map(String::as_str)
    }

    /// Whether a channel's stream holds anything that happened at or after `since`.
    pub fn channel_busy_since(&self, channel: &str, since: DateTime<Utc>) -> bool {
        self.channel_latest
            .get(&channel_stream(channel))
            .is_some_and(|latest| *latest >= since)
    }

    /// The source ids of the messages recorded in a channel and not deleted, for a chat front
    /// end to compare with the channel's history.
    pub fn live_message_ids(&self, channel: &str) -> Vec<String> {
        self.messages
            .keys()
            .filter(|key| key.0 == channel && !self.deleted.contains(*key))
            .map(|(_, id)| id.clone())
            .collect()
    }

    pub fn message_place(&self, channel: &str, message_id: &str) -> Option<Place> {
        self.messages
            .get(&(channel.to_string(), message_id.to_string()))
            .copied()
    }
}
