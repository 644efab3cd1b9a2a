//! The deploy commands (`/deploy record`, `/deploys last`): their table entries, the
//! `service:` option, and the typed commands the deploy use cases take.

use super::{ChatCommand, CommandError, CommandSpec, OptionSpec, Options};
use crate::domain::access::Access;
use crate::domain::deploy::Deploy;

/// The `service:app` option; `/deploys last` takes it as optional.
const SERVICE: OptionSpec = OptionSpec {
    name: "service",
    required: true,
    shape: "app",
    help: "the service deployed",
};

/// The deploy commands, in the order they are listed.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        words: &["deploy", "record"],
        help: "Record a deploy (pipelines post to /v1/deploys instead)",
        options: &[
            SERVICE,
            OptionSpec {
                name: "env",
                required: true,
                shape: "prod",
                help: "the environment deployed to",
            },
            OptionSpec {
                name: "version",
                required: true,
                shape: "2.0.0",
                help: "the version or build deployed",
            },
            OptionSpec {
                name: "migrations",
                required: false,
                shape: "yes|no",
                help: "whether it ran database migrations",
            },
            OptionSpec {
                name: "status",
                required: false,
                shape: "started|succeeded|failed|rolled_back",
                help: "how it ended (default succeeded)",
            },
            OptionSpec {
                name: "commit",
                required: false,
                shape: "SHA",
                help: "the commit deployed",
            },
            OptionSpec {
                name: "notes",
                required: false,
                shape: "\"…\"",
                help: "anything worth knowing",
            },
            OptionSpec {
                name: "by",
                required: false,
                shape: "@handle",
                help: "who deployed, when not you",
            },
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["deploys", "last"],
        help: "When was the last deploy? The newest deploys, with who, version, migrations, status",
        options: &[
            OptionSpec {
                required: false,
                ..SERVICE
            },
            OptionSpec {
                name: "env",
                required: false,
                shape: "prod",
                help: "only deploys to this environment",
            },
            OptionSpec {
                name: "count",
                required: false,
                shape: "N",
                help: "how many (default 5)",
            },
        ],
        needs: Access::Viewer,
        confirm: false,
    },
];

/// Builds the typed command for one of this group's words; its options are already checked
/// against the table.
pub(super) fn interpret(o: &Options) -> Result<ChatCommand, CommandError> {
    match o.words() {
        ["deploy", "record"] => {
            // Checked here, with a stand-in speaker, so a mistake comes with the usage line.
            Deploy::from_options(o.as_written(), "someone")
                .map_err(|e| o.invalid(e.to_string()))?;
            Ok(ChatCommand::RecordDeploy {
                options: o.as_written().clone(),
            })
        }
        ["deploys", "last"] => Ok(ChatCommand::LastDeploys {
            service: o.get("service").map(|s| s.to_ascii_lowercase()),
            environment: o.get("env").map(|s| s.to_ascii_lowercase()),
            count: match o.get("count") {
                None => 5,
                Some(n) => n
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=50).contains(n))
                    .ok_or_else(|| o.invalid(format!("count:{n} is not a number from 1 to 50")))?,
            },
        }),
        _ => Err(o.not_interpreted()),
    }
}
