//! A local fake Discord for integration tests: a websocket gateway and a stateful REST API
//! (on wiremock) that a real serenity client talks to, plus fixture builders for the JSON
//! Discord sends.
//!
//! Point serenity at it with [`FakeDiscord::http`] (or `HttpBuilder::new(token)
//! .proxy(fake.api_url()).ratelimiter_disabled(true)`: the proxy only applies with the rate
//! limiter off). serenity asks `GET /api/v10/gateway` for the websocket URL, so a `Client`
//! built on that `Http` connects to the fake gateway by itself.
//!
//! ```ignore
//! let fake = FakeDiscord::start(BOT, GUILD, APP).await;
//! // start the bot with fake.http() …
//! fake.wait_ready(1, Duration::from_secs(10)).await;
//! fake.dispatch("MESSAGE_CREATE", fixtures::message(…)).await;
//! assert_eq!(fake.messages_in(CHANNEL)[0].content, "…");
//! ```

mod gateway;
mod multipart;
mod rest;

pub mod fixtures;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

pub use fixtures::InteractionSigner;

/// The token [`FakeDiscord::http`] uses. The fake accepts any `Bot …` token.
pub const TOKEN: &str = "fake-bot-token";

/// The bot user's name in READY, `GET /users/@me` and the author of what it posts.
pub const BOT_USERNAME: &str = "warroom-bot";

/// A channel or thread the REST fake knows, seeded or created by the bot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeChannel {
    pub id: u64,
    pub name: String,
    /// Discord's channel type: 0 text, 1 DM, 4 category, 11 public thread, …
    pub kind: u8,
    pub parent_id: Option<u64>,
}

/// A message in a channel: posted by the bot, seeded with `add_history`, or a non-ephemeral
/// response to an interaction the fake knows (see [`FakeDiscord::track_interaction`]).
#[derive(Clone, Debug, PartialEq)]
pub struct FakeMessage {
    pub id: u64,
    pub channel_id: u64,
    pub author_id: u64,
    pub content: String,
    /// The action rows, as Discord stores them (`[]` when none).
    pub components: Value,
    /// The embeds (`[]` when none).
    pub embeds: Value,
    /// Every attachment; `bytes` is empty for seeded ones (only uploads have bytes).
    pub attachments: Vec<FakeFile>,
    /// The message pinged the whole channel (`@everyone` or `@here` allowed to take effect).
    pub mention_everyone: bool,
}

/// An uploaded file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeFile {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// The fake: a REST MockServer and a gateway on 127.0.0.1, sharing the bot's identity.
/// Dropping it stops the gateway (and every connection) and the MockServer.
pub struct FakeDiscord {
    application_id: u64,
    rest: MockServer,
    state: Arc<Mutex<rest::State>>,
    gateway: gateway::Gateway,
}

