//! The REST half of the fake: one wiremock responder routes every `/api/v10/…` request to a
//! handler over shared state, so what the bot creates (channels, messages, commands,
//! interaction responses) can be read back, and later requests see it.
//!
//! It answers like Discord where a bot could notice the difference: ids are increasing
//! snowflakes, history comes newest first, unknown resources get Discord's 404 codes, a
//! second acknowledgement of an interaction is refused.

mod directory;
mod interactions;
mod messages;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use serde_json::{json, Value};
use wiremock::{Request, Respond, ResponseTemplate};

use super::fixtures::snowflake_at;
use super::multipart::{self, Part};
use super::{FakeChannel, FakeFile, FakeMessage};

pub(super) struct State {
    pub bot_id: u64,
    pub bot_name: String,
    pub guild_id: u64,
    pub application_id: u64,
    pub gateway_url: String,
    last_id: u64,
    channels: BTreeMap<u64, Channel>,
    /// Every message by id (ids are unique across channels, as on Discord).
    messages: BTreeMap<u64, Stored>,
    users: BTreeMap<u64, String>,
    members: BTreeMap<u64, Vec<u64>>,
    pub interaction_callbacks: Vec<Value>,
    pub webhook_edits: Vec<Value>,
    pub guild_commands: Option<Value>,
    guild_commands_out: Value,
    pub global_commands: Option<Value>,
    global_commands_out: Value,
    command_ids: HashMap<String, u64>,
    pub dm_channels: Vec<(u64, u64)>,
    failures: VecDeque<Failure>,
    pub unexpected: Vec<String>,
    interactions: HashMap<String, Tracked>,
    acknowledged: HashSet<String>,
    /// Interaction token → id of its original response message.
    originals: HashMap<String, u64>,
}

struct Channel {
    id: u64,
    name: String,
    kind: u8,
    parent_id: Option<u64>,
    topic: Option<String>,
    position: u64,
    recipient: Option<u64>,
    owner_id: Option<u64>,
    archived: bool,
    locked: bool,
}

struct Stored {
    channel_id: u64,
    /// False for what no channel shows: ephemeral responses, and responses to interactions
    /// the fake did not see (so it does not know their channel).
    visible: bool,
    /// The interaction token of a response or follow-up.
    token: Option<String>,
    json: Value,
    /// Uploaded bytes by attachment id.
    files: HashMap<u64, Vec<u8>>,
}

struct Failure {
    method: String,
    path_prefix: String,
    status: u16,
    body: Value,
}

/// An interaction the fake dispatched (or was told about), to place its responses.
struct Tracked {
    id: u64,
    kind: u64,
    channel_id: u64,
    /// The message a component interaction came from.
    message_id: Option<u64>,
    /// When it was sent: Discord takes the first answer for three seconds only.
    sent: std::time::Instant,
}

/// A request body: JSON, or the `payload_json` of a multipart form plus its file parts.
struct Body {
    json: Value,
    files: Vec<Part>,
}

/// A successful answer.
enum Answer {
    Json(Value),
    NoContent,
}

/// Discord's error answer: HTTP status, JSON error code, message.
#[derive(Clone, Copy, Debug)]
struct Refusal(u16, u64, &'static str);

const UNKNOWN_CHANNEL: Refusal = Refusal(404, 10003, "Unknown Channel");
const UNKNOWN_MESSAGE: Refusal = Refusal(404, 10008, "Unknown Message");
const INVALID_FORM_BODY: Refusal = Refusal(400, 50035, "Invalid Form Body");

type Handled = Result<Answer, Refusal>;

fn json_answer(value: Value) -> Handled {
    Ok(Answer::Json(value))
}

pub(super) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking test thread must not take every later request down with it.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The wiremock responder: everything goes through [`State::handle`].
pub(super) struct Router(pub Arc<Mutex<State>>);

impl Respond for Router {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        lock(&self.0).handle(request)
    }
}

fn reply(handled: Handled) -> ResponseTemplate {
    match handled {
        Ok(Answer::Json(value)) => ResponseTemplate::new(200).set_body_json(value),
        Ok(Answer::NoContent) => ResponseTemplate::new(204),
        Err(Refusal(status, code, message)) => {
            ResponseTemplate::new(status).set_body_json(json!({ "message": message, "code": code }))
        }
    }
}

