//! Runbook commands: what `commands/*.toml` declares and how a run moves through its steps.
//!
//! A runbook is a chat command (`/failover dns`) with typed parameters, who may run it,
//! whether it is confirmed and approved, which agents may run it, and steps. Each step is one
//! program with an argument list: `{param}` and `{capture}` are substituted inside single
//! arguments, so a value is always exactly one argument and never reaches a shell. A step
//! succeeds when its exit code is expected and its captures matched; it then goes to its
//! `on_success` (the next step by default), else to its `on_failure` (`fail` by default).
//! Transitions may not loop (retries are how a step waits), so every run ends.
//!
//! Parsing and checking are pure: the text comes in, a `Runbook` or every mistake (with its
//! file, line and field) comes out. Both `warroom serve` and `warroom agent` read the files.
//!
//! This file holds the types and `Runbook::parse`, which runs the checks in the order their
//! mistakes are reported. `file`: the file as written and the list of mistakes; `command`:
//! the command's words, help text, roles and approver; `params`: parameters, their anchored
//! patterns and binding given values; `limits`: time limits and retries; `transitions`: step
//! ids, `on_success`/`on_failure` and loops; `placeholders`: templates checked and filled;
//! `outcome`: captures and judging a finished attempt.

mod command;
mod file;
#[cfg(test)]
mod fixture;
mod limits;
mod outcome;
mod params;
mod placeholders;
mod transitions;

pub use outcome::{Capture, Judgement, CAPTURE_PATTERN};
pub use params::Param;
pub use placeholders::{placeholders, render};
pub use transitions::Next;

use crate::domain::access::Access;
use file::{Mistakes, StepFile};
use limits::StepNumbers;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A checked runbook.
#[derive(Debug, Clone)]
pub struct Runbook {
    /// The file it came from, for messages (`commands/failover-dns.toml`).
    pub file: String,
    /// The chat command's words: `["failover", "dns"]`.
    pub command: Vec<String>,
    /// The help text.
    pub description: String,
    pub params: Vec<Param>,
    /// The least warroom role that may run it: the lowest of the roles the file allows.
    pub needs: Access,
    /// Whether the requester confirms before it runs.
    pub confirm: bool,
    /// Whether a second person must approve it first, and who may.
    pub approval: Option<Approver>,
    /// Labels an agent must carry to run it (`role = "dns"`).
    pub agents: BTreeMap<String, String>,
    /// Whether running it twice is harmless: only then may a lost run be started again.
    pub idempotent: bool,
    /// The whole run's limit.
    pub timeout_seconds: u64,
    /// In file order; the first runs first.
    pub steps: Vec<Step>,
}

/// Who may approve a run: a warroom role (or higher), or a member of a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approver {
    Role(Access),
    Team(String),
}

/// One step: a program and its arguments, what counts as success, where to go next.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    /// A program name the agent maps to a path (`dnstool` → `/usr/local/bin/dnsTool`), or a
    /// path.
    pub program: String,
    /// Argument templates; each becomes exactly one argument.
    pub args: Vec<String>,
    pub expect_exit: Vec<i32>,
    /// Values read from the output, each checked before any step may use it.
    pub captures: Vec<Capture>,
    pub on_success: Next,
    pub on_failure: Next,
    /// Extra attempts when the step fails, `retry_delay_seconds` apart: how a step waits for
    /// something (a service to stop, a health check to pass).
    pub retries: u32,
    pub retry_delay_seconds: u64,
    pub timeout_seconds: u64,
    /// What the run says when it ends after this step succeeded, or failed.
    pub success_outcome: Option<String>,
    pub failure_outcome: Option<String>,
}

/// One mistake in a runbook file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookError {
    pub file: String,
    /// 1-based; 0 when the mistake has no place in the file.
    pub line: usize,
    pub field: String,
    pub problem: String,
}

impl fmt::Display for RunbookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}: {}", self.file, self.field, self.problem),
            line => write!(f, "{}:{line}: {}: {}", self.file, self.field, self.problem),
        }
    }
}

