//! The on-call commands (`/oncall …`): their table entries and the shift orders they become.

use super::{ChatCommand, CommandError, CommandSpec, OptionSpec, Options};
use crate::domain::access::Access;
use crate::domain::shift::OncallOrder;

/// The on-call commands, in the order they are listed.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        words: &["oncall", "start"],
        help: "Go on call (or put someone else on call), taking over from whoever is",
        options: &[OptionSpec {
            name: "user",
            required: false,
            shape: "@handle",
            help: "who goes on call, when not you",
        }],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["oncall", "end"],
        help: "End the current on-call shift and post its summary",
        options: &[],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["oncall", "who"],
        help: "Who is on call now",
        options: &[],
        needs: Access::Viewer,
        confirm: false,
    },
    CommandSpec {
        words: &["oncall", "summary"],
        help: "The on-call summary log of a shift: alerts, what was done, figures, toil",
        options: &[OptionSpec {
            name: "shift",
            required: false,
            shape: "N",
            help: "the shift, when not the current or last one",
        }],
        needs: Access::Viewer,
        confirm: false,
    },
];

/// Builds the typed command for one of this group's words; its options are already checked
/// against the table.
pub(super) fn interpret(o: &Options) -> Result<ChatCommand, CommandError> {
    match o.words() {
        ["oncall", "start"] => Ok(ChatCommand::Oncall(OncallOrder::Start(
            o.handle("user").filter(|u| !u.is_empty()),
        ))),
        ["oncall", "end"] => Ok(ChatCommand::Oncall(OncallOrder::End)),
        ["oncall", "who"] => Ok(ChatCommand::Oncall(OncallOrder::Who)),
        ["oncall", "summary"] => Ok(ChatCommand::Oncall(OncallOrder::Summary(
            o.get("shift")
                .map(|n| {
                    n.trim_start_matches('#').parse::<u32>().map_err(|_| {
                        o.invalid(format!("shift:{n} is not a shift number; write shift:3"))
                    })
                })
                .transpose()?,
        ))),
        _ => Err(o.not_interpreted()),
    }
}
