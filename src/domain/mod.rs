//! The pure incident domain: value types, events, the incident aggregate, contacts, the
//! console command syntax and the post-mortem. Nothing here does IO or knows about tokio,
//! sqlx or any chat service; the clock and the ids come in as arguments.

pub mod access;
pub mod command;
pub mod contacts;
pub mod deploy;
pub mod escalation;
pub mod event;
pub mod followups;
pub mod incident;
pub mod postmortem;
pub mod reach;
pub mod release;
pub mod routing;
pub mod run;
pub mod runbook;
pub mod schedule;
pub mod shift;
#[cfg(test)]
pub(crate) mod testkit;
pub mod types;
pub mod url_param;
