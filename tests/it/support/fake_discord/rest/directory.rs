//! Users, the application, commands, channels and threads: what the bot looks up or sets up
//! before it talks.

use serde_json::{json, Value};

use super::super::fixtures;
use super::{
    id_of, json_answer, Answer, Channel, Handled, Refusal, State, INVALID_FORM_BODY,
    UNKNOWN_CHANNEL, UNKNOWN_MESSAGE,
};

impl State {
    // ----- users and the application -----

    pub(super) fn current_user(&self) -> Value {
        fixtures::bot_user(self.bot_id, &self.bot_name)
    }

    fn user(&self, id: u64) -> Option<Value> {
        self.users.get(&id).map(|name| {
            let mut user = fixtures::user(id, name);
            if id == self.bot_id {
                user["bot"] = json!(true);
            }
            user
        })
    }

    pub(super) fn get_user(&self, id: u64) -> Handled {
        self.user(id)
            .map(Answer::Json)
            .ok_or(Refusal(404, 10013, "Unknown User"))
    }

    pub(super) fn get_member(&self, id: u64) -> Handled {
        let member = self
            .members
            .get(&id)
            .zip(self.users.get(&id))
            .map(|(roles, name)| fixtures::member(id, name, roles));
        member
            .map(Answer::Json)
            .ok_or(Refusal(404, 10007, "Unknown Member"))
    }

    /// The bot as the author of what it posts (a plain user object, `bot` set).
    pub(super) fn bot_author(&self) -> Value {
        let mut bot = fixtures::user(self.bot_id, &self.bot_name);
        bot["bot"] = json!(true);
        bot["global_name"] = Value::Null;
        bot
    }

    pub(super) fn application(&self) -> Value {
        json!({
            "id": self.application_id.to_string(),
            "name": self.bot_name,
            "icon": null,
            "description": "",
            "summary": "",
            "type": null,
            "bot": self.current_user(),
            "bot_public": false,
            "bot_require_code_grant": false,
            "verify_key": "0".repeat(64),
            "owner": null,
            "team": null,
            "flags": 0,
            "rpc_origins": [],
            "redirect_uris": [],
            "tags": [],
            "interactions_endpoint_url": null,
            "role_connections_verification_url": null,
            "approximate_guild_count": 1,
            "hook": true,
        })
    }

    pub(super) fn create_dm(&mut self, body: &Value) -> Handled {
        let user_id = id_of(&body["recipient_id"]).ok_or(INVALID_FORM_BODY)?;
        // Discord hands back the same DM channel every time.
        let existing = self
            .dm_channels
            .iter()
            .find(|(user, _)| *user == user_id)
            .map(|(_, channel)| *channel);
        let channel_id = match existing {
            Some(channel_id) => channel_id,
            None => {
                let channel_id = self.new_id();
                self.add_dm_channel(user_id, channel_id);
                channel_id
            }
        };
        self.get_channel(channel_id)
    }

    // ----- commands -----

    /// Answers a bulk overwrite with complete Command objects: the body plus ids (kept per
    /// name and type, as Discord keeps them), a version and Discord's defaults.
    pub(super) fn put_commands(&mut self, in_guild: bool, body: Value) -> Handled {
        let commands = body.as_array().ok_or(INVALID_FORM_BODY)?;
        let version = self.new_id();
        let mut out = Vec::new();
        for command in commands {
            let name = command["name"].as_str().ok_or(INVALID_FORM_BODY)?;
            let kind = command["type"].as_u64().unwrap_or(1);
            let key = format!("{in_guild}:{kind}:{name}");
            let id = match self.command_ids.get(&key) {
                Some(id) => *id,
                None => {
                    let id = self.new_id();
                    self.command_ids.insert(key, id);
                    id
                }
            };
            let mut full = command.clone();
            let fields = full.as_object_mut().ok_or(INVALID_FORM_BODY)?;
            fields.insert("id".into(), json!(id.to_string()));
            fields.insert(
                "application_id".into(),
                json!(self.application_id.to_string()),
            );
            fields.insert("version".into(), json!(version.to_string()));
            fields.insert("type".into(), json!(kind));
            if in_guild {
                fields.insert("guild_id".into(), json!(self.guild_id.to_string()));
            }
            let contexts = if in_guild {
                Value::Null
            } else {
                json!([0, 1, 2])
            };
            let defaults = [
                ("description", json!("")),
                ("options", json!([])),
                ("default_member_permissions", Value::Null),
                ("nsfw", json!(false)),
                ("integration_types", json!([0])),
                ("contexts", contexts),
                ("name_localizations", Value::Null),
                ("description_localizations", Value::Null),
            ];
            for (key, value) in defaults {
                if fields.get(key).is_none_or(Value::is_null) {
                    fields.insert(key.into(), value);
                }
            }
            out.push(full);
        }
        let out = Value::Array(out);
        if in_guild {
            self.guild_commands = Some(body);
            self.guild_commands_out = out.clone();
        } else {
            self.global_commands = Some(body);
            self.global_commands_out = out.clone();
        }
        json_answer(out)
    }

    // ----- channels -----

    pub(super) fn channel(&self, id: u64) -> Result<&Channel, Refusal> {
        self.channels.get(&id).ok_or(UNKNOWN_CHANNEL)
    }

    fn message_count(&self, channel_id: u64) -> usize {
        self.messages
            .values()
            .filter(|m| m.visible && m.channel_id == channel_id)
            .count()
    }

