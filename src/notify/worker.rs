//! The delivery worker of `warroom serve`: hands each recorded page to the outside pagers
//! that reach its target, records every attempt in the incident, pages the fallback when a
//! pager gives up, and mirrors acknowledgements and resolutions to the pagers that were paged.
//! On the leader it also delivers the pages an instance left unfinished when it stopped.

use super::notifying::{self, Holding, Sending};
use super::{Attempt, Notifier, Page, PageAction, RetryPolicy};
use crate::app::delivery::{Delivery, PageOrder};
use crate::app::paging::view::PAGES_KEPT;
use crate::app::paging::UnfinishedPage;
use crate::app::Warroom;
use crate::config::PagerSettings;
use crate::domain::escalation::Target;
use crate::domain::event::AttemptOutcome;
use crate::domain::types::{IncidentNumber, Severity};
use crate::store::LeaderState;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

/// Deliveries this process is carrying out, by (dedup key, pager): the takeover sweep leaves
/// them alone however quiet they are.
type InFlight = Arc<Mutex<HashSet<(String, String)>>>;

/// Marks a delivery as this process's while it runs.
struct Carrying {
    in_flight: InFlight,
    key: (String, String),
}

impl Carrying {
    fn start(in_flight: &InFlight, dedup_key: &str, pager: &str) -> Carrying {
        let key = (dedup_key.to_string(), pager.to_string());
        lock(in_flight).insert(key.clone());
        Carrying {
            in_flight: in_flight.clone(),
            key,
        }
    }
}

impl Drop for Carrying {
    fn drop(&mut self) {
        lock(&self.in_flight).remove(&self.key);
    }
}

/// The set survives a panicking delivery: what it holds stays true.
fn lock(in_flight: &InFlight) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
    in_flight
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How long deliveries in flight may finish after shutdown is asked.
const DRAIN: Duration = Duration::from_secs(5);

