//! The fake gateway: a websocket server speaking Discord's gateway protocol (v10, JSON; zlib
//! payload compression when IDENTIFY asks for it) to one client at a time, with sessions that
//! can be resumed or invalidated on demand, and the outages Discord has: a connection reset,
//! refused connections, a silent link, a RESUME left pending.
//!
//! Sequencing follows Discord: READY starts a session at `s = 1`; every dispatch takes the
//! next `s`; a RESUME naming the current session replays what the client has not
//! acknowledged, then what was queued while no connection was live, and ends with RESUMED.

use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as Frame;

/// What READY tells the client about itself.
pub(super) struct Identity {
    pub bot_user: Value,
    pub guild_id: u64,
    pub application_id: u64,
}

/// Discord's usual interval, announced unless a test sets another.
const HEARTBEAT_INTERVAL_MS: u64 = 41_250;

/// Close code for "closed by the server, reconnect and resume" (Discord's 4000, unknown
/// error), which serenity answers with a RESUME.
const CLOSE_RESUMABLE: u16 = 4000;

pub(super) struct Gateway {
    shared: Arc<Shared>,
    url: String,
    accept: JoinHandle<()>,
}

struct Shared {
    identity: Identity,
    url: String,
    state: Mutex<State>,
    /// READY and RESUMED frames written to a socket so far, for `wait_ready`.
    sessions_sent: watch::Sender<usize>,
    /// Until when new connections are refused (the listener is closed meanwhile).
    refuse_until: watch::Sender<Option<tokio::time::Instant>>,
    heartbeat_interval_ms: AtomicU64,
    compressed: AtomicU64,
}

#[derive(Default)]
struct State {
    identifies: usize,
    resumes: usize,
    connections: usize,
    identify_payloads: Vec<Value>,
    /// The session a RESUME may name; `None` once invalidated.
    session: Option<Session>,
    sessions_started: u64,
    /// The connection dispatches go to: set by READY or RESUMED, cleared by op 7, op 9, a
    /// close, or the connection ending.
    live: Option<Live>,
    /// Dispatches made while nothing was live.
    queue: Vec<(String, Value)>,
    /// Dispatches dropped because a fresh IDENTIFY replaced the session they waited for.
    dropped: usize,
    /// Whether the last IDENTIFY offered payload compression.
    compress: bool,
    /// RESUMEs are left unanswered while set; the pending ones wait here.
    hold_resumes: bool,
    held: Vec<(u64, Outbox, Value)>,
}

struct Session {
    id: String,
    seq: u64,
    /// Every dispatch sent in this session with its `s`, replayed on RESUME past the
    /// client's last `s`.
    sent: Vec<(u64, String)>,
}

struct Live {
    conn: u64,
    out: Outbox,
}

type Outbox = mpsc::UnboundedSender<Out>;

