//! `warroom serve`: the HTTP intake, the escalation scheduler and the page delivery worker,
//! started together on one application and stopped together. Of several instances on one
//! PostgreSQL store, only the holder of the leader lease runs the escalation scheduler, the
//! job sweeper and the Discord gateway; every instance serves HTTP and delivers its pages.

mod calendars;
mod witnessing;

use crate::app::Warroom;
use crate::clock::Clock;
use crate::store::{LeaderState, Lease};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the scheduler looks at the ledger even when nothing woke it: escalations that
/// other instances started are found within this time.
const RESCAN: Duration = Duration::from_secs(5);

/// A running server.
pub struct Running {
    /// The address the HTTP intake listens on (useful with port 0).
    pub addr: SocketAddr,
    /// The web console's own address, when `[web] listen` gives it one.
    pub web_addr: Option<SocketAddr>,
    /// Whether this instance leads now (for readiness and metrics).
    pub leader: LeaderState,
    lease: Lease,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting requests, lets requests in flight finish, stops the workers, and
    /// gives the lease up so a follower takes over at once.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.lease.release().await;
    }
}

/// The lease this instance runs under, and the Discord bot whose gateway it connects while it
/// holds the lease (`None`: Discord is off, or its gateway is connected by the caller).
pub struct Leadership {
    pub lease: Lease,
    pub gateway: Option<Arc<crate::discord::Bot>>,
}

impl Leadership {
    /// A single instance: always the leader, the gateway (if any) the caller's business.
    pub fn single() -> Leadership {
        Leadership {
            lease: Lease::single(),
            gateway: None,
        }
    }
}

/// How a server runs: what the tests and `warroom serve` choose differently.
pub struct Options {
    /// The one clock every part reads "now" from.
    pub clock: Clock,
    /// The waits between page delivery attempts.
    pub retry: crate::notify::RetryPolicy,
    /// The Discord front end, when it runs: it serves `POST /discord/interactions` and
    /// delivers the pages of `discord` pagers.
    pub discord: Option<Arc<crate::discord::Bot>>,
    /// The lease the scheduler, the sweeper and the gateway run under.
    pub leadership: Leadership,
}

impl Default for Options {
    /// The real clock, the default retries, no Discord, a single instance.
    fn default() -> Options {
        Options {
            clock: Clock::start(),
            retry: crate::notify::RetryPolicy::default(),
            discord: None,
            leadership: Leadership::single(),
        }
    }
}

