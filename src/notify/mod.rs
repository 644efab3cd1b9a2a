//! Delivering pages to outside pagers (PagerDuty Events API v2, signed JSON webhooks) over
//! HTTP: one attempt at a time, classified as delivered, worth retrying or refused, plus the
//! retry delays between attempts. The caller decides when to page and records every attempt.

pub mod worker;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;

/// PagerDuty refuses a `payload.summary` longer than this.
const PAGERDUTY_SUMMARY_MAX: usize = 1024;
/// How much of a receiver's error message goes into [`Attempt`]: enough to diagnose a bad
/// routing key, short enough for an event and a chat line.
const ERROR_TEXT_MAX: usize = 300;
/// How much of an error response body is read at most; a misbehaving receiver must not make
/// us buffer megabytes just to quote 300 characters of it.
const BODY_READ_MAX: usize = 8 * 1024;
/// Header carrying a webhook's HMAC, so the receiver can tell the page came from us.
pub const SIGNATURE_HEADER: &str = "X-Warroom-Signature";
/// Header carrying `<dedup_key>-<action>`, so a webhook receiver can drop repeats.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

pub use crate::app::paging::transport::{Attempt, ChatPager, Page, PageAction};
pub use crate::config::PagerKind;
pub use crate::secret::Secret;

/// One configured outside pager.
#[derive(Debug, Clone)]
pub struct Pager {
    /// Name for logs and events, e.g. `pagerduty-networking`.
    pub name: String,
    /// Endpoint the page is POSTed to.
    pub url: String,
    /// Body format and credentials.
    pub kind: PagerKind,
    /// Limit on one whole attempt: connect, send, and the response head.
    pub timeout: Duration,
}

impl Pager {
    /// The pager as the notifier sends to it, from its checked settings.
    pub fn from_settings(settings: &crate::config::PagerSettings) -> Pager {
        Pager {
            name: settings.name.clone(),
            url: settings.url.clone(),
            kind: settings.kind.clone(),
            timeout: settings.timeout,
        }
    }
}

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

/// Sends pages. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: reqwest::Client,
    /// Delivers pages of `PagerKind::Chat` pagers, when a chat front end runs.
    chat: Option<std::sync::Arc<dyn ChatPager>>,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier::new()
    }
}

