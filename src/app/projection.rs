//! The in-memory read model the use cases route by, one view per feature slice (incidents,
//! chat, alerts, paging, runs, shifts, releases, deploys). Rebuilt from the ledger at
//! start-up and kept current by reading what was appended since; never written anywhere
//! but memory.

use super::alerts::view::AlertIndex;
use super::chat::view::ChatIndex;
use super::deploys::view::DeployIndex;
use super::incidents::view::IncidentIndex;
use super::paging::view::PagingIndex;
use super::releases::view::ReleaseIndex;
use super::runs::view::RunIndex;
use super::shifts::view::ShiftIndex;
use crate::domain::event::Event;
use crate::domain::types::IncidentNumber;
use chrono::{DateTime, Utc};

/// Every slice's view, and the last ledger position folded into them.
#[derive(Debug, Default)]
pub struct Projection {
    /// The last global position applied.
    pub position: i64,
    pub incidents: IncidentIndex,
    pub chat: ChatIndex,
    pub alerts: AlertIndex,
    pub paging: PagingIndex,
    pub runs: RunIndex,
    pub shifts: ShiftIndex,
    /// Releases and which are published (`release-N` streams).
    pub releases: ReleaseIndex,
    /// Every deploy recorded (`deploys-SERVICE` streams).
    pub deploys: DeployIndex,
}

impl Projection {
    /// Folds one event, identified by its stream and global position, into every view that
    /// keeps something of it.
    pub fn apply(
        &mut self,
        stream_id: &str,
        position: i64,
        at: DateTime<Utc>,
        actor: &str,
        event: &Event,
    ) {
        self.position = self.position.max(position);
        let incident = IncidentNumber::from_stream_id(stream_id);
        self.releases.apply(stream_id, position, event);
        self.deploys.apply(stream_id, at, event);
        self.chat.apply(stream_id, incident, position, at, event);
        self.alerts.apply(incident, event);
        match incident {
            Some(number) => {
                self.paging.apply(number, position, at, actor, event);
                self.incidents.apply(number, at, actor, event);
                self.runs.apply(number, at, event);
            }
            None => self.shifts.apply(at, event),
        }
    }
}
