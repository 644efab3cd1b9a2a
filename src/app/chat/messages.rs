//! Recording what is said: a message goes where its channel's messages go now (the bound
//! incident, else the channel's own stream) — or, said where no incident is bound in answer
//! to a message an incident holds, to that incident; an edit or a delete follows the message
//! to the stream it lives in, stating the text it replaces when that is known.

use crate::app::chat::view::Place;
use crate::app::error::AppError;
use crate::app::projection::Projection;
use crate::app::{to_recorded, Failure, Input, InputKind, Outcome, Warroom};
use crate::domain::contacts::mentions;
use crate::domain::event::{Attachment, ChatMessage, Event};
use crate::domain::incident::IncidentCommand;
use crate::domain::types::IncidentNumber;
use crate::domain::types::IncidentStatus;
use chrono::{DateTime, Utc};

/// The outcome of a message queued by [`Warroom::queue_message`], once it commits.
pub type QueuedOutcome =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Outcome, AppError>> + Send>>;

/// The message a chat-message input says (`text` and the rest are its `InputKind::Message`
/// fields), as recorded.
pub(in crate::app) fn chat_message(
    input: &Input,
    text: &str,
    message_id: &Option<String>,
    reply_to: &Option<String>,
    attachments: &[Attachment],
) -> ChatMessage {
    ChatMessage {
        channel: input.channel.clone(),
        message_id: message_id.clone(),
        author: input.from.clone(),
        text: text.to_string(),
        mentions: mentions(text),
        reply_to: reply_to.clone(),
        attachments: attachments.to_vec(),
    }
}

/// Where a message goes: the incident bound to its channel, else the open incident holding
/// the message it answers, else (`None`) the channel's own stream.
fn message_incident(
    projection: &Projection,
    channel: &str,
    message: &ChatMessage,
) -> Option<IncidentNumber> {
    projection.incidents.bound_to(channel).or_else(|| {
        let answered = message.reply_to.as_deref()?;
        match projection.chat.message_place(channel, answered)? {
            Place::Incident(number) => projection
                .incidents
                .get(number)
                .filter(|i| i.status != IncidentStatus::Closed)
                .map(|i| i.number),
            Place::Channel { .. } => None,
        }
    })
}

impl Warroom {
    /// Records a message where the channel's messages go now. A message is a fact: no rule
    /// depends on the stream's version, so it is appended without reading the stream first
    /// (recording stays O(1) however long the incident runs).
    ///
    /// A reply follows the message it answers: said in a channel no incident is bound to, in
    /// answer to a message an incident holds — said in it, or brought in by its lookback
    /// (`Imported`) — it is recorded in that incident while the incident is not closed. The
    /// on-call's "I have an alert for that too" answering the report in #ops that the alert's
    /// incident imported is part of the incident, not of #ops's chatter.
    pub(in crate::app) async fn record_message(
        &self,
        projection: &mut Projection,
        input: &Input,
        message: ChatMessage,
    ) -> anyhow::Result<Outcome> {
        let incident = message_incident(projection, &input.channel, &message);
        let pending = vec![self.pending(input, Event::MessagePosted(message))];
        self.record_facts(incident, input, pending).await
    }

    /// Records a plain chat message (see [`Input::is_plain_message`]) as `handle` does, but
    /// returns as soon as its append is queued, with what gives its outcome once it commits.
    ///
    /// For a caller that has many messages in flight, in order (a replay): the projection
    /// learns of a message only when it commits, so what depends on one still in flight — an
    /// edit or delete of it, a command — must wait until every one is answered. So must a
    /// reply said where no incident is bound to a message not recorded yet (it goes where
    /// that message lives): for it this gives back `Err(input)`, untouched, to handle then.
    pub async fn queue_message(
        &self,
        input: Input,
    ) -> Result<Result<QueuedOutcome, Input>, AppError> {
        let input = input.normalised();
        let (
            true,
            InputKind::Message {
                text,
                message_id,
                reply_to,
                attachments,
            },
        ) = (input.is_plain_message(), &input.kind)
        else {
            return Err(AppError::Refused(
                "only a plain chat message can be queued; handle anything else".into(),
            ));
        };
        let message = chat_message(&input, text, message_id, reply_to, attachments);
        let mut projection = self.projection.lock().await;
        // A replay queues thousands of lines a second: like the alert intake, it trusts the
        // head the PostgreSQL listener keeps rather than ask the store before each line (a
        // round trip each, which held a PostgreSQL replay under 2k lines a second).
        self.catch_up_known(&mut projection)
            .await
            .map_err(AppError::classify)?;
        if input.caller.incident_channels_only
            && !super::is_incident_channel(&projection, &input.channel)
        {
            return Ok(Ok(Box::pin(std::future::ready(Ok(Outcome::default())))));
        }
        let unbound = projection.incidents.bound_to(&input.channel).is_none();
        if let Some(answered) = message.reply_to.as_deref().filter(|_| unbound) {
            if projection
                .chat
                .message_place(&input.channel, answered)
                .is_none()
            {
                return Ok(Err(input));
            }
        }
        let incident = message_incident(&projection, &input.channel, &message);
        let pending = vec![self.pending(&input, Event::MessagePosted(message))];
        let queued = self
            .queue_facts(incident, &input, pending)
            .await
            .map_err(|e| AppError::classify(e.into()))?;
        drop(projection);
        Ok(Ok(Box::pin(async move {
            queued.await.map_err(AppError::classify)
        })))
    }

    pub(in crate::app) async fn edit_or_delete(
        &self,
        projection: &mut Projection,
        input: &Input,
        message_id: &str,
        new_text: Option<String>,
        found_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<Outcome> {
        let channel = input.channel.clone();
        let place = projection.chat.message_place(&channel, message_id);
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
            .incidents
            .bound_to(&channel)
            .filter(|_| place.is_none());
        self.record_facts(incident, input, vec![self.pending(input, event)])
            .await
    }

    /// The message text held by the event at a position (a post or an edit).
    pub(in crate::app) async fn text_at(&self, position: i64) -> anyhow::Result<Option<String>> {
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
}
