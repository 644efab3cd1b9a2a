//! Configuration: `warroom.toml` (path by `--config` / `WARROOM_CONFIG`), overridden by
//! `WARROOM_*` environment variables, checked once at start-up into [`Settings`].
//!
//! Each section of the file has its own module: the section as written and the reader that
//! checks it. This one holds the whole file and the settings, and reads the sections in the
//! order in which their problems are reported.

mod agents;
mod alerts;
mod bounds;
mod calendars;
mod chat;
mod contacts;
mod deploys;
mod discord;
mod examples;
mod followups;
mod http;
mod lease;
mod log;
pub mod notifications;
mod paging;
mod routes;
mod runbooks;
mod schedules;
mod secrets;
mod web;
mod witness;

pub use agents::{AgentFile, AgentSettings};
pub use alerts::{AlertsSection, SourceAuth, SourceFile, ALERT_SOURCES};
pub use calendars::{CalendarSettings, CalendarsSection};
pub use chat::{ChatSection, IncidentsSection, DEFAULT_LOOKBACK_MINUTES};
pub use deploys::{DeploySettings, DeploysSection, GuardFile};
pub use discord::{DiscordSection, DiscordSettings, DISCORD_API_URL};
pub use examples::{example_tree, EXAMPLE_CONFIG, EXAMPLE_CONFIG_PATH, EXAMPLE_RUNBOOKS};
pub use followups::{FollowupSettings, FollowupsSection, Tracker};
pub use http::{ConnectionLimits, HttpSection, DEFAULT_SHUTDOWN_GRACE_SECONDS};
pub use lease::LeaseSection;
pub use log::LogSection;
pub use paging::{EscalationFile, PagerFile, PagerKind, PagerSettings, PAGERDUTY_EVENTS_URL};
pub use routes::RouteFile;
pub use runbooks::RunbooksSection;
pub use schedules::{mask_calendar_url, read_calendar, CalendarFeedSource, ConfiguredSchedule};
pub use web::{WebDiscord, WebSection, WebSettings};
pub use witness::WitnessSection;

use agents::read_agents;
use alerts::{read_alerts_channel, read_max_body_bytes, read_sources};
use calendars::read_calendars;
use chat::{read_default_channel, read_lookback, read_timezone};
use contacts::read_directory;
use deploys::read_deploys;
use discord::read_discord;
use http::{
    read_connection_limits, read_console_token, read_listen, read_metrics_token,
    read_shutdown_grace,
};
use lease::read_lease;
use log::read_log;
use paging::{read_escalations, read_pagers};
use routes::read_routes;
use schedules::read_schedules;
use witness::read_witness;

