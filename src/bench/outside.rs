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

/// How a streamed page arrived: when its first part came and how many timeline lines it
/// held, and when the whole page had come, its size and its lines.
pub struct PageTiming {
    pub first_part: Duration,
    pub first_part_lines: usize,
    pub whole: Duration,
    pub bytes: usize,
    pub lines: usize,
}

impl Sender {
    /// GETs a console page as the signed-in person `cookie` names, timing its parts.
    pub async fn time_page(&self, url: &str, cookie: &str) -> anyhow::Result<PageTiming> {
        let start = Instant::now();
        let mut response = self
            .0
            .get(url)
            .header("cookie", cookie)
            .send()
            .await?
            .error_for_status()?;
        let mut first = None;
        let (mut bytes, mut lines) = (0, 0);
        while let Some(chunk) = response.chunk().await? {
            bytes += chunk.len();
            lines += count(&chunk, b"</li>");
            if first.is_none() {
                first = Some((start.elapsed(), lines));
            }
        }
        let (first_part, first_part_lines) = first.context("the page was empty")?;
        Ok(PageTiming {
            first_part,
            first_part_lines,
            whole: start.elapsed(),
            bytes,
            lines,
        })
    }

    /// Holds a live timeline open as `cookie`'s person, as a browser's page does, counting
    /// the lines it sends; stops when the task is aborted.
    pub fn follow_live(
        &self,
        url: String,
        cookie: String,
    ) -> (
        tokio::task::JoinHandle<()>,
        Arc<std::sync::atomic::AtomicUsize>,
    ) {
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (client, counter) = (self.0.clone(), seen.clone());
        let task = tokio::spawn(async move {
            // The incident may not be open yet: knock until it is.
            let mut response = loop {
                match client.get(&url).header("cookie", &cookie).send().await {
                    Ok(r) if r.status().is_success() => break r,
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
            // The last bytes of a chunk are kept with the next, so a line's end split
            // between two chunks is counted once.
            let needle = b"</li>";
            let mut carry = Vec::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                carry.extend_from_slice(&chunk);
                counter.fetch_add(count(&carry, needle), std::sync::atomic::Ordering::Relaxed);
                let keep = carry.len().min(needle.len() - 1);
                carry.drain(..carry.len() - keep);
            }
        });
        (task, seen)
    }
}

/// Occurrences of `needle` in `hay` (a chunk boundary may split one: a rounding error of a
/// line per chunk at most, on figures of thousands).
fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
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
