//! Placeholders: the `{name}`s a step's argument and outcome templates use, checked against
//! what the runbook declares when it is read, and filled with values when a step runs, each
//! argument staying exactly one argument.

use super::file::{Mistakes, ParamFile, StepFile};
use super::Step;
use std::collections::{BTreeMap, BTreeSet};

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

impl Step {
    /// The step's arguments with the values substituted, each one argument.
    pub fn arguments(&self, values: &BTreeMap<String, String>) -> Result<Vec<String>, String> {
        self.args.iter().map(|a| render(a, values)).collect()
    }
}

/// Everything a template may name: parameters, and what any step captures.
/// A parameter refused when checked (a bad pattern, say) still counts as declared, so its
/// one mistake is reported once rather than again at every template that names it.
pub(super) fn known(params: &[ParamFile], steps: &[StepFile]) -> BTreeSet<String> {
    let mut known: BTreeSet<String> = params.iter().map(|p| p.name.get_ref().clone()).collect();
    for s in steps {
        known.extend(s.captures.keys().cloned());
    }
    known
}

/// The templates of step `key` (its arguments, then its outcomes) are well formed and name
/// only what is `known`.
pub(super) fn check_templates(
    key: &str,
    s: &StepFile,
    known: &BTreeSet<String>,
    mistakes: &mut Mistakes,
) {
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
                    mistakes.fail(
                        mistakes.line_of(template.span()),
                        &format!("{key}.{field}"),
                        format!("{{{name}}} is neither a parameter nor a capture"),
                    );
                }
            }
            Err(problem) => mistakes.fail(
                mistakes.line_of(template.span()),
                &format!("{key}.{field}"),
                problem,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::shipped;
    use super::render;
    use std::collections::BTreeMap;

    #[test]
    fn values_stay_one_argument() {
        let restart = shipped("restart-app");
        // A value with spaces or quotes is still one argument: no shell ever splits it.
        let values = BTreeMap::from([("service".to_string(), "a b 'c'".to_string())]);
        let args = restart.steps[0].arguments(&values).unwrap();
        assert_eq!(args, ["stop", "--", "a b 'c'"]);
        assert_eq!(
            render("{missing}", &BTreeMap::new()).unwrap_err(),
            "no value for {missing}"
        );
    }
}
