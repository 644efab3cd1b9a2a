//! Where each alert goes, decided from the projection alone: a repeat (nothing to do), its
//! group's open or recently settled incident, a new incident (with the events that open it),
//! or the alerts channel. The ids that make a repeated delivery a no-op are made here too.

use crate::app::chat::view::channel_stream;
use crate::app::error::AppError;
use crate::app::incidents::{incident_channel, NewIncident, MAX_OPEN_ATTEMPTS};
use crate::app::projection::Projection;
use crate::app::{Pending, Warroom};
use crate::domain::event::{AlertFacts, AlertStatus, Event};
use crate::domain::routing::Route;
use crate::domain::types::{IncidentNumber, IncidentStatus};
use crate::store::{AppendError, ExpectedVersion};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::report::IntakeReport;

/// Namespace of alert and group event ids (UUID v5).
const ALERT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x0a1e_47f0_6b2d_4c59_8e11_93d2_c4b7_5e20);

/// What to do with one alert of a body.
pub(super) enum Plan {
    Duplicate,
    Append(Box<PlannedAppend>),
    Open(Box<OpenPlan>),
}

/// What opening an incident for an alert needs, read from the projection when deciding.
pub(super) struct OpenPlan {
    pub(super) group: String,
    /// The alert's own event, with its dedup id.
    pub(super) alert_event: (Uuid, Pending),
    /// Incidents the group opened before: names the group event's id.
    pub(super) opened_before: usize,
    /// Whether the alerts channel has anything in the lookback window.
    pub(super) lookback: bool,
    /// Deploys shortly before, noted in the incident when it opens.
    pub(super) deploys: Vec<Event>,
}

pub(super) struct PlannedAppend {
    pub(super) stream: String,
    pub(super) event: (Uuid, Pending),
    pub(super) incident: Option<IncidentNumber>,
    pub(super) line: String,
}

/// Where an alert goes.
enum Placement {
    /// Into the open (or recently settled) incident of its group.
    Join(IncidentNumber),
    /// Open a new incident for its group.
    Open,
    /// The alerts channel's stream, with why it opened nothing.
    Channel(Option<String>),
}

/// The id of an alert's state: the same state delivered twice gets the same id.
pub fn alert_event_id(alert: &AlertFacts, changes_before: u32) -> Uuid {
    let when = match alert.starts_at {
        Some(t) => t.to_rfc3339(),
        // Without a start time, a state is told apart by how many changes came before it.
        None => format!("change-{changes_before}"),
    };
    Uuid::new_v5(
        &ALERT_ID_NAMESPACE,
        format!(
            "alert\0{}\0{}\0{}\0{when}",
            alert.source,
            alert.fingerprint,
            alert.status.as_str()
        )
        .as_bytes(),
    )
}

fn group_event_id(group: &str, opened_before: usize) -> Uuid {
    Uuid::new_v5(
        &ALERT_ID_NAMESPACE,
        format!("group\0{group}\0{opened_before}").as_bytes(),
    )
}

/// When an alert's state began in the world: its start when firing, its end when resolved,
/// else when it arrived.
fn alert_time(alert: &AlertFacts, received: DateTime<Utc>) -> DateTime<Utc> {
    match alert.status {
        AlertStatus::Firing => alert.starts_at,
        AlertStatus::Resolved => alert.ends_at,
    }
    .filter(|t| *t <= received)
    .unwrap_or(received)
}

