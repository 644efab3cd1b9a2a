//! `[deploys]`: the pipelines' door, the window in which deploys are suspects of an incident,
//! and the guard rules that flag a deploy.

use super::bounds::bounded;
use serde::Deserialize;

/// Deploys: the pipelines' door, the window in which deploys are suspects of an incident,
/// and the guard rules.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeploysSection {
    /// SHA-256 (hex) of the token `POST /v1/deploys` accepts; the door is off without it.
    pub token_sha256: Option<String>,
    /// Hours before an incident opens in which deploys are noted in it (default 24).
    pub incident_window_hours: Option<i64>,
    /// The environment an incident concerns when its alert has no `environment` or `env`
    /// label (default `prod`).
    pub incident_environment: Option<String>,
    #[serde(default)]
    pub guards: Vec<GuardFile>,
}

/// A guard rule as written: it flags a deploy when every condition it gives holds.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GuardFile {
    pub name: String,
    /// Only deploys to this environment.
    pub environment: Option<String>,
    /// A regex the version matches (`-qa|-rc|-snapshot`).
    pub version_matches: Option<String>,
    /// The change window (days and hours in the configured zone): deploys outside it are
    /// flagged.
    pub change_window_days: Option<Vec<String>>,
    pub change_window_hours: Option<String>,
}

/// Deploy settings, checked.
#[derive(Debug, Clone)]
pub struct DeploySettings {
    pub token_sha256: Option<[u8; 32]>,
    pub incident_window: chrono::Duration,
    pub incident_environment: String,
    pub guards: Vec<crate::domain::deploy::GuardRule>,
}

impl Default for DeploySettings {
    fn default() -> DeploySettings {
        DeploySettings {
            token_sha256: None,
            incident_window: chrono::Duration::hours(24),
            incident_environment: "prod".to_string(),
            guards: Vec::new(),
        }
    }
}

pub(super) fn read_deploys(d: &DeploysSection, problems: &mut Vec<String>) -> DeploySettings {
    use crate::domain::deploy::{ChangeWindow, GuardRule};
    let token_sha256 = d.token_sha256.as_ref().and_then(|hex_hash| {
        let hash = hex::decode(hex_hash.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        if hash.is_none() {
            problems.push(
                "deploys.token_sha256: give the SHA-256 of the pipelines' token in hex (`printf %s \"$TOKEN\" | sha256sum`)"
                    .into(),
            );
        }
        hash
    });
    let mut guards = Vec::new();
    for (i, g) in d.guards.iter().enumerate() {
        let key = format!("deploys.guards[{i}] ({})", g.name);
        let version_matches = g.version_matches.as_ref().and_then(|p| {
            regex::Regex::new(p)
                .map_err(|e| problems.push(format!("{key}.version_matches: {e}")))
                .ok()
        });
        let outside = match (&g.change_window_days, &g.change_window_hours) {
            (None, None) => None,
            (Some(days), Some(hours)) => ChangeWindow::parse(days, hours)
                .map_err(|e| problems.push(format!("{key}.change_window: {e}")))
                .ok(),
            _ => {
                problems.push(format!(
                    "{key}: give both change_window_days and change_window_hours, or neither"
                ));
                None
            }
        };
        if g.version_matches.is_none() && g.change_window_days.is_none() {
            problems.push(format!(
                "{key}: give version_matches or a change window, or the rule flags nothing"
            ));
        }
        guards.push(GuardRule {
            name: g.name.clone(),
            environment: g
                .environment
                .as_ref()
                .map(|e| e.trim().to_ascii_lowercase()),
            version_matches,
            outside,
        });
    }
    DeploySettings {
        token_sha256,
        incident_window: chrono::Duration::hours(bounded(
            "deploys.incident_window_hours",
            d.incident_window_hours,
            0..=720,
            24,
            problems,
        )),
        incident_environment: d
            .incident_environment
            .as_deref()
            .unwrap_or("prod")
            .trim()
            .to_ascii_lowercase(),
        guards,
    }
}
