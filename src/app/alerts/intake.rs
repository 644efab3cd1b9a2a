//! Alert intake: deduplicates alerts, routes them, and opens or joins the incident of their
//! group, so an alert storm becomes one incident and a repeated delivery changes nothing.
//!
//! Deduplication is atomic through the store: an alert's event id derives from its source,
//! fingerprint, status and start (or, without a start, how many state changes it had), and
//! the store keeps one event per id. Opening an incident for a group carries an
//! `AlertGroupOpened` whose id derives from the group and how many incidents it opened
//! before, so when two instances open for the same group at once, one append fails and
//! that instance joins the other's incident instead.

use crate::app::error::AppError;
use crate::app::{Pending, Warroom};

use super::placing::{OpenPlan, Plan, PlannedAppend};
use super::report::IntakeReport;
use crate::domain::event::AlertFacts;
use crate::domain::types::IncidentNumber;
use crate::store::{AppendError, Appended, ExpectedVersion};
use chrono::{DateTime, Utc};

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

/// An alert of the body with where it goes.
type Planned<'a> = (&'a AlertFacts, Box<PlannedAppend>);

impl Warroom {
    /// An empty report, keeping unplaced alerts when a chat front end listens.
    pub(super) fn new_report(&self) -> IntakeReport {
        IntakeReport {
            announcing: self.notices.get().is_some(),
            ..IntakeReport::default()
        }
    }

    /// The line an operator reads when an alert opened an incident: which, on what route,
    /// and which escalation policy now pages. Joins and alerts left in the alerts channel
    /// are not logged: a storm would write one line per alert.
    pub(super) fn log_opened(&self, alert: &AlertFacts, number: IncidentNumber) {
        let route = self.settings.routes.route(alert);
        let escalation = route.escalation.as_deref().unwrap_or("none");
        tracing::info!(
            incident = %number,
            route = %route.name,
            alert = %alert.name,
            severity = %route.severity,
            escalation,
            "alert {} opened {number} ({}) on route {}: {}; escalation policy: {escalation}",
            alert.name,
            route.severity,
            route.name,
            route.incident_title(alert),
        );
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
            let caught_up = self.catch_up_known(&mut projection).await;
            for (job, result) in opens.iter().zip(opened) {
                projection.incidents.release_number(job.number);
                projection.alerts.finish_opening(&job.plan.group);
                match result {
                    Ok((appended, _)) if appended.already_stored => report.duplicate(job.alert),
                    Ok((_, (count, line))) => {
                        self.log_opened(job.alert, job.number);
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
}
