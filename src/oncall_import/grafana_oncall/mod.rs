//! Grafana OnCall: users with their personal notification rules, teams, schedules with their
//! on-call shifts, escalation chains with their policies, from the public HTTP API v1, as
//! warroom contacts, teams, schedules and escalation policies.
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
//!
//! A user's `email` is the contact's `email`. The public API never gives a phone number (only
//! `is_phone_number_verified`), so `phone` is written only for a user that has a
//! `verified_phone_number`, as the internal API's users do; otherwise a verified number is
//! pointed out for the reviewer to add. A user's default (not `important`) personal
//! notification rules, in `position` order, become a commented `notify`: each
//! `notify_by_sms`, `notify_by_phone_call` or `notify_by_email` step comes after the sum of
//! the `wait` steps (`duration` in seconds) before it.

mod contacts;
mod input;
mod shifts;

use super::draft::Draft;
use super::weeks::WeekMask;
use super::{read_export, read_zone, ImportError, ImportSource};
use crate::domain::event::EscalationStep;
use crate::domain::schedule::{LayerSpec, ScheduleSpec};
use chrono::{DateTime, Utc};
use contacts::reach_of;
use input::{Export, NotificationRule, Policy, Shift};
use shifts::shift_layer;
use std::collections::HashMap;

const TOOL: ImportSource = ImportSource::GrafanaOncall;

/// How many times Grafana OnCall's `repeat_escalation` runs the chain again, at most.
const GRAFANA_REPEATS: u64 = 5;

/// Reads a Grafana OnCall export.
pub(super) fn read(export: &str, now: DateTime<Utc>) -> Result<Draft, ImportError> {
    let export: Export = read_export(TOOL, export)?;
    let mut draft = Draft::new(TOOL);
    let mut teams: HashMap<String, String> = HashMap::new();
    for t in &export.teams {
        teams.insert(t.id.clone(), draft.team(&t.name));
    }
    let mut rules: HashMap<&str, Vec<&NotificationRule>> = HashMap::new();
    for r in &export.personal_notification_rules {
        rules.entry(r.user_id.as_str()).or_default().push(r);
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
        let own = rules
            .get(u.id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        draft.reach(&handle, reach_of(u, &handle, own));
        handles.insert(u.id.clone(), handle);
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
        let zone_name = s.time_zone.clone().unwrap_or_else(|| "UTC".to_string());
        let zone = read_zone(TOOL, &format!("{path}.time_zone"), &zone_name)?;
        // Calendars the schedule follows become calendar layers, the overrides on top.
        let calendar = |url: &Option<String>, layer: &str| {
            url.as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(|u| LayerSpec {
                    name: Some(layer.to_string()),
                    ical: Some(u.to_string()),
                    ..LayerSpec::default()
                })
        };
        let primary = calendar(&s.ical_url_primary, "primary calendar");
        let overrides = calendar(&s.ical_url_overrides, "overrides calendar");
        if s.kind.as_deref() == Some("ical") {
            let layers: Vec<LayerSpec> = primary.into_iter().chain(overrides).collect();
            if layers.is_empty() {
                draft.unmapped(format!(
                    "schedule '{name}': an iCal schedule without ical_url_primary or ical_url_overrides; not imported"
                ));
                continue;
            }
            schedule_names.insert(s.id.clone(), name.clone());
            draft.add_schedule(ScheduleSpec {
                name,
                timezone: Some(zone.name().to_string()),
                shifts: false,
                layers,
            });
            continue;
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
        layers.extend(overrides);
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
                "contact '@rpark': rpark, team SRE; email, 3 notification rules (commented out)",
                "contact '@ghammer': ghammer, team SRE; email",
                "contact '@khouse': khouse, team SRE; email, 1 notification rule (commented out)",
                "schedule 'sre-primary': 3 layers, 3 people and its calendar",
                "schedule 'dba-calendar': 1 layer, its calendar",
                "escalation 'sre-chain': 2 steps, repeat 5",
            ]
        );
        // Level 0 below level 1, whatever order the shifts come in; the overrides calendar
        // on top of them.
        let layers = &settings.schedules["sre-primary"].spec.layers;
        let names: Vec<_> = layers.iter().map(|l| l.name.clone().unwrap()).collect();
        assert_eq!(
            names,
            vec!["Weekly", "Business hours", "overrides calendar"]
        );
        assert_eq!(
            layers[2].ical.as_deref(),
            Some("https://calendar.google.com/calendar/ical/sre-swaps%40example.com/private-***/basic.ics"),
            "recorded masked"
        );
        // An iCal schedule follows its calendar: the URL kept whole for warroom serve.
        let dba = &settings.schedules["dba-calendar"];
        assert_eq!(dba.feeds.len(), 1);
        assert_eq!(
            dba.feeds[0].url.expose(),
            "https://calendar.google.com/calendar/ical/dba%40example.com/private-0f1e2d3c4b5a/basic.ics"
        );
        assert_eq!(dba.schedule.zone, chrono_tz::Europe::Berlin);
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
        assert_line(u, &["calendar layers (ical = URL)", "the URL is a secret"]);
        // Twelve: the four above and the eight contact lines contacts.rs tests.
        assert_eq!(u.len(), 12, "{}", u.join("\n"));
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
}
