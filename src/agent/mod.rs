//! The `warroom agent` side: what runs on a host and carries out runbook steps there.

pub mod client;
pub mod config;
pub mod exec;
pub mod local;
pub mod runner;
