//! The runbooks shipped in `commands/`, read as the tests of every part of the runbook
//! module read them.

use super::Runbook;

const SHIPPED: &[(&str, &str)] = &[
    (
        "commands/failover-dns.toml",
        include_str!("../../../commands/failover-dns.toml"),
    ),
    (
        "commands/restart-app.toml",
        include_str!("../../../commands/restart-app.toml"),
    ),
    (
        "commands/cleanup-logs.toml",
        include_str!("../../../commands/cleanup-logs.toml"),
    ),
];

pub(super) fn shipped(name: &str) -> Runbook {
    let (file, text) = SHIPPED.iter().find(|(f, _)| f.contains(name)).unwrap();
    Runbook::parse(file, text).unwrap_or_else(|e| panic!("{e:?}"))
}
