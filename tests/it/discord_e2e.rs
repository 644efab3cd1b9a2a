//! The Discord front end end to end against a local fake Discord (wiremock REST through
//! `discord.api_url`, a small websocket gateway): the seed's outage through Discord, message
//! recording and deduplication, authorisation, backfill after a fresh session, the
//! interactions endpoint and paging by mention and DM.

use crate::common;
use crate::support;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use support::fake_discord::{fixtures, FakeDiscord, FakeMessage};
use warroom::app::{event_id, Input, InputKind, Warroom};
use warroom::config::Settings;
use warroom::domain::access::Access;
use warroom::domain::event::Event;
use warroom::domain::postmortem::render_markdown;
use warroom::domain::types::IncidentNumber;
use warroom::secret::Secret;
use warroom::store::Ledger;

const BOT: u64 = 900_000_000_000_000_001;
const GUILD: u64 = 800_000_000_000_000_001;
const APP: u64 = 700_000_000_000_000_001;
const OPS: u64 = 500_000_000_000_000_001;
/// A Discord user no config entry names: a viewer by default.
const STRANGER: u64 = 1999;

/// warroom and its Discord front end, pointed at a fake Discord.
struct Harness {
    fake: FakeDiscord,
    warroom: Arc<Warroom>,
    discord: Option<warroom::discord::Discord>,
    /// Contact handle → Discord user id.
    ids: HashMap<String, u64>,
    /// Distinguishes ids made for the same second.
    seq: std::sync::atomic::AtomicU64,
    /// The store, for the CLI.
    url: String,
    _dir: tempfile::TempDir,
}

/// The seed's contacts as Discord users 1001…; rpark is `sre`, everyone else `responder`.
fn settings_for(fake: &FakeDiscord, ids: &mut HashMap<String, u64>) -> Settings {
    let mut settings = Settings::example().unwrap();
    let d = &mut settings.discord;
    d.token = Some(Secret::new("fake-bot-token"));
    d.guild_id = Some(GUILD);
    d.api_url = fake.api_url();
    for (i, contact) in settings.directory.contacts().iter().enumerate() {
        let id = 1001 + i as u64;
        ids.insert(contact.handle.clone(), id);
        d.users.insert(id, contact.handle.clone());
        let access = if contact.handle == "rpark" {
            Access::Sre
        } else {
            Access::Responder
        };
        d.user_access.insert(id, access);
    }
    settings
}

async fn harness_with(change: impl FnOnce(&mut Settings)) -> Harness {
    let fake = FakeDiscord::start(BOT, GUILD, APP).await;
    fake.add_channel(OPS, "ops", 0, None);
    let mut ids = HashMap::new();
    let mut settings = settings_for(&fake, &mut ids);
    change(&mut settings);
    let (dir, url) = common::fresh_sqlite_url();
    let warroom = Arc::new(
        Warroom::start(Ledger::open(&url).await.unwrap(), settings)
            .await
            .unwrap(),
    );
    let discord = warroom::discord::start(warroom.clone())
        .await
        .unwrap()
        .expect("a token is configured, so Discord is on");
    fake.wait_ready(1, Duration::from_secs(20)).await;
    let harness = Harness {
        fake,
        warroom,
        discord: Some(discord),
        ids,
        seq: std::sync::atomic::AtomicU64::new(1),
        url,
        _dir: dir,
    };
    harness
        .until("the slash commands are registered", || async {
            harness.fake.registered_commands().is_some()
        })
        .await;
    harness
}

async fn harness() -> Harness {
    harness_with(|_| {}).await
}

