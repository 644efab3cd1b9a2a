//! What one HTTP attempt came to: delivered, worth retrying (with the receiver's
//! `Retry-After`) or refused, with the receiver's own explanation or the transport's causes,
//! read within limits and scrubbed of the secret.

use super::retry::parse_retry_after;
use super::scrub::{redact, truncate_chars};
use super::{Attempt, Secret};
use chrono::Utc;
use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

/// How much of a receiver's error message goes into [`Attempt`]: enough to diagnose a bad
/// routing key, short enough for an event and a chat line.
pub(super) const ERROR_TEXT_MAX: usize = 300;
/// How much of an error response body is read at most; a misbehaving receiver must not make
/// us buffer megabytes just to quote 300 characters of it.
const BODY_READ_MAX: usize = 8 * 1024;

/// Turns a response into an [`Attempt`], reading the body only when it explains a failure.
pub(super) async fn classify(response: reqwest::Response, secret: Option<&Secret>) -> Attempt {
    let status = response.status();
    if status.is_success() {
        return Attempt::Delivered {
            status: status.as_u16(),
        };
    }
    failed(response, "", &receiver_message, secret).await
}

/// A reply that is not a success, classified: 5xx, 429 and 408 worth retrying with the
/// receiver's `Retry-After`, anything else refused (a redirect too, saying where it
/// pointed). The error text starts with `who` (`Twilio answered `, or nothing), then the
/// status, then what `explain` makes of the body; it never holds `secret`.
pub(super) async fn failed(
    response: reqwest::Response,
    who: &str,
    explain: &(dyn Fn(&str) -> String + Sync),
    secret: Option<&Secret>,
) -> Attempt {
    let status = response.status();
    let retryable = status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT;
    let retry_after = if retryable {
        response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()))
    } else {
        None
    };
    let location = status
        .is_redirection()
        .then(|| response.headers().get(reqwest::header::LOCATION).cloned())
        .flatten();
    let raw = read_limited(response).await;
    let mut detail = explain(&raw);
    if let Some(location) = location.as_ref().and_then(|l| l.to_str().ok()) {
        detail = format!("redirect to {} not followed; {detail}", where_to(location));
    }
    let head = match status.canonical_reason() {
        Some(reason) => format!("{who}HTTP {} {reason}", status.as_u16()),
        None => format!("{who}HTTP {}", status.as_u16()),
    };
    let error = if detail.is_empty() {
        head
    } else {
        format!("{head}: {detail}")
    };
    // Scrub before truncating so a cut can never leave a recognisable piece of the secret
    // that redaction would then miss.
    let error = truncate_chars(&redact(error, secret), ERROR_TEXT_MAX);
    if retryable {
        Attempt::Retryable {
            status: Some(status.as_u16()),
            error,
            retry_after,
        }
    } else {
        Attempt::Refused {
            status: status.as_u16(),
            error,
        }
    }
}

/// Reads at most [`BODY_READ_MAX`] bytes of the body; a read error just ends the text, since
/// the status already decided the outcome.
pub(super) async fn read_limited(mut response: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < BODY_READ_MAX {
        match response.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    buf.truncate(BODY_READ_MAX);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The useful part of an error body: PagerDuty's `{status, message, errors}` becomes
/// `message; error; error`, anything else is kept as one whitespace-collapsed line.
pub(super) fn receiver_message(raw: &str) -> String {
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(raw) {
        let mut parts: Vec<String> = Vec::new();
        if let Some(message) = map.get("message").and_then(Value::as_str) {
            parts.push(message.to_string());
        }
        if let Some(errors) = map.get("errors").and_then(Value::as_array) {
            parts.extend(errors.iter().map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }));
        }
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Describes a transport failure without the URL (a webhook URL may itself carry a token)
/// but with the causes, which say *why* ("Connection refused").
pub(super) fn describe_error(err: reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!("timeout: no response within {} ms", timeout.as_millis());
    }
    let what = if err.is_connect() {
        "connect error"
    } else {
        "request error"
    };
    let err = err.without_url();
    let mut text = format!("{what}: {err}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // hyper and reqwest often repeat the same message one layer down.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Where a redirect points, without what may be a credential: the user and password, the
/// query and the fragment are left out (only the pager's own secret would be redacted later).
pub(super) fn where_to(location: &str) -> String {
    match reqwest::Url::parse(location) {
        Ok(url) => {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}{}",
                url.scheme(),
                url.host_str().unwrap_or(""),
                url.path()
            )
        }
        // A relative location names no other host; its query is left out all the same.
        Err(_) => location.split(['?', '#']).next().unwrap_or("").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{accepted, fast_policy, page, pagerduty, requests, ROUTING_KEY};
    use super::super::{Notifier, PageAction};
    use super::*;
    use serde_json::json;
    use std::net::TcpListener;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn bad_request_is_refused_once_with_pagerduty_message() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": ["Length of 'routing_key' is incorrect (should be 32 characters)"],
            })))
            .expect(1)
            .mount(&server)
            .await;
        let mut calls = 0;
        let (last, n) = Notifier::new()
            .deliver(
                &pagerduty(server.uri()),
                &page(PageAction::Trigger),
                &fast_policy(5),
                |_, _| {
                    calls += 1;
                    async {}
                },
            )
            .await;
        assert_eq!(n, 1);
        assert_eq!(calls, 1);
        match last {
            Attempt::Refused { status, error } => {
                assert_eq!(status, 400);
                assert!(error.contains("Event object is invalid"), "{error}");
                assert!(error.contains("routing_key' is incorrect"), "{error}");
            }
            other => panic!("expected refused, got {other:?}"),
        }
        assert_eq!(requests(&server).await.len(), 1);
    }

    #[tokio::test]
    async fn slow_receiver_is_a_retryable_timeout() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(accepted().set_delay(Duration::from_secs(2)))
            .mount(&server)
            .await;
        let mut pager = pagerduty(server.uri());
        pager.timeout = Duration::from_millis(200);
        let started = std::time::Instant::now();
        let got = Notifier::new()
            .attempt(&pager, &page(PageAction::Trigger))
            .await;
        assert!(started.elapsed() < Duration::from_millis(1500));
        match got {
            Attempt::Retryable { status, error, .. } => {
                assert_eq!(status, None);
                assert!(error.contains("timeout"), "{error}");
            }
            other => panic!("expected retryable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn connection_refused_is_retryable() {
        // Bind then drop, so the port is (almost certainly) closed.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pager = pagerduty(format!("http://127.0.0.1:{port}/v2/enqueue"));
        let (last, n) = Notifier::new()
            .deliver(
                &pager,
                &page(PageAction::Trigger),
                &fast_policy(2),
                |_, _| async {},
            )
            .await;
        assert_eq!(n, 2);
        match last {
            Attempt::Retryable { status, error, .. } => {
                assert_eq!(status, None);
                assert!(error.starts_with("connect error"), "{error}");
                assert!(!error.contains(ROUTING_KEY));
            }
            other => panic!("expected retryable, got {other:?}"),
        }
    }
}
