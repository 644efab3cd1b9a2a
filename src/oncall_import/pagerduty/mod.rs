//! PagerDuty: users with their contact methods and notification rules, teams, schedules with
//! their layers and escalation policies, from the REST API v2, as warroom contacts, teams,
//! schedules and escalation policies.
//!
//! The export is one JSON object holding the lists of these responses, each under the key the
//! API itself uses (`$PD` stands for `-H "Authorization: Token token=$TOKEN"
//! https://api.pagerduty.com`):
//!
//! ```text
//! {
//!   "users":               `GET /users?include[]=contact_methods&include[]=notification_rules` .users,
//!   "teams":               `GET /teams` .teams                          (optional),
//!   "schedules":           [ each `GET /schedules/{id}` .schedule ]     (the list leaves out the layers),
//!   "escalation_policies": `GET /escalation_policies` .escalation_policies   (optional)
//! }
//! ```
//!
//! made by, for example (lists come 100 at a time: add `&offset=100`, … while `more` is true):
//!
//! ```text
//! pd() { curl -sf -H "Authorization: Token token=$TOKEN" "https://api.pagerduty.com$1"; }
//! ids=$(pd '/schedules?limit=100' | jq -r '.schedules[].id')
//! jq -n --argjson users "$(pd '/users?limit=100&include[]=contact_methods&include[]=notification_rules' | jq .users)" \
//!   --argjson teams "$(pd '/teams?limit=100' | jq .teams)" \
//!   --argjson schedules "$(for i in $ids; do pd "/schedules/$i" | jq .schedule; done | jq -s .)" \
//!   --argjson eps "$(pd '/escalation_policies?limit=100' | jq .escalation_policies)" \
//!   '{users: $users, teams: $teams, schedules: $schedules, escalation_policies: $eps}' > pagerduty.json
//! ```
//!
//! A schedule layer is a warroom layer: `users` in turn order, turns of
//! `rotation_turn_length_seconds` from `rotation_virtual_start` (read on the schedule's
//! `time_zone` clock), `restrictions` (`daily_restriction`, `weekly_restriction` with
//! `start_day_of_week` 1 = Monday) as windows. In PagerDuty the higher layer wins where it is
//! active, and `GET /schedules/{id}` lists the highest first (the reverse of the order layers
//! are created in, as PagerDuty's own Terraform provider notes when it reverses them back), so
//! the layers are written in reverse: in warroom the last layer wins. A layer's `start` and
//! `end` have no warroom counterpart: one that has ended is left out, others are flagged.
//!
//! An escalation rule's `escalation_delay_in_minutes` is the wait after it before the next
//! rule, as warroom's `wait_minutes`; `num_loops` is warroom's `repeat`.
//!
//! A user's `email` is the contact's `email`; the first `phone_contact_method` or
//! `sms_contact_method` is the `phone`, `+` then its `country_code` then the digits of its
//! `address`. The `high`-urgency notification rules (warroom's pages are all urgent), each
//! `start_delay_in_minutes` after the page by the method of its `contact_method`, are written
//! as a commented `notify`. Without `include[]=notification_rules` the users carry their rules
//! as bare references, which say neither method nor delay: that is said, not guessed at.

mod contacts;

use super::draft::Draft;
use super::layers::{local_anchor, turn_from_seconds};
use super::weeks::WeekMask;
use super::{read_export, read_instant, read_zone, ImportError, ImportSource};
use crate::domain::event::EscalationStep;
use crate::domain::schedule::ScheduleSpec;
use chrono::{DateTime, NaiveTime, Timelike, Utc};
use contacts::{reach_of, ContactMethod, NotificationRule, RulesSeen};
use serde::Deserialize;
use std::collections::HashMap;

const TOOL: ImportSource = ImportSource::PagerDuty;

#[derive(Debug, Deserialize)]
struct Export {
    users: Vec<User>,
    #[serde(default)]
    teams: Vec<Reference>,
    #[serde(default)]
    schedules: Vec<Schedule>,
    #[serde(default)]
    escalation_policies: Vec<Policy>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
    name: String,
    email: String,
    #[serde(default)]
    teams: Vec<Reference>,
    #[serde(default)]
    contact_methods: Vec<ContactMethod>,
    /// Whole rules with `include[]=notification_rules`, references without.
    #[serde(default)]
    notification_rules: Vec<NotificationRule>,
}

/// A reference or a whole object: PagerDuty gives either, each with an id and a type.
#[derive(Debug, Deserialize)]
struct Reference {
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    summary: Option<String>,
}