impl Warroom {
    /// Where an alert goes, decided from the projection alone.
    pub(super) fn plan(
        &self,
        projection: &Projection,
        at: DateTime<Utc>,
        alert: &AlertFacts,
    ) -> Plan {
        let previous = projection.alerts.state(alert);
        if let Some(p) = previous {
            if p.status == alert.status && p.starts_at == alert.starts_at {
                return Plan::Duplicate;
            }
        }
        let route = self.settings.routes.route(alert);
        let group = route.group_key(alert);
        let event = (
            alert_event_id(alert, previous.map_or(0, |p| p.changes)),
            Pending {
                event: Event::AlertReceived(alert.clone()),
                at: alert_time(alert, at),
                actor: alert.source.clone(),
            },
        );
        match self.place(projection, route, &group, alert, at) {
            Placement::Open => Plan::Open(Box::new(OpenPlan {
                opened_before: projection
                    .alerts
                    .group(&group)
                    .map_or(0, |g| g.incidents.len()),
                lookback: projection.chat.channel_busy_since(
                    &self.settings.alerts_channel,
                    alert_time(alert, at).min(at) - self.settings.lookback,
                ),
                deploys: self.deploys_before(projection, Some((alert, route)), at),
                group,
                alert_event: event,
            })),
            Placement::Join(number) => Plan::Append(Box::new(PlannedAppend {
                stream: number.stream_id(),
                event,
                incident: Some(number),
                line: format!("joined {number}"),
            })),
            Placement::Channel(note) => Plan::Append(Box::new(PlannedAppend {
                stream: channel_stream(&self.settings.alerts_channel),
                event,
                incident: None,
                line: note
                    .unwrap_or_else(|| format!("recorded in #{}", self.settings.alerts_channel)),
            })),
        }
    }

