//! The incident aggregate: `decide` turns a command and the current state into new events or a
//! refusal a person can act on; `apply` folds events into state and cannot fail.

use super::event::{AlertFacts, ChatMessage, Event, Recorded};
use super::types::{ImpactArea, IncidentNumber, IncidentStatus, Role, Severity};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, HashMap};

/// Longest incident title accepted; longer ones make unreadable channel names and headings.
pub const MAX_TITLE_CHARS: usize = 200;

/// An order given to an incident.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentCommand {
    Open {
        number: IncidentNumber,
        title: String,
        severity: Severity,
        channel: String,
    },
    ChangeSeverity(Severity),
    AssignRole {
        role: Role,
        handle: String,
    },
    PostUpdate(String),
    NoteImpact {
        area: ImpactArea,
        text: String,
    },
    NoteResolution(String),
    NoteCause(String),
    /// The harm has stopped; how, when said.
    Mitigate(Option<String>),
    /// Mark (`on`) or unmark a message of the incident as a key moment; `by` is who marks.
    Highlight {
        message_id: String,
        on: bool,
    },
    AddAction {
        text: String,
        owner: Option<String>,
        due: Option<NaiveDate>,
    },
    /// Mark follow-up action `A{n}` done; allowed after the incident is closed, which is when
    /// follow-ups get done.
    CompleteAction(u32),
    Resolve,
    Close,
    Reopen {
        reason: Option<String>,
    },
    RecordMessage(ChatMessage),
    /// `found_at`: the edit or delete was found in the history after warroom was away.
    EditMessage {
        channel: String,
        message_id: String,
        text: String,
        found_at: Option<DateTime<Utc>>,
    },
    DeleteMessage {
        channel: String,
        message_id: String,
        found_at: Option<DateTime<Utc>>,
    },
    RecordAlert(AlertFacts),
    /// Stop the escalation: `by` has seen the page and is on it.
    Acknowledge {
        by: String,
        /// The notification method acknowledged from, and the notification, when not chat.
        via: Option<(String, String)>,
    },
}

/// Why an incident command was refused; every message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    #[error("{0} does not exist; `/incident open` starts one, `warroom incidents` lists them")]
    NotFound(IncidentNumber),
    #[error("{0} already exists; pick the next free number")]
    AlreadyExists(IncidentNumber),
    #[error("{0} is closed; /incident reopen first")]
    Closed(IncidentNumber),
    #[error("{0} is already resolved; /incident close to finish it, or /incident reopen")]
    AlreadyResolved(IncidentNumber),
    #[error("{0} is open; there is nothing to reopen")]
    NotReopenable(IncidentNumber),
    #[error("{number} is already {severity}")]
    SameSeverity {
        number: IncidentNumber,
        severity: Severity,
    },
    #[error("{handle} is already {role} of {number}")]
    SameRole {
        number: IncidentNumber,
        role: Role,
        handle: String,
    },
    #[error("the {field} is empty; write it as {field}:\"…\"")]
    Empty { field: &'static str },
    #[error("the title is {len} characters long; keep it under {MAX_TITLE_CHARS}")]
    TitleTooLong { len: usize },
    #[error(
        "{number} is {status}; there is no page to acknowledge (/incident reopen if it is back)"
    )]
    NotOpen {
        number: IncidentNumber,
        status: IncidentStatus,
    },
    #[error("{number} was already mitigated at {at}; /incident resolve when it is fixed")]
    AlreadyMitigated {
        number: IncidentNumber,
        at: DateTime<Utc>,
    },
    #[error("message {message_id} is not part of {number}; give the id or link of a message said in its channel")]
    NoSuchMessage {
        number: IncidentNumber,
        message_id: String,
    },
    #[error("{number} has no action A{action}; its actions are A1 to A{count} (the post-mortem's Action Plan lists them)")]
    NoSuchAction {
        number: IncidentNumber,
        action: u32,
        count: usize,
    },
    #[error("action A{action} of {number} is already done")]
    ActionAlreadyDone { number: IncidentNumber, action: u32 },
    #[error("message {message_id} is already {state} by you")]
    SameHighlight {
        message_id: String,
        state: &'static str,
    },
    #[error("message {message_id} in #{channel} is not part of {number}")]
    UnknownMessage {
        number: IncidentNumber,
        channel: String,
        message_id: String,
    },
}

