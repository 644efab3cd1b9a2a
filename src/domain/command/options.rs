//! The readers of a command's options that every group shares, once `interpret` has checked
//! the options against the command's table entry: trimmed values, handles, the incident and
//! severity, and errors that end with the usage line.

use super::{CommandError, CommandSpec, ParsedCommand};
use crate::domain::types::{IncidentNumber, Severity, UnknownWord};
use std::collections::BTreeMap;

/// A command's options once checked against its table entry: the readers every group uses.
pub(super) struct Options<'a> {
    spec: &'static CommandSpec,
    parsed: &'a ParsedCommand,
}

impl<'a> Options<'a> {
    /// The options of `parsed`, already checked against `spec`.
    pub(super) fn new(spec: &'static CommandSpec, parsed: &'a ParsedCommand) -> Self {
        Options { spec, parsed }
    }

    /// The command's words as the table spells them: what a group matches on.
    pub(super) fn words(&self) -> &'static [&'static str] {
        self.spec.words
    }

    /// The options as written, for readers elsewhere in the domain (deploys, releases).
    pub(super) fn as_written(&self) -> &'a BTreeMap<String, String> {
        &self.parsed.options
    }

    /// An option's value, trimmed.
    pub(super) fn get(&self, name: &str) -> Option<String> {
        self.parsed.options.get(name).map(|v| v.trim().to_string())
    }

    /// The `text` option, empty when not given.
    pub(super) fn text(&self) -> String {
        self.get("text").unwrap_or_default()
    }

    /// A handle or team option without its `@` or `!`.
    pub(super) fn handle(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| v.trim_start_matches(['@', '!']).to_string())
    }

    /// The `incident` option, when given.
    pub(super) fn incident(&self) -> Result<Option<IncidentNumber>, CommandError> {
        self.get("incident")
            .map(|v| v.parse::<IncidentNumber>())
            .transpose()
            .map_err(|e| self.invalid(e.to_string()))
    }

    /// The `severity` option, else `default`; missing when there is no default.
    pub(super) fn severity(&self, default: Option<Severity>) -> Result<Severity, CommandError> {
        match (self.get("severity"), default) {
            (Some(v), _) => v
                .parse()
                .map_err(|e: UnknownWord| self.invalid(e.to_string())),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(self.invalid("the option 'severity' is missing".into())),
        }
    }

    /// What is wrong with the command, followed by its usage line.
    pub(super) fn invalid(&self, problem: String) -> CommandError {
        CommandError::Invalid {
            problem,
            usage: self.spec.usage(),
        }
    }

    /// The answer of a group asked for words it does not read.
    pub(super) fn not_interpreted(&self) -> CommandError {
        CommandError::NotInterpreted(self.spec.words.join(" "))
    }
}
