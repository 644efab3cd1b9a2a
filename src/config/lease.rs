//! `[lease]`: the leader lease of several instances on one PostgreSQL store.

use super::bounds::bounded_seconds;
use serde::Deserialize;

/// The leader lease of several instances on one PostgreSQL store (unused on SQLite).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LeaseSection {
    /// How long the leader holds the lease without renewing it (default 10).
    pub ttl_seconds: Option<i64>,
    /// How often the leader renews it and followers look for an expired one (default 3).
    pub renew_seconds: Option<i64>,
}

/// The lease's timings: the leader must be able to miss a renewal and still renew in time.
pub(super) fn read_lease(
    l: &LeaseSection,
    problems: &mut Vec<String>,
) -> crate::store::LeaseSettings {
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
