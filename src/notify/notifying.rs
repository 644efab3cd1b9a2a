//! Sending a person's notification (email, SMS, voice, push) for the delivery worker: each
//! attempt recorded in the incident with the provider's id, retried as pages are, and given
//! up on (recorded) when the provider refuses it or stays unreachable. The leader's sweep
//! takes over the notifications of an instance that stopped while sending them.

use super::reach::{Address, Notice, Reacher, Sent};
use super::{Attempt, RetryPolicy};
use crate::app::delivery::{NotificationOrder, Tell};
use crate::app::Warroom;
use crate::domain::event::AttemptOutcome;
use crate::domain::reach::Method;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Notifications this process is sending, by key: the takeover sweep leaves them alone.
pub(super) type Sending = Arc<Mutex<HashSet<String>>>;

/// Marks a notification as this process's while it is sent.
pub(super) struct Holding {
    sending: Sending,
    key: String,
}

impl Holding {
    /// `None` when this process is sending it already.
    pub(super) fn take(sending: &Sending, key: String) -> Option<Holding> {
        let fresh = lock(sending).insert(key.clone());
        fresh.then(|| Holding {
            sending: sending.clone(),
            key,
        })
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        lock(&self.sending).remove(&self.key);
    }
}

fn lock(sending: &Sending) -> std::sync::MutexGuard<'_, HashSet<String>> {
    sending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How long a notification's sender may stay silent while alive: its longest wait between
/// attempts, one attempt's time, and the grace for a slow store.
pub(super) fn quiet_allowed(retry: &RetryPolicy) -> chrono::Duration {
    let longest =
        retry.max_retry_after.max(retry.max_delay) + Duration::from_secs(60) + retry.takeover_grace;
    chrono::Duration::from_std(longest).unwrap_or(chrono::Duration::MAX)
}

/// What the person is told, and where.
pub(super) fn notice_of(order: &NotificationOrder) -> (Address, Notice) {
    let address = address_of(order.method, &order.address);
    let notice = Notice {
        incident: order.incident.to_string(),
        title: order.title.clone(),
        severity: order.severity.to_string(),
        summary: format!(
            "{} {} {}: you are paged",
            order.incident, order.severity, order.title
        ),
        ack_url: order.ack_url.clone(),
        voice_ack_url: order.voice_ack_url.clone(),
    };
    (address, notice)
}

fn outcome_of(sent: &Sent) -> (AttemptOutcome, Option<u16>, Option<String>) {
    match &sent.attempt {
        Attempt::Delivered { status } => (AttemptOutcome::Delivered, Some(*status), None),
        Attempt::Retryable { status, error, .. } => {
            (AttemptOutcome::Failed, *status, Some(error.clone()))
        }
        Attempt::Refused { status, error } => {
            (AttemptOutcome::Refused, Some(*status), Some(error.clone()))
        }
    }
}

/// Sends one notification until it is accepted, refused or the policy gives up, recording
/// every attempt; a give-up is recorded too. Failing to record is logged and the sending
/// goes on: reaching the person matters more than the bookkeeping.
pub(super) async fn send(
    warroom: Arc<Warroom>,
    reacher: Option<Reacher>,
    retry: RetryPolicy,
    order: NotificationOrder,
    _holding: Holding,
) {
    let Some(reacher) = reacher else {
        // The configuration check makes this unreachable for a served configuration.
        let reason = "no provider is configured for this method";
        if let Err(e) = warroom.record_notification_gave_up(&order, reason).await {
            tracing::error!(incident = %order.incident, "could not record a give-up: {e:#}");
        }
        return;
    };
    let (address, notice) = notice_of(&order);
    let mut n = 1;
    let last = loop {
        let sent = reacher.send(&address, &notice).await;
        let (outcome, status, error) = outcome_of(&sent);
        match &sent.attempt {
            Attempt::Delivered { .. } => tracing::info!(
                incident = %order.incident, person = %order.person, method = %order.method,
                attempt = n, "notification sent"
            ),
            Attempt::Retryable { error, .. } => tracing::warn!(
                incident = %order.incident, person = %order.person, method = %order.method,
                attempt = n, %error, "notification attempt failed, retryable"
            ),
            Attempt::Refused { error, .. } => tracing::error!(
                incident = %order.incident, person = %order.person, method = %order.method,
                %error, "notification refused"
            ),
        }
        crate::metrics::get().page(&format!("notify-{}", order.method), label(outcome));
        if let Err(e) = warroom
            .record_notification_attempt(
                &order,
                n,
                outcome,
                status,
                error,
                sent.provider_ref.clone(),
            )
            .await
        {
            tracing::error!(incident = %order.incident, "could not record a notification attempt: {e:#}");
        }
        let retry_after = match &sent.attempt {
            Attempt::Retryable { retry_after, .. } => *retry_after,
            Attempt::Delivered { .. } | Attempt::Refused { .. } => break sent.attempt,
        };
        let Some(delay) = retry.delay_before(n + 1, retry_after) else {
            break sent.attempt;
        };
        tokio::time::sleep(delay).await;
        if !warroom.notification_still_wanted(&order).await {
            tracing::info!(incident = %order.incident, method = %order.method, "notification dropped: the page was acknowledged meanwhile");
            return;
        }
        n += 1;
    };
    let reason = match &last {
        Attempt::Delivered { .. } => return,
        Attempt::Refused { error, .. } => format!("refused: {error}"),
        Attempt::Retryable { error, .. } => format!("gave up after {n} attempts: {error}"),
    };
    crate::metrics::get().page(&format!("notify-{}", order.method), "gave_up");
    if let Err(e) = warroom.record_notification_gave_up(&order, &reason).await {
        tracing::error!(incident = %order.incident, "could not record a give-up: {e:#}");
    }
}

/// Tells a person something by one of their methods (a hand-over), retrying as a page
/// would; logged, not recorded.
pub(super) async fn tell(reacher: Option<Reacher>, retry: RetryPolicy, tell: Tell) {
    let Some(reacher) = reacher else {
        return;
    };
    let address = address_of(tell.method, &tell.address);
    let mut n = 1;
    loop {
        let sent = reacher.tell(&address, &tell.subject, &tell.text).await;
        let retry_after = match sent.attempt {
            Attempt::Retryable { retry_after, .. } => retry_after,
            Attempt::Delivered { .. } => return,
            Attempt::Refused { error, .. } => {
                tracing::warn!(person = %tell.person, method = %tell.method, %error, "could not tell of a hand-over");
                return;
            }
        };
        let Some(delay) = retry.delay_before(n + 1, retry_after) else {
            tracing::warn!(person = %tell.person, method = %tell.method, attempts = n, "gave up telling of a hand-over");
            return;
        };
        tokio::time::sleep(delay).await;
        n += 1;
    }
}

fn address_of(method: Method, address: &str) -> Address {
    match method {
        Method::Email => Address::Email(address.to_string()),
        Method::Sms => Address::Sms(address.to_string()),
        Method::Voice => Address::Voice(address.to_string()),
        Method::Push => Address::Push(address.to_string()),
    }
}

fn label(outcome: AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::Failed => "failed",
        AttemptOutcome::Refused => "refused",
    }
}
