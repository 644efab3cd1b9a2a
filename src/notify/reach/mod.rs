//! Reaching one person directly: one notification by email (SMTP), SMS or voice call
//! (Twilio) or push (ntfy), one attempt at a time, classified like a pager's attempt and
//! carrying the provider's id for what it accepted, so that its later status callbacks can
//! be matched. Whom to reach, when, and how often to try is the caller's business.

mod email;
mod ntfy;
mod reply;
mod smtp_error;
#[cfg(test)]
mod tests;
pub mod twilio;
mod twiml;

use std::sync::Arc;

pub use crate::app::paging::transport::Attempt;
use crate::secret::Secret;

/// Where one notification goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// An email address, `alice@example.com` or `Alice <alice@example.com>`.
    Email(String),
    /// A mobile number in E.164 form (`+14155550100`), texted through Twilio.
    Sms(String),
    /// A number in E.164 form, called through Twilio.
    Voice(String),
    /// An ntfy topic on the configured ntfy server.
    Push(String),
}

impl Address {
    /// The channel's name for logs and events: `email`, `sms`, `voice` or `push`.
    pub fn channel(&self) -> &'static str {
        match self {
            Address::Email(_) => "email",
            Address::Sms(_) => "sms",
            Address::Voice(_) => "voice",
            Address::Push(_) => "push",
        }
    }
}

/// What to tell the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Incident reference, e.g. `INC-7`.
    pub incident: String,
    /// The incident's title: chat text, untrusted, may contain anything (markup, newlines).
    pub title: String,
    /// `sev1` to `sev4`.
    pub severity: String,
    /// One line, e.g. `INC-7 sev1 Database down: you are paged (step 1 of 'all-points')`.
    pub summary: String,
    /// Signed single-use link to a confirm page (GET shows it, POST acknowledges); email,
    /// SMS and push carry it.
    pub ack_url: Option<String>,
    /// Where Twilio posts the keypress of the voice call (`<Gather action=...>`).
    pub voice_ack_url: Option<String>,
}

/// The providers as `[notifications]` configures them.
pub use crate::config::notifications::{EmailServer, Ntfy, Providers, SmtpTls, Twilio};

/// One attempt's outcome plus the provider's id for what it accepted (Twilio's Message or
/// Call SID, ntfy's message id, the email's Message-ID), so later status callbacks can be
/// matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub attempt: Attempt,
    pub provider_ref: Option<String>,
}

impl Sent {
    /// An attempt refused before anything was sent (status 0: no provider answered).
    fn refused(error: String) -> Sent {
        Sent {
            attempt: Attempt::Refused { status: 0, error },
            provider_ref: None,
        }
    }
}

/// Sends notifications. Cheap to clone: clones share one HTTP client and one SMTP
/// connection pool.
#[derive(Clone, Debug)]
pub struct Reacher {
    client: reqwest::Client,
    email: Option<Arc<email::Mailer>>,
    twilio: Option<Twilio>,
    ntfy: Option<Ntfy>,
}

impl Reacher {
    /// A reacher over `client`, which must not follow redirects
    /// (`reqwest::redirect::Policy::none()`): a provider that redirects is misconfigured, and
    /// following one would replay the auth token to wherever it points. Fails, naming the
    /// setting, only when a provider cannot be set up: the CA file does not read or holds no
    /// PEM certificate, the sender is not an address, a URL does not parse.
    ///
    /// The SMTP pool is made on the first email, inside the Tokio runtime that sends it, so
    /// this may be called outside one.
    pub fn new(client: reqwest::Client, providers: Providers) -> anyhow::Result<Reacher> {
        let email = match providers.email {
            Some(server) => Some(Arc::new(email::Mailer::new(server)?)),
            None => None,
        };
        if let Some(twilio) = &providers.twilio {
            twilio::check(twilio)?;
        }
        if let Some(ntfy) = &providers.ntfy {
            ntfy::check(ntfy)?;
        }
        Ok(Reacher {
            client,
            email,
            twilio: providers.twilio,
            ntfy: providers.ntfy,
        })
    }

