//! Grafana OnCall: users, teams, schedules with their on-call shifts, escalation chains with
//! their policies, from the public HTTP API v1, as warroom contacts, teams, schedules and
//! escalation policies.
//!
//! The export is one JSON object holding the `results` list of each of these responses, under
//! the name of its endpoint (every list is paged: follow `next` until it is null):
//!
//! ```text
//! {
//!   "users":                       `GET /api/v1/users/` .results,
//!   "teams":                       `GET /api/v1/teams/` .results                       (optional),
//!   "schedules":                   `GET /api/v1/schedules/` .results,
//!   "on_call_shifts":              `GET /api/v1/on_call_shifts/` .results,
//!   "escalation_chains":           `GET /api/v1/escalation_chains/` .results           (optional),
//!   "escalation_policies":         `GET /api/v1/escalation_policies/` .results         (optional),
//!   "personal_notification_rules": `GET /api/v1/personal_notification_rules/` .results (optional)
//! }
//! ```
//!
//! made by, for example (`$ONCALL_API_URL` is the API URL the OnCall settings show, `$TOKEN`
//! an API token; this takes the first page of each list):
//!
//! ```text
//! gc() { curl -sf -H "Authorization: $TOKEN" "$ONCALL_API_URL/api/v1/$1/" | jq .results; }
//! jq -n --argjson u "$(gc users)" --argjson t "$(gc teams)" --argjson s "$(gc schedules)" \
//!   --argjson o "$(gc on_call_shifts)" --argjson c "$(gc escalation_chains)" \
//!   --argjson p "$(gc escalation_policies)" --argjson n "$(gc personal_notification_rules)" \
//!   '{users: $u, teams: $t, schedules: $s, on_call_shifts: $o, escalation_chains: $c,
//!     escalation_policies: $p, personal_notification_rules: $n}' > grafana-oncall.json
//! ```
//!
//! A schedule's `shifts` are its layers, lowest `level` first since the higher level wins, as
//! the later layer does in warroom. A `rolling_users` shift hands on to the next list of
//! `rolling_users` every `interval` × `frequency` (at `week_start` for weekly shifts, on the
//! 1st for monthly ones); each occurrence runs `duration` seconds from `start`'s time of day
//! on the shift's `time_zone` clock (the schedule's when null), on `by_day` days when given:
//! those occurrences become the layer's windows. A daily shift limited to some days skips the
//! other days without using up anyone's turn, which is warroom's `masked_turns = "hold"`. A
//! `recurrent_event` is a layer of one turn-holder. Patterns that do not repeat weekly
//! (`by_month`, `by_monthday`, an interval above 1 with gaps between occurrences) and one-off
//! shifts and overrides are listed as not imported.
//!
//! An escalation chain's policies, in `position` order, become steps: the notify policies with
//! no `wait` between them page together, a `wait` is the step's `wait_minutes`, and a final
//! `repeat_escalation` is warroom's `repeat` (Grafana repeats at most 5 times).

use super::{
    checked_turn, layer, read_export, read_zone, weekday_index, Draft, ImportError, ImportSource,
    WeekMask, NONE,
};
use crate::domain::event::EscalationStep;
use crate::domain::schedule::turns::instant;
use crate::domain::schedule::ScheduleSpec;
use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::HashMap;

const TOOL: ImportSource = ImportSource::GrafanaOncall;

/// How many times Grafana OnCall's `repeat_escalation` runs the chain again, at most.
const GRAFANA_REPEATS: u64 = 5;

