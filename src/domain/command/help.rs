//! The `/help` command: its table entry. The text it answers with is `help_text`, in `mod.rs`.

use super::{ChatCommand, CommandError, CommandSpec, Options};
use crate::domain::access::Access;

/// The help command, listed last.
pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    words: &["help"],
    help: "List the commands",
    options: &[],
    needs: Access::Viewer,
    confirm: false,
}];

/// Builds the typed command for `/help`.
pub(super) fn interpret(o: &Options) -> Result<ChatCommand, CommandError> {
    match o.words() {
        ["help"] => Ok(ChatCommand::Help),
        _ => Err(o.not_interpreted()),
    }
}
