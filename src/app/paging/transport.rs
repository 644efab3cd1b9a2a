//! What a way of reaching people must do for the page delivery worker: the page to send,
//! and one attempt's outcome, classified as delivered, worth retrying or refused. The HTTP
//! pagers (`notify`) and the chat front end (`discord::pager`) implement it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// What a page asks the pager to do with the alert named by its dedup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageAction {
    /// Open (or re-notify) the alert.
    Trigger,
    /// Someone is on it; stop escalating.
    Acknowledge,
    /// The alert is over.
    Resolve,
}

impl PageAction {
    /// The wire name, as PagerDuty's `event_action` and the webhook's `action` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            PageAction::Trigger => "trigger",
            PageAction::Acknowledge => "acknowledge",
            PageAction::Resolve => "resolve",
        }
    }
}

impl fmt::Display for PageAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to tell the pager. `dedup_key` is fixed per incident + escalation step + target, so a
/// retried or repeated send never pages twice (PagerDuty dedups on it; webhook receivers get
/// it too, also as the `Idempotency-Key` header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Stable key for this incident + escalation step + target.
    pub dedup_key: String,
    /// Trigger, acknowledge or resolve.
    pub action: PageAction,
    /// Incident reference, e.g. `INC-7`.
    pub incident: String,
    /// The incident's title.
    pub title: String,
    /// One line, e.g. `INC-7 sev1 Application outage — paging Networking (step 1)`.
    pub summary: String,
    /// PagerDuty severity: `critical`, `error`, `warning` or `info`.
    pub severity: String,
    /// Who is paged: `@bsparrow` or `!Networking`.
    pub target: String,
    /// Free text from `/incident page ... message:"..."`.
    pub message: Option<String>,
    /// When the page was decided.
    pub at: DateTime<Utc>,
}

/// Result of one attempt, classified as an HTTP pager's would be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver accepted the page (any 2xx).
    Delivered {
        /// HTTP status received.
        status: u16,
    },
    /// Worth retrying: 5xx, 429, 408, connect error, timeout.
    Retryable {
        /// HTTP status, when a response came back at all.
        status: Option<u16>,
        /// What went wrong, never containing the pager's secret.
        error: String,
        /// From a `Retry-After` header (delta-seconds or HTTP-date), when present.
        retry_after: Option<Duration>,
    },
    /// Not worth retrying: other statuses (bad routing key, invalid event, a redirect).
    Refused {
        /// HTTP status received.
        status: u16,
        /// Status plus the receiver's message, truncated to about 300 characters.
        error: String,
    },
}

impl Attempt {
    /// Whether the page got through.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Attempt::Delivered { .. })
    }
}

/// A chat front end that can page people itself (Discord: mention and DM).
#[async_trait::async_trait]
pub trait ChatPager: Send + Sync + fmt::Debug {
    /// One attempt at delivering a page, classified like an HTTP pager's.
    async fn page(&self, page: &Page) -> Attempt;
}
