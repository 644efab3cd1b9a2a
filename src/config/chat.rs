//! The time zone, `[chat]` and `[incidents]`: the zone times are shown in, the default
//! channel, how far back an incident gathers messages, and what a channel name may be.

use super::bounds::{bounded, bounded_env};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChatSection {
    /// Channel for console and transcript lines that name none.
    pub default_channel: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct IncidentsSection {
    /// How far back, before `/incident open`, the channel's messages join the incident.
    pub lookback_minutes: Option<i64>,
}

/// The lookback window when the configuration names none.
pub const DEFAULT_LOOKBACK_MINUTES: u32 = 30;

const LOOKBACK_MINUTES_RANGE: std::ops::RangeInclusive<i64> = 0..=1440;

/// The time zone: `WARROOM_TIMEZONE`, else the file's, else UTC.
pub(super) fn read_timezone(
    timezone: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> chrono_tz::Tz {
    let timezone_name = env("WARROOM_TIMEZONE")
        .or(timezone)
        .unwrap_or_else(|| "UTC".into());
    timezone_name.parse().unwrap_or_else(|_| {
        problems.push(format!(
            "timezone '{timezone_name}' is not an IANA time zone name; use e.g. UTC or Europe/Madrid"
        ));
        chrono_tz::UTC
    })
}

/// `[incidents]`' lookback: `WARROOM_LOOKBACK_MINUTES`, else the file's, within its bounds.
pub(super) fn read_lookback(
    incidents: &IncidentsSection,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> chrono::Duration {
    let lookback_minutes = match env("WARROOM_LOOKBACK_MINUTES") {
        Some(v) => bounded_env(
            "WARROOM_LOOKBACK_MINUTES",
            &v,
            LOOKBACK_MINUTES_RANGE,
            DEFAULT_LOOKBACK_MINUTES.into(),
            problems,
        ),
        None => bounded(
            "incidents.lookback_minutes",
            incidents.lookback_minutes,
            LOOKBACK_MINUTES_RANGE,
            DEFAULT_LOOKBACK_MINUTES.into(),
            problems,
        ),
    };
    chrono::Duration::minutes(lookback_minutes)
}

/// `[chat]`'s default channel: `WARROOM_DEFAULT_CHANNEL`, else the file's, else `ops`.
pub(super) fn read_default_channel(
    chat: &ChatSection,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> String {
    channel_name(
        env("WARROOM_DEFAULT_CHANNEL").or(chat.default_channel.clone()),
        "chat.default_channel",
        problems,
    )
}

/// A channel name as configured (default `ops`), without a leading `#`; it must be one word.
pub(super) fn channel_name(value: Option<String>, key: &str, problems: &mut Vec<String>) -> String {
    let name = value.unwrap_or_else(|| "ops".into());
    let name = name.trim().trim_start_matches('#').to_string();
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        problems.push(format!(
            "{key} = '{name}' is not a channel name; use one word such as ops"
        ));
    }
    name
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

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
