//! Paging: firing escalation steps when they fall due, paging on demand, and handing each
//! page to the delivery worker when one runs (`warroom serve`). Replays record pages but
//! never deliver them: replaying last month's outage must not wake anyone.
//!
//! A step fires as one append of `PageRequested` events whose ids derive from the incident,
//! the escalation and the step. Every instance computes the same ids, so when several fire
//! the same step at once the store keeps one append and only its writer delivers.

use super::projection::Projection;
use super::{Failure, Input, Pending, Refusal, Warroom};
use crate::domain::escalation::{dedup_key, DueStep, Target};
use crate::domain::event::{Event, SYSTEM_ACTOR};
use crate::domain::types::{IncidentNumber, Severity};
use crate::store::{AppendError, ExpectedVersion};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Namespace of page event ids (UUID v5).
const PAGE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x9a6e_0c3b_52f4_4d1a_b7e8_1f20_c3d4_e5f6);

/// A page this instance recorded and must now deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct PageOrder {
    pub incident: IncidentNumber,
    pub title: String,
    pub severity: Severity,
    /// `@handle`, `!Team` or `everyone`.
    pub target: String,
    pub message: Option<String>,
    pub dedup_key: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

impl Warroom {
    /// Starts handing recorded pages to `queue` (the delivery worker of `warroom serve`).
    pub fn deliver_pages_to(&self, queue: tokio::sync::mpsc::UnboundedSender<PageOrder>) {
        let _ = self.page_queue.set(queue);
    }

    fn hand_over(&self, orders: &[PageOrder]) {
        if let Some(queue) = self.page_queue.get() {
            for order in orders {
                // The worker stops only at shutdown; the page stays recorded either way.
                let _ = queue.send(order.clone());
            }
        }
    }

    /// Waits until an escalation may have become due sooner than planned.
    pub async fn escalation_changed(&self) {
        self.escalation_changed.notified().await;
    }

    /// When the next escalation step of any incident falls due.
    pub async fn next_page_due(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        let mut projection = self.projection.lock().await;
        self.catch_up(&mut projection).await?;
        Ok(projection
            .escalations()
            .filter_map(|(_, e)| e.next_due_at())
            .min())
    }

    /// Fires every escalation step due at `now` and returns the pages this instance recorded
    /// (others may have fired some of the same steps first).
    pub async fn fire_due_pages(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<PageOrder>> {
        let mut projection = self.projection.lock().await;
        self.catch_up(&mut projection).await?;
        let due: Vec<(IncidentNumber, DueStep)> = projection
            .escalations()
            .flat_map(|(n, e)| e.due(now).into_iter().map(move |d| (n, d)))
            .collect();
        let mut orders = Vec::new();
        for (number, step) in due {
            orders.extend(self.fire_step(&projection, number, &step, now).await?);
        }
        self.catch_up(&mut projection).await?;
        drop(projection);
        self.hand_over(&orders);
        Ok(orders)
    }

    async fn fire_step(
        &self,
        projection: &Projection,
        number: IncidentNumber,
        step: &DueStep,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<PageOrder>> {
        let Some(incident) = projection.incident(number) else {
            return Ok(vec![]);
        };
        let incident_name = number.to_string();
        let mut events = Vec::new();
        let mut orders = Vec::new();
        for (i, target) in step.targets.iter().enumerate() {
            let key = dedup_key(
                &incident_name,
                Some(step.escalation),
                Some(step.sequence),
                target,
                "",
            );
            let reason = format!(
                "step {} of '{}', pass {}",
                step.step, step.policy, step.round
            );
            let id = Uuid::new_v5(
                &PAGE_ID_NAMESPACE,
                format!(
                    "{incident_name}\0e{}\0s{}\0{i}",
                    step.escalation, step.sequence
                )
                .as_bytes(),
            );
            events.push((
                id,
                Pending {
                    event: Event::PageRequested {
                        escalation: Some(step.escalation),
                        sequence: Some(step.sequence),
                        step: Some(step.step),
                        target: target.clone(),
                        message: None,
                        dedup_key: key.clone(),
                        reason: reason.clone(),
                    },
                    at: now,
                    actor: SYSTEM_ACTOR.to_string(),
                },
            ));
            orders.push(PageOrder {
                incident: number,
                title: incident.title.clone(),
                severity: incident.severity,
                target: target.clone(),
                message: None,
                dedup_key: key,
                reason,
                at: now,
            });
        }
        match self
            .append_ids(&number.stream_id(), ExpectedVersion::Any, events)
            .await
        {
            Ok(appended) if !appended.already_stored => Ok(orders),
            // Fired already, by this instance before a restart or by another one.
            Ok(_) | Err(AppendError::DuplicateEventId { .. }) => Ok(vec![]),
            Err(e) => Err(e.into()),
        }
    }

    /// `/incident page`: pages a target now and records it in the incident.
    pub(super) async fn page_on_demand(
        &self,
        projection: &Projection,
        input: &Input,
        number: IncidentNumber,
        target: &str,
        message: Option<String>,
    ) -> Result<(IncidentNumber, usize, String), Failure> {
        let target = Target::parse(target)
            .map_err(|e| Refusal(e.to_string()))?
            .resolve(&self.settings.directory)
            .map_err(|e| {
                Refusal(format!(
                    "{e}; `warroom check` lists the contacts and teams of the configuration"
                ))
            })?
            .to_string();
        let Some(incident) = projection.incident(number) else {
            return Err(Refusal(format!("{number} does not exist")).into());
        };
        if incident.status == crate::domain::types::IncidentStatus::Closed {
            return Err(Refusal(format!("{number} is closed; /incident reopen first")).into());
        }
        // Fixed per command, so a retried delivery of the same chat message never pages twice.
        let salt = &Uuid::new_v5(&PAGE_ID_NAMESPACE, input.key.as_bytes())
            .simple()
            .to_string()[..8];
        let key = dedup_key(
            &number.to_string(),
            None,
            None,
            &target,
            &format!("p{salt}"),
        );
        let reason = format!("paged by {}", input.from);
        let event = Event::PageRequested {
            escalation: None,
            sequence: None,
            step: None,
            target: target.clone(),
            message: message.clone(),
            dedup_key: key.clone(),
            reason: reason.clone(),
        };
        let appended = self
            .append(
                &number.stream_id(),
                ExpectedVersion::Any,
                &input.key,
                vec![self.pending(input, event)],
            )
            .await
            .map_err(anyhow::Error::from)?;
        let order = PageOrder {
            incident: number,
            title: incident.title.clone(),
            severity: incident.severity,
            target: target.clone(),
            message,
            dedup_key: key,
            reason,
            at: input.at,
        };
        let pagers = self
            .settings
            .pagers_for(&Target::parse(&target).unwrap_or(Target::Everyone));
        let via = if pagers.is_empty() {
            "no outside pager reaches them; the page is recorded and announced in chat".to_string()
        } else {
            format!(
                "through {}",
                pagers
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        if !appended.already_stored {
            self.hand_over(std::slice::from_ref(&order));
        }
        Ok((
            number,
            usize::from(!appended.already_stored),
            format!("Paging {target} for {number}, {via}."),
        ))
    }
}
