//! The incident commands (`/incident …`, `/ack`): their table entries, the shared `incident:`
//! option, and how each becomes a typed command, mostly an order for the incident's `decide`.

use super::{ChatCommand, CommandError, CommandSpec, OptionSpec, Options, DEFAULT_SEVERITY, TEXT};
use crate::domain::access::Access;
use crate::domain::incident::IncidentCommand;
use crate::domain::types::{ImpactArea, UnknownWord};
use chrono::NaiveDate;

/// The `incident:INC-N` option of commands that address an incident (runbooks too).
pub const INCIDENT: OptionSpec = OptionSpec {
    name: "incident",
    required: false,
    shape: "INC-N",
    help: "the incident, when not the one bound to this channel",
};

/// The incident commands, in the order they are listed.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        words: &["incident", "open"],
        help: "Open an incident bound to this channel",
        options: &[
            OptionSpec {
                name: "title",
                required: true,
                shape: "\"…\"",
                help: "what is broken, in a few words",
            },
            OptionSpec {
                name: "severity",
                required: false,
                shape: "sev1|sev2|sev3|sev4",
                help: "how bad it is (default sev3)",
            },
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "severity"],
        help: "Change the incident's severity",
        options: &[
            OptionSpec {
                name: "severity",
                required: true,
                shape: "sev1|sev2|sev3|sev4",
                help: "the new severity",
            },
            INCIDENT,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "role"],
        help: "Give someone an incident role",
        options: &[
            OptionSpec {
                name: "role",
                required: true,
                shape: "commander|comms|scribe",
                help: "the role",
            },
            OptionSpec {
                name: "user",
                required: true,
                shape: "@handle",
                help: "who takes it",
            },
            INCIDENT,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "update"],
        help: "Post a status update",
        options: &[TEXT, INCIDENT],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "impact"],
        help: "Note how the incident hurt the business, customers or systems",
        options: &[
            OptionSpec {
                name: "area",
                required: true,
                shape: "business|customer|system",
                help: "what was hurt",
            },
            TEXT,
            INCIDENT,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "resolution"],
        help: "Note what resolved the incident",
        options: &[TEXT, INCIDENT],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "cause"],
        help: "Note what caused the incident or contributed to it",
        options: &[TEXT, INCIDENT],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "mitigated"],
        help: "Say the harm has stopped, though the incident stays open until resolved",
        options: &[
            OptionSpec {
                name: "text",
                required: false,
                shape: "\"…\"",
                help: "how it was mitigated",
            },
            INCIDENT,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "highlight"],
        help: "Mark a message as a key moment of the post-mortem (a ⭐ reaction does the same)",
        options: &[
            OptionSpec {
                name: "message",
                required: true,
                shape: "ID|link",
                help: "the message's id, or its link (Copy Message Link)",
            },
            OptionSpec {
                name: "off",
                required: false,
                shape: "yes",
                help: "take your mark off instead",
            },
            INCIDENT,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "action"],
        help: "Add a follow-up action to the post-mortem's action plan",
        options: &[
            TEXT,
            OptionSpec {
                name: "owner",
                required: false,
                shape: "@handle",
                help: "who will do it",
            },
            OptionSpec {
                name: "due",
                required: false,
                shape: "YYYY-MM-DD",
                help: "by when",
            },
            INCIDENT,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "resolve"],
        help: "Mark the incident resolved",
        options: &[INCIDENT],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "close"],
        help: "Close the incident (resolving it first) and draft the post-mortem",
        options: &[INCIDENT],
        needs: Access::Sre,
        confirm: true,
    },
    CommandSpec {
        words: &["incident", "reopen"],
        help: "Reopen a resolved or closed incident",
        options: &[
            OptionSpec {
                name: "reason",
                required: false,
                shape: "\"…\"",
                help: "why it is back",
            },
            INCIDENT,
        ],
        needs: Access::Sre,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "timeline"],
        help: "Show the incident's timeline so far",
        options: &[INCIDENT],
        needs: Access::Viewer,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "postmortem"],
        help: "Show the post-mortem draft",
        options: &[INCIDENT],
        needs: Access::Viewer,
        confirm: false,
    },
    CommandSpec {
        words: &["incident", "page"],
        help: "Page a team or a person now, through the pagers that reach them",
        options: &[
            OptionSpec {
                name: "team",
                required: false,
                shape: "dba",
                help: "the team to page (give team, user or schedule)",
            },
            OptionSpec {
                name: "user",
                required: false,
                shape: "@handle",
                help: "the person to page (give team, user or schedule)",
            },
            OptionSpec {
                name: "schedule",
                required: false,
                shape: "NAME",
                help: "page whoever this schedule has on call",
            },
            OptionSpec {
                name: "message",
                required: false,
                shape: "\"…\"",
                help: "what they should know",
            },
            INCIDENT,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["ack"],
        help: "Acknowledge the incident's pages: its escalation stops",
        options: &[INCIDENT],
        needs: Access::Responder,
        confirm: false,
    },
];

