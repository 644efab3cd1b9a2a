//! Where a run goes after each step: step ids, the `on_success` and `on_failure` targets
//! they resolve, and the refusal of loops, so that every run ends.

use super::file::{Mistakes, StepFile};
use super::Step;
use std::collections::BTreeMap;
use toml::Spanned;

/// Where a run goes after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Step(usize),
    Succeed,
    Fail,
}

/// Each step's id and its place in the file: an id is lowercase letters, digits and `-`, is
/// not where a run ends (`succeed`, `fail`), and names one step only.
pub(super) fn step_ids(steps: &[StepFile], mistakes: &mut Mistakes) -> BTreeMap<String, usize> {
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    for (i, s) in steps.iter().enumerate() {
        let id = s.id.get_ref();
        if !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            || id.is_empty()
        {
            mistakes.fail(
                mistakes.line_of(s.id.span()),
                &format!("steps[{i}].id"),
                format!("'{id}' is not a step id; use lowercase letters, digits and -"),
            );
        }
        if matches!(id.as_str(), "succeed" | "fail") {
            mistakes.fail(
                mistakes.line_of(s.id.span()),
                &format!("steps[{i}].id"),
                format!("'{id}' is where a run ends; call the step something else"),
            );
        }
        if ids.insert(id.clone(), i).is_some() {
            mistakes.fail(
                mistakes.line_of(s.id.span()),
                &format!("steps[{i}].id"),
                format!("another step is called '{id}'"),
            );
        }
    }
    ids
}

/// Where `field` of step `key` sends the run: `default` when the file says nothing, else a
/// step id, `succeed` or `fail`.
pub(super) fn next(
    ids: &BTreeMap<String, usize>,
    key: &str,
    given: &Option<Spanned<String>>,
    field: &str,
    default: Next,
    mistakes: &mut Mistakes,
) -> Next {
    match given {
        None => default,
        Some(target) => match target.get_ref().as_str() {
            "succeed" => Next::Succeed,
            "fail" => Next::Fail,
            other => match ids.get(other) {
                Some(j) => Next::Step(*j),
                None => {
                    mistakes.fail(
                        mistakes.line_of(target.span()),
                        &format!("{key}.{field}"),
                        format!("no step '{other}'; use a step id, succeed or fail"),
                    );
                    Next::Fail
                }
            },
        },
    }
}

/// Refuses steps that loop, naming the first step found on a loop.
pub(super) fn refuse_loops(steps: &[Step], files: &[StepFile], mistakes: &mut Mistakes) {
    if let Some(cycle) = find_loop(steps) {
        mistakes.fail(
            mistakes.line_of(files[cycle].id.span()),
            &format!("steps[{cycle}]"),
            format!(
                "step '{}' can be reached again from itself; runs must end (use retries to wait)",
                steps[cycle].id
            ),
        );
    }
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
    use super::super::Runbook;

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
}
