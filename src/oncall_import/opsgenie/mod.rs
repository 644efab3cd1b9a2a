//! Opsgenie: users with their contacts and notification rules, teams, schedules with their
//! rotations and escalations, from the REST API v2, as warroom contacts, teams, schedules and
//! escalation policies.
//!
//! The export is one JSON object holding the `data` of these responses (the shape is written
//! for `jq`; `$OG` is `-H "Authorization: GenieKey $KEY" https://api.opsgenie.com`):
//!
//! ```text
//! {
//!   "users":       [ each `GET /v2/users/{id}?expand=contact` .data, with
//!                    "notificationRules": [ each `GET /v2/users/{id}/notification-rules/{ruleId}` .data ] ],
//!                  (or `GET /v2/users` .data, without contacts or rules)
//!   "teams":       [ each `GET /v2/teams/{id}` .data, with its members ],  (optional)
//!   "schedules":   `GET /v2/schedules?expand=rotation` .data,
//!   "escalations": `GET /v2/escalations` .data                             (optional)
//! }
//! ```
//!
//! made by, for example:
//!
//! ```text
//! og() { curl -sf -H "Authorization: GenieKey $KEY" "https://api.opsgenie.com$1"; }
//! rules() { for r in $(og "/v2/users/$1/notification-rules" | jq -r '.data[].id'); do
//!   og "/v2/users/$1/notification-rules/$r" | jq .data; done | jq -s .; }
//! ids=$(og /v2/users?limit=500 | jq -r '.data[].id')
//! users=$(for i in $ids; do og "/v2/users/$i?expand=contact" |
//!   jq --argjson r "$(rules $i)" '.data + {notificationRules: $r}'; done | jq -s .)
//! teams=$(for i in $(og /v2/teams | jq -r '.data[].id'); do og "/v2/teams/$i" | jq .data; done | jq -s .)
//! jq -n --argjson users "$users" --argjson teams "$teams" \
//!   --argjson schedules "$(og '/v2/schedules?expand=rotation' | jq .data)" \
//!   --argjson escalations "$(og /v2/escalations | jq .data)" \
//!   '{users: $users, teams: $teams, schedules: $schedules, escalations: $escalations}' > opsgenie.json
//! ```
//!
//! A rotation (`type` hourly/daily/weekly, `length`, `startDate`, `participants`) is a layer,
//! in the order Opsgenie lists them. Where rotations overlap, Opsgenie notifies the people on
//! call in all of them, while warroom has one person on call, the later layer's: each such
//! overlap is listed for the reviewer. A `timeRestriction` of type `time-of-day` (every day) or
//! `weekday-and-time-of-day` (spans from a weekday and time to another, which may cover
//! several days) becomes the layer's windows; the rotation keeps advancing through restricted
//! time, as warroom's default does. A `none` participant is an empty slot; a team or an
//! escalation participant cannot be rotated in warroom, so its slot is left empty too.
//!
//! An escalation rule's `delay` is counted from the alert; warroom counts each step's wait
//! after it, so rules with the same delay become one step and each step waits until the next
//! one's delay. The `repeat` block's `waitInterval` is the last step's wait, its `count` the
//! policy's `repeat`.
//!
//! A user's `username` is their email; their first `sms` or `voice` contact (`to` written as
//! country code, dash, number: `1-5550100`) is the `phone`. Of their enabled notification
//! rules for a new alert (`actionType` `create-alert`), the first in `order` that matches
//! every alert is the one a page runs in warroom; its enabled steps, each `sendAfter` from the
//! alert, are written as a commented `notify`. The other rules, conditions, time restrictions
//! and repeats have no warroom counterpart and are listed.

mod contacts;
mod input;
mod restrictions;

use super::draft::Draft;
use super::layers::{checked_turn, layer, local_anchor, NONE};
use super::weeks::WeekMask;
use super::{read_export, read_instant, read_zone, ImportError, ImportSource};
use crate::domain::event::EscalationStep;
use crate::domain::schedule::ScheduleSpec;
use chrono::{DateTime, Utc};
use contacts::reach_of;
use input::{minutes, refers_to, Export, Recipient};
use restrictions::mask;
use std::collections::HashMap;

const TOOL: ImportSource = ImportSource::Opsgenie;

