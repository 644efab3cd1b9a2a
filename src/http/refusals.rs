//! The log of refused requests: every 4xx answer, with the door, the status and the reason
//! the caller was told, so an operator sees why Alertmanager's notifications fail. Rate
//! limited per door and status, so a flood of bad requests cannot fill the disk.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Why a request was refused, as its answer says it; set on the response by the doors'
/// error answers, read here.
#[derive(Debug, Clone)]
pub struct RefusalReason(pub String);

/// At most one line per door and status in this long; the ones between are counted.
const QUIET: Duration = Duration::from_secs(10);

/// Keys kept before the oldest are forgotten: doors are few, but a scanner's paths are not
/// (they share the `no such endpoint` key, so this only bounds the unexpected).
const MAX_KEYS: usize = 256;

/// What was last logged for one door and status.
struct Window {
    logged_at: Instant,
    /// Refusals since then that were not logged.
    suppressed: u64,
}

/// The process's refusal windows (one process, one log).
fn windows() -> &'static Mutex<HashMap<(String, u16), Window>> {
    static WINDOWS: OnceLock<Mutex<HashMap<(String, u16), Window>>> = OnceLock::new();
    WINDOWS.get_or_init(Default::default)
}

/// Whether to log a refusal now, and how many like it went unlogged before it.
fn admit(door: &str, status: u16, now: Instant) -> Option<u64> {
    let mut windows = windows().lock().expect("refusal log lock");
    if windows.len() >= MAX_KEYS && !windows.contains_key(&(door.to_string(), status)) {
        windows.retain(|_, w| now.duration_since(w.logged_at) < QUIET);
    }
    match windows.get_mut(&(door.to_string(), status)) {
        Some(w) if now.duration_since(w.logged_at) < QUIET => {
            w.suppressed += 1;
            None
        }
        Some(w) => {
            let suppressed = w.suppressed;
            *w = Window {
                logged_at: now,
                suppressed: 0,
            };
            Some(suppressed)
        }
        None => {
            windows.insert(
                (door.to_string(), status),
                Window {
                    logged_at: now,
                    suppressed: 0,
                },
            );
            Some(0)
        }
    }
}

/// Middleware: logs each 4xx answer at warn, inside the request's span (its id, method and
/// path), naming the door (the route as written, so a token in a path never reaches the
/// log), the status and the reason.
pub async fn log_refusals(request: Request, next: Next) -> Response {
    // The route's shared text: cloning it allocates nothing on the requests that pass.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    if !status.is_client_error() {
        return response;
    }
    let door = route.as_ref().map_or("no such endpoint", |m| m.as_str());
    if let Some(suppressed) = admit(door, status.as_u16(), Instant::now()) {
        let reason = response
            .extensions()
            .get::<RefusalReason>()
            .map_or("no reason given", |r| r.0.as_str());
        let more = match suppressed {
            0 => String::new(),
            n => format!(
                " ({n} more like it in the last {} s were not logged)",
                QUIET.as_secs()
            ),
        };
        tracing::warn!(
            door = %door,
            status = status.as_u16(),
            suppressed,
            "refused {method} {door}: {status}: {reason}{more}"
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_refusals_is_logged_once_per_quiet_period_with_a_count() {
        let start = Instant::now();
        let door = "/test/flood";
        assert_eq!(admit(door, 401, start), Some(0));
        for i in 1..=500 {
            assert_eq!(admit(door, 401, start + Duration::from_millis(i)), None);
        }
        assert_eq!(
            admit(door, 400, start),
            Some(0),
            "another status has its own window"
        );
        assert_eq!(admit(door, 401, start + QUIET), Some(500));
        assert_eq!(admit(door, 401, start + QUIET + QUIET), Some(0));
    }
}
