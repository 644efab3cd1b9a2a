//! `[http]`: the address `warroom serve` listens on, the console's and the scrapers' tokens,
//! how long it may take to stop, and how it bounds its clients.

use super::bounds::{bounded, bounded_env, bounded_seconds};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct HttpSection {
    /// Address `warroom serve` listens on, e.g. `0.0.0.0:8080`.
    pub listen: Option<String>,
    /// SHA-256 (hex) of the token `POST /v1/console` accepts; the console is off without it.
    pub console_token_sha256: Option<String>,
    /// SHA-256 (hex) of the bearer token `GET /metrics` asks for; open without it.
    pub metrics_token_sha256: Option<String>,
    /// How long `warroom serve` may take to stop after SIGTERM/SIGINT.
    pub shutdown_grace_seconds: Option<i64>,
    /// Seconds a client has to send a request's head once it has begun (default 10).
    pub header_timeout_seconds: Option<i64>,
    /// Seconds a keep-alive connection may wait for its next request (default 30).
    pub idle_timeout_seconds: Option<i64>,
    /// Seconds a client has to send a request's whole body (default 30).
    pub body_timeout_seconds: Option<i64>,
    /// Connections served at once; beyond, new ones get 503 with `Retry-After` (default 1024).
    pub max_connections: Option<i64>,
}

/// How `warroom serve` bounds its clients: slow or idle ones are dropped, and connections
/// beyond the cap are answered 503 at once, so a flood of sockets cannot starve the doors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the first byte of a request's head to its end.
    pub header_timeout: std::time::Duration,
    /// Between requests on a keep-alive connection (a request in flight, such as an agent's
    /// long poll, is not idle).
    pub idle_timeout: std::time::Duration,
    /// For the whole body of a request.
    pub body_timeout: std::time::Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(30),
            body_timeout: std::time::Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// How long `warroom serve` may take to stop when the configuration names no grace: under
/// the 30 s both systemd (`TimeoutStopSec`) and Kubernetes give before they kill.
pub const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 20;

const GRACE_SECONDS_RANGE: std::ops::RangeInclusive<i64> = 1..=3600;

/// `[http]`'s connection limits, each within its bounds.
pub(super) fn read_connection_limits(
    http: &HttpSection,
    problems: &mut Vec<String>,
) -> ConnectionLimits {
    let defaults = ConnectionLimits::default();
    let seconds = bounded_seconds;
    ConnectionLimits {
        header_timeout: seconds(
            "http.header_timeout_seconds",
            http.header_timeout_seconds,
            1..=300,
            defaults.header_timeout,
            problems,
        ),
        idle_timeout: seconds(
            "http.idle_timeout_seconds",
            http.idle_timeout_seconds,
            1..=3600,
            defaults.idle_timeout,
            problems,
        ),
        body_timeout: seconds(
            "http.body_timeout_seconds",
            http.body_timeout_seconds,
            1..=600,
            defaults.body_timeout,
            problems,
        ),
        max_connections: bounded(
            "http.max_connections",
            http.max_connections,
            1..=100_000,
            defaults.max_connections as i64,
            problems,
        ) as usize,
    }
}

/// `[http]`'s address: `WARROOM_LISTEN`, else the file's, else `127.0.0.1:8080`.
pub(super) fn read_listen(
    http: &HttpSection,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> String {
    let listen = env("WARROOM_LISTEN")
        .or(http.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    if listen.parse::<std::net::SocketAddr>().is_err() {
        problems.push(format!(
            "http.listen = '{listen}' is not an address; use IP:PORT such as 127.0.0.1:8080"
        ));
    }
    listen
}

/// `[http]`'s console token hash; the console is off without one.
pub(super) fn read_console_token(
    http: &HttpSection,
    problems: &mut Vec<String>,
) -> Option<[u8; 32]> {
    match &http.console_token_sha256 {
        None => None,
        Some(hex_hash) => {
            let hash = hex::decode(hex_hash.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok());
            if hash.is_none() {
                problems.push(
                    "http.console_token_sha256: give the SHA-256 of the console token in hex (`printf %s \"$TOKEN\" | sha256sum`)"
                        .into(),
                );
            }
            hash
        }
    }
}

/// `[http]`'s metrics token hash; `/metrics` is open without one.
pub(super) fn read_metrics_token(
    http: &HttpSection,
    problems: &mut Vec<String>,
) -> Option<[u8; 32]> {
    http.metrics_token_sha256.as_ref().and_then(|hex_hash| {
        let hash = hex::decode(hex_hash.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        if hash.is_none() {
            problems.push(
                "http.metrics_token_sha256: give the SHA-256 of the scrapers' token in hex (`printf %s \"$TOKEN\" | sha256sum`)"
                    .into(),
            );
        }
        hash
    })
}

/// `[http]`'s shutdown grace: `WARROOM_SHUTDOWN_GRACE_SECONDS`, else the file's, within
/// its bounds.
pub(super) fn read_shutdown_grace(
    http: &HttpSection,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> std::time::Duration {
    let grace_seconds = match env("WARROOM_SHUTDOWN_GRACE_SECONDS") {
        Some(v) => bounded_env(
            "WARROOM_SHUTDOWN_GRACE_SECONDS",
            &v,
            GRACE_SECONDS_RANGE,
            DEFAULT_SHUTDOWN_GRACE_SECONDS as i64,
            problems,
        ),
        None => bounded(
            "http.shutdown_grace_seconds",
            http.shutdown_grace_seconds,
            GRACE_SECONDS_RANGE,
            DEFAULT_SHUTDOWN_GRACE_SECONDS as i64,
            problems,
        ),
    };
    std::time::Duration::from_secs(grace_seconds as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{example_files, no_env};
    use crate::config::Settings;

    #[test]
    fn connection_limits_have_defaults_and_bounds() {
        let s = Settings::check("", "w.toml", no_env, example_files).unwrap();
        assert_eq!(s.connections, ConnectionLimits::default());
        let text = "[http]\nheader_timeout_seconds = 2\nidle_timeout_seconds = 90\nbody_timeout_seconds = 5\nmax_connections = 64\n";
        let s = Settings::check(text, "w.toml", no_env, example_files).unwrap();
        assert_eq!(
            s.connections,
            ConnectionLimits {
                header_timeout: std::time::Duration::from_secs(2),
                idle_timeout: std::time::Duration::from_secs(90),
                body_timeout: std::time::Duration::from_secs(5),
                max_connections: 64,
            }
        );
        let text = "[http]\nheader_timeout_seconds = 0\nmax_connections = 4294967295\n";
        let all = Settings::check(text, "w.toml", no_env, example_files)
            .unwrap_err()
            .to_string();
        assert!(
            all.contains("http.header_timeout_seconds = 0 is out of range; use 1..=300"),
            "{all}"
        );
        assert!(
            all.contains("http.max_connections = 4294967295 is out of range; use 1..=100000"),
            "{all}"
        );
    }
}
