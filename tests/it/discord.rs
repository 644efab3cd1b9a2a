//! Self-tests of the fake Discord (`tests/it/support/fake_discord`): its fixtures deserialise into
//! serenity's models, and a real serenity client and `Http` work against its gateway and REST
//! API, including resumes, invalidated sessions and injected failures.

use crate::support;

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::{from_value, json, Value};
use serenity::all::{
    ChannelId, ChannelType, ClientBuilder, CommandOptionType, Context, CreateActionRow,
    CreateAttachment, CreateButton, CreateChannel, CreateCommand, CreateCommandOption,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    CreateMessage, CreateThread, EditAttachments, EditInteractionResponse, EditMessage,
    EventHandler, GatewayIntents, GetMessages, GuildChannel, GuildId, HttpError, Interaction,
    Member, Message, MessageDeleteEvent, MessageFlags, MessageId, MessageUpdateEvent,
    PrivateChannel, Ready, ResolvedValue, ResumedEvent, User, UserId,
};
use serenity::async_trait;
use serenity::http::HttpBuilder;
use serenity::interactions_endpoint::Verifier;
use tokio::sync::mpsc;

use support::fake_discord::fixtures::{self, snowflake_at, time_of};
use support::fake_discord::{FakeDiscord, FakeFile, InteractionSigner, TOKEN};

const BOT: u64 = 1_100_000_000_000_000_001;
const GUILD: u64 = 1_100_000_000_000_000_002;
const APP: u64 = 1_100_000_000_000_000_003;
const CHANNEL: u64 = 1_100_000_000_000_000_010;
const ALICE: u64 = 1_100_000_000_000_000_020;
const BOB: u64 = 1_100_000_000_000_000_021;
const RESPONDER_ROLE: u64 = 1_100_000_000_000_000_030;

const WAIT: Duration = Duration::from_secs(10);
/// serenity waits about 5 s before it re-identifies after op 9.
const WAIT_REIDENTIFY: Duration = Duration::from_secs(30);

fn t(minute: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 10, minute, 0).unwrap()
}

fn alice_says(id: u64, content: &str) -> Value {
    fixtures::message(id, CHANNEL, GUILD, ALICE, "alice", content, time_of(id))
}

// ----- fixtures -----

