//! Channel messages: history pages, posting (JSON or multipart with files), edits, deletes.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use serde_json::{json, Value};

use super::super::fixtures::{self, time_of, timestamp};
use super::{
    id_of, id_text, json_answer, Answer, Body, Handled, Part, Refusal, State, Stored,
    INVALID_FORM_BODY, UNKNOWN_MESSAGE,
};

/// A deferred interaction response's "thinking…" flag, cleared by the first edit.
pub(super) const LOADING: u64 = 1 << 7;

/// Where a new message goes and what it is.
pub(super) struct NewMessage {
    pub channel_id: u64,
    /// Whether the channel shows it (not for ephemeral responses).
    pub visible: bool,
    /// The interaction token, for responses and follow-ups (sent through the webhook).
    pub token: Option<String>,
    /// Discord's message type: 0 default, 19 reply, 20 chat input command response.
    pub kind: u64,
}

impl State {
    /// A page of history, newest first like Discord: the newest `limit` (default 50, at most
    /// 100); with `before`, the newest `limit` older than it; with `after`, the `limit` right
    /// after it; with `around`, `limit` centred on it.
    pub(super) fn history(&self, channel_id: u64, query: &HashMap<String, String>) -> Handled {
        self.channel(channel_id)?;
        let limit = query
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(50)
            .clamp(1, 100);
        let ids: Vec<u64> = self
            .messages
            .iter()
            .filter(|(_, m)| m.visible && m.channel_id == channel_id)
            .map(|(id, _)| *id)
            .collect();
        let bound = |key: &str| query.get(key).and_then(|v| v.parse::<u64>().ok());
        let mut page: Vec<u64> = if let Some(before) = bound("before") {
            let older: Vec<u64> = ids.into_iter().filter(|id| *id < before).collect();
            older[older.len().saturating_sub(limit)..].to_vec()
        } else if let Some(after) = bound("after") {
            ids.into_iter()
                .filter(|id| *id > after)
                .take(limit)
                .collect()
        } else if let Some(around) = bound("around") {
            let start = ids
                .partition_point(|id| *id < around)
                .saturating_sub(limit / 2);
            ids.into_iter().skip(start).take(limit).collect()
        } else {
            ids[ids.len().saturating_sub(limit)..].to_vec()
        };
        page.reverse();
        json_answer(
            page.iter()
                .map(|id| self.messages[id].json.clone())
                .collect(),
        )
    }

    /// A message in a channel the channel shows.
    fn visible_message(&self, channel_id: u64, message_id: u64) -> Result<u64, Refusal> {
        self.channel(channel_id)?;
        self.messages
            .get(&message_id)
            .filter(|m| m.visible && m.channel_id == channel_id)
            .map(|_| message_id)
            .ok_or(UNKNOWN_MESSAGE)
    }

    pub(super) fn get_message(&self, channel_id: u64, message_id: u64) -> Handled {
        let id = self.visible_message(channel_id, message_id)?;
        json_answer(self.messages[&id].json.clone())
    }

    pub(super) fn post_message(&mut self, channel_id: u64, body: &Body) -> Handled {
        self.channel(channel_id)?;
        let target = NewMessage {
            channel_id,
            visible: true,
            token: None,
            kind: 0,
        };
        self.create_message(target, &body.json, &body.files)
            .map(Answer::Json)
    }

    pub(super) fn patch_message(
        &mut self,
        channel_id: u64,
        message_id: u64,
        body: &Body,
    ) -> Handled {
        let id = self.visible_message(channel_id, message_id)?;
        json_answer(self.edit_message(id, &body.json, &body.files))
    }

    pub(super) fn delete_message(&mut self, channel_id: u64, message_id: u64) -> Handled {
        let id = self.visible_message(channel_id, message_id)?;
        self.messages.remove(&id);
        Ok(Answer::NoContent)
    }

    /// New attachments from uploaded parts `files[n]`, each described by the entry with id
    /// `n` in the payload's `attachments`.
    fn attachments_from(
        &mut self,
        channel_id: u64,
        data: &Value,
        files: &[Part],
    ) -> (Vec<Value>, HashMap<u64, Vec<u8>>) {
        let mut attachments = Vec::new();
        let mut bytes = HashMap::new();
        for (index, part) in files.iter().enumerate() {
            let placeholder = part
                .name
                .strip_prefix("files[")
                .and_then(|rest| rest.strip_suffix(']'))
                .map_or(index.to_string(), str::to_string);
            let described = data["attachments"].as_array().and_then(|entries| {
                entries
                    .iter()
                    .find(|entry| id_text(&entry["id"]).as_deref() == Some(placeholder.as_str()))
            });
            let filename = part
                .filename
                .clone()
                .or_else(|| described.and_then(|d| d["filename"].as_str().map(str::to_string)))
                .unwrap_or_else(|| format!("file{placeholder}"));
            let id = self.new_id();
            let url =
                format!("https://cdn.discordapp.com/attachments/{channel_id}/{id}/{filename}");
            let mut attachment = fixtures::attachment(id, &filename, part.data.len() as u64, &url);
            if let Some(content_type) = &part.content_type {
                attachment["content_type"] = json!(content_type);
            }
            if let Some(description) = described.and_then(|d| d["description"].as_str()) {
                attachment["description"] = json!(description);
            }
            attachments.push(attachment);
            bytes.insert(id, part.data.clone());
        }
        (attachments, bytes)
    }

