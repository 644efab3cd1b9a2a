//! The Discord front end (serenity): the only module that knows serenity.
//!
//! It stays thin. Slash commands become console-syntax commands and go through
//! [`Warroom::handle`] like any input; messages, edits and deletes in incident channels and
//! watched channels become inputs keyed by their Discord ids, so a redelivered event is never
//! stored twice. What the adapter does on its own is Discord's side of things: creating the
//! incident's channel, posting its header and SOP, backfilling history after a fresh session,
//! uploading the post-mortem when the incident closes, paging people with a mention and a DM.
//!
//! Module map: `gateway` (the websocket session: connect, resume, heartbeat, reconnect),
//! `commands` (registration and reading slash commands), `interactions` (one
//! answer for the gateway and the HTTP endpoint), `recording` (messages and backfill),
//! `channels` (incident channels, header, post-mortem), `pager` (pages through Discord).

mod channels;
pub mod commands;
pub mod gateway;
mod handoffs;
pub mod interactions;
mod pager;
mod recording;
pub mod relay;

use crate::app::{Notice, Warroom};
use crate::config::{DiscordSettings, DISCORD_API_URL};
use serenity::all::{ChannelId, GatewayIntents, GuildId, Ready, UserId};
use serenity::http::{Http, HttpBuilder};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use pager::DiscordPager;

/// What the HTTP doors ask of the bot: readiness (the gateway) and the interactions webhook.
#[async_trait::async_trait]
impl crate::app::chat::ChatDoor for Bot {
    fn not_ready(&self) -> Option<String> {
        self.gateway().not_ready()
    }

    async fn answer_signed(
        self: Arc<Self>,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> (u16, serde_json::Value) {
        self.answer_http(signature, timestamp, body, now).await
    }
}

/// Longest message Discord accepts, in characters; longer replies go out as a file.
const MESSAGE_LIMIT: usize = 2000;

/// The Discord side of warroom: the application, the REST client and what the adapter
/// remembers about the guild.
/// Allowed mentions for the bot's messages that carry what people or alerts wrote (replies,
/// timelines, announcements, the post-mortem): a `@everyone` typed in chat or an alert's
/// summary pings nobody when warroom repeats it. Messages meant to reach someone name them.
pub(crate) fn no_pings() -> serenity::all::CreateAllowedMentions {
    serenity::all::CreateAllowedMentions::new()
}

pub struct Bot {
    pub(crate) warroom: Arc<Warroom>,
    pub(crate) settings: DiscordSettings,
    pub(crate) http: Arc<Http>,
    pub(crate) guild: GuildId,
    /// Checks `POST /discord/interactions` signatures; absent without a public key.
    verifier: Option<serenity::interactions_endpoint::Verifier>,
    /// The bot's own user, learnt from READY: its own messages are not recorded again.
    bot_user: OnceLock<UserId>,
    /// Channel names by id, learnt once: Discord events name channels by id only.
    names: std::sync::Mutex<HashMap<ChannelId, String>>,
    /// How people who put a ⭐ on a message are named, by user id: Discord says who took a
    /// reaction off by id only, and their mark must be found under the same name.
    reactors: std::sync::Mutex<HashMap<UserId, String>>,
    /// Held while an incident channel is looked up or created, so two notices for one
    /// incident never create two channels.
    creating: tokio::sync::Mutex<()>,
    /// Whether the gateway is up, for `/readyz` and the metrics.
    gateway: Arc<GatewayState>,
    /// The relay `http` talks to when `discord.api_url` is not Discord's own; it lives as
    /// long as the client.
    _relay: Option<relay::Relay>,
}

/// The gateway connection as `/readyz` and the metrics see it, kept by the gateway loop
/// from what happens on the socket (see [`gateway`]).
#[derive(Debug, Default)]
pub struct GatewayState {
    /// A gateway connection was started (not for a bot that only answers HTTP interactions).
    started: AtomicBool,
    /// Between READY (or RESUMED) and the session dropping.
    connected: AtomicBool,
    /// This instance leaves the gateway to another (it does not hold the leader lease).
    follower: AtomicBool,
    /// Why the gateway is down and since when; `None` while connected or before the first try.
    down: std::sync::Mutex<Option<(String, std::time::Instant)>>,
}

impl GatewayState {
    /// READY or RESUMED arrived (`true`), or the gateway was closed on purpose (`false`).
    pub fn set_connected(&self, connected: bool) {
        let was = self.connected.swap(connected, Ordering::AcqRel);
        crate::metrics::get().set_discord_connected(connected);
        let down = self.down.lock().expect("gateway state lock").take();
        if connected && !was {
            match down {
                Some((why, since)) => tracing::info!(
                    "Discord gateway connected again after {:.1} s away ({why})",
                    since.elapsed().as_secs_f64()
                ),
                None => tracing::info!("Discord gateway connected"),
            }
        }
    }