/// A snowflake in a JSON field (string or number).
fn id_of(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// An id as Discord writes it in an `attachments` entry or a query: either form, as text.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Body {
    fn read(request: &Request) -> Result<Body, String> {
        let content_type = request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut body = Body {
            json: Value::Null,
            files: Vec::new(),
        };
        if content_type.starts_with("multipart/form-data") {
            for part in multipart::parse(content_type, &request.body)? {
                if part.name == "payload_json" {
                    body.json = serde_json::from_slice(&part.data)
                        .map_err(|e| format!("payload_json is not JSON: {e}"))?;
                } else {
                    body.files.push(part);
                }
            }
        } else if !request.body.is_empty() {
            body.json = serde_json::from_slice(&request.body)
                .map_err(|e| format!("the body is not JSON: {e}"))?;
        }
        Ok(body)
    }
}

fn authorised(request: &Request) -> bool {
    request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bot ") && v.len() > 4)
}

impl State {
    pub(super) fn new(
        bot_id: u64,
        bot_name: &str,
        guild_id: u64,
        application_id: u64,
        gateway_url: String,
    ) -> State {
        State {
            bot_id,
            bot_name: bot_name.to_string(),
            guild_id,
            application_id,
            gateway_url,
            last_id: bot_id.max(guild_id).max(application_id),
            channels: BTreeMap::new(),
            messages: BTreeMap::new(),
            users: BTreeMap::from([(bot_id, bot_name.to_string())]),
            members: BTreeMap::new(),
            interaction_callbacks: Vec::new(),
            webhook_edits: Vec::new(),
            guild_commands: None,
            guild_commands_out: json!([]),
            global_commands: None,
            global_commands_out: json!([]),
            command_ids: HashMap::new(),
            dm_channels: Vec::new(),
            failures: VecDeque::new(),
            unexpected: Vec::new(),
            interactions: HashMap::new(),
            acknowledged: HashSet::new(),
            originals: HashMap::new(),
        }
    }

    /// A fresh snowflake: now, but always above every id seen so far, so what the bot creates
    /// sorts after seeded history even when that history was dated in the future.
    fn new_id(&mut self) -> u64 {
        self.last_id = snowflake_at(Utc::now(), 0).max(self.last_id + 1);
        self.last_id
    }

    fn saw_id(&mut self, id: u64) {
        self.last_id = self.last_id.max(id);
    }

    // ----- what the harness reads and seeds -----

    pub(super) fn channels(&self) -> Vec<FakeChannel> {
        self.channels
            .values()
            .map(|c| FakeChannel {
                id: c.id,
                name: c.name.clone(),
                kind: c.kind,
                parent_id: c.parent_id,
            })
            .collect()
    }

    pub(super) fn add_channel(&mut self, id: u64, name: &str, kind: u8, parent_id: Option<u64>) {
        self.saw_id(id);
        let position = self.channels.len() as u64;
        self.channels.insert(
            id,
            Channel {
                id,
                name: name.to_string(),
                kind,
                parent_id,
                topic: None,
                position,
                recipient: None,
                owner_id: None,
                archived: false,
                locked: false,
            },
        );
    }

    pub(super) fn add_dm_channel(&mut self, user_id: u64, channel_id: u64) {
        self.add_channel(channel_id, "", 1, None);
        if let Some(channel) = self.channels.get_mut(&channel_id) {
            channel.recipient = Some(user_id);
        }
        self.dm_channels.push((user_id, channel_id));
    }

    pub(super) fn add_member(&mut self, user_id: u64, username: &str, role_ids: &[u64]) {
        self.users.insert(user_id, username.to_string());
        self.members.insert(user_id, role_ids.to_vec());
    }

    pub(super) fn messages_in(&self, channel_id: u64) -> Vec<FakeMessage> {
        self.messages
            .values()
            .filter(|m| m.visible && m.channel_id == channel_id)
            .map(Stored::to_fake)
            .collect()
    }

    /// What a message dispatch did to a channel, as Discord's history shows it afterwards:
    /// a message is there, an edit changed it, a delete took it away.
    pub(super) fn mirror_in_history(&mut self, event: &str, data: &Value) {
        let (Some(id), Some(channel_id)) = (id_of(&data["id"]), id_of(&data["channel_id"])) else {
            return;
        };
        match event {
            "MESSAGE_CREATE" if !self.messages.contains_key(&id) => {
                self.add_history(channel_id, data.clone())
            }
            "MESSAGE_UPDATE" => {
                if let (Some(stored), Some(text)) =
                    (self.messages.get_mut(&id), data["content"].as_str())
                {
                    stored.json["content"] = json!(text);
                    stored.json["edited_timestamp"] = data["edited_timestamp"].clone();
                }
            }
            "MESSAGE_DELETE" => {
                self.messages.remove(&id);
            }
            _ => {}
        }
    }

