//! The incidents slice: opening an incident (from a chat command or an alert: one function
//! makes the opening events), giving it orders (load, decide, append, retried on conflict),
//! the lookback that copies a channel's recent history into a new incident, and the
//! incident index the projection keeps.

pub(in crate::app) mod folded;
pub mod view;

use crate::app::chat::view::channel_stream;
use crate::app::error::AppError;
use crate::app::projection::Projection;
use crate::app::{
    count_new, event_id, to_recorded, Failure, Input, Notice, Pending, Refusal, Warroom,
    MAX_ATTEMPTS,
};
use crate::domain::event::Event;
use crate::domain::incident::{self, IncidentCommand, IncidentError};
use crate::domain::types::{IncidentNumber, Severity};
use crate::store::{AppendError, ExpectedVersion};
use chrono::{DateTime, Utc};
use uuid::Uuid;
use view::IncidentSummary;

/// Events read per page when looking back through a channel's stream.
const LOOKBACK_PAGE: usize = 256;

/// How often `/incident open` tries the next number. Every lost race means another instance
/// took a number, so the whole system progresses; one instance can still lose several races
/// in a row while another opens a burst of incidents.
pub(in crate::app) const MAX_OPEN_ATTEMPTS: usize = 64;

/// An incident about to open: what the domain decides its opening from.
pub(in crate::app) struct NewIncident {
    pub number: IncidentNumber,
    pub title: String,
    pub severity: Severity,
    pub channel: String,
}

impl Warroom {
    /// The events that open an incident, made here for every way one opens (`/incident
    /// open`, an alert): the domain's decision first, recorded as `opener` says, then `then`
    /// in order. An event's id derives from `key` and its place in the list unless `then`
    /// fixes it (an alert keeps its own dedup id, its group the group's), so the same input
    /// always opens with the same ids and a repeated one is stored once.
    pub(in crate::app) fn opening_events(
        &self,
        new: &NewIncident,
        opener: impl Fn(Event) -> Pending,
        key: &str,
        then: Vec<(Option<Uuid>, Pending)>,
    ) -> Result<Vec<(Uuid, Pending)>, IncidentError> {
        let opened = incident::decide(
            None,
            new.number,
            IncidentCommand::Open {
                number: new.number,
                title: new.title.clone(),
                severity: new.severity,
                channel: new.channel.clone(),
            },
        )?;
        let events = opened
            .into_iter()
            .map(|e| (None, opener(e)))
            .chain(then)
            .enumerate()
            .map(|(i, (id, p))| (id.unwrap_or_else(|| event_id(key, i)), p))
            .collect();
        Ok(events)
    }

    /// `/incident open`: binds the channel (or a dedicated one) to a new incident with the
    /// channel's recent history and the deploys shortly before, taking the next free number.
    pub(in crate::app) async fn open(
        &self,
        projection: &mut Projection,
        input: &Input,
        title: String,
        severity: Severity,
    ) -> Result<(IncidentNumber, usize, String), Failure> {
        let dedicated = input.caller.dedicated_channel;
        if let Some(existing) = projection
            .incidents
            .bound_to(&input.channel)
            .filter(|_| !dedicated)
        {
            let title = projection
                .incidents
                .get(existing)
                .map(|s| s.title.clone())
                .unwrap_or_default();
            return Err(Refusal(format!(
                "#{} already has {existing} open (“{title}”); close it first, or open the new incident in another channel",
                input.channel
            ))
            .into());
        }
        let imports = self.lookback_of(&input.channel, input.at).await?;
        let deploys = self.deploys_before(projection, None, input.at);
        for _ in 0..MAX_OPEN_ATTEMPTS {
            let number = projection.incidents.next_number();
            let channel = if dedicated {
                incident_channel(number, &title)
            } else {
                input.channel.clone()
            };
            let new = NewIncident {
                number,
                title: title.clone(),
                severity,
                channel: channel.clone(),
            };
            let imported = imports.len();
            let then = imports
                .iter()
                .cloned()
                .chain(deploys.iter().map(|e| Pending::system(e.clone(), input.at)))
                .map(|p| (None, p))
                .collect();
            let events = self.opening_events(&new, |e| self.pending(input, e), &input.key, then)?;
            match self
                .append_ids(&number.stream_id(), ExpectedVersion::NoStream, events)
                .await
            {
                Ok(appended) => {
                    if !appended.already_stored {
                        self.notify(Notice::Opened(number));
                    }
                    let mut reply = format!(
                        "{number} opened: “{}” ({severity}). #{channel} is bound to it until it closes.",
                        title.trim(),
                    );
                    if imported > 0 {
                        reply.push_str(&format!(
                            " {imported} earlier event(s) from the last {} minutes joined its timeline.",
                            self.settings.lookback.num_minutes()
                        ));
                    }
                    return Ok((number, count_new(&appended, imported + 1), reply));
                }
                Err(AppendError::Conflict { .. }) => {
                    // Another instance took this number: learn about it and take the next.
                    self.catch_up(projection).await?;
                }
                Err(e) => return Err(anyhow::Error::from(e).into()),
            }
        }
        Err(AppError::conflict(format!("could not take an incident number after {MAX_OPEN_ATTEMPTS} attempts; the store is very busy, try again")).into())
    }

