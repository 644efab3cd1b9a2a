//! On-call schedules: who is on call at any time, as a pure function of a schedule's
//! recorded versions, its overrides and the time.
//!
//! A schedule has a zone and ordered layers. A layer is a rotation: people in order (a
//! `none` slot leaves its turns to the layers below), a turn length, an anchor (the local
//! start of the first turn, which also fixes the hand-off time) and optional windows in
//! which it is active. A later layer wins where it is active. Whether a turn that falls
//! wholly outside the windows uses up someone's turn is the layer's choice: by default the
//! rotation advances with the clock (as PagerDuty and GoAlert do), `masked_turns = "hold"`
//! makes it wait, so a daily weekday rotation skips nobody.
//!
//! Overrides come on top, in the order they were recorded: one replaces whoever is on call
//! in its period; a cover replaces only one named person. Roster changes are new versions
//! of the schedule, each effective from its own time, so the past stays as it was.

pub mod calendar;
pub mod ical;
pub mod orders;
pub mod report;
pub mod turns;
pub mod when;
pub mod windows;

use crate::domain::contacts::Directory;
use calendar::CalendarLayer;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use turns::{Turn, Turns};
use windows::Window;

/// A schedule as written in `warroom.toml` and recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub name: String,
    /// IANA zone of the anchors and windows; the configuration's zone when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Whoever this schedule hands the turn to also takes the `/oncall` shift (its
    /// summary is posted when it ends); at most one schedule says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shifts: bool,
    pub layers: Vec<LayerSpec>,
}

/// One layer of a schedule, as written: a rotation, or the shifts of a calendar (`ical`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `@handle` in turn order; `none` is a turn nobody on this layer takes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub people: Vec<String>,
    /// `12h`, `1d`, `1w`, `2w`, `1month`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub turn: String,
    /// The local start of the first turn: `2026-03-02T09:00`, or a date with `handoff`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub anchor: String,
    /// An iCalendar file (relative to the configuration) or `https://` URL whose events say
    /// who is on call, instead of a rotation. Recorded with the URL's secrets masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ical: Option<String>,
    /// How often a URL is fetched again; 30 minutes when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_minutes: Option<u32>,
    /// The calendar's text as it was read or fetched: written by warroom, not by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
    /// Which names of the calendar stand for whom (`name = "@handle"`), matched when it was
    /// read: written by warroom, not by hand.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub calendar_people: BTreeMap<String, String>,
    /// The local hand-off time when `anchor` is a date; 09:00 when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<String>,
    /// This layer's own zone (follow-the-sun); the schedule's when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// When the layer is active; always when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrict: Vec<WindowSpec>,
    /// `advance` (default) or `hold`: whether a turn wholly outside the windows uses up
    /// someone's turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked_turns: Option<String>,
}

impl LayerSpec {
    /// Whether the layer's calendar comes from a URL, which `warroom serve` fetches, rather
    /// than from a file read with the configuration.
    pub fn fetches_its_calendar(&self) -> bool {
        self.ical.as_deref().is_some_and(|s| {
            let s = s.trim_start();
            s.starts_with("https://") || s.starts_with("http://")
        })
    }
}

/// A window in which a layer is active, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpec {
    /// `mon-fri`, `sat`, …; every day when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<String>,
    /// `HH:MM`; 00:00 when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `HH:MM` or `24:00`; a time at or before `from` runs into the next day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// A schedule, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: String,
    pub zone: Tz,
    pub layers: Vec<Layer>,
}

/// A layer, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub name: String,
    pub kind: LayerKind,
}

/// What decides who a layer puts on call.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerKind {
    Rotation(Rotation),
    /// The events of a calendar; shared, as every version and roster holds the same one.
    Calendar(Arc<CalendarLayer>),
}

/// A rotation, checked: handles canonical, times read.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    /// `None` for a `none` slot.
    pub people: Vec<Option<String>>,
    pub turns: Turns,
    pub windows: Vec<Window>,
    /// A turn wholly outside the windows does not use up anyone's turn.
    pub hold_when_masked: bool,
}

/// The hand-off time when a layer's anchor is a date and none is given.
pub const DEFAULT_HANDOFF: &str = "09:00";

impl Schedule {
    /// Checks a schedule as written; `zone` is the configuration's, for a schedule without
    /// its own. Every mistake is reported, each naming its key under `key`.
    pub fn check(
        spec: &ScheduleSpec,
        zone: Tz,
        directory: &Directory,
        key: &str,
    ) -> Result<Schedule, Vec<String>> {
        Schedule::check_with(spec, zone, key, &|p| {
            directory.person(p).map(|c| c.handle.clone())
        })
    }

