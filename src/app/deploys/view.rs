//! The deploys' part of the read model: every deploy recorded, at its latest status, with
//! the guard rules' flags. Kept by the projection for `/deploys` and the deploys noted when
//! an incident opens; built from the `deploys-SERVICE` streams alone by the read-only
//! commands.

use crate::domain::deploy::{self, Deploy};
use crate::domain::event::Event;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// A deploy as the read model keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedDeploy {
    pub deploy: Deploy,
    /// When it happened (its finish, else its start, else when it was recorded).
    pub at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    /// What guard rules said of it: `rule: reason`.
    pub flags: Vec<String>,
}

/// Every deploy recorded, in ledger order (few: one per pipeline run).
#[derive(Debug, Default)]
pub struct DeployIndex {
    deploys: Vec<RecordedDeploy>,
    /// Deploy stream → the index of its latest deploy, which a flag that follows is about.
    last_deploy: HashMap<String, usize>,
}

impl DeployIndex {
    /// Notes an event of a deploy stream recorded at `at`; other events are ignored.
    pub fn apply(&mut self, stream_id: &str, at: DateTime<Utc>, event: &Event) {
        if !stream_id.starts_with(deploy::STREAM_PREFIX) {
            return;
        }
        match event.unwrapped() {
            Event::DeployRecorded(deploy) => {
                // A later report of a deploy with the same id (started, then succeeded)
                // updates it: one deploy, at its latest status.
                let earlier = deploy
                    .id
                    .as_ref()
                    .and_then(|id| self.deploy_index(&deploy.service, id));
                match earlier {
                    Some(i) => {
                        let entry = &mut self.deploys[i];
                        entry.deploy = entry.deploy.updated_by(deploy);
                        entry.at = entry.deploy.when(entry.recorded_at);
                        self.last_deploy.insert(stream_id.to_string(), i);
                    }
                    None => {
                        self.last_deploy
                            .insert(stream_id.to_string(), self.deploys.len());
                        self.deploys.push(RecordedDeploy {
                            deploy: deploy.clone(),
                            at: deploy.when(at),
                            recorded_at: at,
                            flags: Vec::new(),
                        });
                    }
                }
            }
            Event::DeployFlagged { rule, reason } => {
                if let Some(i) = self.last_deploy.get(stream_id) {
                    self.deploys[*i].flags.push(format!("{rule}: {reason}"));
                }
            }
            _ => {}
        }
    }

    /// Where the deploy a service's pipeline named `id` is kept.
    fn deploy_index(&self, service: &str, id: &str) -> Option<usize> {
        self.deploys
            .iter()
            .rposition(|d| d.deploy.service == service && d.deploy.id.as_deref() == Some(id))
    }

    /// The deploy a service's pipeline named `id`, as its reports so far make it.
    pub fn deploy_by_id(&self, service: &str, id: &str) -> Option<&RecordedDeploy> {
        self.deploy_index(service, id).map(|i| &self.deploys[i])
    }

    /// Deploys, oldest first by when they happened, that pass `keep`.
    pub fn matching(&self, keep: impl Fn(&RecordedDeploy) -> bool) -> Vec<&RecordedDeploy> {
        let mut found: Vec<&RecordedDeploy> = self.deploys.iter().filter(|d| keep(d)).collect();
        found.sort_by_key(|d| (d.at, d.recorded_at));
        found
    }
}
