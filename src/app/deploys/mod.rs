//! Deploys in the ledger: recording one (from a pipeline, chat or a transcript) in its
//! service's stream with what the guard rules say of it, answering "when was the last
//! deploy?", and the deploys noted in an incident when it opens.

pub mod view;

use super::projection::Projection;
use super::reading::Reader;
use super::{event_id, Input, Notice, Outcome, Pending, Warroom};
use crate::domain::deploy::{self, Deploy};
use crate::domain::event::{AlertFacts, Event, Recorded};
use crate::domain::routing::{service_key, Route};
use crate::store::ExpectedVersion;
use chrono::{DateTime, Utc};
use view::DeployIndex;
pub use view::RecordedDeploy;

/// How many deploys `/deploys last` lists when no count is given.
pub const DEFAULT_LAST: usize = 5;

/// Which deploys to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployQuery {
    pub service: Option<String>,
    pub environment: Option<String>,
    /// The newest this many.
    pub last: usize,
}

impl DeployQuery {
    /// The newest deploys of `index` it matches, newest first.
    pub fn pick(&self, index: &DeployIndex) -> Vec<RecordedDeploy> {
        let found = index.matching(|d| self.matches(d));
        found
            .into_iter()
            .rev()
            .take(self.last.max(1))
            .cloned()
            .collect()
    }

    pub fn matches(&self, d: &RecordedDeploy) -> bool {
        self.service.as_ref().is_none_or(|s| s == &d.deploy.service)
            && self
                .environment
                .as_ref()
                .is_none_or(|e| e == &d.deploy.environment)
    }
}

impl Warroom {
    /// Records a deploy and the guard rules' flags in the service's stream. The input's key
    /// makes a resend a no-op; a flag is announced once, also when a later report of the
    /// same deploy (same id) would match the rule again.
    pub(super) async fn record_deploy(
        &self,
        projection: &Projection,
        input: &Input,
        deploy: &Deploy,
    ) -> anyhow::Result<Outcome> {
        let flagged_before = deploy.id.as_ref().is_some_and(|id| {
            projection
                .deploys
                .deploy_by_id(&deploy.service, id)
                .is_some_and(|d| !d.flags.is_empty())
        });
        let when = deploy
            .when(input.at)
            .with_timezone(&self.settings.timezone)
            .naive_local();
        let rules = if flagged_before {
            &[][..]
        } else {
            &self.settings.deploys.guards[..]
        };
        let flags: Vec<(String, String)> = rules
            .iter()
            .filter_map(|rule| rule.flags(deploy, when).map(|r| (rule.name.clone(), r)))
            .collect();
        let mut pending = vec![Pending {
            event: Event::DeployRecorded(deploy.clone()),
            at: input.at,
            actor: deploy.by.clone(),
        }];
        pending.extend(flags.iter().map(|(rule, reason)| {
            Pending::system(
                Event::DeployFlagged {
                    rule: rule.clone(),
                    reason: reason.clone(),
                },
                input.at,
            )
        }));
        let count = pending.len();
        let ids = pending
            .into_iter()
            .enumerate()
            .map(|(i, p)| (event_id(&input.key, i), p))
            .collect();
        let appended = self
            .append_ids(&deploy.stream_id(), ExpectedVersion::Any, ids)
            .await?;
        let mut reply = format!("recorded deploy: {}", deploy.summary());
        for (rule, reason) in &flags {
            reply.push_str(&format!("\n⚠ flagged by '{rule}': {reason}"));
        }
        if !appended.already_stored && !flags.is_empty() {
            let reasons: Vec<String> = flags.iter().map(|(_, r)| r.clone()).collect();
            self.notify(Notice::DeployFlagged {
                text: format!(
                    "⚠ Suspicious deploy: {} — {}",
                    deploy.summary(),
                    reasons.join("; ")
                ),
            });
        }
        Ok(Outcome {
            reply: Some(reply),
            events: if appended.already_stored { 0 } else { count },
            already_recorded: appended.already_stored,
            ..Outcome::default()
        })
    }

    /// The newest deploys matching the query, newest first.
    pub async fn deploys(&self, query: &DeployQuery) -> anyhow::Result<Vec<RecordedDeploy>> {
        Ok(query.pick(&self.current().await?.deploys))
    }

    /// The deploys to note in an incident opening at `at`: to its environment (the alert's
    /// `environment` or `env` label, else the configured one), within the window before,
    /// and of the services the alert is about (`Route::services_of`). An alert about no
    /// service takes none: a disk filling up is not the application's deploy. An incident
    /// opened by hand (`about` is `None`) takes every deploy to the environment: what
    /// changed lately is where its responders look first.
    pub(super) fn deploys_before(
        &self,
        projection: &Projection,
        about: Option<(&AlertFacts, &Route)>,
        at: DateTime<Utc>,
    ) -> Vec<Event> {
        let label = |name: &str| {
            about
                .and_then(|(alert, _)| alert.labels.get(name))
                .map(|v| v.trim().to_ascii_lowercase())
                .filter(|v| !v.is_empty())
        };
        let settings = &self.settings.deploys;
        let environment = label("environment")
            .or_else(|| label("env"))
            .unwrap_or_else(|| settings.incident_environment.clone());
        let services = about.map(|(alert, route)| route.services_of(alert));
        let since = at - settings.incident_window;
        projection
            .deploys
            .matching(|d| {
                d.deploy.environment == environment
                    && services
                        .as_ref()
                        .is_none_or(|s| s.contains(&service_key(&d.deploy.service)))
                    && d.at >= since
                    && d.at <= at
            })
            .into_iter()
            .map(|d| Event::DeployNoted {
                deploy: d.deploy.clone(),
                deployed_at: d.at,
                flags: d.flags.clone(),
            })
            .collect()
    }
}

/// One line per deploy: `2021-03-08 18:40 UTC — app 2.1.0-qa.1 to prod by ghammer: …`.
pub fn describe_deploys(deploys: &[RecordedDeploy], tz: chrono_tz::Tz) -> String {
    if deploys.is_empty() {
        return "no deploys recorded".to_string();
    }
    deploys
        .iter()
        .map(|d| deploy_line(&d.deploy, d.at, &d.flags, tz))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `2021-03-08 18:40 UTC — app 2.1.0-qa.1 to prod by ghammer: succeeded, … ⚠ flag`
pub fn deploy_line(
    deploy: &Deploy,
    at: DateTime<Utc>,
    flags: &[String],
    tz: chrono_tz::Tz,
) -> String {
    let mut line = format!(
        "{} — {}",
        at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z"),
        deploy.summary()
    );
    for flag in flags {
        line.push_str(&format!(" ⚠ {flag}"));
    }
    line
}

impl Reader {
    /// The newest deploys matching the query, newest first, read from the deploy streams
    /// alone.
    pub async fn deploys(&self, query: &DeployQuery) -> anyhow::Result<Vec<RecordedDeploy>> {
        // In ledger order across services, as the projection applies them.
        let mut records: Vec<(String, Recorded)> = self
            .streams(deploy::STREAM_PREFIX)
            .await?
            .into_iter()
            .flat_map(|(stream_id, records)| {
                records.into_iter().map(move |r| (stream_id.clone(), r))
            })
            .collect();
        records.sort_by_key(|(_, r)| r.position);
        let mut index = DeployIndex::default();
        for (stream_id, r) in &records {
            index.apply(stream_id, r.at, &r.event);
        }
        Ok(query.pick(&index))
    }
}