    /// Reads a schedule as the ledger recorded it: handles were checked and made canonical
    /// when it was recorded, and the zone written out, so reading it needs no directory and
    /// a contact removed later does not change the past.
    pub fn from_recorded(spec: &ScheduleSpec) -> Result<Schedule, Vec<String>> {
        Schedule::check_with(spec, chrono_tz::UTC, "recorded schedule", &|p| {
            Some(p.trim().trim_start_matches('@').to_string())
        })
    }

    /// The spec as it is recorded: the zone written out and every person by `@handle`, so
    /// [`Schedule::from_recorded`] reads the same schedule back.
    pub fn recorded_spec(&self, spec: &ScheduleSpec) -> ScheduleSpec {
        let mut recorded = spec.clone();
        recorded.name = self.name.clone();
        recorded.timezone = Some(self.zone.name().to_string());
        for (layer, checked) in recorded.layers.iter_mut().zip(&self.layers) {
            match &checked.kind {
                LayerKind::Rotation(rotation) => {
                    layer.people = rotation
                        .people
                        .iter()
                        .map(|p| p.as_ref().map_or("none".to_string(), |h| format!("@{h}")))
                        .collect();
                    layer.timezone = Some(rotation.turns.zone.name().to_string());
                }
                LayerKind::Calendar(calendar) => {
                    layer.calendar_people = calendar
                        .people()
                        .iter()
                        .map(|(name, handle)| (name.clone(), format!("@{handle}")))
                        .collect();
                }
            }
        }
        recorded
    }

    fn check_with(
        spec: &ScheduleSpec,
        zone: Tz,
        key: &str,
        person: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Schedule, Vec<String>> {
        let mut problems = Vec::new();
        let name = spec.name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            problems.push(format!(
                "{key}.name: '{}' must be letters, digits, '-', '_' or '.', as it is written in schedule:NAME and in URLs",
                spec.name
            ));
        }
        let zone = read_zone(&spec.timezone, key, &mut problems).unwrap_or(zone);
        if spec.layers.is_empty() {
            problems.push(format!("{key}.layers: a schedule needs at least one layer"));
        }
        let mut layers = Vec::new();
        for (i, l) in spec.layers.iter().enumerate() {
            let key = format!("{key}.layers[{i}]");
            let name = l.name.clone().unwrap_or_else(|| format!("layer {}", i + 1));
            let kind = if l.ical.is_some() {
                check_calendar_layer(l, &key, person, &mut problems).map(LayerKind::Calendar)
            } else {
                check_rotation(l, zone, &key, person, &mut problems).map(LayerKind::Rotation)
            };
            if let Some(kind) = kind {
                layers.push(Layer { name, kind });
            }
        }
        if problems.is_empty() {
            Ok(Schedule {
                name: name.to_string(),
                zone,
                layers,
            })
        } else {
            Err(problems)
        }
    }