impl Notifier {
    /// A notifier with its own HTTP client, user agent `warroom/<version>`. Redirects are not
    /// followed: a pager endpoint that redirects is misconfigured, and following a 307/308
    /// would replay the routing key or signed body to whatever host the redirect names.
    pub fn new() -> Notifier {
        let client = reqwest::Client::builder()
            .user_agent(concat!("warroom/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            // Only fails if the TLS backend cannot initialise, which is a broken build, not
            // a condition to handle at run time.
            .expect("building the HTTP client for pagers");
        Notifier { client, chat: None }
    }

    /// A notifier over a client the caller built (proxies, extra roots, ...).
    pub fn with_client(client: reqwest::Client) -> Notifier {
        Notifier { client, chat: None }
    }

    /// Pages of chat pagers go through `chat` from now on.
    pub fn with_chat(mut self, chat: std::sync::Arc<dyn ChatPager>) -> Notifier {
        self.chat = Some(chat);
        self
    }

    /// One attempt: build the body for the pager's kind, POST it with the pager's timeout,
    /// classify the outcome.
    pub async fn attempt(&self, pager: &Pager, page: &Page) -> Attempt {
        let secret = pager.kind.secret();
        let attempt = if let PagerKind::Chat = pager.kind {
            match &self.chat {
                Some(chat) => chat.page(page).await,
                None => Attempt::Retryable {
                    status: None,
                    error: "Discord is off (no bot token), so this pager cannot page".into(),
                    retry_after: None,
                },
            }
        } else {
            match self.send(pager, page).await {
                Ok(response) => classify(response, secret).await,
                Err(err) => Attempt::Retryable {
                    status: None,
                    error: redact(describe_error(err, pager.timeout), secret),
                    retry_after: None,
                },
            }
        };
        // Name, incident and dedup key identify the page; the body (with the routing key)
        // is never logged.
        match &attempt {
            Attempt::Delivered { status } => tracing::info!(
                pager = %pager.name, incident = %page.incident, dedup_key = %page.dedup_key,
                action = %page.action, status, "page delivered"
            ),
            Attempt::Retryable { status, error, .. } => tracing::warn!(
                pager = %pager.name, incident = %page.incident, dedup_key = %page.dedup_key,
                action = %page.action, ?status, %error, "page attempt failed, retryable"
            ),
            Attempt::Refused { status, error } => tracing::error!(
                pager = %pager.name, incident = %page.incident, dedup_key = %page.dedup_key,
                action = %page.action, status, %error, "page refused by receiver"
            ),
        }
        attempt
    }

    /// Attempts until delivered, refused, or the policy gives up; awaits `on_attempt(n,
    /// &attempt)` after every attempt (so the caller can record it durably before the next),
    /// sleeping with `tokio::time::sleep` between attempts. Returns the last attempt and how
    /// many were made. At least one attempt is made even if `max_attempts` is 0.
    ///
    /// The future `on_attempt` returns cannot borrow the `&Attempt`; clone what it needs.
    pub async fn deliver<F, Fut>(
        &self,
        pager: &Pager,
        page: &Page,
        policy: &RetryPolicy,
        mut on_attempt: F,
    ) -> (Attempt, u32)
    where
        F: FnMut(u32, &Attempt) -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut n = 1;
        loop {
            let attempt = self.attempt(pager, page).await;
            on_attempt(n, &attempt).await;
            let retry_after = match &attempt {
                Attempt::Retryable { retry_after, .. } => *retry_after,
                Attempt::Delivered { .. } | Attempt::Refused { .. } => return (attempt, n),
            };
            let Some(delay) = policy.delay_before(n + 1, retry_after) else {
                return (attempt, n);
            };
            tokio::time::sleep(delay).await;
            n += 1;
        }
    }

    async fn send(&self, pager: &Pager, page: &Page) -> Result<reqwest::Response, reqwest::Error> {
        // Serialise once: the signature must cover exactly the bytes that go on the wire.
        let body = serde_json::to_vec(&body_for(&pager.kind, page))
            .expect("a JSON value always serialises");
        let mut request = self
            .client
            .post(&pager.url)
            .timeout(pager.timeout)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let PagerKind::Webhook { secret } = &pager.kind {
            request = request.header(
                IDEMPOTENCY_HEADER,
                format!("{}-{}", page.dedup_key, page.action.as_str()),
            );
            if let Some(secret) = secret {
                request = request.header(SIGNATURE_HEADER, secret.sign(&body));
            }
        }
        request.body(body).send().await
    }
}

/// The exact JSON body sent for a page (public so tests and docs can show it).
pub fn body_for(kind: &PagerKind, page: &Page) -> Value {
    match kind {
        PagerKind::PagerDuty { routing_key } => {
            if page.action != PageAction::Trigger {
                // Acknowledge and resolve only name the alert; PagerDuty ignores a payload.
                return json!({
                    "routing_key": routing_key.expose(),
                    "event_action": page.action.as_str(),
                    "dedup_key": page.dedup_key,
                });
            }
            json!({
                "routing_key": routing_key.expose(),
                "event_action": page.action.as_str(),
                "dedup_key": page.dedup_key,
                "payload": {
                    "summary": truncate_bytes(&page.summary, PAGERDUTY_SUMMARY_MAX),
                    "source": "warroom",
                    "severity": pagerduty_severity(&page.severity),
                    "timestamp": rfc3339(page.at),
                    "component": page.incident,
                    "group": page.target,
                    "class": "incident page",
                    "custom_details": {
                        "incident": page.incident,
                        "title": page.title,
                        "target": page.target,
                        "message": page.message,
                    },
                },
            })
        }
        // A chat pager posts text, not JSON; this is what it is told, for the docs and logs.
        PagerKind::Webhook { .. } | PagerKind::Chat => json!({
            "version": 1,
            "dedup_key": page.dedup_key,
            "action": page.action.as_str(),
            "incident": page.incident,
            "title": page.title,
            "summary": page.summary,
            "severity": page.severity,
            "target": page.target,
            "message": page.message,
            "at": rfc3339(page.at),
        }),
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// PagerDuty rejects any severity outside its four with a 400, which would turn a typo into a
/// missed page; an unknown one is sent as `critical` because over-paging beats not paging.
fn pagerduty_severity(severity: &str) -> &'static str {
    match severity.trim().to_ascii_lowercase().as_str() {
        "critical" => "critical",
        "error" => "error",
        "warning" => "warning",
        "info" => "info",
        other => {
            tracing::warn!(
                severity = other,
                "unknown PagerDuty severity, sending critical"
            );
            "critical"
        }
    }
}

/// Turns a response into an [`Attempt`], reading the body only when it explains a failure.
async fn classify(response: reqwest::Response, secret: Option<&Secret>) -> Attempt {
    let status = response.status();
    if status.is_success() {
        return Attempt::Delivered {
            status: status.as_u16(),
        };
    }
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
    let mut detail = receiver_message(&raw);
    if let Some(location) = location.as_ref().and_then(|l| l.to_str().ok()) {
        detail = format!("redirect to {location} not followed; {detail}");
    }
    let head = match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
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
async fn read_limited(mut response: reqwest::Response) -> String {
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
fn receiver_message(raw: &str) -> String {
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
fn describe_error(err: reqwest::Error, timeout: Duration) -> String {
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

/// `Retry-After` is delta-seconds or an HTTP-date (RFC 9110 §10.2.3); a date in the past
/// means "now". Anything unparseable is ignored and the backoff applies.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
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

/// Replaces every occurrence of the secret, in case a receiver echoes it back in an error.
fn redact(text: String, secret: Option<&Secret>) -> String {
    match secret {
        Some(secret) if !secret.expose().is_empty() && text.contains(secret.expose()) => {
            text.replace(secret.expose(), "[redacted]")
        }
        _ => text,
    }
}

/// At most `max` characters, ending in `…` when cut.
fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// At most `max` bytes (so also at most `max` characters), cut on a char boundary and ending
/// in `…` when cut.
fn truncate_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let ellipsis = '…';
    let mut end = max.saturating_sub(ellipsis.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = text[..end].to_string();
    out.push(ellipsis);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;
    use std::net::TcpListener;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const ROUTING_KEY: &str = "R0UTINGKEYr0utingkey0123456789ab";
    const WEBHOOK_SECRET: &str = "whsec-very-secret-value";

    fn page(action: PageAction) -> Page {
        Page {
            dedup_key: "warroom-INC-7-step1-networking".into(),
            action,
            incident: "INC-7".into(),
            title: "Application outage".into(),
            summary: "INC-7 sev1 Application outage — paging Networking (step 1)".into(),
            severity: "critical".into(),
            target: "!Networking".into(),
            message: Some("db primary down".into()),
            at: Utc.with_ymd_and_hms(2024, 5, 1, 10, 30, 0).unwrap(),
        }
    }

    fn pagerduty(url: String) -> Pager {
        Pager {
            name: "pd-networking".into(),
            url,
            kind: PagerKind::PagerDuty {
                routing_key: Secret::new(ROUTING_KEY),
            },
            timeout: Duration::from_secs(5),
        }
    }

    fn webhook(url: String, secret: Option<&str>) -> Pager {
        Pager {
            name: "hook".into(),
            url,
            kind: PagerKind::Webhook {
                secret: secret.map(Secret::new),
            },
            timeout: Duration::from_secs(5),
        }
    }

    fn fast_policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            max_retry_after: Duration::from_millis(50),
            ..Default::default()
        }
    }

    fn accepted() -> ResponseTemplate {
        ResponseTemplate::new(202).set_body_json(json!({
            "status": "success",
            "message": "Event processed",
            "dedup_key": "warroom-INC-7-step1-networking",
        }))
    }

    async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
        server.received_requests().await.expect("recording is on")
    }

    #[tokio::test]
    async fn pagerduty_trigger_body_is_events_v2_and_202_is_delivered() {
        let server = MockServer::start().await;
        let expected = json!({
            "routing_key": ROUTING_KEY,
            "event_action": "trigger",
            "dedup_key": "warroom-INC-7-step1-networking",
            "payload": {
                "summary": "INC-7 sev1 Application outage — paging Networking (step 1)",
                "source": "warroom",
                "severity": "critical",
                "timestamp": "2024-05-01T10:30:00.000Z",
                "component": "INC-7",
                "group": "!Networking",
                "class": "incident page",
                "custom_details": {
                    "incident": "INC-7",
                    "title": "Application outage",
                    "target": "!Networking",
                    "message": "db primary down",
                },
            },
        });
        Mock::given(method("POST"))
            .and(path("/v2/enqueue"))
            .and(header("content-type", "application/json"))
            .and(body_json(&expected))
            .respond_with(accepted())
            .expect(1)
            .mount(&server)
            .await;
        let pager = pagerduty(format!("{}/v2/enqueue", server.uri()));
        let got = Notifier::new()
            .attempt(&pager, &page(PageAction::Trigger))
            .await;
        assert_eq!(got, Attempt::Delivered { status: 202 });
        let reqs = requests(&server).await;
        let ua = reqs[0].headers.get("user-agent").unwrap().to_str().unwrap();
        assert!(ua.starts_with("warroom/"), "user agent {ua}");
    }

    #[tokio::test]
    async fn pagerduty_resolve_sends_only_key_action_and_dedup_key() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(body_json(json!({
                "routing_key": ROUTING_KEY,
                "event_action": "resolve",
                "dedup_key": "warroom-INC-7-step1-networking",
            })))
            .respond_with(accepted())
            .expect(1)
            .mount(&server)
            .await;
        let got = Notifier::new()
            .attempt(&pagerduty(server.uri()), &page(PageAction::Resolve))
            .await;
        assert_eq!(got, Attempt::Delivered { status: 202 });
    }

    #[test]
    fn pagerduty_summary_is_cut_to_1024_bytes_on_a_char_boundary() {
        let mut p = page(PageAction::Trigger);
        p.summary = "é".repeat(2000);
        p.severity = "SEV-bogus".into();
        let body = body_for(
            &PagerKind::PagerDuty {
                routing_key: Secret::new(ROUTING_KEY),
            },
            &p,
        );
        let summary = body["payload"]["summary"].as_str().unwrap();
        assert!(summary.len() <= 1024, "{} bytes", summary.len());
        assert!(summary.len() > 1000);
        assert!(summary.ends_with('…'));
        assert_eq!(body["payload"]["severity"], "critical");
    }

    #[tokio::test]
    async fn server_error_then_accepted_takes_two_attempts_and_reports_both() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500).set_body_string("upstream hiccup"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(accepted())
            .mount(&server)
            .await;
        let mut seen = Vec::new();
        let (last, n) = Notifier::new()
            .deliver(
                &pagerduty(server.uri()),
                &page(PageAction::Trigger),
                &fast_policy(5),
                |n, a| {
                    seen.push((n, a.clone()));
                    async {}
                },
            )
            .await;
        assert_eq!(last, Attempt::Delivered { status: 202 });
        assert_eq!(n, 2);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, 1);
        match &seen[0].1 {
            Attempt::Retryable { status, error, .. } => {
                assert_eq!(*status, Some(500));
                assert!(error.contains("upstream hiccup"), "{error}");
            }
            other => panic!("first attempt {other:?}"),
        }
        assert_eq!(seen[1], (2, Attempt::Delivered { status: 202 }));
        assert_eq!(requests(&server).await.len(), 2);
    }

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
    async fn refused_error_is_truncated_and_never_echoes_the_routing_key() {
        let server = MockServer::start().await;
        let echo = format!("unknown routing key {ROUTING_KEY} {}", "x".repeat(1000));
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(404).set_body_string(echo))
            .mount(&server)
            .await;
        let got = Notifier::new()
            .attempt(&pagerduty(server.uri()), &page(PageAction::Trigger))
            .await;
        let Attempt::Refused { status, error } = got else {
            panic!("expected refused, got {got:?}");
        };
        assert_eq!(status, 404);
        assert!(!error.contains(ROUTING_KEY), "{error}");
        assert!(error.contains("[redacted]"), "{error}");
        assert!(error.chars().count() <= ERROR_TEXT_MAX, "{error}");
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

