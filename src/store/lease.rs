//! The leader lease: which of several `warroom serve` instances on one PostgreSQL store does
//! the work that must run once — the Discord gateway, the escalation scheduler, the job
//! sweeper. Every instance serves HTTP whatever it holds.
//!
//! Why a lease row with an expiry and not a session advisory lock: a SIGKILLed leader's
//! connection closes at once, so an advisory lock would pass over promptly there, but in a
//! network partition the server keeps the session (and the lock) until TCP keepalives give up,
//! which takes minutes to hours by default, while the cut-off leader cannot tell it still
//! "holds" anything. With a row whose `expires_at` is in the database's clock, the holder must
//! renew every `renew` seconds; it steps down by its own monotonic clock before the row can
//! expire (so two instances never both believe they lead), and a follower takes the row over
//! once it has expired — within `ttl + renew` of the leader's last renewal, whatever happened.
//!
//! Each change of holder bumps `generation`, the fencing token the holder logs. The work the
//! leader does is fenced by the ledger anyway (escalation steps and job claims have fixed event
//! ids), so a leader that has just stepped down finishing one round does no harm.
//!
//! On SQLite there is one instance per file (see `lock.rs`): it is always the leader.

use super::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The one lease warroom takes.
const LEADER: &str = "leader";

/// How long an instance holds the lease without renewing it, and how often it renews (and
/// followers look for an expired lease).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSettings {
    pub ttl: Duration,
    pub renew: Duration,
}

impl Default for LeaseSettings {
    /// 10 s and 3 s: a dead leader is replaced within 13 s.
    fn default() -> LeaseSettings {
        LeaseSettings {
            ttl: Duration::from_secs(10),
            renew: Duration::from_secs(3),
        }
    }
}

impl LeaseSettings {
    /// How long before the lease expires in the database the holder steps down: covers the
    /// time a renewal spends between leaving this process and the database's `now()`.
    fn margin(&self) -> Duration {
        (self.ttl / 10).max(Duration::from_millis(200))
    }
}

/// What this instance is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// It holds the lease, taken as this generation.
    Leader { generation: i64 },
    /// Another instance holds it (named as it names itself), or nobody does yet.
    Follower { leader: Option<String> },
}

/// A shared, cheap handle on this instance's role: what the gated workers, `/v1/status`,
/// readiness and metrics look at.
#[derive(Debug, Clone)]
pub struct LeaderState {
    role: watch::Receiver<Role>,
}

impl LeaderState {
    /// Always the leader (SQLite, a single instance, tests).
    pub fn always() -> LeaderState {
        let (_, role) = watch::channel(Role::Leader { generation: 1 });
        LeaderState { role }
    }

    /// Whether this instance holds the lease now.
    pub fn is_leader(&self) -> bool {
        matches!(*self.role.borrow(), Role::Leader { .. })
    }

    /// The generation this instance holds the lease as, if it does.
    pub fn generation(&self) -> Option<i64> {
        match *self.role.borrow() {
            Role::Leader { generation } => Some(generation),
            Role::Follower { .. } => None,
        }
    }

    pub fn role(&self) -> Role {
        self.role.borrow().clone()
    }

    /// Waits until the role changes and answers whether this instance now leads; never
    /// returns when it cannot change any more (always the leader, or the lease released).
    pub async fn changed(&mut self) -> bool {
        if self.role.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        self.is_leader()
    }
}

