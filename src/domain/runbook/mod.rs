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

use super::access::Access;
use crate::domain::url_param::{check_url, HostPattern};
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use toml::Spanned;

/// Longest description Discord shows for a command.
const DESCRIPTION_LIMIT: usize = 100;
/// Longest command word and parameter name: Discord's limit for command and option names.
const NAME_LIMIT: usize = 32;
/// How long a run may take when its file says nothing.
const DEFAULT_TIMEOUT_SECONDS: u64 = 300;
/// A run's or a step's time limit: a second to a day.
const TIMEOUT_RANGE: std::ops::RangeInclusive<i64> = 1..=86_400;
/// Words chat commands of warroom itself use: a runbook may not take them.
const RESERVED: &[&str] = &[
    "incident", "ack", "help", "oncall", "deploy", "deploys", "release",
];

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

/// A parameter of a runbook command.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub help: String,
    /// The whole value must match (anchored when read).
    pub pattern: Regex,
    pub required: bool,
    /// The only values allowed, when given (offered as choices in Discord).
    pub choices: Vec<String>,
    pub default: Option<String>,
    /// For a URL parameter (`kind = "url"`): the hosts it may name; empty leaves the list to
    /// each agent's `url_hosts`. `None` for a plain parameter.
    pub url_hosts: Option<Vec<HostPattern>>,
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

/// A value read from a step's output. Output is not trusted: the value must pass the checks a
/// parameter passes (its pattern, no leading `-`) before a later step may use it.
#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    /// Its first group is the value.
    pub expression: Regex,
    /// The whole value must match (anchored): the step's `capture_patterns` entry, or
    /// [`CAPTURE_PATTERN`].
    pub pattern: Regex,
}

/// What a captured value may be unless its step says otherwise: one word of letters, digits
/// and the punctuation of host names, versions, paths and percentages, at most 256 long.
pub const CAPTURE_PATTERN: &str = r"[A-Za-z0-9_.:/@%+=,~-]{1,256}";

/// How a finished attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub succeeded: bool,
    /// The captures that matched and passed their checks.
    pub captured: BTreeMap<String, String>,
    /// Why a captured value was refused: then the run must stop, whatever `on_failure` says,
    /// since the program's output cannot be trusted.
    pub refused: Option<String>,
}

/// Where a run goes after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Step(usize),
    Succeed,
    Fail,
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

// The file as written.

#[derive(Deserialize)]
struct RunbookFile {
    command: Spanned<String>,
    description: Spanned<String>,
    #[serde(default)]
    params: Vec<ParamFile>,
    roles: Spanned<Vec<String>>,
    #[serde(default)]
    confirm: bool,
    approval: Option<Spanned<ApprovalFile>>,
    #[serde(default)]
    agents: BTreeMap<String, String>,
    #[serde(default)]
    idempotent: bool,
    timeout_seconds: Option<Spanned<i64>>,
    steps: Spanned<Vec<StepFile>>,
}

#[derive(Deserialize)]
struct ParamFile {
    name: Spanned<String>,
    #[serde(default)]
    help: String,
    pattern: Spanned<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    choices: Vec<String>,
    default: Option<String>,
    /// `text` (default) or `url`.
    kind: Option<Spanned<String>>,
    /// For `kind = "url"`: the hosts its values may name.
    hosts: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
struct ApprovalFile {
    role: Option<String>,
    team: Option<String>,
}

#[derive(Deserialize)]
struct StepFile {
    id: Spanned<String>,
    program: Spanned<String>,
    #[serde(default)]
    args: Vec<Spanned<String>>,
    #[serde(default)]
    expect_exit: Option<Vec<i32>>,
    #[serde(default)]
    captures: BTreeMap<String, Spanned<String>>,
    /// Capture name → the pattern its whole value must match (default [`CAPTURE_PATTERN`]).
    #[serde(default)]
    capture_patterns: BTreeMap<String, Spanned<String>>,
    on_success: Option<Spanned<String>>,
    on_failure: Option<Spanned<String>>,
    retries: Option<Spanned<i64>>,
    retry_delay_seconds: Option<Spanned<i64>>,
    timeout_seconds: Option<Spanned<i64>>,
    success_outcome: Option<Spanned<String>>,
    failure_outcome: Option<Spanned<String>>,
}

/// The names a template refers to: `{name}`; `{{` and `}}` are literal braces.
pub fn placeholders(template: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                        _ => {
                            return Err(format!(
                                "'{template}' opens a '{{' that is not a {{name}}; write {{{{ for a literal brace"
                            ))
                        }
                    }
                }
                names.push(name);
            }
            '}' => {
                return Err(format!(
                    "'{template}' has a lone '}}'; write }}}} for a literal brace"
                ))
            }
            _ => {}
        }
    }
    Ok(names)
}

