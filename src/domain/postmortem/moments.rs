//! Key moments — detected, declared, acknowledged, commander assigned, mitigated, resolved,
//! closed — with the times to acknowledge, mitigate and resolve; and the contributing
//! factors: cause notes and the deploys noted before the incident.

use super::names::Names;
use super::{Note, TimelineEntry};
use crate::domain::event::{AlertStatus, Event, Recorded};
use crate::domain::types::Role;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// One moment: when, who (when a person), and the event that says so.
#[derive(Debug, Clone, Serialize)]
pub struct Moment {
    pub at: DateTime<Utc>,
    /// The person's canonical handle; null for warroom itself or an alert.
    pub by: Option<String>,
    pub event_id: Uuid,
    /// How the moment is shown, e.g. `first alert ApplicationDown (alertmanager)`.
    #[serde(skip)]
    pub(super) what: String,
}

/// The Key Moments section; a moment not recorded is null.
#[derive(Debug, Clone, Serialize)]
pub struct KeyMoments {
    pub detected: Option<Moment>,
    pub declared: Option<Moment>,
    pub acknowledged: Option<Moment>,
    pub commander_assigned: Option<Moment>,
    pub mitigated: Option<Moment>,
    pub resolved: Option<Moment>,
    pub closed: Option<Moment>,
    /// From detection, whole minutes.
    pub minutes_to_acknowledge: Option<i64>,
    pub minutes_to_mitigate: Option<i64>,
    pub minutes_to_resolve: Option<i64>,
    /// The messages marked as key (`/incident highlight`, ⭐), by event id of their entry.
    pub highlights: Vec<Uuid>,
}

/// The Contributing Factors section.
#[derive(Debug, Clone, Serialize)]
pub struct ContributingFactors {
    /// `/incident cause` notes.
    pub causes: Vec<Note>,
    /// The deploys noted when the incident opened: changes shortly before it.
    pub changes_before: Vec<Change>,
}

/// A change before the incident.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub at: DateTime<Utc>,
    pub text: String,
    pub event_id: Uuid,
}

/// What the first alert said, for the summary.
#[derive(Debug, Clone)]
pub(super) struct FirstAlert {
    pub(super) name: String,
    pub(super) source: String,
    pub(super) summary: Option<String>,
}

/// Collects the moments and cause notes while the events go by in time order.
pub(super) struct Moments {
    pub(super) detected: Option<Moment>,
    pub(super) first_alert: Option<FirstAlert>,
    pub(super) declared: Option<Moment>,
    /// The severity it was declared at, and the channel.
    pub(super) declared_as: Option<(String, String)>,
    acknowledged: Option<Moment>,
    commander: Option<Moment>,
    pub(super) mitigated: Option<Moment>,
    pub(super) mitigated_how: Option<String>,
    resolved: Option<Moment>,
    closed: Option<Moment>,
    pub(super) causes: Vec<Note>,
}

impl Moments {
    pub(super) fn new() -> Moments {
        Moments {
            detected: None,
            first_alert: None,
            declared: None,
            declared_as: None,
            acknowledged: None,
            commander: None,
            mitigated: None,
            mitigated_how: None,
            resolved: None,
            closed: None,
            causes: Vec::new(),
        }
    }

