//! iCalendar (RFC 5545) for on-call shifts: a schedule's shifts rendered as a feed calendar
//! clients subscribe to, and the shifts of an exported calendar (Google Calendar, Grafana
//! OnCall) read back, recurrences expanded, for a schedule layer to take its people from.
//!
//! Pure: no IO and no clock. The reading side covers what on-call calendars use: UTC, IANA
//! `TZID`, floating and all-day times, `DURATION`, `RRULE` (daily, weekly and monthly, with
//! `INTERVAL`, `COUNT`, `UNTIL`, `BYDAY`, `BYMONTHDAY`, `WKST`), `RDATE`, `EXDATE`,
//! `RECURRENCE-ID` overrides and cancelled events. Anything else that would change when a
//! shift happens is refused with the line it is on, never skipped: a wrong calendar pages
//! the wrong person.
//!
//! Recurrences are expanded by hand rather than with the `rrule` crate: its iterator ends an
//! expansion it finds too long with only a log line, it can drop an occurrence on a day
//! whose local midnight the clocks skip, and its parser reads floating times on the
//! machine's zone. The subset here is small, and it reads skipped and repeated wall-clock
//! times with [`instant`](super::turns::instant), exactly as the schedules do.

mod events;
mod export;
#[cfg(test)]
mod fixture;
mod lines;
mod recur;
mod rrule;
mod times;

pub use events::{parse_shifts, Calendar, ImportedShift};
pub use export::{render_calendar, CalendarFeed, FeedShift};
pub use recur::MAX_OCCURRENCES;

/// Why a calendar could not be read. Lines are the file's physical lines, from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcalError {
    #[error("not an iCalendar file: it does not begin with BEGIN:VCALENDAR")]
    NotACalendar,
    #[error("line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("line {line}: {what} is not supported")]
    Unsupported { line: usize, what: String },
    #[error(
        "line {line}: expanding the recurrences up to the end of the window takes more than \
         {limit} occurrences; import a shorter window or split the rule"
    )]
    TooManyOccurrences { line: usize, limit: usize },
}