    /// The session dropped or a connection attempt failed: logged once when the gateway goes
    /// down, not at every retry.
    fn lost(&self, why: &str) {
        let was = self.connected.swap(false, Ordering::AcqRel);
        crate::metrics::get().set_discord_connected(false);
        let mut down = self.down.lock().expect("gateway state lock");
        match down.as_mut() {
            Some((reason, _)) => {
                if reason != why {
                    tracing::debug!("Discord gateway still down: {why}");
                    *reason = why.to_string();
                }
            }
            None => {
                if was {
                    tracing::warn!("Discord gateway lost: {why}; reconnecting");
                } else {
                    tracing::warn!("Discord gateway not connected yet: {why}; retrying");
                }
                *down = Some((why.to_string(), std::time::Instant::now()));
            }
        }
    }

    /// Discord refused the gateway for good (token, intents): down until restarted.
    fn failed(&self, why: &str) {
        self.connected.store(false, Ordering::Release);
        crate::metrics::get().set_discord_connected(false);
        *self.down.lock().expect("gateway state lock") =
            Some((why.to_string(), std::time::Instant::now()));
    }

    /// Hook for the leader lease: a follower holds no gateway by design, so its readiness
    /// does not wait for one.
    pub fn set_follower(&self, follower: bool) {
        self.follower.store(follower, Ordering::Release);
    }

