//! Configuration: `warroom.toml` (path by `--config` / `WARROOM_CONFIG`), overridden by
//! `WARROOM_*` environment variables, checked once at start-up into [`Settings`].

use crate::domain::contacts::{Contact, Directory, Team};
use crate::domain::escalation::{Policy, Target};
use crate::domain::event::EscalationStep;
use crate::domain::routing::{LabelMatcher, Route, Routes, Sop};
use crate::domain::types::Severity;
use crate::secret::Secret;
use crate::small_file::read_small_file;
use anyhow::Context;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file as written. Unknown keys are refused (all of them at once, see
/// [`crate::unknown_keys`]) so a typo never silently does nothing.
#[derive(Debug, Clone, Default, Deserialize)]
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
    pub http: HttpSection,
    #[serde(default)]
    pub teams: Vec<Team>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Alert routes, tried in order; the first that matches wins.
    #[serde(default)]
    pub routes: Vec<RouteFile>,
    /// The route of alerts no other route matches.
    pub default_route: Option<RouteFile>,
    #[serde(default)]
    pub escalations: Vec<EscalationFile>,
    /// Outside pagers and whom each reaches.
    #[serde(default)]
    pub pagers: Vec<PagerFile>,
    #[serde(default)]
    pub discord: DiscordSection,
    #[serde(default)]
    pub runbooks: RunbooksSection,
    /// Agents allowed to connect, each by the SHA-256 of its token.
    #[serde(default)]
    pub agents: Vec<AgentFile>,
    #[serde(default)]
    pub deploys: DeploysSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub lease: LeaseSection,
    #[serde(default)]
    pub witness: WitnessSection,
}

/// Signed checkpoints of the ledger's head, written outside the database (see
/// [`crate::witness`]).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WitnessSection {
    /// The witness file (JSON Lines, appended); default beside a SQLite database
    /// (`DB.witness`), none on PostgreSQL.
    pub file: Option<String>,
    /// The instance's Ed25519 key (made when missing); default the witness file + `.key`.
    pub key_file: Option<String>,
    /// A checkpoint once the ledger grew by this many events (default 1000)…
    pub every_events: Option<i64>,
    /// …or this many minutes after the last one (default 5), and at every incident close.
    pub every_minutes: Option<i64>,
}

/// Logging; `RUST_LOG` filters. (`warroom` reads `format` before the rest of the file, see
/// `logging::format_in_config`.)
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogSection {
    /// `text` (default) or `json`; `--log-format` / `WARROOM_LOG_FORMAT` win.
    pub format: Option<String>,
}

/// The leader lease of several instances on one PostgreSQL store (unused on SQLite).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LeaseSection {
    /// How long the leader holds the lease without renewing it (default 10).
    pub ttl_seconds: Option<i64>,
    /// How often the leader renews it and followers look for an expired one (default 3).
    pub renew_seconds: Option<i64>,
}

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

/// An agent as written: its token is never in the file, only its hash.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AgentFile {
    pub name: String,
    /// `sha256sum` of the agent's token, in hex.
    pub token_sha256: String,
    /// Labels that decide which runbooks it may run (`role = "dns"`, `host = "dns1"`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// An agent allowed to connect, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSettings {
    pub name: String,
    pub token_sha256: [u8; 32],
    pub labels: BTreeMap<String, String>,
}

/// Where the runbook command files are.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunbooksSection {
    /// Directory of `*.toml` runbook files, relative to the config file; default `commands`.
    pub dir: Option<String>,
}

/// The Discord front end as written. Discord is on when a bot token is given.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DiscordSection {
    /// File holding the bot token (else `WARROOM_DISCORD_TOKEN`).
    pub token_file: Option<String>,
    /// The guild (server) warroom works in, as its numeric id.
    pub guild_id: Option<String>,
    /// The application's public key (hex), for `POST /discord/interactions`; also
    /// `WARROOM_DISCORD_PUBLIC_KEY`.
    pub public_key: Option<String>,
    /// Base URL of Discord's REST API; another base URL sends every REST call there (a
    /// proxy, or a fake Discord in tests).
    pub api_url: Option<String>,
    /// Name of the category incident channels are created under (created when missing).
    pub category: Option<String>,
    /// `channel` (a text channel per incident, the default) or `thread` (a thread in the
    /// announcement channel).
    pub incident_channels: Option<String>,
    /// Where alerts that open no incident and shift news are posted; default the alerts
    /// channel.
    pub announce_channel: Option<String>,
    /// Channels recorded besides incident channels; default the chat's default channel and
    /// the alerts channel.
    pub watch_channels: Option<Vec<String>>,
    /// After a new gateway session, how far back each recorded channel's history is
    /// compared with the ledger (edits, deletes, messages missed): hours (default 24) …
    pub reconcile_hours: Option<i64>,
    /// … and at most this many of its newest messages (default 500).
    pub reconcile_messages: Option<i64>,
    /// The warroom role of members no `access` entry names: `viewer` (default), `responder`,
    /// `sre`, or `none` (they may run no command; what they say is still recorded).
    pub default_access: Option<String>,
    /// Discord user id → contact handle, so messages are credited to the contact.
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    /// warroom role → Discord members holding it, as `user:ID` or `role:ID`.
    #[serde(default)]
    pub access: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct HttpSection {
    /// Address `warroom serve` listens on, e.g. `0.0.0.0:8080`.
    pub listen: Option<String>,
    /// SHA-256 (hex) of the token `POST /v1/console` accepts; the console is off without it.
    pub console_token_sha256: Option<String>,
    /// SHA-256 (hex) of the bearer token `GET /metrics` asks for; open without it.
    pub metrics_token_sha256: Option<String>,
    /// How long `warroom serve` may take to stop after SIGTERM/SIGINT.
    pub shutdown_grace_seconds: Option<i64>,
    /// Seconds a client has to send a request's head once it has begun (default 10).
    pub header_timeout_seconds: Option<i64>,
    /// Seconds a keep-alive connection may wait for its next request (default 30).
    pub idle_timeout_seconds: Option<i64>,
    /// Seconds a client has to send a request's whole body (default 30).
    pub body_timeout_seconds: Option<i64>,
    /// Connections served at once; beyond, new ones get 503 with `Retry-After` (default 1024).
    pub max_connections: Option<i64>,
}

/// How `warroom serve` bounds its clients: slow or idle ones are dropped, and connections
/// beyond the cap are answered 503 at once, so a flood of sockets cannot starve the doors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the first byte of a request's head to its end.
    pub header_timeout: std::time::Duration,
    /// Between requests on a keep-alive connection (a request in flight, such as an agent's
    /// long poll, is not idle).
    pub idle_timeout: std::time::Duration,
    /// For the whole body of a request.
    pub body_timeout: std::time::Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(30),
            body_timeout: std::time::Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// `[http]`'s connection limits, each within its bounds.
