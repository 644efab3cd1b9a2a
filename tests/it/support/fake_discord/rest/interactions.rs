//! Interaction responses: the callback, follow-ups and the `@original` message, placed in
//! the interaction's channel when the fake knows it (it dispatched the interaction, or was
//! told with `track_interaction`).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::messages::{NewMessage, LOADING};
use super::{id_of, json_answer, Answer, Body, Handled, Refusal, State, Stored, Tracked};

/// The ephemeral message flag: only the invoking user sees the message.
const EPHEMERAL: u64 = 1 << 6;

fn is_ephemeral(data: &Value) -> bool {
    data["flags"].as_u64().unwrap_or(0) & EPHEMERAL != 0
}

/// How long Discord waits for an interaction's first answer.
const ANSWER_LIMIT: std::time::Duration = std::time::Duration::from_secs(3);

impl State {
    /// Remembers an interaction so responses to it land in its channel, as on Discord.
    pub(in super::super) fn track_interaction(&mut self, interaction: &Value) {
        let (Some(token), Some(id), Some(channel_id)) = (
            interaction["token"].as_str(),
            id_of(&interaction["id"]),
            id_of(&interaction["channel_id"]),
        ) else {
            return;
        };
        let message_id = id_of(&interaction["message"]["id"]);
        if let Some(message_id) = message_id {
            // UPDATE_MESSAGE edits the message a button sits on, so it must be stored; a
            // test may have built it as a fixture the bot never posted. Kept out of the
            // channel's history, which the test did not seed.
            if !self.messages.contains_key(&message_id) {
                self.saw_id(message_id);
                let stored = Stored {
                    channel_id,
                    visible: false,
                    token: None,
                    json: interaction["message"].clone(),
                    files: HashMap::new(),
                };
                self.messages.insert(message_id, stored);
            }
        }
        let tracked = Tracked {
            id,
            kind: interaction["type"].as_u64().unwrap_or(0),
            channel_id,
            message_id,
            sent: std::time::Instant::now(),
        };
        self.interactions.insert(token.to_string(), tracked);
    }

    /// Where responses to an interaction go, and their message type.
    fn response_target(&self, token: &str, ephemeral: bool) -> NewMessage {
        let tracked = self.interactions.get(token);
        NewMessage {
            channel_id: tracked.map_or(0, |t| t.channel_id),
            visible: tracked.is_some() && !ephemeral,
            token: Some(token.to_string()),
            // Responses to slash commands are type 20 (chat input command).
            kind: if tracked.is_some_and(|t| t.kind == 2) {
                20
            } else {
                0
            },
        }
    }

    fn create_original(
        &mut self,
        token: &str,
        data: &Value,
        body: &Body,
    ) -> Result<Value, Refusal> {
        let target = self.response_target(token, is_ephemeral(data));
        let message = self.create_message(target, data, &body.files)?;
        let id = id_of(&message["id"]).expect("a stored message has an id");
        self.originals.insert(token.to_string(), id);
        Ok(message)
    }

    pub(super) fn interaction_callback(&mut self, id: u64, token: &str, body: Body) -> Handled {
        // Discord forgets an interaction not answered within three seconds.
        if self
            .interactions
            .get(token)
            .is_some_and(|t| t.id != id || t.sent.elapsed() > ANSWER_LIMIT)
        {
            return Err(Refusal(404, 10062, "Unknown interaction"));
        }
        if !self.acknowledged.insert(token.to_string()) {
            return Err(Refusal(
                400,
                40060,
                "Interaction has already been acknowledged.",
            ));
        }
        self.interaction_callbacks.push(body.json.clone());
        let data = body.json["data"].clone();
        let component_message = self.interactions.get(token).and_then(|t| t.message_id);
        match body.json["type"].as_u64() {
            // CHANNEL_MESSAGE_WITH_SOURCE
            Some(4) => {
                self.create_original(token, &data, &body)?;
            }
            // DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: a "thinking…" placeholder.
            Some(5) => {
                let flags = LOADING | (data["flags"].as_u64().unwrap_or(0) & EPHEMERAL);
                let placeholder = json!({ "content": "", "flags": flags });
                self.create_original(token, &placeholder, &body)?;
            }
            // DEFERRED_UPDATE_MESSAGE and UPDATE_MESSAGE: the original is the component's
            // message, which UPDATE_MESSAGE edits now.
            Some(kind @ (6 | 7)) => {
                if let Some(message_id) = component_message {
                    self.originals.insert(token.to_string(), message_id);
                    if kind == 7 {
                        self.edit_message(message_id, &data, &body.files);
                    }
                }
            }
            // PONG, autocomplete results, modals: nothing to store.
            _ => {}
        }
        Ok(Answer::NoContent)
    }

    pub(super) fn follow_up(&mut self, token: &str, body: Body) -> Handled {
        if self.interactions.contains_key(token) && !self.acknowledged.contains(token) {
            // Discord opens the webhook only once the interaction was answered.
            return Err(Refusal(404, 10015, "Unknown Webhook"));
        }
        self.webhook_edits.push(body.json.clone());
        let target = self.response_target(token, is_ephemeral(&body.json));
        self.create_message(target, &body.json, &body.files)
            .map(Answer::Json)
    }

    /// The webhook message `which` (`@original` or a follow-up's id) of this token.
    fn webhook_message_id(&self, token: &str, which: &str) -> Option<u64> {
        if which == "@original" {
            return self.originals.get(token).copied();
        }
        which.parse::<u64>().ok().filter(|id| {
            self.messages
                .get(id)
                .is_some_and(|m| m.token.as_deref() == Some(token))
        })
    }

    pub(super) fn get_webhook_message(&self, token: &str, which: &str) -> Handled {
        let id = self
            .webhook_message_id(token, which)
            .ok_or(super::UNKNOWN_MESSAGE)?;
        json_answer(self.messages[&id].json.clone())
    }

    pub(super) fn patch_webhook_message(
        &mut self,
        token: &str,
        which: &str,
        body: Body,
    ) -> Handled {
        let existing = self.webhook_message_id(token, which);
        if existing.is_none() && which != "@original" {
            return Err(super::UNKNOWN_MESSAGE);
        }
        self.webhook_edits.push(body.json.clone());
        match existing {
            Some(id) => json_answer(self.edit_message(id, &body.json, &body.files)),
            // The interaction may have been answered over HTTP (an interactions endpoint),
            // out of the fake's sight: the first edit of @original then creates it.
            None => self
                .create_original(token, &body.json, &body)
                .map(Answer::Json),
        }
    }

    pub(super) fn delete_webhook_message(&mut self, token: &str, which: &str) -> Handled {
        let id = self
            .webhook_message_id(token, which)
            .ok_or(super::UNKNOWN_MESSAGE)?;
        self.messages.remove(&id);
        self.originals.retain(|_, original| *original != id);
        Ok(Answer::NoContent)
    }
}
