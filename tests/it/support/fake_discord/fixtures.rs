//! Builders for complete Discord JSON objects (as the gateway and REST API send them), shaped so
//! serenity 0.12.5 deserialises them into its models, and a signer for interactions delivered
//! to an HTTP endpoint.
//!
//! serenity drops a gateway event whose data does not deserialise (it only logs a warning), so
//! an incomplete fixture shows up as "the bot never saw it". Every builder here is checked
//! against serenity's model types in `tests/it/discord.rs`.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Map, Value};

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

/// A snowflake for an instant: milliseconds since Discord's epoch in the high bits, `seq` in
/// the low 22 (worker, process and increment), so ids made for later instants sort later.
pub fn snowflake_at(at: DateTime<Utc>, seq: u64) -> u64 {
    let ms = at.timestamp_millis() - DISCORD_EPOCH_MS;
    assert!(ms >= 0, "snowflakes cannot predate Discord's epoch: {at}");
    ((ms as u64) << 22) | (seq & 0x3f_ffff)
}

/// The instant a snowflake was made (millisecond precision).
pub fn time_of(snowflake: u64) -> DateTime<Utc> {
    let ms = (snowflake >> 22) as i64 + DISCORD_EPOCH_MS;
    Utc.timestamp_millis_opt(ms)
        .single()
        .expect("a snowflake's time fits chrono")
}

/// A timestamp the way Discord writes it (`2024-05-01T10:00:00.000000+00:00`).
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// When fixture members joined: fixed, so fixtures compare equal across runs.
const JOINED_AT: &str = "2024-01-01T00:00:00.000000+00:00";

/// The permissions a fixture member (and the bot) holds in a channel: view, send, read
/// history, embed links, attach files, manage channels and threads, create public threads,
/// send in threads, use application commands. Only bits serenity knows, as a decimal string.
pub fn member_permissions() -> String {
    let bits: u64 = (1 << 4)
        | (1 << 10)
        | (1 << 11)
        | (1 << 14)
        | (1 << 15)
        | (1 << 16)
        | (1 << 31)
        | (1 << 34)
        | (1 << 35)
        | (1 << 38);
    bits.to_string()
}

/// A user (new-style username, so discriminator `"0"`).
pub fn user(id: u64, username: &str) -> Value {
    json!({
        "id": id.to_string(),
        "username": username,
        "discriminator": "0",
        "global_name": username,
        "avatar": null,
        "banner": null,
        "accent_color": null,
        "bot": false,
        "system": false,
        "public_flags": 0,
        "flags": 0,
        "avatar_decoration_data": null,
        "collectibles": null,
        "primary_guild": null,
    })
}

/// The bot's own user as `GET /users/@me` and READY describe it (a `CurrentUser`).
pub fn bot_user(id: u64, username: &str) -> Value {
    let mut bot = user(id, username);
    let fields = bot.as_object_mut().expect("a user is an object");
    fields.insert("global_name".into(), Value::Null);
    fields.insert("bot".into(), json!(true));
    fields.insert("verified".into(), json!(true));
    fields.insert("mfa_enabled".into(), json!(false));
    fields.insert("email".into(), Value::Null);
    fields.insert("locale".into(), json!("en-US"));
    fields.insert("premium_type".into(), json!(0));
    bot
}

/// The member fields Discord sends without the user (a message's `member`, an interaction's
/// resolved members).
fn partial_member(role_ids: &[u64]) -> Value {
    json!({
        "nick": null,
        "avatar": null,
        "banner": null,
        "roles": ids(role_ids),
        "joined_at": JOINED_AT,
        "premium_since": null,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "communication_disabled_until": null,
        "unusual_dm_activity_until": null,
        "avatar_decoration_data": null,
    })
}

/// A guild member with its user.
pub fn member(user_id: u64, username: &str, role_ids: &[u64]) -> Value {
    let mut member = partial_member(role_ids);
    member["user"] = user(user_id, username);
    member
}