#[test]
fn fake_discord_fixtures_deserialise_into_serenity_models() {
    let at = t(5);
    let id = snowflake_at(at, 7);
    assert_eq!(time_of(id), at);
    assert!(snowflake_at(t(6), 0) > id, "later instants make larger ids");

    let user: User = from_value(fixtures::user(ALICE, "alice")).expect("user");
    assert_eq!((user.id.get(), user.name.as_str()), (ALICE, "alice"));
    let member: Member =
        from_value(fixtures::member(ALICE, "alice", &[RESPONDER_ROLE])).expect("member");
    assert_eq!(member.roles[0].get(), RESPONDER_ROLE);

    let message = fixtures::message(id, CHANNEL, GUILD, ALICE, "alice", "db is down", at);
    let message = fixtures::with_attachment(
        message,
        snowflake_at(at, 8),
        "graph.png",
        2048,
        "https://cdn.discordapp.com/attachments/1/2/graph.png",
    );
    let reply = fixtures::with_reply_to(message.clone(), snowflake_at(t(1), 0));
    for value in [&message, &reply] {
        let parsed: Message = from_value(value.clone()).expect("message");
        assert_eq!(parsed.content, "db is down");
        assert_eq!(parsed.attachments[0].filename, "graph.png");
        assert_eq!(parsed.timestamp.unix_timestamp(), at.timestamp());
        fake_discord_event_ok("MESSAGE_CREATE", value);
    }
    let parsed: Message = from_value(reply).expect("reply");
    assert_eq!(
        parsed.message_reference.and_then(|r| r.message_id),
        Some(MessageId::new(snowflake_at(t(1), 0)))
    );

    let dm = fixtures::dm_message(id, CHANNEL, ALICE, "alice", "are you on call?", at);
    let parsed: Message = from_value(dm.clone()).expect("dm message");
    assert_eq!(parsed.guild_id, None);
    fake_discord_event_ok("MESSAGE_CREATE", &dm);

    let update = fixtures::message_update(id, CHANNEL, GUILD, ALICE, "alice", "db is back", t(9));
    let parsed: MessageUpdateEvent = from_value(update.clone()).expect("message update");
    assert_eq!(parsed.content.as_deref(), Some("db is back"));
    assert!(parsed.edited_timestamp.is_some());
    fake_discord_event_ok("MESSAGE_UPDATE", &update);
    let delete = fixtures::message_delete(id, CHANNEL, GUILD);
    let parsed: MessageDeleteEvent = from_value(delete.clone()).expect("message delete");
    assert_eq!(parsed.message_id.get(), id);
    fake_discord_event_ok("MESSAGE_DELETE", &delete);

    for (kind, parent) in [(0, Some(CHANNEL + 1)), (4, None), (2, None)] {
        let channel = fixtures::guild_channel(CHANNEL, GUILD, "incidents", kind, parent, None);
        let parsed: GuildChannel = from_value(channel.clone()).expect("guild channel");
        assert_eq!(parsed.parent_id.map(|p| p.get()), parent);
        fake_discord_event_ok("CHANNEL_CREATE", &channel);
    }
    let thread = fixtures::thread(id, GUILD, "inc-1", 11, CHANNEL, BOT);
    let parsed: GuildChannel = from_value(thread.clone()).expect("thread");
    assert_eq!(parsed.kind, ChannelType::PublicThread);
    assert!(parsed.thread_metadata.is_some());
    fake_discord_event_ok("THREAD_CREATE", &thread);
    let dm: PrivateChannel =
        from_value(fixtures::dm_channel(id, fixtures::user(ALICE, "alice"))).expect("dm");
    assert_eq!(dm.recipient.id.get(), ALICE);

    let command = fixtures::slash_command(
        snowflake_at(at, 1),
        "token-1",
        APP,
        GUILD,
        CHANNEL,
        ALICE,
        "alice",
        &[RESPONDER_ROLE],
        "incident",
        Some("open"),
        &[
            ("title", json!("db down")),
            ("severity", json!(2)),
            ("page", json!(true)),
            ("commander", fixtures::user_option(BOB)),
        ],
    );
    fake_discord_event_ok("INTERACTION_CREATE", &command);
    let Interaction::Command(parsed) = from_value(command).expect("command") else {
        panic!("not a command interaction");
    };
    assert_eq!(
        parsed.user.id.get(),
        ALICE,
        "the user comes from the member"
    );
    assert_eq!(
        parsed.member.as_ref().unwrap().roles[0].get(),
        RESPONDER_ROLE
    );
    let options = parsed.data.options();
    let ResolvedValue::SubCommand(ref inner) = options[0].value else {
        panic!("no subcommand: {options:?}");
    };
    assert_eq!(options[0].name, "open");
    assert!(matches!(inner[0].value, ResolvedValue::String("db down")));
    assert!(matches!(inner[1].value, ResolvedValue::Integer(2)));
    assert!(matches!(inner[2].value, ResolvedValue::Boolean(true)));
    match inner[3].value {
        ResolvedValue::User(user, member) => {
            assert_eq!(user.id.get(), BOB);
            assert!(member.is_some());
        }
        ref other => panic!("commander is not a resolved user: {other:?}"),
    }

    let grouped = fixtures::slash_command(
        snowflake_at(at, 2),
        "token-2",
        APP,
        GUILD,
        CHANNEL,
        ALICE,
        "alice",
        &[],
        "incident",
        Some("role assign"),
        &[("role", json!("scribe"))],
    );
    let Interaction::Command(parsed) = from_value(grouped).expect("grouped") else {
        panic!("not a command interaction");
    };
    assert!(matches!(
        parsed.data.options()[0].value,
        ResolvedValue::SubCommandGroup(_)
    ));

    let completing = fixtures::autocomplete(
        snowflake_at(at, 3),
        "token-3",
        APP,
        GUILD,
        CHANNEL,
        ALICE,
        "alice",
        &[],
        "incident",
        Some("close"),
        &[("number", json!("4")), ("reason", json!("fixed"))],
        "number",
    );
    fake_discord_event_ok("INTERACTION_CREATE", &completing);
    let Interaction::Autocomplete(parsed) = from_value(completing).expect("autocomplete") else {
        panic!("not an autocomplete interaction");
    };
    let focused = parsed.data.autocomplete().expect("a focused option");
    assert_eq!((focused.name, focused.value), ("number", "4"));

    let clicked = fixtures::button_click(
        snowflake_at(at, 4),
        "token-4",
        APP,
        GUILD,
        CHANNEL,
        ALICE,
        "alice",
        &[],
        "ack:42",
        alice_says(id, "with a button"),
    );
    fake_discord_event_ok("INTERACTION_CREATE", &clicked);
    let Interaction::Component(parsed) = from_value(clicked).expect("button") else {
        panic!("not a component interaction");
    };
    assert_eq!(parsed.data.custom_id, "ack:42");
    assert_eq!(parsed.message.id.get(), id);

    let ping: Interaction = from_value(fixtures::ping(APP)).expect("ping");
    assert!(matches!(ping, Interaction::Ping(_)));

    let signer = InteractionSigner::new([7; 32]);
    let verifier = Verifier::new(&signer.public_key_hex());
    let body = fixtures::ping(APP).to_string();
    let signature = signer.sign("1700000000", body.as_bytes());
    assert!(verifier
        .verify(&signature, "1700000000", body.as_bytes())
        .is_ok());
    let tampered = body.replace("\"type\":1", "\"type\":2");
    assert!(verifier
        .verify(&signature, "1700000000", tampered.as_bytes())
        .is_err());
    assert!(verifier
        .verify(&signature, "1700000001", body.as_bytes())
        .is_err());
}

