//! The release commands (`/release …`), which build a release's as-built document
//! (`domain::release`): their table entries and the `version:` option. The release rules read
//! the options themselves (`release::rules::interpret`).

use super::{ChatCommand, CommandError, CommandSpec, OptionSpec, Options, TEXT};
use crate::domain::access::Access;
use crate::domain::release::rules;

/// The `version:N` option of release commands.
const RELEASE: OptionSpec = OptionSpec {
    name: "version",
    required: false,
    shape: "N",
    help: "the release, when not the one open",
};

/// The release commands, in the order they are listed.
pub const COMMANDS: &[CommandSpec] = &[
    // Releases: `/release …` builds a release's as-built document (domain::release).
    CommandSpec {
        words: &["release", "open"],
        help: "Open a release; its changes and notes make its as-built document",
        options: &[OptionSpec {
            name: "version",
            required: true,
            shape: "N",
            help: "the release's version, e.g. 2",
        }],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["release", "change"],
        help: "Add a code, data model or system change to the release",
        options: &[
            OptionSpec {
                name: "kind",
                required: true,
                shape: "security|bug-fix|feature|feature-modification|data-model|system",
                help: "what kind of change",
            },
            TEXT,
            OptionSpec {
                name: "ticket",
                required: false,
                shape: "Tk-N",
                help: "the ticket to follow up with",
            },
            RELEASE,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["release", "stakeholder"],
        help: "Name a stakeholder of the release, under a team",
        options: &[
            OptionSpec {
                name: "user",
                required: true,
                shape: "@handle",
                help: "who (a handle, or a quoted name)",
            },
            OptionSpec {
                name: "team",
                required: false,
                shape: "ops",
                help: "their team in this release (default: theirs in the contact list)",
            },
            RELEASE,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["release", "decision"],
        help: "Note a design decision of the release, with its supporting document",
        options: &[
            TEXT,
            OptionSpec {
                name: "doc",
                required: false,
                shape: "\"Design Doc N\"",
                help: "where the decision is discussed",
            },
            RELEASE,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["release", "test"],
        help: "Note a test highlight of the release",
        options: &[TEXT, RELEASE],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["release", "note"],
        help: "Add a deployment note to the release",
        options: &[TEXT, RELEASE],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["release", "capacity"],
        help: "Plan a component's replicas and resources for the release, with the arithmetic",
        options: &[
            OptionSpec {
                name: "service",
                required: true,
                shape: "app",
                help: "the component; its Deployment is named after it",
            },
            OptionSpec {
                name: "image",
                required: true,
                shape: "IMAGE",
                help: "the container image to run",
            },
            OptionSpec {
                name: "memory",
                required: true,
                shape: "256Mi",
                help: "today's memory request per replica",
            },
            OptionSpec {
                name: "utilisation",
                required: true,
                shape: "85",
                help: "percent of that request in use today",
            },
            OptionSpec {
                name: "cpu",
                required: true,
                shape: "250m",
                help: "today's CPU request per replica (or of the component it is sized after)",
            },
            OptionSpec {
                name: "users",
                required: false,
                shape: "2600",
                help: "concurrent users expected after the release",
            },
            OptionSpec {
                name: "per_replica",
                required: false,
                shape: "500",
                help: "concurrent users one replica serves",
            },
            OptionSpec {
                name: "replicas",
                required: false,
                shape: "3",
                help: "replicas today (the count to run when no users are given)",
            },
            OptionSpec {
                name: "growth",
                required: false,
                shape: "25",
                help: "percent more memory the release needs for the same users",
            },
            OptionSpec {
                name: "cpu_factor",
                required: false,
                shape: "1",
                help: "how many times that CPU it needs (default 1)",
            },
            OptionSpec {
                name: "port",
                required: false,
                shape: "80",
                help: "the port the container listens on",
            },
            RELEASE,
        ],
        needs: Access::Sre,
        confirm: false,
    },
    CommandSpec {
        words: &["release", "publish"],
        help: "Publish the release: its as-built document is final",
        options: &[RELEASE],
        needs: Access::Sre,
        confirm: true,
    },
];

/// Builds the typed command for one of this group's words; its options are already checked
/// against the table.
pub(super) fn interpret(o: &Options) -> Result<ChatCommand, CommandError> {
    match o.words() {
        ["release", word] => rules::interpret(word, o.as_written())
            .map(|(version, order)| ChatCommand::Release { version, order })
            .map_err(|problem| o.invalid(problem)),
        _ => Err(o.not_interpreted()),
    }
}
