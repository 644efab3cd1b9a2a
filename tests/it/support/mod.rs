//! Test support for the integration test binaries that talk to Discord: a local fake Discord
//! (gateway and REST) and fixture builders.

pub mod fake_discord;
