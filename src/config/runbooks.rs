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
}
