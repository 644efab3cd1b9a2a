//! A step's outcome: the values it captures from its output (declared and checked when the
//! file is read, each value checked as a parameter is when it is captured), and the
//! judgement of a finished attempt.

use super::file::{Mistakes, StepFile};
use super::params::{anchored, is_name, regex_problem};
use super::Step;
use regex::Regex;
use std::collections::BTreeMap;

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

/// [`CAPTURE_PATTERN`], anchored, compiled once (a `Regex` clone shares it).
static DEFAULT_CAPTURE_PATTERN: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
    anchored(CAPTURE_PATTERN).expect("the default capture pattern is valid")
});

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

/// The captures of step `key` as written, checked: a name, an expression with a group, and
/// the pattern its value must match; every `capture_patterns` entry names one of them.
pub(super) fn check_captures(key: &str, s: &StepFile, mistakes: &mut Mistakes) -> Vec<Capture> {
    let mut captures = Vec::new();
    for (name, expression) in &s.captures {
        let line = mistakes.line_of(expression.span());
        if !is_name(name) {
            mistakes.fail(
                line,
                &format!("{key}.captures"),
                format!("'{name}' is not a capture name; use lowercase letters, digits and _"),
            );
        }
        let pattern = match s.capture_patterns.get(name) {
            Some(p) => match anchored(p.get_ref()) {
                Ok(r) => r,
                Err(problem) => {
                    let field = format!("{key}.capture_patterns.{name}");
                    mistakes.fail(mistakes.line_of(p.span()), &field, problem);
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
            Ok(_) => mistakes.fail(
                line,
                &format!("{key}.captures.{name}"),
                "the expression needs a group ( … ) around the value".into(),
            ),
            Err(e) => mistakes.fail(
                line,
                &format!("{key}.captures.{name}"),
                format!("not a regular expression ({})", regex_problem(&e)),
            ),
        }
    }
    for (name, p) in &s.capture_patterns {
        if !s.captures.contains_key(name) {
            mistakes.fail(
                mistakes.line_of(p.span()),
                &format!("{key}.capture_patterns.{name}"),
                format!("this step captures no '{name}'; name one of its captures"),
            );
        }
    }
    captures
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

#[cfg(test)]
mod tests {
    use super::super::fixture::shipped;
    use super::super::Runbook;

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