impl Runbook {
    /// Reads and checks one runbook file's text; `file` names it in messages.
    pub fn parse(file: &str, text: &str) -> Result<Runbook, Vec<RunbookError>> {
        // The checks run in the order below, which is the order their mistakes are listed in.
        let (raw, mut mistakes) = file::read(file, text)?;
        let command = command::words(&raw.command, &mut mistakes);
        let description = command::description(&raw.description, &mut mistakes);
        let params: Vec<Param> = raw
            .params
            .iter()
            .enumerate()
            .filter_map(|(i, p)| params::check(i, p, &mut mistakes))
            .collect();
        let needs = command::needs(&raw.roles, &mut mistakes);
        let approval = command::approval(raw.approval.as_ref(), &mut mistakes);
        let timeout_seconds = limits::run_timeout(&raw.timeout_seconds, &mut mistakes);
        let step_files = raw.steps.get_ref();
        let step_numbers = limits::step_numbers(step_files, timeout_seconds, &mut mistakes);
        if step_files.is_empty() {
            mistakes.fail(
                mistakes.line_of(raw.steps.span()),
                "steps",
                "a runbook needs at least one [[steps]]".into(),
            );
        }
        let ids = transitions::step_ids(step_files, &mut mistakes);
        let known = placeholders::known(&raw.params, step_files);
        let steps: Vec<Step> = step_files
            .iter()
            .zip(step_numbers)
            .enumerate()
            .map(|(i, (s, numbers))| {
                // A step goes on to the next by default; after the last, the run succeeded.
                let default_success = if i + 1 < step_files.len() {
                    Next::Step(i + 1)
                } else {
                    Next::Succeed
                };
                step(i, s, numbers, default_success, &ids, &known, &mut mistakes)
            })
            .collect();
        // Only otherwise sound steps are searched for loops: in a broken runbook (two steps
        // of one id, say) a loop found may be an echo of a mistake already reported.
        if mistakes.is_empty() {
            transitions::refuse_loops(&steps, step_files, &mut mistakes);
        }
        mistakes.finish()?;
        Ok(Runbook {
            file: file.to_string(),
            command,
            description,
            params,
            needs,
            confirm: raw.confirm,
            approval,
            agents: raw.agents,
            idempotent: raw.idempotent,
            timeout_seconds,
            steps,
        })
    }

    /// `/failover dns`
    pub fn command_text(&self) -> String {
        format!("/{}", self.command.join(" "))
    }
}