/// Starts the HTTP intake on `listener`, the page delivery worker and the witness on every
/// instance, and — while `options.leadership` holds the lease — the escalation scheduler,
/// the job sweeper and the Discord gateway. What `warroom serve` and the tests both run.
pub async fn start(
    warroom: Arc<Warroom>,
    listener: tokio::net::TcpListener,
    options: Options,
) -> anyhow::Result<Running> {
    let Options {
        clock,
        retry,
        discord,
        leadership,
    } = options;
    // The configuration's schedules hold from the moment it is served; the ledger keeps
    // every earlier version, so "who was on call at T" never changes afterwards.
    let adopted = warroom.adopt_configured_schedules(clock.now()).await?;
    if !adopted.is_empty() {
        tracing::info!(
            schedules = %adopted.join(", "),
            "recorded the configuration's new or changed on-call schedules, in force from now"
        );
    }
    let leader = leadership.lease.state();
    let addr = listener.local_addr()?;
    let (shutdown, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut notifier = crate::notify::Notifier::new()
        .with_reach(&warroom.settings().notifications.providers)
        .context("cannot set up [notifications]")?;
    if let Some(bot) = &discord {
        notifier = notifier.with_chat(Arc::new(crate::discord::DiscordPager::new(bot.clone())));
    }
    // Pages are delivered by the instance whose append recorded them (their event ids are
    // fixed), so every instance runs a delivery worker and none delivers a page twice; the
    // leader's also takes over the pages of an instance that died delivering them.
    tasks.push(crate::notify::worker::spawn(
        warroom.clone(),
        notifier,
        retry,
        leader.clone(),
        leadership.lease.is_single(),
        stopped.clone(),
    ));
    // Held agent polls watch `stopped` too, so they end at once instead of holding the
    // graceful shutdown for up to their 30 s.
    tasks.push(tokio::spawn(report_leadership(
        leader.clone(),
        discord.clone(),
        stopped.clone(),
    )));
    let chat_door = discord.map(|bot| bot as Arc<dyn crate::app::chat::ChatDoor>);
    let router = crate::http::router(warroom.clone(), chat_door, clock)
        .layer(crate::http::agents::stopping_layer(stopped.clone()))
        .merge(crate::http::status::router(leader.clone()));
    let limits = warroom.settings().connections;
    // The web console: on the same port, or on one of its own (`[web] listen`).
    let console = crate::web::router(warroom.clone(), clock, stopped.clone())?;
    let web_listen = warroom.settings().web.as_ref().and_then(|w| w.listen);
    let mut web_addr = None;
    let router = match (console, web_listen) {
        (Some(console), None) => router.merge(console),
        (Some(console), Some(at)) => {
            let web_listener = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on web.listen = {at}"))?;
            web_addr = Some(web_listener.local_addr()?);
            tracing::info!(addr = %web_listener.local_addr()?, "the web console listens");
            let web_stop = stopped.clone();
            tasks.push(tokio::spawn(async move {
                crate::http::connections::serve(web_listener, console, limits, web_stop).await;
            }));
            router
        }
        (None, _) => router,
    };
    let http_stop = stopped.clone();
    tasks.push(tokio::spawn(async move {
        crate::http::connections::serve(listener, router, limits, http_stop).await;
    }));
    // Every instance witnesses the head it sees: checkpoints outside the database.
    let witness = warroom.settings().witness.clone();
    let key = match &witness.key_file {
        Some(path) => crate::witness::WitnessKey::load_or_create(path)?,
        None => {
            let key = crate::witness::WitnessKey::generate();
            tracing::info!(
                public_key = %key.public_hex(),
                "ledger checkpoints are signed with a key made for this run (set witness.key_file to keep one)"
            );
            key
        }
    };
    tasks.push(tokio::spawn(witnessing::keep_witnessing(
        warroom.clone(),
        witness,
        key,
        stopped.clone(),
    )));
    tasks.push(tokio::spawn(lead_while_elected(
        warroom.clone(),
        clock,
        leader.clone(),
        leadership.gateway,
        stopped.clone(),
    )));
    Ok(Running {
        addr,
        web_addr,
        leader,
        lease: leadership.lease,
        shutdown,
        tasks,
    })
}

/// Runs the work that must run once — the job sweeper, the escalation scheduler, the Discord
/// gateway — while this instance leads: started when it gains the lease (the gateway's READY
/// then backfills what was said while nobody listened), stopped when it loses it or at
/// shutdown. A step or claim a stepping-down leader still makes is fenced by its fixed id.
async fn lead_while_elected(
    warroom: Arc<Warroom>,
    clock: Clock,
    mut leader: LeaderState,
    gateway: Option<Arc<crate::discord::Bot>>,
    mut stopped: watch::Receiver<bool>,
) {
    // `stopped` only ever changes to true (or its sender goes away): either way, stop.
    while !*stopped.borrow() {
        if !leader.is_leader() {
            tokio::select! {
                _ = leader.changed() => {}
                _ = stopped.changed() => return,
            }
            continue;
        }
        let (stop_led, led) = watch::channel(false);
        let tasks = [
            tokio::spawn(sweep_jobs(warroom.clone(), clock, led.clone())),
            tokio::spawn(schedule_escalations(warroom.clone(), clock, led.clone())),
            tokio::spawn(hand_over_schedules(warroom.clone(), clock, led.clone())),
            tokio::spawn(calendars::refresh_calendars(warroom.clone(), clock, led)),
        ];
        // The gateway is held in the background (reaching Discord may take any time) and
        // stops with `Gateway::stop`.
        let connected = match &gateway {
            Some(bot) => match crate::discord::connect_gateway(bot) {
                Ok(g) => Some(g),
                Err(e) => {
                    tracing::error!("leading without the Discord gateway: {e:#}");
                    None
                }
            },
            None => None,
        };
        let shutting_down = *stopped.borrow()
            || loop {
                tokio::select! {
                    still = leader.changed() => if !still { break false },
                    _ = stopped.changed() => break true,
                }
            };
        let _ = stop_led.send(true);
        for task in tasks {
            let _ = task.await;
        }
        if let Some(g) = connected {
            // At shutdown the gateway gets part of the grace, so the whole stop fits in it;
            // an instance that lost the lease may take the usual time.
            let within = if shutting_down {
                gateway_close_at_shutdown(warroom.settings().shutdown_grace)
            } else {
                crate::discord::GATEWAY_CLOSE
            };
            g.stop(within).await;
        }
        if shutting_down {
            return;
        }
        tracing::warn!("lost the lease: the schedulers and the Discord gateway stopped here");
    }
}

/// The share of the shutdown grace the gateway may take to close: at most half of it (the
/// other half is for requests in flight and the ledger), and never more than usual.
fn gateway_close_at_shutdown(grace: Duration) -> Duration {
    (grace / 2).min(crate::discord::GATEWAY_CLOSE)
}

/// How often runs are checked for silent agents and queued runs nobody took.
const SWEEP: Duration = Duration::from_secs(2);

/// Declares runs lost when their agent falls silent, and stale when nobody took them.
async fn sweep_jobs(warroom: Arc<Warroom>, clock: Clock, mut stopped: watch::Receiver<bool>) {
    loop {
        match warroom.sweep_jobs(clock.now()).await {
            Ok(0) => {}
            Ok(ended) => tracing::warn!(ended, "runbook runs ended: lost or not taken in time"),
            Err(e) => tracing::error!("could not check runbook runs (retrying): {e:#}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Fires escalation steps when they fall due, sleeping until the next one, a change, or
/// the periodic rescan.
async fn schedule_escalations(
    warroom: Arc<Warroom>,
    clock: Clock,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        if *stopped.borrow() {
            return;
        }
        let now = clock.now();
        let fired = match warroom.fire_due_pages(now).await {
            // Rules due at once go out with the pages that started them.
            Ok(pages) => warroom
                .fire_due_notifications(now)
                .await
                .map(|notified| (pages, notified)),
            Err(e) => Err(e),
        };
        let wait = match &fired {
            Ok((pages, notified)) => {
                if !pages.is_empty() {
                    // Each page is logged by the delivery worker, with its incident and pagers.
                    tracing::debug!(pages = pages.len(), "escalation steps fired");
                }
                if !notified.is_empty() {
                    tracing::info!(
                        notifications = notified.len(),
                        "notification rules fell due"
                    );
                }
                let next_page = warroom.next_page_due().await.ok().flatten();
                let next_rule = warroom.next_notification_due(clock.now()).await;
                match next_page.into_iter().chain(next_rule).min() {
                    Some(at) => (at - clock.now()).to_std().unwrap_or_default().min(RESCAN),
                    None => RESCAN,
                }
            }
            Err(e) => {
                // The store is down: the steps stay due and fire when it is back.
                tracing::error!("could not fire escalation steps (retrying in 1 s): {e:#}");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = warroom.escalation_changed() => {}
            _ = stopped.changed() => {}
        }
    }
}

/// Records each schedule's hand-over when it happens (and tells the people), sleeping until
/// the next one or the periodic rescan, which notices a new override or version.
async fn hand_over_schedules(
    warroom: Arc<Warroom>,
    clock: Clock,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        if *stopped.borrow() {
            return;
        }
        let now = clock.now();
        let wait = match warroom.record_handoffs(now).await {
            Ok(recorded) => {
                for h in &recorded {
                    tracing::info!(
                        schedule = %h.schedule,
                        incoming = h.incoming.as_deref().unwrap_or("nobody"),
                        outgoing = h.outgoing.as_deref().unwrap_or("nobody"),
                        "on-call hand-over"
                    );
                }
                match warroom.next_handoff(now).await {
                    Ok(Some(at)) => (at - clock.now()).to_std().unwrap_or_default().min(RESCAN),
                    _ => RESCAN,
                }
            }
            Err(e) => {
                tracing::error!("could not record on-call hand-overs (retrying in 5 s): {e:#}");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// Keeps `warroom_leader` and the readiness of a follower (which holds no gateway by design)
/// in step with the lease.
async fn report_leadership(
    mut leader: crate::store::LeaderState,
    bot: Option<Arc<crate::discord::Bot>>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let leading = leader.is_leader();
        crate::metrics::get().set_leader(leading);
        if let Some(bot) = &bot {
            bot.gateway().set_follower(!leading);
        }
        tokio::select! {
            _ = leader.changed() => {}
            _ = stopped.changed() => return,
        }
    }
}
