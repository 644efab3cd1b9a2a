//! The integration tests, in one crate so the whole warroom crate is linked once rather
//! than once per file. Each module holds one feature's tests; `common` (stores on both
//! backends, the example application, the contacts fixture, a server to talk to),
//! `serve_child` (`warroom serve` as a child process) and `support` (a local fake Discord)
//! are the helpers they share.

#[macro_use]
mod common;
mod serve_child;
mod support;

mod agent_e2e;
mod agents;
mod alertmanager_e2e;
mod alerts;
mod alerts_cli;
mod app_replay;
mod calendar_layers;
mod cli;
mod demo;
mod deploy_files;
mod deploys;
mod discord;
mod discord_e2e;
mod discord_outages;
mod export_import;
mod followups;
mod hardening;
mod layering;
mod leader;
mod notifications;
mod observability;
mod progress;
mod properties;
mod reach;
mod releases;
mod runbooks;
mod schedules;
mod shifts;
mod show;
mod shutdown;
mod store_conformance;
mod web_console;
