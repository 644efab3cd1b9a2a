//! The Resolution section: the resolution notes and the runs that finished, in the order they
//! happened.

use super::names::Names;
use super::runs::Runs;
use super::Note;
use crate::domain::event::{Event, Recorded};

#[derive(Default)]
pub(super) struct Resolution {
    notes: Vec<Note>,
}

impl Resolution {
    /// Takes a resolution note, or the line of a run that finished (`runs` knows who asked).
    pub(super) fn see(&mut self, r: &Recorded, names: &Names, runs: &Runs) {
        match r.event.unwrapped() {
            Event::ResolutionNoted { text } => self.notes.push(Note {
                text: text.clone(),
                author: names.canonical(&r.actor),
                event_id: r.event_id,
                from_run: false,
            }),
            Event::RunbookFinished {
                run,
                outcome,
                message,
            } => self
                .notes
                .extend(runs.resolution(r, names, *run, outcome, message)),
            _ => {}
        }
    }

    pub(super) fn finish(self) -> Vec<Note> {
        self.notes
    }
}
