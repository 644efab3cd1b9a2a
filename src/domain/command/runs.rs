//! The runbook run commands (`/confirm`, `/approve`): their table entries, the `run:` option,
//! and the typed commands the run use cases take.

use super::incident::INCIDENT;
use super::{ChatCommand, CommandError, CommandSpec, OptionSpec, Options};
use crate::domain::access::Access;

/// The `run:N` option of the run commands.
const RUN: OptionSpec = OptionSpec {
    name: "run",
    required: false,
    shape: "N",
    help: "the run's number in the incident, when not the one waiting",
};

/// The run commands, in the order they are listed.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        words: &["confirm"],
        help: "Confirm the runbook run you asked for (or reply confirm)",
        options: &[RUN, INCIDENT],
        needs: Access::Viewer,
        confirm: false,
    },
    CommandSpec {
        words: &["approve"],
        help: "Approve someone else's runbook run that needs a second person",
        options: &[RUN, INCIDENT],
        needs: Access::Viewer,
        confirm: false,
    },
];

/// Builds the typed command for one of this group's words; its options are already checked
/// against the table.
pub(super) fn interpret(o: &Options) -> Result<ChatCommand, CommandError> {
    // Read in this order, as before the split: `incident:`, then `run:`.
    let incident = o.incident()?;
    let run = o
        .get("run")
        .map(|v| {
            v.trim_start_matches('#')
                .parse::<u32>()
                .map_err(|_| o.invalid(format!("run:{v} is not a run number; write run:2")))
        })
        .transpose()?;
    match o.words() {
        ["confirm"] => Ok(ChatCommand::ConfirmRun { incident, run }),
        ["approve"] => Ok(ChatCommand::ApproveRun { incident, run }),
        _ => Err(o.not_interpreted()),
    }
}
