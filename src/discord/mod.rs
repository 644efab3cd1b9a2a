//! The Discord front end (serenity): the only module that knows serenity.
//!
//! It stays thin. Slash commands become console-syntax commands and go through
//! [`Warroom::handle`] like any input; messages, edits and deletes in incident channels and
//! watched channels become inputs keyed by their Discord ids, so a redelivered event is never
//! stored twice. What the adapter does on its own is Discord's side of things: creating the
//! incident's channel, posting its header and SOP, backfilling history after a fresh session,
//! uploading the post-mortem when the incident closes, paging people with a mention and a DM.
//!
//! Module map: `commands` (registration and reading slash commands), `interactions` (one
//! answer for the gateway and the HTTP endpoint), `recording` (messages and backfill),
//! `channels` (incident channels, header, post-mortem), `pager` (pages through Discord).

mod channels;
pub mod commands;
pub mod interactions;
mod pager;
mod recording;

use crate::app::{Notice, Warroom};
use crate::config::{DiscordSettings, DISCORD_API_URL};
use serenity::all::{
    ChannelId, ConnectionStage, Context, EventHandler, GatewayIntents, GuildId, Interaction,
    Message, MessageId, MessageUpdateEvent, Ready, ResumedEvent, ShardManager,
    ShardStageUpdateEvent, UserId,
};
use serenity::http::{Http, HttpBuilder};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use pager::DiscordPager;

/// Longest message Discord accepts, in characters; longer replies go out as a file.
const MESSAGE_LIMIT: usize = 2000;

/// The Discord side of warroom: the application, the REST client and what the adapter
/// remembers about the guild.
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
    /// Held while an incident channel is looked up or created, so two notices for one
    /// incident never create two channels.
    creating: tokio::sync::Mutex<()>,
    /// Whether the gateway is up, for `/readyz` and the metrics.
    gateway: GatewayState,
}

/// The gateway connection as `/readyz` sees it.
#[derive(Debug, Default)]
pub struct GatewayState {
    /// A gateway connection was started (not for a bot that only answers HTTP interactions).
    started: AtomicBool,
    /// Between READY (or RESUMED) and a disconnect.
    connected: AtomicBool,
    /// This instance leaves the gateway to another (it does not hold the leader lease).
    follower: AtomicBool,
}

impl GatewayState {
    /// READY or RESUMED arrived (`true`), or the session dropped (`false`).
    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
        crate::metrics::get().set_discord_connected(connected);
    }

    /// Hook for the leader lease: a follower holds no gateway by design, so its readiness
    /// does not wait for one.
    pub fn set_follower(&self, follower: bool) {
        self.follower.store(follower, Ordering::Release);
    }

    /// Why the instance is not ready as far as Discord goes; `None` when it is.
    pub fn not_ready(&self) -> Option<&'static str> {
        let waiting = self.started.load(Ordering::Acquire)
            && !self.follower.load(Ordering::Acquire)
            && !self.connected.load(Ordering::Acquire);
        waiting.then_some(
            "the Discord gateway is not connected (no READY yet, or the session dropped)",
        )
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
/// READY reconciles channels and backfills missed history. One instance holds it at a time.
pub struct Gateway {
    shard_manager: Arc<ShardManager>,
    task: JoinHandle<()>,
}

/// How long a closing gateway may take before its task is dropped, when nothing shorter is
/// asked for (an instance that lost the lease).
pub const GATEWAY_CLOSE: std::time::Duration = std::time::Duration::from_secs(5);

impl Gateway {
    /// Closes the shard cleanly (Discord then ends the session) and waits for the client, all
    /// within `within`. serenity waits up to 5 s for a shard that never answers (one stuck
    /// reconnecting to an unreachable gateway) and then for the client task: the one deadline
    /// over both is what keeps a stop inside the shutdown grace.
    pub async fn stop(self, within: std::time::Duration) {
        let Gateway {
            shard_manager,
            mut task,
        } = self;
        let closed = tokio::time::timeout(within, async {
            shard_manager.shutdown_all().await;
            let _ = (&mut task).await;
        })
        .await;
        if closed.is_err() {
            task.abort();
            tracing::warn!(
                "the Discord gateway did not close within {} ms; dropped it",
                within.as_millis()
            );
        }
        tracing::info!("Discord gateway closed");
    }
}

