//! The console command syntax shared by every front end, and the table of chat commands.
//!
//! `/incident open title:"Application outage" severity:sev1` is words, then `key:value`
//! options, a value quoted when it has spaces. Parsing is two steps: `parse` checks the syntax,
//! `interpret` checks the words and options against the command table and builds a typed
//! command. Both give errors that end with the usage line, so a person can retry at once.

use super::access::Access;
use super::incident::IncidentCommand;
use super::release::rules::{self, ReleaseCommand};
use super::release::values::Version;
use super::types::{ImpactArea, IncidentNumber, Severity};
use chrono::NaiveDate;
use std::collections::BTreeMap;

/// A command as written: its words and options, not yet checked against the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCommand {
    /// The command's words without the slash, lowercased: `["incident", "open"]`.
    pub words: Vec<String>,
    /// Options by lowercased name; values as written, quotes removed.
    pub options: BTreeMap<String, String>,
}

/// What was wrong with the way a command was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("a command starts with '/'")]
    NoSlash,
    #[error("the command is empty; try /help")]
    Empty,
    #[error("the quote opened at character {at} is never closed; close it with \"")]
    UnclosedQuote { at: usize },
    #[error("option '{0}' is given twice; give each option once")]
    Duplicate(String),
    #[error("'{0}' follows the options; quote values with spaces, e.g. text:\"two words\"")]
    StrayWord(String),
    #[error("'{0}' has no option name before ':'")]
    NoName(String),
}

impl ParsedCommand {
    /// The command in console syntax, quoting values as `parse` reads them back: how a
    /// command given as typed options (a Discord slash command) takes the same path as one
    /// typed in the console.
    pub fn to_console_text(&self) -> String {
        let mut text = format!("/{}", self.words.join(" "));
        for (name, value) in &self.options {
            text.push(' ');
            text.push_str(name);
            text.push(':');
            if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c == '"') {
                text.push('"');
                for c in value.chars() {
                    if matches!(c, '"' | '\\') {
                        text.push('\\');
                    }
                    text.push(c);
                }
                text.push('"');
            } else {
                text.push_str(value);
            }
        }
        text
    }
}

/// Checks the syntax of a console command.
pub fn parse(text: &str) -> Result<ParsedCommand, SyntaxError> {
    let text = text.trim();
    let body = text.strip_prefix('/').ok_or(SyntaxError::NoSlash)?;
    let mut words = Vec::new();
    let mut options = BTreeMap::new();
    let chars: Vec<(usize, char)> = body.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].1.is_whitespace() {
            i += 1;
            continue;
        }
        // Read the token's name part up to whitespace or ':'.
        let start = i;
        while i < chars.len() && !chars[i].1.is_whitespace() && chars[i].1 != ':' {
            i += 1;
        }
        let name: String = chars[start..i].iter().map(|(_, c)| c).collect();
        if i < chars.len() && chars[i].1 == ':' {
            i += 1;
            let value = if i < chars.len() && chars[i].1 == '"' {
                let quote_at = i + 2; // 1-based character count, counting the slash
                i += 1;
                let mut value = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(SyntaxError::UnclosedQuote { at: quote_at }),
                        Some((_, '"')) => {
                            i += 1;
                            break;
                        }
                        Some((_, '\\')) if matches!(chars.get(i + 1), Some((_, '"' | '\\'))) => {
                            value.push(chars[i + 1].1);
                            i += 2;
                        }
                        Some((_, c)) => {
                            value.push(*c);
                            i += 1;
                        }
                    }
                }
                value
            } else {
                let vstart = i;
                while i < chars.len() && !chars[i].1.is_whitespace() {
                    i += 1;
                }
                chars[vstart..i].iter().map(|(_, c)| c).collect()
            };
            if name.is_empty() {
                return Err(SyntaxError::NoName(format!(":{value}")));
            }
            let key = name.to_lowercase();
            if options.insert(key.clone(), value).is_some() {
                return Err(SyntaxError::Duplicate(key));
            }
        } else if options.is_empty() {
            words.push(name.to_lowercase());
        } else {
            return Err(SyntaxError::StrayWord(name));
        }
    }
    if words.is_empty() {
        return Err(SyntaxError::Empty);
    }
    Ok(ParsedCommand { words, options })
}

/// One option of a chat command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    pub name: &'static str,
    pub required: bool,
    /// How to write the value in the usage line.
    pub shape: &'static str,
    /// What the option is for; the help text of the Discord option.
    pub help: &'static str,
}

/// One chat command: its words, options and help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    pub words: &'static [&'static str],
    pub help: &'static str,
    pub options: &'static [OptionSpec],
    /// The least warroom role a chat user must hold to run it.
    pub needs: Access,
    /// Whether a chat user confirms it (a button) before it runs: what cannot be taken back
    /// with one command. The operator's console and transcripts run it at once.
    pub confirm: bool,
}

