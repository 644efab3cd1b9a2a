//! Follow-up actions filed as issues: which actions of an incident have no issue yet, and
//! recording the issue the tracker made. The tracker itself is called by the delivery
//! worker (`notify::followups`), the only place that speaks HTTP.

use super::delivery::Delivery;
use super::Warroom;
use crate::domain::event::Event;
use crate::domain::followups::incident_title;
use crate::domain::postmortem::{action_plan, ActionItem};
use crate::domain::types::IncidentNumber;
use uuid::Uuid;

/// Ids of `ActionIssueLinked` events: one per incident and action, so recording the same
/// issue twice (two deliveries racing) keeps one.
const FOLLOWUP_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5f0c_77a1_3d2e_4b8a_9c61_0e2d_7a4b_1f93);

/// An action to file.
#[derive(Debug, Clone)]
pub struct UnfiledAction {
    pub incident: IncidentNumber,
    pub incident_title: String,
    /// `n` of `A{n}`.
    pub number: u32,
    pub action: ActionItem,
}

impl Warroom {
    /// The incident's actions that have no issue yet, in the order added.
    pub async fn unfiled_actions(
        &self,
        incident: IncidentNumber,
    ) -> anyhow::Result<Vec<UnfiledAction>> {
        let records = self.incident_records(incident).await?;
        let title = incident_title(&records);
        Ok(action_plan(&records, &self.settings.directory)
            .into_iter()
            .zip(1..)
            .filter(|(a, _)| a.issue_url.is_none())
            .map(|(action, number)| UnfiledAction {
                incident,
                incident_title: title.clone(),
                number,
                action,
            })
            .collect())
    }

    /// Records that action `A{action}` of the incident is the tracker's issue `issue`.
    pub async fn link_issue(
        &self,
        incident: IncidentNumber,
        action: u32,
        tracker: &str,
        issue: &str,
        url: &str,
    ) -> anyhow::Result<()> {
        let id = Uuid::new_v5(
            &FOLLOWUP_ID_NAMESPACE,
            format!("{incident}/A{action}").as_bytes(),
        );
        let event = Event::ActionIssueLinked {
            action,
            tracker: tracker.to_string(),
            issue: issue.to_string(),
            url: url.to_string(),
        };
        self.record_system_fact(incident, id, event).await?;
        Ok(())
    }

    /// Asks the delivery worker to file the incident's new actions, when a tracker is set.
    pub(super) fn file_follow_ups(&self, incident: IncidentNumber, events: &[Event]) {
        if self.settings.followups.is_some()
            && events
                .iter()
                .any(|e| matches!(e, Event::ActionAdded { .. }))
        {
            self.queue(Delivery::FollowUps { incident });
        }
    }
}
