//! The runbook file as written (`commands/*.toml`), read with every unknown key named, and
//! the list of mistakes the checks add to, each with its file, line and field.

use super::RunbookError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

// The file as written.

#[derive(Deserialize)]
pub(super) struct RunbookFile {
    pub(super) command: Spanned<String>,
    pub(super) description: Spanned<String>,
    #[serde(default)]
    pub(super) params: Vec<ParamFile>,
    pub(super) roles: Spanned<Vec<String>>,
    #[serde(default)]
    pub(super) confirm: bool,
    pub(super) approval: Option<Spanned<ApprovalFile>>,
    #[serde(default)]
    pub(super) agents: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) idempotent: bool,
    pub(super) timeout_seconds: Option<Spanned<i64>>,
    pub(super) steps: Spanned<Vec<StepFile>>,
}

#[derive(Deserialize)]
pub(super) struct ParamFile {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) help: String,
    pub(super) pattern: Spanned<String>,
    #[serde(default)]
    pub(super) required: bool,
    #[serde(default)]
    pub(super) choices: Vec<String>,
    pub(super) default: Option<String>,
    /// `text` (default) or `url`.
    pub(super) kind: Option<Spanned<String>>,
    /// For `kind = "url"`: the hosts its values may name.
    pub(super) hosts: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
pub(super) struct ApprovalFile {
    pub(super) role: Option<String>,
    pub(super) team: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct StepFile {
    pub(super) id: Spanned<String>,
    pub(super) program: Spanned<String>,
    #[serde(default)]
    pub(super) args: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) expect_exit: Option<Vec<i32>>,
    #[serde(default)]
    pub(super) captures: BTreeMap<String, Spanned<String>>,
    /// Capture name → the pattern its whole value must match (default
    /// [`CAPTURE_PATTERN`](super::CAPTURE_PATTERN)).
    #[serde(default)]
    pub(super) capture_patterns: BTreeMap<String, Spanned<String>>,
    pub(super) on_success: Option<Spanned<String>>,
    pub(super) on_failure: Option<Spanned<String>>,
    pub(super) retries: Option<Spanned<i64>>,
    pub(super) retry_delay_seconds: Option<Spanned<i64>>,
    pub(super) timeout_seconds: Option<Spanned<i64>>,
    pub(super) success_outcome: Option<Spanned<String>>,
    pub(super) failure_outcome: Option<Spanned<String>>,
}

/// Every mistake found in one file so far, in the order the checks found them.
pub(super) struct Mistakes<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<RunbookError>,
}

impl<'a> Mistakes<'a> {
    /// The 1-based line a span of the file starts on.
    pub(super) fn line_of(&self, span: Range<usize>) -> usize {
        line_of(self.text, span)
    }

    pub(super) fn fail(&mut self, line: usize, field: &str, problem: String) {
        self.errors.push(RunbookError {
            file: self.file.to_string(),
            line,
            field: field.to_string(),
            problem,
        })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Every mistake, when there was one.
    pub(super) fn finish(self) -> Result<(), Vec<RunbookError>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        Ok(())
    }
}

/// Reads one runbook file's text into the file as written, with its unknown keys already
/// counted as mistakes; a file that does not read as a runbook at all (bad TOML, a missing
/// key, a value of the wrong type) ends the reading with its mistakes.
pub(super) fn read<'a>(
    file: &'a str,
    text: &'a str,
) -> Result<(RunbookFile, Mistakes<'a>), Vec<RunbookError>> {
    let (raw, unknown) = crate::unknown_keys::from_toml::<RunbookFile>(text);
    let mut errors: Vec<RunbookError> = unknown
        .into_iter()
        .map(|key| RunbookError {
            file: file.to_string(),
            line: line_of_key(text, &key),
            field: key,
            problem: "unknown key; see docs/runbooks-and-agents.md for the keys a runbook takes"
                .into(),
        })
        .collect();
    match raw {
        Ok(raw) => Ok((raw, Mistakes { file, text, errors })),
        Err(e) => {
            errors.push(RunbookError {
                file: file.to_string(),
                line: e.span().map_or(0, |span| line_of(text, span)),
                field: "file".into(),
                problem: e.message().trim().to_string(),
            });
            Err(errors)
        }
    }
}

fn line_of(text: &str, span: Range<usize>) -> usize {
    text[..span.start.min(text.len())].matches('\n').count() + 1
}

/// The first line that sets the last part of a dotted `key` (`steps[1].idd` → `idd = …`),
/// or 0 when none does (a key written as a quoted or dotted key, or a table).
fn line_of_key(text: &str, key: &str) -> usize {
    let name = key.rsplit('.').next().unwrap_or(key);
    text.lines()
        .position(|line| {
            line.trim_start()
                .strip_prefix(name)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(0, |i| i + 1)
}