enum Out {
    /// A text frame; `starts_session` marks READY/RESUMED, counted once written.
    Text {
        frame: String,
        starts_session: bool,
    },
    Close(u16),
    /// Drop the connection with a TCP reset.
    Reset,
    /// Drop the connection with a plain FIN, no close frame.
    Fin,
    /// Stop answering anything, keeping the socket open.
    Freeze,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking test thread must not take every later assertion down with it.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// With `FAKE_DISCORD_LOG` set, every frame in and out (and connections opening and closing)
/// goes to stderr, to see what a client did.
fn log(conn: u64, what: &str) {
    if std::env::var_os("FAKE_DISCORD_LOG").is_some() {
        eprintln!("fake Discord gateway #{conn}: {what}");
    }
}

fn text(frame: Value) -> Out {
    Out::Text {
        frame: frame.to_string(),
        starts_session: false,
    }
}

fn dispatch_frame(event: &str, seq: u64, data: &Value) -> String {
    json!({ "op": 0, "t": event, "s": seq, "d": data }).to_string()
}

impl Gateway {
    pub(super) async fn start(identity: Identity) -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake gateway: bind 127.0.0.1:0");
        let url = format!(
            "ws://{}",
            listener.local_addr().expect("fake gateway: local address")
        );
        let shared = Arc::new(Shared {
            identity,
            url: url.clone(),
            state: Mutex::new(State::default()),
            sessions_sent: watch::channel(0).0,
            refuse_until: watch::channel(None).0,
            heartbeat_interval_ms: AtomicU64::new(HEARTBEAT_INTERVAL_MS),
            compressed: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Gateway {
            shared,
            url,
            accept,
        }
    }

    pub(super) fn url(&self) -> String {
        self.url.clone()
    }

    pub(super) fn identifies(&self) -> usize {
        lock(&self.shared.state).identifies
    }

    pub(super) fn resumes(&self) -> usize {
        lock(&self.shared.state).resumes
    }

    pub(super) fn dropped(&self) -> usize {
        lock(&self.shared.state).dropped
    }

    pub(super) fn identify_payloads(&self) -> Vec<Value> {
        lock(&self.shared.state).identify_payloads.clone()
    }

    pub(super) async fn wait_ready(&self, sessions: usize, timeout: Duration) {
        let mut sent = self.shared.sessions_sent.subscribe();
        if tokio::time::timeout(timeout, sent.wait_for(|n| *n >= sessions))
            .await
            .is_err()
        {
            let state = lock(&self.shared.state);
            panic!(
                "fake Discord: waited {timeout:?} for READY/RESUMED to have been sent {sessions} \
                 time(s), but it was sent {} time(s) (connections: {}, IDENTIFY: {}, RESUME: {})",
                *sent.borrow(),
                state.connections,
                state.identifies,
                state.resumes,
            );
        }
    }

    pub(super) fn dispatch(&self, event: &str, data: Value) {
        lock(&self.shared.state).deliver(event, data);
    }

    pub(super) fn reconnect_resumable(&self) {
        let mut state = lock(&self.shared.state);
        let live = state
            .live
            .take()
            .expect("fake Discord: reconnect_resumable needs a live gateway connection");
        let _ = live.out.send(text(json!({ "op": 7, "d": null })));
    }

    pub(super) fn invalidate_session(&self) {
        let mut state = lock(&self.shared.state);
        if let Some(live) = state.live.take() {
            let _ = live.out.send(text(json!({ "op": 9, "d": false })));
        }
        state.session = None;
        state.dropped += state.queue.len();
        state.queue.clear();
    }

    pub(super) fn cut_and_refuse(&self, refused: Duration) -> tokio::time::Instant {
        let back = tokio::time::Instant::now() + refused;
        // Refuse first, so the client's immediate reconnect already meets a closed port.
        self.shared.refuse_until.send_replace(Some(back));
        self.end_live(Out::Reset);
        back
    }

    pub(super) fn cut_with_fin(&self) {
        self.end_live(Out::Fin);
    }

    pub(super) fn freeze(&self) {
        self.end_live(Out::Freeze);
    }

    /// Ends the live connection as `how` says; dispatches queue until a RESUME.
    fn end_live(&self, how: Out) {
        let mut state = lock(&self.shared.state);
        let live = state
            .live
            .take()
            .expect("fake Discord: this outage needs a live gateway connection");
        let _ = live.out.send(how);
    }

    pub(super) fn hold_resumes(&self, held: bool) {
        let pending = {
            let mut state = lock(&self.shared.state);
            state.hold_resumes = held;
            if held {
                return;
            }
            std::mem::take(&mut state.held)
        };
        for (conn, out, resume) in pending {
            self.shared.resume(conn, &out, &resume);
        }
    }

    pub(super) fn set_heartbeat_interval(&self, interval: Duration) {
        self.shared
            .heartbeat_interval_ms
            .store(interval.as_millis() as u64, Ordering::Relaxed);
    }

    pub(super) fn compressed_frames(&self) -> usize {
        self.shared.compressed.load(Ordering::Relaxed) as usize
    }

    pub(super) fn dispatch_while_disconnected(&self, event: &str, data: Value) {
        let mut state = lock(&self.shared.state);
        if let Some(live) = state.live.take() {
            let _ = live.out.send(Out::Close(CLOSE_RESUMABLE));
        }
        // Queued under the same lock that closed the connection, so the client's RESUME
        // (which takes this lock too) cannot miss it.
        state.queue.push((event.to_string(), data));
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // The accept loop owns the connection tasks (a JoinSet), so this ends them too.
        self.accept.abort();
    }
}

impl State {
    /// Sends a dispatch to the live connection with the next `s`, or queues it.
    fn deliver(&mut self, event: &str, data: Value) {
        if let (Some(live), Some(session)) = (&self.live, &mut self.session) {
            let seq = session.seq + 1;
            let frame = dispatch_frame(event, seq, &data);
            let out = Out::Text {
                frame: frame.clone(),
                starts_session: false,
            };
            if live.out.send(out).is_ok() {
                session.seq = seq;
                session.sent.push((seq, frame));
                return;
            }
            self.live = None;
        }
        self.queue.push((event.to_string(), data));
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let addr = listener.local_addr().expect("fake gateway: local address");
    let mut listener = Some(listener);
    let mut refusals = shared.refuse_until.subscribe();
    let mut connections = JoinSet::new();
    let mut next_id = 0;
    loop {
        let refuse_until = *refusals.borrow_and_update();
        if let Some(until) = refuse_until {
            // A closed listener: connecting is refused (RST to the SYN), as when an edge is down.
            drop(listener.take());
            tokio::time::sleep_until(until).await;
            listener = Some(loop {
                match TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            });
            shared.refuse_until.send_replace(None);
            refusals.borrow_and_update();
            continue;
        }
        let open = listener.as_ref().expect("listening unless refusing");
        tokio::select! {
            accepted = open.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                next_id += 1;
                connections.spawn(serve(Arc::clone(&shared), stream, next_id));
            }
            _ = refusals.changed() => {}
            Some(_) = connections.join_next() => {}
        }
    }
}

fn is_dispatch(frame: &str) -> bool {
    serde_json::from_str::<Value>(frame).is_ok_and(|v| v["op"] == 0)
}

/// Zlib, as Discord compresses a payload for a client that asked.
fn zlib(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(text.as_bytes())
        .expect("compressing in memory");
    encoder.finish().expect("compressing in memory")
}

/// Makes the socket's close a reset: SO_LINGER on with a zero timeout.
fn reset_on_close(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is the connection's open socket (owned by the websocket still held by the
    // caller) and `linger` is a valid value of the size passed.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// One websocket connection: HELLO first, then client frames answered and outgoing frames
/// written in order until either side closes.
async fn serve(shared: Arc<Shared>, stream: TcpStream, conn: u64) {
    let fd = stream.as_raw_fd();
    let ws = match tokio_tungstenite::accept_async(stream).await {
        Ok(ws) => ws,
        Err(why) => {
            eprintln!("fake Discord gateway: websocket handshake failed: {why}");
            return;
        }
    };
    let (mut sink, mut source) = ws.split();
    let (out, mut outbox) = mpsc::unbounded_channel();
    lock(&shared.state).connections += 1;
    log(conn, "connected");
    let _ = out.send(text(json!({
        "op": 10,
        "d": { "heartbeat_interval": shared.heartbeat_interval_ms.load(Ordering::Relaxed) },
    })));
    loop {
        tokio::select! {
            incoming = source.next() => match incoming {
                Some(Ok(Frame::Text(frame))) => {
                    log(conn, &format!("<- {frame}"));
                    shared.on_client_frame(conn, &out, &frame);
                }
                Some(Ok(Frame::Binary(bytes))) => {
                    if let Ok(frame) = String::from_utf8(bytes) {
                        shared.on_client_frame(conn, &out, &frame);
                    }
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(Frame::Ping(_) | Frame::Pong(_) | Frame::Frame(_))) => {}
                Some(Ok(Frame::Close(close))) => {
                    log(conn, &format!("<- close {close:?}"));
                    break;
                }
                Some(Err(why)) => {
                    log(conn, &format!("read error: {why}"));
                    break;
                }
                None => {
                    log(conn, "closed by the client");
                    break;
                }
            },
            outgoing = outbox.recv() => match outgoing {
                Some(Out::Text { frame, starts_session }) => {
                    log(conn, &format!("-> {frame}"));
                    // Discord compresses dispatches for a client that offered it; the
                    // other opcodes stay text here, which a client must take as well.
                    let compress = lock(&shared.state).compress && is_dispatch(&frame);
                    let sent = if compress {
                        shared.compressed.fetch_add(1, Ordering::Relaxed);
                        sink.send(Frame::Binary(zlib(&frame))).await
                    } else {
                        sink.send(Frame::Text(frame)).await
                    };
                    if sent.is_err() {
                        break;
                    }
                    if starts_session {
                        shared.sessions_sent.send_modify(|n| *n += 1);
                    }
                }
                Some(Out::Close(code)) => {
                    log(conn, &format!("-> close {code}"));
                    let close = CloseFrame {
                        code: CloseCode::from(code),
                        reason: "fake Discord closed the connection".into(),
                    };
                    // Keep reading: the client answers with its own close frame.
                    if sink.send(Frame::Close(Some(close))).await.is_err() {
                        break;
                    }
                }
                Some(Out::Reset) => {
                    log(conn, "-> reset");
                    reset_on_close(fd);
                    clear_live(&shared, conn);
                    return;
                }
                Some(Out::Fin) => {
                    log(conn, "-> fin");
                    clear_live(&shared, conn);
                    return;
                }
                Some(Out::Freeze) => {
                    log(conn, "-> frozen");
                    clear_live(&shared, conn);
                    // Holds the socket open and reads nothing until the fake is dropped.
                    std::future::pending::<()>().await;
                }
                None => break,
            },
        }
    }
    {
        let mut state = lock(&shared.state);
        if state.live.as_ref().is_some_and(|live| live.conn == conn) {
            state.live = None;
        }
    }
    // Completes the closing handshake when the client started it; bounded, as the client may
    // already be gone.
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

fn clear_live(shared: &Shared, conn: u64) {
    let mut state = lock(&shared.state);
    if state.live.as_ref().is_some_and(|live| live.conn == conn) {
        state.live = None;
    }
}

impl Shared {
    fn on_client_frame(&self, conn: u64, out: &Outbox, frame: &str) {
        let Ok(payload) = serde_json::from_str::<Value>(frame) else {
            eprintln!("fake Discord gateway: ignoring a frame that is not JSON: {frame}");
            return;
        };
        match payload["op"].as_u64() {
            Some(1) => {
                let _ = out.send(text(json!({ "op": 11, "d": null })));
            }
            Some(2) => self.identify(conn, out, &payload["d"]),
            Some(6) => self.resume(conn, out, &payload["d"]),
            // Presence updates, member and soundboard requests: nothing to answer.
            Some(3 | 4 | 8 | 31) => {}
            _ => eprintln!("fake Discord gateway: ignoring unexpected frame {frame}"),
        }
    }

    fn identify(&self, conn: u64, out: &Outbox, identify: &Value) {
        let mut state = lock(&self.state);
        state.identifies += 1;
        state.identify_payloads.push(identify.clone());
        state.compress = identify["compress"].as_bool().unwrap_or(false);
        if state.sessions_started > 0 {
            // A new session never sees what the old one missed (as on Discord). Only before
            // the very first session is the queue kept, so a test that dispatches before the
            // bot connected still has its events delivered.
            state.dropped += state.queue.len();
            state.queue.clear();
        }
        state.sessions_started += 1;
        let session_id = format!("fake-session-{}", state.sessions_started);
        let identity = &self.identity;
        let ready = json!({
            "v": 10,
            "user": identity.bot_user,
            "guilds": [{ "id": identity.guild_id.to_string(), "unavailable": true }],
            "session_id": session_id,
            "resume_gateway_url": self.url,
            "shard": identify.get("shard").cloned().unwrap_or(json!([0, 1])),
            "application": { "id": identity.application_id.to_string(), "flags": 0 },
            "private_channels": [],
            "presences": [],
            "relationships": [],
            "guild_join_requests": [],
            "user_settings": {},
            "session_type": "normal",
            "geo_ordered_rtc_regions": ["fake"],
            "_trace": ["[\"fake-discord\",{}]"],
        });
        let _ = out.send(Out::Text {
            frame: dispatch_frame("READY", 1, &ready),
            starts_session: true,
        });
        state.session = Some(Session {
            id: session_id,
            seq: 1,
            sent: Vec::new(),
        });
        state.live = Some(Live {
            conn,
            out: out.clone(),
        });
        for (event, data) in std::mem::take(&mut state.queue) {
            state.deliver(&event, data);
        }
    }

    fn resume(&self, conn: u64, out: &Outbox, resume: &Value) {
        let mut state = lock(&self.state);
        if state.hold_resumes {
            state.held.push((conn, out.clone(), resume.clone()));
            return;
        }
        state.resumes += 1;
        let wanted = resume["session_id"].as_str().unwrap_or_default();
        let acknowledged = resume["seq"].as_u64().unwrap_or(0);
        let Some(session) = state.session.as_mut().filter(|s| s.id == wanted) else {
            // Unknown or invalidated session: Discord answers op 9, not resumable.
            let _ = out.send(text(json!({ "op": 9, "d": false })));
            return;
        };
        for (_, frame) in session.sent.iter().filter(|(s, _)| *s > acknowledged) {
            let _ = out.send(Out::Text {
                frame: frame.clone(),
                starts_session: false,
            });
        }
        let queued = std::mem::take(&mut state.queue);
        state.live = Some(Live {
            conn,
            out: out.clone(),
        });
        for (event, data) in queued {
            state.deliver(&event, data);
        }
        let session = state.session.as_mut().expect("the session resumed above");
        session.seq += 1;
        let _ = out.send(Out::Text {
            frame: dispatch_frame("RESUMED", session.seq, &json!({})),
            starts_session: true,
        });
    }
}