impl FakeDiscord {
    /// Starts the REST fake (a wiremock MockServer) and the websocket gateway on
    /// 127.0.0.1:0. `bot_id`, `guild_id`, `application_id` are snowflakes used in READY and in
    /// responses.
    pub async fn start(bot_id: u64, guild_id: u64, application_id: u64) -> FakeDiscord {
        let gateway = gateway::Gateway::start(gateway::Identity {
            bot_user: fixtures::bot_user(bot_id, BOT_USERNAME),
            guild_id,
            application_id,
        })
        .await;
        let state = Arc::new(Mutex::new(rest::State::new(
            bot_id,
            BOT_USERNAME,
            guild_id,
            application_id,
            gateway.url(),
        )));
        let rest = MockServer::start().await;
        // Lowest priority: mocks a test mounts on `rest()` (default priority 5) win.
        Mock::given(any())
            .respond_with(rest::Router(Arc::clone(&state)))
            .with_priority(200)
            .mount(&rest)
            .await;
        FakeDiscord {
            application_id,
            rest,
            state,
            gateway,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, rest::State> {
        rest::lock(&self.state)
    }

    /// The MockServer's uri, for `HttpBuilder::proxy` / the bot's `discord.api_url`.
    pub fn api_url(&self) -> String {
        self.rest.uri()
    }

    /// The MockServer, for tests that mount extra mocks (they take precedence over the fake's
    /// own routes) or inspect `received_requests()`.
    pub fn rest(&self) -> &MockServer {
        &self.rest
    }

    /// `ws://127.0.0.1:PORT`.
    pub fn gateway_url(&self) -> String {
        self.gateway.url()
    }

    /// A serenity `Http` pointed at the fake, rate limiter off, application id set.
    pub fn http(&self) -> serenity::http::Http {
        serenity::http::HttpBuilder::new(TOKEN)
            .proxy(self.api_url())
            .ratelimiter_disabled(true)
            .application_id(serenity::all::ApplicationId::new(self.application_id))
            .build()
    }

    // ----- gateway -----

    /// IDENTIFY frames received so far.
    pub fn identifies(&self) -> usize {
        self.gateway.identifies()
    }

    /// RESUME frames received so far.
    pub fn resumes(&self) -> usize {
        self.gateway.resumes()
    }

    /// The `d` of every IDENTIFY so far (token, intents, shard, …).
    pub fn identify_payloads(&self) -> Vec<Value> {
        self.gateway.identify_payloads()
    }

    /// Dispatches dropped so far because the session they were queued for was invalidated.
    pub fn dropped_dispatches(&self) -> usize {
        self.gateway.dropped()
    }

    /// Waits until READY or RESUMED has been written to a client `sessions` times in total;
    /// panics with the counts on timeout.
    pub async fn wait_ready(&self, sessions: usize, timeout: Duration) {
        self.gateway.wait_ready(sessions, timeout).await;
    }

    /// Sends a dispatch (op 0, the next `s`) to the live connection, or queues it when none is
    /// live. Panics when serenity would not deserialise `data` as `event` (serenity would turn
    /// it into `Event::Unknown` and call no handler); [`Self::dispatch_raw`] sends it anyway. An
    /// INTERACTION_CREATE is also remembered, so responses to it land in its channel.
    pub async fn dispatch(&self, event: &str, data: Value) {
        assert_serenity_event(event, &data);
        self.dispatch_raw(event, data).await;
    }

    /// [`Self::dispatch`] without the check.
    pub async fn dispatch_raw(&self, event: &str, data: Value) {
        if event == "INTERACTION_CREATE" {
            self.state().track_interaction(&data);
        }
        self.state().mirror_in_history(event, &data);
        self.gateway.dispatch(event, data);
    }

    /// Sends op 7 RECONNECT: the client reconnects and RESUMEs; the fake replays what it had
    /// not acknowledged and what was queued meanwhile, then sends RESUMED. Panics when no
    /// connection is live.
    pub async fn reconnect_resumable(&self) {
        self.gateway.reconnect_resumable();
    }

    /// Sends op 9 INVALID_SESSION (`d: false`) and forgets the session: the client must
    /// IDENTIFY again (serenity 0.12.5 does so about 5 s later, on a new connection).
    /// Dispatches queued until the new READY are dropped, as Discord drops them.
    pub async fn invalidate_session(&self) {
        self.gateway.invalidate_session();
    }

    /// Cuts the live connection with a TCP reset (no close frame, no FIN) and refuses every
    /// new connection for `refused`, as a Discord edge that dropped does; then takes
    /// connections again on the same address. Returns when connections are taken again.
    pub fn cut_and_refuse(&self, refused: Duration) -> tokio::time::Instant {
        self.gateway.cut_and_refuse(refused)
    }

    /// Ends the live connection with a plain TCP close (FIN, no close frame).
    pub fn cut_with_fin(&self) {
        self.gateway.cut_with_fin();
    }

    /// While held, a RESUME gets no answer (no replay, no RESUMED) until released: a
    /// resume that is pending.
    pub fn hold_resumes(&self, held: bool) {
        self.gateway.hold_resumes(held);
    }

    /// The live connection goes silent: no heartbeat acknowledgement, no dispatch, but the
    /// socket stays open (a link that died without a word).
    pub fn freeze(&self) {
        self.gateway.freeze();
    }

    /// The heartbeat interval HELLO announces on later connections (Discord's is 41.25 s).
    pub fn set_heartbeat_interval(&self, interval: Duration) {
        self.gateway.set_heartbeat_interval(interval);
    }

    /// Gateway payloads sent zlib-compressed (as binary frames), because IDENTIFY asked.
    pub fn compressed_frames(&self) -> usize {
        self.gateway.compressed_frames()
    }

    /// Changes a message's text in the REST history, as an edit made while the bot was away.
    pub fn edit_history(
        &self,
        message_id: u64,
        text: &str,
        edited_at: chrono::DateTime<chrono::Utc>,
    ) {
        self.state()
            .edit_history(message_id, text, &fixtures::timestamp(edited_at));
    }

    /// Takes a message out of the REST history, as a delete made while the bot was away.
    pub fn remove_history(&self, message_id: u64) {
        self.state().remove_history(message_id);
    }

    /// Closes the live connection (code 4000, resumable) if there is one, then queues the
    /// dispatch; serenity reconnects at once and RESUMEs, and gets it then.
    pub async fn dispatch_while_disconnected(&self, event: &str, data: Value) {
        assert_serenity_event(event, &data);
        if event == "INTERACTION_CREATE" {
            self.state().track_interaction(&data);
        }
        self.state().mirror_in_history(event, &data);
        self.gateway.dispatch_while_disconnected(event, data);
    }

    // ----- REST state -----

    /// Every channel and thread known (seeded or created), by id.
    pub fn channels(&self) -> Vec<FakeChannel> {
        self.state().channels()
    }

    /// Seeds a channel (0 text, 4 category, 11 public thread, 1 DM; a DM seeded here has no
    /// known recipient).
    pub fn add_channel(&self, id: u64, name: &str, kind: u8, parent_id: Option<u64>) {
        self.state().add_channel(id, name, kind, parent_id);
    }

    /// Seeds a guild member (and its user) for `GET /guilds/{guild}/members/{user}` and
    /// `GET /users/{user}`.
    pub fn add_member(&self, user_id: u64, username: &str, role_ids: &[u64]) {
        self.state().add_member(user_id, username, role_ids);
    }

    /// The channel's messages, oldest first (ephemeral interaction responses excluded).
    pub fn messages_in(&self, channel_id: u64) -> Vec<FakeMessage> {
        self.state().messages_in(channel_id)
    }

    /// Puts a message (a complete one, e.g. [`fixtures::message`]) into a channel's history
    /// without dispatching it.
    pub fn add_history(&self, channel_id: u64, message: Value) {
        self.state().add_history(channel_id, message);
    }

    /// Bodies of `POST /interactions/{id}/{token}/callback` (a multipart's `payload_json`),
    /// in order.
    pub fn interaction_callbacks(&self) -> Vec<Value> {
        self.state().interaction_callbacks.clone()
    }

    /// Bodies of `PATCH /webhooks/{app}/{token}/messages/…` (`@original` or a follow-up) and
    /// `POST /webhooks/{app}/{token}` follow-ups, in order.
    pub fn webhook_edits(&self) -> Vec<Value> {
        self.state().webhook_edits.clone()
    }

    /// The last body of `PUT /applications/{app}/guilds/{guild}/commands`.
    pub fn registered_commands(&self) -> Option<Value> {
        self.state().guild_commands.clone()
    }

    /// `(user, channel)` for every DM channel opened or seeded.
    pub fn dm_channels(&self) -> Vec<(u64, u64)> {
        self.state().dm_channels.clone()
    }

    /// The next request with this method whose path starts with `path_prefix` (with or
    /// without `/api/v10`) gets `status` and `body`, once. A 429 also carries `retry-after`.
    pub fn fail_next(&self, method: &str, path_prefix: &str, status: u16, body: Value) {
        self.state().fail_next(method, path_prefix, status, body);
    }

    /// `METHOD /path` of every request no route handled (answered 404).
    pub fn unexpected_requests(&self) -> Vec<String> {
        self.state().unexpected.clone()
    }

    /// Tells the fake about an interaction it did not dispatch (one posted to an interactions
    /// endpoint), so responses to it land in its channel.
    pub fn track_interaction(&self, interaction: &Value) {
        self.state().track_interaction(interaction);
    }
}

/// Panics unless serenity deserialises `data` as the gateway event `event` into a known
/// variant. serenity falls back to `Event::Unknown` for data it cannot read, and then calls no
/// handler; the panic names the missing piece where the event has a model to ask.
pub fn assert_serenity_event(event: &str, data: &Value) {
    use serde_json::from_value;
    use serenity::all::{
        Channel, Event, GuildMemberAddEvent, Interaction, Message, MessageDeleteEvent,
        MessageUpdateEvent,
    };

    let parsed = from_value::<Event>(json!({ "t": event, "d": data }));
    let problem = match parsed {
        Ok(Event::Unknown(_)) => {
            let detail = match event {
                "MESSAGE_CREATE" => from_value::<Message>(data.clone()).err(),
                "MESSAGE_UPDATE" => from_value::<MessageUpdateEvent>(data.clone()).err(),
                "MESSAGE_DELETE" => from_value::<MessageDeleteEvent>(data.clone()).err(),
                "INTERACTION_CREATE" => from_value::<Interaction>(data.clone()).err(),
                "CHANNEL_CREATE" | "CHANNEL_UPDATE" | "CHANNEL_DELETE" | "THREAD_CREATE"
                | "THREAD_UPDATE" | "THREAD_DELETE" => from_value::<Channel>(data.clone()).err(),
                "GUILD_MEMBER_ADD" => from_value::<GuildMemberAddEvent>(data.clone()).err(),
                _ => None,
            };
            match detail {
                Some(why) => why.to_string(),
                None => "serenity does not know this event, or its data is incomplete".into(),
            }
        }
        Ok(_) => return,
        Err(why) => why.to_string(),
    };
    panic!("fake Discord: serenity would not deliver {event}: {problem}\ndata: {data:#}");
}
