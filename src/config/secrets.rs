//! Secrets a section names through `secret_env` or `secret_file`, never written in the file
//! itself (alert sources and pagers).

use crate::secret::Secret;

/// A secret a section names by `secret_env` or `secret_file` (one of them); `None` when
/// neither is given or it cannot be read, the latter with a problem under `key`.
pub(super) fn read_secret(
    key: &str,
    var: &Option<String>,
    path: &Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> Option<Secret> {
    match (var, path) {
        (Some(_), Some(_)) => {
            problems.push(format!("{key}: set secret_env or secret_file, not both"));
            None
        }
        (Some(var), None) => match env(var) {
            Some(v) if !v.trim().is_empty() => Some(Secret::new(v.trim())),
            _ => {
                problems.push(format!(
                    "{key}.secret_env: the environment variable {var} is not set; export it or use secret_file"
                ));
                None
            }
        },
        (None, Some(path)) => match file(path) {
            Ok(v) if !v.trim().is_empty() => Some(Secret::new(v.trim())),
            Ok(_) => {
                problems.push(format!("{key}.secret_file: {path} is empty"));
                None
            }
            Err(e) => {
                problems.push(format!("{key}.secret_file: cannot read {path}: {e}"));
                None
            }
        },
        (None, None) => None,
    }
}
