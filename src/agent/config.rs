//! `agent.toml`: where `warroom agent` connects to, with which token, which runbooks it has
//! (its allowlist) and how their steps run on this host. Loading checks everything and
//! collects every mistake with its key, so one `warroom agent` start shows them all.

use super::runner::Site;
use crate::domain::runbook::Runbook;
use crate::problems::ConfigProblems;
use crate::secret::Secret;
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the token comes from when `token_file` is not used.
pub const TOKEN_VARIABLE: &str = "WARROOM_AGENT_TOKEN";
/// Output kept per step when the file says nothing.
const DEFAULT_OUTPUT_LIMIT_KIB: u64 = 64;
/// More than this per step would make every report large and the timeline unreadable.
const MAX_OUTPUT_LIMIT_KIB: u64 = 16 * 1024;
/// The PATH of every step when the file says nothing: system directories only, never the
/// agent's own PATH (which may include a user's or a build's directories).
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The file as written.
#[derive(Debug, Deserialize)]
struct AgentFile {
    /// Base URL of `warroom serve`.
    server: String,
    /// For logs; default `agent`.
    #[serde(default)]
    name: Option<String>,
    /// File holding the token, relative to `agent.toml`; `WARROOM_AGENT_TOKEN` wins.
    #[serde(default)]
    token_file: Option<String>,
    /// Runbook directory, relative to `agent.toml`; default `commands`.
    #[serde(default)]
    commands: Option<String>,
    /// Output kept per step, in KiB; default 64.
    #[serde(default)]
    output_limit_kib: Option<u64>,
    /// Regular expressions removed from output and arguments.
    #[serde(default)]
    redact: Vec<String>,
    /// PATH of every step; default `/usr/local/bin:/usr/bin:/bin`.
    #[serde(default)]
    path: Option<String>,
    /// Runbook program name → absolute path on this host.
    #[serde(default)]
    programs: BTreeMap<String, String>,
    /// Extra environment of every step.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Hosts URL parameters may name when their runbook lists none.
    #[serde(default)]
    url_hosts: Vec<String>,
}

/// A checked agent configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Base URL of `warroom serve`, http or https, without a trailing slash.
    pub server: reqwest::Url,
    /// This agent's name, for its own logs (the server knows it by its token).
    pub name: String,
    /// The bearer token the server lists for this agent.
    pub token: Secret,
    /// The runbook directory as resolved (relative paths are relative to `agent.toml`).
    pub commands_dir: PathBuf,
    /// The runbooks this agent will run, by file stem (`failover-dns`): its allowlist.
    pub runbooks: BTreeMap<String, Runbook>,
    /// Output kept per step, in bytes.
    pub output_limit: usize,
    /// Patterns removed from step output and arguments before they leave the host.
    pub redact: Vec<Regex>,
    /// PATH of every step.
    pub path: String,
    /// Runbook program name → absolute path on this host.
    pub programs: BTreeMap<String, String>,
    /// Extra environment of every step (besides PATH).
    pub env: BTreeMap<String, String>,
    /// Hosts URL parameters may name when their runbook lists none (`url_hosts`).
    pub url_hosts: Vec<crate::domain::url_param::HostPattern>,
    /// Things that work but are probably not meant (a program found nowhere, plain http).
    pub warnings: Vec<String>,
}