impl Harness {
    /// Polls until `check` holds, for at most 20 s.
    async fn until<F, Fut>(&self, what: &str, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !check().await {
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting until {what}; requests nothing answered: {:?}",
                    self.fake.unexpected_requests()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn recorded(&self, key: &str) -> bool {
        self.warroom
            .ledger()
            .contains_event(event_id(key, 0))
            .await
            .unwrap()
    }

    fn id_at(&self, at: DateTime<Utc>) -> u64 {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        fixtures::snowflake_at(at, seq % 4096)
    }

    fn user(&self, handle: &str) -> u64 {
        let directory = &self.warroom.settings().directory;
        let handle = directory
            .person(handle)
            .map_or(handle, |c| c.handle.as_str());
        *self.ids.get(handle).unwrap_or(&STRANGER)
    }

    fn channel_id(&self, name: &str) -> u64 {
        self.fake
            .channels()
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no channel #{name} in the fake Discord"))
            .id
    }

    /// A message said in a channel; waits until it is recorded. Returns its id.
    async fn say(&self, channel: u64, from: &str, text: &str, at: DateTime<Utc>) -> u64 {
        let id = self.id_at(at);
        let data = fixtures::message(id, channel, GUILD, self.user(from), from, text, at);
        self.fake.dispatch("MESSAGE_CREATE", data).await;
        let key = format!("discord:message:{id}");
        self.until(&format!("message {id} is recorded"), || self.recorded(&key))
            .await;
        id
    }

    /// Alerts as their sender posts them (the HTTP intake's use case), announced in #ops.
    async fn alerts(&self, key: &str, at: DateTime<Utc>, source: &str, body: &Value) {
        let alerts = warroom::app::alerts::read_alerts(source, body, "ops").unwrap();
        self.warroom
            .handle(Input {
                key: key.into(),
                at,
                from: source.into(),
                channel: "ops".into(),
                kind: InputKind::Alerts(alerts),
                caller: Default::default(),
            })
            .await
            .unwrap();
    }

    /// A slash command written in console syntax, sent as Discord sends it; returns the
    /// body of the bot's answer.
    async fn command(&self, channel: u64, from: &str, text: &str, at: DateTime<Utc>) -> Value {
        let parsed = warroom::domain::command::parse(text).unwrap();
        let options: Vec<(&str, Value)> = parsed
            .options
            .iter()
            .map(|(k, v)| (k.as_str(), Value::String(v.clone())))
            .collect();
        let id = self.id_at(at);
        let user = self.user(from);
        let data = fixtures::slash_command(
            id,
            &format!("token-{id}"),
            APP,
            GUILD,
            channel,
            user,
            from,
            &[],
            &parsed.words[0],
            parsed.words.get(1).map(String::as_str),
            &options,
        );
        self.interact(data).await
    }

    /// Presses the Confirm button of a confirmation answer, as `from`; returns the answer.
    async fn confirm(&self, asked: &Value, channel: u64, from: &str, at: DateTime<Utc>) -> Value {
        let custom_id = asked["data"]["components"][0]["components"][0]["custom_id"]
            .as_str()
            .unwrap_or_else(|| panic!("not a confirmation: {asked}"))
            .to_string();
        assert!(custom_id.starts_with("confirm:"), "{custom_id}");
        let under = self.id_at(at);
        self.click(channel, from, &custom_id, (under, "confirm?"), at)
            .await
    }

    /// `from` presses the button `custom_id` under the bot's message `under` (id, text);
    /// returns the answer.
    async fn click(
        &self,
        channel: u64,
        from: &str,
        custom_id: &str,
        under: (u64, &str),
        at: DateTime<Utc>,
    ) -> Value {
        let message = fixtures::message(under.0, channel, GUILD, BOT, "warroom-bot", under.1, at);
        let id = self.id_at(at);
        self.interact(fixtures::button_click(
            id,
            &format!("token-{id}"),
            APP,
            GUILD,
            channel,
            self.user(from),
            from,
            &[],
            custom_id,
            message,
        ))
        .await
    }

    /// Dispatches an interaction and waits for the bot's answer to it.
    async fn interact(&self, data: Value) -> Value {
        let before = self.fake.interaction_callbacks().len();
        self.fake.dispatch("INTERACTION_CREATE", data).await;
        self.until("the interaction is answered", || async {
            self.fake.interaction_callbacks().len() > before
        })
        .await;
        self.fake.interaction_callbacks()[before].clone()
    }

    async fn edit(&self, channel: u64, id: u64, from: &str, text: &str, at: DateTime<Utc>) {
        let data = fixtures::message_update(id, channel, GUILD, self.user(from), from, text, at);
        self.fake.dispatch("MESSAGE_UPDATE", data).await;
        let key = format!("discord:edit:{id}:{}", at.timestamp_millis());
        self.until("the edit is recorded", || self.recorded(&key))
            .await;
    }

    async fn delete(&self, channel: u64, id: u64) {
        self.fake
            .dispatch(
                "MESSAGE_DELETE",
                fixtures::message_delete(id, channel, GUILD),
            )
            .await;
        let key = format!("discord:delete:{id}");
        self.until("the delete is recorded", || self.recorded(&key))
            .await;
    }

    async fn records(&self, number: u64) -> Vec<warroom::domain::event::Recorded> {
        self.warroom
            .incident_records(IncidentNumber(number))
            .await
            .unwrap()
    }

    /// How many events a stream holds.
    async fn records_of(&self, stream: &str) -> usize {
        self.warroom
            .ledger()
            .read_stream(stream)
            .await
            .unwrap()
            .len()
    }

    fn file_in(&self, channel: u64, name: &str) -> Option<(FakeMessage, Vec<u8>)> {
        self.fake.messages_in(channel).into_iter().find_map(|m| {
            let bytes = m
                .attachments
                .iter()
                .find(|f| f.filename == name)
                .map(|f| f.bytes.clone());
            bytes.map(|b| (m, b))
        })
    }

    async fn stop(mut self) {
        if let Some(discord) = self.discord.take() {
            discord.stop().await;
        }
    }
}

fn ephemeral(answer: &Value) -> bool {
    answer["data"]["flags"].as_u64().unwrap_or(0) & 64 != 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_outage_runs_end_to_end_through_discord() {
    let h = harness().await;
    let lines =
        warroom::app::replay::inputs(warroom::cli::DEMO_OUTAGE, "demo", &h.warroom).unwrap();
    // Transcript message ids → the Discord ids they got.
    let mut discord_ids: HashMap<String, u64> = HashMap::new();
    let mut duplicate_checked = false;
    for (line, input) in lines {
        let Input {
            at,
            from,
            channel,
            kind,
            ..
        } = input;
        match kind {
            // Alerts and deploys come over HTTP, not Discord; the same use case either way.
            InputKind::Alerts(_) | InputKind::Deploy(_) => {
                let alerts = matches!(kind, InputKind::Alerts(_));
                h.warroom
                    .handle(Input {
                        key: format!("http-line-{}", line.line),
                        at,
                        from,
                        channel,
                        kind,
                        caller: Default::default(),
                    })
                    .await
                    .unwrap();
                if alerts {
                    h.until("the incident's channel exists", || async {
                        h.fake
                            .channels()
                            .iter()
                            .any(|c| c.name == "inc-1-application-outage")
                    })
                    .await;
                }
            }
            InputKind::Message { text, .. } if text.starts_with('/') => {
                let channel = h.channel_id(&channel);
                let mut answer = h.command(channel, &from, &text, at).await;
                if text == "/incident close" {
                    // Closing is confirmed with a button, by whoever asked.
                    assert!(ephemeral(&answer), "{answer}");
                    let other = h.confirm(&answer, channel, "gtree", at).await;
                    assert!(other["data"]["content"]
                        .as_str()
                        .unwrap()
                        .contains("Only the person who asked"));
                    answer = h.confirm(&answer, channel, &from, at).await;
                }
                assert!(!ephemeral(&answer), "{text} was refused: {answer}");
            }
            InputKind::Message {
                text, message_id, ..
            } => {
                let channel_id = h.channel_id(&channel);
                let id = h.say(channel_id, &from, &text, at).await;
                if let Some(m) = message_id {
                    discord_ids.insert(m, id);
                }
                if !duplicate_checked && channel.starts_with("inc-1") {
                    // Discord delivers the same MESSAGE_CREATE again: stored once.
                    let data =
                        fixtures::message(id, channel_id, GUILD, h.user(&from), &from, &text, at);
                    h.fake.dispatch("MESSAGE_CREATE", data.clone()).await;
                    h.say(channel_id, "svega", "(marker after a redelivery)", at)
                        .await;
                    let copies = h
                        .records(1)
                        .await
                        .iter()
                        .filter(|r| matches!(&r.event, Event::MessagePosted(m) if m.message_id == Some(id.to_string())))
                        .count();
                    assert_eq!(copies, 1, "a redelivered message is stored once");
                    duplicate_checked = true;
                }
            }
            InputKind::Edit {
                message_id, text, ..
            } => {
                let id = discord_ids[&message_id];
                h.edit(h.channel_id(&channel), id, &from, &text, at).await;
            }
            InputKind::Delete { message_id, .. } => {
                let id = discord_ids[&message_id];
                h.delete(h.channel_id(&channel), id).await;
            }
        }
        if line.line == 30 {
            // Something said and taken back, so the run has a delete as well as the edit.
            let channel = h.channel_id("inc-1-application-outage");
            let id = h.say(channel, "gtree", "wrong channel, sorry", at).await;
            h.delete(channel, id).await;
        }
    }
    assert!(duplicate_checked);

    let channel = h.channel_id("inc-1-application-outage");
    let created = h
        .fake
        .channels()
        .into_iter()
        .find(|c| c.id == channel)
        .unwrap();
    let category = h
        .fake
        .channels()
        .into_iter()
        .find(|c| c.kind == 4 && c.name == "Incidents")
        .expect("the incident category was created");
    assert_eq!(created.parent_id, Some(category.id));
    // The bot's own posts (the history also holds what people said).
    let posted: Vec<FakeMessage> = h
        .fake
        .messages_in(channel)
        .into_iter()
        .filter(|m| m.author_id == BOT)
        .collect();
    assert!(
        posted[0].content.contains("INC-1 · Application outage"),
        "header: {}",
        posted[0].content
    );
    assert!(posted.iter().any(|m| m.content.starts_with("**SOP**")));

    // The post-mortem was uploaded on close, and it is what `warroom postmortem` prints.
    h.until("the post-mortem is posted", || async {
        h.file_in(channel, "postmortem-INC-1.md").is_some()
    })
    .await;
    let (message, bytes) = h.file_in(channel, "postmortem-INC-1.md").unwrap();
    let printed = render_markdown(&h.warroom.postmortem(IncidentNumber(1)).await.unwrap());
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), printed);
    // Byte for byte what `warroom postmortem` prints from the same store.
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["postmortem", "INC-1", "--db", &h.url, "--config"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/warroom.toml"))
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(
        cli.stdout, bytes,
        "the uploaded file is what warroom postmortem prints"
    );
    assert!(
        message.content.contains("INC-1 closed"),
        "{}",
        message.content
    );
    assert!(
        printed.contains("App is still not responding."),
        "the edit is in it"
    );
    h.until("the publication is recorded", || async {
        h.records(1)
            .await
            .iter()
            .any(|r| matches!(&r.event, Event::PostmortemPublished { file, .. } if file == "postmortem-INC-1.md"))
    })
    .await;
    let records = h.records(1).await;
    assert!(records
        .iter()
        .any(|r| matches!(&r.event, Event::MessageDeleted { .. })));
    assert!(records.iter().any(|r| matches!(
        &r.event,
        Event::MessageEdited {
            before: Some(_),
            ..
        }
    )));
    // The Post-mortem draft button gives the current draft as a file, to a viewer too.
    let under = (message.id, "closed");
    let before = h.fake.messages_in(channel).len();
    let answer = h
        .click(channel, "visitor", "postmortem:1", under, Utc::now())
        .await;
    assert!(!ephemeral(&answer), "{answer}");
    let regenerated = &h.fake.messages_in(channel)[before..];
    let file = regenerated
        .iter()
        .flat_map(|m| m.attachments.iter())
        .find(|f| f.filename == "postmortem-INC-1.md")
        .expect("the draft is attached to the answer");
    assert_eq!(String::from_utf8(file.bytes.clone()).unwrap(), printed);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_by_interaction_creates_the_channel_and_refusals_are_ephemeral_and_recorded() {
    let h = harness().await;
    let now = Utc::now();
    // Said in #ops before the open, while the bot was away: only Discord's history has it.
    let earlier = h.id_at(now - chrono::Duration::minutes(5));
    h.fake.add_history(
        OPS,
        fixtures::message(
            earlier,
            OPS,
            GUILD,
            h.user("svega"),
            "svega",
            "checkout is failing",
            now - chrono::Duration::minutes(5),
        ),
    );
    // A member without a mapping is a viewer: may not open.
    let refused = h
        .command(
            OPS,
            "stranger",
            "/incident open title:\"Checkout down\" severity:sev2",
            now,
        )
        .await;
    assert!(ephemeral(&refused), "{refused}");
    assert!(refused["data"]["content"]
        .as_str()
        .unwrap()
        .contains("needs the responder role"));
    assert!(h.warroom.incidents().await.unwrap().is_empty());

    let opened = h
        .command(
            OPS,
            "rpark",
            "/incident open title:\"Checkout down\" severity:sev2",
            now,
        )
        .await;
    assert!(!ephemeral(&opened), "{opened}");
    let channel = h.channel_id("inc-1-checkout-down");
    assert!(opened["data"]["content"]
        .as_str()
        .unwrap()
        .contains(&format!("<#{channel}>")));
    let header = &h.fake.messages_in(channel)[0];
    assert!(header.content.contains("INC-1 · Checkout down"));
    assert!(header.content.contains("sev2"));
    assert!(header.components.to_string().contains("ack:1"));
    let records = h.records(1).await;
    assert!(
        records.iter().any(|r| matches!(&r.event, Event::Imported { event, .. }
            if matches!(event.as_ref(), Event::MessagePosted(m) if m.text == "checkout is failing"))),
        "the lookback window came from Discord's history"
    );

    // A responder may not close (sre only): refused privately, and the refusal is recorded.
    let closing = h
        .command(
            channel,
            "gtree",
            "/incident close",
            now + chrono::Duration::minutes(1),
        )
        .await;
    assert!(ephemeral(&closing));
    let records = h.records(1).await;
    assert!(records.iter().any(|r| matches!(&r.event, Event::CommandRejected { reason, .. } if reason.contains("needs the sre role"))));
    // Autocomplete offers open incidents.
    let id = h.id_at(now);
    let choices = h
        .interact(fixtures::autocomplete(
            id,
            &format!("token-{id}"),
            APP,
            GUILD,
            channel,
            h.user("rpark"),
            "rpark",
            &[],
            "incident",
            Some("update"),
            &[("text", json!("x")), ("incident", json!("INC"))],
            "incident",
        ))
        .await;
    assert_eq!(choices["type"], 8, "{choices}");
    assert_eq!(choices["data"]["choices"][0]["value"], "INC-1");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_star_marks_a_message_as_a_key_moment_and_taking_it_off_unmarks_it() {
    let h = harness_with(|s| {
        // A viewer's star is refused like the command.
        s.discord.user_access.insert(1_999, Access::Viewer);
    })
    .await;
    let now = Utc::now();
    h.command(OPS, "rpark", "/incident open title:\"Disk full\"", now)
        .await;
    let channel = h.channel_id("inc-1-disk-full");
    let said = h
        .say(channel, "ghammer", "the log mount is the culprit", now)
        .await;
    let star = |user: u64, name: &str, added: bool, emoji: &str| {
        fixtures::reaction(
            said,
            channel,
            GUILD,
            user,
            added.then(|| fixtures::member(user, name, &[])),
            emoji,
        )
    };
    let highlights = || async {
        h.records(1)
            .await
            .into_iter()
            .filter_map(|r| match r.event {
                Event::MessageHighlighted { .. } => Some(format!("+{}", r.actor)),
                Event::MessageHighlightWithdrawn { .. } => Some(format!("-{}", r.actor)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // Another emoji is not a mark; a viewer's star is refused.
    h.fake
        .dispatch(
            "MESSAGE_REACTION_ADD",
            star(h.user("svega"), "svega", true, "👍"),
        )
        .await;
    h.fake
        .dispatch("MESSAGE_REACTION_ADD", star(1_999, "watcher", true, "⭐"))
        .await;
    h.fake
        .dispatch(
            "MESSAGE_REACTION_ADD",
            star(h.user("svega"), "svega", true, "⭐"),
        )
        .await;
    h.until("the star is recorded", || async {
        !highlights().await.is_empty()
    })
    .await;
    assert_eq!(highlights().await, ["+svega"]);
    let pm = h.warroom.postmortem(IncidentNumber(1)).await.unwrap();
    let md = warroom::domain::postmortem::render_markdown(&pm);
    assert!(
        md.contains("- Key messages:\n  - ") && md.contains("**the log mount is the culprit**"),
        "{md}"
    );
    // Discord names the user by id only when a reaction is taken off.
    h.fake
        .dispatch(
            "MESSAGE_REACTION_REMOVE",
            star(h.user("svega"), "svega", false, "⭐"),
        )
        .await;
    h.until("the star is taken off", || async {
        highlights().await.len() == 2
    })
    .await;
    assert_eq!(highlights().await, ["+svega", "-svega"]);
    let pm = h.warroom.postmortem(IncidentNumber(1)).await.unwrap();
    assert!(pm.key_moments.highlights.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_everyone_typed_in_chat_or_an_alert_pings_nobody_when_warroom_repeats_it() {
    let h = harness().await;
    let now = Utc::now();
    let body = json!({"name": "QueueDepthHigh", "status": "firing",
        "summary": "@everyone wake up, @here too", "dedup_key": "queue-1"});
    h.alerts("queue-alert", now, "generic", &body).await;
    h.until("the alert is announced", || async {
        h.fake
            .messages_in(OPS)
            .iter()
            .any(|m| m.content.contains("@everyone wake up"))
    })
    .await;
    let announced = h.fake.messages_in(OPS);
    let announcement = announced
        .iter()
        .find(|m| m.content.contains("@everyone wake up"))
        .unwrap();
    assert!(!announcement.mention_everyone, "{announcement:?}");

    h.command(OPS, "rpark", "/incident open title:\"Queue\"", now)
        .await;
    let channel = h.channel_id("inc-1-queue");
    h.say(channel, "ghammer", "@everyone @here look at the queue", now)
        .await;
    let answer = h.command(channel, "rpark", "/incident timeline", now).await;
    let content = answer["data"]["content"].as_str().unwrap_or_default();
    assert!(
        content.contains("@everyone @here look at the queue"),
        "{answer}"
    );
    assert_eq!(
        answer["data"]["allowed_mentions"],
        json!({"parse": [], "roles": [], "users": []}),
        "the reply repeats chat text but pings nobody: {answer}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_missed_while_the_session_was_lost_are_read_back_from_history() {
    let h = harness().await;
    let now = Utc::now();
    h.command(OPS, "rpark", "/incident open title:\"Disk full\"", now)
        .await;
    let channel = h.channel_id("inc-1-disk-full");
    let before = h.say(channel, "ghammer", "log mount at 97%", now).await;
    // Discord invalidates the session; what is said meanwhile is never dispatched.
    h.fake.invalidate_session().await;
    let missed_at = now + chrono::Duration::seconds(30);
    let missed = h.id_at(missed_at);
    let message = fixtures::message(
        missed,
        channel,
        GUILD,
        h.user("khouse"),
        "khouse",
        "rotated the logs",
        missed_at,
    );
    h.fake
        .dispatch_while_disconnected("MESSAGE_CREATE", message.clone())
        .await;
    h.fake.add_history(channel, message);
    h.fake.wait_ready(2, Duration::from_secs(30)).await;
    assert_eq!(h.fake.identifies(), 2, "a fresh session was identified");
    let key = format!("discord:message:{missed}");
    h.until("the missed message is backfilled", || h.recorded(&key))
        .await;
    let texts: Vec<String> = h
        .records(1)
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            Event::MessagePosted(m) => Some(m.text),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["log mount at 97%", "rotated the logs"]);
    let _ = before;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_incident_channels_and_watched_ones_are_recorded() {
    const RANDOM: u64 = 500_000_000_000_000_077;
    let h = harness().await;
    h.fake.add_channel(RANDOM, "random", 0, None);
    let now = Utc::now();
    // Said in a channel nobody asked warroom to watch: heard, and not recorded.
    let chatter = h.id_at(now);
    let message = fixtures::message(
        chatter,
        RANDOM,
        GUILD,
        h.user("ghammer"),
        "ghammer",
        "lunch?",
        now,
    );
    h.fake.dispatch("MESSAGE_CREATE", message).await;
    // Messages are recorded in Discord's order: once a later one in #ops (the chat channel,
    // watched by default) is, the one in #random has been decided.
    let later = now + chrono::Duration::seconds(1);
    h.say(OPS, "rpark", "disk alarms on app-01", later).await;
    assert!(!h.recorded(&format!("discord:message:{chatter}")).await);
    assert_eq!(h.records_of("channel-random").await, 0);
    // An incident's channel is recorded from its first message on.
    h.command(OPS, "rpark", "/incident open title:\"Disk full\"", later)
        .await;
    let channel = h.channel_id("inc-1-disk-full");
    h.say(channel, "ghammer", "log mount at 97%", later).await;
    let texts: Vec<String> = h
        .records(1)
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            Event::MessagePosted(m) => Some(m.text),
            _ => None,
        })
        .collect();
    assert!(texts.contains(&"log mount at 97%".to_string()), "{texts:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletes_and_messages_made_while_no_session_could_resume_are_recovered() {
    let h = harness().await;
    // Within the reconciliation window (24 h), and before the new session.
    let t0 = Utc::now() - chrono::Duration::minutes(10);
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    h.command(OPS, "rpark", "/incident open title:\"Disk full\"", at(0))
        .await;
    let channel = h.channel_id("inc-1-disk-full");
    let edited = h.say(channel, "ghammer", "disk at 97%", at(10)).await;
    let kept = h.say(channel, "khouse", "rotating logs", at(20)).await;
    let deleted = h
        .say(channel, "svega", "my password is hunter2", at(30))
        .await;
    let ops_deleted = h.say(OPS, "gtree", "checking #ops", at(40)).await;
    let ops_kept = h.say(OPS, "gtree", "ops still fine", at(45)).await;

    // Discord invalidates the session: what happens now is never dispatched.
    h.fake.invalidate_session().await;
    let edited_at = at(60);
    h.fake.edit_history(edited, "disk at 99%", edited_at);
    h.fake.remove_history(deleted);
    h.fake.remove_history(ops_deleted);
    let ops_new = h.id_at(at(70));
    h.fake.add_history(
        OPS,
        fixtures::message(
            ops_new,
            OPS,
            GUILD,
            h.user("bsparrow"),
            "bsparrow",
            "said in #ops while away",
            at(70),
        ),
    );
    h.fake.wait_ready(2, Duration::from_secs(30)).await;
    assert_eq!(h.fake.identifies(), 2, "a fresh session was identified");

    let keys = [
        format!("discord:edit:{edited}:{}", edited_at.timestamp_millis()),
        format!("discord:delete:{deleted}"),
        format!("discord:delete:{ops_deleted}"),
        format!("discord:message:{ops_new}"),
    ];
    for key in &keys {
        h.until(&format!("{key} is recovered"), || h.recorded(key))
            .await;
    }
    for untouched in [kept, ops_kept] {
        assert!(
            !h.recorded(&format!("discord:delete:{untouched}")).await,
            "message {untouched} is still in the history but was recorded as deleted"
        );
    }
    let records = h.records(1).await;
    let edit = records
        .iter()
        .find_map(|r| match &r.event {
            Event::MessageEdited {
                before,
                after,
                found_at,
                ..
            } => Some((before.clone(), after.clone(), *found_at, r.at)),
            _ => None,
        })
        .expect("the edit is in the incident");
    assert_eq!(edit.0.as_deref(), Some("disk at 97%"));
    assert_eq!(edit.1, "disk at 99%");
    assert!(
        edit.2.is_some(),
        "the edit is marked as found after an absence"
    );
    assert_eq!(
        edit.3.timestamp_millis(),
        edited_at.timestamp_millis(),
        "at the edit's own time"
    );
    assert!(records.iter().any(|r| matches!(
        &r.event,
        Event::MessageDeleted { message_id, found_at: Some(_), .. } if *message_id == deleted.to_string()
    )));
    // The post-mortem says so.
    let postmortem = warroom::domain::postmortem::render_markdown(
        &h.warroom.postmortem(IncidentNumber(1)).await.unwrap(),
    );
    assert!(
        postmortem.contains("after warroom was away"),
        "{postmortem}"
    );
    assert!(
        postmortem.contains("[message deleted while warroom was away; found "),
        "{postmortem}"
    );
    assert!(!postmortem.contains("hunter2"), "{postmortem}");

    // A second new session finds nothing more to record.
    let before = h.warroom.ledger().head().await.unwrap();
    h.fake.invalidate_session().await;
    h.fake.wait_ready(3, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        h.warroom.ledger().head().await.unwrap(),
        before,
        "a second pass recorded again"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_from_the_api_url_is_waited_out_as_retry_after_asks() {
    let h = harness().await;
    let posts = format!("/api/v10/channels/{OPS}/messages");
    // A proxy in front of Discord (discord.api_url) answers 429 twice.
    for _ in 0..2 {
        h.fake.fail_next(
            "POST",
            &posts,
            429,
            json!({"message": "You are being rate limited.", "retry_after": 0.3, "global": false}),
        );
    }
    let started = std::time::Instant::now();
    let body = json!({"name": "QueueDepthHigh", "status": "firing", "summary": "orders queue at 9k", "dedup_key": "queue-1"});
    h.alerts("queue-alert", Utc::now(), "generic", &body).await;
    h.until("the alert is announced despite the 429s", || async {
        h.fake
            .messages_in(OPS)
            .iter()
            .any(|m| m.content.contains("QueueDepthHigh"))
    })
    .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(600),
        "two waits of 0.3 s were asked, the post came after {took:?}"
    );
    let tries = h
        .fake
        .rest()
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == posts)
        .count();
    assert_eq!(tries, 3, "one post, two 429s waited out");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interactions_endpoint_checks_signatures_and_answers_like_the_gateway() {
    let signer = fixtures::InteractionSigner::new([7; 32]);
    let key = signer.public_key_hex();
    let h = harness_with(|s| s.discord.public_key = Some(key.clone())).await;
    let bot = h.discord.as_ref().unwrap().bot.clone();
    let served = common::serve_app(
        h.warroom.clone(),
        warroom::serve::Options {
            discord: Some(bot),
            ..Default::default()
        },
    )
    .await;
    let running = served.running;
    // Served, the example's rotation is recorded and handed over at once, and the hand-over
    // starts a shift: let all three land before counting what the requests below record.
    h.until(
        "the rotation's hand-over and its shift are recorded",
        || async { h.records_of("schedule-ops").await == 2 && h.records_of("shift-1").await == 1 },
    )
    .await;
    let url = format!("{}/discord/interactions", served.base);
    let client = reqwest::Client::new();
    let post = |body: Vec<u8>, headers: Vec<(&'static str, String)>| {
        let mut request = client.post(&url).body(body);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        request.send()
    };
    let now = Utc::now();
    let id = h.id_at(now);
    let command = serde_json::to_vec(&fixtures::slash_command(
        id,
        "http-token",
        APP,
        GUILD,
        OPS,
        h.user("rpark"),
        "rpark",
        &[],
        "incident",
        Some("open"),
        &[("title", json!("Payments down"))],
    ))
    .unwrap();
    let ts = now.timestamp().to_string();
    // No signature, a wrong one, a signature of other bytes: 401 and nothing recorded.
    let head = h.warroom.ledger().head().await.unwrap();
    assert_eq!(post(command.clone(), vec![]).await.unwrap().status(), 401);
    let wrong = vec![
        ("X-Signature-Ed25519", "00".repeat(64)),
        ("X-Signature-Timestamp", ts.clone()),
    ];
    assert_eq!(post(command.clone(), wrong).await.unwrap().status(), 401);
    let other: Vec<(&'static str, String)> = signer.headers(&ts, b"{}").into();
    assert_eq!(post(command.clone(), other).await.unwrap().status(), 401);
    // Well signed, but at a time that is no time, or too far from now: a replayed capture.
    for stale in [
        "978307200".to_string(),
        "abc".to_string(),
        (now.timestamp() - 301).to_string(),
        (now.timestamp() + 400).to_string(),
        i64::MIN.to_string(),
    ] {
        let response = post(command.clone(), signer.headers(&stale, &command).into())
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{stale}");
        let why: Value = response.json().await.unwrap();
        assert!(
            why["error"]
                .as_str()
                .unwrap()
                .starts_with("X-Signature-Timestamp is"),
            "{stale}: {why}"
        );
    }
    assert_eq!(h.warroom.ledger().head().await.unwrap(), head);

    let ping = serde_json::to_vec(&fixtures::ping(APP)).unwrap();
    let response = post(ping.clone(), signer.headers(&ts, &ping).into())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"type": 1}));

    let response = post(command.clone(), signer.headers(&ts, &command).into())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["type"], 4, "{answer}");
    assert!(answer["data"]["content"]
        .as_str()
        .unwrap()
        .contains("INC-1 opened"));
    assert_eq!(h.warroom.incidents().await.unwrap().len(), 1);
    running.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discord_pager_mentions_and_direct_messages_and_the_button_acknowledges() {
    let h = harness_with(|s| {
        s.pagers.push(warroom::config::PagerSettings {
            name: "discord".into(),
            kind: warroom::config::PagerKind::Chat,
            url: "discord:".into(),
            targets: vec![warroom::domain::escalation::Target::Everyone],
            timeout: Duration::from_secs(5),
            max_attempts: 3,
        })
    })
    .await;
    let running = common::serve_app(
        h.warroom.clone(),
        warroom::serve::Options {
            discord: Some(h.discord.as_ref().unwrap().bot.clone()),
            ..Default::default()
        },
    )
    .await
    .running;
    let now = Utc::now();
    h.command(OPS, "rpark", "/incident open title:\"DB slow\"", now)
        .await;
    let channel = h.channel_id("inc-1-db-slow");
    h.command(
        channel,
        "rpark",
        "/incident page team:dba message:\"replica lag\"",
        now,
    )
    .await;
    let khouse = h.user("khouse");
    h.until("the page is posted with a mention", || async {
        h.fake.messages_in(channel).iter().any(|m| {
            m.content.contains(&format!("<@{khouse}>")) && m.content.contains("replica lag")
        })
    })
    .await;
    h.until("khouse gets a DM", || async {
        h.fake.dm_channels().iter().any(|(user, _)| *user == khouse)
    })
    .await;
    let dm = h
        .fake
        .dm_channels()
        .into_iter()
        .find(|(u, _)| *u == khouse)
        .unwrap()
        .1;
    h.until("the DM is sent", || async {
        !h.fake.messages_in(dm).is_empty()
    })
    .await;
    let page = h
        .fake
        .messages_in(channel)
        .into_iter()
        .find(|m| m.content.contains("replica lag"))
        .unwrap();
    // khouse presses Acknowledge under the page.
    let under = (page.id, page.content.as_str());
    let answer = h.click(channel, "khouse", "ack:1", under, now).await;
    assert!(!ephemeral(&answer), "{answer}");
    let records = h.records(1).await;
    assert!(records
        .iter()
        .any(|r| matches!(&r.event, Event::Acknowledged { by, .. } if by == "khouse")));
    assert!(records
        .iter()
        .any(|r| matches!(&r.event, Event::PageAttempted { pager, .. } if pager == "discord")));
    running.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_replies_alert_buttons_and_discord_errors() {
    let h = harness().await;
    let now = Utc::now();
    // Discord refuses to create the channel (the bot lacks Manage Channels): the incident is
    // recorded anyway and the reply says what happened. (Two refusals: the command and the
    // notice of the open both try.)
    h.fake.fail_next(
        "POST",
        &format!("/api/v10/guilds/{GUILD}/channels"),
        403,
        json!({"message": "Missing Permissions", "code": 50013}),
    );
    h.fake.fail_next(
        "POST",
        &format!("/api/v10/guilds/{GUILD}/channels"),
        403,
        json!({"message": "Missing Permissions", "code": 50013}),
    );
    let opened = h
        .command(OPS, "rpark", "/incident open title:\"Search down\"", now)
        .await;
    let reply = opened["data"]["content"].as_str().unwrap();
    assert!(reply.contains("INC-1 opened"), "{reply}");
    assert!(reply.contains("could not be created yet"), "{reply}");
    assert_eq!(h.warroom.incidents().await.unwrap().len(), 1);
    // At the next connection the channel is made.
    h.fake.invalidate_session().await;
    h.fake.wait_ready(2, Duration::from_secs(30)).await;
    h.until("the channel is made after reconnecting", || async {
        h.fake
            .channels()
            .iter()
            .any(|c| c.name == "inc-1-search-down")
    })
    .await;

    // An alert no route opens an incident for is announced with an Open incident button.
    let body = json!({"name": "DiskLatencyHigh", "status": "firing", "summary": "p99 write latency 900 ms", "dedup_key": "disk-1"});
    h.alerts(
        "alert-1",
        now - chrono::Duration::minutes(1),
        "generic",
        &body,
    )
    .await;
    h.until("the alert is announced", || async {
        h.fake.messages_in(OPS).iter().any(|m| {
            m.content.contains("DiskLatencyHigh") && m.components.to_string().contains("open:sev4:")
        })
    })
    .await;
    let announced = h
        .fake
        .messages_in(OPS)
        .into_iter()
        .find(|m| m.content.contains("DiskLatencyHigh"))
        .unwrap();
    let custom_id = announced.components[0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    let under = (announced.id, announced.content.as_str());
    let answer = h.click(OPS, "ghammer", &custom_id, under, now).await;
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap()
            .contains("INC-2 opened"),
        "{answer}"
    );
    let incident = h
        .warroom
        .incident(IncidentNumber(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(incident.title, "DiskLatencyHigh: p99 write latency 900 ms");
    assert_eq!(incident.severity.to_string(), "sev4");
    let records = h.records(2).await;
    assert!(
        records
            .iter()
            .any(|r| matches!(&r.event, Event::Imported { event, .. }
            if matches!(event.as_ref(), Event::AlertReceived(a) if a.name == "DiskLatencyHigh"))),
        "the alert joined the incident through the lookback window"
    );

    // A storm of alerts nothing opens an incident for: a few posts and a count, not one
    // post per alert.
    let before = h.fake.messages_in(OPS).len();
    let storm: Vec<Value> = (0..30)
        .map(|i| json!({"status": "firing", "labels": {"alertname": format!("Probe{}", i % 3), "instance": format!("host-{i}")}}))
        .collect();
    let body = json!({"version": "4", "status": "firing", "alerts": storm});
    h.alerts("storm", now, "alertmanager", &body).await;
    h.until("the storm is summed up", || async {
        h.fake
            .messages_in(OPS)
            .iter()
            .any(|m| m.content.contains("more alert changes"))
    })
    .await;
    let posted = h.fake.messages_in(OPS).len() - before;
    assert!(posted <= 12, "{posted} posts for 30 alerts");

    // A message with a file, replying to another: both are kept.
    let channel = h.channel_id("inc-2-disklatencyhigh-p99-write-latency-900-ms");
    let first = h.say(channel, "ghammer", "iostat attached", now).await;
    let id = h.id_at(now);
    let data = fixtures::with_reply_to(
        fixtures::with_attachment(
            fixtures::message(
                id,
                channel,
                GUILD,
                h.user("khouse"),
                "khouse",
                "see the graph",
                now,
            ),
            77,
            "latency.png",
            20480,
            "https://cdn.discordapp.com/attachments/1/77/latency.png",
        ),
        first,
    );
    h.fake.dispatch("MESSAGE_CREATE", data).await;
    let key = format!("discord:message:{id}");
    h.until("the reply is recorded", || h.recorded(&key)).await;
    let message = h
        .records(2)
        .await
        .into_iter()
        .find_map(|r| match r.event {
            Event::MessagePosted(m) if m.text == "see the graph" => Some(m),
            _ => None,
        })
        .unwrap();
    assert_eq!(message.author, "khouse");
    assert_eq!(message.reply_to, Some(first.to_string()));
    assert_eq!(message.attachments.len(), 1);
    assert_eq!(message.attachments[0].name, "latency.png");
    assert_eq!(message.attachments[0].size, 20480);
    // Someone no config entry names is kept with their Discord name, marked as such.
    h.say(channel, "visitor", "is this related to the deploy?", now)
        .await;
    let authors: Vec<String> = h
        .records(2)
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            Event::MessagePosted(m) => Some(m.author),
            _ => None,
        })
        .collect();
    assert!(
        authors.contains(&"visitor (Discord)".to_string()),
        "{authors:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_threads_an_incident_gets_a_thread_in_the_announcement_channel() {
    let h = harness_with(|s| s.discord.threads = true).await;
    let now = Utc::now();
    h.command(OPS, "rpark", "/incident open title:\"Queue stuck\"", now)
        .await;
    let thread = h
        .fake
        .channels()
        .into_iter()
        .find(|c| c.name == "inc-1-queue-stuck")
        .expect("a thread was made");
    assert_eq!(thread.kind, 11);
    assert_eq!(thread.parent_id, Some(OPS));
    assert!(h.fake.messages_in(thread.id)[0]
        .content
        .contains("INC-1 · Queue stuck"));
    h.say(thread.id, "gtree", "consumer lag is 2 hours", now)
        .await;
    let recorded = h.records(1).await.into_iter().any(|r| {
        matches!(&r.event, Event::MessagePosted(m) if m.text == "consumer lag is 2 hours" && m.channel == "inc-1-queue-stuck")
    });
    assert!(recorded, "what is said in the thread is the incident's");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbook_commands_are_slash_commands_with_confirm_and_approve_buttons() {
    let agent = warroom::config::AgentSettings {
        name: "app-1".into(),
        token_sha256: [0; 32],
        labels: [("role".to_string(), "app".to_string())].into(),
    };
    let h = harness_with(|s| s.agents = vec![agent.clone()]).await;
    let registered = h.fake.registered_commands().unwrap().to_string();
    assert!(registered.contains("\"failover\"") && registered.contains("\"cleanup\""));
    let now = Utc::now();
    h.command(OPS, "rpark", "/incident open title:\"Disk full\"", now)
        .await;
    let channel = h.channel_id("inc-1-disk-full");
    let asked = h
        .command(channel, "ghammer", "/cleanup logs days:14", now)
        .await;
    let buttons = asked["data"]["components"][0]["components"].to_string();
    assert!(
        buttons.contains("runconfirm:1:1") && buttons.contains("runapprove:1:1"),
        "{asked}"
    );
    // The requester cannot approve their own run; Compliance can.
    let own = h
        .click(channel, "ghammer", "runapprove:1:1", (1, "asked"), now)
        .await;
    assert!(ephemeral(&own), "{own}");
    assert!(own["data"]["content"]
        .as_str()
        .unwrap()
        .contains("approval must come from someone else"));
    let confirmed = h
        .click(channel, "ghammer", "runconfirm:1:1", (1, "asked"), now)
        .await;
    assert!(
        confirmed["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Run 1 confirmed."),
        "{confirmed}"
    );
    let approved = h
        .click(channel, "mlopez", "runapprove:1:1", (1, "asked"), now)
        .await;
    assert!(
        approved["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Run 1 approved by mlopez. Run 1 is queued"),
        "{approved}"
    );
    // The run's progress is said in the incident's channel: taken, then lost when the agent
    // falls silent.
    let job = h
        .warroom
        .claim_job(&agent, &["cleanup-logs".to_string()], Utc::now())
        .await
        .unwrap()
        .expect("the queued run is offered");
    assert_eq!(job.run, 1);
    h.until("the claim is said in the channel", || async {
        h.fake
            .messages_in(channel)
            .iter()
            .any(|m| m.content == "Agent app-1 started run 1 (cleanup-logs).")
    })
    .await;
    h.warroom
        .sweep_jobs(Utc::now() + chrono::Duration::seconds(31))
        .await
        .unwrap();
    h.until("the loss is said in the channel", || async {
        h.fake.messages_in(channel).iter().any(|m| {
            m.content
                .starts_with("Run 1 lost: agent app-1 stopped answering")
        })
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runbook_the_alert_route_suggests_is_a_button_under_the_sop() {
    let h = harness().await;
    let now = Utc::now();
    let body = json!({"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "DNSNotAnswering", "instance": "dns1"},
         "annotations": {"summary": "dns1 does not answer"}, "startsAt": now.to_rfc3339()}
    ]});
    h.alerts("dns-alert", now, "alertmanager", &body).await;
    h.until("the SOP is posted", || async {
        h.fake
            .channels()
            .iter()
            .any(|c| c.name == "inc-1-dns-server-not-answering-requests")
            && h.fake
                .messages_in(h.channel_id("inc-1-dns-server-not-answering-requests"))
                .iter()
                .any(|m| m.content.starts_with("**SOP**"))
    })
    .await;
    let channel = h.channel_id("inc-1-dns-server-not-answering-requests");
    let sop = h
        .fake
        .messages_in(channel)
        .into_iter()
        .find(|m| m.content.starts_with("**SOP**"))
        .unwrap();
    assert_eq!(
        sop.components[0]["components"][0]["custom_id"],
        "suggest:1:failover dns"
    );
    assert_eq!(
        sop.components[0]["components"][0]["label"],
        "Run /failover dns"
    );
    // A responder may not run it (sre only); the on-call SRE may, and confirms it.
    let refused = h
        .click(
            channel,
            "gtree",
            "suggest:1:failover dns",
            (sop.id, sop.content.as_str()),
            now,
        )
        .await;
    assert!(ephemeral(&refused), "{refused}");
    let asked = h
        .click(
            channel,
            "rpark",
            "suggest:1:failover dns",
            (sop.id, sop.content.as_str()),
            now,
        )
        .await;
    assert!(
        asked["data"]["content"]
            .as_str()
            .unwrap()
            .contains("/failover dns is run 1 of INC-1"),
        "{asked}"
    );
    assert!(asked["data"]["components"]
        .to_string()
        .contains("runconfirm:1:1"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_and_shifts_reach_discord_warnings_incident_channels_and_summaries() {
    let h = harness().await;
    let now = Utc::now();
    let minutes_ago = |m: i64| now - chrono::Duration::minutes(m);
    let started = h
        .command(OPS, "rpark", "/oncall start", minutes_ago(10))
        .await;
    assert!(!ephemeral(&started), "{started}");
    // A QA build goes to production: a warning in the announcement channel.
    let qa = warroom::domain::deploy::Deploy::from_json(&json!({
        "service": "app", "environment": "prod", "version": "2.1.0-qa.1", "by": "ghammer",
        "migrations": false}))
    .unwrap();
    h.warroom
        .handle(Input {
            key: "pipeline-qa".into(),
            at: minutes_ago(9),
            from: "ghammer".into(),
            channel: "ops".into(),
            kind: InputKind::Deploy(Box::new(qa)),
            caller: Default::default(),
        })
        .await
        .unwrap();
    h.until("the guard's warning is posted", || async {
        h.fake.messages_in(OPS).iter().any(|m| {
            m.content
                .starts_with("⚠ Suspicious deploy: app 2.1.0-qa.1 to prod by ghammer")
        })
    })
    .await;
    // The application goes down: its channel says which deploys came shortly before.
    let body = json!({"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "ApplicationDown", "service": "app"},
         "annotations": {"summary": "the app does not answer"}, "startsAt": minutes_ago(5).to_rfc3339()}
    ]});
    h.alerts("app-down", minutes_ago(5), "alertmanager", &body)
        .await;
    h.until("the deploys are posted in the incident channel", || async {
        h.fake
            .channels()
            .iter()
            .any(|c| c.name == "inc-1-application-outage")
            && h.fake
                .messages_in(h.channel_id("inc-1-application-outage"))
                .iter()
                .any(|m| {
                    m.content
                        .starts_with("**Deploys shortly before this incident opened**")
                        && m.content.contains("app 2.1.0-qa.1 to prod by ghammer")
                })
    })
    .await;
    // The shift ends: its summary log is posted as a file.
    let ended = h.command(OPS, "rpark", "/oncall end", now).await;
    assert!(!ephemeral(&ended), "{ended}");

    h.until("the shift summary is posted", || async {
        h.fake.messages_in(OPS).iter().any(|m| {
            m.content
                .starts_with("On-call shift 1 (Riley Park (@rpark)) ended")
                && m.attachments.iter().any(|f| {
                    f.filename == "oncall-shift-1.md"
                        && String::from_utf8_lossy(&f.bytes).contains("Alert 1. ApplicationDown")
                })
        })
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_hand_over_is_announced_mentioning_both_and_direct_messaged() {
    use warroom::domain::schedule::{Schedule, ScheduleSpec};
    let anchor = (Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M");
    let spec: ScheduleSpec = toml::from_str(&format!(
        r#"
name = "sre"
timezone = "UTC"
[[layers]]
people = ["@rpark", "@ghammer"]
turn = "1w"
anchor = "{anchor}"
"#
    ))
    .unwrap();
    let h = harness_with(|s| {
        let schedule = Schedule::check(&spec, chrono_tz::UTC, &s.directory, "sre").unwrap();
        s.schedules.insert(
            "sre".into(),
            warroom::config::ConfiguredSchedule {
                spec: schedule.recorded_spec(&spec),
                schedule,
                feeds: vec![],
            },
        );
    })
    .await;
    // Served, the schedule is recorded from now: rpark's turn begins for warroom, and the
    // leader's hand-over task tells the channel and rpark.
    let running = common::serve_app(
        h.warroom.clone(),
        warroom::serve::Options {
            discord: Some(h.discord.as_ref().unwrap().bot.clone()),
            ..Default::default()
        },
    )
    .await
    .running;
    let rpark = h.user("rpark");
    h.until("the hand-over is announced", || async {
        h.fake.messages_in(OPS).iter().any(|m| {
            m.content
                .starts_with(&format!("🔁 sre: <@{rpark}> is on call now until "))
                && m.content.ends_with("taking over from nobody.")
        })
    })
    .await;
    h.until("rpark is told by DM", || async {
        h.fake.dm_channels().iter().any(|(user, dm)| {
            *user == rpark
                && h.fake.messages_in(*dm).iter().any(|m| {
                    m.content
                        .starts_with("🔁 You are on call for sre now until ")
                })
        })
    })
    .await;
    assert_eq!(
        h.records_of("schedule-sre").await,
        2,
        "the version and the hand-over"
    );
    running.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_is_offered_with_buttons_and_only_the_person_asked_can_accept() {
    let h = harness().await;
    let now = Utc::now();
    let asked = h
        .command(
            OPS,
            "ghammer",
            "/oncall swap user:@rpark from:+1d to:+2d back_from:+8d back_to:+9d",
            now,
        )
        .await;
    assert!(!ephemeral(&asked), "{asked}");
    let text = asked["data"]["content"].as_str().unwrap().to_string();
    assert!(
        text.starts_with("swap ")
            && text
                .contains("Glenn Hammer (@ghammer) asks Riley Park (@rpark) to take their turns"),
        "{text}"
    );
    // "swap 1a2b3c4d: …"
    let reference = text["swap ".len().."swap ".len() + 8].to_string();
    let buttons = &asked["data"]["components"][0]["components"];
    assert_eq!(buttons[0]["label"], "Accept swap", "{asked}");
    let accept = buttons[0]["custom_id"].as_str().unwrap().to_string();
    assert_eq!(accept, format!("cmd:/oncall accept ref:{reference}"));
    // Someone else pressing Accept is refused, privately.
    let meddling = h.click(OPS, "khouse", &accept, (1, &text), now).await;
    assert!(ephemeral(&meddling), "{meddling}");
    assert!(
        meddling["data"]["content"]
            .as_str()
            .unwrap()
            .contains("only Riley Park (@rpark) can answer this swap"),
        "{meddling}"
    );
    let accepted = h.click(OPS, "rpark", &accept, (1, &text), now).await;
    assert!(
        accepted["data"]["content"]
            .as_str()
            .unwrap()
            .starts_with(&format!("swap {reference} accepted")),
        "{accepted}"
    );
    // Requested and answered: two events in the overrides stream.
    assert_eq!(h.records_of("oncall-overrides").await, 2);
    h.stop().await;
}
