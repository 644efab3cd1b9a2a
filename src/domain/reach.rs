//! Reaching a person directly: their contact methods (email, SMS, voice, push) and their
//! notification rules (which method how many minutes after a page), and which rules of a
//! page fall due when. Pure: the senders live in `notify::reach`, the timing in the app.

use chrono::{DateTime, Duration, Utc};
use std::fmt;

/// A way of reaching one person besides chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Email,
    Sms,
    Voice,
    Push,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::Email, Method::Sms, Method::Voice, Method::Push];

    /// The name used in the configuration and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Email => "email",
            Method::Sms => "sms",
            Method::Voice => "voice",
            Method::Push => "push",
        }
    }

    /// Reads a method name as written in the configuration.
    pub fn parse(text: &str) -> Result<Method, String> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| format!("unknown method '{text}'; use email, sms, voice or push"))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One notification rule: notify by `method` once `after` has passed since the page, unless
/// the incident was acknowledged by then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub method: Method,
    pub after_minutes: u32,
}

impl Rule {
    pub fn after(&self) -> Duration {
        Duration::minutes(i64::from(self.after_minutes))
    }
}

/// The longest a rule may wait after its page: a rule later than this is an escalation
/// step's job, and the read model forgets a page's rules after [`RULES_KEPT`].
pub const LONGEST_WAIT_MINUTES: u32 = 60;

/// How long after a page its rules are kept in the read model: the longest wait plus the
/// time a notification may take to be delivered.
pub const RULES_KEPT: Duration = Duration::minutes(LONGEST_WAIT_MINUTES as i64 + 60);

/// How to reach one person: their addresses and their rules in order of waiting time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactMethods {
    pub email: Option<String>,
    /// E.164 number, for SMS and voice.
    pub phone: Option<String>,
    /// ntfy topic.
    pub push_topic: Option<String>,
    pub rules: Vec<Rule>,
    /// Methods that also carry the person's on-call hand-overs (opt-in).
    pub handoffs: Vec<Method>,
}

impl ContactMethods {
    /// The address a method sends to, when the person has one for it.
    pub fn address(&self, method: Method) -> Option<&str> {
        match method {
            Method::Email => self.email.as_deref(),
            Method::Sms | Method::Voice => self.phone.as_deref(),
            Method::Push => self.push_topic.as_deref(),
        }
    }

    /// The rules of a page made at `paged_at` that are due at `now` and not yet asked for.
    pub fn due(
        &self,
        paged_at: DateTime<Utc>,
        now: DateTime<Utc>,
        asked: impl Fn(u32) -> bool,
    ) -> Vec<(u32, Rule)> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u32, *r))
            .filter(|(i, r)| paged_at + r.after() <= now && !asked(*i))
            .collect()
    }

    /// When the next rule of a page made at `paged_at` not yet asked for falls due.
    pub fn next_due(
        &self,
        paged_at: DateTime<Utc>,
        asked: impl Fn(u32) -> bool,
    ) -> Option<DateTime<Utc>> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(i, _)| !asked(*i as u32))
            .map(|(_, r)| paged_at + r.after())
            .min()
    }
}

/// The key of one notification in events and links: the page's dedup key and the rule.
pub fn notification_key(dedup_key: &str, rule: u32) -> String {
    format!("{dedup_key}#{rule}")
}

/// Reads a notification key back into the page's dedup key and the rule.
pub fn split_notification_key(key: &str) -> Option<(&str, u32)> {
    let (dedup_key, rule) = key.rsplit_once('#')?;
    Some((dedup_key, rule.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn methods() -> ContactMethods {
        ContactMethods {
            email: Some("r@example.com".into()),
            phone: Some("+15550100".into()),
            push_topic: None,
            rules: vec![
                Rule {
                    method: Method::Push,
                    after_minutes: 0,
                },
                Rule {
                    method: Method::Sms,
                    after_minutes: 2,
                },
                Rule {
                    method: Method::Voice,
                    after_minutes: 5,
                },
            ],
            handoffs: vec![],
        }
    }

    #[test]
    fn rules_fall_due_in_their_minutes_and_once() {
        let paged = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let m = methods();
        let due = |mins: i64, asked: &[u32]| {
            m.due(paged, paged + Duration::minutes(mins), |i| {
                asked.contains(&i)
            })
            .into_iter()
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
        };
        assert_eq!(due(0, &[]), vec![0]);
        assert_eq!(due(1, &[0]), Vec::<u32>::new());
        assert_eq!(due(2, &[0]), vec![1]);
        assert_eq!(due(9, &[0]), vec![1, 2]);
        assert_eq!(due(9, &[0, 1, 2]), Vec::<u32>::new());
        assert_eq!(
            m.next_due(paged, |i| i == 0),
            Some(paged + Duration::minutes(2))
        );
        assert_eq!(m.next_due(paged, |_| true), None);
    }

    #[test]
    fn addresses_and_keys() {
        let m = methods();
        assert_eq!(m.address(Method::Voice), Some("+15550100"));
        assert_eq!(m.address(Method::Push), None);
        assert_eq!(Method::parse(" SMS "), Ok(Method::Sms));
        assert!(Method::parse("pigeon")
            .unwrap_err()
            .contains("email, sms, voice or push"));
        let key = notification_key("inc-7/e1/s1/@rpark", 2);
        assert_eq!(
            split_notification_key(&key),
            Some(("inc-7/e1/s1/@rpark", 2))
        );
        assert_eq!(split_notification_key("nohash"), None);
    }
}