    fn channel_json(&self, channel: &Channel) -> Value {
        let mut json = match channel.kind {
            1 | 3 => {
                let recipient = match channel.recipient {
                    Some(user) => self
                        .user(user)
                        .unwrap_or_else(|| fixtures::user(user, &format!("user{user}"))),
                    // Seeded without a recipient: a stand-in named like the channel.
                    None => fixtures::user(channel.id, &channel.name),
                };
                fixtures::dm_channel(channel.id, recipient)
            }
            10..=12 => {
                let mut thread = fixtures::guild_channel(
                    channel.id,
                    self.guild_id,
                    &channel.name,
                    channel.kind,
                    channel.parent_id,
                    None,
                );
                if let Some(owner) = channel.owner_id {
                    thread["owner_id"] = json!(owner.to_string());
                }
                thread["thread_metadata"]["archived"] = json!(channel.archived);
                thread["thread_metadata"]["locked"] = json!(channel.locked);
                let count = self.message_count(channel.id);
                thread["message_count"] = json!(count);
                thread["total_message_sent"] = json!(count);
                thread
            }
            _ => {
                let mut json = fixtures::guild_channel(
                    channel.id,
                    self.guild_id,
                    &channel.name,
                    channel.kind,
                    channel.parent_id,
                    channel.topic.as_deref(),
                );
                json["position"] = json!(channel.position);
                json
            }
        };
        if json.get("last_message_id").is_some() || channel.kind == 1 {
            let last = self
                .messages
                .iter()
                .rev()
                .find(|(_, m)| m.visible && m.channel_id == channel.id)
                .map(|(id, _)| json!(id.to_string()));
            json["last_message_id"] = last.unwrap_or(Value::Null);
        }
        json
    }

    pub(super) fn get_channel(&self, id: u64) -> Handled {
        json_answer(self.channel_json(self.channel(id)?))
    }

    /// The guild's channels; like Discord, without threads (see `active_threads`).
    pub(super) fn guild_channels(&self) -> Value {
        self.channels
            .values()
            .filter(|c| !matches!(c.kind, 1 | 3 | 10..=12))
            .map(|c| self.channel_json(c))
            .collect()
    }

    pub(super) fn active_threads(&self) -> Value {
        let threads: Vec<Value> = self
            .channels
            .values()
            .filter(|c| matches!(c.kind, 10..=12) && !c.archived)
            .map(|c| self.channel_json(c))
            .collect();
        json!({ "threads": threads, "members": [] })
    }

    pub(super) fn create_channel(&mut self, body: &Value) -> Handled {
        let name = body["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or(INVALID_FORM_BODY)?;
        let kind = body["type"].as_u64().unwrap_or(0) as u8;
        let parent_id = id_of(&body["parent_id"]);
        if let Some(parent) = parent_id {
            // Discord only nests channels under categories.
            if self.channels.get(&parent).is_none_or(|p| p.kind != 4) {
                return Err(INVALID_FORM_BODY);
            }
        }
        let id = self.new_id();
        self.add_channel(id, name, kind, parent_id);
        let channel = self.channels.get_mut(&id).expect("just added");
        channel.topic = body["topic"].as_str().map(str::to_string);
        if let Some(position) = body["position"].as_u64() {
            channel.position = position;
        }
        self.get_channel(id)
    }

    pub(super) fn edit_channel(&mut self, id: u64, body: &Value) -> Handled {
        let channel = self.channels.get_mut(&id).ok_or(UNKNOWN_CHANNEL)?;
        if let Some(name) = body["name"].as_str() {
            channel.name = name.to_string();
        }
        if let Some(topic) = body.get("topic") {
            channel.topic = topic.as_str().map(str::to_string);
        }
        if let Some(parent) = body.get("parent_id") {
            channel.parent_id = id_of(parent);
        }
        if let Some(position) = body["position"].as_u64() {
            channel.position = position;
        }
        if let Some(archived) = body["archived"].as_bool() {
            channel.archived = archived;
        }
        if let Some(locked) = body["locked"].as_bool() {
            channel.locked = locked;
        }
        self.get_channel(id)
    }

    pub(super) fn delete_channel(&mut self, id: u64) -> Handled {
        let json = self.channel_json(self.channel(id)?);
        self.channels.remove(&id);
        self.messages.retain(|_, m| m.channel_id != id);
        json_answer(json)
    }

    /// A thread in `parent`, started from message `from` when given (the thread then takes
    /// the message's id, as on Discord).
    pub(super) fn create_thread(
        &mut self,
        parent: u64,
        from: Option<u64>,
        body: &Value,
    ) -> Handled {
        let parent_kind = self.channel(parent)?.kind;
        if !matches!(parent_kind, 0 | 5 | 15) {
            return Err(Refusal(
                400,
                50024,
                "Cannot execute action on this channel type",
            ));
        }
        let name = body["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or(INVALID_FORM_BODY)?;
        let (id, default_kind) = match from {
            Some(message_id) => {
                let in_parent = self
                    .messages
                    .get(&message_id)
                    .is_some_and(|m| m.visible && m.channel_id == parent);
                if !in_parent {
                    return Err(UNKNOWN_MESSAGE);
                }
                if self.channels.contains_key(&message_id) {
                    return Err(Refusal(
                        400,
                        160004,
                        "A thread has already been created for this message",
                    ));
                }
                (message_id, if parent_kind == 5 { 10 } else { 11 })
            }
            None => (self.new_id(), 11),
        };
        let kind = body["type"].as_u64().map_or(default_kind, |k| k as u8);
        self.add_channel(id, name, kind, Some(parent));
        let bot = self.bot_id;
        if let Some(thread) = self.channels.get_mut(&id) {
            thread.owner_id = Some(bot);
        }
        self.get_channel(id)
    }
}
