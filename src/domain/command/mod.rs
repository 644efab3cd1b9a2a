//! The console command syntax shared by every front end, and the table of chat commands.
//!
//! `/incident open title:"Application outage" severity:sev1` is words, then `key:value`
//! options, a value quoted when it has spaces. Parsing is two steps: `parse` checks the syntax,
//! `interpret` checks the words and options against the command table and builds a typed
//! command. Both give errors that end with the usage line, so a person can retry at once.
//!
//! The table comes in groups, one file each, so adding a command touches one short file: the
//! group's table entries sit beside the code that reads them (`incident`, `runs`, `release`,
//! `oncall`, `deploys`, `help`). This file holds the syntax, the types, the checks every
//! command gets, and `GROUPS`, whose order is the order commands are listed in.

mod deploys;
pub mod followups;
mod help;
mod incident;
mod oncall;
mod options;
mod release;
mod runs;

pub use incident::INCIDENT;
use options::Options;

use super::access::Access;
use super::incident::IncidentCommand;
use super::release::rules::ReleaseCommand;
use super::release::values::Version;
use super::types::{IncidentNumber, Severity};
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

/// The `text:"…"` option of commands that record something (incidents and releases alike).
const TEXT: OptionSpec = OptionSpec {
    name: "text",
    required: true,
    shape: "\"…\"",
    help: "what to record",
};

/// One group of commands: its table entries, and how it reads its own words once the options
/// are checked against those entries.
struct Group {
    commands: &'static [CommandSpec],
    interpret: fn(&Options) -> Result<ChatCommand, CommandError>,
}

/// The groups in the order their commands are listed: in the help text, in Discord's
/// registration, and in the unknown-command message.
const GROUPS: &[Group] = &[
    Group {
        commands: incident::COMMANDS,
        interpret: incident::interpret,
    },
    Group {
        commands: followups::COMMANDS,
        interpret: followups::interpret,
    },
    Group {
        commands: runs::COMMANDS,
        interpret: runs::interpret,
    },
    Group {
        commands: release::COMMANDS,
        interpret: release::interpret,
    },
    Group {
        commands: oncall::COMMANDS,
        interpret: oncall::interpret,
    },
    Group {
        commands: deploys::COMMANDS,
        interpret: deploys::interpret,
    },
    Group {
        commands: help::COMMANDS,
        interpret: help::interpret,
    },
];

/// Every chat command the incident domain understands: the groups' tables, one after another.
pub const COMMANDS: &[CommandSpec] = &ALL;

/// The groups' tables joined at compile time, so `COMMANDS` stays a plain slice.
const ALL: [CommandSpec; count(GROUPS)] = joined(GROUPS);

/// How many commands the groups hold together.
const fn count(groups: &[Group]) -> usize {
    let mut n = 0;
    let mut g = 0;
    // `while`, not `for`: iterators are not allowed in a `const fn`.
    while g < groups.len() {
        n += groups[g].commands.len();
        g += 1;
    }
    n
}

/// The groups' tables one after another, in the groups' order.
const fn joined<const N: usize>(groups: &[Group]) -> [CommandSpec; N] {
    // Every slot is overwritten below; the first command only fills the array to start with.
    let mut all = [groups[0].commands[0]; N];
    let mut at = 0;
    let mut g = 0;
    while g < groups.len() {
        let mut i = 0;
        while i < groups[g].commands.len() {
            all[at] = groups[g].commands[i];
            at += 1;
            i += 1;
        }
        g += 1;
    }
    all
}

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
    /// A change of the on-call schedules: an override, a cover or a cancellation.
    Schedule(super::schedule::orders::ScheduleOrder),
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
    /// List the follow-up actions of every incident.
    Actions(followups::ActionFilter),
    Help,
}

/// Why a well-formed command was still not understood. The message ends with the usage line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command '/{given}'; commands: {known}")]
    Unknown { given: String, known: String },
    #[error("{problem}. Usage: {usage}")]
    Invalid { problem: String, usage: String },
    /// A command in the table that its group does not read: a mistake in warroom, not in the
    /// command (a unit test keeps it from shipping).
    #[error("'/{0}' is in the command table but not interpreted; this is a bug in warroom")]
    NotInterpreted(String),
}

/// The severity an incident gets when `/incident open` names none.
pub const DEFAULT_SEVERITY: Severity = Severity::Sev3;

/// The table's entry for a command's words, if there is one.
pub fn spec_for(words: &[String]) -> Option<&'static CommandSpec> {
    find(words).map(|(_, spec)| spec)
}

/// The group and table entry for a command's words, if there are any.
fn find(words: &[String]) -> Option<(&'static Group, &'static CommandSpec)> {
    GROUPS.iter().find_map(|group| {
        group
            .commands
            .iter()
            .find(|s| s.words.iter().copied().eq(words.iter().map(String::as_str)))
            .map(|spec| (group, spec))
    })
}

/// Checks a parsed command against the table and builds the typed command.
pub fn interpret(parsed: &ParsedCommand) -> Result<ChatCommand, CommandError> {
    let (group, spec) = find(&parsed.words).ok_or_else(|| CommandError::Unknown {
        given: parsed.words.join(" "),
        known: COMMANDS
            .iter()
            .map(|s| format!("/{}", s.words.join(" ")))
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let options = Options::new(spec, parsed);
    for name in parsed.options.keys() {
        if !spec.options.iter().any(|o| o.name == name) {
            return Err(
                options.invalid(format!("'{}' has no option '{name}'", spec.words.join(" ")))
            );
        }
    }
    for o in spec.options.iter().filter(|o| o.required) {
        if parsed
            .options
            .get(o.name)
            .is_none_or(|v| v.trim().is_empty())
        {
            return Err(options.invalid(format!("the option '{}' is missing", o.name)));
        }
    }
    (group.interpret)(&options)
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
                    "id" => "A1",
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

    #[test]
    fn a_group_asked_for_words_it_does_not_read_says_so() {
        let parsed = parse("/help").unwrap();
        let spec = spec_for(&parsed.words).unwrap();
        let err = incident::interpret(&Options::new(spec, &parsed)).unwrap_err();
        assert_eq!(err, CommandError::NotInterpreted("help".into()));
        assert_eq!(
            err.to_string(),
            "'/help' is in the command table but not interpreted; this is a bug in warroom"
        );
    }

    #[test]
    fn the_groups_list_every_command_once_in_order() {
        let listed: Vec<_> = GROUPS.iter().flat_map(|g| g.commands).collect();
        assert_eq!(listed, COMMANDS.iter().collect::<Vec<_>>());
        for (i, spec) in COMMANDS.iter().enumerate() {
            assert!(
                !COMMANDS[..i].iter().any(|s| s.words == spec.words),
                "/{} is in the table twice",
                spec.words.join(" ")
            );
        }
    }
}