/// What a message looks like now, for edits and deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageState {
    pub text: String,
    pub deleted: bool,
    /// Who marked it as a key moment.
    pub highlighted_by: Vec<String>,
}

/// An incident's current state, folded from its events.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub number: IncidentNumber,
    pub title: String,
    pub severity: Severity,
    /// The channel the incident was opened in and is bound to while not closed.
    pub channel: String,
    pub status: IncidentStatus,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// When the harm stopped, since it was last opened or reopened.
    pub mitigated_at: Option<DateTime<Utc>>,
    /// The follow-up actions in the order added (`A1` first): whether each is done.
    pub actions_done: Vec<bool>,
    pub roles: BTreeMap<Role, String>,
    /// Messages by (channel, source message id), so edits and deletes find their original.
    pub messages: HashMap<(String, String), MessageState>,
    /// Number of events applied: the stream version to expect on the next append.
    pub version: i64,
}

/// Decides what happens when `command` is given to the incident in `state` (`None`: no such
/// incident yet). `number` names the incident being addressed, for messages.
pub fn decide(
    state: Option<&Incident>,
    number: IncidentNumber,
    command: IncidentCommand,
) -> Result<Vec<Event>, IncidentError> {
    decide_as(state, number, command, "")
}

/// `decide` for a command whose effect depends on who gives it (`actor`: a highlight is
/// the giver's own mark).
pub fn decide_as(
    state: Option<&Incident>,
    number: IncidentNumber,
    command: IncidentCommand,
    actor: &str,
) -> Result<Vec<Event>, IncidentError> {
    let incident = match (state, &command) {
        (Some(_), IncidentCommand::Open { number, .. }) => {
            return Err(IncidentError::AlreadyExists(*number))
        }
        (None, IncidentCommand::Open { .. }) => return decide_open(command),
        (None, _) => return Err(IncidentError::NotFound(number)),
        (Some(incident), _) => incident,
    };
    let number = incident.number;
    let management = !matches!(
        command,
        IncidentCommand::Reopen { .. }
            | IncidentCommand::CompleteAction(_)
            | IncidentCommand::RecordMessage(_)
            | IncidentCommand::EditMessage { .. }
            | IncidentCommand::DeleteMessage { .. }
            | IncidentCommand::RecordAlert(_)
    );
    if management && incident.status == IncidentStatus::Closed {
        return Err(IncidentError::Closed(number));
    }
    let event = match command {
        IncidentCommand::Open { .. } => unreachable!("handled above"),
        IncidentCommand::ChangeSeverity(to) => {
            if to == incident.severity {
                return Err(IncidentError::SameSeverity {
                    number,
                    severity: to,
                });
            }
            Event::SeverityChanged {
                from: incident.severity,
                to,
            }
        }
        IncidentCommand::AssignRole { role, handle } => {
            let handle = non_empty("user", &handle)?;
            let previous = incident.roles.get(&role).cloned();
            if previous
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(&handle))
            {
                return Err(IncidentError::SameRole {
                    number,
                    role,
                    handle,
                });
            }
            Event::RoleAssigned {
                role,
                handle,
                previous,
            }
        }
        IncidentCommand::PostUpdate(text) => Event::StatusUpdatePosted {
            text: non_empty("text", &text)?,
        },
        IncidentCommand::NoteImpact { area, text } => Event::ImpactNoted {
            area,
            text: non_empty("text", &text)?,
        },
        IncidentCommand::NoteResolution(text) => Event::ResolutionNoted {
            text: non_empty("text", &text)?,
        },
        IncidentCommand::NoteCause(text) => Event::CauseNoted {
            text: non_empty("text", &text)?,
        },
        IncidentCommand::Mitigate(text) => {
            if incident.status != IncidentStatus::Open {
                return Err(IncidentError::NotOpen {
                    number,
                    status: incident.status,
                });
            }
            if let Some(at) = incident.mitigated_at {
                return Err(IncidentError::AlreadyMitigated { number, at });
            }
            Event::IncidentMitigated {
                text: text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
            }
        }
        IncidentCommand::Highlight { message_id, on } => {
            let message_id = non_empty("message", &message_id)?;
            let Some(((channel, _), state)) = incident
                .messages
                .iter()
                .filter(|((_, id), _)| *id == message_id)
                .min_by(|a, b| a.0.cmp(b.0))
            else {
                return Err(IncidentError::NoSuchMessage { number, message_id });
            };
            let marked = state
                .highlighted_by
                .iter()
                .any(|h| h.eq_ignore_ascii_case(actor));
            if marked == on {
                return Err(IncidentError::SameHighlight {
                    message_id,
                    state: if on { "highlighted" } else { "not highlighted" },
                });
            }
            let channel = channel.clone();
            if on {
                Event::MessageHighlighted {
                    channel,
                    message_id,
                }
            } else {
                Event::MessageHighlightWithdrawn {
                    channel,
                    message_id,
                }
            }
        }
        IncidentCommand::CompleteAction(action) => {
            let count = incident.actions_done.len();
            match incident.actions_done.get((action as usize).wrapping_sub(1)) {
                None => {
                    return Err(IncidentError::NoSuchAction {
                        number,
                        action,
                        count,
                    })
                }
                Some(true) => return Err(IncidentError::ActionAlreadyDone { number, action }),
                Some(false) => Event::ActionCompleted { action },
            }
        }
        IncidentCommand::AddAction { text, owner, due } => Event::ActionAdded {
            text: non_empty("text", &text)?,
            owner,
            due,
        },
        IncidentCommand::Resolve => {
            if incident.status == IncidentStatus::Resolved {
                return Err(IncidentError::AlreadyResolved(number));
            }
            Event::IncidentResolved { implicit: false }
        }
        IncidentCommand::Close => {
            if incident.status == IncidentStatus::Open {
                return Ok(vec![
                    Event::IncidentResolved { implicit: true },
                    Event::IncidentClosed {},
                ]);
            }
            Event::IncidentClosed {}
        }
        IncidentCommand::Reopen { reason } => {
            if incident.status == IncidentStatus::Open {
                return Err(IncidentError::NotReopenable(number));
            }
            Event::IncidentReopened {
                reason: reason.filter(|r| !r.trim().is_empty()),
            }
        }
        IncidentCommand::RecordMessage(message) => Event::MessagePosted(message),
        IncidentCommand::EditMessage {
            channel,
            message_id,
            text,
            found_at,
        } => {
            let key = (channel, message_id);
            let Some(known) = incident.messages.get(&key) else {
                return Err(IncidentError::UnknownMessage {
                    number,
                    channel: key.0,
                    message_id: key.1,
                });
            };
            Event::MessageEdited {
                before: Some(known.text.clone()),
                channel: key.0,
                message_id: key.1,
                after: text,
                found_at,
            }
        }
        IncidentCommand::DeleteMessage {
            channel,
            message_id,
            found_at,
        } => {
            if !incident
                .messages
                .contains_key(&(channel.clone(), message_id.clone()))
            {
                return Err(IncidentError::UnknownMessage {
                    number,
                    channel,
                    message_id,
                });
            }
            Event::MessageDeleted {
                channel,
                message_id,
                found_at,
            }
        }
        IncidentCommand::RecordAlert(alert) => Event::AlertReceived(alert),
        IncidentCommand::Acknowledge { by, via } => {
            if incident.status != IncidentStatus::Open {
                return Err(IncidentError::NotOpen {
                    number,
                    status: incident.status,
                });
            }
            Event::Acknowledged {
                by: non_empty("by", &by)?,
                notification: via.as_ref().map(|(_, n)| n.clone()),
                via: via.map(|(method, _)| method),
            }
        }
    };
    Ok(vec![event])
}

