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
use crate::domain::postmortem::{Assembly, Detail, PostMortem};
use crate::domain::types::IncidentNumber;
use crate::store::{Ledger, StreamTime};
use anyhow::Context;
use std::collections::{BTreeMap, HashMap};
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

    /// The post-mortem draft with as much of the timeline as `detail` says. The incident's
    /// events are read a page at a time and each handed to the assembly and dropped, so a
    /// long incident is never held whole beside the document made from it. The document is
    /// of the incident as it stood at the start: events appended meanwhile are left out.
    pub async fn postmortem_in(
        &self,
        number: IncidentNumber,
        detail: Detail,
    ) -> anyhow::Result<PostMortem> {
        let stream = number.stream_id();
        let through = self.ledger.stream_version(&stream).await?;
        if through == 0 {
            anyhow::bail!("{number} does not exist; `warroom incidents` lists the incidents");
        }
        // An incident recorded as it happened has its events in time order already, and is
        // read once. One event earlier than the event before it (a message found late, a
        // transcript out of order) means the order is worked out from every event's time
        // first, and the reading starts over.
        let document = match self
            .in_stream_order(number, detail, &stream, through)
            .await?
        {
            Some(assembly) => assembly,
            None => self.in_time_order(number, detail, &stream, through).await?,
        };
        document
            .finish()
            .with_context(|| format!("cannot assemble the post-mortem of {number}"))
    }

    fn assembly(&self, number: IncidentNumber, detail: Detail, events: i64) -> Assembly<'_> {
        Assembly::new(
            number,
            &self.settings.directory,
            self.settings.timezone,
            detail,
            usize::try_from(events).unwrap_or(0),
        )
    }

    /// The events assembled in stream order, or `None` at the first one out of time order.
    async fn in_stream_order(
        &self,
        number: IncidentNumber,
        detail: Detail,
        stream: &str,
        through: i64,
    ) -> anyhow::Result<Option<Assembly<'_>>> {
        let mut assembly = self.assembly(number, detail, through);
        let mut pages = std::pin::pin!(read_ahead(&self.ledger, stream, through));
        let mut last = None;
        let mut next_version = 1;
        while let Some(page) = futures_util::StreamExt::next(&mut pages).await {
            for (version, record) in page? {
                anyhow::ensure!(version == next_version, incomplete(number));
                if last.is_some_and(|last| record.at < last) {
                    return Ok(None);
                }
                last = Some(record.at);
                next_version += 1;
                assembly.see(&record);
            }
        }
        anyhow::ensure!(next_version == through + 1, incomplete(number));
        Ok(Some(assembly))
    }

    /// The events assembled in time order, worked out from every event's time.
    async fn in_time_order(
        &self,
        number: IncidentNumber,
        detail: Detail,
        stream: &str,
        through: i64,
    ) -> anyhow::Result<Assembly<'_>> {
        // The times are needed before the first event is handed over, and the pages do not
        // need them (a stream's versions have no gaps): both are read at once.
        let mut pages = std::pin::pin!(read_ahead(&self.ledger, stream, through));
        let (times, first) = tokio::join!(
            self.ledger.stream_times(stream),
            futures_util::StreamExt::next(&mut pages)
        );
        let mut times = times?;
        times.retain(|t| t.stream_version <= through);
        let mut assembly = self.assembly(number, detail, through);
        let mut order = TimeOrder::of(&times);
        drop(times);
        let mut page = first;
        while let Some(events) = page {
            for (version, record) in events? {
                order.take(version, record, |r| assembly.see(r));
            }
            page = futures_util::StreamExt::next(&mut pages).await;
        }
        anyhow::ensure!(order.is_done(), incomplete(number));
        Ok(assembly)
    }
}

fn incomplete(number: IncidentNumber) -> String {
    format!(
        "{number} was read incompletely (its events changed while they were read); run the command again"
    )
}

