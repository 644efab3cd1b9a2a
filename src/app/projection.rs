//! The in-memory read model the use cases route by, one view per feature slice (incidents,
//! chat, alerts, paging, runs, shifts, schedules, releases, deploys). Rebuilt from the ledger at
//! start-up and kept current by reading what was appended since; never written anywhere
//! but memory.

use super::alerts::view::AlertIndex;
use super::chat::view::ChatIndex;
use super::deploys::view::DeployIndex;
use super::incidents::view::IncidentIndex;
use super::notifications::view::NotificationIndex;
use super::paging::view::PagingIndex;
use super::releases::view::ReleaseIndex;
use super::runs::view::RunIndex;
use super::schedules::view::ScheduleIndex;
use super::shifts::view::ShiftIndex;
use crate::domain::event::Recorded;
use crate::domain::types::IncidentNumber;

/// Every slice's view, and the last ledger position folded into them.
#[derive(Debug, Default)]
pub struct Projection {
    /// The last global position applied.
    pub position: i64,
    pub incidents: IncidentIndex,
    pub chat: ChatIndex,
    pub alerts: AlertIndex,
    pub paging: PagingIndex,
    /// Pages to people and their notifications, until acknowledged.
    pub notifications: NotificationIndex,
    pub runs: RunIndex,
    pub shifts: ShiftIndex,
    /// On-call schedules, their versions and overrides.
    pub schedules: ScheduleIndex,
    /// Releases and which are published (`release-N` streams).
    pub releases: ReleaseIndex,
    /// Every deploy recorded (`deploys-SERVICE` streams).
    pub deploys: DeployIndex,
}

impl Projection {
    /// Folds one recorded event of a stream into every view that keeps something of it.
    pub fn apply(&mut self, stream_id: &str, r: &Recorded) {
        let (position, at, actor, event) = (r.position, r.at, r.actor.as_str(), &r.event);
        self.position = self.position.max(position);
        let incident = IncidentNumber::from_stream_id(stream_id);
        self.releases.apply(stream_id, position, event);
        self.deploys.apply(stream_id, at, event);
        self.chat.apply(stream_id, incident, position, at, event);
        self.alerts.apply(incident, event);
        match incident {
            Some(number) => {
                self.paging.apply(number, position, at, actor, event);
                self.notifications.apply(number, at, event);
                self.incidents.apply(number, at, actor, event);
                self.runs.apply(number, at, event);
            }
            None => {
                self.shifts.apply(at, event);
                self.schedules.apply(stream_id, r);
            }
        }
    }
}
