//! The shipped example: `deploy/warroom.toml`, the SOPs it names and the runbooks of
//! `commands/`, built in so the demo runs from anywhere.

use super::Settings;

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

/// Where [`example_tree`] puts the configuration file.
pub const EXAMPLE_CONFIG_PATH: &str = "deploy/warroom.toml";

/// The shipped example as files, by their paths under one directory, laid out as in this
/// repository: `deploy/warroom.toml`, the SOPs it names beside it, the runbooks in
/// `commands/` (where its `runbooks.dir = "../commands"` finds them). `warroom demo --keep`
/// writes them beside the store it keeps, so that the commands reading that store afterwards
/// (`--config DIR/config/deploy/warroom.toml`) name people as the demo's documents did.
pub fn example_tree() -> Vec<(String, &'static str)> {
    let mut files = vec![(EXAMPLE_CONFIG_PATH.to_string(), EXAMPLE_CONFIG)];
    files.extend(
        EXAMPLE_SOPS
            .iter()
            .map(|(name, text)| (format!("deploy/{name}"), *text)),
    );
    files.extend(
        EXAMPLE_RUNBOOKS
            .iter()
            .map(|(name, text)| (name.to_string(), *text)),
    );
    files
}

impl Settings {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{example_files, no_env};

    #[test]
    fn the_example_written_as_files_loads_as_the_built_in_one() {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in example_tree() {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let written = Settings::load(Some(&dir.path().join(EXAMPLE_CONFIG_PATH))).unwrap();
        let built_in = Settings::example().unwrap();
        let commands =
            |s: &Settings| -> Vec<String> { s.runbooks.iter().map(|r| r.command_text()).collect() };
        assert_eq!(commands(&written), commands(&built_in));
        assert_eq!(commands(&written).len(), EXAMPLE_RUNBOOKS.len());
        assert_eq!(
            written.directory.contacts().len(),
            built_in.directory.contacts().len()
        );
        let sop = |s: &Settings| {
            s.routes
                .named("application-down")
                .and_then(|r| r.sop.as_ref())
                .map(|sop| sop.markdown.clone())
        };
        assert_eq!(sop(&written), sop(&built_in));
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
                "schedule:ops",
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
}