    /// Changes a message's text in the history as an edit would, with its `edited_timestamp`.
    pub(super) fn edit_history(&mut self, message_id: u64, text: &str, edited: &str) {
        let stored = self
            .messages
            .get_mut(&message_id)
            .unwrap_or_else(|| panic!("edit_history: no message {message_id}"));
        stored.json["content"] = json!(text);
        stored.json["edited_timestamp"] = json!(edited);
    }

    /// Takes a message out of the history, as a delete would.
    pub(super) fn remove_history(&mut self, message_id: u64) {
        self.messages
            .remove(&message_id)
            .unwrap_or_else(|| panic!("remove_history: no message {message_id}"));
    }

    pub(super) fn add_history(&mut self, channel_id: u64, mut message: Value) {
        let id = id_of(&message["id"]).expect("add_history: the message needs an id");
        match id_of(&message["channel_id"]) {
            Some(c) => assert_eq!(
                c, channel_id,
                "add_history: message {id} says channel {c}, not {channel_id}"
            ),
            None => message["channel_id"] = json!(channel_id.to_string()),
        }
        self.saw_id(id);
        self.messages.insert(
            id,
            Stored {
                channel_id,
                visible: true,
                token: None,
                json: message,
                files: HashMap::new(),
            },
        );
    }

    pub(super) fn fail_next(&mut self, method: &str, path_prefix: &str, status: u16, body: Value) {
        self.failures.push_back(Failure {
            method: method.to_string(),
            path_prefix: path_prefix.to_string(),
            status,
            body,
        });
    }

    // ----- routing -----

    fn handle(&mut self, request: &Request) -> ResponseTemplate {
        let method = request.method.as_str().to_ascii_uppercase();
        let path = request.url.path().to_string();
        if let Some(failure) = self.take_failure(&method, &path) {
            return failure;
        }
        let Some(route) = path.strip_prefix("/api/v10/") else {
            return self.unexpected(&method, &path);
        };
        let segments: Vec<&str> = route.split('/').filter(|s| !s.is_empty()).collect();
        // Interaction callbacks and webhooks authenticate by the token in their path.
        let by_token = matches!(segments.first(), Some(&"interactions" | &"webhooks"));
        if !by_token && !authorised(request) {
            return reply(Err(Refusal(401, 0, "401: Unauthorized")));
        }
        let body = match Body::read(request) {
            Ok(body) => body,
            Err(why) => {
                eprintln!("fake Discord: {method} {path}: {why}");
                return reply(Err(Refusal(
                    400,
                    50109,
                    "The request body contains invalid JSON.",
                )));
            }
        };
        let query: HashMap<String, String> = request
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        match self.route(&method, &segments, &query, body) {
            Some(handled) => reply(handled),
            None => self.unexpected(&method, &path),
        }
    }

