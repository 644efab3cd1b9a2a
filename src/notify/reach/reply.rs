//! What an HTTP provider's reply came to, by the same rules as a pager's (5xx, 429 and 408
//! worth retrying with the provider's `Retry-After`, other statuses refused, redirects not
//! followed), plus the id of what it accepted, read from the JSON a success carries.

use super::super::outcome::{failed, read_limited, receiver_message, ERROR_TEXT_MAX};
use super::super::scrub::{redact, truncate_chars};
use super::{Attempt, Secret, Sent};
use serde_json::{Map, Value};

/// The longest provider id kept; Twilio's SIDs are 34 characters, ntfy's ids 12.
const PROVIDER_REF_MAX: usize = 128;

/// How one provider shapes its replies.
pub(super) struct Shape {
    /// The provider's name, for error text: `Twilio`, `ntfy`.
    pub name: &'static str,
    /// The field of a success body that names what was accepted: `sid`, `id`.
    pub id_field: &'static str,
    /// The provider's explanation in an error body, when the body has its shape.
    pub explain: fn(&Map<String, Value>) -> Option<String>,
}

/// Turns a response into a [`Sent`]; the error text never holds `secret`.
pub(super) async fn classify(
    response: reqwest::Response,
    shape: &Shape,
    secret: Option<&Secret>,
) -> Sent {
    let status = response.status();
    if status.is_success() {
        // Accepted: a body we cannot read only costs the id, never the outcome.
        let raw = read_limited(response).await;
        let provider_ref = serde_json::from_str::<Value>(&raw)
            .ok()
            .and_then(|body| {
                body.get(shape.id_field)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .filter(|id| {
                !id.is_empty()
                    && id.chars().count() <= PROVIDER_REF_MAX
                    && !id.chars().any(char::is_control)
            });
        return Sent {
            attempt: Attempt::Delivered {
                status: status.as_u16(),
            },
            provider_ref,
        };
    }
    let explain = |raw: &str| {
        match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(map)) => (shape.explain)(&map),
            _ => None,
        }
        .unwrap_or_else(|| receiver_message(raw))
    };
    let who = format!("{} answered ", shape.name);
    Sent {
        attempt: failed(response, &who, &explain, secret).await,
        provider_ref: None,
    }
}

/// A request that got no reply (connect error, timeout), as a retryable attempt.
pub(super) fn unanswered(
    provider: &str,
    err: reqwest::Error,
    timeout: std::time::Duration,
    secret: Option<&Secret>,
) -> Sent {
    let error = format!(
        "{provider}: {}",
        super::super::outcome::describe_error(err, timeout)
    );
    Sent {
        attempt: Attempt::Retryable {
            status: None,
            error: truncate_chars(&redact(error, secret), ERROR_TEXT_MAX),
            retry_after: None,
        },
        provider_ref: None,
    }
}

/// `{code} {text} (more: {link})`, from a provider's numbered error.
pub(super) fn numbered(code: Option<&Value>, text: Option<&str>, link: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(code) = code.filter(|c| !c.is_null()) {
        out.push_str("error ");
        out.push_str(&match code {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        out.push_str(": ");
    }
    out.push_str(text.unwrap_or("(no message)"));
    if let Some(link) = link.filter(|l| !l.is_empty()) {
        out.push_str(" (see ");
        out.push_str(link);
        out.push(')');
    }
    out
}
