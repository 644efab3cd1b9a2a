//! The built-in demo: the seed's outage as a transcript, and the host its local agent runs
//! the restart and the redeploy on — a fake service manager, health check and deploy tool
//! (the same scripts the tests use), written to a temporary directory and run as real
//! processes.

use crate::agent::local::{HostClock, LocalAgent};
use crate::agent::runner::Site;
use crate::config::{AgentSettings, Settings};
use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The transcript of the seed scenario's application outage, replayed by `warroom demo`.
pub const OUTAGE: &str = include_str!("outage.jsonl");

/// The seed's week before the outage: release night (Release 2), the on-call shift with
/// three alerts, and the QA build deployed to production the evening before.
const WEEK_BEFORE_OUTAGE: &str = include_str!("week.jsonl");
/// The week after the outage: the shift ends.
const WEEK_AFTER_OUTAGE: &str = include_str!("week-after.jsonl");

/// The incident number the outage gets in the week, after the four earlier ones.
pub const WEEK_OUTAGE_INCIDENT: u64 = 5;

/// The whole week as one transcript, replayed by `warroom demo week`: the outage's lines are
/// the same as `warroom demo`'s, in the channel its incident gets in the week.
pub fn week() -> String {
    let outage = OUTAGE.replace(
        "inc-1-application-outage",
        &format!("inc-{WEEK_OUTAGE_INCIDENT}-application-outage"),
    );
    format!("{WEEK_BEFORE_OUTAGE}{outage}{WEEK_AFTER_OUTAGE}")
}

/// The store's file in the demo's directory.
pub const STORE_FILE: &str = "warroom.db";

/// Where `warroom demo --keep DIR` writes the example configuration, under DIR.
pub const KEPT_CONFIG_DIR: &str = "config";

/// Makes `dir` (created if missing) ready to keep a demo's store: it must not hold a store
/// already, since the demo replays into a fresh one. The example configuration is written
/// under `config/` unless `with_example` is false (a `--config` was given); a file there
/// already is left alone when it is the same and refused when it is not, so nothing of
/// someone else's is overwritten. Returns the directory's absolute path and, with the
/// example, its configuration file.
pub fn keep_in(dir: &Path, with_example: bool) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot find the directory {}", dir.display()))?;
    let store = dir.join(STORE_FILE);
    if store.exists() {
        bail!(
            "{} already holds a {STORE_FILE}, and the demo needs a fresh store: remove it (and \
             {0}/hosts) or pick another directory for --keep",
            dir.display()
        );
    }
    if !with_example {
        return Ok((dir, None));
    }
    let root = dir.join(KEPT_CONFIG_DIR);
    let files = crate::config::example_tree();
    for (path, text) in &files {
        let path = root.join(path);
        if std::fs::read(&path).is_ok_and(|held| held != text.as_bytes()) {
            bail!(
                "{} exists and is not the demo's example configuration; the demo would \
                 overwrite it: move it away or pick another directory for --keep",
                path.display()
            );
        }
    }
    for (path, text) in &files {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok((dir, Some(root.join(crate::config::EXAMPLE_CONFIG_PATH))))
}

/// The build the demo's host runs when the outage starts: the QA build deployed to
/// production by mistake, the seed's root cause.
pub const BUILD_AT_START: &str = "2.1.0-qa.1";

/// How long the demo's application host takes, in seconds of its simulated time, so that the
/// runs land where the seed's log has them: the restart asked at 09:43:30 is down at 09:45
/// and answers at 09:47 ("App is down. Bring back up.", "App is starting."), the redeploy
/// asked at 10:15:30 is down at 10:17 and answers at 10:23. Stopping takes systemd's
/// default stop timeout (the QA build ignores SIGTERM), starting a minute and three quarters,
/// the health check answers a quarter of a minute later (five polls of the runbook's 3 s
/// fail first), and installing a build takes four minutes.
const APP_HOST_TIMINGS: &[(&str, u32)] = &[
    ("stop-seconds", 90),
    ("start-seconds", 105),
    ("warmup-seconds", 15),
    ("install-seconds", 240),
];

/// A fake host's clock: a file in its state directory holding its time in whole seconds
/// since the epoch, which the fake programs read and move on by the time they take (see
/// `tests/fakes/systemctl`) and the local agent sets forward to each transcript line's time.
struct ClockFile {
    path: PathBuf,
    /// The last time read or written, should the file become unreadable.
    last: std::sync::Mutex<i64>,
}