/// Builds the typed command for one of this group's words; its options are already checked
/// against the table.
pub(super) fn interpret(o: &Options) -> Result<ChatCommand, CommandError> {
    // Read first, as before the split: a bad `incident:` is the error a person sees first.
    let incident = o.incident()?;
    let order = |order: IncidentCommand| {
        Ok(ChatCommand::Order {
            incident,
            order: Box::new(order),
        })
    };
    match o.words() {
        ["incident", "open"] => Ok(ChatCommand::Open {
            title: o.get("title").unwrap_or_default(),
            severity: o.severity(Some(DEFAULT_SEVERITY))?,
        }),
        ["incident", "severity"] => order(IncidentCommand::ChangeSeverity(o.severity(None)?)),
        ["incident", "role"] => order(IncidentCommand::AssignRole {
            role: o
                .get("role")
                .unwrap_or_default()
                .parse()
                .map_err(|e: UnknownWord| o.invalid(e.to_string()))?,
            handle: o.handle("user").unwrap_or_default(),
        }),
        ["incident", "update"] => order(IncidentCommand::PostUpdate(o.text())),
        ["incident", "impact"] => order(IncidentCommand::NoteImpact {
            area: o
                .get("area")
                .unwrap_or_default()
                .parse::<ImpactArea>()
                .map_err(|e| o.invalid(e.to_string()))?,
            text: o.text(),
        }),
        ["incident", "resolution"] => order(IncidentCommand::NoteResolution(o.text())),
        ["incident", "cause"] => order(IncidentCommand::NoteCause(o.text())),
        ["incident", "mitigated"] => order(IncidentCommand::Mitigate(o.get("text"))),
        ["incident", "highlight"] => order(IncidentCommand::Highlight {
            message_id: message_id(&o.get("message").unwrap_or_default()),
            on: match o
                .get("off")
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None | Some("no" | "false") => true,
                Some("yes" | "true" | "") => false,
                Some(other) => {
                    return Err(o.invalid(format!("off:{other} is not yes or no")));
                }
            },
        }),
        ["incident", "action"] => order(IncidentCommand::AddAction {
            text: o.text(),
            owner: o.handle("owner").filter(|owner| !owner.is_empty()),
            due: o
                .get("due")
                .map(|d| {
                    NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| {
                        o.invalid(format!(
                            "due date '{d}' is not a date; write it as YYYY-MM-DD"
                        ))
                    })
                })
                .transpose()?,
        }),
        ["incident", "resolve"] => order(IncidentCommand::Resolve),
        ["incident", "close"] => order(IncidentCommand::Close),
        ["incident", "reopen"] => order(IncidentCommand::Reopen {
            reason: o.get("reason"),
        }),
        ["incident", "page"] => {
            let given: Vec<String> = [
                o.handle("team").map(|t| format!("!{t}")),
                o.handle("user").map(|u| format!("@{u}")),
                o.get("schedule").map(|s| format!("schedule:{s}")),
            ]
            .into_iter()
            .flatten()
            .filter(|t| t.len() > 1 && !t.ends_with(':'))
            .collect();
            let target = match given.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(o.invalid("say whom to page with team:, user: or schedule:".into()))
                }
                _ => return Err(o.invalid("give one of team, user or schedule".into())),
            };
            Ok(ChatCommand::Page {
                incident,
                target,
                message: o.get("message").filter(|m| !m.is_empty()),
            })
        }
        ["ack"] => order(IncidentCommand::Acknowledge {
            by: String::new(),
            via: None,
        }),
        ["incident", "timeline"] => Ok(ChatCommand::Timeline { incident }),
        ["incident", "postmortem"] => Ok(ChatCommand::Postmortem { incident }),
        _ => Err(o.not_interpreted()),
    }
}

/// The message id from an id or a message link (`…/channels/GUILD/CHANNEL/MESSAGE`).
fn message_id(given: &str) -> String {
    let given = given.trim().trim_end_matches('/');
    match given.rsplit_once('/') {
        Some((_, last)) if given.contains("://") => last.to_string(),
        _ => given.to_string(),
    }
}

#[cfg(test)]
mod tests {
    // The whole path, table checks then this group; it shadows the group's own `interpret`.
    use super::super::{interpret, parse};
    use super::*;
    use crate::domain::types::{IncidentNumber, Role, Severity};

    #[test]
    fn highlight_takes_an_id_or_a_message_link_and_off_takes_the_mark_away() {
        let highlight = |line: &str| interpret(&parse(line).unwrap());
        let expect = |id: &str, on: bool| {
            Ok(ChatCommand::Order {
                incident: None,
                order: Box::new(IncidentCommand::Highlight {
                    message_id: id.into(),
                    on,
                }),
            })
        };
        assert_eq!(
            highlight("/incident highlight message:m13"),
            expect("m13", true)
        );
        assert_eq!(
            highlight("/incident highlight message:https://discord.com/channels/1/2/345 off:yes"),
            expect("345", false)
        );
        assert!(highlight("/incident highlight message:m13 off:maybe").is_err());
        assert_eq!(
            interpret(&parse("/incident mitigated").unwrap()),
            Ok(ChatCommand::Order {
                incident: None,
                order: Box::new(IncidentCommand::Mitigate(None)),
            })
        );
    }

    #[test]
    fn interpret_builds_typed_commands_with_defaults() {
        let cmd =
            interpret(&parse(r#"/incident open title:"Application outage""#).unwrap()).unwrap();
        assert_eq!(
            cmd,
            ChatCommand::Open {
                title: "Application outage".into(),
                severity: Severity::Sev3
            }
        );
        let cmd =
            interpret(&parse("/incident role role:commander user:@rpark incident:7").unwrap())
                .unwrap();
        assert_eq!(
            cmd,
            ChatCommand::Order {
                incident: Some(IncidentNumber(7)),
                order: Box::new(IncidentCommand::AssignRole {
                    role: Role::Commander,
                    handle: "rpark".into()
                }),
            }
        );
    }
}