/// The REST client. With Discord's own URL serenity's rate limiter is on; another base URL
/// (a proxy, a fake Discord in tests) needs it off, since serenity applies the base URL only
/// then, and whatever sits there is in charge of Discord's limits.
pub fn rest_client(token: &str, settings: &DiscordSettings) -> Http {
    let builder = HttpBuilder::new(token);
    if settings.api_url == DISCORD_API_URL {
        builder.build()
    } else {
        builder
            .proxy(settings.api_url.clone())
            .ratelimiter_disabled(true)
            .build()
    }
}

impl Bot {
    /// The adapter over an application, without a gateway connection: enough to answer the
    /// HTTP interactions endpoint and to page. `None` when no bot token is configured.
    pub fn new(warroom: Arc<Warroom>, http: Arc<Http>) -> anyhow::Result<Option<Arc<Bot>>> {
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
            names: std::sync::Mutex::new(HashMap::new()),
            creating: tokio::sync::Mutex::new(()),
            gateway: GatewayState::default(),
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
    discord.gateway = Some(connect_gateway(&discord.bot).await?);
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
    let http = Arc::new(rest_client(token.expose(), &settings));
    let bot = Bot::new(warroom.clone(), http)?.expect("a token was checked above");
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
/// channels and backfills the history of open incidents' channels since the last recorded
/// message — after a restart, and on an instance that has just become the leader.
pub async fn connect_gateway(bot: &Arc<Bot>) -> anyhow::Result<Gateway> {
    let Some(token) = bot.settings.token.clone() else {
        anyhow::bail!("no Discord bot token is configured");
    };
    let intents =
        GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::MESSAGE_CONTENT;
    let bot_cell = Arc::new(OnceLock::new());
    let _ = bot_cell.set(bot.clone());
    // Not `Client::builder`: it makes its own REST client, and only ours honours api_url.
    let mut client = serenity::client::ClientBuilder::new_with_http(
        rest_client(token.expose(), &bot.settings),
        intents,
    )
    .event_handler(Handler { bot: bot_cell })
    .await
    .map_err(|e| anyhow::anyhow!("cannot set up the Discord client: {e}"))?;
    let shard_manager = client.shard_manager.clone();
    // Readiness waits for READY only on an instance that started a gateway.
    bot.gateway.started.store(true, Ordering::Release);
    let gateway_bot = bot.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = client.start().await {
            tracing::error!("the Discord gateway connection stopped: {e}");
        }
        gateway_bot.gateway.set_connected(false);
    });
    Ok(Gateway {
        shard_manager,
        task,
    })
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

/// Relays gateway events to the bot.
struct Handler {
    bot: Arc<OnceLock<Arc<Bot>>>,
}

impl Handler {
    fn bot(&self) -> Option<Arc<Bot>> {
        self.bot.get().cloned()
    }
}

#[async_trait::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        if let Some(bot) = self.bot() {
            bot.gateway.set_connected(true);
            bot.on_ready(ready).await;
        }
    }

    async fn resume(&self, _ctx: Context, _event: ResumedEvent) {
        // A resumed session replays what was missed: nothing to read back.
        tracing::info!("Discord session resumed");
        if let Some(bot) = self.bot() {
            bot.gateway.set_connected(true);
        }
    }

    async fn shard_stage_update(&self, _ctx: Context, event: ShardStageUpdateEvent) {
        // Connected follows READY or RESUMED; any other stage means the session is down or
        // being re-established.
        if let Some(bot) = self.bot() {
            let connected = event.new == ConnectionStage::Connected;
            if !connected {
                tracing::warn!(stage = %event.new, "Discord gateway not connected");
            }
            bot.gateway.set_connected(connected);
        }
    }

    async fn message(&self, _ctx: Context, message: Message) {
        if let Some(bot) = self.bot() {
            if let Err(e) = bot.record_message(&message).await {
                tracing::error!(
                    message = %message.id,
                    "Discord: could not record a message: {}",
                    explain(&e)
                );
            }
        }
    }

    async fn message_update(
        &self,
        _ctx: Context,
        _old: Option<Message>,
        _new: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        if let Some(bot) = self.bot() {
            if let Err(e) = bot.record_edit(&event).await {
                tracing::error!(message = %event.id, "Discord: could not record an edit: {}", explain(&e));
            }
        }
    }

    async fn message_delete(
        &self,
        _ctx: Context,
        channel: ChannelId,
        message: MessageId,
        _guild: Option<GuildId>,
    ) {
        if let Some(bot) = self.bot() {
            if let Err(e) = bot.record_delete(channel, message).await {
                tracing::error!(message = %message, "Discord: could not record a delete: {}", explain(&e));
            }
        }
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        if let Some(bot) = self.bot() {
            bot.answer_gateway(interaction).await;
        }
    }
}
