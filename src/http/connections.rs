//! `warroom serve`'s own accept loop, so that clients are bounded: a cap on connections served
//! at once (beyond it, an immediate 503 with `Retry-After`), a deadline for each request's head
//! and for its body, and an idle timeout between keep-alive requests. A request in flight —
//! an agent's long poll — is never idle, so it is never cut.

use crate::config::ConnectionLimits;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::CONNECTION;
use axum::http::HeaderValue;
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tower_service::Service;

/// Connections beyond the cap that may be answered 503 at once; past that they are dropped
/// unanswered, so a flood cannot grow the work of refusing it without bound.
const SHED_AT_ONCE: usize = 256;

/// How long refusing one connection may take (writing the 503 and letting the client read it).
const SHED_WITHIN: Duration = Duration::from_secs(2);

/// Serves `router` on `listener` within `limits` until `stop` turns true; then stops
/// accepting, lets every connection finish the request it is answering, and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let shedding = Arc::new(Semaphore::new(SHED_AT_ONCE));
    let mut connections = JoinSet::new();
    let mut shed_log = ShedLog::default();
    let mut stopped = stop.clone();
    loop {
        tokio::select! {
            _ = stop_requested(&mut stopped) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let connection =
                            serve_connection(stream, router.clone(), limits, stop.clone());
                        connections.spawn(async move {
                            connection.await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        shed_log.note(limits.max_connections);
                        if let Ok(permit) = shedding.clone().try_acquire_owned() {
                            tokio::spawn(async move {
                                shed(stream).await;
                                drop(permit);
                            });
                        }
                    }
                },
                // Out of file descriptors, or a connection reset before it was accepted:
                // pause briefly rather than spin, and keep serving those already accepted.
                Err(e) => {
                    tracing::warn!("could not accept an HTTP connection (retrying): {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Returns once the server is told to stop (or whoever could tell it is gone). Holds no
/// borrow of the flag once it returns, so its caller's future stays `Send`.
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Warns that connections are being refused, at most once every ten seconds.
#[derive(Default)]
struct ShedLog {
    last: Option<Instant>,
    since: u64,
}

impl ShedLog {
    fn note(&mut self, cap: usize) {
        self.since += 1;
        if self
            .last
            .is_some_and(|at| at.elapsed() < Duration::from_secs(10))
        {
            return;
        }
        tracing::warn!(
            refused = self.since,
            "HTTP connections refused with 503: {cap} are already open (http.max_connections)"
        );
        self.last = Some(Instant::now());
        self.since = 0;
    }
}

/// Answers a connection beyond the cap with 503 and `Retry-After`, then closes it after
/// reading what the client sent, so the close does not reset the answer away.
async fn shed(mut stream: TcpStream) {
    let body = serde_json::json!({
        "error": "warroom is serving as many connections as it may (http.max_connections); retry shortly",
        "field": null,
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(SHED_WITHIN, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Serves one connection until the client closes it, it overstays a limit, or the server
/// stops (then it ends once the request it is answering is answered).
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    // Answers are small and written whole: sending them at once beats Nagle's batching.
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let answering = Answering::begin(&activity);
            let (parts, body) = request.into_parts();
            let (body, body_read) = with_deadline(body, limits.body_timeout);
            let request = Request::from_parts(parts, body);
            let mut router = router.clone();
            async move {
                let _answering = answering;
                let mut response = router.call(request).await?;
                // A body left unread (refused before it was read, or over its limit) makes
                // hyper close the connection after the answer; saying so keeps the client
                // from sending its next request down a connection about to close.
                if body_read.is_some_and(|read| !read.load(Ordering::Acquire)) {
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    tokio::pin!(connection);
    let mut watchdog = tokio::time::interval(watch_period(limits));
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    loop {
        // The stop flag is read at each tick rather than awaited: a future waiting on the
        // shared flag would be polled at every wake-up of every connection, and the flag's
        // waiter list is one lock for all of them (measured: a sixth of the throughput of
        // small keep-alive requests). A stop is seen within one watchdog period.
        tokio::select! {
            biased;
            ended = connection.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!("HTTP connection ended: {e}");
                }
                return;
            }
            _ = watchdog.tick() => {
                if !stopping && *stop.borrow_and_update() {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
                if let Some(why) = activity.overdue(limits) {
                    tracing::debug!("closing an HTTP connection: {why}");
                    return;
                }
            }
        }
    }
}

/// How often a connection's watchdog looks: a quarter of the shortest limit, so a slow client
/// is dropped within 25% of its deadline, but never more than once every 50 ms per connection.
fn watch_period(limits: ConnectionLimits) -> Duration {
    (limits.header_timeout.min(limits.idle_timeout) / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// What one connection is doing, told by its socket and its requests to its watchdog.
struct Activity {
    born: Instant,
    /// Requests handed to the router and not yet answered.
    in_flight: AtomicUsize,
    /// When the head being read began, in ms since `born` plus one; 0 while none is.
    head_began: AtomicU64,
    /// When the connection last had nothing to do, in ms since `born` plus one.
    idle_since: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            born: Instant::now(),
            in_flight: AtomicUsize::new(0),
            head_began: AtomicU64::new(0),
            idle_since: AtomicU64::new(1),
        }
    }

    fn now(&self) -> u64 {
        self.born.elapsed().as_millis() as u64 + 1
    }

    /// Bytes came in: with no request being answered, they begin the next request's head.
    fn bytes_arrived(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_began.load(Ordering::Acquire) == 0
        {
            self.head_began.store(self.now(), Ordering::Release);
        }
    }

    /// Why the connection must close now, if it must.
    fn overdue(&self, limits: ConnectionLimits) -> Option<&'static str> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let now = self.now();
        let head_began = self.head_began.load(Ordering::Acquire);
        if head_began != 0 {
            let took = Duration::from_millis(now.saturating_sub(head_began));
            return (took > limits.header_timeout)
                .then_some("the request's head was not sent within http.header_timeout_seconds");
        }
        let idle =
            Duration::from_millis(now.saturating_sub(self.idle_since.load(Ordering::Acquire)));
        (idle > limits.idle_timeout).then_some("idle for longer than http.idle_timeout_seconds")
    }
}

/// One request being answered: while it lives the connection is busy, not idle.
struct Answering(Arc<Activity>);

impl Answering {
    fn begin(activity: &Arc<Activity>) -> Answering {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.head_began.store(0, Ordering::Release);
        Answering(activity.clone())
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.idle_since.store(self.0.now(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, telling its connection's [`Activity`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Why a body was cut off: it did not arrive within `http.body_timeout_seconds`. The doors
/// answer it 408 (see `body_or_error`).
#[derive(Debug)]
pub struct BodyTooSlow(pub Duration);

impl std::fmt::Display for BodyTooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the body was not received within {} s; send it faster or raise http.body_timeout_seconds",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for BodyTooSlow {}

/// The request's body, cut off `limit` after its head arrived, and a flag that turns true once
/// it has been read to its end. A request without a body needs neither.
fn with_deadline(body: Incoming, limit: Duration) -> (Body, Option<Arc<AtomicBool>>) {
    if http_body::Body::is_end_stream(&body) {
        return (Body::new(body), None);
    }
    let read = Arc::new(AtomicBool::new(false));
    let body = Body::new(DeadlineBody {
        inner: body,
        due: tokio::time::Instant::now() + limit,
        deadline: None,
        limit,
        read: read.clone(),
    });
    (body, Some(read))
}

struct DeadlineBody {
    inner: Incoming,
    /// When the body must have arrived.
    due: tokio::time::Instant,
    /// The timer, made only once the body has to be waited for: most bodies arrive with
    /// their head, and then no timer is ever set.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    limit: Duration,
    /// Set once the body has been read to its end.
    read: Arc<AtomicBool>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            if frame.is_none() || self.inner.is_end_stream() {
                self.read.store(true, Ordering::Release);
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let due = self.due;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if deadline.as_mut().poll(cx).is_ready() {
            let limit = self.limit;
            return Poll::Ready(Some(Err(Box::new(BodyTooSlow(limit)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
