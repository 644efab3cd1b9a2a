//! A loopback relay in front of a Discord REST base URL that is not Discord's own (a proxy
//! such as twilight-http-proxy, or a fake Discord): it waits out a 429 as long as the answer
//! asks and tries again.
//!
//! serenity handles 429s only in its own rate limiter, and that limiter always talks to
//! discord.com: with another base URL it must be off, and serenity then returns the 429 as an
//! error without its `Retry-After`. So for another base URL serenity talks to this relay on
//! 127.0.0.1, which forwards each request as it came (the bot token included, never logged)
//! and does the waiting. With Discord's own URL the relay is not used.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Longest wait a 429 may ask for and still be waited out here; a longer one is passed on
/// (the caller reports Discord is rate limiting).
const LONGEST_WAIT: Duration = Duration::from_secs(10);
/// Tries per request, the first included.
const TRIES: usize = 4;
/// Largest request body relayed: Discord's own upload limit is 25 MiB.
const MAX_BODY: usize = 32 << 20;

/// A running relay: `url()` is what serenity's REST client should be pointed at.
pub struct Relay {
    url: String,
    task: JoinHandle<()>,
}

impl Relay {
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Upstream {
    base: String,
    client: reqwest::Client,
}

/// Starts a relay to `upstream` (a base URL such as `http://proxy:8080`) on 127.0.0.1.
pub async fn start(upstream: &str) -> anyhow::Result<Relay> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        // serenity's own client sets no timeout: a Discord that hangs would hold a page or a
        // notice forever.
        .timeout(Duration::from_secs(60))
        .build()?;
    let state = Upstream {
        base: upstream.trim_end_matches('/').to_string(),
        client,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(forward).with_state(state);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the Discord REST relay stopped: {e}");
        }
    });
    Ok(Relay { url, task })
}

async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => return (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response(),
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let url = format!("{}{path}", upstream.base);
    let mut headers = parts.headers;
    headers.remove(axum::http::header::HOST);
    headers.remove(axum::http::header::CONTENT_LENGTH);
    let mut attempt = 1;
    loop {
        let sent = upstream
            .client
            .request(parts.method.clone(), &url)
            .headers(headers.clone())
            .body(body.clone())
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => {
                let status = if e.is_timeout() {
                    StatusCode::GATEWAY_TIMEOUT
                } else {
                    StatusCode::BAD_GATEWAY
                };
                return (
                    status,
                    format!("Discord API at {} not reached: {e}", upstream.base),
                )
                    .into_response();
            }
        };
        let status = answer.status();
        let answer_headers = answer.headers().clone();
        let bytes = answer.bytes().await.unwrap_or_default();
        if status == StatusCode::TOO_MANY_REQUESTS && attempt < TRIES {
            if let Some(wait) = retry_after(&answer_headers, &bytes).filter(|w| *w <= LONGEST_WAIT)
            {
                tracing::warn!(
                    path = %parts.uri.path(),
                    "Discord is rate limiting the bot (429); waiting {:.2} s as asked, then trying again",
                    wait.as_secs_f64()
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
        }
        return relayed(status, &answer_headers, bytes);
    }
}

/// How long a 429 asks to wait: the body's `retry_after` (seconds, with a fraction) where
/// Discord gives it, else the `Retry-After` header (whole seconds).
fn retry_after(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    let from_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["retry_after"].as_f64());
    let from_header = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    from_body
        .or(from_header)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

fn relayed(status: StatusCode, headers: &HeaderMap, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for (name, value) in headers {
        // Framing is the relay's own; the body was read whole.
        if name == axum::http::header::TRANSFER_ENCODING
            || name == axum::http::header::CONNECTION
            || name == axum::http::header::CONTENT_LENGTH
        {
            continue;
        }
        response.headers_mut().append(name.clone(), value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_comes_from_the_body_else_the_header() {
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(
            retry_after(&headers, br#"{"retry_after": 0.25, "global": false}"#),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&headers, b"not json"),
            Some(Duration::from_secs(2))
        );
        assert_eq!(retry_after(&HeaderMap::new(), b"{}"), None);
        assert_eq!(
            retry_after(&HeaderMap::new(), br#"{"retry_after": -1}"#),
            None
        );
    }
}
