//! What ingesting a batch of alerts did: recorded, repeated, incidents opened and joined, one
//! line per alert, and the alerts left in the alerts channel for a chat front end to announce.

use crate::domain::event::AlertFacts;
use crate::domain::types::IncidentNumber;
use std::collections::BTreeSet;

/// What ingesting a batch of alerts did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntakeReport {
    /// Alerts recorded as a new state.
    pub recorded: usize,
    /// Alerts whose state was already recorded (a repeated delivery).
    pub duplicates: usize,
    /// Incidents opened by these alerts.
    pub opened: Vec<IncidentNumber>,
    /// Incidents these alerts joined.
    pub joined: BTreeSet<IncidentNumber>,
    /// Events appended.
    pub events: usize,
    /// One line per alert, for the console and the chat.
    pub lines: Vec<String>,
    /// Alerts recorded in the alerts channel, in no incident: a chat front end announces
    /// them with a way to open an incident. Kept only when one listens (`announcing`).
    pub unplaced: Vec<AlertFacts>,
    /// Whether to keep `unplaced`: copying every such alert costs the intake for nothing
    /// when no chat front end runs.
    pub(super) announcing: bool,
}

impl IntakeReport {
    pub(super) fn duplicate(&mut self, alert: &AlertFacts) {
        self.duplicates += 1;
        self.lines.push(format!(
            "{} {}: already recorded",
            alert.name,
            alert.status.as_str()
        ));
    }

    pub(super) fn recorded_one(
        &mut self,
        alert: &AlertFacts,
        incident: Option<IncidentNumber>,
        opened: bool,
        events: usize,
        line: &str,
    ) {
        self.recorded += 1;
        self.events += events;
        match (incident, opened) {
            (Some(n), true) => self.opened.push(n),
            (Some(n), false) => {
                self.joined.insert(n);
            }
            (None, _) if self.announcing => self.unplaced.push(alert.clone()),
            (None, _) => {}
        }
        self.lines
            .push(format!("{} {}: {line}", alert.name, alert.status.as_str()));
    }
}
