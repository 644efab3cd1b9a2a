//! `[followups]`: the issue tracker a post-mortem's follow-up actions are filed in, one issue
//! per action (GitHub or GitLab, through their REST APIs), and the token it takes.

use super::secrets::read_secret;
use crate::secret::Secret;
use serde::Deserialize;

/// The section as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FollowupsSection {
    /// `github` or `gitlab`; no tracker (the default) files nothing.
    pub tracker: Option<String>,
    /// `owner/name` on GitHub, `group/project` (or the numeric id) on GitLab.
    pub repository: Option<String>,
    /// The API root: `https://api.github.com`, `https://gitlab.com/api/v4` by default; a
    /// GitHub Enterprise or self-managed GitLab root otherwise.
    pub api_url: Option<String>,
    /// Labels each issue gets (default `postmortem`).
    pub labels: Option<Vec<String>>,
    /// Where the token is: an environment variable, or a file.
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
}

/// Which tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracker {
    GitHub,
    GitLab,
}

impl Tracker {
    pub fn as_str(self) -> &'static str {
        match self {
            Tracker::GitHub => "github",
            Tracker::GitLab => "gitlab",
        }
    }
}

/// The tracker settings, checked.
#[derive(Debug, Clone)]
pub struct FollowupSettings {
    pub tracker: Tracker,
    pub repository: String,
    /// Without a trailing `/`.
    pub api_url: String,
    pub labels: Vec<String>,
    pub token: Secret,
}

pub(super) fn read_followups(
    f: &FollowupsSection,
    env: &dyn Fn(&str) -> Option<String>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> Option<FollowupSettings> {
    let tracker = match f.tracker.as_deref()?.trim() {
        "github" => Tracker::GitHub,
        "gitlab" => Tracker::GitLab,
        other => {
            problems.push(format!(
                "followups.tracker = '{other}': use github or gitlab (or leave [followups] out)"
            ));
            return None;
        }
    };
    let repository = match f.repository.as_deref().map(str::trim) {
        Some(r) if tracker == Tracker::GitLab && r.chars().all(|c| c.is_ascii_digit()) => r,
        Some(r) if valid_path(r) => r,
        Some(r) => {
            problems.push(format!(
                "followups.repository = '{r}': write it as owner/name (GitHub) or group/project (GitLab)"
            ));
            return None;
        }
        None => {
            problems.push(
                "followups.repository: say where the issues go, as owner/name or group/project"
                    .to_string(),
            );
            return None;
        }
    }
    .to_string();
    let api_url = f
        .api_url
        .clone()
        .unwrap_or_else(|| {
            match tracker {
                Tracker::GitHub => "https://api.github.com",
                Tracker::GitLab => "https://gitlab.com/api/v4",
            }
            .to_string()
        })
        .trim_end_matches('/')
        .to_string();
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        problems.push(format!(
            "followups.api_url = '{api_url}': give the tracker's API root, https://…"
        ));
        return None;
    }
    if f.secret_env.is_none() && f.secret_file.is_none() {
        problems.push(format!(
            "followups: the {} token goes in secret_env or secret_file",
            tracker.as_str()
        ));
        return None;
    }
    let token = read_secret(
        "followups",
        &f.secret_env,
        &f.secret_file,
        env,
        file,
        problems,
    )?;
    Some(FollowupSettings {
        tracker,
        repository,
        api_url,
        labels: f
            .labels
            .clone()
            .unwrap_or_else(|| vec!["postmortem".to_string()]),
        token,
    })
}

/// `a/b` or `group/sub/project`: segments of letters, digits, `.`, `_`, `-`.
fn valid_path(r: &str) -> bool {
    let segments: Vec<&str> = r.split('/').collect();
    segments.len() >= 2
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(toml: &str, env: &[(&str, &str)]) -> (Option<FollowupSettings>, Vec<String>) {
        let section: FollowupsSection = toml::from_str(toml).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let no_file = |_: &str| Err(std::io::Error::other("no files here"));
        let mut problems = Vec::new();
        let settings = read_followups(&section, &lookup, &no_file, &mut problems);
        (settings, problems)
    }

    #[test]
    fn a_tracker_needs_a_repository_and_a_token_and_says_what_is_wrong() {
        let (s, problems) = read(
            "tracker = \"github\"\nrepository = \"shop/app\"\nsecret_env = \"GH\"",
            &[("GH", "ghp_x")],
        );
        let s = s.unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            (s.tracker, s.api_url.as_str(), s.labels.clone()),
            (
                Tracker::GitHub,
                "https://api.github.com",
                vec!["postmortem".to_string()]
            )
        );
        let (s, _) = read(
            "tracker = \"gitlab\"\nrepository = \"42\"\napi_url = \"https://git.example/api/v4/\"\nsecret_env = \"GL\"",
            &[("GL", "glpat")],
        );
        assert_eq!(s.unwrap().api_url, "https://git.example/api/v4");
        let (s, problems) = read("tracker = \"jira\"", &[]);
        assert!(
            s.is_none() && problems[0].contains("use github or gitlab"),
            "{problems:?}"
        );
        let (_, problems) = read("tracker = \"github\"\nrepository = \"app\"", &[]);
        assert!(problems[0].contains("owner/name"), "{problems:?}");
        let (_, problems) = read("tracker = \"github\"\nrepository = \"a/b\"", &[]);
        assert!(
            problems[0].contains("secret_env or secret_file"),
            "{problems:?}"
        );
        let (_, problems) = read(
            "tracker = \"github\"\nrepository = \"a/b\"\nsecret_env = \"NOPE\"",
            &[],
        );
        assert!(problems[0].contains("NOPE is not set"), "{problems:?}");
        assert!(read("", &[]).0.is_none(), "no tracker, nothing filed");
    }
}