impl ClockFile {
    fn at_epoch(path: PathBuf) -> std::io::Result<ClockFile> {
        std::fs::write(&path, "0\n")?;
        Ok(ClockFile {
            path,
            last: std::sync::Mutex::new(0),
        })
    }

    fn seconds(&self) -> i64 {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match std::fs::read_to_string(&self.path).map(|t| t.trim().parse::<i64>()) {
            Ok(Ok(seconds)) => *last = seconds,
            other => tracing::warn!(
                "the fake host's clock {} cannot be read ({other:?}); it stays at {}",
                self.path.display(),
                *last
            ),
        }
        *last
    }
}

impl HostClock for ClockFile {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.seconds(), 0).unwrap_or_default()
    }

    fn advance_to(&self, at: DateTime<Utc>) {
        // Whole seconds, rounded up, so the host is never behind the time it was set to.
        let wanted = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
        if wanted <= self.seconds() {
            return;
        }
        if let Err(e) = std::fs::write(&self.path, format!("{wanted}\n")) {
            tracing::warn!(
                "the fake host's clock {} cannot be set: {e}",
                self.path.display()
            );
            return;
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = wanted;
    }
}

/// The fake programs, by the names the runbooks use.
const HOST_PROGRAMS: &[(&str, &str, &str)] = &[
    (
        "systemctl",
        "systemctl",
        include_str!("../../tests/fakes/systemctl"),
    ),
    ("curl", "health", include_str!("../../tests/fakes/health")),
    (
        "deployctl",
        "deployctl",
        include_str!("../../tests/fakes/deployctl"),
    ),
    (
        "dnstool",
        "dnstool",
        include_str!("../../tests/fakes/dnstool"),
    ),
];

/// Sets up the fake hosts under `dir` — the application host (its service running
/// [`BUILD_AT_START`], taking [`APP_HOST_TIMINGS`]) and the DNS host (dns1 active) — and
/// returns their agents, labelled like the seed's hosts. Programs go in `bin/`, each host's
/// state in its own directory. The hosts' time is simulated: each has a clock the agent sets
/// to the transcript's time, so a run's steps are stamped as the host's delays and the
/// runbook's polls pass, without waiting for them.
pub fn local_agents(dir: &Path, settings: &Settings) -> anyhow::Result<Vec<LocalAgent>> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).with_context(|| format!("cannot create {}", bin.display()))?;
    let mut programs = BTreeMap::new();
    for (name, file, script) in HOST_PROGRAMS {
        let path = bin.join(file);
        std::fs::write(&path, script)
            .with_context(|| format!("cannot write {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        programs.insert(name.to_string(), path.display().to_string());
    }
    let app_state = dir.join("planthost1");
    let dns_state = dir.join("dns");
    for d in [&app_state, &dns_state] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    std::fs::write(app_state.join("running"), "")?;
    std::fs::remove_file(app_state.join("ready-at")).or_else(absent)?;
    std::fs::write(app_state.join("version"), format!("{BUILD_AT_START}\n"))?;
    for (file, seconds) in APP_HOST_TIMINGS {
        std::fs::write(app_state.join(file), format!("{seconds}\n"))?;
    }
    std::fs::write(dns_state.join("active"), "dns1\n")?;
    let agent = |name: &str, role: &str, state_var: &str, state: &Path| -> anyhow::Result<_> {
        let site = Site {
            programs: programs.clone(),
            env: vec![
                ("PATH".to_string(), "/usr/bin:/bin".to_string()),
                (state_var.to_string(), state.display().to_string()),
            ],
            output_limit: 64 * 1024,
            redact: vec![],
            url_hosts: vec![],
        };
        let identity = AgentSettings {
            name: name.to_string(),
            // Never compared: these agents do not come in over HTTP.
            token_sha256: [0; 32],
            labels: BTreeMap::from([
                ("host".to_string(), name.to_string()),
                ("role".to_string(), role.to_string()),
            ]),
        };
        let clock = ClockFile::at_epoch(state.join("clock"))
            .with_context(|| format!("cannot write {}", state.join("clock").display()))?;
        Ok(LocalAgent::new(identity, &settings.runbooks, site).on_host_clock(Arc::new(clock)))
    };
    Ok(vec![
        agent("planthost1", "app", "FAKE_HOST", &app_state)?,
        agent("dnshost1", "dns", "FAKE_DNS", &dns_state)?,
    ])
}

/// A file that is not there is as good as removed.
fn absent(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}
