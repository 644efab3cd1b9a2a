//! The Action Plan section: the follow-up actions, each with its owner and due date when
//! given.

use super::names::Names;
use super::ActionItem;
use crate::domain::event::{Event, Recorded};

#[derive(Default)]
pub(super) struct ActionPlan {
    items: Vec<ActionItem>,
}

impl ActionPlan {
    pub(super) fn see(&mut self, r: &Recorded, names: &Names) {
        if let Event::ActionAdded { text, owner, due } = r.event.unwrapped() {
            self.items.push(ActionItem {
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
