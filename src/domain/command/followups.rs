//! The follow-up commands (`/action done`, `/actions`): marking a post-mortem's action done,
//! and listing the actions of every incident.

use super::incident::INCIDENT;
use super::{ChatCommand, CommandError, CommandSpec, OptionSpec, Options};
use crate::domain::access::Access;
use crate::domain::incident::IncidentCommand;
use crate::domain::types::IncidentNumber;

/// The follow-up commands, in the order they are listed.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        words: &["action", "done"],
        help: "Mark a follow-up action of a post-mortem done",
        options: &[
            OptionSpec {
                name: "id",
                required: true,
                shape: "A2|INC-7/A2",
                help: "the action, as the post-mortem's Action Plan and /actions name it",
            },
            INCIDENT,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["actions"],
        help: "List the follow-up actions of every incident (open ones unless all:yes)",
        options: &[
            OptionSpec {
                name: "owner",
                required: false,
                shape: "@handle",
                help: "only this person's",
            },
            OptionSpec {
                name: "all",
                required: false,
                shape: "yes",
                help: "done ones too",
            },
        ],
        needs: Access::Viewer,
        confirm: false,
    },
];

/// Which follow-up actions a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionFilter {
    /// Only the ones not done.
    pub open_only: bool,
    /// Only this owner's (a handle or alias, without `@`).
    pub owner: Option<String>,
}

/// Builds the typed command for one of this group's words.
pub(super) fn interpret(o: &Options) -> Result<ChatCommand, CommandError> {
    match o.words() {
        ["action", "done"] => {
            let named = o.incident()?;
            let given = o.get("id").unwrap_or_default();
            let (incident, action) = read_action_id(&given).ok_or_else(|| {
                o.invalid(format!(
                    "'{given}' is not an action; write id:A2, or id:INC-7/A2 outside the incident's channel"
                ))
            })?;
            let incident = match (incident, named) {
                (Some(a), Some(b)) if a != b => {
                    return Err(o.invalid(format!("id:{given} is not an action of {b}")))
                }
                (a, b) => a.or(b),
            };
            Ok(ChatCommand::Order {
                incident,
                order: Box::new(IncidentCommand::CompleteAction(action)),
            })
        }
        ["actions"] => Ok(ChatCommand::Actions(ActionFilter {
            open_only: !matches!(
                o.get("all")
                    .as_deref()
                    .map(str::to_ascii_lowercase)
                    .as_deref(),
                Some("yes" | "true")
            ),
            owner: o.handle("owner").filter(|h| !h.is_empty()),
        })),
        _ => Err(o.not_interpreted()),
    }
}

/// `A2` or `INC-7/A2` (also `7/A2`, `a2`): the incident when named, and the action's number.
pub fn read_action_id(given: &str) -> Option<(Option<IncidentNumber>, u32)> {
    let given = given.trim();
    let (incident, action) = match given.rsplit_once('/') {
        Some((incident, action)) => (Some(incident.parse::<IncidentNumber>().ok()?), action),
        None => (None, given),
    };
    let number = action
        .strip_prefix(['A', 'a'])?
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)?;
    Some((incident, number))
}

#[cfg(test)]
mod tests {
    use super::super::{interpret, parse};
    use super::*;

    #[test]
    fn an_action_is_named_alone_in_its_channel_or_with_its_incident_anywhere() {
        assert_eq!(read_action_id("A2"), Some((None, 2)));
        assert_eq!(
            read_action_id("INC-7/a12"),
            Some((Some(IncidentNumber(7)), 12))
        );
        assert_eq!(read_action_id("A0"), None);
        assert_eq!(read_action_id("2"), None);
        assert_eq!(read_action_id("INC-x/A2"), None);
        assert_eq!(
            interpret(&parse("/action done id:INC-7/A2").unwrap()),
            Ok(ChatCommand::Order {
                incident: Some(IncidentNumber(7)),
                order: Box::new(IncidentCommand::CompleteAction(2)),
            })
        );
        assert!(interpret(&parse("/action done id:INC-7/A2 incident:INC-8").unwrap()).is_err());
        assert_eq!(
            interpret(&parse("/actions owner:@ghammer").unwrap()),
            Ok(ChatCommand::Actions(ActionFilter {
                open_only: true,
                owner: Some("ghammer".into())
            }))
        );
    }
}