fn fake_discord_event_ok(event: &str, data: &Value) {
    support::fake_discord::assert_serenity_event(event, data);
}

#[test]
#[should_panic(expected = "serenity would not deliver MESSAGE_CREATE")]
fn fake_discord_dispatch_check_rejects_incomplete_fixtures() {
    let mut message = alice_says(snowflake_at(t(0), 0), "hello");
    message.as_object_mut().unwrap().remove("mentions");
    support::fake_discord::assert_serenity_event("MESSAGE_CREATE", &message);
}

// ----- a serenity client on the fake gateway -----

/// What the client's event handler saw.
#[derive(Debug)]
enum Seen {
    Ready(Box<Ready>),
    Resumed,
    Message(Box<Message>),
    Update(Box<MessageUpdateEvent>),
    Delete {
        channel_id: u64,
        message_id: u64,
        guild_id: Option<u64>,
    },
    Interaction(Box<Interaction>),
}

struct Forward(mpsc::UnboundedSender<Seen>);

#[async_trait]
impl EventHandler for Forward {
    async fn ready(&self, _: Context, ready: Ready) {
        let _ = self.0.send(Seen::Ready(Box::new(ready)));
    }

    async fn resume(&self, _: Context, _: ResumedEvent) {
        let _ = self.0.send(Seen::Resumed);
    }

    async fn message(&self, _: Context, message: Message) {
        let _ = self.0.send(Seen::Message(Box::new(message)));
    }

    async fn message_update(
        &self,
        _: Context,
        _: Option<Message>,
        _: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        let _ = self.0.send(Seen::Update(Box::new(event)));
    }

    async fn message_delete(
        &self,
        _: Context,
        channel_id: ChannelId,
        message_id: MessageId,
        guild_id: Option<GuildId>,
    ) {
        let _ = self.0.send(Seen::Delete {
            channel_id: channel_id.get(),
            message_id: message_id.get(),
            guild_id: guild_id.map(GuildId::get),
        });
    }

    async fn interaction_create(&self, _: Context, interaction: Interaction) {
        let _ = self.0.send(Seen::Interaction(Box::new(interaction)));
    }
}

/// The handler's events. serenity runs each handler call in its own task, so events can
/// arrive out of order: `next` takes the first matching one and keeps the rest.
struct Events {
    rx: mpsc::UnboundedReceiver<Seen>,
    pending: Vec<Seen>,
}

impl Events {
    async fn next<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        pick: impl Fn(&Seen) -> Option<T>,
    ) -> T {
        if let Some(at) = self.pending.iter().position(|s| pick(s).is_some()) {
            return pick(&self.pending.remove(at)).expect("matched above");
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(seen)) => match pick(&seen) {
                    Some(found) => return found,
                    None => self.pending.push(seen),
                },
                Ok(None) => panic!("the client stopped before {what} arrived"),
                Err(_) => panic!(
                    "{what} did not arrive within {timeout:?}; saw {:?}",
                    self.pending
                ),
            }
        }
    }

    async fn message(&mut self, content: &str) -> Message {
        self.next(&format!("message {content:?}"), WAIT, |s| match s {
            Seen::Message(m) if m.content == content => Some((**m).clone()),
            _ => None,
        })
        .await
    }

    async fn ready(&mut self) -> Ready {
        self.next("READY", WAIT, |s| match s {
            Seen::Ready(r) => Some((**r).clone()),
            _ => None,
        })
        .await
    }

    /// Everything that arrives within `grace`, for checking something did not.
    async fn drain(&mut self, grace: Duration) -> Vec<Seen> {
        while let Ok(Some(seen)) = tokio::time::timeout(grace, self.rx.recv()).await {
            self.pending.push(seen);
        }
        std::mem::take(&mut self.pending)
    }
}

