//! warroom: an event-sourced ChatOps incident bot.

pub mod config;
pub mod domain;
pub mod store;