    /// Who is on call in `[from, to)` by the layers alone, in order, gaps included.
    pub fn layered(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Span> {
        let per_layer: Vec<Vec<Segment>> = self
            .layers
            .iter()
            .map(|layer| layer.segments(from, to))
            .collect();
        stack(&self.layers, &per_layer, from, to)
    }
}

/// A zone as written, if one is; a problem under `key` when it is not a zone.
fn read_zone(name: &Option<String>, key: &str, problems: &mut Vec<String>) -> Option<Tz> {
    let n = name.as_ref()?;
    match n.parse::<Tz>() {
        Ok(z) => Some(z),
        Err(_) => {
            problems.push(format!(
                "{key}.timezone: '{n}' is not an IANA time zone; use e.g. Europe/Berlin"
            ));
            None
        }
    }
}

/// Checks a rotation layer as written.
fn check_rotation(
    l: &LayerSpec,
    zone: Tz,
    key: &str,
    person: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> Option<Rotation> {
    if l.refresh_minutes.is_some() || l.calendar.is_some() || !l.calendar_people.is_empty() {
        problems.push(format!(
            "{key}: refresh_minutes, calendar and calendar_people belong to a layer with ical = FILE or URL"
        ));
    }
    let layer_zone = read_zone(&l.timezone, key, problems).unwrap_or(zone);
    let people: Vec<Option<String>> = l
        .people
        .iter()
        .filter_map(|p| {
            if p.trim().eq_ignore_ascii_case("none") {
                return Some(None);
            }
            match person(p) {
                Some(handle) => Some(Some(handle)),
                None => {
                    problems.push(format!(
                        "{key}.people: '{p}' is not in [[contacts]]; write @handle or none"
                    ));
                    None
                }
            }
        })
        .collect();
    if l.people.is_empty() {
        problems.push(format!(
            "{key}.people: a layer needs at least one person (or none), or ical = FILE or URL"
        ));
    }
    let turn = Turn::parse(&l.turn)
        .map_err(|e| problems.push(format!("{key}.turn: {e}")))
        .ok();
    let anchor = read_anchor(&l.anchor, l.handoff.as_deref())
        .map_err(|e| problems.push(format!("{key}.anchor: {e}")))
        .ok();
    let windows: Vec<Window> = l
        .restrict
        .iter()
        .enumerate()
        .filter_map(|(j, w)| {
            read_window(w)
                .map_err(|e| problems.push(format!("{key}.restrict[{j}]: {e}")))
                .ok()
        })
        .collect();
    let hold_when_masked = match l.masked_turns.as_deref() {
        None | Some("advance") => false,
        Some("hold") => true,
        Some(other) => {
            problems.push(format!(
                "{key}.masked_turns = '{other}': use advance or hold"
            ));
            false
        }
    };
    Some(Rotation {
        people,
        turns: Turns {
            zone: layer_zone,
            anchor: anchor?,
            turn: turn?,
        },
        windows,
        hold_when_masked,
    })
}

/// Checks a calendar layer: its text as read (none yet for a URL not fetched) and its
/// names' people, canonical. A rotation's keys have no meaning on it and are refused, so
/// nobody believes a `restrict` or `timezone` narrows the calendar's events.
fn check_calendar_layer(
    l: &LayerSpec,
    key: &str,
    person: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> Option<Arc<CalendarLayer>> {
    let rotation_keys = [
        ("people", !l.people.is_empty()),
        ("turn", !l.turn.is_empty()),
        ("anchor", !l.anchor.is_empty()),
        ("handoff", l.handoff.is_some()),
        ("timezone", l.timezone.is_some()),
        ("restrict", !l.restrict.is_empty()),
        ("masked_turns", l.masked_turns.is_some()),
    ];
    let given: Vec<&str> = rotation_keys
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
    if !given.is_empty() {
        problems.push(format!(
            "{key}: {} belong to a rotation; a layer with ical takes who is on call and when from the calendar's events (move restrictions to the calendar, or make it a layer of its own)",
            given.join(", ")
        ));
    }
    if l.refresh_minutes == Some(0) {
        problems.push(format!(
            "{key}.refresh_minutes: 0 would fetch without pause; give minutes, e.g. 30"
        ));
    }
    let mut people = BTreeMap::new();
    for (name, handle) in &l.calendar_people {
        match person(handle) {
            Some(h) => {
                people.insert(name.clone(), h);
            }
            None => problems.push(format!(
                "{key}.calendar_people: '{handle}' (for '{name}') is not in [[contacts]]"
            )),
        }
    }
    match CalendarLayer::new(l.calendar.as_deref().unwrap_or(""), people) {
        Ok(layer) => Some(Arc::new(layer)),
        Err(e) => {
            problems.push(format!(
                "{key}: the calendar {} cannot be read: {e}",
                l.ical.as_deref().unwrap_or_default()
            ));
            None
        }
    }
}

/// `2026-03-02T09:00`, or `2026-03-02` with the hand-off time apart.
fn read_anchor(anchor: &str, handoff: Option<&str>) -> Result<NaiveDateTime, String> {
    let a = anchor.trim();
    if let Ok(t) = NaiveDateTime::parse_from_str(a, "%Y-%m-%dT%H:%M") {
        return match handoff {
            Some(_) => Err(format!(
                "'{anchor}' has a time and handoff gives another; give the time in one place"
            )),
            None => Ok(t),
        };
    }
    let date = NaiveDate::parse_from_str(a, "%Y-%m-%d").map_err(|_| {
        format!(
            "'{anchor}' is not a local date or date and time; write 2026-03-02 or 2026-03-02T09:00"
        )
    })?;
    let minutes = windows::parse_clock(handoff.unwrap_or(DEFAULT_HANDOFF), false)
        .map_err(|e| format!("handoff: {e}"))?;
    let midnight = date
        .and_hms_opt(0, 0, 0)
        .ok_or("no midnight on that date")?;
    Ok(midnight + chrono::Duration::minutes(minutes.into()))
}

/// Reads a window as written.
pub fn read_window(w: &WindowSpec) -> Result<Window, String> {
    let days = windows::parse_days(&w.days)?;
    let from = windows::parse_clock(w.from.as_deref().unwrap_or("00:00"), false)?;
    let to = windows::parse_clock(w.to.as_deref().unwrap_or("24:00"), true)?;
    Ok(Window { days, from, to })
}

/// One turn of one layer (or one event of a calendar layer), where it is active.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    person: String,
}

impl Layer {
    /// Who this layer puts on call in `[from, to)`, in order.
    fn segments(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Segment> {
        match &self.kind {
            LayerKind::Rotation(rotation) => rotation.segments(from, to),
            LayerKind::Calendar(calendar) => calendar.segments(from, to),
        }
    }

    /// The rotation, unless the layer comes from a calendar.
    pub fn rotation(&self) -> Option<&Rotation> {
        match &self.kind {
            LayerKind::Rotation(rotation) => Some(rotation),
            LayerKind::Calendar(_) => None,
        }
    }
}

impl Rotation {
    /// Whether turn `k` is active at all (for `hold`).
    fn turn_is_active(&self, k: i64) -> bool {
        match (self.turns.starts_at(k), self.turns.starts_at(k + 1)) {
            (Some(s), Some(e)) => windows::any_active(self.turns.zone, &self.windows, s, e),
            _ => false,
        }
    }

    /// How many of the turns before turn `first` are active (for `hold`). Windows repeat
    /// weekly on the wall clock, and so do turns after [`Turn::weekly_period`] of them, so
    /// the count is per period and a rotation anchored years ago costs no more to ask.
    fn active_turns_before(&self, first: i64) -> i64 {
        let count =
            |range: std::ops::Range<i64>| range.filter(|&k| self.turn_is_active(k)).count() as i64;
        match self.turns.turn.weekly_period() {
            Some(period) if first > 2 * period => {
                count(0..period) * (first / period) + count(0..first % period)
            }
            _ => count(0..first),
        }
    }

    /// Who this layer puts on call in `[from, to)`, in order; `none` turns and the times
    /// outside its windows are left out.
    fn segments(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Segment> {
        let n = self.people.len() as i64;
        if n == 0 || from >= to {
            return vec![];
        }
        let first = self.turns.index_at(from).max(0);
        // In `hold` mode, a turn's person is the number of active turns before it.
        let mut counted = if self.hold_when_masked {
            self.active_turns_before(first)
        } else {
            first
        };
        let mut found = Vec::new();
        let mut k = first;
        let bounds = |k: i64| Some((self.turns.starts_at(k)?, self.turns.starts_at(k + 1)?));
        while let Some((start, end)) = bounds(k).filter(|(start, _)| *start < to) {
            let spans =
                windows::active(self.turns.zone, &self.windows, start.max(from), end.min(to));
            let counts = if self.hold_when_masked {
                self.turn_is_active(k)
            } else {
                true
            };
            if let Some(person) = &self.people[counted.rem_euclid(n) as usize] {
                found.extend(spans.into_iter().map(|(a, b)| Segment {
                    start: a,
                    end: b,
                    person: person.clone(),
                }));
            }
            if counts {
                counted += 1;
            }
            k += 1;
        }
        found
    }
}

/// Why someone (or nobody) is on call for a span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The rotation of this layer.
    Layer { layer: String },
    /// An override or a cover, by whom, with its reference.
    Override { by: String, reference: String },
    /// Nobody: no layer is active and no override applies.
    Gap,
}

/// A stretch of time with one person (or nobody) on call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub person: Option<String>,
    pub source: Source,
}

/// Lays the layers' segments on top of each other, later layers above, over `[from, to)`.
fn stack(
    layers: &[Layer],
    per_layer: &[Vec<Segment>],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Span> {
    let mut cuts: Vec<DateTime<Utc>> = per_layer
        .iter()
        .flatten()
        .flat_map(|s| [s.start, s.end])
        .chain([from, to])
        .collect();
    cuts.sort();
    cuts.dedup();
    let mut cursor = vec![0usize; per_layer.len()];
    let mut spans: Vec<Span> = Vec::new();
    for pair in cuts.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let mut top: Option<(usize, &Segment)> = None;
        for (i, segments) in per_layer.iter().enumerate() {
            while cursor[i] < segments.len() && segments[cursor[i]].end <= a {
                cursor[i] += 1;
            }
            if let Some(s) = segments.get(cursor[i]).filter(|s| s.start <= a) {
                top = Some((i, s));
            }
        }
        let (person, source) = match top {
            Some((i, s)) => (
                Some(s.person.clone()),
                Source::Layer {
                    layer: layers[i].name.clone(),
                },
            ),
            None => (None, Source::Gap),
        };
        push_merged(
            &mut spans,
            Span {
                start: a,
                end: b,
                person,
                source,
            },
        );
    }
    spans
}

/// Appends a span, joining it to the last when they say the same.
fn push_merged(spans: &mut Vec<Span>, span: Span) {
    if span.start >= span.end {
        return;
    }
    match spans.last_mut() {
        Some(last)
            if last.end == span.start
                && last.person == span.person
                && last.source == span.source =>
        {
            last.end = span.end
        }
        _ => spans.push(span),
    }
}

/// Someone put on call over whoever the schedule says, for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// The handle put on call.
    pub person: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// A cover: only where this handle would be on call. `None`: whoever is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// Who made it.
    pub by: String,
    /// The short reference of the event that recorded it, to cancel it by.
    pub reference: String,
}

impl Override {
    /// Applies this override to a resolved stretch of spans.
    fn apply(&self, spans: Vec<Span>) -> Vec<Span> {
        let mut out = Vec::with_capacity(spans.len() + 2);
        for span in spans {
            let hit = span.start < self.to
                && self.from < span.end
                && self
                    .replaces
                    .as_ref()
                    .is_none_or(|r| span.person.as_ref() == Some(r));
            if !hit {
                push_merged(&mut out, span);
                continue;
            }
            let (a, b) = (span.start.max(self.from), span.end.min(self.to));
            push_merged(
                &mut out,
                Span {
                    end: a,
                    ..span.clone()
                },
            );
            push_merged(
                &mut out,
                Span {
                    start: a,
                    end: b,
                    person: Some(self.person.clone()),
                    source: Source::Override {
                        by: self.by.clone(),
                        reference: self.reference.clone(),
                    },
                },
            );
            push_merged(&mut out, Span { start: b, ..span });
        }
        out
    }
}

/// A version of a schedule and the time from which it holds; `None` when the schedule was
/// removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub effective_from: DateTime<Utc>,
    pub schedule: Option<Schedule>,
}

