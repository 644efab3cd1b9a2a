//! The built-in demo: the seed's outage as a transcript, and the host its local agent runs
//! the restart and the redeploy on — a fake service manager, health check and deploy tool
//! (the same scripts the tests use), written to a temporary directory and run as real
//! processes.

use crate::agent::local::LocalAgent;
use crate::agent::runner::Site;
use crate::config::{AgentSettings, Settings};
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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
/// [`BUILD_AT_START`]) and the DNS host (dns1 active) — and returns their agents, labelled
/// like the seed's hosts. Programs go in `bin/`, each host's state in its own directory.
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
    std::fs::write(app_state.join("version"), format!("{BUILD_AT_START}\n"))?;
    std::fs::write(dns_state.join("active"), "dns1\n")?;
    let agent = |name: &str, role: &str, state_var: &str, state: &Path| {
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
        LocalAgent::new(identity, &settings.runbooks, site)
    };
    Ok(vec![
        agent("planthost1", "app", "FAKE_HOST", &app_state),
        agent("dnshost1", "dns", "FAKE_DNS", &dns_state),
    ])
}
