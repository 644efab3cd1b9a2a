//! The delivery worker of `warroom serve`: hands each recorded page to the outside pagers
//! that reach its target, records every attempt in the incident, pages the fallback when a
//! pager gives up, and mirrors acknowledgements and resolutions to the pagers that were paged.

use super::{Attempt, Notifier, Page, PageAction, RetryPolicy};
use crate::app::paging::{Delivery, PageOrder};
use crate::app::Warroom;
use crate::config::PagerSettings;
use crate::domain::escalation::Target;
use crate::domain::event::AttemptOutcome;
use crate::domain::types::{IncidentNumber, Severity};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

/// How old an unfinished page may be and still be delivered after a restart: an hour-old
/// page that never went out is better sent late than never, older ones are history.
const RESUME_WINDOW: chrono::Duration = chrono::Duration::hours(1);

/// How long deliveries in flight may finish after shutdown is asked.
const DRAIN: Duration = Duration::from_secs(5);

/// Starts the worker; pages recorded from now on are delivered.
pub fn spawn(
    warroom: Arc<Warroom>,
    notifier: Notifier,
    retry: RetryPolicy,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let (queue, mut work) = mpsc::unbounded_channel();
    warroom.deliver_pages_to(queue);
    // From here on, pages recorded by this process come through the queue.
    let started = chrono::Utc::now();
    tokio::spawn(async move {
        let mut running = JoinSet::new();
        // Pages a previous run recorded but did not finish delivering (it stopped during
        // their retries) are delivered again; the dedup key keeps a pager from paging twice.
        match warroom
            .unfinished_pages(started - RESUME_WINDOW, started)
            .await
        {
            Ok(unfinished) => {
                for (order, finished) in unfinished {
                    for pager in pagers_of(&warroom, &order.target) {
                        if !finished.contains(&pager.name) {
                            tracing::info!(incident = %order.incident, pager = %pager.name, "resuming an unfinished page");
                            running.spawn(deliver(
                                warroom.clone(),
                                notifier.clone(),
                                retry.clone(),
                                order.clone(),
                                pager,
                            ));
                        }
                    }
                }
            }
            Err(e) => tracing::error!("could not look for unfinished pages: {e:#}"),
        }
        loop {
            tokio::select! {
                next = work.recv() => match next {
                    Some(Delivery::Page(order)) => {
                        for pager in pagers_of(&warroom, &order.target) {
                            running.spawn(deliver(warroom.clone(), notifier.clone(), retry.clone(), order.clone(), pager));
                        }
                    }
                    Some(Delivery::Mirror { incident, action }) => {
                        running.spawn(mirror(warroom.clone(), notifier.clone(), retry.clone(), incident, action));
                    }
                    None => break,
                },
                Some(_) = running.join_next(), if !running.is_empty() => {}
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
    order: PageOrder,
    pager_settings: PagerSettings,
) {
    let pager = pager_settings.pager();
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
            for fallback in fallbacks {
                for other in pagers_of(&warroom, &fallback.target) {
                    Box::pin(deliver(
                        warroom.clone(),
                        notifier.clone(),
                        retry.clone(),
                        fallback.clone(),
                        other,
                    ))
                    .await;
                }
            }
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
        let pager = settings.pager();
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
