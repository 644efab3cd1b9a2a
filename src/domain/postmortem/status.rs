//! Where the incident stands after its last event: the severity, whether it is open, resolved
//! or closed, and when it was last resolved and closed (a reopen clears both).

use crate::domain::event::{Event, Recorded};
use crate::domain::types::{IncidentStatus, Severity};
use chrono::{DateTime, Utc};

pub(super) struct Status {
    /// The last severity change's; the declared severity when there was none.
    severity: Option<Severity>,
    pub(super) state: IncidentStatus,
    pub(super) resolved_at: Option<DateTime<Utc>>,
    pub(super) closed_at: Option<DateTime<Utc>>,
}

impl Status {
    /// An incident just opened.
    pub(super) fn new() -> Status {
        Status {
            severity: None,
            state: IncidentStatus::Open,
            resolved_at: None,
            closed_at: None,
        }
    }

    pub(super) fn see(&mut self, r: &Recorded) {
        match r.event.unwrapped() {
            Event::SeverityChanged { to, .. } => self.severity = Some(*to),
            Event::IncidentResolved { .. } => {
                self.state = IncidentStatus::Resolved;
                self.resolved_at = Some(r.at);
            }
            Event::IncidentClosed {} => {
                self.state = IncidentStatus::Closed;
                self.closed_at = Some(r.at);
            }
            Event::IncidentReopened { .. } => {
                self.state = IncidentStatus::Open;
                self.resolved_at = None;
                self.closed_at = None;
            }
            _ => {}
        }
    }

    /// The severity now, given the one the incident was declared at.
    pub(super) fn severity_or(&self, declared: Severity) -> Severity {
        self.severity.unwrap_or(declared)
    }
}
