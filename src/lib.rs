//! warroom: an event-sourced ChatOps incident bot.

pub mod agent;
pub mod app;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod discord;
pub mod domain;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod oncall_import;
pub mod problems;
pub mod progress;
pub mod protocol;
pub mod secret;
pub mod serve;
pub mod small_file;
pub mod store;
pub mod time_range;
pub mod twilio;
pub mod unknown_keys;
pub mod web;
pub mod witness;