#[derive(Debug, Deserialize)]
struct Export {
    users: Vec<User>,
    #[serde(default)]
    teams: Vec<Team>,
    #[serde(default)]
    schedules: Vec<Schedule>,
    #[serde(default)]
    on_call_shifts: Vec<Shift>,
    #[serde(default)]
    escalation_chains: Vec<Chain>,
    #[serde(default)]
    escalation_policies: Vec<Policy>,
    #[serde(default)]
    personal_notification_rules: Vec<NotificationRule>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    email: Option<String>,
    username: String,
    /// Not in every version's answer; the username stands in for it.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    teams: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Team {
    id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Schedule {
    id: String,
    name: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    shifts: Option<Vec<String>>,
    #[serde(default)]
    ical_url_overrides: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Shift {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    level: i64,
    start: String,
    duration: u64,
    #[serde(default)]
    rotation_start: Option<String>,
    #[serde(default)]
    frequency: Option<String>,
    #[serde(default)]
    interval: Option<u32>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    week_start: Option<String>,
    #[serde(default)]
    by_day: Option<Vec<String>>,
    #[serde(default)]
    by_month: Option<Vec<i64>>,
    #[serde(default)]
    by_monthday: Option<Vec<i64>>,
    #[serde(default)]
    users: Option<Vec<String>>,
    #[serde(default)]
    rolling_users: Option<Vec<Vec<String>>>,
    #[serde(default)]
    start_rotation_from_user_index: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct Chain {
    id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Policy {
    escalation_chain_id: String,
    #[serde(default)]
    position: i64,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    duration: Option<u64>,
    #[serde(default)]
    important: Option<bool>,
    #[serde(default)]
    persons_to_notify: Option<Vec<String>>,
    #[serde(default)]
    notify_on_call_from_schedule: Option<String>,
    #[serde(default)]
    team_to_notify: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NotificationRule {
    user_id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    important: Option<bool>,
}

/// Reads a Grafana OnCall export.
pub(super) fn read(export: &str, now: DateTime<Utc>) -> Result<Draft, ImportError> {
    let export: Export = read_export(TOOL, export)?;
    let mut draft = Draft::new(TOOL);
    let mut teams: HashMap<String, String> = HashMap::new();
    for t in &export.teams {
        teams.insert(t.id.clone(), draft.team(&t.name));
    }
    let mut handles: HashMap<String, String> = HashMap::new();
    for u in &export.users {
        let team = u.teams.iter().find_map(|id| teams.get(id)).cloned();
        let wanted = if u.username.trim().is_empty() {
            u.email.as_deref().unwrap_or(&u.id)
        } else {
            &u.username
        };
        let handle = draft.person(
            wanted,
            u.name.as_deref().unwrap_or(&u.username),
            team.clone(),
        );
        if u.teams.len() > 1 {
            draft.unmapped(format!(
                "@{handle} is in {} teams: a warroom contact has one team, so {} was kept",
                u.teams.len(),
                team.unwrap_or_default()
            ));
        }
        handles.insert(u.id.clone(), handle);
    }
    let mut seen_methods: Vec<(String, String)> = Vec::new();
    for r in &export.personal_notification_rules {
        let Some(handle) = handles.get(&r.user_id) else {
            continue;
        };
        let Some(method) = r.kind.strip_prefix("notify_by_") else {
            continue;
        };
        let method = if r.important == Some(true) {
            format!("{method} (important)")
        } else {
            method.to_string()
        };
        if seen_methods.contains(&(handle.clone(), method.clone())) {
            continue;
        }
        draft.unmapped(format!(
            "contact method '{method}' of @{handle}: contact methods are not imported yet; warroom pages through [[pagers]]"
        ));
        seen_methods.push((handle.clone(), method));
    }

    let shifts: HashMap<&str, (usize, &Shift)> = export
        .on_call_shifts
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), (i, s)))
        .collect();
    let mut schedule_names: HashMap<String, String> = HashMap::new();
    for (i, s) in export.schedules.iter().enumerate() {
        let path = format!("schedules[{i}]");
        let name = draft.schedule_name(&s.name);
        if s.kind.as_deref() == Some("ical") {
            draft.unmapped(format!(
                "schedule '{name}': an iCal schedule follows an outside calendar, which warroom cannot; not imported"
            ));
            continue;
        }
        let zone_name = s.time_zone.clone().unwrap_or_else(|| "UTC".to_string());
        let zone = read_zone(TOOL, &format!("{path}.time_zone"), &zone_name)?;
        if s.ical_url_overrides
            .as_deref()
            .is_some_and(|u| !u.is_empty())
        {
            draft.unmapped(format!(
                "schedule '{name}': its overrides calendar is not imported; make overrides in warroom"
            ));
        }
        let team = s.team_id.as_ref().and_then(|t| teams.get(t)).cloned();
        let mut found: Vec<(usize, &Shift)> = Vec::new();
        for id in s.shifts.iter().flatten() {
            match shifts.get(id.as_str()) {
                Some(shift) => found.push(*shift),
                None => draft.unmapped(format!(
                    "schedule '{name}': shift {id} is not among the export's on_call_shifts; left out"
                )),
            }
        }
        // Lowest level first: in warroom the later layer wins.
        found.sort_by_key(|(_, shift)| shift.level);
        let mut layers = Vec::new();
        let mut masks: Vec<(i64, String, WeekMask)> = Vec::new();
        for (k, shift) in found {
            let path = format!("on_call_shifts[{k}]");
            let label = shift.name.clone().unwrap_or_else(|| shift.id.clone());
            let what = format!("schedule '{name}' shift '{label}'");
            if let Some((layer, active)) =
                shift_layer(&mut draft, shift, &path, &what, zone, &handles, now)?
            {
                masks.push((shift.level, label.clone(), active));
                if let Some(team) = &team {
                    for p in &layer.people {
                        if let Some(h) = p.strip_prefix('@') {
                            draft.on_schedule_of(h, team);
                        }
                    }
                }
                layers.push(layer);
            }
        }
        if layers.is_empty() {
            draft.unmapped(format!(
                "schedule '{name}': no shift could be imported; schedule not written"
            ));
            continue;
        }
        // Shifts of one level that overlap are on call together in Grafana.
        let mut levels: Vec<i64> = masks.iter().map(|(level, _, _)| *level).collect();
        levels.dedup();
        for level in levels {
            let same: Vec<(String, WeekMask)> = masks
                .iter()
                .filter(|(l, _, _)| *l == level)
                .map(|(_, label, m)| (label.clone(), m.clone()))
                .collect();
            draft.note_overlaps(
                &name,
                &same,
                "Grafana OnCall puts the people of overlapping shifts of one level on call together",
            );
        }
        schedule_names.insert(s.id.clone(), name.clone());
        draft.add_schedule(ScheduleSpec {
            name,
            timezone: Some(zone.name().to_string()),
            shifts: false,
            layers,
        });
    }

    for chain in &export.escalation_chains {
        let name = draft.escalation_name(&chain.name);
        let mut policies: Vec<&Policy> = export
            .escalation_policies
            .iter()
            .filter(|p| p.escalation_chain_id == chain.id)
            .collect();
        policies.sort_by_key(|p| p.position);
        let mut steps: Vec<EscalationStep> = Vec::new();
        let mut repeat = 0;
        for (j, p) in policies.iter().enumerate() {
            let what = format!("escalation '{name}' step {}", j + 1);
            let kind = p.kind.as_deref().unwrap_or("(none)");
            let mut targets = Vec::new();
            match kind {
                "wait" => {
                    let minutes = p.duration.unwrap_or(0) / 60;
                    match steps.last_mut() {
                        Some(last) => last.wait_minutes += minutes as u32,
                        // A wait before anyone is paged: kept as a step with no target,
                        // which the draft reports.
                        None => steps.push(EscalationStep {
                            targets: vec![],
                            wait_minutes: minutes as u32,
                            ..EscalationStep::default()
                        }),
                    }
                    continue;
                }
                "notify_persons" => {
                    for id in p.persons_to_notify.iter().flatten() {
                        match handles.get(id) {
                            Some(h) => targets.push(format!("@{h}")),
                            None => draft.unmapped(format!(
                                "{what}: user {id} is not among the export's users; left out"
                            )),
                        }
                    }
                }
                "notify_on_call_from_schedule" => {
                    let id = p.notify_on_call_from_schedule.clone().unwrap_or_default();
                    match schedule_names.get(&id) {
                        Some(s) => targets.push(format!("schedule:{s}")),
                        None => draft
                            .unmapped(format!("{what}: schedule {id} was not imported; left out")),
                    }
                }
                "notify_team_members" => {
                    let id = p.team_to_notify.clone().unwrap_or_default();
                    match teams.get(&id).cloned() {
                        Some(t) => targets.push(draft.team_target(&t)),
                        None => draft.unmapped(format!(
                            "{what}: team {id} is not among the export's teams; left out"
                        )),
                    }
                }
                "repeat_escalation" if j + 1 == policies.len() => {
                    repeat = GRAFANA_REPEATS;
                    continue;
                }
                "notify_person_next_each_time" => {
                    draft.unmapped(format!(
                        "{what}: notifying the next person each time has no warroom counterpart; left out"
                    ));
                }
                other => {
                    draft.unmapped(format!(
                        "{what}: '{other}' has no warroom counterpart; left out"
                    ));
                }
            }
            if p.important == Some(true) && !targets.is_empty() {
                draft.unmapped(format!(
                    "{what}: pages with the 'important' notification rules, which warroom does not have; imported as an ordinary page"
                ));
            }
            if targets.is_empty() {
                continue;
            }
            // Notify policies with no wait between them page at the same moment.
            match steps.last_mut() {
                Some(last) if last.wait_minutes == 0 => last.targets.extend(targets),
                _ => steps.push(EscalationStep {
                    targets,
                    wait_minutes: 0,
                    ..EscalationStep::default()
                }),
            }
        }
        draft.add_escalation(name, steps, repeat);
    }
    Ok(draft)
}

/// A shift as a layer, or `None` (and a line for the reviewer) when warroom cannot say it.
fn shift_layer(
    draft: &mut Draft,
    shift: &Shift,
    path: &str,
    what: &str,
    schedule_zone: Tz,
    handles: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Option<(crate::domain::schedule::LayerSpec, WeekMask)>, ImportError> {
    let groups: Vec<Vec<String>> = match shift.kind.as_str() {
        "rolling_users" => {
            let mut groups = shift.rolling_users.clone().unwrap_or_default();
            let from = shift.start_rotation_from_user_index.unwrap_or(0);
            if from < groups.len() {
                groups.rotate_left(from);
            }
            groups
        }
        "recurrent_event" => vec![shift.users.clone().unwrap_or_default()],
        "override" => {
            draft.unmapped(format!(
                "{what}: an override; warroom's overrides are made in chat, not configured"
            ));
            return Ok(None);
        }
        other => {
            draft.unmapped(format!(
                "{what}: a '{other}' shift happens once; warroom schedules only rotations"
            ));
            return Ok(None);
        }
    };
    let zone = match &shift.time_zone {
        Some(z) => read_zone(TOOL, &format!("{path}.time_zone"), z)?,
        None => schedule_zone,
    };
    let start = read_local(&format!("{path}.start"), &shift.start)?;
    let rotation_start = match &shift.rotation_start {
        Some(r) => Some(instant(
            zone,
            read_local(&format!("{path}.rotation_start"), r)?,
        )),
        None => None,
    };
    let until = match &shift.until {
        Some(u) => Some(instant(zone, read_local(&format!("{path}.until"), u)?)),
        None => None,
    };
    if !draft.keep_layer(what, rotation_start, until, now) {
        return Ok(None);
    }
    let mut people = Vec::new();
    for group in &groups {
        let known: Vec<&String> = group.iter().filter_map(|id| handles.get(id)).collect();
        for id in group.iter().filter(|id| !handles.contains_key(*id)) {
            draft.unmapped(format!(
                "{what}: user {id} is not among the export's users; left out"
            ));
        }
        match known.split_first() {
            None => people.push(NONE.to_string()),
            Some((first, rest)) => {
                if !rest.is_empty() {
                    let rest: Vec<String> = rest.iter().map(|h| format!("@{h}")).collect();
                    draft.unmapped(format!(
                        "{what}: @{first} and {} are on call together, and a warroom layer has one person at a time; {} left out",
                        rest.join(", "),
                        rest.join(", ")
                    ));
                }
                people.push(format!("@{first}"));
            }
        }
    }
    if people.iter().all(|p| p == NONE) {
        draft.unmapped(format!(
            "{what}: nobody warroom knows is in it; not imported"
        ));
        return Ok(None);
    }
    let pattern = match pattern(shift, start) {
        Ok(p) => p,
        Err(why) => {
            draft.unmapped(format!("{what}: {why}; not imported"));
            return Ok(None);
        }
    };
    if let Some(note) = pattern.note {
        draft.unmapped(format!("{what}: {note}"));
    }
    let turn = match checked_turn(&pattern.turn) {
        Ok(t) => t,
        Err(e) => {
            draft.unmapped(format!("{what}: {e}; not imported"));
            return Ok(None);
        }
    };
    if pattern.mask.as_ref().is_some_and(WeekMask::is_empty) {
        draft.unmapped(format!("{what}: it lasts no time at all; not imported"));
        return Ok(None);
    }
    let active = pattern.mask.unwrap_or_else(WeekMask::full);
    let restrict = active.windows();
    let timezone = (zone != schedule_zone).then(|| zone.name().to_string());
    let label = shift.name.clone().unwrap_or_else(|| shift.id.clone());
    let layer = layer(
        &label,
        people,
        turn,
        pattern.anchor,
        timezone,
        restrict,
        pattern.hold,
    );
    Ok(Some((layer, active)))
}

/// A shift's recurrence in warroom's terms.
struct Pattern {
    turn: String,
    anchor: NaiveDateTime,
    /// When occurrences run; `None` for always.
    mask: Option<WeekMask>,
    hold: bool,
    note: Option<String>,
}

/// Reads a shift's recurrence, or says why it does not repeat week by week.
fn pattern(shift: &Shift, start: NaiveDateTime) -> Result<Pattern, String> {
    if shift.by_month.as_ref().is_some_and(|m| !m.is_empty())
        || shift.by_monthday.as_ref().is_some_and(|m| !m.is_empty())
    {
        return Err("by_month and by_monthday have no warroom counterpart".into());
    }
    let n = shift.interval.unwrap_or(1).max(1);
    let of_day = start.hour() * 60 + start.minute();
    // Occurrences shorter than a minute do not count; seconds are rounded down.
    let minutes = (shift.duration / 60).min(u64::from(super::WEEK_MINUTES)) as u32;
    let mut days: Vec<u32> = Vec::new();
    for d in shift.by_day.iter().flatten() {
        days.push(weekday_index(d).ok_or_else(|| format!("by_day '{d}' is not a weekday"))?);
    }
    let weekly_mask = |days: &[u32]| {
        let mut m = WeekMask::new();
        for d in days {
            m.add(d * 1440 + of_day, minutes);
        }
        m
    };
    let frequency = shift.frequency.as_deref().unwrap_or("(none)");
    let unit_minutes: u64 = match frequency {
        "hourly" => 60,
        "daily" => 1440,
        "weekly" => 7 * 1440,
        "monthly" => 28 * 1440,
        other => {
            return Err(format!(
                "frequency '{other}' is not hourly, daily, weekly or monthly"
            ))
        }
    };
    // An interval of several units whose occurrences do not fill it leaves gaps that do not
    // fall on the same days each week.
    let fills = u64::from(minutes) >= u64::from(n) * unit_minutes;
    match frequency {
        "hourly" => {
            if !fills || !days.is_empty() {
                return Err(
                    "hourly shifts shorter than their turn do not repeat week by week".into(),
                );
            }
            Ok(Pattern {
                turn: format!("{n}h"),
                anchor: start,
                mask: None,
                hold: false,
                note: None,
            })
        }
        "daily" => {
            let all_days = days.is_empty() || days.len() == 7;
            let mask = if n == 1 {
                let every: Vec<u32> = if all_days {
                    (0..7).collect()
                } else {
                    days.clone()
                };
                Some(weekly_mask(&every))
            } else if fills && all_days {
                None
            } else {
                return Err(format!(
                    "a shift every {n} days that does not last all {n} days does not repeat week by week"
                ));
            };
            Ok(Pattern {
                turn: format!("{n}d"),
                anchor: start,
                mask,
                // Grafana hands a day-limited daily shift to the next person on its next
                // day, skipping the others.
                hold: !all_days,
                note: None,
            })
        }
        "weekly" => {
            // Hand-offs fall on week_start at the start's time of day.
            let week_start = shift
                .week_start
                .as_deref()
                .and_then(weekday_index)
                .unwrap_or(start.weekday().num_days_from_monday());
            let back = (start.weekday().num_days_from_monday() + 7 - week_start) % 7;
            let anchor = start - Duration::days(back.into());
            let mask = if n == 1 {
                let on: Vec<u32> = if days.is_empty() {
                    vec![start.weekday().num_days_from_monday()]
                } else {
                    days.clone()
                };
                Some(weekly_mask(&on))
            } else if fills && days.is_empty() {
                None
            } else {
                return Err(format!(
                    "a shift every {n} weeks that does not last all {n} weeks does not repeat week by week"
                ));
            };
            Ok(Pattern {
                turn: format!("{n}w"),
                anchor,
                mask,
                hold: false,
                note: None,
            })
        }
        _ => {
            if !fills || !days.is_empty() {
                return Err(
                    "monthly shifts shorter than a month do not repeat week by week".into(),
                );
            }
            // Hand-offs fall on the 1st, at the start's time of day.
            let anchor = start.with_day(1).unwrap_or(start);
            let note = (u64::from(minutes) < u64::from(n) * 31 * 1440).then(|| {
                format!(
                    "lasts {} days, so Grafana leaves the end of longer months empty; warroom's turns run back to back",
                    minutes / 1440
                )
            });
            Ok(Pattern {
                turn: format!("{n}month"),
                anchor,
                mask: None,
                hold: false,
                note,
            })
        }
    }
}

/// Reads Grafana's `yyyy-MM-ddTHH:mm:ss`, a wall-clock time in the shift's zone.
fn read_local(path: &str, text: &str) -> Result<NaiveDateTime, ImportError> {
    let t = text.trim().trim_end_matches('Z');
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M"))
        .map(|t| t.with_second(0).unwrap_or(t))
        .map_err(|_| {
            super::shape(
                TOOL,
                path,
                format!("'{text}' is not a date and time like 2026-03-02T09:00:00"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_line, fixture, import_fixture, on_call};
    use super::*;

    #[test]
    fn the_fixture_becomes_a_configuration_warroom_accepts() {
        let (imported, settings) = import_fixture(TOOL, "grafana-oncall.json");
        assert_eq!(
            imported.made,
            vec![
                "team 'SRE': 3 people",
                "contact '@rpark': rpark, team SRE",
                "contact '@ghammer': ghammer, team SRE",
                "contact '@khouse': khouse, team SRE",
                "schedule 'sre-primary': 2 layers, 3 people",
                "escalation 'sre-chain': 2 steps, repeat 5",
            ]
        );
        // Level 0 below level 1, whatever order the shifts come in.
        let layers = &settings.schedules["sre-primary"].spec.layers;
        let names: Vec<_> = layers.iter().map(|l| l.name.clone().unwrap()).collect();
        assert_eq!(names, vec!["Weekly", "Business hours"]);
        assert_eq!(layers[1].people, vec!["@khouse", "@ghammer", "@rpark"]);
        assert_eq!(layers[1].masked_turns.as_deref(), Some("hold"));
        assert!(
            layers[0].restrict.is_empty(),
            "a week-long weekly shift is always on"
        );
        // Notify policies with no wait between them page together; the waits follow them.
        let policy = &settings.policies["sre-chain"];
        let steps: Vec<(Vec<String>, u32)> = policy
            .steps
            .iter()
            .map(|s| (s.targets.clone(), s.wait_minutes))
            .collect();
        assert_eq!(
            steps,
            vec![
                (vec!["schedule:sre-primary".to_string()], 5),
                (vec!["@ghammer".to_string(), "!SRE".to_string()], 15),
            ]
        );
        assert_eq!(policy.repeat, 5);
    }

    #[test]
    fn the_schedule_puts_the_right_person_on_call() {
        let (_, settings) = import_fixture(TOOL, "grafana-oncall.json");
        // Business hours hand on to the next group on the next weekday only: Kim, Glenn,
        // Riley from Monday 2 March, so Monday 9 March is the sixth working day (Riley),
        // Tuesday 10 March the seventh (Kim), Wednesday 11 March the eighth (Glenn).
        // Counting the weekend as turns would give Glenn, Riley, Kim instead.
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-09T03:00:00Z").as_deref(),
            Some("rpark")
        );
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-10T03:00:00Z").as_deref(),
            Some("khouse")
        );
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-11T03:00:00Z").as_deref(),
            Some("ghammer")
        );
        // Thursday 5 March, 20:00 in Tokyo: after business hours, week 0 of the weekly
        // shift (Riley); Saturday 14 March, noon: week 1 (Glenn).
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-05T11:00:00Z").as_deref(),
            Some("rpark")
        );
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-14T03:00:00Z").as_deref(),
            Some("ghammer")
        );
    }

    #[test]
    fn what_cannot_be_carried_over_is_named_with_the_reason() {
        let (imported, _) = import_fixture(TOOL, "grafana-oncall.json");
        let u = &imported.unmapped;
        assert_line(u, &["contact method 'sms' of @rpark", "not imported yet"]);
        assert_line(u, &["contact method 'phone_call (important)' of @rpark"]);
        assert_line(u, &["shift 'Cover for Riley'", "override"]);
        assert_line(
            u,
            &[
                "shift 'Business hours'",
                "on call together",
                "@rpark left out",
            ],
        );
        assert_line(u, &["escalation 'sre-chain' step 6", "'trigger_webhook'"]);
        assert_eq!(u.len(), 6, "{}", u.join("\n"));
    }

    #[test]
    fn patterns_that_do_not_repeat_weekly_are_refused_with_the_reason() {
        let text = fixture("grafana-oncall.json").replace(
            "\"frequency\": \"daily\",\n      \"interval\": 1,",
            "\"frequency\": \"daily\",\n      \"interval\": 2,",
        );
        let imported = super::super::import_at(TOOL, &text, super::super::tests::now()).unwrap();
        assert_line(
            &imported.unmapped,
            &[
                "shift 'Business hours'",
                "every 2 days",
                "does not repeat week by week",
            ],
        );
        assert!(imported
            .made
            .contains(&"schedule 'sre-primary': 1 layer, 2 people".to_string()));
    }

    #[test]
    fn shifts_of_one_level_that_overlap_are_flagged() {
        let text = fixture("grafana-oncall.json").replace("\"level\": 1,", "\"level\": 0,");
        let imported = super::super::import_at(TOOL, &text, super::super::tests::now()).unwrap();
        assert_line(
            &imported.unmapped,
            &[
                "'Weekly' and 'Business hours' are active at the same times",
                "of one level on call together",
            ],
        );
    }

    #[test]
    fn a_shift_of_the_wrong_shape_is_named_by_its_path() {
        let text =
            fixture("grafana-oncall.json").replace("\"duration\": 28800", "\"duration\": \"8h\"");
        let err = super::super::import(TOOL, &text).unwrap_err().to_string();
        assert!(
            err.contains("at on_call_shifts[0].duration: invalid type: string \"8h\""),
            "{err}"
        );
        let text = fixture("grafana-oncall.json").replace(
            "\"start\": \"2026-03-02T10:00:00\"",
            "\"start\": \"Monday 10:00\"",
        );
        let err = super::super::import(TOOL, &text).unwrap_err().to_string();
        assert!(
            err.contains("at on_call_shifts[0].start: 'Monday 10:00' is not a date and time"),
            "{err}"
        );
    }
}