impl CommandSpec {
    /// `/incident open title:"…" [severity:sev1|sev2|sev3|sev4]`
    pub fn usage(&self) -> String {
        let mut line = format!("/{}", self.words.join(" "));
        for o in self.options {
            let part = format!("{}:{}", o.name, o.shape);
            if o.required {
                line.push_str(&format!(" {part}"));
            } else {
                line.push_str(&format!(" [{part}]"));
            }
        }
        line
    }
}

/// The `incident:INC-N` option of commands that address an incident (runbooks too).
pub const INCIDENT: OptionSpec = OptionSpec {
    name: "incident",
    required: false,
    shape: "INC-N",
    help: "the incident, when not the one bound to this channel",
};
const RUN: OptionSpec = OptionSpec {
    name: "run",
    required: false,
    shape: "N",
    help: "the run's number in the incident, when not the one waiting",
};
const TEXT: OptionSpec = OptionSpec {
    name: "text",
    required: true,
    shape: "\"…\"",
    help: "what to record",
};

const SERVICE: OptionSpec = OptionSpec {
    name: "service",
    required: true,
    shape: "app",
    help: "the service deployed",
};

/// The `version:N` option of release commands.
const RELEASE: OptionSpec = OptionSpec {
    name: "version",
    required: false,
    shape: "N",
    help: "the release, when not the one open",
};

/// Every chat command the incident domain understands.
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
                help: "the team to page (give team or user)",
            },
            OptionSpec {
                name: "user",
                required: false,
                shape: "@handle",
                help: "the person to page (give team or user)",
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
    CommandSpec {
        words: &["help"],
        help: "List the commands",
        options: &[],
        needs: Access::Viewer,
        confirm: false,
    },
];

/// A command checked against the table, ready for the use cases.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatCommand {
    /// Open an incident; the use case picks the number and the channel.
    Open {
        title: String,
        severity: Severity,
    },
    /// An order for an existing incident: the one named, else the channel's.
    Order {
        incident: Option<IncidentNumber>,
        order: Box<IncidentCommand>,
    },
    /// Page a target now (`@handle`, `!team`), with an optional message.
    Page {
        incident: Option<IncidentNumber>,
        target: String,
        message: Option<String>,
    },
    Timeline {
        incident: Option<IncidentNumber>,
    },
    Postmortem {
        incident: Option<IncidentNumber>,
    },
    /// Confirm or approve a runbook run (the one waiting when no number is given).
    ConfirmRun {
        incident: Option<IncidentNumber>,
        run: Option<u32>,
    },
    ApproveRun {
        incident: Option<IncidentNumber>,
        run: Option<u32>,
    },
    Oncall(super::shift::OncallOrder),
    /// Record a deploy; its options are read with the speaker known (`by` defaults to them).
    RecordDeploy {
        options: BTreeMap<String, String>,
    },
    LastDeploys {
        service: Option<String>,
        environment: Option<String>,
        count: usize,
    },
    /// An order for a release: the one named, else the one open.
    Release {
        version: Option<Version>,
        order: ReleaseCommand,
    },
    Help,
}

/// Why a well-formed command was still not understood. The message ends with the usage line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command '/{given}'; commands: {known}")]
    Unknown { given: String, known: String },
    #[error("{problem}. Usage: {usage}")]
    Invalid { problem: String, usage: String },
}

/// The severity an incident gets when `/incident open` names none.
pub const DEFAULT_SEVERITY: Severity = Severity::Sev3;

/// The table's entry for a command's words, if there is one.
pub fn spec_for(words: &[String]) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|s| s.words.iter().copied().eq(words.iter().map(String::as_str)))
}

