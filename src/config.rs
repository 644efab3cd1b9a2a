//! Configuration: `warroom.toml` (path by `--config` / `WARROOM_CONFIG`), overridden by
//! `WARROOM_*` environment variables, checked once at start-up into [`Settings`].

use crate::domain::contacts::{Contact, Directory, Team};
use anyhow::{bail, Context};
use serde::Deserialize;
use std::path::Path;

/// The file as written. Unknown keys are refused so a typo never silently does nothing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// IANA time zone for times in documents and chat, e.g. `Europe/Madrid`; default UTC.
    pub timezone: Option<String>,
    #[serde(default)]
    pub chat: ChatSection,
    #[serde(default)]
    pub incidents: IncidentsSection,
    #[serde(default)]
    pub alerts: AlertsSection,
    #[serde(default)]
    pub teams: Vec<Team>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSection {
    /// Channel for console and transcript lines that name none.
    pub default_channel: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentsSection {
    /// How far back, before `/incident open`, the channel's messages join the incident.
    pub lookback_minutes: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// The channel alerts are announced in.
    pub channel: Option<String>,
}

/// The settings the application runs with, every value checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub timezone: chrono_tz::Tz,
    pub default_channel: String,
    pub lookback: chrono::Duration,
    pub alerts_channel: String,
    pub directory: Directory,
}

/// The lookback window when the configuration names none.
pub const DEFAULT_LOOKBACK_MINUTES: u32 = 30;

/// The example configuration shipped in `deploy/`: the seed scenario's contacts. The demo
/// uses it when no `--config` is given.
pub const EXAMPLE_CONFIG: &str = include_str!("../deploy/warroom.toml");

impl Settings {
    /// Reads the file at `path`; without a path, `./warroom.toml` when it exists, else the
    /// defaults. Then applies the environment's overrides.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Settings> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read the config file {}", p.display()))?,
                p.display().to_string(),
            ),
            None if Path::new("warroom.toml").exists() => (
                std::fs::read_to_string("warroom.toml").context("cannot read ./warroom.toml")?,
                "warroom.toml".to_string(),
            ),
            None => (String::new(), "defaults".to_string()),
        };
        Settings::from_toml(&text, &origin, |k| std::env::var(k).ok())
    }

    /// Parses and checks a configuration text; `env` looks up override variables.
    pub fn from_toml(
        text: &str,
        origin: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Settings> {
        let file: ConfigFile = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{origin}: {}", e.to_string().trim_end()))?;
        let timezone_name = env("WARROOM_TIMEZONE")
            .or(file.timezone)
            .unwrap_or_else(|| "UTC".into());
        let timezone: chrono_tz::Tz = timezone_name.parse().map_err(|_| {
            anyhow::anyhow!(
                "{origin}: timezone '{timezone_name}' is not an IANA time zone name; use e.g. UTC or Europe/Madrid"
            )
        })?;
        let lookback_minutes = match env("WARROOM_LOOKBACK_MINUTES") {
            Some(v) => v.trim().parse::<u32>().map_err(|_| {
                anyhow::anyhow!("WARROOM_LOOKBACK_MINUTES='{v}' is not a whole number of minutes")
            })?,
            None => file
                .incidents
                .lookback_minutes
                .unwrap_or(DEFAULT_LOOKBACK_MINUTES),
        };
        let default_channel = channel_name(
            env("WARROOM_DEFAULT_CHANNEL").or(file.chat.default_channel),
            "chat.default_channel",
            origin,
        )?;
        let alerts_channel = channel_name(
            env("WARROOM_ALERTS_CHANNEL").or(file.alerts.channel),
            "alerts.channel",
            origin,
        )?;
        let mut teams = file.teams;
        for contact in &file.contacts {
            if !teams.iter().any(|t| t.name == contact.team) {
                bail!(
                    "{origin}: contact '{}' is in team '{}', which is not in [[teams]]; add the team or fix the name",
                    contact.handle,
                    contact.team
                );
            }
        }
        teams.dedup_by(|a, b| a.name == b.name);
        let directory =
            Directory::new(file.contacts, teams).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        Ok(Settings {
            timezone,
            default_channel,
            lookback: chrono::Duration::minutes(lookback_minutes.into()),
            alerts_channel,
            directory,
        })
    }

    /// The shipped example configuration with the environment's overrides.
    pub fn example() -> anyhow::Result<Settings> {
        Settings::from_toml(EXAMPLE_CONFIG, "deploy/warroom.toml", |k| {
            std::env::var(k).ok()
        })
    }
}

fn channel_name(value: Option<String>, key: &str, origin: &str) -> anyhow::Result<String> {
    let name = value.unwrap_or_else(|| "ops".into());
    let name = name.trim().trim_start_matches('#').to_string();
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        bail!("{origin}: {key} = '{name}' is not a channel name; use one word such as ops");
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_shipped_example_loads_with_the_seed_contacts() {
        let s = Settings::from_toml(EXAMPLE_CONFIG, "example", no_env).unwrap();
        assert_eq!(s.directory.person("hammer").unwrap().name, "Glenn Hammer");
        assert_eq!(s.lookback, chrono::Duration::minutes(30));
    }

    #[test]
    fn mistakes_name_the_key_and_the_fix() {
        let err = Settings::from_toml("timezone = \"Mars/Olympus\"", "x.toml", no_env).unwrap_err();
        assert!(err
            .to_string()
            .contains("timezone 'Mars/Olympus' is not an IANA time zone"));
        let err =
            Settings::from_toml("[incidents]\nlookbak_minutes = 5", "x.toml", no_env).unwrap_err();
        assert!(err.to_string().contains("lookbak_minutes"), "{err}");
        let err = Settings::from_toml(
            "[[contacts]]\nhandle = \"a\"\nname = \"A\"\nteam = \"Nope\"",
            "x.toml",
            no_env,
        )
        .unwrap_err();
        assert!(err
            .to_string()
            .contains("team 'Nope', which is not in [[teams]]"));
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = |k: &str| match k {
            "WARROOM_TIMEZONE" => Some("Europe/Madrid".to_string()),
            "WARROOM_LOOKBACK_MINUTES" => Some("45".to_string()),
            _ => None,
        };
        let s = Settings::from_toml("timezone = \"UTC\"", "x.toml", env).unwrap();
        assert_eq!(s.timezone, chrono_tz::Europe::Madrid);
        assert_eq!(s.lookback, chrono::Duration::minutes(45));
    }
}