/// Fills a template with values; each value is inserted as it is (no quoting is needed: the
/// result is one argument). Fails naming the first value that is missing.
pub fn render(template: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                match values.get(&name) {
                    Some(value) => out.push_str(value),
                    None => return Err(format!("no value for {{{name}}}")),
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

impl Runbook {
    /// Reads and checks one runbook file's text; `file` names it in messages.
    pub fn parse(file: &str, text: &str) -> Result<Runbook, Vec<RunbookError>> {
        let line_of = |span: std::ops::Range<usize>| {
            text[..span.start.min(text.len())].matches('\n').count() + 1
        };
        let (raw, unknown) = crate::unknown_keys::from_toml::<RunbookFile>(text);
        let mut errors: Vec<RunbookError> = unknown
            .into_iter()
            .map(|key| RunbookError {
                file: file.to_string(),
                line: line_of_key(text, &key),
                field: key,
                problem:
                    "unknown key; see docs/runbooks-and-agents.md for the keys a runbook takes"
                        .into(),
            })
            .collect();
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                errors.push(RunbookError {
                    file: file.to_string(),
                    line: e.span().map_or(0, line_of),
                    field: "file".into(),
                    problem: e.message().trim().to_string(),
                });
                return Err(errors);
            }
        };
        let mut fail = |line: usize, field: &str, problem: String| {
            errors.push(RunbookError {
                file: file.to_string(),
                line,
                field: field.to_string(),
                problem,
            })
        };

        let command: Vec<String> = raw
            .command
            .get_ref()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let command_line = line_of(raw.command.span());
        let word_ok = |w: &String| {
            w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if command.is_empty()
            || command.len() > 2
            || !command.iter().all(word_ok)
            || command.iter().any(|w| w.len() > NAME_LIMIT)
        {
            fail(
                command_line,
                "command",
                format!(
                    "'{}' is not a command; use one or two lowercase words of up to 32 characters, e.g. \"failover dns\"",
                    raw.command.get_ref()
                ),
            );
        } else if RESERVED.contains(&command[0].as_str()) {
            fail(
                command_line,
                "command",
                format!(
                    "/{} is one of warroom's own commands; choose another first word",
                    command[0]
                ),
            );
        }
        let description = raw.description.get_ref().trim().to_string();
        if description.is_empty() || description.chars().count() > DESCRIPTION_LIMIT {
            fail(
                line_of(raw.description.span()),
                "description",
                format!("write the help text in 1 to {DESCRIPTION_LIMIT} characters"),
            );
        }

        let mut params = Vec::new();
        for (i, p) in raw.params.iter().enumerate() {
            let key = format!("params[{i}]");
            let line = line_of(p.name.span());
            let name = p.name.get_ref().clone();
            if !is_name(&name) || name.len() > NAME_LIMIT {
                fail(
                    line,
                    &format!("{key}.name"),
                    format!(
                        "'{name}' is not a parameter name; use up to 32 lowercase letters, digits and _"
                    ),
                );
            }
            let pattern = match anchored(p.pattern.get_ref()) {
                Ok(r) => r,
                Err(problem) => {
                    fail(
                        line_of(p.pattern.span()),
                        &format!("{key}.pattern"),
                        problem,
                    );
                    continue;
                }
            };
            for value in p.choices.iter().chain(&p.default) {
                if !pattern.is_match(value) {
                    fail(
                        line,
                        &key,
                        format!("'{value}' (a choice or the default) does not match the pattern"),
                    );
                }
            }
            let url_hosts = match (p.kind.as_ref().map(|k| k.get_ref().as_str()), &p.hosts) {
                (None | Some("text"), None) => None,
                (None | Some("text"), Some(hosts)) => {
                    fail(
                        line_of(hosts.span()),
                        &format!("{key}.hosts"),
                        "hosts belong to a URL parameter; add kind = \"url\"".into(),
                    );
                    None
                }
                (Some("url"), hosts) => {
                    let mut allowed = Vec::new();
                    for entry in hosts.iter().flat_map(|h| h.get_ref()) {
                        match HostPattern::parse(entry) {
                            Ok(pattern) => allowed.push(pattern),
                            Err(problem) => fail(
                                hosts.as_ref().map_or(line, |h| line_of(h.span())),
                                &format!("{key}.hosts"),
                                problem,
                            ),
                        }
                    }
                    for value in p.choices.iter().chain(&p.default) {
                        if let Err(problem) = check_url(&name, value, &allowed, false) {
                            fail(line, &key, format!("the default or a choice: {problem}"));
                        }
                    }
                    Some(allowed)
                }
                (Some(other), _) => {
                    let kind = p.kind.as_ref().expect("matched Some");
                    fail(
                        line_of(kind.span()),
                        &format!("{key}.kind"),
                        format!("'{other}' is not a parameter kind; use text or url"),
                    );
                    None
                }
            };
            params.push(Param {
                name,
                help: p.help.clone(),
                pattern,
                required: p.required,
                choices: p.choices.clone(),
                default: p.default.clone(),
                url_hosts,
            });
        }

        let roles_line = line_of(raw.roles.span());
        let mut allowed = Vec::new();
        for role in raw.roles.get_ref() {
            match role.parse::<Access>() {
                Ok(a) if a > Access::Guest => allowed.push(a),
                Ok(_) => fail(
                    roles_line,
                    "roles",
                    "guest may run no command; name viewer, responder or sre".into(),
                ),
                Err(e) => fail(roles_line, "roles", e.to_string()),
            }
        }
        if raw.roles.get_ref().is_empty() {
            fail(
                roles_line,
                "roles",
                "name who may run it: viewer, responder or sre".into(),
            );
        }
        let needs = allowed.iter().copied().min().unwrap_or(Access::Sre);

        let approval = raw.approval.as_ref().and_then(|a| {
            let line = line_of(a.span());
            match (&a.get_ref().role, &a.get_ref().team) {
                (Some(role), None) => match role.parse::<Access>() {
                    Ok(r) => Some(Approver::Role(r)),
                    Err(e) => {
                        fail(line, "approval.role", e.to_string());
                        None
                    }
                },
                (None, Some(team)) if !team.trim().is_empty() => {
                    Some(Approver::Team(team.trim().to_string()))
                }
                _ => {
                    fail(
                        line,
                        "approval",
                        "name one approver: role = \"sre\" or team = \"Compliance\"".into(),
                    );
                    None
                }
            }
        });

        // Every number has bounds: a mistyped 0 or a huge value is refused, not clamped.
        let mut bounded = |key: &str,
                           value: &Option<Spanned<i64>>,
                           range: std::ops::RangeInclusive<i64>,
                           default: i64| match value {
            None => default,
            Some(v) if range.contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                fail(
                    line_of(v.span()),
                    key,
                    format!(
                        "{} is out of range; use {}..={}",
                        v.get_ref(),
                        range.start(),
                        range.end()
                    ),
                );
                default
            }
        };
        let timeout_seconds = bounded(
            "timeout_seconds",
            &raw.timeout_seconds,
            TIMEOUT_RANGE,
            DEFAULT_TIMEOUT_SECONDS as i64,
        ) as u64;
        let step_numbers: Vec<(u32, u64, u64)> = raw
            .steps
            .get_ref()
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let key = |field: &str| format!("steps[{i}].{field}");
                (
                    bounded(&key("retries"), &s.retries, 0..=100, 0) as u32,
                    bounded(
                        &key("retry_delay_seconds"),
                        &s.retry_delay_seconds,
                        0..=3600,
                        0,
                    ) as u64,
                    (bounded(
                        &key("timeout_seconds"),
                        &s.timeout_seconds,
                        TIMEOUT_RANGE,
                        timeout_seconds as i64,
                    ) as u64)
                        .min(timeout_seconds),
                )
            })
            .collect();
        let step_files = raw.steps.get_ref();
        if step_files.is_empty() {
            fail(
                line_of(raw.steps.span()),
                "steps",
                "a runbook needs at least one [[steps]]".into(),
            );
        }
        let mut ids: BTreeMap<String, usize> = BTreeMap::new();
        for (i, s) in step_files.iter().enumerate() {
            let id = s.id.get_ref();
            if !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                || id.is_empty()
            {
                fail(
                    line_of(s.id.span()),
                    &format!("steps[{i}].id"),
                    format!("'{id}' is not a step id; use lowercase letters, digits and -"),
                );
            }
            if matches!(id.as_str(), "succeed" | "fail") {
                fail(
                    line_of(s.id.span()),
                    &format!("steps[{i}].id"),
                    format!("'{id}' is where a run ends; call the step something else"),
                );
            }
            if ids.insert(id.clone(), i).is_some() {
                fail(
                    line_of(s.id.span()),
                    &format!("steps[{i}].id"),
                    format!("another step is called '{id}'"),
                );
            }
        }
        // Everything a template may name: parameters, and what any step captures.
        // A parameter refused above (a bad pattern, say) still counts as declared, so its
        // one mistake is reported once rather than again at every template that names it.
        let mut known: BTreeSet<String> = raw
            .params
            .iter()
            .map(|p| p.name.get_ref().clone())
            .collect();
        for s in step_files {
            known.extend(s.captures.keys().cloned());
        }

        let mut steps = Vec::new();
        for (i, s) in step_files.iter().enumerate() {
            let key = format!("steps[{i}]");
            let next =
                |given: &Option<Spanned<String>>,
                 field: &str,
                 default: Next,
                 fail: &mut dyn FnMut(usize, &str, String)| match given {
                    None => default,
                    Some(target) => match target.get_ref().as_str() {
                        "succeed" => Next::Succeed,
                        "fail" => Next::Fail,
                        other => match ids.get(other) {
                            Some(j) => Next::Step(*j),
                            None => {
                                fail(
                                    line_of(target.span()),
                                    &format!("{key}.{field}"),
                                    format!("no step '{other}'; use a step id, succeed or fail"),
                                );
                                Next::Fail
                            }
                        },
                    },
                };
            let default_success = if i + 1 < step_files.len() {
                Next::Step(i + 1)
            } else {
                Next::Succeed
            };
            let on_success = next(&s.on_success, "on_success", default_success, &mut fail);
            let on_failure = next(&s.on_failure, "on_failure", Next::Fail, &mut fail);
            if s.program.get_ref().trim().is_empty() {
                fail(
                    line_of(s.program.span()),
                    &format!("{key}.program"),
                    "name the program to run".into(),
                );
            }
            let templates = s
                .args
                .iter()
                .map(|a| (a, "args"))
                .chain(s.success_outcome.iter().map(|o| (o, "success_outcome")))
                .chain(s.failure_outcome.iter().map(|o| (o, "failure_outcome")));
            for (template, field) in templates {
                match placeholders(template.get_ref()) {
                    Ok(names) => {
                        for name in names.iter().filter(|n| !known.contains(*n)) {
                            fail(
                                line_of(template.span()),
                                &format!("{key}.{field}"),
                                format!("{{{name}}} is neither a parameter nor a capture"),
                            );
                        }
                    }
                    Err(problem) => {
                        fail(line_of(template.span()), &format!("{key}.{field}"), problem)
                    }
                }
            }
            let mut captures = Vec::new();
            for (name, expression) in &s.captures {
                let line = line_of(expression.span());
                if !is_name(name) {
                    fail(
                        line,
                        &format!("{key}.captures"),
                        format!(
                            "'{name}' is not a capture name; use lowercase letters, digits and _"
                        ),
                    );
                }
                let pattern = match s.capture_patterns.get(name) {
                    Some(p) => match anchored(p.get_ref()) {
                        Ok(r) => r,
                        Err(problem) => {
                            let field = format!("{key}.capture_patterns.{name}");
                            fail(line_of(p.span()), &field, problem);
                            continue;
                        }
                    },
                    None => DEFAULT_CAPTURE_PATTERN.clone(),
                };
                match Regex::new(expression.get_ref()) {
                    Ok(r) if r.captures_len() >= 2 => captures.push(Capture {
                        name: name.clone(),
                        expression: r,
                        pattern,
                    }),
                    Ok(_) => fail(
                        line,
                        &format!("{key}.captures.{name}"),
                        "the expression needs a group ( … ) around the value".into(),
                    ),
                    Err(e) => fail(
                        line,
                        &format!("{key}.captures.{name}"),
                        format!("not a regular expression ({})", regex_problem(&e)),
                    ),
                }
            }
            for (name, p) in &s.capture_patterns {
                if !s.captures.contains_key(name) {
                    fail(
                        line_of(p.span()),
                        &format!("{key}.capture_patterns.{name}"),
                        format!("this step captures no '{name}'; name one of its captures"),
                    );
                }
            }
            steps.push(Step {
                id: s.id.get_ref().clone(),
                program: s.program.get_ref().trim().to_string(),
                args: s.args.iter().map(|a| a.get_ref().clone()).collect(),
                expect_exit: s.expect_exit.clone().unwrap_or_else(|| vec![0]),
                captures,
                on_success,
                on_failure,
                retries: step_numbers[i].0,
                retry_delay_seconds: step_numbers[i].1,
                timeout_seconds: step_numbers[i].2,
                success_outcome: s.success_outcome.as_ref().map(|o| o.get_ref().clone()),
                failure_outcome: s.failure_outcome.as_ref().map(|o| o.get_ref().clone()),
            });
        }
        if errors.is_empty() {
            if let Some(cycle) = find_loop(&steps) {
                errors.push(RunbookError {
                    file: file.to_string(),
                    line: line_of(step_files[cycle].id.span()),
                    field: format!("steps[{cycle}]"),
                    problem: format!(
                        "step '{}' can be reached again from itself; runs must end (use retries to wait)",
                        steps[cycle].id
                    ),
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
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

    /// Checks the values a person gave against the parameters: every value matches its
    /// pattern (and choices), required ones are present, defaults fill the rest, unknown
    /// names are refused. Errors say which parameter and what is allowed.
    pub fn bind(
        &self,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        for name in given.keys() {
            if !self.params.iter().any(|p| &p.name == name) {
                let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(format!(
                    "{} has no parameter '{name}'; it takes {}",
                    self.command_text(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        let mut values = BTreeMap::new();
        for p in &self.params {
            let value = match (given.get(&p.name), &p.default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) if p.required => {
                    return Err(format!("{} needs {}:…", self.command_text(), p.name))
                }
                (None, None) => continue,
            };
            if value.starts_with('-') {
                // A program would read it as an option; `--` guards the shipped runbooks,
                // but not every program knows `--`.
                return Err(format!(
                    "{}: a value may not start with '-' (refused, nothing ran)",
                    p.name
                ));
            }
            if !p.choices.is_empty() && !p.choices.contains(&value) {
                return Err(format!(
                    "{}: '{}' is not one of {}",
                    p.name,
                    value.chars().take(80).collect::<String>(),
                    p.choices.join(", ")
                ));
            }
            if !p.pattern.is_match(&value) {
                return Err(format!(
                    "{}: the value does not match {} (refused, nothing ran)",
                    p.name,
                    p.pattern.as_str()
                ));
            }
            if let Some(hosts) = &p.url_hosts {
                check_url(&p.name, &value, hosts, false)
                    .map_err(|problem| format!("{problem} (refused, nothing ran)"))?;
            }
            values.insert(p.name.clone(), value);
        }
        Ok(values)
    }

    /// The agent's own check of bound URL values: a URL parameter whose runbook lists no
    /// hosts may name only the agent's `url_hosts`, and with neither list nothing passes.
    pub fn check_urls_on_site(
        &self,
        values: &BTreeMap<String, String>,
        site_hosts: &[HostPattern],
    ) -> Result<(), String> {
        for p in &self.params {
            let (Some(hosts), Some(value)) = (&p.url_hosts, values.get(&p.name)) else {
                continue;
            };
            let allowed = if hosts.is_empty() { site_hosts } else { hosts };
            check_url(&p.name, value, allowed, true)?;
        }
        Ok(())
    }
}

impl Step {
    /// Whether a finished attempt succeeded, and what it captured. `exit` is `None` when the
    /// program did not exit by itself (timed out, killed, not started). A captured value is
    /// checked as a parameter is; one that fails is refused, and with it the attempt.
    pub fn judge(&self, exit: Option<i32>, output: &str) -> Judgement {
        let mut captured = BTreeMap::new();
        let mut all_matched = true;
        let mut refused = None;
        for capture in &self.captures {
            match capture.expression.captures(output).and_then(|c| c.get(1)) {
                Some(m) => match check_captured(capture, m.as_str()) {
                    Ok(()) => {
                        captured.insert(capture.name.clone(), m.as_str().to_string());
                    }
                    Err(why) => {
                        all_matched = false;
                        refused.get_or_insert_with(|| format!("step {}: {why}", self.id));
                    }
                },
                None => all_matched = false,
            }
        }
        let exited_as_expected = exit.is_some_and(|code| self.expect_exit.contains(&code));
        Judgement {
            succeeded: exited_as_expected && all_matched,
            captured,
            refused,
        }
    }

    /// The step's arguments with the values substituted, each one argument.
    pub fn arguments(&self, values: &BTreeMap<String, String>) -> Result<Vec<String>, String> {
        self.args.iter().map(|a| render(a, values)).collect()
    }
}

/// [`CAPTURE_PATTERN`], anchored, compiled once (a `Regex` clone shares it).
static DEFAULT_CAPTURE_PATTERN: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
    anchored(CAPTURE_PATTERN).expect("the default capture pattern is valid")
});

/// `pattern` as a regex the whole value must match, or why it is not a regular expression.
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

fn anchored(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
        format!(
            "'{pattern}' is not a regular expression ({})",
            regex_problem(&e)
        )
    })
}

/// The last line of the regex crate's error: the problem, without its drawing of the pattern.
fn regex_problem(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines().last().unwrap_or_default().trim().to_string()
}

/// A captured value passes a parameter's checks: it does not start with `-` (a program would
/// read it as an option) and it matches its pattern.
fn check_captured(capture: &Capture, value: &str) -> Result<(), String> {
    // Shown escaped and cut short: the output may hold anything, and this text reaches chat.
    let shown: String = value
        .chars()
        .take(80)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if value.starts_with('-') {
        return Err(format!(
            "the captured {} '{shown}' starts with '-' and was refused; the run stopped before any step used it",
            capture.name
        ));
    }
    if !capture.pattern.is_match(value) {
        return Err(format!(
            "the captured {} '{shown}' does not match {} and was refused; the run stopped before any step used it",
            capture.name,
            capture.pattern.as_str()
        ));
    }
    Ok(())
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A step reachable again from itself, if any.
fn find_loop(steps: &[Step]) -> Option<usize> {
    // 0 unvisited, 1 on the current path, 2 done.
    fn visit(i: usize, steps: &[Step], state: &mut [u8]) -> Option<usize> {
        match state[i] {
            1 => return Some(i),
            2 => return None,
            _ => {}
        }
        state[i] = 1;
        for next in [steps[i].on_success, steps[i].on_failure] {
            if let Next::Step(j) = next {
                if let Some(found) = visit(j, steps, state) {
                    return Some(found);
                }
            }
        }
        state[i] = 2;
        None
    }
    let mut state = vec![0u8; steps.len()];
    (0..steps.len()).find_map(|i| visit(i, steps, &mut state))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &[(&str, &str)] = &[
        (
            "commands/failover-dns.toml",
            include_str!("../../../commands/failover-dns.toml"),
        ),
        (
            "commands/restart-app.toml",
            include_str!("../../../commands/restart-app.toml"),
        ),
        (
            "commands/cleanup-logs.toml",
            include_str!("../../../commands/cleanup-logs.toml"),
        ),
    ];

    fn shipped(name: &str) -> Runbook {
        let (file, text) = SHIPPED.iter().find(|(f, _)| f.contains(name)).unwrap();
        Runbook::parse(file, text).unwrap_or_else(|e| panic!("{e:?}"))
    }

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

    #[test]
    fn url_parameters_name_their_hosts() {
        let with = |param: &str| {
            format!(
                "command = \"probe url\"\ndescription = \"d\"\nroles = [\"sre\"]\n[[params]]\nname = \"url\"\npattern = '.*'\n{param}\n[[steps]]\nid = \"s\"\nprogram = \"p\"\nargs = [\"{{url}}\"]\n"
            )
        };
        let shown = |param: &str| -> Vec<String> {
            Runbook::parse("commands/p.toml", &with(param))
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            shown("hosts = [\"a\"]"),
            ["commands/p.toml:7: params[0].hosts: hosts belong to a URL parameter; add kind = \"url\""]
        );
        assert!(
            shown("kind = \"link\"")[0].contains("params[0].kind: 'link' is not a parameter kind")
        );
        assert!(shown("kind = \"url\"\nhosts = [\"a b\"]")[0]
            .contains("params[0].hosts: 'a b' is not a host entry"));
        let refused =
            shown("kind = \"url\"\nhosts = [\"127.0.0.1\"]\ndefault = \"http://169.254.169.254/\"");
        assert!(
            refused[0].contains("the default or a choice: url: 169.254.169.254 is a link-local"),
            "{refused:?}"
        );

        // Listed hosts bind on the server and on every agent; an empty list leaves the hosts
        // to each agent's url_hosts, and an agent with none refuses every URL.
        let listed = Runbook::parse("p", &with("kind = \"url\"\nhosts = [\"*.svc\"]")).unwrap();
        let given = |url: &str| BTreeMap::from([("url".to_string(), url.to_string())]);
        let values = listed.bind(&given("http://a.svc/")).unwrap();
        assert_eq!(listed.check_urls_on_site(&values, &[]), Ok(()));
        assert!(listed.bind(&given("http://a.other/")).is_err());
        let open = Runbook::parse("p", &with("kind = \"url\"")).unwrap();
        let values = open.bind(&given("http://a.other/")).unwrap();
        assert!(open
            .check_urls_on_site(&values, &[])
            .unwrap_err()
            .contains("no host is allowed"));
        let site = [HostPattern::parse("a.other").unwrap()];
        assert_eq!(open.check_urls_on_site(&values, &site), Ok(()));
        assert!(open.bind(&given("http://169.254.169.254/")).is_err());
    }

    #[test]
    fn names_fit_in_discord() {
        let long = "a".repeat(33);
        let text = format!(
            "command = \"{long}\"\ndescription = \"d\"\nroles = [\"sre\"]\n[[params]]\nname = \"{long}\"\npattern = \"x\"\n[[steps]]\nid = \"s\"\nprogram = \"p\"\n"
        );
        let errors = Runbook::parse("commands/long.toml", &text).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["command", "params[0].name"], "{errors:?}");
    }

    #[test]
    fn loops_are_refused_so_every_run_ends() {
        let text = r#"command = "spin"
description = "d"
roles = ["sre"]
[[steps]]
id = "a"
program = "p"
on_failure = "b"
[[steps]]
id = "b"
program = "p"
on_success = "a"
"#;
        let errors = Runbook::parse("commands/spin.toml", text).unwrap_err();
        assert!(
            errors[0]
                .problem
                .contains("can be reached again from itself"),
            "{errors:?}"
        );
    }

    #[test]
    fn parameters_are_checked_whole_and_values_stay_one_argument() {
        let restart = shipped("restart-app");
        let given = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        let values = restart.bind(&given("service", "exoticplant-api")).unwrap();
        assert_eq!(values["health_url"], "http://127.0.0.1:8080/healthz");
        for hostile in [
            "x; rm -rf /",
            "$(reboot)",
            "`id`",
            "a\nb",
            "--force",
            "exoticplant && curl evil",
            &"a".repeat(65),
            "",
        ] {
            let refused = restart.bind(&given("service", hostile));
            assert!(refused.is_err(), "{hostile:?} was accepted");
        }
        assert!(restart
            .bind(&given("sevrice", "x"))
            .unwrap_err()
            .contains("has no parameter 'sevrice'; it takes service, health_url"));
        let cleanup = shipped("cleanup-logs");
        assert!(cleanup
            .bind(&given("dir", "/etc"))
            .unwrap_err()
            .contains("not one of /var/log/exoticplant"));
        // A value with spaces or quotes is still one argument: no shell ever splits it.
        let values = BTreeMap::from([("service".to_string(), "a b 'c'".to_string())]);
        let args = restart.steps[0].arguments(&values).unwrap();
        assert_eq!(args, ["stop", "--", "a b 'c'"]);
        assert_eq!(
            render("{missing}", &BTreeMap::new()).unwrap_err(),
            "no value for {missing}"
        );
    }

    #[test]
    fn a_step_succeeds_on_an_expected_exit_with_its_captures() {
        let dns = shipped("failover-dns");
        let ask = &dns.steps[0];
        let judged = ask.judge(Some(0), "active: dns1\nstandby: dns2\n");
        assert!(judged.succeeded);
        assert_eq!(judged.captured["active"], "dns1");
        assert_eq!(judged.captured["standby"], "dns2");
        assert_eq!(judged.refused, None);
        let judged = ask.judge(Some(0), "dnsTool: cannot reach the servers\n");
        assert!(
            !judged.succeeded,
            "a capture that did not match is a failure"
        );
        assert_eq!(
            judged.refused, None,
            "not matching is a failure, not a refusal"
        );
        assert!(
            !ask.judge(Some(1), "active: dns1\nstandby: dns2\n")
                .succeeded
        );
        assert!(
            !ask.judge(None, "active: dns1\nstandby: dns2\n").succeeded,
            "a timed-out step failed"
        );
    }

    #[test]
    fn captured_values_pass_the_checks_parameters_pass() {
        let dns = shipped("failover-dns");
        let ask = &dns.steps[0];
        let judged = ask.judge(Some(0), "active: --evil-flag\nstandby: dns2\n");
        assert!(!judged.succeeded);
        assert!(
            !judged.captured.contains_key("active"),
            "the refused value is not kept"
        );
        let why = judged.refused.expect("refused");
        assert!(
            why.contains("step ask-active") && why.contains("active '--evil-flag' starts with '-'"),
            "{why}"
        );
        // Outside the default pattern (a shell metacharacter), and a step's own pattern.
        let judged = ask.judge(Some(0), "active: dns1;reboot\nstandby: dns2\n");
        assert!(judged.refused.unwrap().contains("does not match"));
        let text = "command = \"c\"\ndescription = \"d\"\nroles = [\"sre\"]\n[[steps]]\nid = \"s\"\nprogram = \"p\"\ncaptures = { host = 'host: (\\S+)' }\ncapture_patterns = { host = 'dns[0-9]' }\n";
        let runbook = Runbook::parse("own.toml", text).unwrap();
        assert!(runbook.steps[0].judge(Some(0), "host: dns1").succeeded);
        let judged = runbook.steps[0].judge(Some(0), "host: web1");
        assert!(judged
            .refused
            .unwrap()
            .contains("does not match ^(?:dns[0-9])$"));
        let bad = text.replace("capture_patterns = { host", "capture_patterns = { hst");
        let all: Vec<String> = Runbook::parse("own.toml", &bad)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        let all = all.join("\n");
        assert!(
            all.contains("steps[0].capture_patterns.hst: this step captures no 'hst'"),
            "{all}"
        );
    }
}
