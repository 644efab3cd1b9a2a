//! The built-in demo: the seed's outage as a transcript, and the host its local agent runs
//! the restart and the redeploy on — a fake service manager, health check and deploy tool
//! (the same scripts the tests use), written to a temporary directory and run as real
//! processes.

use crate::agent::runner::Site;
use crate::app::local_agent::LocalAgent;
use crate::config::{AgentSettings, Settings};
use anyhow::Context;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The transcript of the seed scenario's application outage, replayed by `warroom demo`.
pub const OUTAGE: &str = include_str!("outage.jsonl");

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
];

/// Sets up the fake application host under `dir` (programs in `bin/`, its state in
/// `state/`: the service running [`BUILD_AT_START`]) and returns the agent that runs the
/// configuration's runbooks there, labelled like the seed's application host.
pub fn local_agent(dir: &Path, settings: &Settings) -> anyhow::Result<LocalAgent> {
    let bin = dir.join("bin");
    let state = dir.join("state");
    for d in [&bin, &state] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let mut programs = BTreeMap::new();
    for (name, file, script) in HOST_PROGRAMS {
        let path = bin.join(file);
        std::fs::write(&path, script)
            .with_context(|| format!("cannot write {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        programs.insert(name.to_string(), path.display().to_string());
    }
    std::fs::write(state.join("running"), "")?;
    std::fs::write(state.join("version"), format!("{BUILD_AT_START}\n"))?;
    let site = Site {
        programs,
        env: vec![
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
            ("FAKE_HOST".to_string(), state.display().to_string()),
        ],
        output_limit: 64 * 1024,
        redact: vec![],
    };
    let identity = AgentSettings {
        name: "planthost1".to_string(),
        // Never compared: this agent does not come in over HTTP.
        token_sha256: [0; 32],
        labels: BTreeMap::from([
            ("host".to_string(), "planthost1".to_string()),
            ("role".to_string(), "app".to_string()),
        ]),
    };
    Ok(LocalAgent::new(identity, &settings.runbooks, site))
}