fn ids(ids: &[u64]) -> Value {
    Value::Array(ids.iter().map(|id| json!(id.to_string())).collect())
}

/// A guild text message as MESSAGE_CREATE carries it (with `guild_id` and the author's
/// partial `member`). Give it an id made with [`snowflake_at`] for `timestamp` so ids and times
/// agree, as they do on Discord.
pub fn message(
    id: u64,
    channel_id: u64,
    guild_id: u64,
    author_id: u64,
    username: &str,
    content: &str,
    timestamp: DateTime<Utc>,
) -> Value {
    json!({
        "id": id.to_string(),
        "channel_id": channel_id.to_string(),
        "guild_id": guild_id.to_string(),
        "author": user(author_id, username),
        "member": partial_member(&[]),
        "content": content,
        "timestamp": self::timestamp(timestamp),
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": 0,
        "flags": 0,
        "components": [],
    })
}

/// A direct message as MESSAGE_CREATE carries it: no `guild_id`, no `member`.
pub fn dm_message(
    id: u64,
    channel_id: u64,
    author_id: u64,
    username: &str,
    content: &str,
    timestamp: DateTime<Utc>,
) -> Value {
    let mut msg = message(id, channel_id, 0, author_id, username, content, timestamp);
    let fields = msg.as_object_mut().expect("a message is an object");
    fields.remove("guild_id");
    fields.remove("member");
    msg
}

/// A best guess at a file's MIME type from its extension, as Discord reports `content_type`.
pub(super) fn content_type_of(filename: &str) -> Option<&'static str> {
    let ext = filename.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "txt" | "log" | "md" => "text/plain; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

/// An attachment object (`url` as given; `proxy_url` on Discord's media host).
pub fn attachment(id: u64, filename: &str, size: u64, url: &str) -> Value {
    let proxy_url = url.replacen("cdn.discordapp.com", "media.discordapp.net", 1);
    json!({
        "id": id.to_string(),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": proxy_url,
        "content_type": content_type_of(filename),
        "height": null,
        "width": null,
    })
}

/// `msg` with one more attachment.
pub fn with_attachment(mut msg: Value, id: u64, filename: &str, size: u64, url: &str) -> Value {
    msg["attachments"]
        .as_array_mut()
        .expect("a message has an attachments array")
        .push(attachment(id, filename, size, url));
    msg
}

/// `msg` as a reply (type 19) to `referenced_message_id` in the same channel. The referenced
/// message itself is `null`, which Discord also sends when it could not load it; set
/// `msg["referenced_message"]` to a [`message`] when the test needs its content.
pub fn with_reply_to(mut msg: Value, referenced_message_id: u64) -> Value {
    msg["type"] = json!(19);
    msg["message_reference"] = json!({
        "type": 0,
        "message_id": referenced_message_id.to_string(),
        "channel_id": msg["channel_id"].clone(),
        "guild_id": msg["guild_id"].clone(),
    });
    msg["referenced_message"] = Value::Null;
    msg
}

/// MESSAGE_UPDATE data: Discord sends the whole edited message, `edited_timestamp` set. The
/// original timestamp is read from the id.
pub fn message_update(
    id: u64,
    channel_id: u64,
    guild_id: u64,
    author_id: u64,
    username: &str,
    content: &str,
    edited_at: DateTime<Utc>,
) -> Value {
    let mut msg = message(
        id,
        channel_id,
        guild_id,
        author_id,
        username,
        content,
        time_of(id),
    );
    msg["edited_timestamp"] = json!(timestamp(edited_at));
    msg
}

/// MESSAGE_REACTION_ADD data (with the reacting `member`, as Discord sends in a guild), or
/// with `member: None` MESSAGE_REACTION_REMOVE data, which names the user by id only.
pub fn reaction(
    message_id: u64,
    channel_id: u64,
    guild_id: u64,
    user_id: u64,
    member: Option<Value>,
    emoji: &str,
) -> Value {
    let mut data = json!({
        "user_id": user_id.to_string(),
        "channel_id": channel_id.to_string(),
        "message_id": message_id.to_string(),
        "guild_id": guild_id.to_string(),
        "emoji": {"id": null, "name": emoji},
        "burst": false,
        "type": 0,
    });
    if let Some(member) = member {
        data["member"] = member;
    }
    data
}

