//! `[witness]`: where and how often signed checkpoints of the ledger's head are written.

use super::bounds::bounded;
use serde::Deserialize;
use std::path::PathBuf;

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

/// `[witness]`: where and how often checkpoints are written, the numbers within bounds.
pub(super) fn read_witness(
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
