//! `warroom serve`: the HTTP intake, the escalation scheduler and the page delivery worker,
//! started together on one application and stopped together.

use crate::app::Warroom;
use chrono::{DateTime, Utc};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the scheduler looks at the ledger even when nothing woke it: escalations that
/// other instances started are found within this time.
const RESCAN: Duration = Duration::from_secs(5);

/// The wall clock as seen through tokio's clock: anchored at start, it advances with
/// `tokio::time`, so tests with paused time can move escalations forward without waiting.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: DateTime<Utc>,
    instant: tokio::time::Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            wall: Utc::now(),
            instant: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.instant;
        self.wall + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }
}

/// A running server.
pub struct Running {
    /// The address the HTTP intake listens on (useful with port 0).
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting requests, lets requests in flight finish, and stops the workers.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts the HTTP intake on `listener`, the escalation scheduler and the page delivery
/// worker (with `retry` between attempts).
pub async fn start(
    warroom: Arc<Warroom>,
    listener: tokio::net::TcpListener,
    clock: Clock,
    retry: crate::notify::RetryPolicy,
) -> anyhow::Result<Running> {
    start_with_discord(warroom, listener, clock, retry, None).await
}

/// [`start`], with the Discord front end (when it runs) serving `POST /discord/interactions`
/// and delivering the pages of `discord` pagers.
pub async fn start_with_discord(
    warroom: Arc<Warroom>,
    listener: tokio::net::TcpListener,
    clock: Clock,
    retry: crate::notify::RetryPolicy,
    discord: Option<Arc<crate::discord::Bot>>,
) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let (shutdown, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut notifier = crate::notify::Notifier::new();
    if let Some(bot) = &discord {
        notifier = notifier.with_chat(Arc::new(crate::discord::DiscordPager::new(bot.clone())));
    }
    tasks.push(crate::notify::worker::spawn(
        warroom.clone(),
        notifier,
        retry,
        stopped.clone(),
    ));
    // Held agent polls watch `stopped` too, so they end at once instead of holding the
    // graceful shutdown for up to their 30 s.
    let router = crate::http::router_with_discord(warroom.clone(), discord).layer(axum::Extension(
        crate::http::agents::Stopping(stopped.clone()),
    ));
    let mut http_stop = stopped.clone();
    tasks.push(tokio::spawn(async move {
        let server = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|s| *s).await;
        });
        if let Err(e) = server.await {
            tracing::error!("the HTTP server stopped: {e}");
        }
    }));
    tasks.push(tokio::spawn(sweep_jobs(
        warroom.clone(),
        clock,
        stopped.clone(),
    )));
    tasks.push(tokio::spawn(schedule_escalations(
        warroom.clone(),
        clock,
        stopped.clone(),
    )));
    Ok(Running {
        addr,
        shutdown,
        tasks,
    })
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
        let fired = warroom.fire_due_pages(now).await;
        let wait = match &fired {
            Ok(pages) => {
                if !pages.is_empty() {
                    tracing::info!(pages = pages.len(), "escalation steps fired");
                }
                match warroom.next_page_due().await {
                    Ok(Some(at)) => (at - clock.now()).to_std().unwrap_or_default().min(RESCAN),
                    _ => RESCAN,
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