    /// One attempt, classified. An address whose provider is not configured is refused
    /// (status 0) with a message saying what to configure; so is an address that is not of
    /// its channel's form. Retrying is the caller's business: an SMS or a call retried after
    /// a timeout may reach the person twice, since Twilio may have accepted the first.
    pub async fn send(&self, to: &Address, notice: &Notice) -> Sent {
        let sent = match (to, &self.email, &self.twilio, &self.ntfy) {
            (Address::Email(address), Some(mailer), _, _) => mailer.send(address, notice).await,
            (Address::Email(_), None, _, _) => Sent::refused(
                "no [notifications.email] server is configured; set host, port and from there \
                 to send email"
                    .into(),
            ),
            (Address::Sms(number), _, Some(account), _) => {
                twilio::send_sms(&self.client, account, number, notice).await
            }
            (Address::Voice(number), _, Some(account), _) => {
                twilio::call(&self.client, account, number, notice).await
            }
            (Address::Sms(_) | Address::Voice(_), _, None, _) => Sent::refused(format!(
                "no [notifications.twilio] account is configured; set account_sid, auth_token \
                 and from there to {}",
                if to.channel() == "sms" {
                    "send SMS"
                } else {
                    "place voice calls"
                }
            )),
            (Address::Push(topic), _, _, Some(server)) => {
                ntfy::publish(&self.client, server, topic, notice).await
            }
            (Address::Push(_), _, _, None) => Sent::refused(
                "no [notifications.ntfy] server is configured; set url there (\"https://ntfy.sh\" \
                 or your own server) to send push notifications"
                    .into(),
            ),
        };
        // The address (a person's email or phone number) is not logged; the incident, the
        // channel and the provider's id are enough to find the attempt.
        let channel = to.channel();
        let provider_ref = sent.provider_ref.as_deref().unwrap_or("");
        match &sent.attempt {
            Attempt::Delivered { status } => tracing::info!(
                channel, incident = %notice.incident, provider_ref, status, "notification sent"
            ),
            Attempt::Retryable { status, error, .. } => tracing::warn!(
                channel, incident = %notice.incident, ?status, %error,
                "notification attempt failed, retryable"
            ),
            Attempt::Refused { status, error } => tracing::error!(
                channel, incident = %notice.incident, status, %error, "notification refused"
            ),
        }
        sent
    }
}

impl Reacher {
    /// Tells a person something outside any incident (a hand-over): a plain email, SMS or
    /// push, no link. A call is refused: nobody is rung for a hand-over.
    pub async fn tell(&self, to: &Address, subject: &str, text: &str) -> Sent {
        let sent = match (to, &self.email, &self.twilio, &self.ntfy) {
            (Address::Email(address), Some(mailer), _, _) => {
                mailer.send_plain(address, subject, text).await
            }
            (Address::Sms(number), _, Some(account), _) => {
                twilio::send_plain_sms(&self.client, account, number, subject, text).await
            }
            (Address::Push(topic), _, _, Some(server)) => {
                ntfy::publish_plain(&self.client, server, topic, subject, text).await
            }
            (Address::Voice(_), _, _, _) => {
                Sent::refused("a plain message is not worth a phone call".into())
            }
            _ => Sent::refused(format!(
                "no provider is configured for {}; see [notifications] in docs/notifications.md",
                to.channel()
            )),
        };
        let channel = to.channel();
        match &sent.attempt {
            Attempt::Delivered { .. } => tracing::info!(channel, %subject, "message sent"),
            Attempt::Retryable { error, .. } | Attempt::Refused { error, .. } => {
                tracing::warn!(channel, %subject, %error, "message not sent")
            }
        }
        sent
    }
}

/// `text` as one line of at most `max` characters: control characters and line or
/// paragraph separators (a title is chat text) become spaces, runs of spaces one. What goes
/// into a header, a subject or a spoken sentence can then never start a new line of it.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let spaced: String = text
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let joined = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    super::scrub::truncate_chars(&joined, max)
}

/// Whether `number` is E.164: `+`, a country code not starting with 0, at most 15 digits.
fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn one_line_keeps_a_title_on_one_line_and_within_bounds() {
        assert_eq!(
            one_line("Database\r\ndown\u{2028}Bcc: x@evil.test\t!", 100),
            "Database down Bcc: x@evil.test !"
        );
        let long = one_line(&"é".repeat(500), 120);
        assert_eq!(long.chars().count(), 120);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn e164_numbers_only() {
        assert!(is_e164("+14155550100"));
        assert!(is_e164("+447700900123"));
        for bad in [
            "14155550100",
            "+0123456789",
            "+1 415 555 0100",
            "+1",
            "+1234567890123456",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}