    /// Places one alert, deciding and appending under the lock: the path of transcripts and
    /// chat, and of alerts that waited for an open.
    pub(super) async fn ingest_one(
        &self,
        projection: &mut Projection,
        at: DateTime<Utc>,
        alert: &AlertFacts,
        report: &mut IntakeReport,
    ) -> anyhow::Result<()> {
        let duplicate = |report: &mut IntakeReport| report.duplicate(alert);
        for _ in 0..MAX_OPEN_ATTEMPTS {
            let (result, line, alert_id) = match self.plan(projection, at, alert) {
                Plan::Duplicate => {
                    duplicate(report);
                    return Ok(());
                }
                Plan::Append(append) => {
                    let PlannedAppend {
                        stream,
                        event,
                        incident,
                        line,
                    } = *append;
                    let alert_id = event.0;
                    let result = self
                        .append_ids(&stream, ExpectedVersion::Any, vec![event])
                        .await
                        .map(|a| (a, incident, false, 1));
                    (result, line, alert_id)
                }
                Plan::Open(plan) => {
                    let number = projection.incidents.next_number();
                    let (events, line) = self.opening(number, alert, at, &plan).await?;
                    let count = events.len();
                    let result = self
                        .append_ids(&number.stream_id(), ExpectedVersion::NoStream, events)
                        .await
                        .map(|a| (a, Some(number), true, count));
                    (result, line, plan.alert_event.0)
                }
            };
            match result {
                Ok((appended, _, _, _)) if appended.already_stored => {
                    duplicate(report);
                    return Ok(());
                }
                Ok((_, incident, opened, count)) => {
                    if let (true, Some(number)) = (opened, incident) {
                        self.log_opened(alert, number);
                    }
                    report.recorded_one(alert, incident, opened, count, &line);
                    // Learn what was just appended before the next alert of the body.
                    self.catch_up_known(projection).await?;
                    return Ok(());
                }
                Err(AppendError::DuplicateEventId { event_id, .. }) if event_id == alert_id => {
                    // The same state arrived through another instance or an earlier delivery.
                    duplicate(report);
                    return Ok(());
                }
                Err(AppendError::DuplicateEventId { .. }) | Err(AppendError::Conflict { .. }) => {
                    // Another writer opened an incident (for this group, or took the number):
                    // learn about it and decide again.
                    self.catch_up_known(projection).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::conflict(format!(
            "could not place alert {} after {MAX_OPEN_ATTEMPTS} attempts; the store is very busy, retry",
            alert.name
        )))
    }

    /// Decides where an alert goes from its group's latest incident.
    fn place(
        &self,
        projection: &Projection,
        route: &Route,
        group: &str,
        alert: &AlertFacts,
        at: DateTime<Utc>,
    ) -> Placement {
        let latest = projection
            .alerts
            .group(group)
            .and_then(|g| g.incidents.last())
            .and_then(|n| projection.incidents.get(*n));
        let firing = alert.status == AlertStatus::Firing;
        if let Some(incident) = latest {
            let recent = incident
                .settled_at
                .is_none_or(|settled| at - settled <= route.group_window);
            match incident.status {
                IncidentStatus::Open => return Placement::Join(incident.number),
                // A resolved incident takes its group's resolutions, and a firing alert
                // within the window (flapping) rather than a new incident.
                IncidentStatus::Resolved if recent || !firing => {
                    return Placement::Join(incident.number)
                }
                IncidentStatus::Closed if recent && firing => {
                    return Placement::Channel(Some(format!(
                        "fired again {} min after {} closed; no new incident within the {}-minute window (reopen it with /incident reopen incident:{})",
                        (at - incident.settled_at.unwrap_or(at)).num_minutes(),
                        incident.number,
                        route.group_window.num_minutes(),
                        incident.number
                    )))
                }
                _ => {}
            }
        }
        if firing && route.auto_open {
            Placement::Open
        } else {
            Placement::Channel(None)
        }
    }

    /// The events that open an incident for an alert: the opening, the group binding, the
    /// alert, the SOP, the escalation, and the alerts channel's lookback window.
    pub(super) async fn opening(
        &self,
        number: IncidentNumber,
        alert: &AlertFacts,
        at: DateTime<Utc>,
        plan: &OpenPlan,
    ) -> anyhow::Result<(Vec<(Uuid, Pending)>, String)> {
        let route = self.settings.routes.route(alert);
        let group = plan.group.as_str();
        let title = route.incident_title(alert);
        let channel = incident_channel(number, &title);
        let key = format!("alert-open:{}", plan.alert_event.0);
        let system = |event: Event| Pending::system(event, at);
        let mut then: Vec<(Option<Uuid>, Pending)> = vec![
            (
                Some(group_event_id(group, plan.opened_before)),
                system(Event::AlertGroupOpened {
                    route: route.name.clone(),
                    group: group.to_string(),
                }),
            ),
            (Some(plan.alert_event.0), plan.alert_event.1.clone()),
        ];
        let mut line = format!(
            "opened {number} “{title}” ({}) in #{channel}",
            route.severity
        );
        if let Some(sop) = &route.sop {
            then.push((
                None,
                system(Event::SopPosted {
                    route: route.name.clone(),
                    path: sop.path.clone(),
                    markdown: sop.markdown.clone(),
                    suggest: route.suggest.clone(),
                }),
            ));
            line.push_str(&format!("; SOP {} posted", sop.path));
        }
        if let Some(policy) = route
            .escalation
            .as_ref()
            .and_then(|p| self.settings.policies.get(p))
        {
            let reason = format!(
                "{} {} (route {})",
                alert.name,
                alert.status.as_str(),
                route.name
            );
            then.push((None, system(policy.start(&reason))));
            line.push_str(&format!("; escalation '{}' started", policy.name));
        }
        if !route.suggest.is_empty() {
            line.push_str(&format!("; suggested: {}", route.suggest.join(", ")));
        }
        for deploy in &plan.deploys {
            then.push((None, system(deploy.clone())));
        }
        if !plan.deploys.is_empty() {
            line.push_str(&format!("; {} recent deploys noted", plan.deploys.len()));
        }
        let until = alert_time(alert, at).min(at);
        let imports = if plan.lookback {
            self.lookback_of(&self.settings.alerts_channel, until)
                .await?
        } else {
            vec![]
        };
        then.extend(imports.into_iter().map(|p| (None, p)));
        let new = NewIncident {
            number,
            title,
            severity: route.severity,
            channel,
        };
        let events = self
            .opening_events(&new, system, &key, then)
            .map_err(|e| AppError::refused(format!("route {}: {e}", route.name)))?;
        Ok((events, line))
    }
}