    /// Whether the session is up right now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Why the instance is not ready as far as Discord goes; `None` when it is.
    pub fn not_ready(&self) -> Option<String> {
        let waiting = self.started.load(Ordering::Acquire)
            && !self.follower.load(Ordering::Acquire)
            && !self.connected.load(Ordering::Acquire);
        if !waiting {
            return None;
        }
        Some(match &*self.down.lock().expect("gateway state lock") {
            Some((why, since)) => format!(
                "the Discord gateway is not connected: {why} (for {} s)",
                since.elapsed().as_secs()
            ),
            None => "the Discord gateway is not connected yet (no READY)".to_string(),
        })
    }
}

/// The running Discord front end: the bot's REST side and notice worker, and the gateway
/// when this process holds it.
pub struct Discord {
    pub bot: Arc<Bot>,
    gateway: Option<Gateway>,
    tasks: Vec<JoinHandle<()>>,
}

impl Discord {
    /// Closes the gateway (if connected here) and stops the adapter's workers.
    pub async fn stop(self) {
        if let Some(gateway) = self.gateway {
            gateway.stop(GATEWAY_CLOSE).await;
        }
        self.bot.gateway.set_connected(false);
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

/// A gateway connection: messages, edits, deletes and interactions come in through it, and
/// READY reconciles channels and reads back what was missed. One instance holds it at a time.
pub struct Gateway {
    stop: tokio::sync::watch::Sender<bool>,
    session: JoinHandle<()>,
    inbound: JoinHandle<()>,
}

/// How long a closing gateway may take before its task is dropped, when nothing shorter is
/// asked for (an instance that lost the lease).
pub const GATEWAY_CLOSE: std::time::Duration = std::time::Duration::from_secs(5);

impl Gateway {
    /// Closes the session cleanly (code 1000: Discord ends it) and lets what was already
    /// received be recorded, all within `within`; whatever is left then is dropped.
    pub async fn stop(self, within: std::time::Duration) {
        let Gateway {
            stop,
            mut session,
            mut inbound,
        } = self;
        let _ = stop.send(true);
        let closed = tokio::time::timeout(within, async {
            let _ = (&mut session).await;
            // The session's end closes the inbound queue: the worker drains it and ends.
            let _ = (&mut inbound).await;
        })
        .await;
        if closed.is_err() {
            session.abort();
            inbound.abort();
            tracing::warn!(
                "the Discord gateway did not close within {} ms; dropped it",
                within.as_millis()
            );
        }
        tracing::info!("Discord gateway closed");
    }
}

/// The REST client. With Discord's own URL serenity's rate limiter is on (it also waits out
/// 429s). Another base URL (a proxy, a fake Discord in tests) needs the limiter off, since
/// serenity applies the base URL only then; the requests then go through a [`relay`] that
/// waits out 429s as their `Retry-After` asks, returned to be kept as long as the client.
pub async fn rest_client(
    token: &str,
    settings: &DiscordSettings,
) -> anyhow::Result<(Http, Option<relay::Relay>)> {
    let builder = HttpBuilder::new(token);
    if settings.api_url == DISCORD_API_URL {
        return Ok((builder.build(), None));
    }
    let relay = relay::start(&settings.api_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the relay to discord.api_url: {e}"))?;
    let http = builder
        .proxy(relay.url().to_string())
        .ratelimiter_disabled(true)
        .build();
    Ok((http, Some(relay)))
}

impl Bot {
    /// The adapter over an application, without a gateway connection: enough to answer the
    /// HTTP interactions endpoint and to page. `None` when no bot token is configured.
    /// `relay` is the one `http` talks to, if any (see [`rest_client`]).
    pub fn new(
        warroom: Arc<Warroom>,
        http: Arc<Http>,
        relay: Option<relay::Relay>,
    ) -> anyhow::Result<Option<Arc<Bot>>> {
        let settings = warroom.settings().discord.clone();
        if settings.token.is_none() {
            return Ok(None);
        }
        let Some(guild) = settings.guild_id else {
            anyhow::bail!("discord.guild_id is not set; name the guild warroom works in");
        };
        let verifier = match &settings.public_key {
            Some(key) => {
                let bytes: [u8; 32] = hex::decode(key)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| anyhow::anyhow!("discord.public_key is not 64 hex digits"))?;
                Some(
                    serenity::interactions_endpoint::Verifier::try_new(bytes).map_err(|e| {
                        anyhow::anyhow!("discord.public_key is not an Ed25519 key: {e}")
                    })?,
                )
            }
            None => None,
        };
        Ok(Some(Arc::new(Bot {
            warroom,
            settings,
            http,
            guild: GuildId::new(guild),
            verifier,
            bot_user: OnceLock::new(),
            reactors: Default::default(),
            names: std::sync::Mutex::new(HashMap::new()),
            creating: tokio::sync::Mutex::new(()),
            gateway: Arc::default(),
            _relay: relay,
        })))
    }

    /// The gateway's state, for `/readyz` and the leader lease.
    pub fn gateway(&self) -> &GatewayState {
        &self.gateway
    }

    /// Whether `POST /discord/interactions` can check signatures.
    pub fn serves_interactions(&self) -> bool {
        self.verifier.is_some()
    }
}

/// Connects to Discord when a bot token is configured: the gateway, the command
/// registration, and the workers that act on notices. `Ok(None)` when Discord is off.
pub async fn start(warroom: Arc<Warroom>) -> anyhow::Result<Option<Discord>> {
    let Some(mut discord) = start_without_gateway(warroom).await? else {
        return Ok(None);
    };
    discord.gateway = Some(connect_gateway(&discord.bot)?);
    Ok(Some(discord))
}

/// The Discord front end without the gateway: the REST client (interactions endpoint, pages)
/// and the worker that acts on notices — what every instance runs; the leader connects the
/// gateway with [`connect_gateway`]. `Ok(None)` when Discord is off.
pub async fn start_without_gateway(warroom: Arc<Warroom>) -> anyhow::Result<Option<Discord>> {
    let settings = warroom.settings().discord.clone();
    let Some(token) = settings.token.clone() else {
        return Ok(None);
    };
    let (http, relay) = rest_client(token.expose(), &settings).await?;
    let bot = Bot::new(warroom.clone(), Arc::new(http), relay)?.expect("a token was checked above");
    // Notices go to the instance that caused them (an alert opening an incident on a
    // follower is acted on there, over REST), so every instance acts on its own.
    let (notices, mut notice_queue) = mpsc::unbounded_channel();
    warroom.send_notices_to(notices);
    let worker_bot = bot.clone();
    let worker = tokio::spawn(async move {
        while let Some(first) = notice_queue.recv().await {
            // Take whatever else is waiting too, so an alert storm becomes a few messages
            // and a count rather than thousands of posts.
            let mut batch = vec![first];
            while let Ok(next) = notice_queue.try_recv() {
                batch.push(next);
            }
            worker_bot.act_on_all(batch).await;
        }
    });
    Ok(Some(Discord {
        bot,
        gateway: None,
        tasks: vec![worker],
    }))
}

/// Connects the gateway for `bot`; its READY registers the commands, reconciles incident
/// channels and reads back what changed while no session was up — after a restart, after an
/// outage, and on an instance that has just become the leader. Returns at once: the session
/// is held (and re-established) in the background until [`Gateway::stop`].
pub fn connect_gateway(bot: &Arc<Bot>) -> anyhow::Result<Gateway> {
    let Some(token) = bot.settings.token.clone() else {
        anyhow::bail!("no Discord bot token is configured");
    };
    // Reactions: a ⭐ marks a message as a key moment of its incident.
    let intents = GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
        | GatewayIntents::GUILD_MESSAGE_REACTIONS;
    let (inbound, queue) = mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Readiness waits for READY only on an instance that started a gateway.
    bot.gateway.started.store(true, Ordering::Release);
    let link = gateway::Link {
        token: token.expose().to_string(),
        intents: intents.bits(),
        http: bot.http.clone(),
        state: bot.gateway.clone(),
        inbound,
    };
    Ok(Gateway {
        stop,
        session: tokio::spawn(gateway::run(link, stopped)),
        inbound: tokio::spawn(bot.clone().take_inbound(queue)),
    })
}

impl Bot {
    /// Acts on what the gateway received. Messages, edits and deletes are recorded one after
    /// another in Discord's order (an edit never overtakes its message); a READY's read-back
    /// and each interaction run on their own, so neither holds up the other.
    async fn take_inbound(self: Arc<Self>, mut queue: mpsc::UnboundedReceiver<gateway::Inbound>) {
        use gateway::Inbound;
        while let Some(inbound) = queue.recv().await {
            match inbound {
                Inbound::Ready(ready) => {
                    let bot = self.clone();
                    tokio::spawn(async move { bot.on_ready(*ready).await });
                }
                Inbound::Resumed => {
                    // A resumed session replays what was missed: nothing to read back.
                    tracing::info!("Discord session resumed");
                }
                Inbound::Message(message) => {
                    if let Err(e) = self.record_message(&message).await {
                        tracing::error!(
                            message = %message.id,
                            "Discord: could not record a message: {}",
                            explain(&e)
                        );
                    }
                }
                Inbound::Edit(event) => {
                    if let Err(e) = self.record_edit(&event).await {
                        tracing::error!(message = %event.id, "Discord: could not record an edit: {}", explain(&e));
                    }
                }
                Inbound::Reaction { reaction, added } => {
                    if let Err(e) = self.record_reaction(&reaction, added).await {
                        tracing::error!(message = %reaction.message_id, "Discord: could not record a ⭐: {}", explain(&e));
                    }
                }
                Inbound::Delete { channel, ids } => {
                    for id in ids {
                        if let Err(e) = self.record_delete(channel, id).await {
                            tracing::error!(message = %id, "Discord: could not record a delete: {}", explain(&e));
                        }
                    }
                }
                Inbound::Interaction {
                    interaction,
                    replayed: false,
                } => {
                    tokio::spawn(self.clone().answer_gateway(*interaction));
                }
                Inbound::Interaction {
                    interaction,
                    replayed: true,
                } => {
                    tokio::spawn(self.clone().refuse_replayed(*interaction));
                }
            }
        }
    }
}

/// Alerts announced one by one from one batch of notices; the rest are counted.
const ANNOUNCED_PER_BATCH: usize = 5;

impl Bot {
    /// Acts on a batch of notices in order, announcing at most a few alerts of it one by one
    /// and the others in one line.
    async fn act_on_all(&self, batch: Vec<Notice>) {
        let mut announced = 0;
        let mut unannounced: Vec<String> = Vec::new();
        for notice in batch {
            if let Notice::Alert { alert, .. } = &notice {
                if announced == ANNOUNCED_PER_BATCH {
                    unannounced.push(format!("{} {}", alert.name, alert.status.as_str()));
                    continue;
                }
                announced += 1;
            }
            self.act_on(notice).await;
        }
        if !unannounced.is_empty() {
            if let Err(e) = self.announce_more(&unannounced).await {
                tracing::error!("Discord: {}", explain(&e));
            }
        }
    }

    /// What a notice asks of Discord; failures are logged in plain words and retried at the
    /// next READY (the ledger holds the fact either way).
    async fn act_on(&self, notice: Notice) {
        let result = match notice {
            Notice::Opened(number) => self.ensure_incident_channel(number).await.map(|_| ()),
            Notice::Closed(number) => self.publish_postmortem(number).await,
            Notice::Alert {
                alert,
                title,
                severity,
            } => self.announce_alert(&alert, &title, severity).await,
            Notice::Run { incident, text } => self.say_in_incident(incident, &text).await,
            Notice::DeployFlagged { text } | Notice::Checkpoint { text } => {
                self.announce(&text).await
            }
            Notice::ShiftEnded(number) => self.post_shift_summary(number).await,
            Notice::HandOff(handoff) => self.tell_handoff(&handoff).await,
        };
        if let Err(e) = result {
            tracing::error!("Discord: {}", explain(&e));
        }
    }

    /// After READY (a fresh session): register the commands, give open incidents their
    /// channels, post post-mortems that were not posted, and read what was missed.
    async fn on_ready(&self, ready: Ready) {
        let _ = self.bot_user.set(ready.user.id);
        self.http.set_application_id(ready.application.id);
        tracing::info!(
            "Discord connected as {} (session {})",
            ready.user.name,
            ready.session_id
        );
        if let Err(e) = self
            .guild
            .set_commands(
                &self.http,
                commands::guild_commands(&self.warroom.settings().runbooks),
            )
            .await
        {
            tracing::error!(
                "Discord: cannot register the slash commands: {}",
                explain(&e.into())
            );
        }
        if let Err(e) = self.reconcile().await {
            tracing::error!("Discord: {}", explain(&e));
        }
        if let Err(e) = self.backfill().await {
            tracing::error!("Discord: backfill after a new session: {}", explain(&e));
        }
        if let Err(e) = self.reconcile_history().await {
            tracing::error!(
                "Discord: comparing history after a new session: {}",
                explain(&e)
            );
        }
    }

    /// Channels for open incidents that have none, post-mortems of closed incidents that
    /// were not posted (the process stopped in between).
    async fn reconcile(&self) -> anyhow::Result<()> {
        for incident in self.warroom.incidents().await? {
            let result = match incident.status {
                crate::domain::types::IncidentStatus::Closed => {
                    if self.warroom.postmortem_published(incident.number).await
                        || self.warroom.chat_id(&incident.channel).await.is_none()
                    {
                        continue;
                    }
                    self.publish_postmortem(incident.number).await
                }
                _ => self
                    .ensure_incident_channel(incident.number)
                    .await
                    .map(|_| ()),
            };
            if let Err(e) = result {
                tracing::error!("Discord: {}: {}", incident.number, explain(&e));
            }
        }
        Ok(())
    }
}

/// Says what a Discord error means and what to do, in plain words.
pub fn explain(error: &anyhow::Error) -> String {
    let Some(serenity::Error::Http(http)) = error
        .chain()
        .find_map(|e| e.downcast_ref::<serenity::Error>())
    else {
        return format!("{error:#}");
    };
    let status = http.status_code().map(|s| s.as_u16());
    let advice = match status {
        Some(403) => {
            "Discord refused for lack of a permission: give the bot's role View Channels, Send Messages, Read Message History, Attach Files and Manage Channels (see docs/discord.md)"
        }
        Some(404) => {
            "Discord does not know that channel or message any more (deleted, or the bot cannot see it)"
        }
        Some(429) => "Discord is rate limiting the bot; it will be retried",
        Some(401) => "Discord refused the bot token; check WARROOM_DISCORD_TOKEN or discord.token_file",
        _ => "Discord answered with an error",
    };
    format!("{advice} ({error:#})")
}

/// Converts Discord's timestamp into the ledger's time.
/// A Discord timestamp as warroom keeps it. One outside the accepted range (Discord never
/// sends one, but a payload can claim anything) becomes `fallback`, so the message is still
/// recorded rather than refused by the store.
fn utc_or(
    timestamp: serenity::all::Timestamp,
    fallback: impl FnOnce() -> chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    Some(*timestamp)
        .filter(|t| crate::time_range::contains(*t))
        .unwrap_or_else(fallback)
}
