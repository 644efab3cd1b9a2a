//! Keeps the calendar layers fed from URLs current while this instance leads: each is
//! fetched when leading starts and again every `refresh_minutes`; a changed calendar is
//! recorded, a failed fetch is logged (URL masked) and the last calendar stays in force.

use crate::app::Warroom;
use crate::clock::Clock;
use crate::config::CalendarFeedSource;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long after a failed fetch it is tried again, at most (sooner if its refresh is).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5 * 60);

/// Fetches every calendar URL of the configuration at once, then each again when its
/// refresh is due, until `stopped`.
pub(super) async fn refresh_calendars(
    warroom: Arc<Warroom>,
    clock: Clock,
    mut stopped: watch::Receiver<bool>,
) {
    // Each calendar URL with the schedule it feeds.
    let feeds: Vec<(&str, &CalendarFeedSource)> = warroom
        .settings()
        .schedules
        .iter()
        .flat_map(|(name, c)| c.feeds.iter().map(move |f| (name.as_str(), f)))
        .collect();
    if feeds.is_empty() {
        return;
    }
    let fetcher = crate::notify::calendars::CalendarFetcher::default();
    let mut due: Vec<tokio::time::Instant> = vec![tokio::time::Instant::now(); feeds.len()];
    loop {
        if *stopped.borrow() {
            return;
        }
        for (&(schedule, feed), due) in feeds.iter().zip(due.iter_mut()) {
            if *due > tokio::time::Instant::now() {
                continue;
            }
            // A fetch may take its whole timeout: a shutdown does not wait for it.
            let ok = tokio::select! {
                ok = refresh_one(&warroom, &fetcher, schedule, feed, &clock) => ok,
                _ = stopped.changed() => return,
            };
            let wait = if ok {
                feed.refresh
            } else {
                feed.refresh.min(RETRY_AFTER_FAILURE)
            };
            *due = tokio::time::Instant::now() + wait;
        }
        let next = due
            .iter()
            .min()
            .copied()
            .unwrap_or_else(tokio::time::Instant::now);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// Fetches one calendar and records it if it changed; false when it could not be used.
async fn refresh_one(
    warroom: &Warroom,
    fetcher: &crate::notify::calendars::CalendarFetcher,
    schedule: &str,
    feed: &CalendarFeedSource,
    clock: &Clock,
) -> bool {
    let text = match fetcher.fetch(feed.url.expose()).await {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!(
                schedule,
                layer = feed.layer + 1,
                url = %feed.shown,
                "could not fetch the layer's calendar, so the last one fetched stays in force: {e}"
            );
            return false;
        }
    };
    match warroom
        .calendar_fetched(schedule, feed.layer, &text, clock.now())
        .await
    {
        Ok(Ok(true)) => {
            tracing::info!(
                schedule,
                layer = feed.layer + 1,
                url = %feed.shown,
                "the layer's calendar changed: recorded, in force from now"
            );
            true
        }
        Ok(Ok(false)) => true,
        Ok(Err(problem)) => {
            tracing::warn!(
                schedule,
                layer = feed.layer + 1,
                url = %feed.shown,
                "the fetched calendar cannot be used, so the last one stays in force: {problem}"
            );
            false
        }
        Err(e) => {
            tracing::error!(
                schedule,
                "could not record the fetched calendar (trying again later): {e:#}"
            );
            false
        }
    }
}