/// Checks a parsed command against the table and builds the typed command.
pub fn interpret(parsed: &ParsedCommand) -> Result<ChatCommand, CommandError> {
    let spec = spec_for(&parsed.words).ok_or_else(|| CommandError::Unknown {
        given: parsed.words.join(" "),
        known: COMMANDS
            .iter()
            .map(|s| format!("/{}", s.words.join(" ")))
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let invalid = |problem: String| CommandError::Invalid {
        problem,
        usage: spec.usage(),
    };
    for name in parsed.options.keys() {
        if !spec.options.iter().any(|o| o.name == name) {
            return Err(invalid(format!(
                "'{}' has no option '{name}'",
                spec.words.join(" ")
            )));
        }
    }
    for o in spec.options.iter().filter(|o| o.required) {
        if parsed
            .options
            .get(o.name)
            .is_none_or(|v| v.trim().is_empty())
        {
            return Err(invalid(format!("the option '{}' is missing", o.name)));
        }
    }
    let get = |name: &str| parsed.options.get(name).map(|v| v.trim().to_string());
    let text = || get("text").unwrap_or_default();
    let handle = |name: &str| get(name).map(|v| v.trim_start_matches(['@', '!']).to_string());
    let incident = get("incident")
        .map(|v| v.parse::<IncidentNumber>())
        .transpose()
        .map_err(|e| invalid(e.to_string()))?;
    let severity = |default: Option<Severity>| -> Result<Severity, CommandError> {
        match (get("severity"), default) {
            (Some(v), _) => v
                .parse()
                .map_err(|e: super::types::UnknownWord| invalid(e.to_string())),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(invalid("the option 'severity' is missing".into())),
        }
    };
    let order = |order: IncidentCommand| {
        Ok(ChatCommand::Order {
            incident,
            order: Box::new(order),
        })
    };
    match spec.words {
        ["incident", "open"] => Ok(ChatCommand::Open {
            title: get("title").unwrap_or_default(),
            severity: severity(Some(DEFAULT_SEVERITY))?,
        }),
        ["incident", "severity"] => order(IncidentCommand::ChangeSeverity(severity(None)?)),
        ["incident", "role"] => order(IncidentCommand::AssignRole {
            role: get("role")
                .unwrap_or_default()
                .parse()
                .map_err(|e: super::types::UnknownWord| invalid(e.to_string()))?,
            handle: handle("user").unwrap_or_default(),
        }),
        ["incident", "update"] => order(IncidentCommand::PostUpdate(text())),
        ["incident", "impact"] => order(IncidentCommand::NoteImpact {
            area: get("area")
                .unwrap_or_default()
                .parse::<ImpactArea>()
                .map_err(|e| invalid(e.to_string()))?,
            text: text(),
        }),
        ["incident", "resolution"] => order(IncidentCommand::NoteResolution(text())),
        ["incident", "action"] => order(IncidentCommand::AddAction {
            text: text(),
            owner: handle("owner").filter(|o| !o.is_empty()),
            due: get("due")
                .map(|d| {
                    NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| {
                        invalid(format!(
                            "due date '{d}' is not a date; write it as YYYY-MM-DD"
                        ))
                    })
                })
                .transpose()?,
        }),
        ["incident", "resolve"] => order(IncidentCommand::Resolve),
        ["incident", "close"] => order(IncidentCommand::Close),
        ["incident", "reopen"] => order(IncidentCommand::Reopen {
            reason: get("reason"),
        }),
        ["incident", "page"] => {
            let target = match (handle("team"), handle("user")) {
                (Some(team), None) if !team.is_empty() => format!("!{team}"),
                (None, Some(user)) if !user.is_empty() => format!("@{user}"),
                (Some(_), Some(_)) => return Err(invalid("give team or user, not both".into())),
                _ => return Err(invalid("say whom to page with team: or user:".into())),
            };
            Ok(ChatCommand::Page {
                incident,
                target,
                message: get("message").filter(|m| !m.is_empty()),
            })
        }
        ["ack"] => order(IncidentCommand::Acknowledge { by: String::new() }),
        ["incident", "timeline"] => Ok(ChatCommand::Timeline { incident }),
        ["incident", "postmortem"] => Ok(ChatCommand::Postmortem { incident }),
        ["confirm"] | ["approve"] => {
            let run = get("run")
                .map(|v| {
                    v.trim_start_matches('#')
                        .parse::<u32>()
                        .map_err(|_| invalid(format!("run:{v} is not a run number; write run:2")))
                })
                .transpose()?;
            Ok(if spec.words == ["confirm"] {
                ChatCommand::ConfirmRun { incident, run }
            } else {
                ChatCommand::ApproveRun { incident, run }
            })
        }
        ["oncall", "start"] => Ok(ChatCommand::Oncall(super::shift::OncallOrder::Start(
            handle("user").filter(|u| !u.is_empty()),
        ))),
        ["oncall", "end"] => Ok(ChatCommand::Oncall(super::shift::OncallOrder::End)),
        ["oncall", "who"] => Ok(ChatCommand::Oncall(super::shift::OncallOrder::Who)),
        ["oncall", "summary"] => Ok(ChatCommand::Oncall(super::shift::OncallOrder::Summary(
            get("shift")
                .map(|n| {
                    n.trim_start_matches('#').parse::<u32>().map_err(|_| {
                        invalid(format!("shift:{n} is not a shift number; write shift:3"))
                    })
                })
                .transpose()?,
        ))),
        ["deploy", "record"] => {
            // Checked here, with a stand-in speaker, so a mistake comes with the usage line.
            super::deploy::Deploy::from_options(&parsed.options, "someone")
                .map_err(|e| invalid(e.to_string()))?;
            Ok(ChatCommand::RecordDeploy {
                options: parsed.options.clone(),
            })
        }
        ["deploys", "last"] => Ok(ChatCommand::LastDeploys {
            service: get("service").map(|s| s.to_ascii_lowercase()),
            environment: get("env").map(|s| s.to_ascii_lowercase()),
            count: match get("count") {
                None => 5,
                Some(n) => n
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=50).contains(n))
                    .ok_or_else(|| invalid(format!("count:{n} is not a number from 1 to 50")))?,
            },
        }),
        ["help"] => Ok(ChatCommand::Help),
        ["release", word] => rules::interpret(word, &parsed.options)
            .map(|(version, order)| ChatCommand::Release { version, order })
            .map_err(invalid),
        other => unreachable!("command {other:?} is in the table but not interpreted"),
    }
}