/// The events of `stream` up to version `through`, a page at a time with their versions, in
/// stream order. The page boundaries are known from the versions, so the next pages are
/// asked for while the receiver assembles the one before: the store builds them (SQLite on
/// reader connections of its own) and a task of their own parses them meanwhile.
fn read_ahead(
    ledger: &Ledger,
    stream: &str,
    through: i64,
) -> impl futures_util::Stream<Item = anyhow::Result<Vec<(i64, Recorded)>>> {
    use futures_util::StreamExt as _;
    const PAGE: i64 = 500;
    const AT_ONCE: usize = 3;
    let (ledger, stream) = (ledger.clone(), stream.to_string());
    futures_util::stream::iter((0..through).step_by(PAGE as usize))
        .map(move |after| {
            let (ledger, stream) = (ledger.clone(), stream.clone());
            tokio::spawn(async move {
                ledger
                    .read_stream_after(&stream, after, PAGE as usize)
                    .await?
                    .iter()
                    .filter(|stored| stored.stream_version <= through)
                    .map(|stored| Ok((stored.stream_version, to_recorded(stored)?)))
                    .collect::<anyhow::Result<Vec<_>>>()
            })
        })
        .buffered(AT_ONCE)
        .map(|page| page.context("a page of the incident could not be read")?)
}

/// Hands a stream's events over in time order (`at`, then position) while they arrive in
/// stream order. An event that arrives before its turn waits until the ones before it have
/// gone; in the usual stream, whose events were appended as they happened, none waits, and
/// a reader holds one page at a time however long the stream.
struct TimeOrder {
    /// The stream versions in time order.
    sequence: Vec<i64>,
    /// How many of them have been handed over.
    next: usize,
    waiting: HashMap<i64, Recorded>,
}

impl TimeOrder {
    fn of(times: &[StreamTime]) -> TimeOrder {
        let mut sorted = times.to_vec();
        sorted.sort_by_key(|t| (t.occurred_at, t.position));
        TimeOrder {
            sequence: sorted.iter().map(|t| t.stream_version).collect(),
            next: 0,
            waiting: HashMap::new(),
        }
    }

    /// Takes the event of `version`, and hands `see` every event whose turn has come.
    fn take(&mut self, version: i64, record: Recorded, mut see: impl FnMut(&Recorded)) {
        if self.sequence.get(self.next) != Some(&version) {
            self.waiting.insert(version, record);
            return;
        }
        see(&record);
        self.next += 1;
        while let Some(record) = self
            .sequence
            .get(self.next)
            .and_then(|v| self.waiting.remove(v))
        {
            see(&record);
            self.next += 1;
        }
    }

    /// Whether every event has been handed over.
    fn is_done(&self) -> bool {
        self.next == self.sequence.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::Event;
    use chrono::{TimeZone, Utc};

    fn record(position: i64, minute: u32) -> (StreamTime, Recorded) {
        let at = Utc.with_ymd_and_hms(2021, 3, 9, 9, minute, 0).unwrap();
        let time = StreamTime {
            stream_version: position,
            position,
            occurred_at: at,
        };
        let record = Recorded {
            event_id: uuid::Uuid::from_u128(position as u128),
            position,
            at,
            actor: "rpark".into(),
            event: Event::IncidentClosed {},
        };
        (time, record)
    }

    #[test]
    fn events_come_out_in_time_order_and_only_late_ones_wait() {
        // Versions 1..=5 at minutes 10, 11, 5, 12, 12: the third happened first, and the
        // last two at the same minute go by position.
        let events: Vec<_> = [(1, 10), (2, 11), (3, 5), (4, 12), (5, 12)]
            .into_iter()
            .map(|(p, m)| record(p, m))
            .collect();
        let times: Vec<StreamTime> = events.iter().map(|(t, _)| *t).collect();
        let mut order = TimeOrder::of(&times);
        let mut seen = Vec::new();
        let mut most_waiting = 0;
        for (t, r) in events {
            order.take(t.stream_version, r, |r| seen.push(r.position));
            most_waiting = most_waiting.max(order.waiting.len());
        }
        assert_eq!(seen, [3, 1, 2, 4, 5]);
        assert!(order.is_done());
        assert_eq!(most_waiting, 2, "only the events before the early one wait");
    }

    #[test]
    fn a_stream_in_time_order_never_waits_and_a_missing_event_is_noticed() {
        let events: Vec<_> = (1..=4).map(|p| record(p, p as u32)).collect();
        let times: Vec<StreamTime> = events.iter().map(|(t, _)| *t).collect();
        let mut order = TimeOrder::of(&times);
        let mut seen = 0;
        for (t, r) in events.into_iter().filter(|(t, _)| t.stream_version != 3) {
            order.take(t.stream_version, r, |_| seen += 1);
            assert!(order.waiting.len() <= 1);
        }
        assert_eq!(seen, 2, "the fourth waits for the third, which never came");
        assert!(!order.is_done());
    }
}