impl Reference {
    fn label(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.summary.clone())
            .unwrap_or_else(|| self.id.clone())
    }

    /// The type without `_reference`: a reference and the object it names are one thing.
    fn kind(&self) -> &str {
        let k = self.kind.as_deref().unwrap_or_default();
        k.strip_suffix("_reference").unwrap_or(k)
    }
}

#[derive(Debug, Deserialize)]
struct Schedule {
    id: String,
    name: String,
    time_zone: String,
    schedule_layers: Vec<Layer>,
    #[serde(default)]
    teams: Vec<Reference>,
}

#[derive(Debug, Deserialize)]
struct Layer {
    #[serde(default)]
    name: Option<String>,
    start: String,
    #[serde(default)]
    end: Option<String>,
    rotation_virtual_start: String,
    rotation_turn_length_seconds: u64,
    users: Vec<LayerUser>,
    #[serde(default)]
    restrictions: Vec<Restriction>,
}

#[derive(Debug, Deserialize)]
struct LayerUser {
    user: Reference,
}

#[derive(Debug, Deserialize)]
struct Restriction {
    #[serde(rename = "type")]
    kind: String,
    start_time_of_day: String,
    duration_seconds: u64,
    #[serde(default)]
    start_day_of_week: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct Policy {
    name: String,
    escalation_rules: Vec<Rule>,
    #[serde(default)]
    num_loops: u64,
}

#[derive(Debug, Deserialize)]
struct Rule {
    escalation_delay_in_minutes: u64,
    targets: Vec<Reference>,
}

/// Reads a PagerDuty export.
pub(super) fn read(export: &str, now: DateTime<Utc>) -> Result<Draft, ImportError> {
    let export: Export = read_export(TOOL, export)?;
    let mut draft = Draft::new(TOOL);
    let mut teams: HashMap<String, String> = HashMap::new();
    for t in &export.teams {
        teams.insert(t.id.clone(), draft.team(&t.label()));
    }
    let team_of = |draft: &mut Draft, r: &Reference| -> String {
        match teams.get(&r.id) {
            Some(t) => t.clone(),
            None => draft.team(&r.label()),
        }
    };
    let mut handles: HashMap<String, String> = HashMap::new();
    let mut rules_seen = RulesSeen::default();
    for u in &export.users {
        let team = u.teams.first().map(|t| team_of(&mut draft, t));
        let handle = draft.person(&u.email, &u.name, team.clone());
        if u.teams.len() > 1 {
            draft.unmapped(format!(
                "@{handle} is in {} teams: a warroom contact has one team, so {} was kept",
                u.teams.len(),
                team.unwrap_or_default()
            ));
        }
        let reach = reach_of(u, &handle, &mut rules_seen);
        draft.reach(&handle, reach);
        handles.insert(u.id.clone(), handle);
    }
    if !rules_seen.as_references.is_empty() {
        draft.unmapped(format!(
            "the notification rules of {} are references only in the export, without method or delay: export the users with include[]=notification_rules (docs/import-oncall.md) to import them",
            rules_seen.as_references.join(", ")
        ));
    }
    if rules_seen.low_urgency {
        draft.unmapped(
            "PagerDuty's low-urgency notification rules are not imported: warroom's pages are all urgent, so each person's high-urgency rules were taken",
        );
    }

    let mut schedule_names: HashMap<String, String> = HashMap::new();
    for (i, s) in export.schedules.iter().enumerate() {
        let path = format!("schedules[{i}]");
        let zone = read_zone(TOOL, &format!("{path}.time_zone"), &s.time_zone)?;
        let name = draft.schedule_name(&s.name);
        let team = s.teams.first().map(|t| team_of(&mut draft, t));
        let mut layers = Vec::new();
        // Highest first in the API, lowest first in warroom.
        for (j, l) in s.schedule_layers.iter().enumerate().rev() {
            let path = format!("{path}.schedule_layers[{j}]");
            let label = l.name.clone().unwrap_or_else(|| format!("layer {}", j + 1));
            let what = format!("schedule '{name}' layer '{label}'");
            let start = read_instant(TOOL, &format!("{path}.start"), &l.start)?;
            let end = match &l.end {
                Some(e) => Some(read_instant(TOOL, &format!("{path}.end"), e)?),
                None => None,
            };
            let anchor = read_instant(
                TOOL,
                &format!("{path}.rotation_virtual_start"),
                &l.rotation_virtual_start,
            )?;
            if !draft.keep_layer(&what, Some(start), end, now) {
                continue;
            }
            let turn = match turn_from_seconds(l.rotation_turn_length_seconds) {
                Ok(t) => t,
                Err(e) => {
                    draft.unmapped(format!("{what}: {e}; not imported"));
                    continue;
                }
            };
            if anchor.second() != 0 {
                draft.unmapped(format!(
                    "{what}: hand-offs at {} seconds past the minute are rounded down to it",
                    anchor.second()
                ));
            }
            let mut people = Vec::new();
            for u in &l.users {
                match handles.get(&u.user.id) {
                    Some(h) => {
                        if let Some(t) = &team {
                            draft.on_schedule_of(h, t);
                        }
                        people.push(format!("@{h}"));
                    }
                    None => {
                        draft.unmapped(format!(
                            "{what}: user '{}' is not among the export's users; their turns are left empty",
                            u.user.label()
                        ));
                        people.push(super::layers::NONE.to_string());
                    }
                }
            }
            if people.iter().all(|p| p == super::layers::NONE) {
                draft.unmapped(format!(
                    "{what}: nobody warroom knows is in it; not imported"
                ));
                continue;
            }
            let restrict = if l.restrictions.is_empty() {
                Vec::new()
            } else {
                match mask(&l.restrictions, &path) {
                    Ok((m, _)) if m.is_empty() => {
                        draft.unmapped(format!(
                            "{what}: its restrictions leave no time at all; not imported"
                        ));
                        continue;
                    }
                    Ok((m, rounded)) => {
                        if rounded {
                            draft.unmapped(format!(
                                "{what}: restriction times are rounded down to the minute"
                            ));
                        }
                        m.windows()
                    }
                    Err(e) => {
                        draft.unmapped(format!("{what}: {e}; not imported"));
                        continue;
                    }
                }
            };
            layers.push(super::layers::layer(
                &label,
                people,
                turn,
                local_anchor(anchor, zone),
                None,
                restrict,
                false,
            ));
        }
        if layers.is_empty() {
            draft.unmapped(format!(
                "schedule '{name}': no layer could be imported; schedule not written"
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
    }

    for p in &export.escalation_policies {
        let name = draft.escalation_name(&p.name);
        let mut steps = Vec::new();
        for (j, rule) in p.escalation_rules.iter().enumerate() {
            let mut targets = Vec::new();
            for t in &rule.targets {
                let found = match t.kind() {
                    "user" => handles.get(&t.id).map(|h| format!("@{h}")),
                    "schedule" => schedule_names.get(&t.id).map(|s| format!("schedule:{s}")),
                    _ => None,
                };
                match found {
                    Some(target) => targets.push(target),
                    None => draft.unmapped(format!(
                        "escalation '{name}' rule {}: target {} '{}' has no warroom counterpart in this export; left out",
                        j + 1,
                        t.kind.as_deref().unwrap_or("of no type"),
                        t.label()
                    )),
                }
            }
            steps.push(EscalationStep {
                targets,
                wait_minutes: rule.escalation_delay_in_minutes.min(u32::MAX.into()) as u32,
                ..EscalationStep::default()
            });
        }
        draft.add_escalation(name, steps, p.num_loops);
    }
    Ok(draft)
}

/// The week a layer's restrictions leave active, and whether seconds were rounded away.
fn mask(restrictions: &[Restriction], path: &str) -> Result<(WeekMask, bool), String> {
    let mut mask = WeekMask::new();
    let mut rounded = false;
    for (k, r) in restrictions.iter().enumerate() {
        let at = NaiveTime::parse_from_str(r.start_time_of_day.trim(), "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(r.start_time_of_day.trim(), "%H:%M"))
            .map_err(|_| {
                format!(
                    "{path}.restrictions[{k}].start_time_of_day '{}' is not HH:MM:SS",
                    r.start_time_of_day
                )
            })?;
        rounded |= at.second() != 0 || r.duration_seconds % 60 != 0;
        let from = at.hour() * 60 + at.minute();
        let len = (r.duration_seconds / 60).min(u64::from(super::weeks::WEEK_MINUTES)) as u32;
        match r.kind.as_str() {
            "daily_restriction" => {
                for day in 0..7 {
                    mask.add(day * 1440 + from, len.min(1440));
                }
            }
            "weekly_restriction" => {
                let day = r.start_day_of_week.filter(|d| (1..=7).contains(d)).ok_or_else(|| {
                    format!(
                        "{path}.restrictions[{k}] is weekly without a start_day_of_week from 1 (Monday) to 7"
                    )
                })?;
                mask.add((day - 1) * 1440 + from, len);
            }
            other => {
                return Err(format!(
                    "restriction type '{other}' is not daily_restriction or weekly_restriction"
                ))
            }
        }
    }
    Ok((mask, rounded))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_line, fixture, import_fixture, on_call};
    use super::*;

    #[test]
    fn the_fixture_becomes_a_configuration_warroom_accepts() {
        let (imported, settings) = import_fixture(TOOL, "pagerduty.json");
        assert_eq!(
            imported.made,
            vec![
                "team 'SRE': 3 people",
                "contact '@rpark': Riley Park, team SRE; email, phone +15550100 (voice), 2 notification rules (commented out)",
                "contact '@ghammer': Glenn Hammer, team SRE; email, 1 notification rule (commented out)",
                "contact '@khouse': Kim House, team SRE; email, 1 notification rule (commented out)",
                "schedule 'sre-primary': 2 layers, 3 people",
                "escalation 'sre': 2 steps, repeat 2",
            ]
        );
        // The API lists the highest layer first; warroom's last layer wins.
        let layers = &settings.schedules["sre-primary"].spec.layers;
        let names: Vec<_> = layers.iter().map(|l| l.name.clone().unwrap()).collect();
        assert_eq!(names, vec!["Weekly", "Nights"]);
        assert_eq!(layers[1].turn, "1d");
        assert_eq!(layers[1].anchor, "2026-03-02T18:00");
        assert_eq!(
            (
                layers[1].restrict[0].from.as_deref(),
                layers[1].restrict[0].to.as_deref()
            ),
            (Some("18:00"), Some("08:00"))
        );
        // escalation_delay_in_minutes is already the wait after a rule.
        let policy = &settings.policies["sre"];
        let steps: Vec<(Vec<String>, u32)> = policy
            .steps
            .iter()
            .map(|s| (s.targets.clone(), s.wait_minutes))
            .collect();
        assert_eq!(
            steps,
            vec![
                (vec!["schedule:sre-primary".to_string()], 15),
                (vec!["@ghammer".to_string()], 30),
            ]
        );
        assert_eq!(policy.repeat, 2);
    }

    #[test]
    fn the_schedule_puts_the_right_person_on_call() {
        let (_, settings) = import_fixture(TOOL, "pagerduty.json");
        // Tuesday 10 March, 23:00 in New York (summer time since the 8th): night 8 from
        // Monday 2 March 18:00 (even: Kim), inside 18:00-08:00, over the weekly layer.
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-11T03:00:00Z").as_deref(),
            Some("khouse")
        );
        // Thursday 12 March, 07:00: still night 9 (Glenn).
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-12T11:00:00Z").as_deref(),
            Some("ghammer")
        );
        // Wednesday 11 March, noon: no night layer; week 1 from Monday 2 March 09:00 is
        // Glenn's.
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-11T16:00:00Z").as_deref(),
            Some("ghammer")
        );
        // Thursday 5 March, noon (winter time): week 0, Riley.
        assert_eq!(
            on_call(&settings, "sre-primary", "2026-03-05T17:00:00Z").as_deref(),
            Some("rpark")
        );
    }

    #[test]
    fn what_cannot_be_carried_over_is_named_with_the_reason() {
        let (imported, _) = import_fixture(TOOL, "pagerduty.json");
        let u = &imported.unmapped;
        assert_line(
            u,
            &[
                "layer 'Before the reorg'",
                "ended 2026-03-02 14:00 UTC",
                "history",
            ],
        );
        // Seven: the layer above and the six contact lines contacts.rs tests.
        assert_eq!(u.len(), 7, "{}", u.join("\n"));
        // The same layers a month earlier: the old one still runs, the new ones are ahead.
        let earlier = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 2, 1, 0, 0, 0).unwrap();
        let imported = super::super::import_at(TOOL, &fixture("pagerduty.json"), earlier).unwrap();
        let u = &imported.unmapped;
        assert_line(
            u,
            &[
                "layer 'Before the reorg'",
                "ends 2026-03-02 14:00 UTC",
                "do not end",
            ],
        );
        assert_line(
            u,
            &[
                "layer 'Nights'",
                "starts 2026-03-02 05:00 UTC",
                "no start date",
            ],
        );
    }

    #[test]
    fn a_layer_without_its_turn_length_is_named_by_its_path() {
        let text = fixture("pagerduty.json").replace(
            "\"rotation_turn_length_seconds\": 604800,\n          \"users\": [\n            { \"user\": { \"id\": \"PRPARK1\"",
            "\"users\": [\n            { \"user\": { \"id\": \"PRPARK1\"",
        );
        let err = super::super::import(TOOL, &text).unwrap_err().to_string();
        assert!(
            err.contains(
                "at schedules[0].schedule_layers[1]: missing field `rotation_turn_length_seconds`"
            ),
            "{err}"
        );
        let text = fixture("pagerduty.json").replace(
            "\"America/New_York\",\n      \"description\"",
            "\"Eastern\",\n      \"description\"",
        );
        let err = super::super::import(TOOL, &text).unwrap_err().to_string();
        assert!(
            err.contains("at schedules[0].time_zone: 'Eastern' is not an IANA time zone"),
            "{err}"
        );
    }
}