use crate::domain::contacts::{Directory, Team};
use crate::domain::escalation::Policy;
use crate::domain::routing::Routes;
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
    /// People, with their contact methods and notification rules.
    #[serde(default)]
    pub contacts: Vec<notifications::ContactFile>,
    /// Alert routes, tried in order; the first that matches wins.
    #[serde(default)]
    pub routes: Vec<RouteFile>,
    /// The route of alerts no other route matches.
    pub default_route: Option<RouteFile>,
    /// On-call schedules: rotations in layers, whom `schedule:NAME` pages.
    #[serde(default)]
    pub schedules: Vec<crate::domain::schedule::ScheduleSpec>,
    /// The iCalendar feeds of the schedules.
    #[serde(default)]
    pub calendars: CalendarsSection,
    #[serde(default)]
    pub escalations: Vec<EscalationFile>,
    /// Reaching people directly: email, SMS, voice, push, and acknowledgement links.
    #[serde(default)]
    pub notifications: notifications::NotificationsSection,
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
    /// The issue tracker follow-up actions are filed in.
    #[serde(default)]
    pub followups: FollowupsSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub lease: LeaseSection,
    #[serde(default)]
    pub witness: WitnessSection,
    /// The web console; on when the section is present.
    pub web: Option<WebSection>,
}

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
    /// On-call schedules by name, as written and checked.
    pub schedules: BTreeMap<String, ConfiguredSchedule>,
    /// The schedules' iCalendar feeds; `None`: off.
    pub calendars: Option<CalendarSettings>,
    pub pagers: Vec<PagerSettings>,
    /// Email, SMS, voice and push, and each person's rules.
    pub notifications: notifications::NotificationSettings,
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
    /// Where follow-up actions become issues; `None` files nothing.
    pub followups: Option<FollowupSettings>,
    pub lease: crate::store::LeaseSettings,
    /// The web console; `None`: off.
    pub web: Option<WebSettings>,
    /// What works but deserves attention (a switched-off source), for `warroom check` and
    /// the log at start-up.
    pub warnings: Vec<String>,
}

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
            // No runbook directory is read either: `commands/` is relative to a configuration
            // file, and without one there are no teams to approve its runbooks nor agents to
            // run them (the repository's own `commands/` would only fail to load).
            let mut settings = Settings::from_toml("", "defaults", |k| std::env::var(k).ok())?;
            settings.warnings.insert(
                0,
                "no configuration file (--config, WARROOM_CONFIG or ./warroom.toml): running on the defaults; `warroom demo --keep DIR` writes an example to start from (docs/configuration.md)".into(),
            );
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
        schedules,
        calendars,
        escalations,
        notifications,
        pagers,
        discord,
        runbooks,
        agents,
        deploys,
        followups,
        log,
        lease,
        witness,
        web,
    } = file_config;
    // The sections are read in this order because it is the order of the problems users and
    // tests see; the directory comes before everything that names people or teams.
    let connections = read_connection_limits(&http, problems);
    let timezone = read_timezone(timezone, env, problems);
    let lookback = read_lookback(&incidents, env, problems);
    let default_channel = read_default_channel(&chat, env, problems);
    let alerts_channel = read_alerts_channel(&alerts, env, problems);
    let listen = read_listen(&http, env, problems);
    let (contacts, reach) = notifications::split_contacts(contacts, problems);
    let directory = read_directory(teams, contacts, problems)?;
    let mut warnings = Vec::new();
    let sources = read_sources(&alerts, env, file, &mut warnings, problems);
    let schedules = read_schedules(
        &schedules,
        timezone,
        &directory,
        &reach,
        file,
        chrono::Utc::now(),
        problems,
    );
    let calendars = read_calendars(&calendars, env, file, problems);
    let policies = read_escalations(&escalations, &directory, &schedules, timezone, problems);
    let routes = read_routes(&routes, default_route.as_ref(), &policies, file, problems);
    let pagers = read_pagers(&pagers, &directory, env, file, problems);
    let notifications =
        notifications::read_notifications(&notifications, reach, env, file, problems);
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
    let followups = followups::read_followups(&followups, env, file, problems);
    let metrics_token_sha256 = read_metrics_token(&http, problems);
    let shutdown_grace = read_shutdown_grace(&http, env, problems);
    let max_alert_body_bytes = read_max_body_bytes(&alerts, problems);
    read_log(&log, problems);
    let lease = read_lease(&lease, problems);
    let witness = read_witness(&witness, problems);
    let web = web::read_web(web, &directory, env, file, problems);
    warn_of_what_reaches_no_one(&sources, &pagers, &notifications, &discord, &mut warnings);
    Some(Settings {
        witness,
        connections,
        deploys,
        followups,
        lease,
        web,
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
        schedules,
        calendars,
        pagers,
        notifications,
        warnings,
    })
}

/// What starts but cannot do its job: no door an alert can come in by, nothing a page can
/// be delivered through. Said at start-up and by `warroom check`, since neither is a mistake
/// for the demo or a replay, yet either leaves an operator wondering why nothing happens.
fn warn_of_what_reaches_no_one(
    sources: &BTreeMap<String, SourceAuth>,
    pagers: &[PagerSettings],
    notifications: &notifications::NotificationSettings,
    discord: &DiscordSettings,
    warnings: &mut Vec<String>,
) {
    if sources.is_empty() {
        warnings.push(
            "no alert source is set up ([alerts.sources.alertmanager], grafana or generic, with secret_env or secret_file): every alert sent to /v1/alerts/… is refused with 401".into(),
        );
    }
    let providers = &notifications.providers;
    let can_notify =
        providers.email.is_some() || providers.twilio.is_some() || providers.ntfy.is_some();
    if pagers.is_empty() && !can_notify && discord.token.is_none() {
        warnings.push(
            "no pager is set up ([[pagers]], [notifications] email, SMS or push, or a Discord bot token): escalation steps record their pages in the ledger but deliver them to no one".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The two helpers are shared with the tests of the section files.
    pub(super) fn no_env(_: &str) -> Option<String> {
        None
    }

    pub(super) fn example_files(f: &str) -> std::io::Result<String> {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(f))
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
}
