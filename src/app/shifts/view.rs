//! What the projection keeps about on-call shifts: the one running now and the highest
//! number taken.

use crate::domain::event::Event;
use crate::domain::shift::Shift;
use chrono::{DateTime, Utc};

/// Who is on call.
#[derive(Debug, Default)]
pub struct ShiftIndex {
    current: Option<Shift>,
    max_number: u32,
}

impl ShiftIndex {
    /// Folds one event of a stream that is not an incident's.
    pub fn apply(&mut self, at: DateTime<Utc>, event: &Event) {
        match event.unwrapped() {
            Event::ShiftStarted {
                number,
                person,
                handed_over_from,
            } => {
                self.max_number = self.max_number.max(*number);
                self.current = Some(Shift {
                    number: *number,
                    person: person.clone(),
                    started_at: at,
                    ended_at: None,
                    handed_over_from: handed_over_from.clone(),
                    handed_over_to: None,
                });
            }
            Event::ShiftEnded { number, .. }
                if self.current.as_ref().is_some_and(|s| s.number == *number) =>
            {
                self.current = None;
            }
            _ => {}
        }
    }

    /// The shift running now, if anyone is on call.
    pub fn current(&self) -> Option<&Shift> {
        self.current.as_ref()
    }

    /// The number the next shift takes.
    pub fn next_number(&self) -> u32 {
        self.max_number + 1
    }
}
