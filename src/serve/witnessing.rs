//! The checkpointer `warroom serve` runs: signs the ledger's head at start, as it grows, at
//! each incident close and at the stop, and hands each checkpoint to every witness (the
//! file, the log, the metrics, the announcement channel). What a checkpoint is lives in
//! [`crate::witness`].

use crate::app::{Notice, Warroom};
use crate::witness::{append, Checkpoint, WitnessKey, WitnessSettings};
use chrono::{SecondsFormat, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the checkpointer looks at the head.
const LOOK: Duration = Duration::from_secs(1);

/// Writes checkpoints while `warroom serve` runs: at start, whenever the ledger grew by
/// `every_events` or `every` passed since the last (and it grew), at each incident close
/// (also announced in chat), and once more when `stopped` turns true.
pub async fn keep_witnessing(
    warroom: Arc<Warroom>,
    settings: WitnessSettings,
    key: WitnessKey,
    mut stopped: watch::Receiver<bool>,
) {
    let mut closes = warroom.incident_closes();
    let mut close_seen = false;
    let mut witnessed = 0_i64;
    let mut last_at = tokio::time::Instant::now();
    loop {
        let stopping = *stopped.borrow();
        if closes.has_changed().unwrap_or(false) {
            closes.borrow_and_update();
            close_seen = true;
        }
        let closed = std::mem::take(&mut close_seen);
        // The head known in memory says whether a checkpoint is due; the store is asked only
        // then, for the head's hash.
        let head = warroom.ledger().known_head();
        let due = head > witnessed
            && (witnessed == 0
                || stopping
                || closed
                || head - witnessed >= settings.every_events
                || last_at.elapsed() >= settings.every);
        if due {
            match warroom.ledger().last().await {
                Ok((position, hash)) => {
                    let checkpoint = Checkpoint::sign(&key, position, &hash, Utc::now());
                    publish(&warroom, &settings, &checkpoint, closed).await;
                    witnessed = position;
                    last_at = tokio::time::Instant::now();
                }
                Err(e) => tracing::warn!("could not read the ledger's head for a checkpoint: {e}"),
            }
        }
        if stopping {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(LOOK) => {}
            changed = closes.changed() => match changed {
                Ok(()) => close_seen = true,
                // The application is going away: nothing more will close.
                Err(_) => tokio::time::sleep(LOOK).await,
            },
            _ = stopped.changed() => {}
        }
    }
}

/// Sends a checkpoint to every witness: the file, the log, the metrics, and — at an
/// incident close — the announcement channel.
async fn publish(
    warroom: &Warroom,
    settings: &WitnessSettings,
    checkpoint: &Checkpoint,
    close: bool,
) {
    if let Some(path) = settings.file.clone() {
        let line = checkpoint.clone();
        let file = path.display().to_string();
        match tokio::task::spawn_blocking(move || append(&path, &line)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(
                %file,
                "could not write the ledger checkpoint to the witness file: {e}"
            ),
            Err(e) => tracing::error!("the witness file writer failed: {e}"),
        }
    }
    tracing::info!(
        position = checkpoint.position,
        hash = %checkpoint.hash,
        at = %checkpoint.at.to_rfc3339_opts(SecondsFormat::Secs, true),
        key = %checkpoint.key,
        signature = %checkpoint.signature,
        "ledger checkpoint"
    );
    crate::metrics::get().checkpoint(checkpoint.position, &checkpoint.hash, &checkpoint.signature);
    if close {
        warroom.notify(Notice::Checkpoint {
            text: checkpoint.announcement(),
        });
    }
}
