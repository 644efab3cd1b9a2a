//! Calendar layers fed from a URL: `warroom serve` fetches them, and a fetch that changes
//! the calendar is recorded as a new version of its schedule, in force from then on, so who
//! was on call at any past time stays as it was and replays without the URL.

use super::view::stream_id;
use super::CONFIG_VERSION_NAMESPACE;
use crate::app::{Pending, Warroom};
use crate::domain::event::Event;
use crate::domain::schedule::calendar::known_people;
use crate::domain::schedule::{Schedule, ScheduleSpec};
use crate::store::ExpectedVersion;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Whether two calendar texts say the same: line endings aside, and without the `DTSTAMP`
/// lines a calendar server writes anew for every export.
pub fn same_calendar(a: &str, b: &str) -> bool {
    let lines = |t: &str| {
        t.lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.starts_with("DTSTAMP"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    lines(a) == lines(b)
}

/// The spec with every fetched calendar left out: what the configuration says, whatever the
/// feed said last.
pub(super) fn without_fetched(spec: &ScheduleSpec) -> ScheduleSpec {
    let mut spec = spec.clone();
    for layer in &mut spec.layers {
        if layer.fetches_its_calendar() {
            layer.calendar = None;
            layer.calendar_people.clear();
        }
    }
    spec
}

/// Fills each fetched layer of `spec` with the calendar `earlier` has for the same URL, so
/// a changed configuration keeps what was fetched until the next fetch.
pub(super) fn with_fetched_from(
    spec: &ScheduleSpec,
    earlier: Option<&ScheduleSpec>,
) -> ScheduleSpec {
    let mut spec = spec.clone();
    let Some(earlier) = earlier else {
        return spec;
    };
    for layer in &mut spec.layers {
        if !layer.fetches_its_calendar() || layer.calendar.is_some() {
            continue;
        }
        if let Some(found) = earlier.layers.iter().find(|l| l.ical == layer.ical) {
            layer.calendar = found.calendar.clone();
            layer.calendar_people = found.calendar_people.clone();
        }
    }
    spec
}

impl Warroom {
    /// Takes a fetch of the calendar of `schedule`'s layer `layer`: when it differs from the
    /// calendar in force, records the schedule again with it from `now` (and each version to
    /// come after, so a roster change scheduled ahead keeps its time). `Ok(Err)` when the
    /// calendar cannot be used (it cannot be read, or names someone unknown in the next four
    /// weeks): the versions stay as they were. Returns whether a version was recorded.
    pub async fn calendar_fetched(
        &self,
        schedule: &str,
        layer: usize,
        text: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Result<bool, String>> {
        let Some(feed) = self
            .settings
            .schedules
            .get(schedule)
            .and_then(|c| c.feeds.iter().find(|f| f.layer == layer))
        else {
            return Ok(Err(format!(
                "{schedule} has no calendar URL in layer {layer}"
            )));
        };
        let known = known_people(
            &self.settings.directory,
            &self.settings.notifications.people,
        );
        let people = match crate::config::read_calendar(text, &known, now) {
            Ok(people) => people,
            Err(e) => return Ok(Err(e)),
        };
        let mut projection = self.projection.lock().await;
        self.catch_up(&mut projection).await?;
        let index = &projection.schedules;
        let mut changed = false;
        let mut events = Vec::new();
        for (from, spec) in index.specs_from(schedule, now) {
            let mut spec = spec.clone();
            for l in spec
                .layers
                .iter_mut()
                .filter(|l| l.ical.as_deref() == Some(&feed.shown))
            {
                let same = l
                    .calendar
                    .as_deref()
                    .is_some_and(|c| same_calendar(c, text))
                    && l.calendar_people == people;
                if !same {
                    l.calendar = Some(text.to_string());
                    l.calendar_people = people.clone();
                    changed = true;
                }
            }
            if !changed {
                continue;
            }
            if let Err(problems) = Schedule::from_recorded(&spec) {
                return Ok(Err(problems.join("; ")));
            }
            events.push(Event::ScheduleDefined {
                spec,
                effective_from: from.max(now),
                source: "calendar".into(),
            });
        }
        if events.is_empty() {
            return Ok(Ok(false));
        }
        let follows = index.last_position(schedule);
        let pending = events
            .into_iter()
            .map(|event| {
                // Named by what it follows, so two instances taking the same fetch keep one.
                let id = Uuid::new_v5(
                    &CONFIG_VERSION_NAMESPACE,
                    format!("{schedule}\0{follows}\0{}", event.to_payload()).as_bytes(),
                );
                (id, Pending::system(event, now))
            })
            .collect();
        let appended = self
            .append_ids(&stream_id(schedule), ExpectedVersion::Any, pending)
            .await;
        let recorded = match appended {
            Ok(a) => !a.already_stored,
            Err(crate::store::AppendError::DuplicateEventId { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        self.catch_up(&mut projection).await?;
        Ok(Ok(recorded))
    }
}
