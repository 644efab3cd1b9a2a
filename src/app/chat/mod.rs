//! What a chat front end asks of the ledger beyond handling inputs: which chat channel an
//! incident lives in, where to resume reading a channel's history, and the facts it records
//! itself (a channel linked, a post-mortem posted).

pub mod messages;
pub mod view;

use crate::app::incidents::view::IncidentSummary;
use crate::app::projection::Projection;
use crate::app::{event_id, Warroom};
use crate::domain::event::Event;
use crate::domain::types::{IncidentNumber, IncidentStatus, Role};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A chat front end as the HTTP doors see it: whether it is ready, and the signed webhook
/// its service calls for commands and buttons (Discord's `POST /discord/interactions`).
#[async_trait::async_trait]
pub trait ChatDoor: Send + Sync {
    /// `None` when the front end is ready (or needs nothing to be: a follower); else why not,
    /// in words for `/readyz`.
    fn not_ready(&self) -> Option<String>;

    /// Answers a signed webhook call: (HTTP status, JSON body). The signature and its
    /// timestamp are checked before anything else is read.
    async fn answer_signed(
        self: Arc<Self>,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> (u16, serde_json::Value);
}

/// The SOP an alert's route attached to an incident, for the channel header.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachedSop {
    pub path: String,
    pub markdown: String,
    pub suggest: Vec<String>,
}

impl Warroom {
    /// One incident's summary, current.
    pub async fn incident(
        &self,
        number: IncidentNumber,
    ) -> anyhow::Result<Option<IncidentSummary>> {
        let projection = self.current().await?;
        Ok(projection.incidents.get(number).cloned())
    }

    /// Incidents that are not closed.
    pub async fn open_incidents(&self) -> anyhow::Result<Vec<IncidentSummary>> {
        Ok(self
            .incidents()
            .await?
            .into_iter()
            .filter(|s| s.status != IncidentStatus::Closed)
            .collect())
    }

    /// The chat service's id of a channel warroom linked.
    pub async fn chat_id(&self, channel: &str) -> Option<String> {
        self.projection
            .lock()
            .await
            .chat
            .chat_id(channel)
            .map(String::from)
    }

    /// The channel linked to a chat service's channel id.
    pub async fn channel_of_chat_id(&self, chat_id: &str) -> Option<String> {
        self.projection
            .lock()
            .await
            .chat
            .channel_of_chat_id(chat_id)
            .map(String::from)
    }

    /// The source ids of the messages recorded in a channel and not deleted.
    pub async fn live_message_ids(&self, channel: &str) -> Vec<String> {
        self.projection.lock().await.chat.live_message_ids(channel)
    }

    /// The highest source message id recorded in a channel.
    pub async fn latest_message_id(&self, channel: &str) -> Option<String> {
        self.projection
            .lock()
            .await
            .chat
            .latest_message_id(channel)
            .map(String::from)
    }

    /// Whether the incident's post-mortem was posted since it last closed.
    pub async fn postmortem_published(&self, number: IncidentNumber) -> bool {
        self.projection.lock().await.incidents.published(number)
    }

    /// The SOP attached to an incident by its alert route, if any.
    pub async fn attached_sop(
        &self,
        number: IncidentNumber,
    ) -> anyhow::Result<Option<AttachedSop>> {
        Ok(self
            .incident_records(number)
            .await?
            .into_iter()
            .find_map(|r| match r.event {
                Event::SopPosted {
                    path,
                    markdown,
                    suggest,
                    ..
                } => Some(AttachedSop {
                    path,
                    markdown,
                    suggest,
                }),
                _ => None,
            }))
    }

    /// The deploys noted in the incident when it opened, described one per line; `None`
    /// when there were none.
    pub async fn noted_deploys(&self, number: IncidentNumber) -> anyhow::Result<Option<String>> {
        let tz = self.settings().timezone;
        let lines: Vec<String> = self
            .incident_records(number)
            .await?
            .into_iter()
            .filter_map(|r| match r.event {
                Event::DeployNoted {
                    deploy,
                    deployed_at,
                    flags,
                } => Some(crate::app::deploys::deploy_line(
                    &deploy,
                    deployed_at,
                    &flags,
                    tz,
                )),
                _ => None,
            })
            .collect();
        Ok((!lines.is_empty()).then(|| lines.join("\n")))
    }

    /// Records that the incident's channel exists in a chat service. The event id derives
    /// from the channel, so one channel is linked once however often this is called.
    pub async fn link_chat_channel(
        &self,
        number: IncidentNumber,
        channel: &str,
        service: &str,
        chat_id: &str,
    ) -> anyhow::Result<()> {
        let event = Event::ChatChannelLinked {
            channel: channel.to_string(),
            service: service.to_string(),
            chat_id: chat_id.to_string(),
        };
        self.record_fact_once(number, &format!("chat-link:{service}:{channel}"), event)
            .await
    }

    /// Records that the post-mortem draft (`file`, whose bytes hash to `sha256`) was posted
    /// in the incident's channel as chat message `chat_message_id`: once per close, so an
    /// incident reopened and closed again is posted, and recorded, again.
    pub async fn record_postmortem_published(
        &self,
        number: IncidentNumber,
        file: String,
        sha256: String,
        chat_message_id: Option<String>,
    ) -> anyhow::Result<()> {
        let records = self.incident_records(number).await?;
        let closes = records
            .iter()
            .filter(|r| matches!(r.event, Event::IncidentClosed {}))
            .count();
        let channel = self
            .incident(number)
            .await?
            .map(|i| i.channel)
            .unwrap_or_default();
        let event = Event::PostmortemPublished {
            channel,
            file,
            sha256,
            chat_message_id,
        };
        self.record_fact_once(
            number,
            &format!("postmortem-published:{number}:{closes}"),
            event,
        )
        .await
    }

    /// The incident's commander now: the last person given the role, if anyone was.
    pub async fn commander(&self, number: IncidentNumber) -> anyhow::Result<Option<String>> {
        let records = self.incident_records(number).await?;
        Ok(records.iter().rev().find_map(|r| match &r.event {
            Event::RoleAssigned { role, handle, .. } if *role == Role::Commander => {
                Some(handle.clone())
            }
            _ => None,
        }))
    }

    /// Appends a fact warroom itself observed to an incident's stream, once per key: a
    /// second call with the same key, even with other content, changes nothing.
    async fn record_fact_once(
        &self,
        number: IncidentNumber,
        key: &str,
        event: Event,
    ) -> anyhow::Result<()> {
        let id = event_id(key, 0);
        if !self.ledger.contains_event(id).await? {
            self.record_system_fact(number, id, event).await?;
        }
        self.refresh().await
    }
}

/// Whether a channel is, or was, an incident's channel: bound to one now, or linked by
/// warroom in the chat service.
pub(in crate::app) fn is_incident_channel(projection: &Projection, channel: &str) -> bool {
    projection.incidents.bound_to(channel).is_some() || projection.chat.chat_id(channel).is_some()
}