fn decide_open(command: IncidentCommand) -> Result<Vec<Event>, IncidentError> {
    let IncidentCommand::Open {
        number,
        title,
        severity,
        channel,
    } = command
    else {
        unreachable!("decide_open is only called with Open")
    };
    let title = non_empty("title", &title)?;
    let len = title.chars().count();
    if len > MAX_TITLE_CHARS {
        return Err(IncidentError::TitleTooLong { len });
    }
    Ok(vec![Event::IncidentOpened {
        number,
        title,
        severity,
        channel,
    }])
}

fn non_empty(field: &'static str, value: &str) -> Result<String, IncidentError> {
    let value = value.trim();
    if value.is_empty() {
        Err(IncidentError::Empty { field })
    } else {
        Ok(value.to_string())
    }
}

/// Folds one recorded event into the state. Events that do not concern an incident leave it as
/// it is; an event before `IncidentOpened` is ignored (it cannot happen in a valid stream).
pub fn apply(state: Option<Incident>, recorded: &Recorded) -> Option<Incident> {
    let mut incident = match (state, &recorded.event) {
        (
            None,
            Event::IncidentOpened {
                number,
                title,
                severity,
                channel,
            },
        ) => {
            return Some(Incident {
                number: *number,
                title: title.clone(),
                severity: *severity,
                channel: channel.clone(),
                status: IncidentStatus::Open,
                opened_at: recorded.at,
                opened_by: recorded.actor.clone(),
                resolved_at: None,
                closed_at: None,
                mitigated_at: None,
                actions_done: Vec::new(),
                roles: BTreeMap::new(),
                messages: HashMap::new(),
                version: 1,
            })
        }
        (None, _) => return None,
        (Some(incident), _) => incident,
    };
    incident.version += 1;
    match recorded.event.unwrapped() {
        Event::SeverityChanged { to, .. } => incident.severity = *to,
        Event::RoleAssigned { role, handle, .. } => {
            incident.roles.insert(*role, handle.clone());
        }
        Event::IncidentResolved { .. } => {
            incident.status = IncidentStatus::Resolved;
            incident.resolved_at = Some(recorded.at);
        }
        Event::IncidentClosed {} => {
            incident.status = IncidentStatus::Closed;
            incident.closed_at = Some(recorded.at);
        }
        Event::IncidentReopened { .. } => {
            incident.status = IncidentStatus::Open;
            incident.resolved_at = None;
            incident.closed_at = None;
            incident.mitigated_at = None;
        }
        Event::IncidentMitigated { .. } => incident.mitigated_at = Some(recorded.at),
        Event::ActionAdded { .. } => incident.actions_done.push(false),
        Event::ActionCompleted { action } => {
            if let Some(done) = incident
                .actions_done
                .get_mut((*action as usize).wrapping_sub(1))
            {
                *done = true;
            }
        }
        Event::MessageHighlighted {
            channel,
            message_id,
        } => {
            if let Some(m) = incident
                .messages
                .get_mut(&(channel.clone(), message_id.clone()))
            {
                m.highlighted_by.push(recorded.actor.clone());
            }
        }
        Event::MessageHighlightWithdrawn {
            channel,
            message_id,
        } => {
            if let Some(m) = incident
                .messages
                .get_mut(&(channel.clone(), message_id.clone()))
            {
                m.highlighted_by
                    .retain(|h| !h.eq_ignore_ascii_case(&recorded.actor));
            }
        }
        Event::MessagePosted(message) => {
            if let Some(id) = &message.message_id {
                incident.messages.insert(
                    (message.channel.clone(), id.clone()),
                    MessageState {
                        text: message.text.clone(),
                        deleted: false,
                        highlighted_by: Vec::new(),
                    },
                );
            }
        }
        Event::MessageEdited {
            channel,
            message_id,
            after,
            ..
        } => {
            let entry = incident
                .messages
                .entry((channel.clone(), message_id.clone()))
                .or_insert(MessageState {
                    text: String::new(),
                    deleted: false,
                    highlighted_by: Vec::new(),
                });
            entry.text = after.clone();
        }
        Event::MessageDeleted {
            channel,
            message_id,
            ..
        } => {
            if let Some(entry) = incident
                .messages
                .get_mut(&(channel.clone(), message_id.clone()))
            {
                entry.deleted = true;
            }
        }
        _ => {}
    }
    Some(incident)
}