/// Aborts the client's task when the test ends.
struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn start_client(fake: &FakeDiscord) -> (Events, Running) {
    let (tx, rx) = mpsc::unbounded_channel();
    let http = HttpBuilder::new(TOKEN)
        .proxy(fake.api_url())
        .ratelimiter_disabled(true)
        .build();
    let intents = GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
        | GatewayIntents::DIRECT_MESSAGES;
    let mut client = ClientBuilder::new_with_http(http, intents)
        .event_handler(Forward(tx))
        .await
        .expect("a serenity client");
    let task = tokio::spawn(async move {
        if let Err(why) = client.start().await {
            eprintln!("serenity client stopped: {why}");
        }
    });
    (
        Events {
            rx,
            pending: Vec::new(),
        },
        Running(task),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_discord_serenity_client_receives_dispatches() {
    let fake = FakeDiscord::start(BOT, GUILD, APP).await;
    let (mut events, _client) = start_client(&fake).await;
    fake.wait_ready(1, WAIT).await;

    let ready = events.ready().await;
    assert_eq!(ready.user.id.get(), BOT);
    assert_eq!(ready.application.id.get(), APP);
    assert_eq!(ready.guilds[0].id.get(), GUILD);
    assert_eq!(fake.identifies(), 1);
    let identify = &fake.identify_payloads()[0];
    assert!(identify["token"].as_str().unwrap().ends_with(TOKEN));
    let intents = GatewayIntents::from_bits_truncate(identify["intents"].as_u64().unwrap());
    assert!(intents.contains(GatewayIntents::MESSAGE_CONTENT));

    let said = snowflake_at(Utc::now(), 1);
    fake.dispatch("MESSAGE_CREATE", alice_says(said, "the database is down"))
        .await;
    let message = events.message("the database is down").await;
    assert_eq!(message.author.id.get(), ALICE);
    assert_eq!(message.guild_id.map(GuildId::get), Some(GUILD));

    let edit = fixtures::message_update(
        said,
        CHANNEL,
        GUILD,
        ALICE,
        "alice",
        "the primary database is down",
        Utc::now(),
    );
    fake.dispatch("MESSAGE_UPDATE", edit).await;
    let update = events
        .next("MESSAGE_UPDATE", WAIT, |s| match s {
            Seen::Update(u) => Some((**u).clone()),
            _ => None,
        })
        .await;
    assert_eq!(update.id.get(), said);
    assert_eq!(
        update.content.as_deref(),
        Some("the primary database is down")
    );

    fake.dispatch(
        "MESSAGE_DELETE",
        fixtures::message_delete(said, CHANNEL, GUILD),
    )
    .await;
    let deleted = events
        .next("MESSAGE_DELETE", WAIT, |s| match s {
            Seen::Delete {
                channel_id,
                message_id,
                guild_id,
            } => Some((*channel_id, *message_id, *guild_id)),
            _ => None,
        })
        .await;
    assert_eq!(deleted, (CHANNEL, said, Some(GUILD)));

    let command = fixtures::slash_command(
        snowflake_at(Utc::now(), 2),
        "interaction-token",
        APP,
        GUILD,
        CHANNEL,
        ALICE,
        "alice",
        &[RESPONDER_ROLE],
        "incident",
        Some("open"),
        &[("title", json!("db down")), ("severity", json!(1))],
    );
    fake.dispatch("INTERACTION_CREATE", command).await;
    let interaction = events
        .next("INTERACTION_CREATE", WAIT, |s| match s {
            Seen::Interaction(i) => Some((**i).clone()),
            _ => None,
        })
        .await;
    let Interaction::Command(command) = interaction else {
        panic!("not a command: {interaction:?}");
    };
    assert_eq!(command.data.name, "incident");
    assert_eq!(command.token, "interaction-token");
    let options = command.data.options();
    assert_eq!(options[0].name, "open");
    let ResolvedValue::SubCommand(ref inner) = options[0].value else {
        panic!("no subcommand: {options:?}");
    };
    assert_eq!(inner[0].name, "title");
    assert!(matches!(inner[0].value, ResolvedValue::String("db down")));
    assert!(matches!(inner[1].value, ResolvedValue::Integer(1)));
    assert!(
        fake.unexpected_requests().is_empty(),
        "{:?}",
        fake.unexpected_requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_discord_resume_replays_and_invalidation_drops() {
    let fake = FakeDiscord::start(BOT, GUILD, APP).await;
    let (mut events, _client) = start_client(&fake).await;
    fake.wait_ready(1, WAIT).await;
    let first = events.ready().await;

    // op 7: the client resumes on a new connection and gets what was queued meanwhile.
    let started = Instant::now();
    fake.reconnect_resumable().await;
    fake.dispatch(
        "MESSAGE_CREATE",
        alice_says(snowflake_at(Utc::now(), 1), "sent during the reconnect"),
    )
    .await;
    fake.wait_ready(2, WAIT).await;
    eprintln!("op 7: RESUMED sent {:?} after RECONNECT", started.elapsed());
    events.message("sent during the reconnect").await;
    events
        .next("RESUMED", WAIT, |s| {
            matches!(s, Seen::Resumed).then_some(())
        })
        .await;
    assert_eq!((fake.identifies(), fake.resumes()), (1, 1));

    // A dropped connection: closed by the server, the client resumes by itself.
    fake.dispatch_while_disconnected(
        "MESSAGE_CREATE",
        alice_says(snowflake_at(Utc::now(), 2), "sent while disconnected"),
    )
    .await;
    fake.wait_ready(3, WAIT).await;
    events.message("sent while disconnected").await;
    assert_eq!((fake.identifies(), fake.resumes()), (1, 2));

    // op 9: the session is gone; the client identifies afresh and what was queued is lost.
    let started = Instant::now();
    fake.invalidate_session().await;
    fake.dispatch(
        "MESSAGE_CREATE",
        alice_says(snowflake_at(Utc::now(), 3), "lost with the session"),
    )
    .await;
    fake.wait_ready(4, WAIT_REIDENTIFY).await;
    eprintln!(
        "op 9: READY sent {:?} after INVALID_SESSION",
        started.elapsed()
    );
    assert_eq!((fake.identifies(), fake.resumes()), (2, 2));
    assert_eq!(fake.dropped_dispatches(), 1);
    let second = events.ready().await;
    assert_ne!(second.session_id, first.session_id);

    fake.dispatch(
        "MESSAGE_CREATE",
        alice_says(snowflake_at(Utc::now(), 4), "after the new session"),
    )
    .await;
    events.message("after the new session").await;
    let rest = events.drain(Duration::from_millis(300)).await;
    assert!(
        !rest
            .iter()
            .any(|s| matches!(s, Seen::Message(m) if m.content == "lost with the session")),
        "a dispatch queued for the invalidated session arrived: {rest:?}"
    );
}

/// The next text frame, as JSON.
async fn next_json<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message as Frame;
    loop {
        if let Frame::Text(text) = ws.next().await.expect("a frame").expect("a good frame") {
            return serde_json::from_str(&text).expect("JSON");
        }
    }
}

/// A raw websocket client: heartbeats are acknowledged, a RESUME of an unknown session is
/// refused with op 9, and close frames end the connection without hurting the fake.
#[tokio::test]
async fn fake_discord_gateway_speaks_the_protocol() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Frame;

    let fake = FakeDiscord::start(BOT, GUILD, APP).await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{}/?v=10&encoding=json", fake.gateway_url()))
            .await
            .expect("connect");
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["op"], 10);
    assert_eq!(hello["d"]["heartbeat_interval"], 41250);

    ws.send(Frame::Text(json!({"op": 1, "d": null}).to_string()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["op"], 11);

    fake.dispatch("MESSAGE_CREATE", alice_says(snowflake_at(t(0), 0), "early"))
        .await;
    let identify = json!({"op": 2, "d": {"token": "Bot x", "intents": 513, "shard": [0, 1],
        "properties": {"os": "linux", "browser": "test", "device": "test"}}});
    ws.send(Frame::Text(identify.to_string())).await.unwrap();
    let ready = next_json(&mut ws).await;
    assert_eq!(
        (ready["t"].as_str(), ready["s"].as_u64()),
        (Some("READY"), Some(1))
    );
    fake_discord_event_ok("READY", &ready["d"]);
    // Queued before the first session: delivered after READY.
    let early = next_json(&mut ws).await;
    assert_eq!(
        (early["d"]["content"].as_str(), early["s"].as_u64()),
        (Some("early"), Some(2))
    );
    fake.dispatch("MESSAGE_CREATE", alice_says(snowflake_at(t(1), 0), "live"))
        .await;
    assert_eq!(next_json(&mut ws).await["s"], 3);
    ws.close(None).await.unwrap();

    let (mut ws, _) = tokio_tungstenite::connect_async(fake.gateway_url())
        .await
        .expect("reconnect");
    assert_eq!(next_json(&mut ws).await["op"], 10);
    let resume = json!({"op": 6, "d": {"token": "Bot x", "session_id": "nope", "seq": 3}});
    ws.send(Frame::Text(resume.to_string())).await.unwrap();
    assert_eq!(next_json(&mut ws).await, json!({"op": 9, "d": false}));

    // Resuming the real session from s = 2 replays s = 3, then RESUMED.
    let session_id = ready["d"]["session_id"].as_str().unwrap();
    let resume = json!({"op": 6, "d": {"token": "Bot x", "session_id": session_id, "seq": 2}});
    ws.send(Frame::Text(resume.to_string())).await.unwrap();
    let replayed = next_json(&mut ws).await;
    assert_eq!(
        (replayed["d"]["content"].as_str(), replayed["s"].as_u64()),
        (Some("live"), Some(3))
    );
    let resumed = next_json(&mut ws).await;
    assert_eq!(
        (resumed["t"].as_str(), resumed["s"].as_u64()),
        (Some("RESUMED"), Some(4))
    );
    fake.wait_ready(2, WAIT).await;
    assert_eq!((fake.identifies(), fake.resumes()), (1, 2));

    // Dropping the fake closes the live connection and stops listening.
    let url = fake.gateway_url();
    drop(fake);
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Frame::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            }
        }
    });
    closed.await.expect("the connection ends with the fake");
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}

