//! The agent's stop signal: whether it was given, a future that resolves when it is, and a
//! pause that it cuts short.

use std::time::Duration;
use tokio::sync::watch;

/// Whether the agent should stop; a dropped sender counts, as nobody could stop it then.
pub(super) fn is_stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Resolves when the agent should stop.
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: treated as a stop.
    let _ = stop.wait_for(|s| *s).await;
}

/// Sleeps `wait`; true when the agent was told to stop meanwhile.
pub(super) async fn pause(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if is_stopped(stop) {
        return true;
    }
    tokio::select! {
        biased;
        _ = stopped(stop) => true,
        _ = tokio::time::sleep(wait) => false,
    }
}
