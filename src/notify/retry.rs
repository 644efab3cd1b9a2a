//! When to try a page again: exponential, jittered delays between attempts, a receiver's
//! `Retry-After` honoured up to a ceiling, and when to give up.

use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;

/// When to try again after a retryable failure, and when to give up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt (before jitter).
    pub base_delay: Duration,
    /// Ceiling on the exponential delay.
    pub max_delay: Duration,
    /// Ceiling on a receiver's `Retry-After`: a page waiting an hour is no page.
    pub max_retry_after: Duration,
    /// How long past the latest moment its deliverer would have recorded an attempt a page
    /// waits before the leader takes it over (its deliverer died): covers a slow store and
    /// clock skew between instances.
    pub takeover_grace: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 1 s base, 60 s ceiling, `Retry-After` honoured up to 300 s, pages of a
    /// dead deliverer taken over 30 s after they were due.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
            takeover_grace: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt `next` (2, 3, …) after a retryable failure: exponential
    /// (`base * 2^(next-2)`) capped at `max_delay`, with jitter (uniform in `[d/2, d]`) so many
    /// instances do not retry in lock-step; a `Retry-After`, when given, is used instead
    /// (capped at `max_retry_after`). `None` when `next > max_attempts`: give up.
    /// `next` of 0 or 1 is the first attempt, which needs no delay.
    pub fn delay_before(&self, next: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if next > self.max_attempts {
            return None;
        }
        if next <= 1 {
            return Some(Duration::ZERO);
        }
        // The receiver knows its own load better than our backoff does.
        if let Some(asked) = retry_after {
            return Some(asked.min(self.max_retry_after));
        }
        // Saturating all the way: a huge `next` must land on the cap, not overflow.
        let factor = 2u32.saturating_pow(next - 2);
        let full = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let half = full / 2;
        if half >= full {
            return Some(full);
        }
        Some(rand::thread_rng().gen_range(half..=full))
    }
}

/// `Retry-After` is delta-seconds or an HTTP-date (RFC 9110 §10.2.3); a date in the past
/// means "now". Anything unparseable is ignored and the backoff applies.
pub(super) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is a subset of RFC 2822.
    let when = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{page, pagerduty};
    use super::super::{Attempt, Notifier, PageAction};
    use super::*;
    use chrono::TimeZone;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn too_many_requests_honours_retry_after() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
            .mount(&server)
            .await;
        let got = Notifier::new()
            .attempt(&pagerduty(server.uri()), &page(PageAction::Trigger))
            .await;
        let Attempt::Retryable {
            status,
            retry_after,
            ..
        } = got
        else {
            panic!("expected retryable, got {got:?}");
        };
        assert_eq!(status, Some(429));
        assert_eq!(retry_after, Some(Duration::from_secs(1)));
        assert_eq!(
            RetryPolicy::default().delay_before(2, retry_after),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn delay_grows_is_capped_and_jittered_within_bounds() {
        let policy = RetryPolicy {
            max_attempts: 20,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(3),
            ..Default::default()
        };
        let ms = Duration::from_millis;
        // (next, uncapped-or-capped full delay)
        for (next, full) in [
            (2, 100),
            (3, 200),
            (4, 400),
            (5, 800),
            (6, 1000),
            (12, 1000),
        ] {
            let mut distinct = std::collections::HashSet::new();
            for _ in 0..200 {
                let d = policy.delay_before(next, None).unwrap();
                assert!(
                    d >= ms(full) / 2 && d <= ms(full),
                    "next {next}: {d:?} outside [{}, {full}] ms",
                    full / 2
                );
                distinct.insert(d);
            }
            assert!(distinct.len() > 1, "next {next}: no jitter");
        }
        // Huge exponents saturate to the cap instead of overflowing.
        let open_ended = RetryPolicy {
            max_attempts: u32::MAX,
            ..policy.clone()
        };
        assert!(open_ended.delay_before(u32::MAX, None).unwrap() <= ms(1000));
    }

    #[test]
    fn delay_gives_up_after_max_attempts() {
        let policy = RetryPolicy::default();
        assert!(policy.delay_before(5, None).is_some());
        assert_eq!(policy.delay_before(6, None), None);
        assert_eq!(policy.delay_before(6, Some(Duration::from_secs(1))), None);
        assert_eq!(policy.delay_before(1, None), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_replaces_backoff_and_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay_before(3, Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            policy.delay_before(2, Some(Duration::from_secs(3600))),
            Some(Duration::from_secs(300))
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap();
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