    /// The channel's messages and alerts from the lookback window before `until`, as
    /// imported copies.
    pub(in crate::app) async fn lookback_of(
        &self,
        channel: &str,
        until: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Pending>> {
        let stream = channel_stream(channel);
        let since = until - self.settings.lookback;
        // Page back from the channel's newest event until a whole page is older than the
        // window: the cost is the window's size, not the channel's whole history.
        let mut window = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .ledger
                .read_stream_backward(&stream, before, LOOKBACK_PAGE)
                .await?;
            let Some(oldest) = page.last() else { break };
            before = Some(oldest.stream_version);
            let done = page.len() < LOOKBACK_PAGE || page.iter().all(|e| e.occurred_at < since);
            window.extend(
                page.into_iter()
                    .filter(|e| e.occurred_at >= since && e.occurred_at <= until),
            );
            if done {
                break;
            }
        }
        window.reverse();
        let mut imported_ids = std::collections::HashSet::new();
        let mut copies = Vec::new();
        for stored in window {
            let Ok(recorded) = to_recorded(&stored) else {
                continue;
            };
            let keep = match &recorded.event {
                Event::MessagePosted(m) => {
                    if let Some(id) = &m.message_id {
                        imported_ids.insert(id.clone());
                    }
                    true
                }
                Event::MessageEdited { message_id, .. }
                | Event::MessageDeleted { message_id, .. } => imported_ids.contains(message_id),
                Event::AlertReceived(_) => true,
                _ => false,
            };
            if keep {
                copies.push(Pending {
                    event: Event::Imported {
                        original_event_id: recorded.event_id,
                        from_stream: stream.clone(),
                        event: Box::new(recorded.event),
                    },
                    at: recorded.at,
                    actor: recorded.actor,
                });
            }
        }
        Ok(copies)
    }

    /// Gives an order to an incident: load, decide, append; retried when another writer got
    /// there first. Returns the number of events appended and the events decided.
    pub(in crate::app) async fn order(
        &self,
        projection: &mut Projection,
        input: &Input,
        number: IncidentNumber,
        command: IncidentCommand,
    ) -> Result<(usize, Vec<Event>), Failure> {
        if let IncidentCommand::Reopen { .. } = command {
            let channel = projection.incidents.get(number).map(|s| s.channel.clone());
            if let Some(channel) = channel {
                if let Some(other) = projection
                    .incidents
                    .bound_to(&channel)
                    .filter(|o| *o != number)
                {
                    return Err(Refusal(format!(
                        "#{channel} is now bound to {other}; close {other} before reopening {number}"
                    ))
                    .into());
                }
            }
        }
        for _ in 0..MAX_ATTEMPTS {
            let state = self.folded_incident(number).await?;
            let version = state.as_ref().map_or(0, |s| s.version);
            let decided = incident::decide_as(state.as_ref(), number, command.clone(), &input.from);
            if let Some(state) = state {
                self.folded.keep(state);
            }
            let events = decided?;
            let pending = events
                .iter()
                .cloned()
                .map(|e| self.pending(input, e))
                .collect::<Vec<_>>();
            match self
                .append(
                    &number.stream_id(),
                    ExpectedVersion::Exactly(version),
                    &input.key,
                    pending,
                )
                .await
            {
                Ok(appended) => return Ok((count_new(&appended, events.len()), events)),
                Err(AppendError::Conflict { .. }) => continue,
                Err(e) => return Err(anyhow::Error::from(e).into()),
            }
        }
        Err(AppError::conflict(format!("{number} kept changing while recording; try again")).into())
    }

    /// The incident as its stream says now (`None`: no such incident): the state kept from
    /// the last order, brought forward by the events appended since, or folded from the
    /// start. The caller hands it back with `self.folded.keep` once decided.
    pub(in crate::app) async fn folded_incident(
        &self,
        number: IncidentNumber,
    ) -> anyhow::Result<Option<incident::Incident>> {
        const PAGE: usize = 2_000;
        let stream = number.stream_id();
        let mut state = self.folded.take(number);
        let mut after = state.as_ref().map_or(0, |s| s.version);
        loop {
            let page = self.ledger.read_stream_after(&stream, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.stream_version;
            for stored in &page {
                state = incident::apply(state, &to_recorded(stored)?);
            }
            if page.len() < PAGE {
                break;
            }
        }
        Ok(state)
    }

    /// Pagers that delivered this incident's pages hear of its acknowledgement and
    /// resolution, so their own escalations stop too.
    pub(in crate::app) fn mirror_to_pagers(&self, number: IncidentNumber, events: &[Event]) {
        for event in events {
            let action = match event {
                Event::Acknowledged { .. } => "acknowledge",
                Event::IncidentResolved { .. } => "resolve",
                _ => continue,
            };
            self.queue(super::delivery::Delivery::Mirror {
                incident: number,
                action,
            });
        }
    }

    /// All incidents, by number.
    pub async fn incidents(&self) -> anyhow::Result<Vec<IncidentSummary>> {
        let mut projection = self.projection.lock().await;
        self.catch_up(&mut projection).await?;
        Ok(projection.incidents.all().cloned().collect())
    }

    /// Incidents whose status is open, as the follower has applied them (no store read:
    /// for the metrics scrape, which must not load the store).
    pub async fn open_incident_count(&self) -> usize {
        let projection = self.projection.lock().await;
        projection
            .incidents
            .all()
            .filter(|i| i.status == crate::domain::types::IncidentStatus::Open)
            .count()
    }
}

/// The dedicated channel of an incident (one an alert opened, or `/incident open` where the
/// chat service makes channels): `inc-7-application-outage`.
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
