//! Chat commands: `/incident …`, `/page`, `/oncall …`, `/deploy …`, `/release …`, runbook
//! commands and their confirmations. Parsed and interpreted by `domain::command`, authorised
//! here by the caller's warroom role, then handed to the slice that owns them; a refusal is
//! recorded where the channel's messages go and answered with its reason.

use crate::app::projection::Projection;
use crate::app::{allowed, deploys, runs, Failure, Input, Notice, Outcome, Refusal, Warroom};
use crate::domain::access::Access;
use crate::domain::command::{self, ChatCommand};
use crate::domain::deploy::Deploy;
use crate::domain::event::Event;
use crate::domain::incident::{IncidentCommand, IncidentError};
use crate::domain::postmortem::{self, PostMortem};
use crate::domain::types::IncidentNumber;

impl Warroom {
    pub(in crate::app) async fn command(
        &self,
        projection: &mut Projection,
        input: &Input,
        text: &str,
    ) -> anyhow::Result<Outcome> {
        let parsed = command::parse(text).map_err(|e| Refusal(e.to_string()));
        if let Ok(p) = &parsed {
            if let Some(runbook) = self.runbook_for(&p.words) {
                let result = self.request_run(projection, input, p, runbook).await;
                return self.conclude(projection, input, text, result).await;
            }
        }
        let interpreted = parsed.and_then(|p| {
            authorise(&p, input.caller.access)?;
            command::interpret(&p).map_err(|e| Refusal(e.to_string()))
        });
        let result = match interpreted {
            Err(refusal) => Err(Failure::Refused(refusal)),
            Ok(ChatCommand::Help) => {
                return Ok(Outcome {
                    reply: Some(command::help_text()),
                    ..Outcome::default()
                });
            }
            Ok(ChatCommand::Actions(filter)) => {
                let today = input.at.with_timezone(&self.settings.timezone).date_naive();
                let list = self.reader().follow_ups(&filter, today).await?;
                return Ok(Outcome {
                    reply: Some(crate::domain::followups::render_text(&list, &filter)),
                    ..Outcome::default()
                });
            }
            Ok(ChatCommand::Open { title, severity }) => {
                self.open(projection, input, title, severity).await
            }
            Ok(ChatCommand::Page {
                incident,
                target,
                message,
            }) => match self.target(projection, &input.channel, incident) {
                Ok(number) => {
                    self.page_on_demand(projection, input, number, &target, message)
                        .await
                }
                Err(refusal) => Err(refusal.into()),
            },
            Ok(ChatCommand::Order { incident, order }) => {
                // An acknowledgement is by whoever sent it.
                let order = match *order {
                    IncidentCommand::Acknowledge { .. } => Box::new(IncidentCommand::Acknowledge {
                        by: input.from.clone(),
                        via: None,
                    }),
                    other => Box::new(other),
                };
                match self.target(projection, &input.channel, incident) {
                    Ok(number) => {
                        self.order(projection, input, number, *order)
                            .await
                            .map(|(events, new)| {
                                self.mirror_to_pagers(number, &new);
                                self.file_follow_ups(number, &new);
                                if events > 0
                                    && new.iter().any(|e| matches!(e, Event::IncidentClosed {}))
                                {
                                    self.notify(Notice::Closed(number));
                                    self.closes.send_modify(|n| *n += 1);
                                }
                                (number, events, self.describe(number, &new))
                            })
                    }
                    Err(refusal) => Err(refusal.into()),
                }
            }
            Ok(ChatCommand::Timeline { incident }) => {
                return self
                    .show(projection, input, incident, postmortem::render_timeline)
                    .await;
            }
            Ok(ChatCommand::Postmortem { incident }) => {
                return self
                    .show(projection, input, incident, postmortem::render_markdown)
                    .await;
            }
            Ok(ChatCommand::Oncall(order)) => {
                return match self.oncall(projection, input, order).await? {
                    Ok(outcome) => Ok(outcome),
                    Err(reason) => self.reject(projection, input, text, reason).await,
                };
            }
            Ok(ChatCommand::Schedule(order)) => {
                return match self.schedule_order(projection, input, order).await? {
                    Ok(outcome) => Ok(outcome),
                    Err(reason) => self.reject(projection, input, text, reason).await,
                };
            }
            Ok(ChatCommand::RecordDeploy { options }) => {
                return match Deploy::from_options(&options, &input.from) {
                    Ok(deploy) => {
                        let outcome = self.record_deploy(projection, input, &deploy).await?;
                        Ok(Outcome {
                            incident: projection.incidents.bound_to(&input.channel),
                            ..outcome
                        })
                    }
                    Err(e) => self.reject(projection, input, text, e.to_string()).await,
                };
            }
            Ok(ChatCommand::LastDeploys {
                service,
                environment,
                count,
            }) => {
                let query = deploys::DeployQuery {
                    service,
                    environment,
                    last: count,
                };
                let found = projection.deploys.matching(|d| query.matches(d));
                let newest: Vec<_> = found.into_iter().rev().take(count).cloned().collect();
                return Ok(Outcome {
                    reply: Some(deploys::describe_deploys(&newest, self.settings.timezone)),
                    ..Outcome::default()
                });
            }
            Ok(ChatCommand::Release { version, order }) => {
                return self
                    .release_command(projection, input, text, version, order)
                    .await;
            }
            Ok(ChatCommand::ConfirmRun { incident, run }) => {
                match self.target(projection, &input.channel, incident) {
                    Ok(number) => {
                        self.decide_run(input, number, runs::RunOrder::Confirm(run))
                            .await
                    }
                    Err(refusal) => Err(refusal.into()),
                }
            }
            Ok(ChatCommand::ApproveRun { incident, run }) => {
                match self.target(projection, &input.channel, incident) {
                    Ok(number) => {
                        self.decide_run(input, number, runs::RunOrder::Approve(run))
                            .await
                    }
                    Err(refusal) => Err(refusal.into()),
                }
            }
        };
        self.conclude(projection, input, text, result).await
    }