/// The help text: one usage line and description per command.
pub fn help_text() -> String {
    COMMANDS
        .iter()
        .map(|s| format!("{} — {}", s.usage(), s.help))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::Role;

    #[test]
    fn parses_words_then_quoted_and_bare_options() {
        let parsed = parse(r#"/incident open title:"Application outage" severity:sev1"#).unwrap();
        assert_eq!(parsed.words, vec!["incident", "open"]);
        assert_eq!(parsed.options["title"], "Application outage");
        assert_eq!(parsed.options["severity"], "sev1");
        let parsed = parse(r#"/incident update text:"say \"hi\" \\ bye" incident:INC-2"#).unwrap();
        assert_eq!(parsed.options["text"], r#"say "hi" \ bye"#);
        assert_eq!(parsed.options["incident"], "INC-2");
        let parsed = parse("/incident action text:x owner:@ghammer due:2021-03-23").unwrap();
        assert_eq!(parsed.options["owner"], "@ghammer");
    }

    #[test]
    fn console_text_reads_back_as_the_same_command() {
        let mut options = BTreeMap::new();
        options.insert("title".to_string(), r#"DB "primary" \ down"#.to_string());
        options.insert("severity".to_string(), "sev1".to_string());
        options.insert("reason".to_string(), String::new());
        let command = ParsedCommand {
            words: vec!["incident".into(), "open".into()],
            options,
        };
        let text = command.to_console_text();
        assert_eq!(
            text,
            r#"/incident open reason:"" severity:sev1 title:"DB \"primary\" \\ down""#
        );
        assert_eq!(parse(&text).unwrap(), command);
    }

    #[test]
    fn syntax_errors_say_how_to_fix_them() {
        assert_eq!(parse("incident open"), Err(SyntaxError::NoSlash));
        assert_eq!(parse("/  "), Err(SyntaxError::Empty));
        assert_eq!(
            parse(r#"/incident open title:"never closed"#),
            Err(SyntaxError::UnclosedQuote { at: 22 })
        );
        assert_eq!(
            parse("/incident open title:a title:b"),
            Err(SyntaxError::Duplicate("title".into()))
        );
        let err = parse("/incident update text:App is down").unwrap_err();
        assert_eq!(err, SyntaxError::StrayWord("is".into()));
        assert!(err.to_string().contains("text:\"two words\""));
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

    #[test]
    fn interpret_errors_end_with_the_usage_line() {
        let err = interpret(&parse("/incident open title:x severity:p1").unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown severity 'p1'; use sev1–sev4. Usage: /incident open title:\"…\" [severity:sev1|sev2|sev3|sev4]"
        );
        let err = interpret(&parse("/incident impact text:x").unwrap()).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("the option 'area' is missing. Usage: /incident impact area:"));
        let err = interpret(&parse("/incident action text:x due:tomorrow").unwrap()).unwrap_err();
        assert!(err.to_string().contains("YYYY-MM-DD"));
        let err = interpret(&parse("/incident explode").unwrap()).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("unknown command '/incident explode'; commands: /incident open,"));
        let err = interpret(&parse("/incident close color:red").unwrap()).unwrap_err();
        assert!(err.to_string().contains("has no option 'color'"));
    }

    #[test]
    fn every_command_in_the_table_is_interpretable() {
        for spec in COMMANDS {
            let mut line = format!("/{}", spec.words.join(" "));
            for o in spec.options.iter().filter(|o| o.required) {
                let value = match o.name {
                    "severity" => "sev2",
                    "role" => "scribe",
                    "area" => "system",
                    "kind" => "security",
                    "memory" => "256Mi",
                    "utilisation" => "85",
                    "cpu" => "250m",
                    _ => "x",
                };
                line.push_str(&format!(" {}:{value}", o.name));
            }
            if spec.words == ["incident", "page"] {
                // One of team or user is required, which the table cannot say.
                line.push_str(" team:dba");
            }
            interpret(&parse(&line).unwrap()).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }
}
