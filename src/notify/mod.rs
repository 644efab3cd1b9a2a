//! Delivering pages to outside pagers (PagerDuty Events API v2, signed JSON webhooks) over
//! HTTP: one attempt at a time, classified as delivered, worth retrying or refused, plus the
//! retry delays between attempts. The caller decides when to page and records every attempt.

pub mod calendars;
#[cfg(test)]
mod fixture;
pub mod followups;
mod notifying;
mod outcome;
mod pagerduty;
pub mod reach;
mod retry;
mod scrub;
mod webhook;
pub mod worker;

use self::outcome::{classify, describe_error};
use self::scrub::redact;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

pub use crate::app::paging::transport::{Attempt, ChatPager, Page, PageAction};
pub use crate::config::PagerKind;
pub use crate::secret::Secret;
pub use retry::RetryPolicy;
pub use webhook::{IDEMPOTENCY_HEADER, SIGNATURE_HEADER};

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

/// Sends pages. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: reqwest::Client,
    /// Delivers pages of `PagerKind::Chat` pagers, when a chat front end runs.
    chat: Option<std::sync::Arc<dyn ChatPager>>,
    /// Sends people's own notifications (email, SMS, voice, push), when any is configured.
    reach: Option<reach::Reacher>,
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
        Notifier {
            client,
            chat: None,
            reach: None,
        }
    }

    /// A notifier over a client the caller built (proxies, extra roots, ...).
    pub fn with_client(client: reqwest::Client) -> Notifier {
        Notifier {
            client,
            chat: None,
            reach: None,
        }
    }

    /// People's notifications go through these providers from now on, over the same
    /// connection pool. Fails when a provider cannot be set up (an unreadable CA file).
    pub fn with_reach(
        mut self,
        providers: &crate::config::notifications::Providers,
    ) -> anyhow::Result<Notifier> {
        self.reach = Some(reach::Reacher::new(self.client.clone(), providers.clone())?);
        Ok(self)
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
            let next = match &attempt {
                Attempt::Retryable { retry_after, .. } => policy.delay_before(n + 1, *retry_after),
                Attempt::Delivered { .. } | Attempt::Refused { .. } => None,
            };
            log_attempt(pager, page, n, &attempt, next);
            let Some(delay) = next else {
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
            request = webhook::with_headers(request, page, secret.as_ref(), &body);
        }
        request.body(body).send().await
    }
}

/// One line per attempt: the pager, the incident, the attempt's number, its outcome and
/// what comes next. Name, incident and dedup key identify the page; the body (with the
/// routing key) is never logged, and errors come redacted from `attempt`.
fn log_attempt(pager: &Pager, page: &Page, n: u32, attempt: &Attempt, next: Option<Duration>) {
    let (name, incident, action) = (&pager.name, &page.incident, &page.action);
    let dedup_key = &page.dedup_key;
    match attempt {
        Attempt::Delivered { status } => tracing::info!(
            pager = %name, %incident, %dedup_key, %action, attempt = n, outcome = "delivered", status,
            "page for {incident} ({action}) delivered through {name} (attempt {n}, HTTP {status})"
        ),
        Attempt::Retryable { status, error, .. } => match next {
            Some(wait) => tracing::warn!(
                pager = %name, %incident, %dedup_key, %action, attempt = n, outcome = "failed", ?status, %error,
                "page for {incident} ({action}) through {name} failed (attempt {n}): {error}; trying again in {:.1} s",
                wait.as_secs_f64()
            ),
            None => tracing::error!(
                pager = %name, %incident, %dedup_key, %action, attempt = n, outcome = "failed", ?status, %error,
                "page for {incident} ({action}) through {name} failed (attempt {n}): {error}; giving up"
            ),
        },
        Attempt::Refused { status, error } => tracing::error!(
            pager = %name, %incident, %dedup_key, %action, attempt = n, outcome = "refused", status, %error,
            "page for {incident} ({action}) refused by {name} (attempt {n}, HTTP {status}): {error}; not retried"
        ),
    }
}

/// The exact JSON body sent for a page (public so tests and docs can show it).
pub fn body_for(kind: &PagerKind, page: &Page) -> Value {
    match kind {
        PagerKind::PagerDuty { routing_key } => pagerduty::event(routing_key, page),
        // A chat pager posts text, not JSON; this is what it is told, for the docs and logs.
        PagerKind::Webhook { .. } | PagerKind::Chat => webhook::body(page),
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::fixture::{accepted, fast_policy, page, pagerduty, requests, webhook};
    use super::*;
    use serde_json::json;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

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
    async fn redirect_is_refused_not_followed() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(308).insert_header(
                "Location",
                "http://someone:pw@elsewhere.test/hook?token=abc123#x",
            ))
            .expect(1)
            .mount(&server)
            .await;
        let got = Notifier::new()
            .attempt(&pagerduty(server.uri()), &page(PageAction::Trigger))
            .await;
        match got {
            Attempt::Refused { status, error } => {
                assert_eq!(status, 308);
                // Where it points is said; what may be a credential in the URL is not.
                assert!(error.contains("http://elsewhere.test/hook"), "{error}");
                for secret in ["someone", "pw@", "abc123", "token"] {
                    assert!(!error.contains(secret), "{secret} in {error}");
                }
            }
            other => panic!("expected refused, got {other:?}"),
        }
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
