//! The pauses after failed polls and reports: exponential, capped, jittered.

use super::Tuning;
use rand::Rng;
use std::time::Duration;

/// Exponential backoff with jitter: each pause is between half and all of the current
/// step, so many agents that lost the server at once do not return all at once.
pub(super) struct Backoff {
    /// The first step.
    first: Duration,
    /// The largest step.
    max: Duration,
    /// The next step.
    step: Duration,
}

impl Backoff {
    pub(super) fn new(tuning: &Tuning) -> Backoff {
        Backoff {
            first: tuning.backoff_first,
            max: tuning.backoff_max.max(tuning.backoff_first),
            step: tuning.backoff_first,
        }
    }

    pub(super) fn next(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(self.max);
        let low = step / 2;
        if low >= step {
            return step;
        }
        rand::thread_rng().gen_range(low..=step)
    }

    pub(super) fn reset(&mut self) {
        self.step = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::fast;
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap_and_resets() {
        let mut tuning = fast();
        tuning.backoff_first = Duration::from_secs(1);
        tuning.backoff_max = Duration::from_secs(60);
        let mut backoff = Backoff::new(&tuning);
        for step in [1, 2, 4, 8, 16, 32, 60, 60] {
            let wait = backoff.next();
            let step = Duration::from_secs(step);
            assert!(
                wait >= step / 2 && wait <= step,
                "{wait:?} for a step of {step:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next() <= Duration::from_secs(1));
    }
}