    #[tokio::test]
    async fn deliver_gives_up_after_max_attempts() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        let (last, n) = Notifier::new()
            .deliver(
                &webhook(server.uri(), None),
                &page(PageAction::Trigger),
                &fast_policy(3),
                |_, _| async {},
            )
            .await;
        assert_eq!(n, 3);
        assert!(matches!(
            last,
            Attempt::Retryable {
                status: Some(503),
                ..
            }
        ));
        assert_eq!(requests(&server).await.len(), 3);
    }

    #[tokio::test]
    async fn webhook_is_signed_over_the_exact_body_bytes() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/hooks/page"))
            .and(header("content-type", "application/json"))
            .and(header(
                "idempotency-key",
                "warroom-INC-7-step1-networking-trigger",
            ))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;
        let pager = webhook(format!("{}/hooks/page", server.uri()), Some(WEBHOOK_SECRET));
        let got = Notifier::new()
            .attempt(&pager, &page(PageAction::Trigger))
            .await;
        assert_eq!(got, Attempt::Delivered { status: 200 });

        let req = &requests(&server).await[0];
        let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
        mac.update(&req.body);
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let got_sig = req.headers.get("x-warroom-signature").unwrap();
        assert_eq!(got_sig.to_str().unwrap(), want);

        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            json!({
                "version": 1,
                "dedup_key": "warroom-INC-7-step1-networking",
                "action": "trigger",
                "incident": "INC-7",
                "title": "Application outage",
                "summary": "INC-7 sev1 Application outage — paging Networking (step 1)",
                "severity": "critical",
                "target": "!Networking",
                "message": "db primary down",
                "at": "2024-05-01T10:30:00.000Z",
            })
        );
        assert!(!String::from_utf8_lossy(&req.body).contains(WEBHOOK_SECRET));
    }

    #[tokio::test]
    async fn unsigned_webhook_sends_no_signature_header() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        let got = Notifier::new()
            .attempt(&webhook(server.uri(), None), &page(PageAction::Acknowledge))
            .await;
        assert_eq!(got, Attempt::Delivered { status: 204 });
        let req = &requests(&server).await[0];
        assert!(req.headers.get("x-warroom-signature").is_none());
        assert_eq!(
            req.headers.get("idempotency-key").unwrap(),
            "warroom-INC-7-step1-networking-acknowledge"
        );
    }

    #[tokio::test]
    async fn redirect_is_refused_not_followed() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(308).insert_header("Location", "http://elsewhere.test/"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let got = Notifier::new()
            .attempt(&pagerduty(server.uri()), &page(PageAction::Trigger))
            .await;
        match got {
            Attempt::Refused { status, error } => {
                assert_eq!(status, 308);
                assert!(error.contains("elsewhere.test"), "{error}");
            }
            other => panic!("expected refused, got {other:?}"),
        }
    }

    #[test]
    fn signature_matches_a_known_hmac_sha256_vector() {
        // RFC 4231 test case 2.
        let sig = Secret::new("Jefe").sign(b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
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

    #[test]
    fn debug_and_display_never_show_secrets() {
        let pd = pagerduty("https://events.pagerduty.com/v2/enqueue".into());
        let hook = webhook("https://example.test/hook".into(), Some(WEBHOOK_SECRET));
        for text in [
            format!("{pd:?}"),
            format!("{pd:#?}"),
            format!("{hook:?}"),
            format!("{:?}", hook.kind),
            format!("{}", Secret::new(WEBHOOK_SECRET)),
        ] {
            assert!(!text.contains(ROUTING_KEY), "{text}");
            assert!(!text.contains(WEBHOOK_SECRET), "{text}");
        }
        assert!(format!("{pd:?}").contains("[redacted]"));
    }

    #[test]
    fn page_action_serialises_lowercase() {
        assert_eq!(
            serde_json::to_value(PageAction::Acknowledge).unwrap(),
            json!("acknowledge")
        );
        assert_eq!(PageAction::Trigger.as_str(), "trigger");
    }
}