fn read_connection_limits(http: &HttpSection, problems: &mut Vec<String>) -> ConnectionLimits {
    let defaults = ConnectionLimits::default();
    let seconds = bounded_seconds;
    ConnectionLimits {
        header_timeout: seconds(
            "http.header_timeout_seconds",
            http.header_timeout_seconds,
            1..=300,
            defaults.header_timeout,
            problems,
        ),
        idle_timeout: seconds(
            "http.idle_timeout_seconds",
            http.idle_timeout_seconds,
            1..=3600,
            defaults.idle_timeout,
            problems,
        ),
        body_timeout: seconds(
            "http.body_timeout_seconds",
            http.body_timeout_seconds,
            1..=600,
            defaults.body_timeout,
            problems,
        ),
        max_connections: bounded(
            "http.max_connections",
            http.max_connections,
            1..=100_000,
            defaults.max_connections as i64,
            problems,
        ) as usize,
    }
}

/// A whole number the file gives for `key`, within `range`; outside it, a problem naming the
/// key and the range, and the default so the rest of the file is still checked.
fn bounded(
    key: &str,
    value: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
    problems: &mut Vec<String>,
) -> i64 {
    match value {
        None => default,
        Some(v) if range.contains(&v) => v,
        Some(v) => {
            problems.push(format!(
                "{key} = {v} is out of range; use {}..={}",
                range.start(),
                range.end()
            ));
            default
        }
    }
}

/// [`bounded`] for a number of seconds.
fn bounded_seconds(
    key: &str,
    value: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
    default: std::time::Duration,
    problems: &mut Vec<String>,
) -> std::time::Duration {
    let seconds = bounded(key, value, range, default.as_secs() as i64, problems);
    std::time::Duration::from_secs(seconds as u64)
}

/// A whole number an environment variable gives, within `range` (see [`bounded`]).
fn bounded_env(
    variable: &str,
    text: &str,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
    problems: &mut Vec<String>,
) -> i64 {
    match text.trim().parse::<i64>() {
        Ok(v) => bounded(variable, Some(v), range, default, problems),
        Err(_) => {
            problems.push(format!(
                "{variable}='{text}' is not a whole number; use {}..={}",
                range.start(),
                range.end()
            ));
            default
        }
    }
}

