//! The read-only side of the ledger: documents built from the streams they need, with no
//! projection. `warroom postmortem`, `timeline`, `as-built`, `deploys` and `oncall-summary`
//! run on a bare `Reader` (a projection rebuild reads every event of the ledger); a running
//! `Warroom` answers the same questions through its own `Reader`. Each feature adds its
//! questions beside its use cases (`impl Reader` in `releases`, `deploys`, `shifts`).

use super::to_recorded;
use crate::config::Settings;
use crate::domain::command::followups::ActionFilter;
use crate::domain::event::Recorded;
use crate::domain::followups::{self, FollowUp};
use crate::domain::postmortem::{self, Detail, PostMortem};
use crate::domain::types::IncidentNumber;
use crate::store::Ledger;
use anyhow::Context;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The ledger and the settings documents are rendered with; cheap to clone.
#[derive(Clone)]
pub struct Reader {
    pub(super) ledger: Ledger,
    pub(super) settings: Arc<Settings>,
}

impl Reader {
    /// A reader over `ledger` (opened read-only by the commands that only read).
    pub fn new(ledger: Ledger, settings: Settings) -> Reader {
        Reader::sharing(ledger, Arc::new(settings))
    }

    pub(super) fn sharing(ledger: Ledger, settings: Arc<Settings>) -> Reader {
        Reader { ledger, settings }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Every event of one stream, in stream order.
    pub async fn stream(&self, stream_id: &str) -> anyhow::Result<Vec<Recorded>> {
        self.ledger
            .read_stream(stream_id)
            .await?
            .iter()
            .map(to_recorded)
            .collect()
    }

    /// Every event of the streams whose id starts with `prefix`, by stream.
    pub async fn streams(&self, prefix: &str) -> anyhow::Result<BTreeMap<String, Vec<Recorded>>> {
        let mut found = BTreeMap::new();
        for stream_id in self.ledger.streams_with_prefix(prefix).await? {
            let records = self.stream(&stream_id).await?;
            found.insert(stream_id, records);
        }
        Ok(found)
    }

    /// The whole ledger, by stream: for documents that need the history of everything.
    pub async fn all_streams(&self) -> anyhow::Result<BTreeMap<String, Vec<Recorded>>> {
        let mut streams: BTreeMap<String, Vec<Recorded>> = BTreeMap::new();
        let mut after = 0;
        loop {
            let page = self.ledger.read_all(after, 10_000).await?;
            let Some(last) = page.last() else { break };
            after = last.position;
            for stored in &page {
                streams
                    .entry(stored.stream_id.clone())
                    .or_default()
                    .push(to_recorded(stored)?);
            }
        }
        Ok(streams)
    }

    /// Every event of an incident, in stream order.
    pub async fn incident_records(&self, number: IncidentNumber) -> anyhow::Result<Vec<Recorded>> {
        self.stream(&number.stream_id()).await
    }

    /// The follow-up actions of every incident that `filter` lets through; `today` decides
    /// which are overdue.
    pub async fn follow_ups(
        &self,
        filter: &ActionFilter,
        today: chrono::NaiveDate,
    ) -> anyhow::Result<Vec<FollowUp>> {
        let streams = self.streams("incident-").await?;
        let mut incidents: Vec<(IncidentNumber, &[Recorded])> = streams
            .iter()
            .filter_map(|(id, records)| Some((IncidentNumber::from_stream_id(id)?, &records[..])))
            .collect();
        incidents.sort_by_key(|(n, _)| *n);
        Ok(followups::follow_ups(
            incidents,
            &self.settings.directory,
            today,
            filter,
        ))
    }

    /// The post-mortem draft of an incident, from its events, its timeline folded.
    pub async fn postmortem(&self, number: IncidentNumber) -> anyhow::Result<PostMortem> {
        self.postmortem_in(number, Detail::Folded).await
    }

    /// The post-mortem draft with as much of the timeline as `detail` says.
    pub async fn postmortem_in(
        &self,
        number: IncidentNumber,
        detail: Detail,
    ) -> anyhow::Result<PostMortem> {
        let records = self.incident_records(number).await?;
        if records.is_empty() {
            anyhow::bail!("{number} does not exist; `warroom incidents` lists the incidents");
        }
        postmortem::assemble_in(
            &records,
            &self.settings.directory,
            self.settings.timezone,
            detail,
        )
        .with_context(|| format!("cannot assemble the post-mortem of {number}"))
    }
}
