//! `[runbooks]`: where the runbook command files are, and their checks one by one and as a
//! set.

use super::{ConfigProblems, Settings};
use crate::small_file::read_small_file;
use serde::Deserialize;
use std::path::Path;

/// Where the runbook command files are.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunbooksSection {
    /// Directory of `*.toml` runbook files, relative to the config file; default `commands`.
    pub dir: Option<String>,
}

impl Settings {
    /// Reads every `*.toml` of the runbook directory (relative to `base`). A missing
    /// directory that was not configured means no runbooks; one that was is a mistake.
    pub(super) fn read_runbook_dir(
        &mut self,
        base: &Path,
        origin: &str,
    ) -> Result<(), ConfigProblems> {
        let configured = self.runbooks_dir.clone();
        let dir = base.join(configured.as_deref().unwrap_or("commands"));
        let fail = |problem: String| ConfigProblems {
            origin: origin.to_string(),
            problems: vec![problem],
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(_) if configured.is_none() => return Ok(()),
            Err(e) => {
                return Err(fail(format!(
                    "runbooks.dir: cannot read {}: {e}",
                    dir.display()
                )))
            }
        };
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = read_small_file(&path)
                    .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
                files.push((path.display().to_string(), text));
            }
        }
        files.sort();
        self.add_runbooks(files, origin)
    }

    /// Checks runbook files and keeps them: every mistake of every file, then what only the
    /// set shows (two files with one command, an approving team nobody is in).
    pub fn add_runbooks(
        &mut self,
        files: Vec<(String, String)>,
        origin: &str,
    ) -> Result<(), ConfigProblems> {
        use crate::domain::runbook::{Approver, Runbook};
        let mut problems = Vec::new();
        let mut runbooks: Vec<Runbook> = Vec::new();
        for (file, text) in &files {
            match Runbook::parse(file, text) {
                Ok(runbook) => {
                    if let Some(other) = runbooks.iter().find(|r| r.command == runbook.command) {
                        problems.push(format!(
                            "{file}: command: {} is also defined in {}",
                            runbook.command_text(),
                            other.file
                        ));
                    }
                    if let Some(Approver::Team(team)) = &runbook.approval {
                        if !self.directory.teams().iter().any(|t| {
                            t.name.eq_ignore_ascii_case(team)
                                || t.aliases.iter().any(|a| a.eq_ignore_ascii_case(team))
                        }) {
                            problems.push(format!(
                                "{file}: approval.team: no team '{team}' in [[teams]]; add it or name another"
                            ));
                        } else if !self
                            .directory
                            .contacts()
                            .iter()
                            .any(|c| c.team.eq_ignore_ascii_case(team))
                        {
                            self.warnings.push(format!(
                                "{file}: approval.team: nobody is in {team}, so nobody can approve {}; add a contact to it",
                                runbook.command_text()
                            ));
                        }
                    }
                    self.warn_of_urls_asking_warroom(&runbook);
                    runbooks.push(runbook);
                }
                Err(errors) => problems.extend(errors.iter().map(ToString::to_string)),
            }
        }
        if !problems.is_empty() {
            return Err(ConfigProblems {
                origin: origin.to_string(),
                problems,
            });
        }
        self.runbooks = runbooks;
        Ok(())
    }

    /// A URL parameter whose default is warroom's own listen address: an agent on the same
    /// host (the demo's, a small install's) would ask warroom's `/healthz`, not the
    /// application's, and a restart would report healthy while the application is down.
    fn warn_of_urls_asking_warroom(&mut self, runbook: &crate::domain::runbook::Runbook) {
        let Some((listen_host, listen_port)) = self.listen.rsplit_once(':') else {
            return;
        };
        let listen_host = listen_host.trim_start_matches('[').trim_end_matches(']');
        let any_or_loopback = |host: &str| {
            matches!(host, "" | "localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
        };
        for param in runbook.params.iter().filter(|p| p.url_hosts.is_some()) {
            let Some(url) = param
                .default
                .as_deref()
                .and_then(|d| url::Url::parse(d).ok())
            else {
                continue;
            };
            let host = url.host_str().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let same_port = url
                .port_or_known_default()
                .is_some_and(|p| p.to_string() == listen_port);
            let same_host = host.eq_ignore_ascii_case(listen_host)
                || (any_or_loopback(host) && any_or_loopback(listen_host));
            if same_port && same_host {
                self.warnings.push(format!(
                    "{}: params.{}: the default {url} is warroom's own address (http.listen {}): an agent on this host would ask warroom instead of the application; give the application's URL",
                    runbook.file, param.name, self.listen
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESTART: &str = include_str!("../../commands/restart-app.toml");

    fn warnings_with(listen: &str, restart: &str) -> Vec<String> {
        let mut settings =
            Settings::from_toml(&format!("[http]\nlisten = \"{listen}\"\n"), "test", |_| {
                None
            })
            .unwrap();
        settings.warnings.clear();
        settings
            .add_runbooks(vec![("restart-app.toml".into(), restart.into())], "test")
            .unwrap();
        settings.warnings
    }

    #[test]
    fn a_health_url_that_would_ask_warroom_itself_is_warned_of() {
        assert_eq!(
            warnings_with("127.0.0.1:8080", RESTART),
            Vec::<String>::new(),
            "the shipped default asks the application, not warroom"
        );
        let own = RESTART.replace("http://127.0.0.1/healthz", "http://localhost:8080/healthz");
        for listen in ["127.0.0.1:8080", "0.0.0.0:8080", "[::]:8080"] {
            let warnings = warnings_with(listen, &own);
            assert_eq!(warnings.len(), 1, "{listen}: {warnings:?}");
            assert!(
                warnings[0].starts_with("restart-app.toml: params.health_url: the default http://localhost:8080/healthz is warroom's own address"),
                "{warnings:?}"
            );
        }
        assert!(
            warnings_with("127.0.0.1:9090", &own).is_empty(),
            "another port"
        );
    }
}