/// Starts the worker; pages recorded from now on are delivered. While this instance leads,
/// it also delivers pages left behind: on an `exclusive` store (SQLite, one process) every
/// unfinished page an earlier run recorded, at once; on a shared store those whose deliverer
/// has been silent longer than it could be while alive (see [`left_behind`]).
pub fn spawn(
    warroom: Arc<Warroom>,
    notifier: Notifier,
    retry: RetryPolicy,
    mut leader: LeaderState,
    exclusive: bool,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let (queue, mut work) = mpsc::unbounded_channel();
    warroom.deliver_pages_to(queue);
    // From here on, pages recorded by this process come through the queue.
    let started = chrono::Utc::now();
    let in_flight: InFlight = Arc::default();
    // Follow-up filings one at a time: two for one incident must not file an action twice.
    let filing: Arc<tokio::sync::Mutex<()>> = Arc::default();
    let sending: Sending = Arc::default();
    let every =
        (retry.takeover_grace / 2).clamp(Duration::from_millis(50), Duration::from_secs(15));
    tokio::spawn(async move {
        let mut running = JoinSet::new();
        let mut sweep = tokio::time::interval(every);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                next = work.recv() => match next {
                    Some(Delivery::Page(order)) => {
                        let pagers = pagers_of(&warroom, &order.target);
                        log_page(&order, &pagers);
                        for pager in pagers {
                            let carrying = Carrying::start(&in_flight, &order.dedup_key, &pager.name);
                            running.spawn(deliver(warroom.clone(), notifier.clone(), retry.clone(), in_flight.clone(), order.clone(), pager, carrying));
                        }
                    }
                    Some(Delivery::Mirror { incident, action }) => {
                        running.spawn(mirror(warroom.clone(), notifier.clone(), retry.clone(), incident, action));
                    }
                    Some(Delivery::FollowUps { incident }) => {
                        running.spawn(super::followups::file_incident(warroom.clone(), notifier.client.clone(), retry.clone(), filing.clone(), incident));
                    }
                    Some(Delivery::Tell(tell)) => {
                        running.spawn(notifying::tell(notifier.reach.clone(), retry.clone(), *tell));
                    }
                    Some(Delivery::Notify(order)) => {
                        if let Some(holding) = Holding::take(&sending, order.key()) {
                            running.spawn(notifying::send(warroom.clone(), notifier.reach.clone(), retry.clone(), *order, holding));
                        }
                    }
                    None => break,
                },
                _ = sweep.tick(), if leader.is_leader() => {
                    let now = chrono::Utc::now();
                    let since = now - PAGES_KEPT;
                    match warroom.unfinished_pages(since).await {
                        Ok(unfinished) => {
                            for page in unfinished {
                                for pager in pagers_of(&warroom, &page.order.target) {
                                    if page.finished.contains(&pager.name)
                                        || lock(&in_flight).contains(&(page.order.dedup_key.clone(), pager.name.clone()))
                                    {
                                        continue;
                                    }
                                    let earlier_run = exclusive && page.order.at < started;
                                    if !earlier_run && !left_behind(&page, &pager, &retry, now) {
                                        continue;
                                    }
                                    tracing::warn!(incident = %page.order.incident, pager = %pager.name, "delivering a page its deliverer left unfinished");
                                    let carrying = Carrying::start(&in_flight, &page.order.dedup_key, &pager.name);
                                    running.spawn(deliver(warroom.clone(), notifier.clone(), retry.clone(), in_flight.clone(), page.order.clone(), pager, carrying));
                                }
                            }
                        }
                        Err(e) => tracing::error!("could not look for unfinished pages: {e:#}"),
                    }
                    // A notification its sender left: on an exclusive store, any an earlier
                    // run recorded; on a shared one, those quiet longer than a live sender is.
                    let quiet_since = if exclusive { started } else { now - notifying::quiet_allowed(&retry) };
                    match warroom.unfinished_notifications(now, quiet_since).await {
                        Ok(orders) => {
                            for order in orders {
                                if let Some(holding) = Holding::take(&sending, order.key()) {
                                    tracing::warn!(incident = %order.incident, method = %order.method, "sending a notification its sender left unfinished");
                                    running.spawn(notifying::send(warroom.clone(), notifier.reach.clone(), retry.clone(), order, holding));
                                }
                            }
                        }
                        Err(e) => tracing::error!("could not look for unfinished notifications: {e:#}"),
                    }
                }
                Some(_) = running.join_next(), if !running.is_empty() => {}
                // A follower's sweep is off; when it becomes leader the sweep starts at once.
                _ = leader.changed() => sweep.reset_immediately(),
                _ = stopped.changed() => break,
            }
        }
        let _ = tokio::time::timeout(DRAIN, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        running.abort_all();
    })
}

/// Whether a page's deliverer through `pager` has been silent for longer than a live one
/// could be: its first attempt follows the record at once and lasts at most the pager's
/// timeout; each retry follows the last failure within the backoff ceiling, or within the
/// `Retry-After` ceiling when the failure was a 429 or 503 (which may carry one).
fn left_behind(
    page: &UnfinishedPage,
    pager: &PagerSettings,
    retry: &RetryPolicy,
    now: DateTime<Utc>,
) -> bool {
    if page.finished.contains(&pager.name) {
        return false;
    }
    let (since, wait) = match page.failed.get(&pager.name) {
        None => (page.order.at, Duration::ZERO),
        Some((at, Some(429 | 503))) => (*at, retry.max_retry_after.max(retry.max_delay)),
        Some((at, _)) => (*at, retry.max_delay),
    };
    let allowed = wait + pager.timeout + retry.takeover_grace;
    let allowed = chrono::Duration::from_std(allowed).unwrap_or(chrono::Duration::MAX);
    now - since > allowed
}

/// The line an operator reads for each page: whom, for which incident and why, and through
/// which pagers; a warning when none reaches the target, which is recorded all the same.
fn log_page(order: &PageOrder, pagers: &[PagerSettings]) {
    let incident = order.incident;
    let target = &order.target;
    let reason = &order.reason;
    if pagers.is_empty() {
        tracing::warn!(
            %incident, %target, %reason,
            "paging {target} for {incident} ({reason}): no pager reaches {target} (the targets of [[pagers]]), so the page is recorded in the ledger but delivered to no one"
        );
    } else {
        let names: Vec<&str> = pagers.iter().map(|p| p.name.as_str()).collect();
        tracing::info!(
            %incident, %target, %reason, pagers = %names.join(","),
            "paging {target} for {incident} ({reason}) through {}",
            names.join(", ")
        );
    }
}

