//! Alert intake: deduplicates alerts, routes them, and opens or joins the incident of their
//! group, so an alert storm becomes one incident and a repeated delivery changes nothing.
//!
//! Deduplication is atomic through the store: an alert's event id derives from its source,
//! fingerprint, status and start (or, without a start, how many state changes it had), and
//! the store keeps one event per id. Opening an incident for a group carries an
//! `AlertGroupOpened` whose id derives from the group and how many incidents it opened
//! before, so when two instances open for the same group at once, one append fails and
//! that instance joins the other's incident instead.

use crate::app::chat::view::channel_stream;
use crate::app::error::AppError;
use crate::app::incidents::{NewIncident, MAX_OPEN_ATTEMPTS};
use crate::app::projection::Projection;
use crate::app::{Outcome, Pending, Warroom};
use crate::domain::event::{AlertFacts, AlertStatus, Event};
use crate::domain::routing::Route;
use crate::domain::types::{IncidentNumber, IncidentStatus};
use crate::store::{AppendError, Appended, ExpectedVersion};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Namespace of alert and group event ids (UUID v5).
const ALERT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x0a1e_47f0_6b2d_4c59_8e11_93d2_c4b7_5e20);

/// What ingesting a batch of alerts did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntakeReport {
    /// Alerts recorded as a new state.
    pub recorded: usize,
    /// Alerts whose state was already recorded (a repeated delivery).
    pub duplicates: usize,
    /// Incidents opened by these alerts.
    pub opened: Vec<IncidentNumber>,
    /// Incidents these alerts joined.
    pub joined: BTreeSet<IncidentNumber>,
    /// Events appended.
    pub events: usize,
    /// One line per alert, for the console and the chat.
    pub lines: Vec<String>,
    /// Alerts recorded in the alerts channel, in no incident: a chat front end announces
    /// them with a way to open an incident. Kept only when one listens (`announcing`).
    pub unplaced: Vec<AlertFacts>,
    /// Whether to keep `unplaced`: copying every such alert costs the intake for nothing
    /// when no chat front end runs.
    announcing: bool,
}

/// An incident an alert of the body opens, its number reserved under the lock.
struct OpenJob<'a> {
    alert: &'a AlertFacts,
    number: IncidentNumber,
    plan: OpenPlan,
}

enum OpenFailure {
    Append(AppendError),
    Other(anyhow::Error),
}

/// What to do with one alert of a body.
enum Plan {
    Duplicate,
    Append(Box<PlannedAppend>),
    Open(Box<OpenPlan>),
}

/// What opening an incident for an alert needs, read from the projection when deciding.
struct OpenPlan {
    group: String,
    /// The alert's own event, with its dedup id.
    alert_event: (Uuid, Pending),
    /// Incidents the group opened before: names the group event's id.
    opened_before: usize,
    /// Whether the alerts channel has anything in the lookback window.
    lookback: bool,
    /// Deploys shortly before, noted in the incident when it opens.
    deploys: Vec<Event>,
}

/// An alert of the body with where it goes.
type Planned<'a> = (&'a AlertFacts, Box<PlannedAppend>);

struct PlannedAppend {
    stream: String,
    event: (Uuid, Pending),
    incident: Option<IncidentNumber>,
    line: String,
}

impl IntakeReport {
    /// What handling the alerts did, as any input's outcome: the report's lines as the reply,
    /// the incident opened (else joined), and the report itself for the door's answer.
    pub fn into_outcome(self) -> Outcome {
        Outcome {
            reply: (!self.lines.is_empty()).then(|| self.lines.join("\n")),
            events: self.events,
            already_recorded: self.recorded == 0 && self.duplicates > 0,
            incident: self
                .opened
                .first()
                .copied()
                .or_else(|| self.joined.iter().next().copied()),
            refused: false,
            intake: Some(self),
        }
    }

    fn duplicate(&mut self, alert: &AlertFacts) {
        self.duplicates += 1;
        self.lines.push(format!(
            "{} {}: already recorded",
            alert.name,
            alert.status.as_str()
        ));
    }

    fn recorded_one(
        &mut self,
        alert: &AlertFacts,
        incident: Option<IncidentNumber>,
        opened: bool,
        events: usize,
        line: &str,
    ) {
        self.recorded += 1;
        self.events += events;
        match (incident, opened) {
            (Some(n), true) => self.opened.push(n),
            (Some(n), false) => {
                self.joined.insert(n);
            }
            (None, _) if self.announcing => self.unplaced.push(alert.clone()),
            (None, _) => {}
        }
        self.lines
            .push(format!("{} {}: {line}", alert.name, alert.status.as_str()));
    }
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

/// The dedicated channel of an incident an alert opened: `inc-7-application-outage`.
pub fn incident_channel(number: IncidentNumber, title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        format!("inc-{}", number.0)
    } else {
        format!("inc-{}-{slug}", number.0)
    }
}