/// Reads an Opsgenie export.
pub(super) fn read(export: &str, now: DateTime<Utc>) -> Result<Draft, ImportError> {
    let export: Export = read_export(TOOL, export)?;
    let mut draft = Draft::new(TOOL);
    let mut team_by_id = HashMap::new();
    for t in &export.teams {
        let name = draft.team(&t.name);
        team_by_id.insert(t.id.clone(), name);
    }
    let team_named = |draft: &mut Draft, r: &Recipient| -> Option<String> {
        match (&r.id, &r.name) {
            (Some(id), _) if team_by_id.contains_key(id) => Some(team_by_id[id].clone()),
            (_, Some(name)) => Some(draft.team(name)),
            _ => None,
        }
    };
    // Users by id and by username (email), since references carry either.
    let mut handles: HashMap<String, String> = HashMap::new();
    for u in &export.users {
        let team = export
            .teams
            .iter()
            .filter(|t| t.members.iter().any(|m| refers_to(&m.user, u)))
            .map(|t| team_by_id[&t.id].clone())
            .collect::<Vec<_>>();
        let handle = draft.person(
            &u.username,
            u.full_name.as_deref().unwrap_or_default(),
            team.first().cloned(),
        );
        if team.len() > 1 {
            draft.unmapped(format!(
                "@{handle} is in teams {}: a warroom contact has one team, so {} was kept",
                team.join(", "),
                team[0]
            ));
        }
        draft.reach(&handle, reach_of(u, &handle));
        handles.insert(u.id.clone(), handle.clone());
        handles.insert(u.username.to_lowercase(), handle);
    }
    let handle_of = |r: &Recipient| -> Option<String> {
        r.id.as_ref()
            .and_then(|id| handles.get(id))
            .or_else(|| {
                r.username
                    .as_ref()
                    .and_then(|u| handles.get(&u.to_lowercase()))
            })
            .cloned()
    };

    let mut schedule_names: HashMap<String, String> = HashMap::new();
    for (i, s) in export.schedules.iter().enumerate() {
        let path = format!("schedules[{i}]");
        let zone_name = s.timezone.clone().unwrap_or_else(|| "UTC".to_string());
        let zone = read_zone(TOOL, &format!("{path}.timezone"), &zone_name)?;
        let name = draft.schedule_name(&s.name);
        let owner = s
            .owner_team
            .as_ref()
            .and_then(|t| team_named(&mut draft, t));
        if s.enabled == Some(false) {
            draft.unmapped(format!(
                "schedule '{name}': disabled in Opsgenie, imported all the same"
            ));
        }
        let mut layers = Vec::new();
        let mut masks = Vec::new();
        for (j, r) in s.rotations.iter().enumerate() {
            let path = format!("{path}.rotations[{j}]");
            let label = r
                .name
                .clone()
                .unwrap_or_else(|| format!("rotation {}", j + 1));
            let what = format!("schedule '{name}' rotation '{label}'");
            let start = read_instant(TOOL, &format!("{path}.startDate"), &r.start_date)?;
            let end = match &r.end_date {
                Some(e) => Some(read_instant(TOOL, &format!("{path}.endDate"), e)?),
                None => None,
            };
            if !draft.keep_layer(&what, Some(start), end, now) {
                continue;
            }
            let unit = match r.kind.as_str() {
                "hourly" => "h",
                "daily" => "d",
                "weekly" => "w",
                other => {
                    draft.unmapped(format!(
                        "{what}: rotation type '{other}' is not hourly, daily or weekly; not imported"
                    ));
                    continue;
                }
            };
            let turn = match checked_turn(&format!("{}{unit}", r.length)) {
                Ok(t) => t,
                Err(e) => {
                    draft.unmapped(format!("{what}: {e}; not imported"));
                    continue;
                }
            };
            let mut people = Vec::new();
            for p in &r.participants {
                match p.kind.as_deref() {
                    Some("none") => people.push(NONE.to_string()),
                    Some("user") => match handle_of(p) {
                        Some(h) => {
                            if let Some(team) = &owner {
                                draft.on_schedule_of(&h, team);
                            }
                            people.push(format!("@{h}"));
                        }
                        None => {
                            draft.unmapped(format!(
                                "{what}: participant '{}' is not among the export's users; their turns are left empty",
                                p.label()
                            ));
                            people.push(NONE.to_string());
                        }
                    },
                    other => {
                        draft.unmapped(format!(
                            "{what}: participant {} '{}': warroom rotates people only; its turns are left empty",
                            other.unwrap_or("of no type"),
                            p.label()
                        ));
                        people.push(NONE.to_string());
                    }
                }
            }
            if people.iter().all(|p| p == NONE) {
                draft.unmapped(format!(
                    "{what}: nobody warroom knows is in it; not imported"
                ));
                continue;
            }
            let active = match &r.time_restriction {
                None => WeekMask::full(),
                Some(tr) => match mask(tr) {
                    Ok(m) if m.is_empty() => {
                        draft.unmapped(format!(
                            "{what}: its time restriction leaves no time at all; not imported"
                        ));
                        continue;
                    }
                    Ok(m) => m,
                    Err(e) => {
                        draft.unmapped(format!("{what}: {e}; not imported"));
                        continue;
                    }
                },
            };
            let restrict = active.windows();
            masks.push((label.clone(), active));
            layers.push(layer(
                &label,
                people,
                turn,
                local_anchor(start, zone),
                None,
                restrict,
                false,
            ));
        }
        if layers.is_empty() {
            draft.unmapped(format!(
                "schedule '{name}': no rotation could be imported; schedule not written"
            ));
            continue;
        }
        draft.note_overlaps(
            &name,
            &masks,
            "Opsgenie notifies the people on call in every rotation",
        );
        for key in [s.id.clone(), Some(s.name.clone())].into_iter().flatten() {
            schedule_names.insert(key, name.clone());
        }
        draft.add_schedule(ScheduleSpec {
            name,
            timezone: Some(zone.name().to_string()),
            shifts: false,
            layers,
        });
    }

    for e in &export.escalations {
        let name = draft.escalation_name(&e.name);
        // Rules by their delay from the alert; those with the same delay page together.
        let mut by_delay: Vec<(u64, Vec<String>)> = Vec::new();
        for (j, rule) in e.rules.iter().enumerate() {
            let what = format!("escalation '{name}' rule {}", j + 1);
            if let Some(c) = rule.condition.as_deref().filter(|c| *c != "if-not-acked") {
                draft.unmapped(format!(
                    "{what}: condition '{c}'; warroom escalates until someone acknowledges"
                ));
            }
            let notify = rule.notify_type.as_deref().unwrap_or("default");
            let target = match rule.recipient.kind.as_deref() {
                Some("user") => handle_of(&rule.recipient).map(|h| format!("@{h}")),
                Some("schedule") if notify == "default" => {
                    [&rule.recipient.id, &rule.recipient.name]
                        .into_iter()
                        .flatten()
                        .find_map(|k| schedule_names.get(k))
                        .map(|s| format!("schedule:{s}"))
                }
                Some("team") if matches!(notify, "default" | "all" | "users") => {
                    let team = team_named(&mut draft, &rule.recipient);
                    if team.is_some() && notify == "default" {
                        draft.unmapped(format!(
                            "{what}: Opsgenie notifies team '{}' by its own routing; warroom pages every member of it",
                            rule.recipient.label()
                        ));
                    }
                    team.map(|t| draft.team_target(&t))
                }
                _ => None,
            };
            let Some(target) = target else {
                draft.unmapped(format!(
                    "{what}: recipient {} '{}' (notify {notify}) has no warroom target; left out",
                    rule.recipient.kind.as_deref().unwrap_or("of no type"),
                    rule.recipient.label()
                ));
                continue;
            };
            let delay = minutes(&rule.delay);
            match by_delay.iter_mut().find(|(d, _)| *d == delay) {
                Some((_, targets)) => targets.push(target),
                None => by_delay.push((delay, vec![target])),
            }
        }
        by_delay.sort_by_key(|(d, _)| *d);
        if by_delay.first().is_some_and(|(d, _)| *d > 0) {
            // Nobody before the first rule: a step with no target, which the draft reports.
            by_delay.insert(0, (0, Vec::new()));
        }
        let repeat = e.repeat.as_ref().filter(|r| r.count > 0);
        let steps = by_delay
            .iter()
            .enumerate()
            .map(|(k, (delay, targets))| EscalationStep {
                targets: targets.clone(),
                wait_minutes: match by_delay.get(k + 1) {
                    Some((next, _)) => (next - delay) as u32,
                    None => repeat.map_or(0, |r| r.wait_interval as u32),
                },
                ..EscalationStep::default()
            })
            .collect();
        draft.add_escalation(name, steps, repeat.map_or(0, |r| r.count));
    }
    Ok(draft)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_line, import_fixture, on_call};
    use super::*;

    #[test]
    fn the_fixture_becomes_a_configuration_warroom_accepts() {
        let (imported, settings) = import_fixture(TOOL, "opsgenie.json");
        let toml = &imported.toml;
        // Kim is in no team; she is on a schedule of SRE, so she is SRE too.
        assert!(
            toml.contains("handle = \"khouse\"\nname = \"Kim House\"\nteam = \"SRE\""),
            "{toml}"
        );
        assert_eq!(
            imported.made,
            vec![
                "team 'SRE': 3 people",
                "contact '@rpark': Riley Park, team SRE; email, phone +4915550001 (sms), 3 notification rules (commented out)",
                "contact '@ghammer': Glenn Hammer, team SRE; email, 1 notification rule (commented out)",
                "contact '@khouse': Kim House, team SRE; email",
                "schedule 'sre-primary': 2 layers, 3 people",
                "escalation 'sre-escalation': 2 steps, repeat 1",
            ]
        );
        let layers = &settings.schedules["sre-primary"].spec.layers;
        assert_eq!(layers[0].people, vec!["@rpark", "@ghammer", "none"]);
        assert_eq!(
            (layers[0].turn.as_str(), layers[0].anchor.as_str()),
            ("1w", "2026-03-02T09:00")
        );
        assert_eq!(layers[1].people, vec!["@khouse", "none"]);
        assert_eq!(layers[1].restrict.len(), 1);
        assert_eq!(layers[1].restrict[0].days, vec!["mon-fri"]);
        // Rules by delay from the alert become steps waiting until the next one.
        let policy = &settings.policies["sre-escalation"];
        let steps: Vec<(Vec<String>, u32)> = policy
            .steps
            .iter()
            .map(|s| (s.targets.clone(), s.wait_minutes))
            .collect();
        assert_eq!(
            steps,
            vec![
                (vec!["schedule:sre-primary".to_string()], 10),
                (vec!["@ghammer".to_string(), "!SRE".to_string()], 15),
            ]
        );
        assert_eq!(policy.repeat, 1);
    }

    #[test]
    fn the_schedule_puts_the_right_person_on_call() {
        let (_, settings) = import_fixture(TOOL, "opsgenie.json");
        // Tuesday 10 March, 12:00 in Berlin: day 8 of the daily business-hours rotation
        // (even: Kim), inside Monday-to-Friday 09:00-17:00, over the weekly layer (where
        // Opsgenie would notify Glenn as well; the import says so).
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-10T11:00:00Z").as_deref(),
            Some("khouse")
        );
        // Saturday 14 March, 12:00: business hours are over; week 1 of the weekly
        // rotation from Monday 2 March 09:00 is Glenn's.
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-14T11:00:00Z").as_deref(),
            Some("ghammer")
        );
        // Saturday 21 March: week 2 is the none slot, and nobody else is active.
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-21T11:00:00Z"),
            None
        );
        // Monday 30 March, after the change to summer time: the hand-off is still at 09:00
        // local (07:00 UTC), so 06:30 UTC is the end of week 3 (Riley) ...
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-30T06:30:00Z").as_deref(),
            Some("rpark")
        );
        // ... and at 09:30 local day 28 of business hours (Kim) has begun.
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-30T07:30:00Z").as_deref(),
            Some("khouse")
        );
    }

    #[test]
    fn what_cannot_be_carried_over_is_named_with_the_reason() {
        let (imported, _) = import_fixture(TOOL, "opsgenie.json");
        let u = &imported.unmapped;
        assert_line(
            u,
            &[
                "rotation 'Business hours'",
                "participant team 'DBA'",
                "rotates people only",
            ],
        );
        assert_line(
            u,
            &["rotation 'Old weekend'", "ended 2025-12-31", "history"],
        );
        assert_line(
            u,
            &["rule 4", "recipient schedule 'SRE Primary' (notify next)"],
        );
        assert_line(u, &["rule 3", "team 'SRE' by its own routing"]);
        // Opsgenie notifies both rotations' people in business hours; warroom, Kim alone.
        assert_line(
            u,
            &[
                "'Weekly' and 'Business hours' are active at the same times",
                "'Business hours') alone",
            ],
        );
        // Twelve: the five above and the seven contact lines contacts.rs tests.
        assert_eq!(u.len(), 12, "{}", u.join("\n"));
    }

    #[test]
    fn a_rotation_without_its_type_is_named_by_its_path() {
        let text =
            super::super::tests::fixture("opsgenie.json").replace("\"type\": \"daily\",", "");
        let err = super::super::import(TOOL, &text).unwrap_err().to_string();
        assert!(
            err.contains("at schedules[0].rotations[1]: missing field `type`"),
            "{err}"
        );
        let text = super::super::tests::fixture("opsgenie.json").replace(
            "\"startDate\": \"2026-03-02T08:00:00Z\",\n          \"type\": \"weekly\"",
            "\"startDate\": \"2 March\",\n          \"type\": \"weekly\"",
        );
        let err = super::super::import(TOOL, &text).unwrap_err().to_string();
        assert!(
            err.contains(
                "at schedules[0].rotations[0].startDate: '2 March' is not a date and time"
            ),
            "{err}"
        );
    }
}