// ----- REST through serenity's Http -----

#[tokio::test]
async fn fake_discord_rest_through_serenity_http() {
    let fake = FakeDiscord::start(BOT, GUILD, APP).await;
    let http = fake.http();
    let guild = GuildId::new(GUILD);

    assert_eq!(http.get_current_user().await.expect("@me").id.get(), BOT);

    // Channels: a category and a text channel under it, then a thread.
    let category = guild
        .create_channel(
            &http,
            CreateChannel::new("incidents").kind(ChannelType::Category),
        )
        .await
        .expect("category");
    let channel = guild
        .create_channel(
            &http,
            CreateChannel::new("inc-42-db-down")
                .kind(ChannelType::Text)
                .category(category.id)
                .topic("Incident 42: the database is down"),
        )
        .await
        .expect("text channel");
    assert_eq!(channel.parent_id, Some(category.id));
    assert!(channel.id > category.id, "ids increase");
    let thread = channel
        .id
        .create_thread(
            &http,
            CreateThread::new("timeline").kind(ChannelType::PublicThread),
        )
        .await
        .expect("thread");
    assert_eq!(
        (thread.kind, thread.parent_id),
        (ChannelType::PublicThread, Some(channel.id))
    );
    let kinds: Vec<(String, u8, Option<u64>)> = fake
        .channels()
        .into_iter()
        .map(|c| (c.name, c.kind, c.parent_id))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("incidents".to_string(), 4, None),
            ("inc-42-db-down".to_string(), 0, Some(category.id.get())),
            ("timeline".to_string(), 11, Some(channel.id.get())),
        ]
    );
    let listed = guild.channels(&http).await.expect("guild channels");
    assert_eq!(
        listed.len(),
        2,
        "threads are not listed with the guild's channels"
    );
    let fetched = channel.id.to_channel(&http).await.expect("GET channel");
    assert_eq!(
        fetched.guild().unwrap().topic.as_deref(),
        Some("Incident 42: the database is down")
    );

    // A message with a button, and one with a file.
    let posted = channel
        .id
        .send_message(
            &http,
            CreateMessage::new()
                .content("Incident 42 opened")
                .components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                    "ack:42",
                )
                .label("Acknowledge")])]),
        )
        .await
        .expect("message with a button");
    assert_eq!(posted.author.id.get(), BOT);
    assert_eq!(posted.components.len(), 1);
    let timeline = b"10:00 db down\n10:05 failover\n".to_vec();
    let with_file = channel
        .id
        .send_message(
            &http,
            CreateMessage::new()
                .content("timeline attached")
                .add_file(CreateAttachment::bytes(timeline.clone(), "timeline.txt")),
        )
        .await
        .expect("message with a file");
    assert_eq!(with_file.attachments[0].filename, "timeline.txt");
    assert_eq!(with_file.attachments[0].size as usize, timeline.len());
    let stored = fake.messages_in(channel.id.get());
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].content, "Incident 42 opened");
    assert_eq!(stored[0].author_id, BOT);
    assert_eq!(
        stored[0].components[0]["components"][0]["custom_id"],
        "ack:42"
    );
    assert_eq!(
        stored[1].attachments,
        vec![FakeFile {
            filename: "timeline.txt".into(),
            bytes: timeline,
        }]
    );

    // History: newest first; `after` gives the messages right after the id.
    fake.add_channel(CHANNEL, "history", 0, None);
    let ids: Vec<u64> = (0..5).map(|i| snowflake_at(t(i), 0)).collect();
    for (i, id) in ids.iter().enumerate() {
        fake.add_history(CHANNEL, alice_says(*id, &format!("line {i}")));
    }
    let history = ChannelId::new(CHANNEL);
    let page =
        |messages: Vec<Message>| -> Vec<u64> { messages.iter().map(|m| m.id.get()).collect() };
    let after = history
        .messages(
            &http,
            GetMessages::new().after(MessageId::new(ids[1])).limit(2),
        )
        .await
        .expect("history after");
    assert_eq!(page(after), vec![ids[3], ids[2]]);
    let before = history
        .messages(
            &http,
            GetMessages::new().before(MessageId::new(ids[3])).limit(2),
        )
        .await
        .expect("history before");
    assert_eq!(page(before), vec![ids[2], ids[1]]);
    let latest = history
        .messages(&http, GetMessages::new().limit(3))
        .await
        .expect("latest history");
    assert_eq!(page(latest), vec![ids[4], ids[3], ids[2]]);
    let reply = history
        .send_message(
            &http,
            CreateMessage::new()
                .content("on it")
                .reference_message((history, MessageId::new(ids[4]))),
        )
        .await
        .expect("reply");
    assert_eq!(
        reply.referenced_message.map(|m| m.content),
        Some("line 4".into())
    );

    // A DM channel, the same one every time.
    let dm = UserId::new(ALICE)
        .create_dm_channel(&http)
        .await
        .expect("DM");
    assert_eq!(dm.recipient.id.get(), ALICE);
    let again = UserId::new(ALICE)
        .create_dm_channel(&http)
        .await
        .expect("DM again");
    assert_eq!(again.id, dm.id);
    assert_eq!(fake.dm_channels(), vec![(ALICE, dm.id.get())]);
    dm.id
        .say(&http, "you are on call")
        .await
        .expect("DM message");
    assert_eq!(fake.messages_in(dm.id.get())[0].content, "you are on call");

    // An interaction: callback, second acknowledgement refused, follow-up, edit of @original.
    let invocation = fixtures::slash_command(
        snowflake_at(Utc::now(), 9),
        "tok-42",
        APP,
        GUILD,
        channel.id.get(),
        ALICE,
        "alice",
        &[],
        "incident",
        Some("status"),
        &[],
    );
    fake.track_interaction(&invocation);
    let Interaction::Command(command) = from_value(invocation).unwrap() else {
        panic!("not a command");
    };
    let answer = CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new().content("Incident 42: investigating"),
    );
    command
        .create_response(&http, answer.clone())
        .await
        .expect("callback");
    let again = command.create_response(&http, answer).await.unwrap_err();
    assert!(
        again.to_string().contains("already been acknowledged"),
        "{again}"
    );
    assert_eq!(fake.interaction_callbacks().len(), 1);
    assert_eq!(fake.interaction_callbacks()[0]["type"], 4);
    assert_eq!(
        fake.interaction_callbacks()[0]["data"]["content"],
        "Incident 42: investigating"
    );
    command
        .create_followup(
            &http,
            CreateInteractionResponseFollowup::new().content("paged bob"),
        )
        .await
        .expect("follow-up");
    command
        .edit_response(
            &http,
            EditInteractionResponse::new().content("Incident 42: mitigated"),
        )
        .await
        .expect("edit @original");
    let original = command.get_response(&http).await.expect("GET @original");
    assert_eq!(original.content, "Incident 42: mitigated");
    let edits: Vec<String> = fake
        .webhook_edits()
        .iter()
        .map(|e| e["content"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(edits, vec!["paged bob", "Incident 42: mitigated"]);
    let contents: Vec<String> = fake
        .messages_in(channel.id.get())
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(
        contents[2..],
        [
            "Incident 42: mitigated".to_string(),
            "paged bob".to_string()
        ]
    );

    // Guild commands: a bulk overwrite comes back as complete Command objects.
    let commands = guild
        .set_commands(
            &http,
            vec![CreateCommand::new("incident")
                .description("Run incidents")
                .add_option(
                    CreateCommandOption::new(CommandOptionType::SubCommand, "open", "Open one")
                        .add_sub_option(
                            CreateCommandOption::new(
                                CommandOptionType::String,
                                "title",
                                "What broke",
                            )
                            .required(true),
                        ),
                )],
        )
        .await
        .expect("bulk overwrite");
    assert_eq!(commands[0].name, "incident");
    assert_eq!(commands[0].options[0].options[0].name, "title");
    let registered = fake.registered_commands().expect("registered");
    assert_eq!(registered[0]["name"], "incident");
    let listed = guild.get_commands(&http).await.expect("GET commands");
    assert_eq!(listed[0].id, commands[0].id);

    // An injected 403 surfaces as serenity's HTTP error; the next call succeeds.
    fake.fail_next(
        "POST",
        &format!("/channels/{}/messages", channel.id),
        403,
        json!({"message": "Missing Permissions", "code": 50013}),
    );
    match channel.id.say(&http, "denied").await {
        Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(response))) => {
            assert_eq!(response.status_code.as_u16(), 403);
            assert_eq!(response.error.code, 50013);
        }
        other => panic!("expected a 403, got {other:?}"),
    }
    channel
        .id
        .say(&http, "allowed")
        .await
        .expect("after the failure");

    // An unknown channel is Discord's 404 10003.
    match ChannelId::new(42).say(&http, "nowhere").await {
        Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(response))) => {
            assert_eq!(response.status_code.as_u16(), 404);
            assert_eq!(response.error.code, 10003);
        }
        other => panic!("expected a 404, got {other:?}"),
    }
    assert!(
        fake.unexpected_requests().is_empty(),
        "{:?}",
        fake.unexpected_requests()
    );
}