    pub(super) fn see(&mut self, r: &Recorded, names: &Names) {
        let person = |name: &str| Some(names.canonical(name));
        let moment = |by: Option<String>, what: String| Moment {
            at: r.at,
            by,
            event_id: r.event_id,
            what,
        };
        match r.event.unwrapped() {
            // Detection is the first alert or message up to the declaration; an incident
            // declared before anything was said was detected when it was declared.
            Event::AlertReceived(a)
                if a.status == AlertStatus::Firing
                    && self.detected.is_none()
                    && self.declared.is_none() =>
            {
                self.detected = Some(moment(
                    None,
                    format!("first alert: {} ({})", a.name, a.source),
                ));
                self.first_alert = Some(FirstAlert {
                    name: a.name.clone(),
                    source: a.source.clone(),
                    summary: a.summary.clone(),
                });
            }
            Event::MessagePosted(m) if self.detected.is_none() && self.declared.is_none() => {
                self.detected = Some(moment(
                    person(&m.author),
                    format!("first report, by {}", names.resolve(&m.author).shown),
                ));
            }
            Event::IncidentOpened {
                severity, channel, ..
            } if self.declared.is_none() => {
                let by = (r.actor != crate::domain::event::SYSTEM_ACTOR).then(|| person(&r.actor));
                let what = match &by {
                    Some(_) => format!(
                        "declared at {severity} by {}",
                        names.resolve(&r.actor).shown
                    ),
                    None => format!("opened by warroom for the alert, at {severity}"),
                };
                self.declared = Some(moment(by.flatten(), what));
                self.declared_as = Some((severity.to_string(), channel.clone()));
            }
            Event::Acknowledged { by, .. } if self.acknowledged.is_none() => {
                self.acknowledged = Some(moment(
                    person(by),
                    format!("acknowledged by {}", names.resolve(by).shown),
                ));
            }
            Event::RoleAssigned {
                role: Role::Commander,
                handle,
                ..
            } if self.commander.is_none() => {
                self.commander = Some(moment(
                    person(handle),
                    format!("commander: {}", names.resolve(handle).shown),
                ));
            }
            Event::IncidentMitigated { text } if self.mitigated.is_none() => {
                self.mitigated = Some(moment(
                    person(&r.actor),
                    format!("mitigated, said {}", names.resolve(&r.actor).shown),
                ));
                self.mitigated_how = text.clone();
            }
            Event::IncidentResolved { .. } => {
                self.resolved = Some(moment(
                    person(&r.actor),
                    format!("resolved by {}", names.resolve(&r.actor).shown),
                ))
            }
            Event::IncidentClosed {} => {
                self.closed = Some(moment(
                    person(&r.actor),
                    format!("closed by {}", names.resolve(&r.actor).shown),
                ))
            }
            Event::IncidentReopened { .. } => {
                self.resolved = None;
                self.closed = None;
            }
            Event::CauseNoted { text } => self.causes.push(Note {
                text: text.clone(),
                author: names.canonical(&r.actor),
                event_id: r.event_id,
                from_run: false,
            }),
            _ => {}
        }
    }

    /// The section's model; `started_at` stands for detection when nothing was detected
    /// (an incident opened by hand with no message before it).
    pub(super) fn key_moments(&self, highlights: Vec<Uuid>) -> KeyMoments {
        let detected = self.detected.clone().or_else(|| self.declared.clone());
        let since = |m: &Option<Moment>| {
            Some(
                (m.as_ref()?.at - detected.as_ref()?.at)
                    .num_minutes()
                    .max(0),
            )
        };
        KeyMoments {
            detected: detected.clone(),
            declared: self.declared.clone(),
            acknowledged: self.acknowledged.clone(),
            commander_assigned: self.commander.clone(),
            mitigated: self.mitigated.clone(),
            resolved: self.resolved.clone(),
            closed: self.closed.clone(),
            minutes_to_acknowledge: since(&self.acknowledged),
            minutes_to_mitigate: since(&self.mitigated),
            minutes_to_resolve: since(&self.resolved),
            highlights,
        }
    }

    /// The cause notes, and the deploy notes the timeline already wrote (in time order).
    pub(super) fn factors(&mut self, timeline: &[TimelineEntry]) -> ContributingFactors {
        ContributingFactors {
            causes: std::mem::take(&mut self.causes),
            changes_before: timeline
                .iter()
                .filter(|e| e.kind == "deploy")
                .map(|e| Change {
                    at: e.at,
                    text: e.text.clone(),
                    event_id: e.event_id,
                })
                .collect(),
        }
    }
}

