//! Where the incident stands after its last event: the severity, whether it is open, resolved
//! or closed, and when it was last resolved and closed (a reopen clears both).

use crate::domain::event::{Event, Recorded};
use crate::domain::types::{IncidentStatus, Severity};
use chrono::{DateTime, Utc};

pub(super) struct Status {
    pub(super) severity: Severity,
    pub(super) state: IncidentStatus,
    pub(super) resolved_at: Option<DateTime<Utc>>,
    pub(super) closed_at: Option<DateTime<Utc>>,
}

impl Status {
    /// An incident just opened at `severity`.
    pub(super) fn new(severity: Severity) -> Status {
        Status {
            severity,
            state: IncidentStatus::Open,
            resolved_at: None,
            closed_at: None,
        }
    }

    pub(super) fn see(&mut self, r: &Recorded) {
        match r.event.unwrapped() {
            Event::SeverityChanged { to, .. } => self.severity = *to,
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
}