/// Step `i` as written, checked: where it goes next, its program, its templates and its
/// captures.
fn step(
    i: usize,
    s: &StepFile,
    numbers: StepNumbers,
    default_success: Next,
    ids: &BTreeMap<String, usize>,
    known: &BTreeSet<String>,
    mistakes: &mut Mistakes,
) -> Step {
    let key = format!("steps[{i}]");
    let on_success = transitions::next(
        ids,
        &key,
        &s.on_success,
        "on_success",
        default_success,
        mistakes,
    );
    let on_failure =
        transitions::next(ids, &key, &s.on_failure, "on_failure", Next::Fail, mistakes);
    if s.program.get_ref().trim().is_empty() {
        mistakes.fail(
            mistakes.line_of(s.program.span()),
            &format!("{key}.program"),
            "name the program to run".into(),
        );
    }
    placeholders::check_templates(&key, s, known, mistakes);
    let captures = outcome::check_captures(&key, s, mistakes);
    Step {
        id: s.id.get_ref().clone(),
        program: s.program.get_ref().trim().to_string(),
        args: s.args.iter().map(|a| a.get_ref().clone()).collect(),
        expect_exit: s.expect_exit.clone().unwrap_or_else(|| vec![0]),
        captures,
        on_success,
        on_failure,
        retries: numbers.retries,
        retry_delay_seconds: numbers.retry_delay_seconds,
        timeout_seconds: numbers.timeout_seconds,
        success_outcome: s.success_outcome.as_ref().map(|o| o.get_ref().clone()),
        failure_outcome: s.failure_outcome.as_ref().map(|o| o.get_ref().clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::shipped;
    use super::*;

    #[test]
    fn the_shipped_runbooks_are_valid() {
        let dns = shipped("failover-dns");
        assert_eq!(dns.command_text(), "/failover dns");
        assert_eq!(dns.needs, Access::Sre);
        assert!(dns.confirm && !dns.idempotent);
        let ids: Vec<&str> = dns.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "ask-active",
                "shutdown",
                "failover",
                "forced-failover",
                "report"
            ]
        );
        // A failed shutdown goes to the forced failover; a good one to the plain failover.
        assert_eq!(dns.steps[1].on_failure, Next::Step(3));
        assert_eq!(dns.steps[1].on_success, Next::Step(2));
        assert_eq!(dns.steps[2].on_success, Next::Step(4));
        assert_eq!(dns.steps[4].on_success, Next::Succeed);
        let restart = shipped("restart-app");
        assert_eq!(restart.needs, Access::Responder);
        assert_eq!(restart.steps[1].expect_exit, [3]);
        let cleanup = shipped("cleanup-logs");
        assert_eq!(cleanup.approval, Some(Approver::Team("Compliance".into())));
        let values = cleanup.bind(&BTreeMap::new()).unwrap();
        let args = cleanup.steps[1].arguments(&values).unwrap();
        assert!(
            args.contains(&"{}".to_string()),
            "{{}} is a literal brace pair: {args:?}"
        );
        assert!(args.contains(&"+7".to_string()));
    }

    #[test]
    fn mistakes_name_the_file_the_line_and_the_field() {
        let text = r#"command = "incident nuke"
description = "x"
roles = ["admin"]

[[params]]
name = "Target"
pattern = "[a-z"

[[steps]]
id = "one"
program = "tool"
args = ["{nope}", "{target"]
on_success = "three"

[[steps]]
id = "one"
program = ""
captures = { v = 'no group' }
"#;
        let errors = Runbook::parse("commands/bad.toml", text).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let expect = [
            "commands/bad.toml:1: command: /incident is one of warroom's own commands",
            "commands/bad.toml:3: roles: unknown warroom role",
            "commands/bad.toml:6: params[0].name: 'Target' is not a parameter name",
            "commands/bad.toml:7: params[0].pattern: '[a-z' is not a regular expression",
            "commands/bad.toml:16: steps[1].id: another step is called 'one'",
            "commands/bad.toml:13: steps[0].on_success: no step 'three'",
            "commands/bad.toml:12: steps[0].args: {nope} is neither a parameter nor a capture",
            "commands/bad.toml:12: steps[0].args: '{target' opens a '{' that is not a {name}",
            "commands/bad.toml:17: steps[1].program: name the program to run",
            "commands/bad.toml:18: steps[1].captures.v: the expression needs a group",
        ];
        for e in expect {
            assert!(
                shown.iter().any(|s| s.starts_with(e)),
                "missing {e:?} in {shown:#?}"
            );
        }
        let syntax = Runbook::parse("commands/x.toml", "command = \"a\"\nroles = [\n").unwrap_err();
        assert!(
            syntax[0].to_string().starts_with("commands/x.toml:"),
            "{:?}",
            syntax
        );
        let unknown = Runbook::parse(
            "commands/x.toml",
            "command = \"a\"\ndescription = \"d\"\nroles = [\"sre\"]\nshell = \"bash -c\"\n[[steps]]\nid = \"s\"\nprogram = \"p\"\n",
        )
        .unwrap_err();
        assert!(unknown[0].to_string().contains("shell"), "{unknown:?}");
    }

    #[test]
    fn one_mistake_is_one_error_and_every_unknown_key_is_named_at_once() {
        // A bad pattern for a parameter that five arguments use is one error, not six.
        let text = r#"command = "probe site"
description = "d"
roles = ["sre"]
timeout_seconds = 0
colour = "red"

[[params]]
name = "server"
pattern = "[a-z"
hlep = "typo"

[[steps]]
id = "one"
program = "tool"
args = ["{server}", "--a={server}", "{server}", "x{server}", "{server}y"]
retries = 4294967296
retry_delay_seconds = -1
succes_outcome = "typo"
"#;
        let errors = Runbook::parse("commands/probe.toml", text).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown.len(),
            7,
            "one line per mistake, nothing more: {shown:#?}"
        );
        for expected in [
            "commands/probe.toml:5: colour: unknown key",
            "commands/probe.toml:10: params[0].hlep: unknown key",
            "commands/probe.toml:18: steps[0].succes_outcome: unknown key",
            "commands/probe.toml:9: params[0].pattern: '[a-z' is not a regular expression",
            "commands/probe.toml:4: timeout_seconds: 0 is out of range; use 1..=86400",
            "commands/probe.toml:16: steps[0].retries: 4294967296 is out of range; use 0..=100",
            "commands/probe.toml:17: steps[0].retry_delay_seconds: -1 is out of range; use 0..=3600",
        ] {
            assert!(
                shown.iter().any(|s| s.starts_with(expected)),
                "missing {expected:?} in {shown:#?}"
            );
        }
    }
}