    /// Stores a message the bot (or its application, for interaction responses) sends and
    /// returns it as Discord would.
    pub(super) fn create_message(
        &mut self,
        target: NewMessage,
        data: &Value,
        files: &[Part],
    ) -> Result<Value, Refusal> {
        let NewMessage {
            channel_id,
            visible,
            token,
            mut kind,
        } = target;
        let mut reference = None;
        if let Some(reply_to) = id_of(&data["message_reference"]["message_id"]) {
            let referenced = match self.messages.get(&reply_to) {
                Some(target) => {
                    let mut target = target.json.clone();
                    // One level of reference is all Discord includes.
                    target["referenced_message"] = Value::Null;
                    target
                }
                None if data["message_reference"]["fail_if_not_exists"] == json!(false) => {
                    Value::Null
                }
                None => return Err(INVALID_FORM_BODY),
            };
            kind = 19;
            let guild_id = self
                .channels
                .get(&channel_id)
                .filter(|c| c.kind != 1)
                .map(|_| self.guild_id.to_string());
            let reference_json = json!({
                "type": 0,
                "message_id": reply_to.to_string(),
                "channel_id": channel_id.to_string(),
                "guild_id": guild_id,
            });
            reference = Some((reference_json, referenced));
        }
        let id = self.new_id();
        let (attachments, bytes) = self.attachments_from(channel_id, data, files);
        let or_empty = |key: &str| match &data[key] {
            Value::Null => json!([]),
            value => value.clone(),
        };
        // As Discord: `@everyone`/`@here` in the content ping the channel unless the
        // message's allowed mentions leave "everyone" out of `parse` (or give no `parse`).
        let content = data["content"].as_str().unwrap_or("");
        let everyone_allowed = match &data["allowed_mentions"] {
            Value::Null => true,
            allowed => allowed["parse"]
                .as_array()
                .is_some_and(|p| p.iter().any(|v| v == "everyone")),
        };
        let mention_everyone =
            everyone_allowed && (content.contains("@everyone") || content.contains("@here"));
        let mut message = json!({
            "id": id.to_string(),
            "channel_id": channel_id.to_string(),
            "author": self.bot_author(),
            "content": data["content"].as_str().unwrap_or(""),
            "timestamp": timestamp(time_of(id)),
            "edited_timestamp": null,
            "tts": data["tts"].as_bool().unwrap_or(false),
            "mention_everyone": mention_everyone,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": or_empty("embeds"),
            "pinned": false,
            "type": kind,
            "flags": data["flags"].as_u64().unwrap_or(0),
            "components": or_empty("components"),
        });
        if let Some((reference, referenced)) = reference {
            message["message_reference"] = reference;
            message["referenced_message"] = referenced;
        }
        if !data["nonce"].is_null() {
            message["nonce"] = data["nonce"].clone();
        }
        if token.is_some() {
            // Interaction responses come through the application's webhook.
            message["webhook_id"] = json!(self.application_id.to_string());
            message["application_id"] = json!(self.application_id.to_string());
        }
        self.messages.insert(
            id,
            Stored {
                channel_id,
                visible,
                token,
                json: message.clone(),
                files: bytes,
            },
        );
        Ok(message)
    }

    /// Applies an edit (message PATCH, webhook PATCH, UPDATE_MESSAGE callback) and returns the
    /// message as it now is. An `attachments` list keeps the listed existing attachments and
    /// describes new uploads; without one, uploads are added.
    pub(super) fn edit_message(&mut self, id: u64, data: &Value, files: &[Part]) -> Value {
        let channel_id = self.messages[&id].channel_id;
        let kept: Option<HashSet<String>> = data["attachments"]
            .as_array()
            .map(|entries| entries.iter().filter_map(|e| id_text(&e["id"])).collect());
        let (added, bytes) = self.attachments_from(channel_id, data, files);
        let stored = self
            .messages
            .get_mut(&id)
            .expect("edit of a stored message");
        let message = &mut stored.json;
        if let Some(content) = data.get("content") {
            message["content"] = json!(content.as_str().unwrap_or(""));
        }
        for key in ["embeds", "components"] {
            if let Some(value) = data.get(key) {
                message[key] = if value.is_null() {
                    json!([])
                } else {
                    value.clone()
                };
            }
        }
        let flags = data["flags"]
            .as_u64()
            .unwrap_or_else(|| message["flags"].as_u64().unwrap_or(0));
        message["flags"] = json!(flags & !LOADING);
        let mut attachments: Vec<Value> = message["attachments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(kept) = kept {
            attachments.retain(|a| id_text(&a["id"]).is_some_and(|id| kept.contains(&id)));
            stored
                .files
                .retain(|file, _| kept.contains(&file.to_string()));
        }
        attachments.extend(added);
        message["attachments"] = Value::Array(attachments);
        message["edited_timestamp"] = json!(timestamp(Utc::now()));
        stored.files.extend(bytes);
        stored.json.clone()
    }
}