impl Moment {
    /// What happened, as the Key Moments list says it.
    pub fn what(&self) -> &str {
        &self.what
    }
}

impl KeyMoments {
    /// The moments in order, with their names, for the Markdown list and the web console.
    pub fn in_order(&self) -> [(&'static str, &Option<Moment>); 7] {
        [
            ("Detected", &self.detected),
            ("Declared", &self.declared),
            ("Acknowledged", &self.acknowledged),
            ("Commander assigned", &self.commander_assigned),
            ("Mitigated", &self.mitigated),
            ("Resolved", &self.resolved),
            ("Closed", &self.closed),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{madrid_or_utc, outage};
    use super::super::render_markdown;
    use crate::domain::event::Event;
    use crate::domain::types::Role;

    #[test]
    fn key_moments_and_their_figures_come_from_the_events_and_the_summary_says_what_is_missing() {
        let mut log = outage();
        log.0.pop(); // not resolved yet
        let pm = madrid_or_utc(&log, chrono_tz::UTC);
        assert!(
            pm.summary.starts_with(
                "Susan Vega (@svega) raised it at 09:15; Riley Park (@rpark) declared INC-1 \
             “Application outage” at sev1 at 09:17. No impact was noted. No cause was noted. \
             It is not resolved yet; no resolution was noted."
            ),
            "{}",
            pm.summary
        );
        assert!(pm.key_moments.acknowledged.is_none());
        assert_eq!(pm.key_moments.minutes_to_resolve, None);

        log.at(
            (9, 20),
            "ghammer",
            Event::Acknowledged {
                by: "ghammer".into(),
                notification: None,
                via: None,
            },
        )
        .at(
            (9, 21),
            "rpark",
            Event::RoleAssigned {
                role: Role::Commander,
                handle: "rpark".into(),
                previous: None,
            },
        )
        .at(
            (10, 0),
            "rpark",
            Event::IncidentMitigated {
                text: Some("rolled back to 2.0.0.".into()),
            },
        )
        .at(
            (10, 1),
            "gtree",
            Event::CauseNoted {
                text: "A QA build was deployed to production.".into(),
            },
        )
        .at(
            (10, 2),
            "rpark",
            Event::MessageHighlighted {
                channel: "ops".into(),
                message_id: "m3".into(),
            },
        )
        .at(
            (10, 30),
            "rpark",
            Event::IncidentResolved { implicit: false },
        );
        let pm = madrid_or_utc(&log, chrono_tz::UTC);
        let km = &pm.key_moments;
        assert_eq!(
            (
                km.minutes_to_acknowledge,
                km.minutes_to_mitigate,
                km.minutes_to_resolve
            ),
            (Some(5), Some(45), Some(75))
        );
        assert_eq!(
            km.commander_assigned.as_ref().unwrap().by.as_deref(),
            Some("rpark")
        );
        assert_eq!(km.highlights.len(), 1);
        assert_eq!(pm.contributing_factors.causes.len(), 1);
        assert!(
            pm.summary.ends_with(
                "Cause noted: A QA build was deployed to production. It was mitigated at 10:00 \
                 (rolled back to 2.0.0) and resolved at 10:30, 1 hour 15 minutes after it was \
                 detected; no resolution was noted."
            ),
            "{}",
            pm.summary
        );
        let md = render_markdown(&pm);
        for line in [
            "- Acknowledged 09:20 — acknowledged by Glenn Hammer (@ghammer), 5 minutes after detection [",
            "- Mitigated 10:00 — mitigated, said Riley Park (@rpark), 45 minutes after detection [",
            "- Key messages:\n  - 09:52 — Glenn Hammer (@ghammer): Main app is back up. [",
            "- 09:52 — Glenn Hammer (@ghammer): **Main app is back up.** [",
            "## Contributing Factors\n\n- A QA build was deployed to production. [",
        ] {
            assert!(md.contains(line), "missing {line:?} in\n{md}");
        }
    }
}