/// MESSAGE_DELETE data.
pub fn message_delete(id: u64, channel_id: u64, guild_id: u64) -> Value {
    json!({
        "id": id.to_string(),
        "channel_id": channel_id.to_string(),
        "guild_id": guild_id.to_string(),
    })
}

/// A guild channel (0 text, 2 voice, 4 category, 5 announcement, 10/11/12 threads, 15 forum),
/// as REST and CHANNEL_CREATE send it. Threads get the thread fields; their owner is unknown
/// here, so [`thread`] is the builder to use when it matters.
pub fn guild_channel(
    id: u64,
    guild_id: u64,
    name: &str,
    kind: u8,
    parent_id: Option<u64>,
    topic: Option<&str>,
) -> Value {
    let mut channel = json!({
        "id": id.to_string(),
        "type": kind,
        "guild_id": guild_id.to_string(),
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "parent_id": parent_id.map(|p| p.to_string()),
        "nsfw": false,
        "flags": 0,
    });
    let fields = channel.as_object_mut().expect("a channel is an object");
    match kind {
        4 => {}
        2 | 13 => {
            fields.insert("bitrate".into(), json!(64000));
            fields.insert("user_limit".into(), json!(0));
            fields.insert("rtc_region".into(), Value::Null);
            fields.insert("rate_limit_per_user".into(), json!(0));
        }
        10..=12 => {
            fields.remove("position");
            fields.remove("permission_overwrites");
            fields.insert("last_message_id".into(), Value::Null);
            fields.insert("rate_limit_per_user".into(), json!(0));
            fields.insert("message_count".into(), json!(0));
            fields.insert("member_count".into(), json!(1));
            fields.insert("total_message_sent".into(), json!(0));
            fields.insert(
                "thread_metadata".into(),
                json!({
                    "archived": false,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": timestamp(time_of(id)),
                    "locked": false,
                    "create_timestamp": timestamp(time_of(id)),
                }),
            );
        }
        _ => {
            fields.insert("topic".into(), json!(topic));
            fields.insert("last_message_id".into(), Value::Null);
            fields.insert("rate_limit_per_user".into(), json!(0));
        }
    }
    channel
}

/// A thread (public 11 unless `kind` says otherwise) under `parent_id`, owned by `owner_id`.
pub fn thread(
    id: u64,
    guild_id: u64,
    name: &str,
    kind: u8,
    parent_id: u64,
    owner_id: u64,
) -> Value {
    let mut thread = guild_channel(id, guild_id, name, kind, Some(parent_id), None);
    thread["owner_id"] = json!(owner_id.to_string());
    thread
}

/// A DM channel with one recipient (a complete user object).
pub fn dm_channel(id: u64, recipient: Value) -> Value {
    json!({
        "id": id.to_string(),
        "type": 1,
        "last_message_id": null,
        "flags": 0,
        "recipients": [recipient],
    })
}

/// A typed option for [`slash_command`] where the JSON value alone is ambiguous: user (6),
/// channel (7), role (8), mentionable (9), attachment (11). Pass its result as the option's
/// value.
pub fn typed_option(kind: u8, value: Value) -> Value {
    json!({ "type": kind, "value": value })
}

/// A user option (type 6) naming `user_id`; the interaction's `resolved` gets the user.
pub fn user_option(user_id: u64) -> Value {
    typed_option(6, json!(user_id.to_string()))
}

/// A stable command id for a command name, so the same command has the same id in every
/// fixture (bots usually match on the name, but the id must be a valid snowflake).
pub fn command_id(name: &str) -> u64 {
    // FNV-1a: deterministic across runs and platforms, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let base = snowflake_at(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(), 0);
    base | (hash & 0x3f_ffff)
}