/// Folds a whole stream.
pub fn fold<'a>(records: impl IntoIterator<Item = &'a Recorded>) -> Option<Incident> {
    records.into_iter().fold(None, apply)
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: IncidentNumber = IncidentNumber(3);

    fn record(events: Vec<Event>) -> Vec<Recorded> {
        crate::domain::testkit::given("rpark", events)
    }

    fn run(history: &[Event], command: IncidentCommand) -> Result<Vec<Event>, IncidentError> {
        let recorded = record(history.to_vec());
        decide(fold(&recorded).as_ref(), N, command)
    }

    fn opened() -> Event {
        Event::IncidentOpened {
            number: N,
            title: "Application outage".into(),
            severity: Severity::Sev1,
            channel: "ops".into(),
        }
    }

    fn message(id: &str, text: &str) -> Event {
        Event::MessagePosted(ChatMessage {
            channel: "ops".into(),
            message_id: Some(id.into()),
            author: "svega".into(),
            text: text.into(),
            mentions: vec![],
            reply_to: None,
            attachments: vec![],
        })
    }

    #[test]
    fn open_validates_the_title() {
        let open = |title: &str| IncidentCommand::Open {
            number: N,
            title: title.into(),
            severity: Severity::Sev2,
            channel: "ops".into(),
        };
        assert_eq!(
            run(&[], open("  ")),
            Err(IncidentError::Empty { field: "title" })
        );
        assert!(matches!(
            run(&[], open(&"x".repeat(201))),
            Err(IncidentError::TitleTooLong { len: 201 })
        ));
        assert_eq!(
            run(&[opened()], open("again")),
            Err(IncidentError::AlreadyExists(N))
        );
        assert_eq!(run(&[], open(" Outage ")).unwrap().len(), 1);
    }

    #[test]
    fn commands_on_a_missing_incident_say_how_to_start_one() {
        let err = run(&[], IncidentCommand::Resolve).unwrap_err();
        assert_eq!(err, IncidentError::NotFound(N));
        assert!(err.to_string().contains("/incident open"));
    }

    #[test]
    fn close_resolves_first_and_a_closed_incident_refuses_changes() {
        let events = run(&[opened()], IncidentCommand::Close).unwrap();
        assert_eq!(
            events,
            vec![
                Event::IncidentResolved { implicit: true },
                Event::IncidentClosed {}
            ]
        );
        let history = [opened(), events[0].clone(), events[1].clone()];
        let err = run(&history, IncidentCommand::ChangeSeverity(Severity::Sev2)).unwrap_err();
        assert_eq!(err.to_string(), "INC-3 is closed; /incident reopen first");
        // Facts are still recorded against a closed incident.
        assert!(run(
            &history,
            IncidentCommand::RecordMessage(match message("m9", "late") {
                Event::MessagePosted(m) => m,
                _ => unreachable!(),
            })
        )
        .is_ok());
        assert!(run(&history, IncidentCommand::Reopen { reason: None }).is_ok());
    }

    #[test]
    fn resolve_twice_and_reopen_open_are_refused() {
        let resolved = [opened(), Event::IncidentResolved { implicit: false }];
        assert_eq!(
            run(&resolved, IncidentCommand::Resolve),
            Err(IncidentError::AlreadyResolved(N))
        );
        assert_eq!(
            run(&[opened()], IncidentCommand::Reopen { reason: None }),
            Err(IncidentError::NotReopenable(N))
        );
        let state = fold(&record(resolved.to_vec())).unwrap();
        assert_eq!(state.status, IncidentStatus::Resolved);
        assert!(state.resolved_at.is_some());
    }

    #[test]
    fn severity_and_roles_record_what_they_replace() {
        assert_eq!(
            run(&[opened()], IncidentCommand::ChangeSeverity(Severity::Sev2)).unwrap(),
            vec![Event::SeverityChanged {
                from: Severity::Sev1,
                to: Severity::Sev2
            }]
        );
        assert!(matches!(
            run(&[opened()], IncidentCommand::ChangeSeverity(Severity::Sev1)),
            Err(IncidentError::SameSeverity { .. })
        ));
        let assigned = Event::RoleAssigned {
            role: Role::Commander,
            handle: "rpark".into(),
            previous: None,
        };
        let events = run(
            &[opened(), assigned.clone()],
            IncidentCommand::AssignRole {
                role: Role::Commander,
                handle: "ghammer".into(),
            },
        )
        .unwrap();
        assert_eq!(
            events,
            vec![Event::RoleAssigned {
                role: Role::Commander,
                handle: "ghammer".into(),
                previous: Some("rpark".into())
            }]
        );
        assert!(matches!(
            run(
                &[opened(), assigned],
                IncidentCommand::AssignRole {
                    role: Role::Commander,
                    handle: "RPark".into()
                }
            ),
            Err(IncidentError::SameRole { .. })
        ));
    }

    #[test]
    fn edits_carry_the_text_before_and_unknown_messages_are_refused() {
        let history = [opened(), message("m1", "App is still not respond.")];
        let events = run(
            &history,
            IncidentCommand::EditMessage {
                channel: "ops".into(),
                message_id: "m1".into(),
                text: "App is still not responding.".into(),
                found_at: None,
            },
        )
        .unwrap();
        assert_eq!(
            events,
            vec![Event::MessageEdited {
                channel: "ops".into(),
                message_id: "m1".into(),
                before: Some("App is still not respond.".into()),
                after: "App is still not responding.".into(),
                found_at: None,
            }]
        );
        assert!(matches!(
            run(
                &history,
                IncidentCommand::DeleteMessage {
                    channel: "ops".into(),
                    message_id: "m2".into(),
                    found_at: None,
                }
            ),
            Err(IncidentError::UnknownMessage { .. })
        ));
        let mut all = history.to_vec();
        all.push(Event::MessageDeleted {
            channel: "ops".into(),
            message_id: "m1".into(),
            found_at: None,
        });
        let state = fold(&record(all)).unwrap();
        assert!(state.messages[&("ops".to_string(), "m1".to_string())].deleted);
        assert_eq!(state.version, 3);
    }

    #[test]
    fn mitigation_is_said_once_while_open_and_again_after_a_reopen() {
        let mitigated = Event::IncidentMitigated {
            text: Some("failed over to dns2".into()),
        };
        assert_eq!(
            run(
                &[opened()],
                IncidentCommand::Mitigate(Some(" failed over to dns2 ".into()))
            ),
            Ok(vec![mitigated.clone()])
        );
        assert!(matches!(
            run(
                &[opened(), mitigated.clone()],
                IncidentCommand::Mitigate(None)
            ),
            Err(IncidentError::AlreadyMitigated { .. })
        ));
        let resolved = Event::IncidentResolved { implicit: false };
        assert!(matches!(
            run(
                &[opened(), resolved.clone()],
                IncidentCommand::Mitigate(None)
            ),
            Err(IncidentError::NotOpen { .. })
        ));
        let reopened = Event::IncidentReopened { reason: None };
        assert_eq!(
            run(
                &[opened(), mitigated, resolved, reopened],
                IncidentCommand::Mitigate(None)
            ),
            Ok(vec![Event::IncidentMitigated { text: None }])
        );
    }

    #[test]
    fn a_highlight_is_each_persons_own_mark_on_a_message_of_the_incident() {
        let history = [opened(), message("m1", "the log mount is the culprit")];
        let recorded = record(history.to_vec());
        let state = fold(&recorded);
        let highlight = |on: bool, id: &str| IncidentCommand::Highlight {
            message_id: id.into(),
            on,
        };
        let marked = decide_as(state.as_ref(), N, highlight(true, "m1"), "rpark").unwrap();
        assert_eq!(
            marked,
            [Event::MessageHighlighted {
                channel: "ops".into(),
                message_id: "m1".into()
            }]
        );
        assert!(matches!(
            decide_as(state.as_ref(), N, highlight(true, "m9"), "rpark"),
            Err(IncidentError::NoSuchMessage { .. })
        ));
        assert!(matches!(
            decide_as(state.as_ref(), N, highlight(false, "m1"), "rpark"),
            Err(IncidentError::SameHighlight { .. })
        ));
        // rpark's mark is theirs: they cannot mark again, svega still can.
        let mut recorded = recorded;
        recorded.extend(crate::domain::testkit::given("rpark", marked));
        recorded.last_mut().unwrap().position = 3;
        let state = fold(&recorded);
        assert!(matches!(
            decide_as(state.as_ref(), N, highlight(true, "m1"), "rpark"),
            Err(IncidentError::SameHighlight { .. })
        ));
        assert!(decide_as(state.as_ref(), N, highlight(true, "m1"), "svega").is_ok());
        assert_eq!(
            decide_as(state.as_ref(), N, highlight(false, "m1"), "RPark"),
            Ok(vec![Event::MessageHighlightWithdrawn {
                channel: "ops".into(),
                message_id: "m1".into()
            }])
        );
    }
}