/// This instance's part in the leader election: the renewing task and the role it publishes.
pub struct Lease {
    state: LeaderState,
    stop: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl Lease {
    /// A lease that is always held: the single instance of an SQLite store.
    pub fn single() -> Lease {
        Lease {
            state: LeaderState::always(),
            stop: None,
            task: None,
        }
    }

    /// Joins the election on the store at `url`: on PostgreSQL a task that takes, renews and
    /// publishes the lease as `holder` (how this instance is named in the followers' logs);
    /// on SQLite [`Lease::single`]. The `leases` table comes with the ledger's migrations.
    pub async fn start(
        url: &str,
        settings: LeaseSettings,
        holder: String,
    ) -> Result<Lease, StoreError> {
        if url.starts_with("sqlite:") {
            tracing::info!("became leader (generation 1): an SQLite store has one instance");
            return Ok(Lease::single());
        }
        let options = PgConnectOptions::from_str(url)?;
        // Its own small pool: a renewal must never wait behind the ledger's queries.
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(settings.renew)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open {
                url: super::redact(url),
                reason: format!("cannot connect for the leader lease: {e}"),
            })?;
        let (publish, role) = watch::channel(Role::Follower { leader: None });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(pool, settings, holder, publish, stopped));
        Ok(Lease {
            state: LeaderState { role },
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Whether this is [`Lease::single`]: the only instance on its store.
    pub fn is_single(&self) -> bool {
        self.task.is_none()
    }

    pub fn state(&self) -> LeaderState {
        self.state.clone()
    }

    /// Stops renewing and, if held, gives the lease up at once, so a follower takes over
    /// without waiting for it to expire (a planned restart).
    pub async fn release(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Dropped without `release`: stop renewing; the lease then expires by itself.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Takes the lease if nobody holds it or it has expired; the new generation when taken.
async fn try_take(pool: &PgPool, holder: &str, ttl: Duration) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO leases (name, holder, generation, expires_at) \
         VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond') \
         ON CONFLICT (name) DO UPDATE \
           SET holder = EXCLUDED.holder, generation = leases.generation + 1, expires_at = EXCLUDED.expires_at \
           WHERE leases.expires_at <= now() \
         RETURNING generation",
    )
    .bind(LEADER)
    .bind(holder)
    .bind(millis(ttl))
    .fetch_optional(pool)
    .await
}

/// Extends the lease held as `generation`; false when it is no longer ours.
async fn renew(
    pool: &PgPool,
    holder: &str,
    generation: i64,
    ttl: Duration,
) -> Result<bool, sqlx::Error> {
    let renewed = sqlx::query(
        "UPDATE leases SET expires_at = now() + $4 * interval '1 millisecond' \
         WHERE name = $1 AND holder = $2 AND generation = $3 AND expires_at > now()",
    )
    .bind(LEADER)
    .bind(holder)
    .bind(generation)
    .bind(millis(ttl))
    .execute(pool)
    .await?;
    Ok(renewed.rows_affected() == 1)
}

/// Ends the lease held as `generation` now.
async fn give_up(pool: &PgPool, holder: &str, generation: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE leases SET expires_at = now() WHERE name = $1 AND holder = $2 AND generation = $3",
    )
    .bind(LEADER)
    .bind(holder)
    .bind(generation)
    .execute(pool)
    .await?;
    Ok(())
}

/// Who holds an unexpired lease.
async fn current_holder(pool: &PgPool) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT holder FROM leases WHERE name = $1 AND expires_at > now()")
        .bind(LEADER)
        .fetch_optional(pool)
        .await
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The election loop: follow until the lease can be taken, lead while it is renewed.
async fn run(
    pool: PgPool,
    settings: LeaseSettings,
    holder: String,
    publish: watch::Sender<Role>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut following: Option<Option<String>> = None;
    loop {
        if *stopped.borrow() {
            break;
        }
        // Following: try to take it; when someone else holds it, look again after `renew`.
        let asked = Instant::now();
        match tokio::time::timeout(settings.renew, try_take(&pool, &holder, settings.ttl)).await {
            Ok(Ok(Some(generation))) => {
                tracing::info!(generation, holder = %holder, "became leader (generation {generation})");
                following = None;
                publish.send_replace(Role::Leader { generation });
                lead(&pool, &settings, &holder, generation, asked, &mut stopped).await;
                publish.send_replace(Role::Follower { leader: None });
                continue;
            }
            Ok(Ok(None)) => {
                let leader = current_holder(&pool).await.ok().flatten();
                if following.as_ref() != Some(&leader) {
                    match &leader {
                        Some(l) => tracing::info!(leader = %l, "following (leader is {l})"),
                        None => tracing::info!("following (the lease has just been freed)"),
                    }
                    publish.send_replace(Role::Follower {
                        leader: leader.clone(),
                    });
                    following = Some(leader);
                }
            }
            Ok(Err(e)) => {
                tracing::warn!("cannot reach PostgreSQL for the leader lease (retrying): {e}")
            }
            Err(_) => tracing::warn!("the leader lease query timed out (retrying)"),
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.renew) => {}
            _ = stopped.changed() => {}
        }
    }
    pool.close().await;
}

/// Holds the lease taken as `generation` (asked for at `renewed`): renews it every `renew`,
/// and returns when it is lost, when it cannot be renewed before it would expire, or at stop
/// (then giving it up).
async fn lead(
    pool: &PgPool,
    settings: &LeaseSettings,
    holder: &str,
    generation: i64,
    mut renewed: Instant,
    stopped: &mut watch::Receiver<bool>,
) {
    let mut next = renewed + settings.renew;
    loop {
        // The database set the expiry at least `ttl` after `renewed`: step down before then.
        let deadline = renewed + settings.ttl - settings.margin();
        let next_try = next.min(deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(next_try) => {}
            _ = stopped.changed() => {
                if let Err(e) = give_up(pool, holder, generation).await {
                    tracing::warn!("could not give up the lease (it expires by itself): {e}");
                }
                tracing::info!(generation, "gave up the lease (generation {generation}): stopping");
                return;
            }
        }
        if Instant::now() >= deadline {
            tracing::error!(
                generation,
                "lost the lease (generation {generation}): it could not be renewed in time"
            );
            return;
        }
        let asked = Instant::now();
        match tokio::time::timeout_at(deadline, renew(pool, holder, generation, settings.ttl)).await
        {
            Ok(Ok(true)) => {
                renewed = asked;
                next = asked + settings.renew;
            }
            Ok(Ok(false)) => {
                tracing::error!(
                    generation,
                    "lost the lease (generation {generation}): another instance holds it now"
                );
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(
                    generation,
                    "could not renew the lease (retrying until it would expire): {e}"
                );
                next = asked + settings.renew / 3;
            }
            Err(_) => {
                tracing::error!(
                    generation,
                    "lost the lease (generation {generation}): PostgreSQL did not answer in time"
                );
                return;
            }
        }
    }
}