/// One option as Discord sends it, the type chosen from the value: strings 3, integers 4,
/// booleans 5, other numbers 10, `{"type": t, "value": v}` (see [`typed_option`]) as given.
/// User options add the user and a partial member to `resolved`.
fn option(name: &str, value: &Value, focused: bool, resolved: &mut Map<String, Value>) -> Value {
    let (kind, value) = match value {
        Value::Object(typed) if typed.contains_key("type") && typed.contains_key("value") => {
            let kind = typed["type"]
                .as_u64()
                .expect("a typed option's type is a number");
            (kind, typed["value"].clone())
        }
        Value::String(_) => (3, value.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => (4, value.clone()),
        Value::Number(_) => (10, value.clone()),
        Value::Bool(_) => (5, value.clone()),
        other => panic!("option {name}: no Discord option type for {other}"),
    };
    if kind == 6 {
        let id = value
            .as_str()
            .expect("a user option's value is the id as a string");
        let username = format!("user{id}");
        let parsed: u64 = id.parse().expect("a user option's value is a snowflake");
        resolved
            .entry("users")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("resolved users is an object")
            .insert(id.to_string(), user(parsed, &username));
        let mut partial = partial_member(&[]);
        partial["permissions"] = json!(member_permissions());
        resolved
            .entry("members")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("resolved members is an object")
            .insert(id.to_string(), partial);
    }
    let mut option = json!({ "name": name, "type": kind, "value": value });
    if focused {
        option["focused"] = json!(true);
    }
    option
}

/// The fields every guild interaction carries, for `kind` (2 command, 3 component,
/// 4 autocomplete, 5 modal submit).
#[allow(clippy::too_many_arguments)]
fn guild_interaction(
    kind: u8,
    interaction_id: u64,
    token: &str,
    application_id: u64,
    guild_id: u64,
    channel_id: u64,
    user_id: u64,
    username: &str,
    role_ids: &[u64],
) -> Value {
    let mut invoker = member(user_id, username, role_ids);
    invoker["permissions"] = json!(member_permissions());
    json!({
        "id": interaction_id.to_string(),
        "application_id": application_id.to_string(),
        "type": kind,
        "token": token,
        "version": 1,
        "guild_id": guild_id.to_string(),
        "guild": { "id": guild_id.to_string(), "locale": "en-US", "features": [] },
        "channel_id": channel_id.to_string(),
        "channel": {
            "id": channel_id.to_string(),
            "type": 0,
            "guild_id": guild_id.to_string(),
            "permissions": member_permissions(),
            "flags": 0,
        },
        "member": invoker,
        "app_permissions": member_permissions(),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": { "0": guild_id.to_string() },
        "context": 0,
        "attachment_size_limit": 26_214_400,
    })
}

/// The `data` of a chat-input command: options nested under `subcommand` when given (a
/// subcommand inside a group is written `"group sub"`).
fn command_data(
    command: &str,
    guild_id: u64,
    subcommand: Option<&str>,
    options: &[(&str, Value)],
    focused: Option<&str>,
) -> Value {
    let mut resolved = Map::new();
    let mut leaves: Vec<Value> = options
        .iter()
        .map(|(name, value)| option(name, value, focused == Some(*name), &mut resolved))
        .collect();
    if let Some(path) = subcommand {
        let mut names: Vec<&str> = path.split_whitespace().collect();
        let sub = names.pop().expect("a subcommand name");
        leaves = vec![json!({ "name": sub, "type": 1, "options": leaves })];
        if let Some(group) = names.pop() {
            leaves = vec![json!({ "name": group, "type": 2, "options": leaves })];
        }
    }
    let mut data = json!({
        "id": command_id(command).to_string(),
        "name": command,
        "type": 1,
        "guild_id": guild_id.to_string(),
        "options": leaves,
    });
    if !resolved.is_empty() {
        data["resolved"] = Value::Object(resolved);
    }
    data
}

/// INTERACTION_CREATE data for a slash command (type 2) invoked in a guild channel.
#[allow(clippy::too_many_arguments)]
pub fn slash_command(
    interaction_id: u64,
    token: &str,
    application_id: u64,
    guild_id: u64,
    channel_id: u64,
    user_id: u64,
    username: &str,
    role_ids: &[u64],
    command: &str,
    subcommand: Option<&str>,
    options: &[(&str, Value)],
) -> Value {
    let mut interaction = guild_interaction(
        2,
        interaction_id,
        token,
        application_id,
        guild_id,
        channel_id,
        user_id,
        username,
        role_ids,
    );
    interaction["data"] = command_data(command, guild_id, subcommand, options, None);
    interaction
}

/// INTERACTION_CREATE data for an autocomplete request (type 4): like [`slash_command`], with
/// the option named `focused` marked as the one being typed.
#[allow(clippy::too_many_arguments)]
pub fn autocomplete(
    interaction_id: u64,
    token: &str,
    application_id: u64,
    guild_id: u64,
    channel_id: u64,
    user_id: u64,
    username: &str,
    role_ids: &[u64],
    command: &str,
    subcommand: Option<&str>,
    options: &[(&str, Value)],
    focused: &str,
) -> Value {
    assert!(
        options.iter().any(|(name, _)| *name == focused),
        "the focused option {focused} must be among the options"
    );
    let mut interaction = guild_interaction(
        4,
        interaction_id,
        token,
        application_id,
        guild_id,
        channel_id,
        user_id,
        username,
        role_ids,
    );
    interaction["data"] = command_data(command, guild_id, subcommand, options, Some(focused));
    interaction
}

/// INTERACTION_CREATE data for a button press (type 3) on `message` (a complete message, such
/// as [`message`] builds or the bot posted).
#[allow(clippy::too_many_arguments)]
pub fn button_click(
    interaction_id: u64,
    token: &str,
    application_id: u64,
    guild_id: u64,
    channel_id: u64,
    user_id: u64,
    username: &str,
    role_ids: &[u64],
    custom_id: &str,
    message: Value,
) -> Value {
    let mut interaction = guild_interaction(
        3,
        interaction_id,
        token,
        application_id,
        guild_id,
        channel_id,
        user_id,
        username,
        role_ids,
    );
    interaction["data"] = json!({ "custom_id": custom_id, "component_type": 2 });
    interaction["message"] = message;
    interaction
}

/// A PING interaction (type 1), as Discord posts it to an interactions endpoint to check it.
pub fn ping(application_id: u64) -> Value {
    json!({
        "id": snowflake_at(Utc::now(), 1).to_string(),
        "application_id": application_id.to_string(),
        "type": 1,
        "token": "fake-ping-token",
        "version": 1,
        "user": null,
        "entitlements": [],
        "authorizing_integration_owners": {},
    })
}

/// Signs request bodies the way Discord signs what it posts to an interactions endpoint:
/// Ed25519 over `timestamp ‖ body`, hex in `X-Signature-Ed25519`, the timestamp in
/// `X-Signature-Timestamp`.
pub struct InteractionSigner {
    key: SigningKey,
}

impl InteractionSigner {
    pub fn new(seed: [u8; 32]) -> InteractionSigner {
        InteractionSigner {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The application's public key as the developer portal shows it (64 hex digits).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// The hex signature for `X-Signature-Ed25519`.
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let signed = [timestamp.as_bytes(), body].concat();
        hex::encode(self.key.sign(&signed).to_bytes())
    }

    /// Both headers for a request posting `body` at `timestamp`.
    pub fn headers(&self, timestamp: &str, body: &[u8]) -> [(&'static str, String); 2] {
        [
            ("X-Signature-Ed25519", self.sign(timestamp, body)),
            ("X-Signature-Timestamp", timestamp.to_string()),
        ]
    }
}
