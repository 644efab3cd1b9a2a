//! The one clock the server reads "now" from: the HTTP doors, the escalation scheduler and
//! the job sweeper share it, so a test can pin the date and time of day instead of depending
//! on when the suite happens to run.

use chrono::{DateTime, Utc};

/// The wall clock as seen through tokio's clock: anchored at a wall time, it advances with
/// `tokio::time` (so paused time in a test moves it too), and a test anchored at a fixed time
/// sees the same weekday and hour on every run.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: DateTime<Utc>,
    instant: tokio::time::Instant,
}

impl Clock {
    /// The real time, from now on.
    pub fn start() -> Clock {
        Clock::starting_at(Utc::now())
    }

    /// A clock that reads `wall` now and advances from there: what a test uses to run at a
    /// chosen weekday and hour.
    pub fn starting_at(wall: DateTime<Utc>) -> Clock {
        Clock {
            wall,
            instant: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.instant;
        self.wall + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_clock_started_at_a_time_reads_it_and_advances_from_there() {
        let at = DateTime::parse_from_rfc3339("2021-03-06T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Clock::starting_at(at);
        assert!(clock.now() - at < chrono::Duration::seconds(1));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let later = clock.now() - at;
        assert!(
            later >= chrono::Duration::milliseconds(20) && later < chrono::Duration::seconds(5),
            "{later}"
        );
    }
}