/// A route as written. `name` and the matchers are absent in `[default_route]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RouteFile {
    pub name: Option<String>,
    /// Labels that must equal these values.
    #[serde(default, rename = "match")]
    pub match_equal: BTreeMap<String, String>,
    /// Labels whose whole value must match these regular expressions.
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    pub title: Option<String>,
    pub severity: Option<String>,
    /// Path of the SOP's Markdown, relative to the config file.
    pub sop: Option<String>,
    pub escalation: Option<String>,
    #[serde(default)]
    pub auto_open: bool,
    #[serde(default)]
    pub suggest: Vec<String>,
    pub group_by: Option<Vec<String>>,
    pub group_window_minutes: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EscalationFile {
    pub name: String,
    pub steps: Vec<EscalationStep>,
    #[serde(default)]
    pub repeat: i64,
    #[serde(default)]
    pub fallback: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PagerFile {
    pub name: String,
    /// `pagerduty` or `webhook`.
    pub kind: String,
    /// Where pages are sent; PagerDuty's Events API v2 when omitted for `pagerduty`.
    pub url: Option<String>,
    /// Environment variable or file holding the PagerDuty routing key or the webhook's
    /// HMAC key.
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    /// `@handle`, `!team` or `everyone`: whom this pager reaches.
    pub targets: Vec<String>,
    pub timeout_seconds: Option<i64>,
    pub max_attempts: Option<i64>,
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

/// How a pager is spoken to.
#[derive(Debug, Clone)]
pub enum PagerKind {
    /// PagerDuty Events API v2 (`url` is normally `https://events.pagerduty.com/v2/enqueue`).
    PagerDuty {
        /// The integration's routing key, sent in the body.
        routing_key: Secret,
    },
    /// A JSON POST; when a secret is set, header
    /// `X-Warroom-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`.
    Webhook {
        /// HMAC key shared with the receiver.
        secret: Option<Secret>,
    },
    /// The chat front end (Discord): a mention in the incident's channel and a direct
    /// message. Delivered through the chat pager the notifier was given.
    Chat,
}

impl PagerKind {
    /// The secret this kind holds, so error text can be scrubbed of it.
    pub fn secret(&self) -> Option<&Secret> {
        match self {
            PagerKind::PagerDuty { routing_key } => Some(routing_key),
            PagerKind::Webhook { secret } => secret.as_ref(),
            PagerKind::Chat => None,
        }
    }
}

/// An outside pager, checked.
#[derive(Debug, Clone)]
pub struct PagerSettings {
    pub name: String,
    pub kind: PagerKind,
    pub url: String,
    /// Whom it reaches, canonical (`@handle`, `!Team name`, `everyone`).
    pub targets: Vec<Target>,
    pub timeout: std::time::Duration,
    pub max_attempts: u32,
}

/// Discord's REST API.
pub const DISCORD_API_URL: &str = "https://discord.com";

/// The Discord front end, checked.
#[derive(Debug, Clone)]
pub struct DiscordSettings {
    /// The bot token; Discord is off without one.
    pub token: Option<Secret>,
    pub guild_id: Option<u64>,
    /// The application's Ed25519 public key in hex, for the interactions endpoint.
    pub public_key: Option<String>,
    pub api_url: String,
    pub category: String,
    /// Incidents get a thread in the announcement channel rather than a channel of their own.
    pub threads: bool,
    pub announce_channel: String,
    pub watch_channels: Vec<String>,
    /// How far back a new session compares each recorded channel's history with the ledger.
    pub reconcile_window: chrono::Duration,
    /// The most messages of a channel compared.
    pub reconcile_messages: usize,
    /// The role of members no `access` entry names.
    pub default_access: crate::domain::access::Access,
    /// Discord user id → contact handle.
    pub users: BTreeMap<u64, String>,
    /// Discord user id → warroom role.
    pub user_access: BTreeMap<u64, crate::domain::access::Access>,
    /// Discord role id → warroom role.
    pub role_access: BTreeMap<u64, crate::domain::access::Access>,
}

impl DiscordSettings {
    /// The highest warroom role a member holds through their user id, their roles or the
    /// default.
    pub fn access_of(&self, user: u64, roles: &[u64]) -> crate::domain::access::Access {
        self.user_access
            .get(&user)
            .into_iter()
            .chain(roles.iter().filter_map(|r| self.role_access.get(r)))
            .copied()
            .fold(self.default_access, std::cmp::max)
    }
}

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// The settings the application runs with, every value checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where and how often checkpoints are written; the file defaults are resolved against
    /// the store by `warroom serve` ([`crate::witness::WitnessSettings::resolved`]).
    pub witness: crate::witness::WitnessSettings,
    pub timezone: chrono_tz::Tz,
    pub default_channel: String,
    pub lookback: chrono::Duration,
    pub alerts_channel: String,
    pub directory: Directory,
    pub listen: String,
    pub max_alert_body_bytes: usize,
    /// Credentials by source name; a source without an entry is refused.
    pub sources: BTreeMap<String, SourceAuth>,
    pub routes: Routes,
    pub policies: BTreeMap<String, Policy>,
    pub pagers: Vec<PagerSettings>,
    pub discord: DiscordSettings,
    /// Runbook commands, checked, by command path; empty until read (`load` reads the
    /// configured directory, `example` the shipped files).
    pub runbooks: Vec<crate::domain::runbook::Runbook>,
    /// The runbook directory as configured (relative to the config file).
    pub runbooks_dir: Option<String>,
    pub agents: Vec<AgentSettings>,
    /// SHA-256 of the HTTP console's token; `None`: the console is off.
    pub console_token_sha256: Option<[u8; 32]>,
    /// SHA-256 of the bearer token `GET /metrics` asks for; `None`: no token is asked.
    pub metrics_token_sha256: Option<[u8; 32]>,
    /// How long `warroom serve` may take to finish requests in flight and stop.
    pub shutdown_grace: std::time::Duration,
    /// Timeouts and the connection cap of `warroom serve`'s HTTP server.
    pub connections: ConnectionLimits,
    pub deploys: DeploySettings,
    pub lease: crate::store::LeaseSettings,
    /// What works but deserves attention (a switched-off source), for `warroom check` and
    /// the log at start-up.
    pub warnings: Vec<String>,
}

/// The lookback window when the configuration names none.
pub const DEFAULT_LOOKBACK_MINUTES: u32 = 30;

/// How long `warroom serve` may take to stop when the configuration names no grace: under
/// the 30 s both systemd (`TimeoutStopSec`) and Kubernetes give before they kill.
pub const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 20;
const GRACE_SECONDS_RANGE: std::ops::RangeInclusive<i64> = 1..=3600;
const LOOKBACK_MINUTES_RANGE: std::ops::RangeInclusive<i64> = 0..=1440;

/// The example configuration shipped in `deploy/`: the seed scenario's contacts, alerts and
/// escalations. The demo uses it when no `--config` is given.
pub const EXAMPLE_CONFIG: &str = include_str!("../../deploy/warroom.toml");

/// The SOPs the example configuration names, built in so the demo runs from anywhere.
const EXAMPLE_SOPS: &[(&str, &str)] = &[
    (
        "sops/outstanding-orders.md",
        include_str!("../../deploy/sops/outstanding-orders.md"),
    ),
    (
        "sops/low-storage.md",
        include_str!("../../deploy/sops/low-storage.md"),
    ),
    (
        "sops/dns-not-answering.md",
        include_str!("../../deploy/sops/dns-not-answering.md"),
    ),
    (
        "sops/application-down.md",
        include_str!("../../deploy/sops/application-down.md"),
    ),
];

/// The runbooks shipped in `commands/`, built in so the demo runs from anywhere.
pub const EXAMPLE_RUNBOOKS: &[(&str, &str)] = &[
    (
        "commands/cleanup-logs.toml",
        include_str!("../../commands/cleanup-logs.toml"),
    ),
    (
        "commands/failover-dns.toml",
        include_str!("../../commands/failover-dns.toml"),
    ),
    (
        "commands/redeploy-app.toml",
        include_str!("../../commands/redeploy-app.toml"),
    ),
    (
        "commands/restart-app.toml",
        include_str!("../../commands/restart-app.toml"),
    ),
];

/// The alert sources warroom reads.
pub const ALERT_SOURCES: &[&str] = &["alertmanager", "grafana", "generic"];

pub use crate::problems::ConfigProblems;

impl Settings {
    /// Reads the file at `path`; without a path, `./warroom.toml` when it exists, else the
    /// defaults. Then applies the environment's overrides.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Settings> {
        let path = match path {
            Some(p) => Some(p.to_path_buf()),
            None if Path::new("warroom.toml").exists() => Some(PathBuf::from("warroom.toml")),
            None => None,
        };
        let Some(path) = path else {
            let mut settings = Settings::from_toml("", "defaults", |k| std::env::var(k).ok())?;
            settings.read_runbook_dir(Path::new(""), "defaults")?;
            return Ok(settings);
        };
        let text = read_small_file(&path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut settings = Settings::check(
            &text,
            &path.display().to_string(),
            |k| std::env::var(k).ok(),
            |f| read_small_file(&base.join(f)),
        )?;
        settings.read_runbook_dir(&base, &path.display().to_string())?;
        Ok(settings)
    }

    /// Reads every `*.toml` of the runbook directory (relative to `base`). A missing
    /// directory that was not configured means no runbooks; one that was is a mistake.
    fn read_runbook_dir(&mut self, base: &Path, origin: &str) -> Result<(), ConfigProblems> {
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

    /// Parses and checks a configuration text whose files (SOPs, secrets) are read from
    /// the working directory; `env` looks up override variables.
    pub fn from_toml(
        text: &str,
        origin: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigProblems> {
        Settings::check(text, origin, env, |f| read_small_file(Path::new(f)))
    }

    /// Parses and checks a configuration, collecting every mistake rather than the first.
    /// `file` reads a path named in the configuration (relative to the config file).
    pub fn check(
        text: &str,
        origin: &str,
        env: impl Fn(&str) -> Option<String>,
        file: impl Fn(&str) -> std::io::Result<String>,
    ) -> Result<Settings, ConfigProblems> {
        let fail = |problems: Vec<String>| ConfigProblems {
            origin: origin.to_string(),
            problems,
        };
        let (file_config, unknown) = crate::unknown_keys::from_toml::<ConfigFile>(text);
        let mut problems: Vec<String> = unknown
            .iter()
            .map(|key| {
                format!("{key}: unknown key; check its spelling against docs/configuration.md")
            })
            .collect();
        let file_config = match file_config {
            Ok(file_config) => file_config,
            Err(e) => {
                problems.push(e.to_string().trim_end().to_string());
                return Err(fail(problems));
            }
        };
        let settings = build(file_config, &env, &file, &mut problems);
        match settings {
            Some(s) if problems.is_empty() => Ok(s),
            _ => Err(fail(problems)),
        }
    }

    /// The shipped example configuration with the environment's overrides, and the shipped
    /// runbooks.
    pub fn example() -> anyhow::Result<Settings> {
        let mut settings = Settings::example_without_runbooks()?;
        let files = EXAMPLE_RUNBOOKS
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect();
        settings.add_runbooks(files, "commands/")?;
        Ok(settings)
    }

    fn example_without_runbooks() -> anyhow::Result<Settings> {
        Ok(Settings::check(
            EXAMPLE_CONFIG,
            "deploy/warroom.toml",
            |k| std::env::var(k).ok(),
            |f| {
                EXAMPLE_SOPS
                    .iter()
                    .find(|(name, _)| *name == f)
                    .map(|(_, text)| text.to_string())
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
            },
        )?)
    }

    /// The pagers a page to `target` goes through: those that reach it directly, else, for
    /// a team or everyone, those of each person in it.
    pub fn pagers_reaching(&self, target: &Target) -> Vec<&PagerSettings> {
        let direct = self.pagers_for(target);
        if !direct.is_empty() {
            return direct;
        }
        let people: Vec<&Contact> = match target {
            Target::Person(_) => vec![],
            Target::Team(team) => self
                .directory
                .contacts()
                .iter()
                .filter(|c| &c.team == team)
                .collect(),
            Target::Everyone => self.directory.contacts().iter().collect(),
        };
        let mut found: Vec<&PagerSettings> = Vec::new();
        for person in people {
            for pager in self.pagers_for(&Target::Person(person.handle.clone())) {
                if !found.iter().any(|p| p.name == pager.name) {
                    found.push(pager);
                }
            }
        }
        found
    }

    /// The pagers that reach a target directly: those naming it, its team, or everyone.
    pub fn pagers_for(&self, target: &Target) -> Vec<&PagerSettings> {
        let team_of = |handle: &str| {
            self.directory
                .person(handle)
                .map(|c| Target::Team(c.team.clone()))
        };
        self.pagers
            .iter()
            .filter(|p| {
                p.targets.iter().any(|t| {
                    t == target
                        || *t == Target::Everyone
                        || matches!(target, Target::Person(h) if team_of(h).as_ref() == Some(t))
                })
            })
            .collect()
    }
}

/// Checks every section, pushing each mistake with its key; returns the settings when the
/// parts that later parts depend on could be read.
fn build(
    file_config: ConfigFile,
    env: &dyn Fn(&str) -> Option<String>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> Option<Settings> {
    let ConfigFile {
        timezone,
        chat,
        incidents,
        alerts,
        http,
        teams,
        contacts,
        routes,
        default_route,
        escalations,
        pagers,
        discord,
        runbooks,
        agents,
        deploys,
        log,
        lease,
        witness,
    } = file_config;
    // The sections are read in this order because it is the order of the problems users and
    // tests see; the directory comes before everything that names people or teams.
    let connections = read_connection_limits(&http, problems);
    let timezone = read_timezone(timezone, env, problems);
    let lookback = read_lookback(&incidents, env, problems);
    let default_channel = read_default_channel(&chat, env, problems);
    let alerts_channel = read_alerts_channel(&alerts, env, problems);
    let listen = read_listen(&http, env, problems);
    let directory = read_directory(teams, contacts, problems)?;
    let mut warnings = Vec::new();
    let sources = read_sources(&alerts, env, file, &mut warnings, problems);
    let policies = read_escalations(&escalations, &directory, problems);
    let routes = read_routes(&routes, default_route.as_ref(), &policies, file, problems);
    let pagers = read_pagers(&pagers, &directory, env, file, problems);
    let discord = read_discord(
        discord,
        &default_channel,
        &alerts_channel,
        &directory,
        env,
        file,
        problems,
    );
    let agents = read_agents(&agents, problems);
    let console_token_sha256 = read_console_token(&http, problems);
    let deploys = read_deploys(&deploys, problems);
    let metrics_token_sha256 = read_metrics_token(&http, problems);
    let shutdown_grace = read_shutdown_grace(&http, env, problems);
    let max_alert_body_bytes = read_max_body_bytes(&alerts, problems);
    read_log(&log, problems);
    let lease = read_lease(&lease, problems);
    let witness = read_witness(&witness, problems);
    Some(Settings {
        witness,
        connections,
        deploys,
        lease,
        console_token_sha256,
        metrics_token_sha256,
        shutdown_grace,
        agents,
        runbooks: Vec::new(),
        runbooks_dir: runbooks.dir,
        discord,
        timezone,
        default_channel,
        lookback,
        alerts_channel,
        directory,
        listen,
        max_alert_body_bytes,
        sources,
        routes,
        policies,
        pagers,
        warnings,
    })
}

/// The time zone: `WARROOM_TIMEZONE`, else the file's, else UTC.
fn read_timezone(
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
fn read_lookback(
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
fn read_default_channel(
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

/// `[alerts]`' channel: `WARROOM_ALERTS_CHANNEL`, else the file's, else `ops`.
fn read_alerts_channel(
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

/// `[http]`'s address: `WARROOM_LISTEN`, else the file's, else `127.0.0.1:8080`.
fn read_listen(
    http: &HttpSection,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> String {
    let listen = env("WARROOM_LISTEN")
        .or(http.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    if listen.parse::<std::net::SocketAddr>().is_err() {
        problems.push(format!(
            "http.listen = '{listen}' is not an address; use IP:PORT such as 127.0.0.1:8080"
        ));
    }
    listen
}

/// `[[teams]]` and `[[contacts]]` as one directory; `None` when it cannot be made, since
/// every later section that names a person or a team needs it.
fn read_directory(
    teams: Vec<Team>,
    contacts: Vec<Contact>,
    problems: &mut Vec<String>,
) -> Option<Directory> {
    let mut teams = teams;
    for contact in &contacts {
        if !teams.iter().any(|t| t.name == contact.team) {
            problems.push(format!(
                "contact '{}' is in team '{}', which is not in [[teams]]; add the team or fix the name",
                contact.handle, contact.team
            ));
        }
    }
    teams.dedup_by(|a, b| a.name == b.name);
    match Directory::new(contacts, teams) {
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    }
}

/// A secret a section names by `secret_env` or `secret_file` (one of them); `None` when
/// neither is given or it cannot be read, the latter with a problem under `key`.
fn read_secret(
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

/// `[alerts.sources]`: how each source proves who it is. A source whose secret cannot be
/// read is left out with a warning rather than a problem.
fn read_sources(
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

/// Page targets as written (`@handle`, `!team`, `everyone`), each resolved in the directory;
/// those that cannot be are left out with a problem under `key`.
fn read_targets(
    key: &str,
    given: &[String],
    directory: &Directory,
    problems: &mut Vec<String>,
) -> Vec<Target> {
    given
        .iter()
        .filter_map(|t| match Target::parse(t) {
            Ok(target) => match target.resolve(directory) {
                Ok(resolved) => Some(resolved),
                Err(e) => {
                    problems.push(format!("{key}: {e}"));
                    None
                }
            },
            Err(e) => {
                problems.push(format!("{key}: {e}"));
                None
            }
        })
        .collect()
}

/// `[[escalations]]`: the policies by name, their targets in canonical form.
fn read_escalations(
    escalations: &[EscalationFile],
    directory: &Directory,
    problems: &mut Vec<String>,
) -> BTreeMap<String, Policy> {
    let targets = |key: &str, given: &[String], problems: &mut Vec<String>| {
        read_targets(key, given, directory, problems)
    };
    let mut policies = BTreeMap::new();
    for (i, e) in escalations.iter().enumerate() {
        let key = format!("escalations[{i}] ({})", e.name);
        if e.steps.is_empty() {
            problems.push(format!("{key}.steps: a policy needs at least one step"));
        }
        let steps = e
            .steps
            .iter()
            .enumerate()
            .map(|(j, step)| {
                let step_key = format!("{key}.steps[{j}].targets");
                if step.targets.is_empty() {
                    problems.push(format!("{step_key}: a step needs at least one target"));
                }
                let wait_key = format!("{key}.steps[{j}].wait_minutes");
                let wait_minutes = bounded(
                    &wait_key,
                    Some(step.wait_minutes.into()),
                    0..=10_080,
                    0,
                    problems,
                ) as u32;
                EscalationStep {
                    targets: targets(&step_key, &step.targets, problems)
                        .iter()
                        .map(Target::to_string)
                        .collect(),
                    wait_minutes,
                }
            })
            .collect();
        let fallback = targets(&format!("{key}.fallback"), &e.fallback, problems)
            .iter()
            .map(Target::to_string)
            .collect();
        let policy = Policy {
            name: e.name.clone(),
            steps,
            repeat: bounded(
                &format!("{key}.repeat"),
                Some(e.repeat),
                0..=100,
                0,
                problems,
            ) as u32,
            fallback,
        };
        if policies.insert(e.name.clone(), policy).is_some() {
            problems.push(format!("{key}.name: another policy is called '{}'", e.name));
        }
    }
    policies
}

/// `[[routes]]` in order, then `[default_route]` (record only when absent or unreadable).
fn read_routes(
    routes: &[RouteFile],
    default_route: Option<&RouteFile>,
    policies: &BTreeMap<String, Policy>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> Routes {
    let mut route_names = std::collections::HashSet::new();
    let mut read = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        let name = r.name.clone().unwrap_or_default();
        let key = format!("routes[{i}] ({name})");
        if name.trim().is_empty() {
            problems.push(format!("routes[{i}].name: every route needs a name"));
        } else if !route_names.insert(name.clone()) {
            problems.push(format!("{key}.name: another route is called '{name}'"));
        }
        if let Some(route) = read_route(&key, &name, r, policies, file, problems) {
            read.push(route);
        }
    }
    let default = match default_route {
        Some(r) => {
            if r.name.is_some() || !r.match_equal.is_empty() || !r.match_re.is_empty() {
                problems.push(
                    "default_route: takes every alert no route matched; it has no name, match or match_re"
                        .into(),
                );
            }
            read_route("default_route", "default", r, policies, file, problems)
                .unwrap_or_else(|| Route::record_only("default"))
        }
        None => Route::record_only("default"),
    };
    Routes {
        routes: read,
        default,
    }
}

/// `[[pagers]]`: each outside pager with its secret, URL and whom it reaches. A pager with
/// a mistake that leaves it unusable is left out after its problem.
fn read_pagers(
    pagers: &[PagerFile],
    directory: &Directory,
    env: &dyn Fn(&str) -> Option<String>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> Vec<PagerSettings> {
    let mut read = Vec::new();
    for (i, p) in pagers.iter().enumerate() {
        let key = format!("pagers[{i}] ({})", p.name);
        let value = read_secret(&key, &p.secret_env, &p.secret_file, env, file, problems);
        let kind = match p.kind.as_str() {
            "pagerduty" => match value {
                Some(routing_key) => PagerKind::PagerDuty { routing_key },
                None => {
                    if p.secret_env.is_none() && p.secret_file.is_none() {
                        problems.push(format!(
                            "{key}: PagerDuty needs its routing key in secret_env or secret_file"
                        ));
                    }
                    continue;
                }
            },
            "webhook" => PagerKind::Webhook { secret: value },
            "discord" => PagerKind::Chat,
            other => {
                problems.push(format!(
                    "{key}.kind = '{other}': use pagerduty, webhook or discord"
                ));
                continue;
            }
        };
        let url = match (&kind, &p.url) {
            (PagerKind::Chat, Some(_)) => {
                problems.push(format!(
                    "{key}.url: a discord pager posts through the bot; remove url"
                ));
                continue;
            }
            (PagerKind::Chat, None) => "discord:".to_string(),
            (_, Some(url)) => url.clone(),
            (PagerKind::PagerDuty { .. }, None) => PAGERDUTY_EVENTS_URL.to_string(),
            (PagerKind::Webhook { .. }, None) => {
                problems.push(format!(
                    "{key}.url: a webhook pager needs the URL to post to"
                ));
                continue;
            }
        };
        if !(url.starts_with("https://") || url.starts_with("http://") || url == "discord:") {
            problems.push(format!(
                "{key}.url = '{url}': use an http:// or https:// URL"
            ));
        }
        let reached = read_targets(&format!("{key}.targets"), &p.targets, directory, problems);
        if p.targets.is_empty() {
            problems.push(format!(
                "{key}.targets: name whom it reaches (@handle, !team, everyone)"
            ));
        }
        read.push(PagerSettings {
            name: p.name.clone(),
            kind,
            url,
            targets: reached,
            timeout: std::time::Duration::from_secs(bounded(
                &format!("{key}.timeout_seconds"),
                p.timeout_seconds,
                1..=300,
                10,
                problems,
            ) as u64),
            max_attempts: bounded(
                &format!("{key}.max_attempts"),
                p.max_attempts,
                1..=100,
                5,
                problems,
            ) as u32,
        });
    }
    read
}

/// `[[agents]]`: each agent by the hash of its token; names are unique.
fn read_agents(agents: &[AgentFile], problems: &mut Vec<String>) -> Vec<AgentSettings> {
    let mut read: Vec<AgentSettings> = Vec::new();
    for (i, a) in agents.iter().enumerate() {
        let key = format!("agents[{i}] ({})", a.name);
        let hash = hex::decode(a.token_sha256.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        match hash {
            Some(token_sha256) => {
                if read.iter().any(|o| o.name == a.name) {
                    problems.push(format!("{key}.name: another agent is called '{}'", a.name));
                }
                read.push(AgentSettings {
                    name: a.name.clone(),
                    token_sha256,
                    labels: a.labels.clone(),
                })
            }
            None => problems.push(format!(
                "{key}.token_sha256: give the SHA-256 of the agent's token in hex (`printf %s \"$TOKEN\" | sha256sum`)"
            )),
        }
    }
    read
}

/// `[http]`'s console token hash; the console is off without one.
fn read_console_token(http: &HttpSection, problems: &mut Vec<String>) -> Option<[u8; 32]> {
    match &http.console_token_sha256 {
        None => None,
        Some(hex_hash) => {
            let hash = hex::decode(hex_hash.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok());
            if hash.is_none() {
                problems.push(
                    "http.console_token_sha256: give the SHA-256 of the console token in hex (`printf %s \"$TOKEN\" | sha256sum`)"
                        .into(),
                );
            }
            hash
        }
    }
}

/// `[http]`'s metrics token hash; `/metrics` is open without one.
fn read_metrics_token(http: &HttpSection, problems: &mut Vec<String>) -> Option<[u8; 32]> {
    http.metrics_token_sha256.as_ref().and_then(|hex_hash| {
        let hash = hex::decode(hex_hash.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        if hash.is_none() {
            problems.push(
                "http.metrics_token_sha256: give the SHA-256 of the scrapers' token in hex (`printf %s \"$TOKEN\" | sha256sum`)"
                    .into(),
            );
        }
        hash
    })
}

/// `[http]`'s shutdown grace: `WARROOM_SHUTDOWN_GRACE_SECONDS`, else the file's, within
/// its bounds.
fn read_shutdown_grace(
    http: &HttpSection,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> std::time::Duration {
    let grace_seconds = match env("WARROOM_SHUTDOWN_GRACE_SECONDS") {
        Some(v) => bounded_env(
            "WARROOM_SHUTDOWN_GRACE_SECONDS",
            &v,
            GRACE_SECONDS_RANGE,
            DEFAULT_SHUTDOWN_GRACE_SECONDS as i64,
            problems,
        ),
        None => bounded(
            "http.shutdown_grace_seconds",
            http.shutdown_grace_seconds,
            GRACE_SECONDS_RANGE,
            DEFAULT_SHUTDOWN_GRACE_SECONDS as i64,
            problems,
        ),
    };
    std::time::Duration::from_secs(grace_seconds as u64)
}

/// `[alerts]`' largest body, from KiB to bytes.
fn read_max_body_bytes(alerts: &AlertsSection, problems: &mut Vec<String>) -> usize {
    let max_body_kib = bounded(
        "alerts.max_body_kib",
        alerts.max_body_kib,
        1..=65_536,
        1024,
        problems,
    );
    max_body_kib as usize * 1024
}

/// `[log]` is only checked here: `warroom` reads its format before the rest of the file.
fn read_log(log: &LogSection, problems: &mut Vec<String>) {
    if let Some(format) = &log.format {
        if crate::logging::LogFormat::parse(format).is_none() {
            problems.push(format!(
                "log.format = '{format}': write \"text\" or \"json\""
            ));
        }
    }
}

/// `[witness]`: where and how often checkpoints are written, the numbers within bounds.
fn read_witness(
    witness: &WitnessSection,
    problems: &mut Vec<String>,
) -> crate::witness::WitnessSettings {
    crate::witness::WitnessSettings {
        file: witness.file.as_ref().map(PathBuf::from),
        key_file: witness.key_file.as_ref().map(PathBuf::from),
        every_events: bounded(
            "witness.every_events",
            witness.every_events,
            1..=1_000_000,
            crate::witness::DEFAULT_EVERY_EVENTS,
            problems,
        ),
        every: std::time::Duration::from_secs(
            bounded(
                "witness.every_minutes",
                witness.every_minutes,
                1..=1440,
                crate::witness::DEFAULT_EVERY_MINUTES,
                problems,
            ) as u64
                * 60,
        ),
    }
}

/// The lease's timings: the leader must be able to miss a renewal and still renew in time.
fn read_lease(l: &LeaseSection, problems: &mut Vec<String>) -> crate::store::LeaseSettings {
    let default = crate::store::LeaseSettings::default();
    let seconds = bounded_seconds;
    let ttl = seconds(
        "lease.ttl_seconds",
        l.ttl_seconds,
        3..=3600,
        default.ttl,
        problems,
    );
    let renew = seconds(
        "lease.renew_seconds",
        l.renew_seconds,
        1..=1200,
        default.renew,
        problems,
    );
    if renew.is_zero() || ttl < renew * 2 + std::time::Duration::from_secs(1) {
        problems.push(format!(
            "lease.ttl_seconds = {} and lease.renew_seconds = {}: renew at least every second, \
             and give the lease at least twice the renewal interval plus a second (defaults 10 and 3)",
            ttl.as_secs(),
            renew.as_secs()
        ));
    }
    crate::store::LeaseSettings { ttl, renew }
}

fn read_deploys(d: &DeploysSection, problems: &mut Vec<String>) -> DeploySettings {
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

fn read_discord(
    d: DiscordSection,
    default_channel: &str,
    alerts_channel: &str,
    directory: &Directory,
    env: &dyn Fn(&str) -> Option<String>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> DiscordSettings {
    use crate::domain::access::Access;
    let snowflake = |key: &str, value: &str, problems: &mut Vec<String>| -> Option<u64> {
        let parsed = value.trim().parse::<u64>().ok().filter(|v| *v > 0);
        if parsed.is_none() {
            problems.push(format!(
                "{key} = '{value}' is not a Discord id; copy it with Developer Mode on (a number like 123456789012345678)"
            ));
        }
        parsed
    };
    let token = match (env("WARROOM_DISCORD_TOKEN"), &d.token_file) {
        (Some(t), _) if !t.trim().is_empty() => Some(Secret::new(t.trim())),
        (_, Some(path)) => match file(path) {
            Ok(t) if !t.trim().is_empty() => Some(Secret::new(t.trim())),
            Ok(_) => {
                problems.push(format!("discord.token_file: {path} is empty"));
                None
            }
            Err(e) => {
                problems.push(format!("discord.token_file: cannot read {path}: {e}"));
                None
            }
        },
        _ => None,
    };
    let guild_id = env("WARROOM_DISCORD_GUILD_ID")
        .or(d.guild_id)
        .and_then(|g| snowflake("discord.guild_id", &g, problems));
    if token.is_some() && guild_id.is_none() {
        problems.push(
            "discord.guild_id: a bot token is given, so name the guild (server) warroom works in"
                .into(),
        );
    }
    let public_key = env("WARROOM_DISCORD_PUBLIC_KEY").or(d.public_key);
    if let Some(key) = &public_key {
        if key.len() != 64 || hex::decode(key).is_err() {
            problems.push(
                "discord.public_key: use the application's public key as shown in the Developer Portal (64 hex digits)"
                    .into(),
            );
        }
    }
    let api_url = env("WARROOM_DISCORD_API_URL")
        .or(d.api_url)
        .unwrap_or_else(|| DISCORD_API_URL.to_string())
        .trim_end_matches('/')
        .to_string();
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        problems.push(format!(
            "discord.api_url = '{api_url}': use an http:// or https:// URL"
        ));
    }
    let threads = match d.incident_channels.as_deref().unwrap_or("channel") {
        "channel" => false,
        "thread" => true,
        other => {
            problems.push(format!(
                "discord.incident_channels = '{other}': use channel or thread"
            ));
            false
        }
    };
    let announce_channel = channel_name(
        d.announce_channel
            .or_else(|| Some(alerts_channel.to_string())),
        "discord.announce_channel",
        problems,
    );
    let mut watch_channels: Vec<String> = d
        .watch_channels
        .unwrap_or_else(|| vec![default_channel.to_string(), alerts_channel.to_string()])
        .into_iter()
        .map(|c| channel_name(Some(c), "discord.watch_channels", problems))
        .collect();
    watch_channels.dedup();
    let default_access = d
        .default_access
        .as_deref()
        .unwrap_or("viewer")
        .parse::<Access>()
        .unwrap_or_else(|e| {
            problems.push(format!("discord.default_access: {e}"));
            Access::Guest
        });
    let mut users = BTreeMap::new();
    for (id, handle) in &d.users {
        let key = format!("discord.users.\"{id}\"");
        let Some(id) = snowflake(&key, id, problems) else {
            continue;
        };
        match directory.person(handle) {
            Some(contact) => {
                users.insert(id, contact.handle.clone());
            }
            None => problems.push(format!(
                "{key} = '{handle}': no contact has that handle; add it to [[contacts]]"
            )),
        }
    }
    let mut user_access = BTreeMap::new();
    let mut role_access = BTreeMap::new();
    for (role, members) in &d.access {
        let key = format!("discord.access.{role}");
        let access = match role.parse::<Access>() {
            Ok(a) => a,
            Err(e) => {
                problems.push(format!("{key}: {e}"));
                continue;
            }
        };
        for member in members {
            let (map, id) = match member.split_once(':') {
                Some(("user", id)) => (&mut user_access, id),
                Some(("role", id)) => (&mut role_access, id),
                _ => {
                    problems.push(format!("{key}: '{member}' is neither user:ID nor role:ID"));
                    continue;
                }
            };
            if let Some(id) = snowflake(&key, id, problems) {
                let held: &mut Access = map.entry(id).or_insert(access);
                *held = (*held).max(access);
            }
        }
    }
    DiscordSettings {
        token,
        guild_id,
        public_key,
        api_url,
        category: d.category.unwrap_or_else(|| "Incidents".into()),
        threads,
        announce_channel,
        watch_channels,
        reconcile_window: chrono::Duration::hours(bounded(
            "discord.reconcile_hours",
            d.reconcile_hours,
            1..=720,
            24,
            problems,
        )),
        reconcile_messages: bounded(
            "discord.reconcile_messages",
            d.reconcile_messages,
            1..=10_000,
            500,
            problems,
        ) as usize,
        default_access,
        users,
        user_access,
        role_access,
    }
}

fn read_route(
    key: &str,
    name: &str,
    r: &RouteFile,
    policies: &BTreeMap<String, Policy>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> Option<Route> {
    let before = problems.len();
    let mut matchers: Vec<LabelMatcher> = r
        .match_equal
        .iter()
        .map(|(label, value)| LabelMatcher::equals(label, value))
        .collect();
    for (label, expression) in &r.match_re {
        match LabelMatcher::regex(label, expression) {
            Ok(m) => matchers.push(m),
            Err(e) => {
                // The regex crate's message draws a caret over several lines; its last line
                // says what is wrong.
                let text = e.to_string();
                let why = text.lines().last().unwrap_or_default().trim();
                problems.push(format!(
                    "{key}.match_re.{label}: '{expression}' is not a regular expression ({why})"
                ))
            }
        }
    }
    let severity = match r.severity.as_deref() {
        None => Severity::Sev3,
        Some(s) => s
            .parse()
            .unwrap_or_else(|e: crate::domain::types::UnknownWord| {
                problems.push(format!("{key}.severity: {e}"));
                Severity::Sev3
            }),
    };
    let sop = r.sop.as_ref().and_then(|path| match file(path) {
        Ok(markdown) => Some(Sop {
            path: path.clone(),
            markdown,
        }),
        Err(e) => {
            problems.push(format!(
                "{key}.sop: cannot read {path} (relative to the config file): {e}"
            ));
            None
        }
    });
    if let Some(policy) = &r.escalation {
        if !policies.contains_key(policy) {
            problems.push(format!(
                "{key}.escalation: no policy is called '{policy}'; define it in [[escalations]]"
            ));
        }
    }
    for s in &r.suggest {
        if !s.starts_with('/') {
            problems.push(format!(
                "{key}.suggest: '{s}' is not a command; write it as in chat, e.g. /failover dns"
            ));
        }
    }
    let group_window_minutes = bounded(
        &format!("{key}.group_window_minutes"),
        r.group_window_minutes,
        1..=10_080,
        60,
        problems,
    );
    if problems.len() > before {
        return None;
    }
    Some(Route {
        name: name.to_string(),
        matchers,
        title: r.title.clone(),
        severity,
        sop,
        escalation: r.escalation.clone(),
        auto_open: r.auto_open,
        suggest: r.suggest.clone(),
        group_by: r
            .group_by
            .clone()
            .unwrap_or_else(|| vec!["alertname".into()]),
        group_window: chrono::Duration::minutes(group_window_minutes),
    })
}

fn channel_name(value: Option<String>, key: &str, problems: &mut Vec<String>) -> String {
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
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn example_files(f: &str) -> std::io::Result<String> {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(f))
    }

    #[test]
    fn the_shipped_example_loads_with_the_seed_contacts_alerts_and_policies() {
        let s = Settings::check(EXAMPLE_CONFIG, "example", no_env, example_files).unwrap();
        assert_eq!(s.directory.person("hammer").unwrap().name, "Glenn Hammer");
        assert_eq!(s.lookback, chrono::Duration::minutes(30));
        let names: Vec<&str> = s.routes.routes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "outstanding-orders",
                "low-storage",
                "dns-not-answering",
                "application-down"
            ]
        );
        let dns = s.routes.named("dns-not-answering").unwrap();
        assert_eq!(dns.suggest, ["/failover dns"]);
        assert!(dns
            .sop
            .as_ref()
            .unwrap()
            .markdown
            .contains("Failover procedure"));
        let everyone = &s.policies["all-points-of-contact"].steps[0].targets;
        assert_eq!(
            everyone,
            &[
                "!Customer Support",
                "!Networking",
                "!Ops",
                "!Database Admin",
                "!Development Team"
            ]
        );
        // Without the tokens in the environment the endpoints are off, with a warning.
        assert!(s.sources.is_empty());
        assert!(s
            .warnings
            .iter()
            .any(|w| w.contains("WARROOM_ALERTMANAGER_TOKEN")));
    }

    #[test]
    fn check_reports_every_mistake_with_its_key() {
        let text = r#"
[alerts.sources.alertmanager]
auth = "bearer"

[[routes]]
name = "dns"
match_re = { alertname = "DNS(" }
severity = "p1"
sop = "missing.md"
escalation = "nope"
suggest = ["failover dns"]

[[escalations]]
name = "x"
steps = [{ targets = ["@nobody", "dba"], wait_minutes = 5 }]

[[pagers]]
name = "pd"
kind = "pagerduty"
targets = ["everyone"]
"#;
        let err = Settings::check(text, "w.toml", no_env, |_| {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        })
        .unwrap_err();
        let all = err.to_string();
        for expected in [
            "alerts.sources.alertmanager: needs secret_env or secret_file",
            "routes[0] (dns).match_re.alertname: 'DNS(' is not a regular expression",
            "routes[0] (dns).severity: unknown severity 'p1'",
            "routes[0] (dns).sop: cannot read missing.md",
            "routes[0] (dns).escalation: no policy is called 'nope'",
            "routes[0] (dns).suggest: 'failover dns' is not a command",
            "escalations[0] (x).steps[0].targets: @nobody is not in [[contacts]]",
            "escalations[0] (x).steps[0].targets: 'dba' is not a page target",
            "pagers[0] (pd): PagerDuty needs its routing key",
        ] {
            assert!(all.contains(expected), "missing «{expected}» in:\n{all}");
        }
        assert_eq!(err.problems.len(), 9, "{all}");
        assert!(all.lines().all(|l| l.starts_with("w.toml: ")));
    }

    #[test]
    fn connection_limits_have_defaults_and_bounds() {
        let s = Settings::check("", "w.toml", no_env, example_files).unwrap();
        assert_eq!(s.connections, ConnectionLimits::default());
        let text = "[http]\nheader_timeout_seconds = 2\nidle_timeout_seconds = 90\nbody_timeout_seconds = 5\nmax_connections = 64\n";
        let s = Settings::check(text, "w.toml", no_env, example_files).unwrap();
        assert_eq!(
            s.connections,
            ConnectionLimits {
                header_timeout: std::time::Duration::from_secs(2),
                idle_timeout: std::time::Duration::from_secs(90),
                body_timeout: std::time::Duration::from_secs(5),
                max_connections: 64,
            }
        );
        let text = "[http]\nheader_timeout_seconds = 0\nmax_connections = 4294967295\n";
        let all = Settings::check(text, "w.toml", no_env, example_files)
            .unwrap_err()
            .to_string();
        assert!(
            all.contains("http.header_timeout_seconds = 0 is out of range; use 1..=300"),
            "{all}"
        );
        assert!(
            all.contains("http.max_connections = 4294967295 is out of range; use 1..=100000"),
            "{all}"
        );
    }

    #[test]
    fn every_number_has_bounds_and_every_unknown_key_is_named_in_one_run() {
        let text = r#"
[alerts]
max_body_kib = 0
max_body_kb = 64

[incidents]
lookback_minutes = -5

[http]
shutdown_grace_seconds = 0
listn = "0.0.0.0:8080"

[lease]
ttl_seconds = 99999

[deploys]
incident_window_hours = 100000

[[escalations]]
name = "x"
repeat = 1000
steps = [{ targets = ["everyone"], wait_minutes = 999999, wiat = 1 }]

[[pagers]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:1/"
targets = ["everyone"]
timeout_seconds = 0
max_attempts = 4294967295
"#;
        let err = Settings::check(text, "w.toml", no_env, example_files).unwrap_err();
        let all = err.to_string();
        for expected in [
            "alerts.max_body_kb: unknown key; check its spelling",
            "http.listn: unknown key",
            "escalations[0].steps[0].wiat: unknown key",
            "alerts.max_body_kib = 0 is out of range; use 1..=65536",
            "incidents.lookback_minutes = -5 is out of range; use 0..=1440",
            "http.shutdown_grace_seconds = 0 is out of range; use 1..=3600",
            "lease.ttl_seconds = 99999 is out of range; use 3..=3600",
            "deploys.incident_window_hours = 100000 is out of range; use 0..=720",
            "escalations[0] (x).repeat = 1000 is out of range; use 0..=100",
            "escalations[0] (x).steps[0].wait_minutes = 999999 is out of range",
            "pagers[0] (hook).timeout_seconds = 0 is out of range; use 1..=300",
            "pagers[0] (hook).max_attempts = 4294967295 is out of range; use 1..=100",
        ] {
            assert!(all.contains(expected), "missing «{expected}» in:\n{all}");
        }
        assert_eq!(err.problems.len(), 12, "one line per mistake:\n{all}");
        let bad_env = Settings::check(
            "",
            "w.toml",
            |k| (k == "WARROOM_LOOKBACK_MINUTES").then(|| "99999".into()),
            example_files,
        )
        .unwrap_err()
        .to_string();
        assert!(
            bad_env.contains("WARROOM_LOOKBACK_MINUTES = 99999 is out of range"),
            "{bad_env}"
        );
    }

    #[test]
    fn files_the_configuration_names_must_be_small_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("warroom.toml"),
            r#"
[alerts.sources.generic]
secret_file = "/dev/zero"

[[routes]]
name = "r"
match = { alertname = "A" }
sop = "/dev/zero"
"#,
        )
        .unwrap();
        let started = std::time::Instant::now();
        let all = Settings::load(Some(&dir.path().join("warroom.toml")))
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(
            all.contains("routes[0] (r).sop: cannot read /dev/zero (relative to the config file): not a regular file"),
            "{all}"
        );
        let settings_warned = std::fs::write(
            dir.path().join("warroom.toml"),
            "[alerts.sources.generic]\nsecret_file = \"/dev/zero\"\n",
        );
        settings_warned.unwrap();
        let settings = Settings::load(Some(&dir.path().join("warroom.toml"))).unwrap();
        assert!(
            settings
                .warnings
                .iter()
                .any(|w| w.contains("secret_file: cannot read /dev/zero: not a regular file")),
            "{:?}",
            settings.warnings
        );
        assert!(Settings::load(Some(Path::new("/dev/zero")))
            .unwrap_err()
            .to_string()
            .contains("cannot read the config file /dev/zero"));
    }

    #[test]
    fn secrets_come_from_the_environment_and_pagers_reach_teams_members() {
        let text = r#"
[[teams]]
name = "Networking"
aliases = ["net"]
[[contacts]]
handle = "bsparrow"
name = "Bob Sparrow"
team = "Networking"
[alerts.sources.generic]
auth = "hmac"
secret_env = "GEN"
[[pagers]]
name = "pd-net"
kind = "pagerduty"
secret_env = "PD"
targets = ["!net"]
"#;
        let env = |k: &str| match k {
            "GEN" => Some("s3cret".to_string()),
            "PD" => Some("routing-key".to_string()),
            _ => None,
        };
        let s = Settings::check(text, "w.toml", env, |_| Ok(String::new())).unwrap();
        assert!(
            matches!(&s.sources["generic"], SourceAuth::Hmac { secret, header }
            if secret.expose() == "s3cret" && header == "X-Warroom-Signature")
        );
        assert!(!format!("{s:?}").contains("s3cret"));
        assert!(!format!("{s:?}").contains("routing-key"));
        let pd = s.pagers_for(&Target::Person("bsparrow".into()));
        assert_eq!(pd.len(), 1);
        assert_eq!(pd[0].url, PAGERDUTY_EVENTS_URL);
        assert!(s.pagers_for(&Target::Team("Networking".into())).len() == 1);
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

    #[test]
    fn discord_maps_users_to_contacts_and_members_to_warroom_roles() {
        use crate::domain::access::Access;
        let text = r#"
[[teams]]
name = "SRE"
[[contacts]]
handle = "rpark"
name = "R Park"
team = "SRE"
[discord]
guild_id = "42"
default_access = "none"
[discord.users]
"1001" = "rpark"
[discord.access]
sre = ["user:1001"]
responder = ["role:77", "user:1001"]
"#;
        let env = |k: &str| (k == "WARROOM_DISCORD_TOKEN").then(|| "t0ken".to_string());
        let s = Settings::from_toml(text, "x.toml", env).unwrap();
        let d = &s.discord;
        assert_eq!(d.token.as_ref().map(|t| t.expose()), Some("t0ken"));
        assert_eq!(d.guild_id, Some(42));
        assert_eq!(d.users.get(&1001).map(String::as_str), Some("rpark"));
        // The highest of user and roles wins; the default applies to everyone else.
        assert_eq!(d.access_of(1001, &[]), Access::Sre);
        assert_eq!(d.access_of(5, &[77]), Access::Responder);
        assert_eq!(d.access_of(5, &[]), Access::Guest);
        assert_eq!(d.watch_channels, ["ops"]);

        let bad = r#"
[discord]
incident_channels = "forum"
public_key = "xyz"
default_access = "admin"
[discord.users]
"abc" = "nobody"
"7" = "nobody"
[discord.access]
owner = ["user:1"]
sre = ["group:1"]
"#;
        let err = Settings::from_toml(bad, "x.toml", env)
            .unwrap_err()
            .to_string();
        for expected in [
            "discord.guild_id: a bot token is given",
            "discord.incident_channels = 'forum': use channel or thread",
            "discord.public_key: use the application's public key",
            "discord.default_access: unknown warroom role",
            "discord.users.\"abc\" = 'abc' is not a Discord id",
            "discord.users.\"7\" = 'nobody': no contact has that handle",
            "discord.access.owner: unknown warroom role",
            "discord.access.sre: 'group:1' is neither user:ID nor role:ID",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
        }
    }
}
