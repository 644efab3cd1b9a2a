//! On-call shifts: `/oncall start|end|who|summary` and the on-call summary log. The rules and
//! the summary are in `domain::shift`; this appends what it decides and reads the ledger
//! back for summaries.

pub mod view;

use crate::app::projection::Projection;
use crate::app::reading::Reader;
use crate::app::{event_id, Input, Notice, Outcome, Pending, Warroom, MAX_ATTEMPTS};
use crate::domain::event::{Event, Recorded};
use crate::domain::shift::{self, OncallOrder, Shift, ShiftSummary};
use crate::store::{AppendError, ExpectedVersion};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Which part of the ledger a summary covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryOf {
    /// The shift with this number; the current or last one when `None`.
    Shift(Option<u32>),
    Range {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

impl Warroom {
    pub(in crate::app) async fn oncall(
        &self,
        projection: &mut Projection,
        input: &Input,
        order: OncallOrder,
    ) -> anyhow::Result<Result<Outcome, String>> {
        let person = |p: &str| {
            self.settings
                .directory
                .person(p.trim_start_matches(['@', '!']))
                .map(|c| c.handle.clone())
                .unwrap_or_else(|| p.trim_start_matches(['@', '!']).to_string())
        };
        match order {
            OncallOrder::Who(schedule) => {
                let shift = match projection.shifts.current() {
                    Some(s) => format!(
                        "{} is on call (shift {}, since {})",
                        self.settings.directory.display(&s.person),
                        s.number,
                        self.local(s.started_at)
                    ),
                    None => "nobody is on call; /oncall start puts you on call".to_string(),
                };
                let schedules = match self.schedule_lines(projection, schedule.as_deref(), input.at)
                {
                    Ok(lines) => lines,
                    Err(e) => return Ok(Err(e)),
                };
                // With schedules, the shift line speaks only when someone took a shift.
                let mut lines = Vec::new();
                if schedule.is_none()
                    && (schedules.is_empty() || projection.shifts.current().is_some())
                {
                    lines.push(shift);
                }
                lines.extend(schedules);
                Ok(Ok(Outcome {
                    reply: Some(lines.join("\n")),
                    ..Outcome::default()
                }))
            }
            OncallOrder::Summary(number) => {
                let summary = match self.oncall_summary(SummaryOf::Shift(number)).await {
                    Ok(s) => s,
                    Err(e) => return Ok(Err(format!("{e:#}"))),
                };
                Ok(Ok(Outcome {
                    reply: Some(shift::render_markdown(&summary)),
                    ..Outcome::default()
                }))
            }
            OncallOrder::End => {
                let current = projection.shifts.current().cloned();
                let (stream, event) = match shift::end(current.as_ref()) {
                    Ok(decided) => decided,
                    Err(e) => return Ok(Err(e.to_string())),
                };
                let number = current.map(|c| c.number).unwrap_or_default();
                let appended = self
                    .append_ids(
                        &stream,
                        ExpectedVersion::Any,
                        vec![(event_id(&input.key, 0), self.pending(input, event))],
                    )
                    .await?;
                if !appended.already_stored {
                    self.notify(Notice::ShiftEnded(number));
                }
                Ok(Ok(Outcome {
                    reply: Some(format!(
                        "shift {number} ended; its summary: /oncall summary shift:{number}"
                    )),
                    events: 1,
                    ..Outcome::default()
                }))
            }
            OncallOrder::Start(who) => {
                let who = person(who.as_deref().unwrap_or(&input.from));
                for _ in 0..MAX_ATTEMPTS {
                    let current = projection.shifts.current().cloned();
                    let number = projection.shifts.next_number();
                    let events = match shift::start(current.as_ref(), number, &who) {
                        Ok(events) => events,
                        Err(e) => return Ok(Err(e.to_string())),
                    };
                    let (stream, event) = events.into_iter().next().expect("one event");
                    let appended = self
                        .append_ids(
                            &stream,
                            ExpectedVersion::NoStream,
                            vec![(event_id(&input.key, 0), self.pending(input, event))],
                        )
                        .await;
                    match appended {
                        Ok(a) => {
                            let mut reply = format!(
                                "{} is on call: shift {number}",
                                self.settings.directory.display(&who)
                            );
                            if let Some(previous) = current.filter(|_| !a.already_stored) {
                                // The old shift's own stream says how it ended too.
                                let ended = Event::ShiftEnded {
                                    number: previous.number,
                                    handed_over_to: Some(who.clone()),
                                };
                                self.append_ids(
                                    &shift::stream_id(previous.number),
                                    ExpectedVersion::Any,
                                    vec![(
                                        event_id(&input.key, 1),
                                        Pending::system(ended, input.at),
                                    )],
                                )
                                .await?;
                                reply.push_str(&format!(
                                    ", taking over from {} (shift {} ended)",
                                    self.settings.directory.display(&previous.person),
                                    previous.number
                                ));
                                self.notify(Notice::ShiftEnded(previous.number));
                            }
                            return Ok(Ok(Outcome {
                                reply: Some(reply),
                                events: 1,
                                ..Outcome::default()
                            }));
                        }
                        // Another instance started shift `number` meanwhile: decide again.
                        Err(AppendError::Conflict { .. }) => {
                            self.catch_up(projection).await?;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(crate::app::error::AppError::conflict(format!(
                    "could not start a shift after {MAX_ATTEMPTS} attempts; retry"
                )))
            }
        }
    }

    /// Every shift, oldest first.
    pub async fn shifts(&self) -> anyhow::Result<Vec<Shift>> {
        let streams = self.reader().all_streams().await?;
        Ok(shift::shifts(
            streams
                .iter()
                .filter(|(s, _)| shift::number_of(s).is_some())
                .flat_map(|(_, r)| r.iter()),
        ))
    }

    /// The on-call summary log of a shift or a time range, from the whole ledger (recurring
    /// alerts and repeated steps need the history before it).
    pub async fn oncall_summary(&self, of: SummaryOf) -> anyhow::Result<ShiftSummary> {
        self.reader().oncall_summary(of).await
    }

    fn local(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.settings.timezone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }
}

/// The time of the latest event in the ledger.
fn latest(streams: &BTreeMap<String, Vec<Recorded>>) -> DateTime<Utc> {
    streams
        .values()
        .flat_map(|r| r.iter().map(|r| r.at))
        .max()
        .unwrap_or_else(Utc::now)
}

impl Reader {
    /// The on-call summary log of a shift or a time range, from the whole ledger (recurring
    /// alerts and repeated steps need the history before it).
    pub async fn oncall_summary(&self, of: SummaryOf) -> anyhow::Result<ShiftSummary> {
        let streams = self.all_streams().await?;
        let shifts = shift::shifts(
            streams
                .iter()
                .filter(|(s, _)| shift::number_of(s).is_some())
                .flat_map(|(_, r)| r.iter()),
        );
        let (chosen, from, to) = match of {
            SummaryOf::Range { from, to } => {
                if to <= from {
                    anyhow::bail!("--to must be after --from");
                }
                (None, from, to)
            }
            SummaryOf::Shift(number) => {
                let found = match number {
                    Some(n) => shifts
                        .iter()
                        .find(|s| s.number == n)
                        .cloned()
                        .ok_or_else(|| {
                            anyhow::anyhow!("there is no shift {n}; `/oncall start` starts one")
                        })?,
                    None => shifts.last().cloned().ok_or_else(|| {
                        anyhow::anyhow!("no shift yet; `/oncall start` starts one")
                    })?,
                };
                let to = found.ended_at.unwrap_or_else(|| {
                    latest(&streams).max(found.started_at) + chrono::Duration::seconds(1)
                });
                let from = found.started_at;
                (Some(found), from, to)
            }
        };
        Ok(shift::summarize(
            &streams,
            chosen,
            from,
            to,
            &self.settings.directory,
            self.settings.timezone,
        ))
    }
}