/// Everything that decides who is on call for one schedule: its versions in order of
/// effect and its overrides in the order they were recorded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Roster {
    pub versions: Vec<Version>,
    pub overrides: Vec<Override>,
}

impl Roster {
    /// Adds a version; one recorded later with the same or an earlier effective time
    /// replaces what it covers, since the newest decision about a time wins.
    pub fn add_version(&mut self, version: Version) {
        self.versions
            .retain(|v| v.effective_from < version.effective_from);
        self.versions.push(version);
    }

    /// Who is on call in `[from, to)`, in order, gaps included.
    pub fn resolve(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Span> {
        let mut spans = Vec::new();
        if from >= to {
            return spans;
        }
        let gap = |a, b| Span {
            start: a,
            end: b,
            person: None,
            source: Source::Gap,
        };
        let first = self.versions.first().map_or(to, |v| v.effective_from);
        push_merged(&mut spans, gap(from, first.min(to)));
        for (i, v) in self.versions.iter().enumerate() {
            let until = self.versions.get(i + 1).map_or(to, |n| n.effective_from);
            let (a, b) = (v.effective_from.max(from), until.min(to));
            if a >= b {
                continue;
            }
            match &v.schedule {
                Some(s) => s
                    .layered(a, b)
                    .into_iter()
                    .for_each(|span| push_merged(&mut spans, span)),
                None => push_merged(&mut spans, gap(a, b)),
            }
        }
        self.overrides
            .iter()
            .filter(|o| o.from < to && from < o.to)
            .fold(spans, |spans, o| o.apply(spans))
    }

    /// Who is on call at `t`, if anyone.
    pub fn on_call_at(&self, t: DateTime<Utc>) -> Option<String> {
        self.resolve(t, t + chrono::Duration::seconds(1))
            .into_iter()
            .next()
            .and_then(|s| s.person)
    }

    /// The schedule in force at `t`.
    pub fn version_at(&self, t: DateTime<Utc>) -> Option<&Schedule> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.effective_from <= t)
            .and_then(|v| v.schedule.as_ref())
    }
}

/// The span holding `t` in a resolved, ordered list.
pub fn span_at(spans: &[Span], t: DateTime<Utc>) -> Option<&Span> {
    let i = spans.partition_point(|s| s.end <= t);
    spans.get(i).filter(|s| s.start <= t)
}

/// The gaps of a resolved list: when nobody is on call.
pub fn gaps(spans: &[Span]) -> impl Iterator<Item = &Span> {
    spans.iter().filter(|s| s.person.is_none())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
use tests as tests_support;
