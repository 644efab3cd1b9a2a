//! The chat command a runbook adds and who may use it: its words and help text (within
//! Discord's limits, clear of warroom's own commands), the roles that may run it and who
//! approves a run.

use super::file::{ApprovalFile, Mistakes};
use super::Approver;
use crate::domain::access::Access;
use toml::Spanned;

/// Longest description Discord shows for a command.
const DESCRIPTION_LIMIT: usize = 100;
/// Longest command word and parameter name: Discord's limit for command and option names.
pub(super) const NAME_LIMIT: usize = 32;
/// Words chat commands of warroom itself use: a runbook may not take them.
const RESERVED: &[&str] = &[
    "incident", "ack", "help", "oncall", "deploy", "deploys", "release",
];

/// The chat command's words, lowercased: one or two, none of them warroom's own first word.
pub(super) fn words(given: &Spanned<String>, mistakes: &mut Mistakes) -> Vec<String> {
    let command: Vec<String> = given
        .get_ref()
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let command_line = mistakes.line_of(given.span());
    let word_ok = |w: &String| {
        w.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if command.is_empty()
        || command.len() > 2
        || !command.iter().all(word_ok)
        || command.iter().any(|w| w.len() > NAME_LIMIT)
    {
        mistakes.fail(
            command_line,
            "command",
            format!(
                "'{}' is not a command; use one or two lowercase words of up to 32 characters, e.g. \"failover dns\"",
                given.get_ref()
            ),
        );
    } else if RESERVED.contains(&command[0].as_str()) {
        mistakes.fail(
            command_line,
            "command",
            format!(
                "/{} is one of warroom's own commands; choose another first word",
                command[0]
            ),
        );
    }
    command
}

/// The help text, trimmed: present and short enough for Discord to show.
pub(super) fn description(given: &Spanned<String>, mistakes: &mut Mistakes) -> String {
    let description = given.get_ref().trim().to_string();
    if description.is_empty() || description.chars().count() > DESCRIPTION_LIMIT {
        mistakes.fail(
            mistakes.line_of(given.span()),
            "description",
            format!("write the help text in 1 to {DESCRIPTION_LIMIT} characters"),
        );
    }
    description
}

/// The least role that may run it: the lowest of the roles the file allows (sre when none
/// is valid, for then the file is refused anyway).
pub(super) fn needs(roles: &Spanned<Vec<String>>, mistakes: &mut Mistakes) -> Access {
    let roles_line = mistakes.line_of(roles.span());
    let mut allowed = Vec::new();
    for role in roles.get_ref() {
        match role.parse::<Access>() {
            Ok(a) if a > Access::Guest => allowed.push(a),
            Ok(_) => mistakes.fail(
                roles_line,
                "roles",
                "guest may run no command; name viewer, responder or sre".into(),
            ),
            Err(e) => mistakes.fail(roles_line, "roles", e.to_string()),
        }
    }
    if roles.get_ref().is_empty() {
        mistakes.fail(
            roles_line,
            "roles",
            "name who may run it: viewer, responder or sre".into(),
        );
    }
    allowed.iter().copied().min().unwrap_or(Access::Sre)
}

/// Who approves a run, when the file asks for approval: exactly one role or one team.
pub(super) fn approval(
    given: Option<&Spanned<ApprovalFile>>,
    mistakes: &mut Mistakes,
) -> Option<Approver> {
    given.and_then(|a| {
        let line = mistakes.line_of(a.span());
        match (&a.get_ref().role, &a.get_ref().team) {
            (Some(role), None) => match role.parse::<Access>() {
                Ok(r) => Some(Approver::Role(r)),
                Err(e) => {
                    mistakes.fail(line, "approval.role", e.to_string());
                    None
                }
            },
            (None, Some(team)) if !team.trim().is_empty() => {
                Some(Approver::Team(team.trim().to_string()))
            }
            _ => {
                mistakes.fail(
                    line,
                    "approval",
                    "name one approver: role = \"sre\" or team = \"Compliance\"".into(),
                );
                None
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::Runbook;

    #[test]
    fn names_fit_in_discord() {
        let long = "a".repeat(33);
        let text = format!(
            "command = \"{long}\"\ndescription = \"d\"\nroles = [\"sre\"]\n[[params]]\nname = \"{long}\"\npattern = \"x\"\n[[steps]]\nid = \"s\"\nprogram = \"p\"\n"
        );
        let errors = Runbook::parse("commands/long.toml", &text).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["command", "params[0].name"], "{errors:?}");
    }
}