impl Warroom {
    /// An empty report, keeping unplaced alerts when a chat front end listens.
    pub(super) fn new_report(&self) -> IntakeReport {
        IntakeReport {
            announcing: self.notices.get().is_some(),
            ..IntakeReport::default()
        }
    }

    /// Tells a chat front end about incidents the alerts opened and alerts left in the
    /// alerts channel.
    pub(super) fn announce(&self, report: &IntakeReport) {
        for number in &report.opened {
            self.notify(crate::app::Notice::Opened(*number));
        }
        for alert in &report.unplaced {
            let route = self.settings.routes.route(alert);
            self.notify(crate::app::Notice::Alert {
                title: route.incident_title(alert),
                severity: route.severity,
                alert: Box::new(alert.clone()),
            });
        }
    }

    /// Records alerts read from a sender's body, received at `at`. Each alert is durable when
    /// this returns `Ok`; on `Err` the sender should retry (a store failure, or a conflict
    /// that outlasted the retries).
    pub async fn ingest_alerts(
        &self,
        at: DateTime<Utc>,
        alerts: &[AlertFacts],
    ) -> Result<IntakeReport, AppError> {
        self.ingest_any(at, alerts)
            .await
            .map_err(AppError::classify)
    }

    async fn ingest_any(
        &self,
        at: DateTime<Utc>,
        alerts: &[AlertFacts],
    ) -> anyhow::Result<IntakeReport> {
        crate::metrics::get().alerts_in(
            alerts
                .iter()
                .map(|a| (a.source.as_str(), a.status.as_str())),
        );
        let mut report = self.new_report();
        // Decide under the lock. An alert that opens an incident reserves its number and
        // marks its group as opening, so the open can commit outside the lock together with
        // other requests' work; alerts of a group being opened wait until it is, then join.
        let mut appends = Vec::new();
        let mut opens = Vec::new();
        let mut deferred = Vec::new();
        {
            // No read here: the follower keeps the projection current as events commit. A
            // decision on a slightly stale projection is still safe (see the module doc).
            let mut projection = self.projection.lock().await;
            for alert in alerts {
                match self.plan(&projection, at, alert) {
                    Plan::Duplicate => report.duplicate(alert),
                    Plan::Append(append) => appends.push((alert, append)),
                    Plan::Open(plan) => {
                        if !projection.alerts.start_opening(&plan.group) {
                            deferred.push(alert);
                            continue;
                        }
                        opens.push(OpenJob {
                            alert,
                            number: projection.incidents.reserve_number(),
                            plan: *plan,
                        });
                    }
                }
            }
        }
        let opened =
            futures_util::future::join_all(opens.iter().map(|job| self.open_for(job, at))).await;
        let mut failure = None;
        if !opens.is_empty() || !deferred.is_empty() {
            let mut projection = self.projection.lock().await;
            let caught_up = self.catch_up(&mut projection).await;
            for (job, result) in opens.iter().zip(opened) {
                projection.incidents.release_number(job.number);
                projection.alerts.finish_opening(&job.plan.group);
                match result {
                    Ok((appended, _)) if appended.already_stored => report.duplicate(job.alert),
                    Ok((_, (count, line))) => {
                        report.recorded_one(job.alert, Some(job.number), true, count, &line)
                    }
                    Err(OpenFailure::Append(AppendError::DuplicateEventId {
                        event_id, ..
                    })) if event_id == job.plan.alert_event.0 => report.duplicate(job.alert),
                    // Another writer took the number or opened the group: decide again.
                    Err(OpenFailure::Append(
                        AppendError::Conflict { .. } | AppendError::DuplicateEventId { .. },
                    )) => deferred.push(job.alert),
                    Err(OpenFailure::Append(e)) => failure = Some(anyhow::Error::from(e)),
                    Err(OpenFailure::Other(e)) => failure = Some(e),
                }
            }
            caught_up?;
            if let Some(e) = failure {
                return Err(e);
            }
            // Alerts that waited for an open (or lost a race) go one by one, on a projection
            // that now knows the incidents just opened.
            for alert in deferred {
                self.ingest_one(&mut projection, at, alert, &mut report)
                    .await?;
            }
        }
        // Joins and records are facts: appended outside the lock, so the store's writer
        // commits many requests' alerts together. The alerts of a body bound for one stream
        // go as one append; should any of them be stored already (a partly repeated body),
        // that append is refused whole and they go one by one. A stale decision is safe: an
        // alert's id still makes a repeated state a no-op.
        let mut by_stream: Vec<(String, Vec<Planned>)> = Vec::new();
        for (alert, append) in appends {
            match by_stream.iter_mut().find(|(s, _)| *s == append.stream) {
                Some((_, group)) => group.push((alert, append)),
                None => by_stream.push((append.stream.clone(), vec![(alert, append)])),
            }
        }
        let results = futures_util::future::join_all(
            by_stream
                .into_iter()
                .map(|(stream, group)| self.append_group(stream, group)),
        )
        .await;
        for group in results {
            for (alert, incident, line, result) in group {
                match result {
                    Ok(true) => report.recorded_one(alert, incident, false, 1, &line),
                    Ok(false) => report.duplicate(alert),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if !report.opened.is_empty() {
            self.escalation_changed.notify_one();
        }
        self.announce(&report);
        Ok(report)
    }

    /// Appends the alerts of one body bound for one stream: together when none is stored yet,
    /// else one by one. Each result is `Ok(true)` when newly recorded, `Ok(false)` when it
    /// was a repeat.
    #[allow(clippy::type_complexity)]
    async fn append_group<'a>(
        &self,
        stream: String,
        group: Vec<Planned<'a>>,
    ) -> Vec<(
        &'a AlertFacts,
        Option<IncidentNumber>,
        String,
        Result<bool, AppendError>,
    )> {
        let mut ids = std::collections::HashSet::new();
        let distinct = group.iter().all(|(_, a)| ids.insert(a.event.0));
        if group.len() > 1 && distinct {
            let events = group
                .iter()
                .map(|(_, a)| {
                    (
                        a.event.0,
                        Pending {
                            event: a.event.1.event.clone(),
                            at: a.event.1.at,
                            actor: a.event.1.actor.clone(),
                        },
                    )
                })
                .collect();
            match self.append_ids(&stream, ExpectedVersion::Any, events).await {
                Ok(appended) => {
                    let new = !appended.already_stored;
                    return group
                        .into_iter()
                        .map(|(alert, a)| (alert, a.incident, a.line, Ok(new)))
                        .collect();
                }
                Err(AppendError::Invalid(_)) | Err(AppendError::DuplicateEventId { .. }) => {}
                Err(e) => {
                    let message = e.to_string();
                    return group
                        .into_iter()
                        .map(|(alert, a)| {
                            (
                                alert,
                                a.incident,
                                a.line,
                                Err(AppendError::Invalid(message.clone())),
                            )
                        })
                        .collect();
                }
            }
        }
        let mut out = Vec::with_capacity(group.len());
        for (alert, a) in group {
            let result = match self
                .append_ids(&stream, ExpectedVersion::Any, vec![a.event])
                .await
            {
                Ok(appended) => Ok(!appended.already_stored),
                Err(AppendError::DuplicateEventId { .. }) => Ok(false),
                Err(e) => Err(e),
            };
            out.push((alert, a.incident, a.line, result));
        }
        out
    }

    /// Builds and appends the opening of one reserved incident.
    async fn open_for(
        &self,
        job: &OpenJob<'_>,
        at: DateTime<Utc>,
    ) -> Result<(Appended, (usize, String)), OpenFailure> {
        let (events, line) = self
            .opening(job.number, job.alert, at, &job.plan)
            .await
            .map_err(OpenFailure::Other)?;
        let count = events.len();
        self.append_ids(&job.number.stream_id(), ExpectedVersion::NoStream, events)
            .await
            .map(|a| (a, (count, line)))
            .map_err(OpenFailure::Append)
    }

    /// Where an alert goes, decided from the projection alone.
    fn plan(&self, projection: &Projection, at: DateTime<Utc>, alert: &AlertFacts) -> Plan {
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
                deploys: self.deploys_before(projection, Some(&alert.labels), at),
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
                    report.recorded_one(alert, incident, opened, count, &line);
                    // Learn what was just appended before the next alert of the body.
                    self.catch_up(projection).await?;
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
                    self.catch_up(projection).await?;
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
    async fn opening(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_channels_are_slugs_of_the_title() {
        assert_eq!(
            incident_channel(IncidentNumber(42), "Application outage"),
            "inc-42-application-outage"
        );
        assert_eq!(
            incident_channel(IncidentNumber(3), "  DNS: not answering!! "),
            "inc-3-dns-not-answering"
        );
        assert_eq!(incident_channel(IncidentNumber(1), "!!!"), "inc-1");
    }
}
