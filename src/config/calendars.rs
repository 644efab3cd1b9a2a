//! `[calendars]`: the iCalendar feeds of the schedules and of each person, served at
//! `/v1/schedules/NAME.ics` and `/v1/people/HANDLE.ics` with a token made from a secret.

use super::secrets::read_secret;
use crate::secret::Secret;
use serde::Deserialize;

/// The section as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CalendarsSection {
    /// Environment variable or file holding the secret the feeds' tokens are made from;
    /// the feeds are off without one.
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    /// How people reach this server, e.g. `https://warroom.example.com`, for the links
    /// `/oncall calendar` gives.
    pub base_url: Option<String>,
}

/// The feeds, on.
#[derive(Debug, Clone)]
pub struct CalendarSettings {
    pub secret: Secret,
    pub base_url: Option<String>,
}

/// `[calendars]`: `None` (feeds off) without a secret.
pub(super) fn read_calendars(
    section: &CalendarsSection,
    env: &dyn Fn(&str) -> Option<String>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> Option<CalendarSettings> {
    let base_url = section
        .base_url
        .as_ref()
        .map(|u| u.trim_end_matches('/').to_string());
    if let Some(url) = &base_url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            problems.push(format!(
                "calendars.base_url = '{url}': give the server's http:// or https:// address"
            ));
        }
    }
    let secret = read_secret(
        "calendars",
        &section.secret_env,
        &section.secret_file,
        env,
        file,
        problems,
    )?;
    if secret.expose().len() < 16 {
        problems.push(
            "calendars: the secret is shorter than 16 characters; use a long random one (openssl rand -hex 32)"
                .into(),
        );
    }
    Some(CalendarSettings { secret, base_url })
}
