//! The outside parties `warroom bench --parts ingest` plays: the sender of alerts (an HTTP
//! client with a pool of connections, as Alertmanager keeps) and a pager that receives
//! webhook pages and notes when each incident's first page arrived. The only HTTP client and
//! server code of the benchmark.

use anyhow::Context;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The sender: cheap to clone, one connection pool behind every clone.
#[derive(Clone)]
pub struct Sender(reqwest::Client);

impl Sender {
    /// A sender keeping up to `connections` idle connections per host.
    pub fn new(connections: usize) -> anyhow::Result<Sender> {
        Ok(Sender(
            reqwest::Client::builder()
                .pool_max_idle_per_host(connections)
                .build()
                .context("cannot build the HTTP client")?,
        ))
    }

    /// Waits (up to 15 s) until `url` answers 2xx.
    pub async fn wait_ready(&self, url: &str) -> anyhow::Result<()> {
        for _ in 0..300 {
            if let Ok(r) = self.0.get(url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("{url} never answered")
    }

    /// POSTs a JSON `body` (with a bearer token when given); an answer other than 2xx is an
    /// error quoting the status and the body.
    pub async fn post_json(
        &self,
        url: &str,
        bearer: Option<&str>,
        body: Vec<u8>,
    ) -> anyhow::Result<()> {
        let mut request = self
            .0
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        anyhow::ensure!(status.is_success(), "{url} answered {status}: {text}");
        Ok(())
    }

    /// GETs `url` and gives its body; an answer other than 2xx is an error.
    pub async fn get_text(&self, url: &str) -> anyhow::Result<String> {
        Ok(self
            .0
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?)
    }
}

/// When the first page of each incident title arrived at the pager.
pub type PagesSeen = Arc<Mutex<HashMap<String, Instant>>>;

/// Starts a push server on a free loopback port, as ntfy takes a publish: `POST /` with a
/// JSON body whose `title` is `INC-N sevN: TITLE`. Gives its address and when the first
/// notification of each incident title arrived.
pub async fn start_push() -> anyhow::Result<(SocketAddr, PagesSeen)> {
    let seen: PagesSeen = Arc::default();
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = receiver.local_addr()?;
    let noted = seen.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = noted.clone();
            async move {
                let title = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                    let full = v["title"].as_str()?;
                    Some(full.split_once(": ").map_or(full, |(_, t)| t).to_string())
                });
                if let Some(title) = title {
                    seen.lock()
                        .expect("push lock")
                        .entry(title)
                        .or_insert_with(Instant::now);
                }
                axum::Json(serde_json::json!({"id": "bench", "event": "message"}))
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(receiver, app).await;
    });
    Ok((address, seen))
}

/// Starts the webhook pager on a free loopback port: `POST /page` with a JSON body whose
/// `title` names the incident. Gives its address and the pages it has seen.
pub async fn start_pager() -> anyhow::Result<(SocketAddr, PagesSeen)> {
    let pages: PagesSeen = Arc::default();
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = receiver.local_addr()?;
    let seen = pages.clone();
    let app = axum::Router::new().route(
        "/page",
        axum::routing::post(move |body: axum::body::Bytes| {
            let pages = seen.clone();
            async move {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    if let Some(title) = v["title"].as_str() {
                        pages
                            .lock()
                            .expect("pages lock")
                            .entry(title.to_string())
                            .or_insert_with(Instant::now);
                    }
                }
                "ok"
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(receiver, app).await;
    });
    Ok((address, pages))
}