fn pagers_of(warroom: &Warroom, target: &str) -> Vec<PagerSettings> {
    match Target::parse(target) {
        Ok(t) => warroom
            .settings()
            .pagers_reaching(&t)
            .into_iter()
            .cloned()
            .collect(),
        Err(_) => vec![],
    }
}

/// PagerDuty's severity for an incident's.
fn pager_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Sev1 => "critical",
        Severity::Sev2 => "error",
        Severity::Sev3 => "warning",
        Severity::Sev4 => "info",
    }
}

fn page_of(order: &PageOrder, action: PageAction) -> Page {
    let who = order.target.trim_start_matches(['@', '!']);
    Page {
        dedup_key: order.dedup_key.clone(),
        action,
        incident: order.incident.to_string(),
        title: order.title.clone(),
        summary: format!(
            "{} {} {} — paging {who} ({})",
            order.incident, order.severity, order.title, order.reason
        ),
        severity: pager_severity(order.severity).to_string(),
        target: order.target.clone(),
        message: order.message.clone(),
        at: order.at,
    }
}

fn outcome_of(attempt: &Attempt) -> (AttemptOutcome, Option<u16>, Option<String>) {
    match attempt {
        Attempt::Delivered { status } => (AttemptOutcome::Delivered, Some(*status), None),
        Attempt::Retryable { status, error, .. } => {
            (AttemptOutcome::Failed, *status, Some(error.clone()))
        }
        Attempt::Refused { status, error } => {
            (AttemptOutcome::Refused, Some(*status), Some(error.clone()))
        }
    }
}

/// The `outcome` label of `warroom_pages_total` (the stored names, lowercase).
fn outcome_label(outcome: AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::Failed => "failed",
        AttemptOutcome::Refused => "refused",
    }
}

/// Records one attempt in the incident. Failing to record is logged and the delivery goes
/// on: the page matters more than its bookkeeping.
async fn record(
    warroom: Arc<Warroom>,
    incident: IncidentNumber,
    dedup_key: String,
    pager: String,
    action: &'static str,
    attempt: u32,
    (outcome, status, error): (AttemptOutcome, Option<u16>, Option<String>),
) {
    crate::metrics::get().page(&pager, outcome_label(outcome));
    if let Err(e) = warroom
        .record_page_attempt(
            incident, &dedup_key, &pager, action, attempt, outcome, status, error,
        )
        .await
    {
        tracing::error!(%incident, %pager, "could not record a page attempt: {e:#}");
    }
}

/// Delivers one page through one pager, recording each attempt; on giving up, records it
/// and delivers the fallback pages.
async fn deliver(
    warroom: Arc<Warroom>,
    notifier: Notifier,
    retry: RetryPolicy,
    in_flight: InFlight,
    order: PageOrder,
    pager_settings: PagerSettings,
    _carrying: Carrying,
) {
    let pager = super::Pager::from_settings(&pager_settings);
    let page = page_of(&order, PageAction::Trigger);
    let policy = RetryPolicy {
        max_attempts: pager_settings.max_attempts,
        ..retry.clone()
    };
    let (last, attempts) = notifier
        .deliver(&pager, &page, &policy, |n, attempt| {
            record(
                warroom.clone(),
                order.incident,
                order.dedup_key.clone(),
                pager.name.clone(),
                "trigger",
                n,
                outcome_of(attempt),
            )
        })
        .await;
    if last.is_delivered() {
        return;
    }
    crate::metrics::get().page(&pager.name, "gave_up");
    let reason = match &last {
        Attempt::Refused { error, .. } => format!("refused: {error}"),
        Attempt::Retryable { error, .. } => format!("gave up after {attempts} attempts: {error}"),
        Attempt::Delivered { .. } => unreachable!("handled above"),
    };
    match warroom
        .record_page_gave_up(&order, &pager.name, &reason)
        .await
    {
        Ok(fallbacks) => {
            // All at once: a fallback page must not wait for another's retries, nor look
            // left behind to the leader's sweep while it waits.
            let mut deliveries = Vec::new();
            for fallback in fallbacks {
                for other in pagers_of(&warroom, &fallback.target) {
                    let carrying = Carrying::start(&in_flight, &fallback.dedup_key, &other.name);
                    deliveries.push(Box::pin(deliver(
                        warroom.clone(),
                        notifier.clone(),
                        retry.clone(),
                        in_flight.clone(),
                        fallback.clone(),
                        other,
                        carrying,
                    )));
                }
            }
            futures_util::future::join_all(deliveries).await;
        }
        Err(e) => tracing::error!(incident = %order.incident, "could not record a give-up: {e:#}"),
    }
}

