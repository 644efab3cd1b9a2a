//! The Stakeholders section: everyone who took part, under the team the contact list gives
//! (or `Other`), teams in the contact list's order and people by first participation.

use super::names::{Names, OTHER};
use super::timeline::Timeline;
use super::Stakeholder;
use crate::domain::contacts::Directory;
use crate::domain::event::{Event, Recorded, SYSTEM_ACTOR};
use std::collections::HashSet;

/// Participants — people only: contacts who spoke, were paged, acknowledged or acted, and
/// strangers who spoke or acted — in order of first participation: events are visited in
/// time order, so the first sighting is the earliest.
#[derive(Default)]
pub(super) struct People {
    people: Vec<Stakeholder>,
    seen: HashSet<String>,
}

impl People {
    /// Whoever the event shows acting takes part, in the order the event names them. Alerts
    /// are not people, and what warroom does by itself (opening for an alert, paging for an
    /// escalation step) is nobody's part.
    pub(super) fn see(&mut self, r: &Recorded, names: &Names, timeline: &Timeline) {
        match r.event.unwrapped() {
            Event::IncidentOpened { .. } if r.actor != SYSTEM_ACTOR => {
                self.take_part(names, &r.actor)
            }
            // The people paged take part; teams are not people.
            Event::PageRequested { target, .. } => {
                if r.actor != SYSTEM_ACTOR {
                    self.take_part(names, &r.actor);
                }
                if target.starts_with('@') {
                    self.take_part(names, target);
                }
            }
            Event::NotificationRequested { person, .. } => self.take_part(names, person),
            Event::SeverityChanged { .. }
            | Event::CauseNoted { .. }
            | Event::ActionCompleted { .. }
            | Event::IncidentMitigated { .. }
            | Event::MessageHighlighted { .. }
            | Event::StatusUpdatePosted { .. }
            | Event::ImpactNoted { .. }
            | Event::ResolutionNoted { .. }
            | Event::ActionAdded { .. }
            | Event::IncidentResolved { .. }
            | Event::IncidentClosed {}
            | Event::IncidentReopened { .. }
            | Event::RunbookRequested { .. } => self.take_part(names, &r.actor),
            Event::RoleAssigned { handle, .. } => {
                self.take_part(names, &r.actor);
                self.take_part(names, handle);
            }
            Event::MessagePosted(m) => {
                self.take_part(names, &m.author);
                // Anyone can type `@anything`: a mention counts only for a known person.
                for mention in &m.mentions {
                    if names.resolve(mention).known {
                        self.take_part(names, mention);
                    }
                }
            }
            // An edit of a message the timeline has not seen stands for the message, shown as
            // its editor's.
            Event::MessageEdited {
                channel,
                message_id,
                ..
            } if !timeline.holds_message(channel, message_id) => self.take_part(names, &r.actor),
            Event::Acknowledged { by, .. } | Event::RunbookApproved { by, .. } => {
                self.take_part(names, by)
            }
            _ => {}
        }
    }

    fn take_part(&mut self, names: &Names, name: &str) {
        let who = names.resolve(name);
        if !who.is_team && !self.seen.contains(&who.key) {
            self.seen.insert(who.key.clone());
            self.people.push(Stakeholder {
                team: who.team.clone(),
                name: who.name.clone().unwrap_or_else(|| who.handle.clone()),
                handle: who.handle.clone(),
            });
        }
    }

    /// The participants, grouped by team.
    pub(super) fn by_team(self, directory: &Directory) -> Vec<Stakeholder> {
        by_team(directory, self.people)
    }
}

/// Participants grouped by team: configured teams in order, then teams only named on
/// contacts, then `Other`; within a team, by first participation.
fn by_team(directory: &Directory, mut people: Vec<Stakeholder>) -> Vec<Stakeholder> {
    let team_rank = |team: &str| -> (usize, String) {
        match directory.teams().iter().position(|t| t.name == team) {
            Some(i) => (i, String::new()),
            None if team == OTHER => (usize::MAX, String::new()),
            None => (usize::MAX - 1, team.to_string()),
        }
    };
    // A stable sort keeps first-participation order within each team.
    people.sort_by_key(|p| team_rank(&p.team));
    people
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{madrid_or_utc, outage};
    use super::super::render_markdown;

    #[test]
    fn stakeholders_are_grouped_by_team_with_aliases_resolved_and_strangers_under_other() {
        let pm = madrid_or_utc(&outage(), chrono_tz::UTC);
        let people: Vec<(&str, &str)> = pm
            .stakeholders
            .iter()
            .map(|s| (s.team.as_str(), s.handle.as_str()))
            .collect();
        assert_eq!(
            people,
            [
                ("Customer Support", "svega"),
                ("Ops", "ghammer"),
                ("SRE", "rpark"),
            ],
            "a team mention (!sre) is not a person, a mention of someone unknown (!stranger) \
             proves nothing, the alert sender is not a stakeholder"
        );
        let md = render_markdown(&pm);
        assert!(md.contains("## Stakeholders\n\n- Customer Support\n  - Susan Vega (@svega)\n- Ops\n  - Glenn Hammer (@ghammer)\n"), "{md}");
        assert!(!md.contains("@stranger\n"), "{md}");
    }

    #[test]
    fn stakeholders_are_people_never_everyone_here_roles_or_channels() {
        use super::super::assemble;
        use super::super::fixture::{directory, say, Log};
        use crate::domain::event::Event;
        use crate::domain::types::{IncidentNumber, Severity};
        let mut log = Log(vec![]);
        log.at(
            (9, 0),
            "rpark",
            Event::IncidentOpened {
                number: IncidentNumber(1),
                title: "t".into(),
                severity: Severity::Sev2,
                channel: "ops".into(),
            },
        )
        .at(
            (9, 1),
            "newbie",
            say("m1", "newbie", "@everyone @here <@&123> <#456> @svega look"),
        )
        .at(
            (9, 2),
            "warroom",
            Event::PageRequested {
                escalation: Some(1),
                sequence: Some(1),
                step: Some(1),
                target: "@ghammer".into(),
                message: None,
                dedup_key: "k".into(),
                reason: "policy default, step 1".into(),
            },
        )
        .at(
            (9, 2),
            "warroom",
            Event::PageRequested {
                escalation: Some(1),
                sequence: Some(1),
                step: Some(1),
                target: "!dba".into(),
                message: None,
                dedup_key: "k2".into(),
                reason: "policy default, step 1".into(),
            },
        );
        let pm = assemble(&log.0, &directory(), chrono_tz::UTC).unwrap();
        let handles: Vec<&str> = pm.stakeholders.iter().map(|s| s.handle.as_str()).collect();
        assert_eq!(
            handles,
            ["svega", "ghammer", "rpark", "newbie"],
            "a known person mentioned, a person paged, the opener and a stranger who spoke"
        );
        let pages: Vec<&str> = pm
            .timeline
            .iter()
            .filter(|e| e.kind == "page")
            .map(|e| e.text.as_str())
            .collect();
        assert_eq!(
            pages,
            ["paged @ghammer, !dba (policy default, step 1)"],
            "one escalation step's pages are one line"
        );
        assert_eq!(pm.timeline.last().unwrap().extras().also.len(), 1);
    }
}