impl AgentConfig {
    /// Reads and checks `path` and the runbooks of its `commands` directory. `env` looks up
    /// environment variables (`WARROOM_AGENT_TOKEN`); tests pass their own.
    pub fn load(
        path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<AgentConfig, ConfigProblems> {
        let origin = path.display().to_string();
        let fail = |problems: Vec<String>| ConfigProblems {
            origin: origin.clone(),
            problems,
        };
        let text = crate::small_file::read_small_file(path).map_err(|e| {
            fail(vec![format!(
                "cannot read the agent configuration: {e}; pass --config FILE or set WARROOM_AGENT_CONFIG"
            )])
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        AgentConfig::check(&text, &base, env).map_err(fail)
    }

    /// Checks a configuration text whose relative paths are relative to `base`.
    fn check(
        text: &str,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<AgentConfig, Vec<String>> {
        let (file, unknown) = crate::unknown_keys::from_toml::<AgentFile>(text);
        let mut problems: Vec<String> = unknown
            .iter()
            .map(|key| format!("{key}: unknown key; see docs/runbooks-and-agents.md for the keys agent.toml takes"))
            .collect();
        let file = match file {
            Ok(file) => file,
            Err(e) => {
                problems.push(e.to_string().trim_end().to_string());
                return Err(problems);
            }
        };
        let mut warnings = Vec::new();

        let server = check_server(&file.server, &mut problems, &mut warnings);

        let name = file
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or("agent")
            .to_string();

        let token = read_token(file.token_file.as_deref(), base, &env, &mut problems);

        let output_limit_kib = file.output_limit_kib.unwrap_or(DEFAULT_OUTPUT_LIMIT_KIB);
        if output_limit_kib == 0 || output_limit_kib > MAX_OUTPUT_LIMIT_KIB {
            problems.push(format!(
                "output_limit_kib: {output_limit_kib} is out of range; use 1 to {MAX_OUTPUT_LIMIT_KIB} (default {DEFAULT_OUTPUT_LIMIT_KIB})"
            ));
        }

        let mut redact = Vec::new();
        for (i, pattern) in file.redact.iter().enumerate() {
            match Regex::new(pattern) {
                Ok(_) if pattern.is_empty() => problems.push(format!(
                    "redact[{i}]: an empty pattern matches nothing useful; remove it"
                )),
                Ok(regex) => redact.push(regex),
                Err(e) => problems.push(format!(
                    "redact[{i}]: '{pattern}' is not a regular expression: {}",
                    one_line(&e.to_string())
                )),
            }
        }

        let path = file.path.unwrap_or_else(|| DEFAULT_PATH.to_string());
        check_path(&path, &mut problems);

        for (program, target) in &file.programs {
            if !Path::new(target).is_absolute() {
                // A relative path would depend on the directory the agent was started in.
                problems.push(format!(
                    "programs.{program}: '{target}' is not an absolute path; write the full path of the program on this host"
                ));
            } else if !is_executable(Path::new(target)) {
                warnings.push(format!(
                    "programs.{program}: {target} does not exist or is not executable; runbooks using {program} will fail at that step"
                ));
            }
        }

        for (key, value) in &file.env {
            if key == "PATH" {
                problems.push("env.PATH: set `path` instead".to_string());
            } else if key.is_empty() || key.contains('=') || key.contains('\0') {
                problems.push(format!(
                    "env.{key}: not a variable name; use letters, digits and _"
                ));
            } else if value.contains('\0') {
                problems.push(format!("env.{key}: the value contains a NUL byte"));
            }
        }

        let commands_dir = base.join(file.commands.as_deref().unwrap_or("commands"));
        let runbooks = read_runbooks(&commands_dir, &mut problems);
        for runbook in runbooks.values() {
            for step in &runbook.steps {
                let known = file.programs.contains_key(&step.program)
                    || step.program.contains('/')
                    || path
                        .split(':')
                        .any(|dir| is_executable(&Path::new(dir).join(&step.program)));
                let warning = format!(
                    "{}: step {}: program '{}' is neither in [programs] nor found in path; map it in [programs]",
                    runbook.file, step.id, step.program
                );
                if !known && !warnings.contains(&warning) {
                    warnings.push(warning);
                }
            }
        }

        let mut url_hosts = Vec::new();
        for entry in &file.url_hosts {
            match crate::domain::url_param::HostPattern::parse(entry) {
                Ok(pattern) => url_hosts.push(pattern),
                Err(problem) => problems.push(format!("url_hosts: {problem}")),
            }
        }

        match (server, token) {
            (Some(server), Some(token)) if problems.is_empty() => Ok(AgentConfig {
                server,
                name,
                token,
                commands_dir,
                runbooks,
                output_limit: (output_limit_kib * 1024) as usize,
                redact,
                path,
                programs: file.programs,
                env: file.env,
                url_hosts,
                warnings,
            }),
            _ => Err(problems),
        }
    }

    /// What the runner needs to carry out steps on this host. The environment is complete:
    /// steps inherit nothing from the agent's own.
    pub fn site(&self) -> Site {
        let mut env = vec![("PATH".to_string(), self.path.clone())];
        env.extend(self.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        Site {
            programs: self.programs.clone(),
            env,
            output_limit: self.output_limit,
            redact: self.redact.clone(),
            url_hosts: self.url_hosts.clone(),
        }
    }

    /// The runbook names (file stems) this agent has, sorted.
    pub fn runbook_names(&self) -> Vec<String> {
        self.runbooks.keys().cloned().collect()
    }
}

fn check_server(
    text: &str,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Option<reqwest::Url> {
    let mut url = match reqwest::Url::parse(text.trim()) {
        Ok(url) => url,
        Err(e) => {
            problems.push(format!(
                "server: '{text}' is not a URL ({e}); write the base URL of warroom serve, e.g. \"https://warroom.internal:8080\""
            ));
            return None;
        }
    };
    match url.scheme() {
        "https" => {}
        "http" => warnings.push(format!(
            "server: {url} is plain http: the agent's token and the reports travel unencrypted; use https:// outside a trusted network"
        )),
        other => {
            problems.push(format!(
                "server: the scheme '{other}' is not supported; use https:// (or http://)"
            ));
            return None;
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        problems.push(format!("server: '{text}' names no host"));
        return None;
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        problems.push(format!(
            "server: '{text}' has a query, fragment or user name; give only scheme, host, port and path"
        ));
        return None;
    }
    // Paths are joined to it: `https://host/warroom/` and `https://host/warroom` are the same.
    let trimmed = url.path().trim_end_matches('/').to_string();
    url.set_path(&trimmed);
    Some(url)
}

/// The token from the environment first (a service manager's credential), else the file.
fn read_token(
    token_file: Option<&str>,
    base: &Path,
    env: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> Option<Secret> {
    if let Some(token) = env(TOKEN_VARIABLE).filter(|t| !t.trim().is_empty()) {
        return Some(Secret::new(token.trim()));
    }
    let Some(file) = token_file else {
        problems.push(format!(
            "token_file: no token; set token_file = \"/etc/warroom/agent-token\" (a file holding the token the server lists for this agent in [[agents]]) or {TOKEN_VARIABLE}"
        ));
        return None;
    };
    let path = base.join(file);
    match crate::small_file::read_small_file(&path) {
        Ok(token) if !token.trim().is_empty() => Some(Secret::new(token.trim())),
        Ok(_) => {
            problems.push(format!(
                "token_file: {} is empty; put the agent's token in it",
                path.display()
            ));
            None
        }
        Err(e) => {
            problems.push(format!(
                "token_file: cannot read {}: {e}; check the path and that the agent's user may read it",
                path.display()
            ));
            None
        }
    }
}

fn check_path(path: &str, problems: &mut Vec<String>) {
    if path.trim().is_empty() {
        problems.push(format!(
            "path: empty; steps need a PATH, e.g. \"{DEFAULT_PATH}\""
        ));
        return;
    }
    for dir in path.split(':') {
        // An empty or relative entry makes programs resolve from the working directory.
        if !Path::new(dir).is_absolute() {
            problems.push(format!(
                "path: '{dir}' is not an absolute directory; list absolute directories separated by ':'"
            ));
        }
    }
}

/// Every `*.toml` of the directory, parsed, by file stem; each file's mistakes reported
/// with its line.
fn read_runbooks(dir: &Path, problems: &mut Vec<String>) -> BTreeMap<String, Runbook> {
    let mut runbooks = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(format!(
                "commands: cannot read the runbook directory {}: {e}",
                dir.display()
            ));
            return runbooks;
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for file in &files {
        let Some(stem) = file.file_stem().and_then(|s| s.to_str()) else {
            problems.push(format!(
                "commands: {} has a name that is not UTF-8; rename it",
                file.display()
            ));
            continue;
        };
        let text = match crate::small_file::read_small_file(file) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!("commands: cannot read {}: {e}", file.display()));
                continue;
            }
        };
        match Runbook::parse(&file.display().to_string(), &text) {
            Ok(runbook) => {
                runbooks.insert(stem.to_string(), runbook);
            }
            Err(errors) => problems.extend(errors.iter().map(ToString::to_string)),
        }
    }
    if files.is_empty() {
        problems.push(format!(
            "commands: no runbook files (*.toml) in {}; an agent without runbooks can do nothing",
            dir.display()
        ));
    }
    runbooks
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED_DNS: &str = include_str!("../../commands/failover-dns.toml");

    /// A directory with `agent.toml` holding `text`, a token file, and `commands/` holding the
    /// shipped DNS failover.
    fn setup(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("commands")).unwrap();
        std::fs::write(dir.path().join("commands/failover-dns.toml"), SHIPPED_DNS).unwrap();
        std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
        std::fs::write(dir.path().join("agent.toml"), text).unwrap();
        dir
    }

    fn load(dir: &tempfile::TempDir) -> Result<AgentConfig, ConfigProblems> {
        AgentConfig::load(&dir.path().join("agent.toml"), |_| None)
    }

    #[test]
    fn a_good_config_gives_the_site_and_the_runbooks_by_stem() {
        let dir = setup(
            r#"
server = "https://warroom.internal:8080/"
name = "dns-1"
token_file = "token"
commands = "commands"
output_limit_kib = 8
redact = ['token=\S+']
[programs]
dnstool = "/bin/sh"
[env]
LANG = "C.UTF-8"
"#,
        );
        let config = load(&dir).unwrap();
        assert_eq!(config.server.as_str(), "https://warroom.internal:8080/");
        assert_eq!(config.name, "dns-1");
        assert_eq!(config.token.expose(), "s3cret");
        assert_eq!(config.runbook_names(), ["failover-dns"]);
        let site = config.site();
        assert_eq!(site.output_limit, 8 * 1024);
        assert_eq!(
            site.env,
            [
                ("PATH".to_string(), DEFAULT_PATH.to_string()),
                ("LANG".to_string(), "C.UTF-8".to_string())
            ]
        );
        assert_eq!(site.programs["dnstool"], "/bin/sh");
        assert_eq!(site.redact.len(), 1);
        // The token never shows in a debug print of the configuration.
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn the_environment_token_wins_over_the_file() {
        let dir = setup("server = \"http://127.0.0.1:1\"\ntoken_file = \"missing\"\n");
        let config = AgentConfig::load(&dir.path().join("agent.toml"), |k| {
            (k == TOKEN_VARIABLE).then(|| "from-env".to_string())
        })
        .unwrap();
        assert_eq!(config.token.expose(), "from-env");
        assert!(config.warnings.iter().any(|w| w.contains("plain http")));
        assert!(config
            .warnings
            .iter()
            .any(|w| w.contains("program 'dnstool' is neither")));
    }

    #[test]
    fn every_mistake_is_named_with_its_key() {
        let dir = setup(
            r#"
server = "ftp://warroom.internal"
output_limit_kib = 0
redact = ['(?i', 'ok']
path = "/usr/bin:bin"
commands = "nowhere"
[programs]
dnstool = "dnsTool"
[env]
PATH = "/tmp"
"#,
        );
        let problems = load(&dir).unwrap_err().problems;
        let expect = [
            "server: the scheme 'ftp'",
            "token_file: no token; set token_file",
            "WARROOM_AGENT_TOKEN",
            "output_limit_kib: 0 is out of range",
            "redact[0]: '(?i' is not a regular expression",
            "path: 'bin' is not an absolute directory",
            "programs.dnstool: 'dnsTool' is not an absolute path",
            "env.PATH: set `path` instead",
            "commands: cannot read the runbook directory",
        ];
        for e in expect {
            assert!(
                problems.iter().any(|p| p.contains(e)),
                "no problem mentions {e:?}: {problems:#?}"
            );
        }
    }

    #[test]
    fn unknown_keys_and_bad_runbooks_are_refused_with_where() {
        let dir = setup("server = \"https://x\"\ntoken_file = \"token\"\nservre = 1\n");
        let problems = load(&dir).unwrap_err().problems;
        assert!(problems[0].contains("servre"), "{problems:?}");

        let dir = setup("server = \"https://x\"\ntoken_file = \"token\"\n");
        std::fs::write(
            dir.path().join("commands/broken.toml"),
            "command = \"broken\"\ndescription = \"x\"\nroles = [\"sre\"]\nsteps = []\nbogus = 1\n",
        )
        .unwrap();
        // Every mistake of the file at once: the unknown key and the missing steps.
        let problems = load(&dir).unwrap_err().problems;
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("broken.toml:5") && problems[0].contains("bogus"),
            "{problems:?}"
        );
        assert!(problems[1].contains("broken.toml:4: steps"), "{problems:?}");
    }

    #[test]
    fn an_empty_token_file_and_an_empty_runbook_directory_are_mistakes() {
        let dir = setup("server = \"https://x\"\ntoken_file = \"token\"\n");
        std::fs::write(dir.path().join("token"), "\n").unwrap();
        std::fs::remove_file(dir.path().join("commands/failover-dns.toml")).unwrap();
        let problems = load(&dir).unwrap_err().problems;
        assert!(
            problems.iter().any(|p| p.contains("is empty")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("no runbook files")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_missing_file_says_how_to_name_one() {
        let problems = AgentConfig::load(Path::new("/nonexistent/agent.toml"), |_| None)
            .unwrap_err()
            .problems;
        assert!(problems[0].contains("--config"), "{problems:?}");
    }
}
