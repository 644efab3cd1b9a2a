//! Test support for the integration test binaries that talk to Discord: a local fake Discord
//! (gateway and REST) and fixture builders.
// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code, unused_imports)]

pub mod fake_discord;
