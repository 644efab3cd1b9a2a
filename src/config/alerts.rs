//! `[alerts]`: the channel alerts are announced in, the largest body accepted, and how each
//! source (`alertmanager`, `grafana`, `generic`) proves who it is.

use super::bounds::bounded;
use super::chat::channel_name;
use super::secrets::read_secret;
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AlertsSection {
    /// The channel alerts are announced in.
    pub channel: Option<String>,
    /// Largest alert body accepted, in KiB; larger ones get 413.
    pub max_body_kib: Option<i64>,
    /// Credentials per source (`alertmanager`, `grafana`, `generic`).
    #[serde(default)]
    pub sources: BTreeMap<String, SourceFile>,
}

/// How a source of alerts proves who it is.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SourceFile {
    /// `bearer` (an `Authorization: Bearer` token), `hmac` (an HMAC-SHA256 of the body in
    /// a header) or `none` (only behind a trusted network).
    pub auth: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    /// The header carrying the HMAC signature; default `X-Warroom-Signature`.
    pub signature_header: Option<String>,
}

/// How an alert source is authenticated, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceAuth {
    Bearer(Secret),
    Hmac {
        secret: Secret,
        header: String,
    },
    /// Explicitly open (`auth = "none"`), for a sender on a trusted network.
    Open,
}

/// The alert sources warroom reads.
pub const ALERT_SOURCES: &[&str] = &["alertmanager", "grafana", "generic"];

/// `[alerts]`' channel: `WARROOM_ALERTS_CHANNEL`, else the file's, else `ops`.
pub(super) fn read_alerts_channel(
    alerts: &AlertsSection,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> String {
    channel_name(
        env("WARROOM_ALERTS_CHANNEL").or(alerts.channel.clone()),
        "alerts.channel",
        problems,
    )
}

/// `[alerts.sources]`: how each source proves who it is. A source whose secret cannot be
/// read is left out with a warning rather than a problem.
pub(super) fn read_sources(
    alerts: &AlertsSection,
    env: &dyn Fn(&str) -> Option<String>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    warnings: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> BTreeMap<String, SourceAuth> {
    let mut sources = BTreeMap::new();
    for (name, source) in &alerts.sources {
        let key = format!("alerts.sources.{name}");
        if !ALERT_SOURCES.contains(&name.as_str()) {
            problems.push(format!(
                "{key}: unknown source; use one of {}",
                ALERT_SOURCES.join(", ")
            ));
            continue;
        }
        // A source whose secret is missing is switched off, not fatal: the demo and replays
        // need no HTTP, and a refused sender retries until the secret is set.
        let mut missing = Vec::new();
        let value = read_secret(
            &key,
            &source.secret_env,
            &source.secret_file,
            env,
            file,
            &mut missing,
        );
        let switched_off = !missing.is_empty();
        warnings.extend(
            missing
                .into_iter()
                .map(|m| format!("{m}; the {name} endpoint refuses every alert until it is set")),
        );
        let auth = match source.auth.as_deref().unwrap_or("bearer") {
            "none" => Some(SourceAuth::Open),
            "bearer" => value.map(SourceAuth::Bearer),
            "hmac" => value.map(|secret| SourceAuth::Hmac {
                secret,
                header: source
                    .signature_header
                    .clone()
                    .unwrap_or_else(|| "X-Warroom-Signature".into()),
            }),
            other => {
                problems.push(format!("{key}.auth = '{other}': use bearer, hmac or none"));
                continue;
            }
        };
        match auth {
            Some(auth) => {
                sources.insert(name.clone(), auth);
            }
            None if switched_off => {}
            None if source.secret_env.is_none() && source.secret_file.is_none() => {
                problems.push(format!(
                    "{key}: needs secret_env or secret_file for its token (or auth = \"none\")"
                ))
            }
            None => {}
        }
    }
    sources
}

/// `[alerts]`' largest body, from KiB to bytes.
pub(super) fn read_max_body_bytes(alerts: &AlertsSection, problems: &mut Vec<String>) -> usize {
    let max_body_kib = bounded(
        "alerts.max_body_kib",
        alerts.max_body_kib,
        1..=65_536,
        1024,
        problems,
    );
    max_body_kib as usize * 1024
}
