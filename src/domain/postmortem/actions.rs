//! The Action Plan section: the follow-up actions, each with its short id (`A1`, in the order
//! added), its owner and due date when given, and when it was done.

use super::names::Names;
use super::ActionItem;
use crate::domain::event::{Event, Recorded};

#[derive(Default)]
pub(super) struct ActionPlan {
    items: Vec<ActionItem>,
}

impl ActionPlan {
    pub(super) fn see(&mut self, r: &Recorded, names: &Names) {
        if let Event::ActionIssueLinked { action, url, .. } = r.event.unwrapped() {
            if let Some(item) = self.items.get_mut((*action as usize).wrapping_sub(1)) {
                item.issue_url = Some(url.clone());
            }
        }
        if let Event::ActionCompleted { action } = r.event.unwrapped() {
            if let Some(item) = self.items.get_mut((*action as usize).wrapping_sub(1)) {
                item.done_at = Some(r.at);
                item.done_by = Some(names.canonical(&r.actor));
                item.done_event_id = Some(r.event_id);
            }
        }
        if let Event::ActionAdded { text, owner, due } = r.event.unwrapped() {
            self.items.push(ActionItem {
                id: format!("A{}", self.items.len() + 1),
                done_at: None,
                done_by: None,
                done_event_id: None,
                issue_url: None,
                text: text.clone(),
                owner: owner.as_deref().map(|o| names.canonical(o)),
                due: *due,
                author: names.canonical(&r.actor),
                event_id: r.event_id,
                owner_shown_as: owner.as_deref().map(|o| names.resolve(o).shown.clone()),
            });
        }
    }

    /// The actions in the order they were added.
    pub(super) fn finish(self) -> Vec<ActionItem> {
        self.items
    }
}