#[tokio::test]
async fn fake_discord_edits_buttons_and_deferred_responses() {
    let fake = FakeDiscord::start(BOT, GUILD, APP).await;
    let http = fake.http();
    fake.add_channel(CHANNEL, "inc-7", 0, None);
    let channel = ChannelId::new(CHANNEL);
    let file = |name: &str, bytes: &[u8]| FakeFile {
        filename: name.to_string(),
        bytes: bytes.to_vec(),
    };

    // Two files in one message; an edit keeps one and changes the text; then a delete.
    let posted = channel
        .send_message(
            &http,
            CreateMessage::new()
                .content("evidence")
                .add_file(CreateAttachment::bytes(b"a".to_vec(), "a.log"))
                .add_file(CreateAttachment::bytes(b"bb".to_vec(), "b.log")),
        )
        .await
        .expect("two files");
    let shown = fake.messages_in(CHANNEL);
    assert_eq!(
        shown[0].attachments,
        vec![file("a.log", b"a"), file("b.log", b"bb")]
    );
    let kept = posted.attachments[1].id;
    let edited = channel
        .edit_message(
            &http,
            posted.id,
            EditMessage::new()
                .content("evidence (trimmed)")
                .attachments(EditAttachments::new().keep(kept)),
        )
        .await
        .expect("edit");
    assert_eq!(edited.content, "evidence (trimmed)");
    assert!(edited.edited_timestamp.is_some());
    let shown = fake.messages_in(CHANNEL);
    assert_eq!(shown[0].content, "evidence (trimmed)");
    assert_eq!(shown[0].attachments, vec![file("b.log", b"bb")]);
    channel
        .delete_message(&http, posted.id)
        .await
        .expect("delete");
    assert!(fake.messages_in(CHANNEL).is_empty());
    match channel.delete_message(&http, posted.id).await {
        Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(response))) => {
            assert_eq!(response.error.code, 10008);
        }
        other => panic!("expected Unknown Message, got {other:?}"),
    }

    // A button on a bot message; the click answered with UPDATE_MESSAGE edits it in place.
    let card = channel
        .send_message(
            &http,
            CreateMessage::new()
                .content("Incident 7: open")
                .button(CreateButton::new("ack:7").label("Acknowledge")),
        )
        .await
        .expect("card");
    let click = fixtures::button_click(
        snowflake_at(Utc::now(), 5),
        "tok-click",
        APP,
        GUILD,
        CHANNEL,
        ALICE,
        "alice",
        &[],
        "ack:7",
        serde_json::to_value(&card).expect("a message serialises"),
    );
    fake.track_interaction(&click);
    let Interaction::Component(click) = from_value(click).expect("click") else {
        panic!("not a component interaction");
    };
    click
        .create_response(
            &http,
            CreateInteractionResponse::UpdateMessage(
                CreateInteractionResponseMessage::new()
                    .content("Incident 7: acknowledged by alice")
                    .components(vec![]),
            ),
        )
        .await
        .expect("update message");
    let shown = fake.messages_in(CHANNEL);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].content, "Incident 7: acknowledged by alice");
    assert_eq!(shown[0].components, json!([]));

    // A deferred ephemeral response: "thinking…", then the edit; never in the channel.
    let invocation = fixtures::slash_command(
        snowflake_at(Utc::now(), 6),
        "tok-defer",
        APP,
        GUILD,
        CHANNEL,
        ALICE,
        "alice",
        &[],
        "incident",
        Some("list"),
        &[],
    );
    fake.track_interaction(&invocation);
    let Interaction::Command(command) = from_value(invocation).expect("command") else {
        panic!("not a command");
    };
    command.defer_ephemeral(&http).await.expect("defer");
    let thinking = command.get_response(&http).await.expect("@original");
    let flags = thinking.flags.expect("flags");
    assert!(flags.contains(MessageFlags::LOADING | MessageFlags::EPHEMERAL));
    command
        .edit_response(
            &http,
            EditInteractionResponse::new().content("2 open incidents"),
        )
        .await
        .expect("edit @original");
    let answered = command.get_response(&http).await.expect("@original");
    assert_eq!(answered.content, "2 open incidents");
    assert!(!answered.flags.unwrap().contains(MessageFlags::LOADING));
    assert_eq!(fake.messages_in(CHANNEL).len(), 1, "ephemeral stays out");
    let callbacks: Vec<Value> = fake
        .interaction_callbacks()
        .iter()
        .map(|c| c["type"].clone())
        .collect();
    assert_eq!(callbacks, vec![json!(7), json!(5)]);

    // A 429: with the rate limiter off, serenity hands it back as is.
    fake.fail_next(
        "GET",
        "/api/v10/channels/",
        429,
        json!({"message": "You are being rate limited.", "retry_after": 0.1, "global": false}),
    );
    match channel.messages(&http, GetMessages::new()).await {
        Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(response))) => {
            assert_eq!(response.status_code.as_u16(), 429);
        }
        other => panic!("expected a 429, got {other:?}"),
    }
    assert_eq!(
        channel
            .messages(&http, GetMessages::new())
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        fake.unexpected_requests().is_empty(),
        "{:?}",
        fake.unexpected_requests()
    );
}