    /// The outcome of a decided command: its reply, or the refusal recorded.
    pub(in crate::app) async fn conclude(
        &self,
        projection: &Projection,
        input: &Input,
        text: &str,
        result: Result<(IncidentNumber, usize, String), Failure>,
    ) -> anyhow::Result<Outcome> {
        match result {
            Ok((number, events, reply)) => Ok(Outcome {
                reply: Some(reply),
                events,
                incident: Some(number),
                ..Outcome::default()
            }),
            Err(Failure::Store(e)) => Err(e),
            Err(Failure::Refused(Refusal(reason))) => {
                self.reject(projection, input, text, reason).await
            }
        }
    }

    /// Records a refused command where the channel's messages go, and replies with the reason.
    pub(in crate::app) async fn reject(
        &self,
        projection: &Projection,
        input: &Input,
        text: &str,
        reason: String,
    ) -> anyhow::Result<Outcome> {
        let number = projection.incidents.bound_to(&input.channel);
        let event = Event::CommandRejected {
            channel: input.channel.clone(),
            command: text.to_string(),
            reason: reason.clone(),
        };
        let recorded = self
            .record_facts(number, input, vec![self.pending(input, event)])
            .await?;
        Ok(Outcome {
            reply: Some(reason),
            refused: true,
            ..recorded
        })
    }

    pub(in crate::app) async fn show(
        &self,
        projection: &Projection,
        input: &Input,
        incident: Option<IncidentNumber>,
        render: fn(&PostMortem) -> String,
    ) -> anyhow::Result<Outcome> {
        let number = match self.target(projection, &input.channel, incident) {
            Ok(n) => n,
            Err(Refusal(reason)) => {
                return Ok(Outcome {
                    reply: Some(reason),
                    refused: true,
                    ..Outcome::default()
                })
            }
        };
        let document = self.postmortem(number).await?;
        Ok(Outcome {
            reply: Some(render(&document)),
            incident: Some(number),
            ..Outcome::default()
        })
    }

    /// The incident a command addresses: the one named, else the channel's.
    pub(in crate::app) fn target(
        &self,
        projection: &Projection,
        channel: &str,
        named: Option<IncidentNumber>,
    ) -> Result<IncidentNumber, Refusal> {
        match named {
            Some(n) if projection.incidents.get(n).is_some() => Ok(n),
            Some(n) => Err(IncidentError::NotFound(n).into()),
            None => projection.incidents.bound_to(channel).ok_or_else(|| {
                Refusal(format!(
                    "#{channel} has no open incident; name one with incident:INC-N, or start one with /incident open"
                ))
            }),
        }
    }

    pub(in crate::app) fn describe(&self, number: IncidentNumber, events: &[Event]) -> String {
        let dir = &self.settings.directory;
        let replies: Vec<String> = events
            .iter()
            .map(|e| match e {
                Event::SeverityChanged { from, to } => format!("{number} is now {to} (was {from})."),
                Event::RoleAssigned { role, handle, .. } => format!("{} is now {role} of {number}.", dir.display(handle)),
                Event::StatusUpdatePosted { .. } => format!("Status update recorded for {number}."),
                Event::ImpactNoted { area, .. } => format!("Impact on {area} noted for {number}."),
                Event::ResolutionNoted { .. } => format!("Resolution noted for {number}."),
                Event::CauseNoted { .. } => format!("Cause noted for {number}; it goes under Contributing Factors."),
                Event::IncidentMitigated { .. } => {
                    format!("{number} mitigated. /incident resolve when the cause is fixed.")
                }
                Event::MessageHighlighted { message_id, .. } => {
                    format!("Message {message_id} is now a key moment of {number}.")
                }
                Event::MessageHighlightWithdrawn { message_id, .. } => {
                    format!("Your highlight of message {message_id} is withdrawn.")
                }
                Event::ActionAdded { .. } => format!("Action added to the action plan of {number}."),
                Event::ActionCompleted { action } => format!("Action {number}/A{action} is done."),
                Event::IncidentResolved { implicit: true } => format!("{number} was not resolved; resolved it first."),
                Event::IncidentResolved { implicit: false } => {
                    format!("{number} resolved. /incident close finishes it and drafts the post-mortem.")
                }
                Event::IncidentClosed {} => {
                    format!("{number} closed. `warroom postmortem {number}` prints the post-mortem draft.")
                }
                Event::IncidentReopened { .. } => format!("{number} reopened."),
                Event::Acknowledged { by, .. } => format!("{} acknowledged {number}; its escalation stops.", dir.display(by)),
                other => format!("{} recorded for {number}.", other.event_type()),
            })
            .collect();
        replies.join(" ")
    }
}

/// Refuses a command the caller's warroom role does not allow. The operator's own tools
/// (`access: None`) may do everything; unknown commands are left to `interpret` to explain.
fn authorise(parsed: &command::ParsedCommand, access: Option<Access>) -> Result<(), Refusal> {
    match command::spec_for(&parsed.words) {
        Some(spec) => allowed(access, spec.needs, &format!("/{}", spec.words.join(" "))),
        None => Ok(()),
    }
}