/// Sends an acknowledgement or resolution to every pager that took one of the incident's
/// pages, with the same dedup keys.
async fn mirror(
    warroom: Arc<Warroom>,
    notifier: Notifier,
    retry: RetryPolicy,
    incident: IncidentNumber,
    action: &'static str,
) {
    let page_action = match action {
        "acknowledge" => PageAction::Acknowledge,
        _ => PageAction::Resolve,
    };
    let delivered = match warroom.delivered_pages(incident).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(%incident, "could not read the incident's pages: {e:#}");
            return;
        }
    };
    for page in delivered {
        let Some(settings) = warroom
            .settings()
            .pagers
            .iter()
            .find(|p| p.name == page.pager)
            .cloned()
        else {
            continue;
        };
        let pager = super::Pager::from_settings(&settings);
        let message = Page {
            dedup_key: page.dedup_key.clone(),
            action: page_action,
            incident: incident.to_string(),
            title: String::new(),
            summary: format!("{incident} {action}d"),
            severity: "info".into(),
            target: String::new(),
            message: None,
            at: chrono::Utc::now(),
        };
        let policy = RetryPolicy {
            max_attempts: settings.max_attempts,
            ..retry.clone()
        };
        notifier
            .deliver(&pager, &message, &policy, |n, attempt| {
                record(
                    warroom.clone(),
                    incident,
                    page.dedup_key.clone(),
                    pager.name.clone(),
                    action,
                    n,
                    outcome_of(attempt),
                )
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::IncidentNumber;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
    }

    fn page(failed: Option<Option<u16>>, finished: bool) -> UnfinishedPage {
        UnfinishedPage {
            order: PageOrder {
                incident: IncidentNumber(1),
                title: "DNS".into(),
                severity: Severity::Sev1,
                target: "@rpark".into(),
                message: None,
                dedup_key: "k".into(),
                reason: "policy sre step 1".into(),
                at: at(0),
                fallback: vec![],
            },
            failed: failed
                .map(|status| [("pd".to_string(), (at(100), status))].into())
                .unwrap_or_default(),
            finished: if finished {
                ["pd".to_string()].into()
            } else {
                Default::default()
            },
        }
    }

    fn pager() -> PagerSettings {
        PagerSettings {
            name: "pd".into(),
            kind: crate::notify::PagerKind::Webhook { secret: None },
            url: "http://127.0.0.1:9/".into(),
            targets: vec![],
            timeout: Duration::from_secs(5),
            max_attempts: 5,
        }
    }

    #[test]
    fn a_page_is_taken_over_only_when_its_deliverer_cannot_still_be_at_it() {
        // Defaults: backoff ceiling 60 s, Retry-After ceiling 300 s, grace 30 s.
        let retry = RetryPolicy::default();
        let left = |page: &UnfinishedPage, now| left_behind(page, &pager(), &retry, at(now));
        // Never tried: the first attempt follows the record at once (timeout 5 s + 30 s).
        assert!(!left(&page(None, false), 35));
        assert!(left(&page(None, false), 36));
        // After a 500 (at 100 s): the next try comes within the backoff ceiling.
        assert!(!left(&page(Some(Some(500)), false), 195));
        assert!(left(&page(Some(Some(500)), false), 196));
        // A connection error has no status: the same.
        assert!(left(&page(Some(None), false), 196));
        // After a 429 or a 503 the deliverer may be honouring a Retry-After of up to 300 s.
        for status in [429, 503] {
            assert!(!left(&page(Some(Some(status)), false), 435));
            assert!(left(&page(Some(Some(status)), false), 436));
        }
        // A pager done with the page never takes it up again.
        assert!(!left(&page(Some(Some(500)), true), 10_000));
    }
}