    /// The handler for a request; `None` when no route matches.
    fn route(
        &mut self,
        method: &str,
        segments: &[&str],
        query: &HashMap<String, String>,
        body: Body,
    ) -> Option<Handled> {
        let app = self.application_id.to_string();
        let guild = self.guild_id.to_string();
        // Ids in paths; an unparsable one matches nothing, like an unknown one.
        let id = |segment: &str| segment.parse::<u64>().unwrap_or(0);
        Some(match (method, segments) {
            ("GET", ["gateway"]) => json_answer(json!({ "url": self.gateway_url })),
            ("GET", ["gateway", "bot"]) => json_answer(json!({
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1,
                },
            })),
            ("GET", ["users", "@me"]) => json_answer(self.current_user()),
            ("POST", ["users", "@me", "channels"]) => self.create_dm(&body.json),
            ("GET", ["users", user]) => self.get_user(id(user)),
            ("GET", ["oauth2", "applications", "@me"]) => json_answer(self.application()),

            (_, ["applications", a, ..]) if *a != app => {
                Err(Refusal(404, 10002, "Unknown Application"))
            }
            (_, ["applications", _, "guilds", g, ..]) if *g != guild => {
                Err(Refusal(404, 10004, "Unknown Guild"))
            }
            ("PUT", ["applications", _, "guilds", _, "commands"]) => {
                self.put_commands(true, body.json)
            }
            ("GET", ["applications", _, "guilds", _, "commands"]) => {
                json_answer(self.guild_commands_out.clone())
            }
            ("PUT", ["applications", _, "commands"]) => self.put_commands(false, body.json),
            ("GET", ["applications", _, "commands"]) => {
                json_answer(self.global_commands_out.clone())
            }

            (_, ["guilds", g, ..]) if *g != guild => Err(Refusal(404, 10004, "Unknown Guild")),
            ("POST", ["guilds", _, "channels"]) => self.create_channel(&body.json),
            ("GET", ["guilds", _, "channels"]) => json_answer(self.guild_channels()),
            ("GET", ["guilds", _, "threads", "active"]) => json_answer(self.active_threads()),
            ("GET", ["guilds", _, "members", user]) => self.get_member(id(user)),

            ("GET", ["channels", c]) => self.get_channel(id(c)),
            ("PATCH", ["channels", c]) => self.edit_channel(id(c), &body.json),
            ("DELETE", ["channels", c]) => self.delete_channel(id(c)),
            ("POST", ["channels", c, "threads"]) => self.create_thread(id(c), None, &body.json),
            ("POST", ["channels", c, "messages", m, "threads"]) => {
                self.create_thread(id(c), Some(id(m)), &body.json)
            }
            ("POST", ["channels", c, "typing"]) => self.channel(id(c)).map(|_| Answer::NoContent),
            ("GET", ["channels", c, "messages"]) => self.history(id(c), query),
            ("POST", ["channels", c, "messages"]) => self.post_message(id(c), &body),
            ("GET", ["channels", c, "messages", m]) => self.get_message(id(c), id(m)),
            ("PATCH", ["channels", c, "messages", m]) => self.patch_message(id(c), id(m), &body),
            ("DELETE", ["channels", c, "messages", m]) => self.delete_message(id(c), id(m)),

            ("POST", ["interactions", i, token, "callback"]) => {
                self.interaction_callback(id(i), token, body)
            }
            (_, ["webhooks", a, ..]) if *a != app => Err(Refusal(404, 10015, "Unknown Webhook")),
            ("POST", ["webhooks", _, token]) => self.follow_up(token, body),
            ("GET", ["webhooks", _, token, "messages", which]) => {
                self.get_webhook_message(token, which)
            }
            ("PATCH", ["webhooks", _, token, "messages", which]) => {
                self.patch_webhook_message(token, which, body)
            }
            ("DELETE", ["webhooks", _, token, "messages", which]) => {
                self.delete_webhook_message(token, which)
            }

            _ => return None,
        })
    }

    fn take_failure(&mut self, method: &str, path: &str) -> Option<ResponseTemplate> {
        // Prefixes may be written with or without "/api/v10".
        let short = path.strip_prefix("/api/v10").unwrap_or(path);
        let at = self.failures.iter().position(|f| {
            f.method.eq_ignore_ascii_case(method)
                && (path.starts_with(&f.path_prefix) || short.starts_with(&f.path_prefix))
        })?;
        let failure = self.failures.remove(at)?;
        let mut reply = ResponseTemplate::new(failure.status).set_body_json(&failure.body);
        if failure.status == 429 {
            let retry_after = failure.body["retry_after"].as_f64().unwrap_or(1.0);
            let global = failure.body["global"].as_bool().unwrap_or(false);
            reply = reply
                .insert_header("retry-after", retry_after.ceil().to_string().as_str())
                .insert_header("x-ratelimit-scope", if global { "global" } else { "user" });
            if global {
                reply = reply.insert_header("x-ratelimit-global", "true");
            }
        }
        Some(reply)
    }

    fn unexpected(&mut self, method: &str, path: &str) -> ResponseTemplate {
        eprintln!("fake Discord: nothing handles {method} {path}");
        self.unexpected.push(format!("{method} {path}"));
        reply(Err(Refusal(404, 0, "404: Not Found")))
    }
}

impl Stored {
    fn to_fake(&self) -> FakeMessage {
        let json = &self.json;
        let list = |key: &str| match &json[key] {
            Value::Null => json!([]),
            value => value.clone(),
        };
        let attachments = json["attachments"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|a| FakeFile {
                        filename: a["filename"].as_str().unwrap_or_default().to_string(),
                        bytes: id_of(&a["id"])
                            .and_then(|id| self.files.get(&id).cloned())
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        FakeMessage {
            id: id_of(&json["id"]).unwrap_or_default(),
            channel_id: self.channel_id,
            author_id: id_of(&json["author"]["id"]).unwrap_or_default(),
            content: json["content"].as_str().unwrap_or_default().to_string(),
            components: list("components"),
            embeds: list("embeds"),
            attachments,
            mention_everyone: json["mention_everyone"].as_bool().unwrap_or(false),
        }
    }
}
