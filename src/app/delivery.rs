//! The work `warroom serve`'s delivery worker is handed: pages just recorded, the
//! acknowledgements and resolutions the pagers mirror, people's notifications and the
//! hand-over messages told to them. Paging and notifications both fill this queue; keeping
//! its types here is what lets neither of them depend on the other.

use super::Warroom;
use crate::domain::reach::{notification_key, Method};
use crate::domain::types::{IncidentNumber, Severity};
use chrono::{DateTime, Utc};

/// A page this instance recorded and must now deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct PageOrder {
    pub incident: IncidentNumber,
    pub title: String,
    pub severity: Severity,
    /// `@handle`, `!Team` or `everyone`.
    pub target: String,
    pub message: Option<String>,
    pub dedup_key: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// Paged instead when this page cannot be delivered; empty for a fallback page itself.
    pub fallback: Vec<String>,
}

/// A notification recorded and to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationOrder {
    pub incident: IncidentNumber,
    pub title: String,
    pub severity: Severity,
    pub dedup_key: String,
    pub rule: u32,
    pub person: String,
    pub method: Method,
    /// The person's address for the method, from the configuration.
    pub address: String,
    /// The signed acknowledgement link, when links are configured.
    pub ack_url: Option<String>,
    /// Where Twilio posts the keypress of a voice call.
    pub voice_ack_url: Option<String>,
    pub at: DateTime<Utc>,
}

impl NotificationOrder {
    /// `DEDUP_KEY#RULE`, as events and logs name it.
    pub fn key(&self) -> String {
        notification_key(&self.dedup_key, self.rule)
    }
}

/// A message for one person by one of their methods, outside any incident (a hand-over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tell {
    pub person: String,
    pub method: Method,
    pub address: String,
    /// One line: the email's subject, the push's title.
    pub subject: String,
    pub text: String,
}

/// Work for the delivery worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Deliver a page that was just recorded.
    Page(PageOrder),
    /// Tell the pagers that delivered an incident's pages that it was acknowledged or
    /// resolved, so their own escalations stop too.
    Mirror {
        incident: IncidentNumber,
        /// `acknowledge` or `resolve`.
        action: &'static str,
    },
    /// Send a person's notification that was just recorded.
    Notify(Box<NotificationOrder>),
    /// Tell a person something by one of their methods (a hand-over): logged, not recorded.
    Tell(Box<Tell>),
    /// File the incident's follow-up actions that have no issue yet in the tracker.
    FollowUps { incident: IncidentNumber },
}

impl Warroom {
    /// Starts handing recorded pages to `queue` (the delivery worker of `warroom serve`).
    pub fn deliver_pages_to(&self, queue: tokio::sync::mpsc::UnboundedSender<Delivery>) {
        let _ = self.page_queue.set(queue);
    }

    pub(super) fn hand_over(&self, orders: &[PageOrder]) {
        for order in orders {
            self.queue(Delivery::Page(order.clone()));
        }
    }

    pub(super) fn queue(&self, delivery: Delivery) {
        if let Some(queue) = self.page_queue.get() {
            // The worker stops only at shutdown; what it was asked is recorded either way.
            let _ = queue.send(delivery);
        }
    }
}
