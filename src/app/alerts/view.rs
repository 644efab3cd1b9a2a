//! What the projection keeps about alerts: the last state of each alert, the incidents
//! each alert group opened, and the groups this process is opening an incident for.

use crate::domain::event::{AlertFacts, AlertStatus, Event};
use crate::domain::types::IncidentNumber;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// The last state recorded of one alert (by source and fingerprint).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertState {
    pub status: AlertStatus,
    pub starts_at: Option<DateTime<Utc>>,
    /// State changes recorded so far; names the next change of an alert without `starts_at`.
    pub changes: u32,
}

/// The incidents an alert group opened, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupState {
    pub incidents: Vec<IncidentNumber>,
}

/// The key under which an alert's state is kept.
pub fn alert_key(alert: &AlertFacts) -> (String, String) {
    (alert.source.clone(), alert.fingerprint.clone())
}

/// Alerts and alert groups.
#[derive(Debug, Default)]
pub struct AlertIndex {
    /// (source, fingerprint) → the alert's last recorded state.
    alerts: HashMap<(String, String), AlertState>,
    /// Alert group key → the incidents it opened.
    groups: HashMap<String, GroupState>,
    /// Alert groups this process is opening an incident for right now.
    opening: HashSet<String>,
}

impl AlertIndex {
    /// Folds one event of any stream; `incident` is the incident whose stream it is.
    pub fn apply(&mut self, incident: Option<IncidentNumber>, event: &Event) {
        match (incident, event.unwrapped()) {
            (_, Event::AlertReceived(alert)) => {
                let state = self.alerts.entry(alert_key(alert)).or_insert(AlertState {
                    status: alert.status,
                    starts_at: alert.starts_at,
                    changes: 0,
                });
                state.status = alert.status;
                state.starts_at = alert.starts_at;
                state.changes += 1;
            }
            (Some(number), Event::AlertGroupOpened { group, .. }) => {
                let state = self.groups.entry(group.clone()).or_default();
                if !state.incidents.contains(&number) {
                    state.incidents.push(number);
                }
            }
            _ => {}
        }
    }

    /// The last recorded state of an alert.
    pub fn state(&self, alert: &AlertFacts) -> Option<&AlertState> {
        self.alerts.get(&alert_key(alert))
    }

    /// How many incidents a group has opened, and the latest.
    pub fn group(&self, group: &str) -> Option<&GroupState> {
        self.groups.get(group)
    }

    /// Marks an alert group as being opened by this process; false if it already is.
    pub fn start_opening(&mut self, group: &str) -> bool {
        self.opening.insert(group.to_string())
    }

    pub fn finish_opening(&mut self, group: &str) {
        self.opening.remove(group);
    }

    pub fn is_opening(&self, group: &str) -> bool {
        self.opening.contains(group)
    }
}
