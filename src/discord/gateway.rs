//! Discord's gateway session, held by warroom itself: connect, IDENTIFY or RESUME, heartbeat,
//! read dispatches, and reconnect — a loop that always awaits, so a dead socket can never
//! spin and starve alert intake.
//!
//! serenity 0.12.5's shard runner was replaced because of what it does after a socket is cut
//! while Discord refuses new connections: its failed RESUME leaves the dead stream in place,
//! every read returns at once without yielding, and the task holds a worker thread until the
//! heartbeat check fails some 41 s later (its shutdown path loops on the same stream). Here a
//! read that ends ends the connection; reconnecting waits between attempts (at most
//! [`RETRY_CAP`]), so the gateway is back within about two seconds of Discord taking
//! connections again. serenity's models still read every payload.
//!
//! What counts as "connected" comes from what actually happens on the socket: a session is up
//! from READY or RESUMED until the socket ends, a close frame arrives, Discord asks for a
//! reconnect, or a heartbeat goes unacknowledged for [`ACK_WAIT`] (a silently dead link).

use flate2::read::ZlibDecoder;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};
use serenity::all::{ChannelId, Interaction, Message, MessageId, MessageUpdateEvent, Ready};
use serenity::http::Http;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::GatewayState;

/// The gateway API version warroom speaks.
const API_VERSION: u8 = 10;
/// Longest wait between connection attempts while Discord refuses or cannot be reached.
pub const RETRY_CAP: Duration = Duration::from_secs(2);
/// Longest wait for a heartbeat's acknowledgement before the link counts as dead.
pub const ACK_WAIT: Duration = Duration::from_secs(5);
/// Longest wait for a websocket handshake, for HELLO, and for the REST call naming the
/// gateway's URL: a hanging Discord must not hold the loop.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// Discord lets a bot IDENTIFY once per five seconds (max_concurrency 1).
const IDENTIFY_SPACING: Duration = Duration::from_secs(5);
/// Largest payload read, compressed or not: a READY of a very large guild stays well below.
const MAX_PAYLOAD: usize = 64 << 20;

/// What the gateway hands the bot, in the order Discord sent it.
#[derive(Debug)]
pub enum Inbound {
    /// A new session: whatever happened before it was not delivered and must be read back.
    Ready(Box<Ready>),
    /// The session resumed: Discord replayed what was missed.
    Resumed,
    Message(Box<Message>),
    Edit(Box<MessageUpdateEvent>),
    Delete {
        channel: ChannelId,
        ids: Vec<MessageId>,
    },
    /// A reaction added to a message (`added`) or taken off it.
    Reaction {
        reaction: Box<serenity::all::Reaction>,
        added: bool,
    },
    /// `replayed`: Discord sent it again on RESUME, after the session was away — most likely
    /// past the three seconds Discord allows for an answer.
    Interaction {
        interaction: Box<Interaction>,
        replayed: bool,
    },
}

/// What the loop needs to hold a session.
pub struct Link {
    pub token: String,
    pub intents: u64,
    /// The REST client, for `GET /gateway/bot` (the URL to connect to).
    pub http: Arc<Http>,
    pub state: Arc<GatewayState>,
    pub inbound: mpsc::UnboundedSender<Inbound>,
}

/// A session that can be resumed after its connection ends.
struct Session {
    id: String,
    resume_url: String,
    seq: u64,
}

/// How one connection ended.
enum Ended {
    /// Asked to stop; the socket was closed with 1000 (Discord ends the session).
    Stopped,
    /// Reconnect, resuming if the session is still held, after `wait`.
    Reconnect { why: String, wait: Duration },
    /// Discord refused something retrying cannot fix (token, intents, version).
    Fatal(String),
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Holds the gateway until `stop` turns true, reconnecting as long as it takes.
pub async fn run(link: Link, mut stop: watch::Receiver<bool>) {
    let mut session: Option<Session> = None;
    let mut gateway_url: Option<String> = None;
    let mut failures: u32 = 0;
    let mut last_identify: Option<Instant> = None;
    let mut wait = Duration::ZERO;
    loop {
        if !wait.is_zero() && pause(wait, &mut stop).await {
            return;
        }
        if *stop.borrow() {
            return;
        }
        let url = match &session {
            Some(s) => s.resume_url.clone(),
            None => match &gateway_url {
                Some(url) => url.clone(),
                None => match fetch_gateway_url(&link.http).await {
                    Ok(url) => {
                        gateway_url = Some(url.clone());
                        url
                    }
                    Err(why) => {
                        failures = failures.saturating_add(1);
                        link.state.lost(&why);
                        wait = retry_wait(failures);
                        continue;
                    }
                },
            },
        };
        let socket = tokio::select! {
            socket = connect(&url) => socket,
            _ = stop.changed() => return,
        };
        let socket = match socket {
            Ok(socket) => socket,
            Err(why) => {
                failures = failures.saturating_add(1);
                link.state.lost(&why);
                // A resume URL or a cached gateway URL that keeps failing may be stale.
                if failures % 3 == 0 {
                    gateway_url = None;
                }
                wait = retry_wait(failures);
                continue;
            }
        };
        if session.is_none() {
            // Discord's IDENTIFY limit: keep them apart even when sessions fail quickly.
            if let Some(last) = last_identify {
                let since = last.elapsed();
                if since < IDENTIFY_SPACING && pause(IDENTIFY_SPACING - since, &mut stop).await {
                    return;
                }
            }
            last_identify = Some(Instant::now());
        }
        let ended = hold(&link, socket, &mut session, &mut stop, &mut failures).await;
        match ended {
            Ended::Stopped => {
                link.state.set_connected(false);
                return;
            }
            Ended::Fatal(why) => {
                link.state.failed(&why);
                tracing::error!("Discord gateway: {why}; it stays disconnected until restarted");
                return;
            }
            Ended::Reconnect { why, wait: next } => {
                link.state.lost(&why);
                wait = next;
            }
        }
    }
}

/// Sleeps unless told to stop first; true when told to stop.
async fn pause(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// The wait before the next attempt after `failures` failed ones in a row: a quarter second
/// doubling to [`RETRY_CAP`], with a little jitter so replicas do not knock in step.
fn retry_wait(failures: u32) -> Duration {
    let base = Duration::from_millis(250) * 2u32.saturating_pow(failures.saturating_sub(1));
    base.min(RETRY_CAP) + Duration::from_millis(rand::thread_rng().gen_range(0..100))
}

async fn fetch_gateway_url(http: &Http) -> Result<String, String> {
    match tokio::time::timeout(STEP_TIMEOUT, http.get_bot_gateway()).await {
        Ok(Ok(gateway)) => Ok(gateway.url),
        Ok(Err(e)) => Err(format!(
            "cannot ask Discord for the gateway's address: {}",
            super::explain(&e.into())
        )),
        Err(_) => Err(format!(
            "Discord did not say where its gateway is within {} s",
            STEP_TIMEOUT.as_secs()
        )),
    }
}

async fn connect(base: &str) -> Result<Socket, String> {
    let mut url = url::Url::parse(base)
        .map_err(|e| format!("the gateway address {base:?} is not a URL: {e}"))?;
    url.query_pairs_mut()
        .clear()
        .append_pair("v", &API_VERSION.to_string())
        .append_pair("encoding", "json");
    let config = WebSocketConfig {
        max_message_size: Some(MAX_PAYLOAD),
        max_frame_size: Some(MAX_PAYLOAD),
        ..Default::default()
    };
    let connecting =
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false);
    match tokio::time::timeout(STEP_TIMEOUT, connecting).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(e)) => Err(format!("cannot connect to the gateway: {e}")),
        Err(_) => Err(format!(
            "the gateway did not answer within {} s",
            STEP_TIMEOUT.as_secs()
        )),
    }
}

/// One gateway payload as Discord frames it.
#[derive(Deserialize)]
struct Payload {
    op: u8,
    #[serde(default)]
    d: Value,
    #[serde(default)]
    s: Option<u64>,
    #[serde(default)]
    t: Option<String>,
}

/// Holds one connection: HELLO, IDENTIFY or RESUME, then heartbeats and dispatches until it
/// ends.
async fn hold(
    link: &Link,
    mut socket: Socket,
    session: &mut Option<Session>,
    stop: &mut watch::Receiver<bool>,
    failures: &mut u32,
) -> Ended {
    let interval = match tokio::time::timeout(STEP_TIMEOUT, hello(&mut socket)).await {
        Ok(Ok(interval)) => interval,
        Ok(Err(why)) => return reconnect(why, Duration::ZERO),
        Err(_) => return reconnect("no HELLO from the gateway".into(), retry_wait(1)),
    };
    // Between our RESUME and Discord's RESUMED come the dispatches missed meanwhile.
    let mut replaying = session.is_some();
    let opening = match session {
        Some(s) => json!({ "op": 6, "d": {
            "token": link.token, "session_id": s.id, "seq": s.seq,
        }}),
        None => json!({ "op": 2, "d": {
            "token": link.token,
            "intents": link.intents,
            "properties": { "os": std::env::consts::OS, "browser": "warroom", "device": "warroom" },
            "compress": true,
            "large_threshold": 50,
            "shard": [0, 1],
        }}),
    };
    if let Err(e) = socket.send(Frame::Text(opening.to_string())).await {
        return reconnect(
            format!("the gateway connection failed: {e}"),
            Duration::ZERO,
        );
    }
    // A silent link is one that owes an acknowledgement this long.
    let ack_wait = ACK_WAIT.min(interval);
    // Discord asks for the first beat after a random share of the interval.
    let mut next_beat = Instant::now() + interval.mul_f64(rand::thread_rng().gen_range(0.0..1.0));
    let mut ack_due: Option<Instant> = None;
    loop {
        let wake = ack_due.map_or(next_beat, |due| due.min(next_beat));
        tokio::select! {
            _ = stop.changed() => {
                let close = CloseFrame { code: CloseCode::Normal, reason: "warroom stopping".into() };
                let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(Some(close))).await;
                return Ended::Stopped;
            }
            _ = tokio::time::sleep_until(wake) => {
                if ack_due.is_some_and(|due| Instant::now() >= due) {
                    return reconnect(
                        format!("no heartbeat acknowledgement within {} s (the link is dead)", ACK_WAIT.as_secs()),
                        Duration::ZERO,
                    );
                }
                if Instant::now() >= next_beat {
                    if let Err(e) = beat(&mut socket, session).await {
                        return reconnect(format!("the gateway connection failed: {e}"), Duration::ZERO);
                    }
                    // An acknowledgement still owed keeps its deadline: later beats must not
                    // push it back.
                    ack_due.get_or_insert(Instant::now() + ack_wait);
                    next_beat += interval;
                }
            }
            frame = socket.next() => {
                let text = match frame {
                    Some(Ok(Frame::Text(text))) => text,
                    Some(Ok(Frame::Binary(bytes))) => match inflate(&bytes) {
                        Ok(text) => text,
                        Err(why) => {
                            tracing::warn!("Discord gateway: skipped a payload: {why}");
                            continue;
                        }
                    },
                    Some(Ok(Frame::Close(close))) => return closed(close, session),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return reconnect(format!("the gateway connection broke: {e}"), Duration::ZERO),
                    None => return reconnect("the gateway closed the connection".into(), Duration::ZERO),
                };
                let payload: Payload = match serde_json::from_str(&text) {
                    Ok(payload) => payload,
                    Err(e) => {
                        tracing::warn!("Discord gateway: skipped a payload that is not gateway JSON: {e}");
                        continue;
                    }
                };
                match payload.op {
                    0 => {
                        if let (Some(s), Some(held)) = (payload.s, session.as_mut()) {
                            held.seq = held.seq.max(s);
                        }
                        let started = dispatch(link, payload, session, replaying);
                        replaying &= !started;
                        if started {
                            *failures = 0;
                        }
                    }
                    // Discord asks for a beat now.
                    1 => {
                        if let Err(e) = beat(&mut socket, session).await {
                            return reconnect(format!("the gateway connection failed: {e}"), Duration::ZERO);
                        }
                        ack_due.get_or_insert(Instant::now() + ack_wait);
                    }
                    7 => return reconnect("Discord asked for a reconnect".into(), Duration::ZERO),
                    9 => {
                        let resumable = payload.d.as_bool().unwrap_or(false);
                        if !resumable {
                            *session = None;
                        }
                        // Discord asks for a wait of one to five seconds before the next try.
                        let wait = Duration::from_millis(rand::thread_rng().gen_range(1000..5000));
                        return reconnect("Discord invalidated the session".into(), wait);
                    }
                    11 => ack_due = None,
                    _ => {}
                }
            }
        }
    }
}

fn reconnect(why: String, wait: Duration) -> Ended {
    Ended::Reconnect { why, wait }
}

/// Reads HELLO and returns the heartbeat interval.
async fn hello(socket: &mut Socket) -> Result<Duration, String> {
    loop {
        let text = match socket.next().await {
            Some(Ok(Frame::Text(text))) => text,
            Some(Ok(Frame::Binary(bytes))) => inflate(&bytes)?,
            Some(Ok(Frame::Close(close))) => {
                return Err(format!("the gateway closed at once ({close:?})"));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("the gateway connection broke: {e}")),
            None => return Err("the gateway closed the connection".into()),
        };
        let payload: Payload = serde_json::from_str(&text)
            .map_err(|e| format!("the gateway's first payload is not JSON: {e}"))?;
        if payload.op == 10 {
            let ms = payload.d["heartbeat_interval"]
                .as_u64()
                .filter(|ms| *ms > 0)
                .ok_or("HELLO without a heartbeat interval")?;
            return Ok(Duration::from_millis(ms));
        }
    }
}

async fn beat(
    socket: &mut Socket,
    session: &Option<Session>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let seq = session.as_ref().map(|s| s.seq);
    socket
        .send(Frame::Text(json!({ "op": 1, "d": seq }).to_string()))
        .await
}

/// Discord compresses a payload with zlib when IDENTIFY offered `compress`.
fn inflate(bytes: &[u8]) -> Result<String, String> {
    let mut text = String::new();
    ZlibDecoder::new(bytes)
        .take(MAX_PAYLOAD as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("a compressed payload did not inflate: {e}"))?;
    if text.len() > MAX_PAYLOAD {
        return Err(format!("a payload inflated past {} MiB", MAX_PAYLOAD >> 20));
    }
    Ok(text)
}

/// What a close frame from Discord means.
fn closed(close: Option<CloseFrame<'_>>, session: &mut Option<Session>) -> Ended {
    let code = close.as_ref().map_or(1005, |c| u16::from(c.code));
    let fatal = match code {
        4004 => Some("Discord refused the bot token (close 4004); check WARROOM_DISCORD_TOKEN or discord.token_file"),
        4010 | 4011 => Some("Discord wants this bot sharded (close 4010/4011), which warroom does not do"),
        4012 => Some("Discord refused the gateway version (close 4012)"),
        4013 => Some("Discord refused the intents asked for (close 4013)"),
        4014 => Some("Discord refused a privileged intent (close 4014): turn on Message Content in the Developer Portal (see docs/discord.md)"),
        _ => None,
    };
    if let Some(why) = fatal {
        return Ended::Fatal(why.into());
    }
    // A bad sequence or a timed-out session cannot be resumed.
    if matches!(code, 4007 | 4009) {
        *session = None;
    }
    reconnect(
        format!("the gateway closed the connection ({code})"),
        Duration::ZERO,
    )
}

/// Hands a dispatch to the bot; true when it started a session (READY or RESUMED).
fn dispatch(link: &Link, payload: Payload, session: &mut Option<Session>, replayed: bool) -> bool {
    let Some(kind) = payload.t.as_deref() else {
        return false;
    };
    let inbound = match kind {
        "READY" => match serde_json::from_value::<Ready>(payload.d) {
            Ok(ready) => {
                *session = Some(Session {
                    id: ready.session_id.clone(),
                    resume_url: ready.resume_gateway_url.clone(),
                    seq: payload.s.unwrap_or(0),
                });
                link.state.set_connected(true);
                Some(Inbound::Ready(Box::new(ready)))
            }
            Err(e) => {
                tracing::error!("Discord gateway: READY could not be read: {e}");
                None
            }
        },
        "RESUMED" => {
            link.state.set_connected(true);
            Some(Inbound::Resumed)
        }
        "MESSAGE_CREATE" => read(kind, payload.d).map(|m| Inbound::Message(Box::new(m))),
        "MESSAGE_UPDATE" => read(kind, payload.d).map(|e| Inbound::Edit(Box::new(e))),
        "MESSAGE_DELETE" => read::<Deleted>(kind, payload.d).map(|d| Inbound::Delete {
            channel: d.channel_id,
            ids: vec![d.id],
        }),
        "MESSAGE_DELETE_BULK" => read::<DeletedMany>(kind, payload.d).map(|d| Inbound::Delete {
            channel: d.channel_id,
            ids: d.ids,
        }),
        "MESSAGE_REACTION_ADD" | "MESSAGE_REACTION_REMOVE" => {
            read(kind, payload.d).map(|reaction| Inbound::Reaction {
                reaction: Box::new(reaction),
                added: kind == "MESSAGE_REACTION_ADD",
            })
        }
        "INTERACTION_CREATE" => read(kind, payload.d).map(|i| Inbound::Interaction {
            interaction: Box::new(i),
            replayed,
        }),
        _ => None,
    };
    let Some(inbound) = inbound else {
        return false;
    };
    let started = matches!(inbound, Inbound::Ready(_) | Inbound::Resumed);
    let _ = link.inbound.send(inbound);
    started
}

/// Reads a dispatch's data; one serenity cannot read is logged and skipped, never fatal.
fn read<T: serde::de::DeserializeOwned>(kind: &str, data: Value) -> Option<T> {
    match serde_json::from_value(data) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!("Discord gateway: skipped a {kind} that could not be read: {e}");
            None
        }
    }
}

#[derive(Deserialize)]
struct Deleted {
    id: MessageId,
    channel_id: ChannelId,
}

#[derive(Deserialize)]
struct DeletedMany {
    ids: Vec<MessageId>,
    channel_id: ChannelId,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(code: u16) -> Option<CloseFrame<'static>> {
        Some(CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        })
    }

    fn held() -> Option<Session> {
        Some(Session {
            id: "s".into(),
            resume_url: "ws://x".into(),
            seq: 7,
        })
    }

    #[test]
    fn close_codes_decide_between_resuming_identifying_and_giving_up() {
        for fatal in [4004, 4010, 4011, 4012, 4013, 4014] {
            let mut session = held();
            assert!(
                matches!(closed(close(fatal), &mut session), Ended::Fatal(_)),
                "{fatal}"
            );
        }
        for fresh in [4007, 4009] {
            let mut session = held();
            assert!(matches!(
                closed(close(fresh), &mut session),
                Ended::Reconnect { .. }
            ));
            assert!(session.is_none(), "{fresh} cannot be resumed");
        }
        for resumable in [1001, 1006, 4000, 4008] {
            let mut session = held();
            assert!(matches!(
                closed(close(resumable), &mut session),
                Ended::Reconnect { .. }
            ));
            assert!(session.is_some(), "{resumable} can be resumed");
        }
        let mut session = held();
        assert!(matches!(
            closed(None, &mut session),
            Ended::Reconnect { .. }
        ));
        assert!(session.is_some());
    }

    #[test]
    fn retries_start_quick_and_never_wait_more_than_the_cap() {
        assert!(retry_wait(1) < Duration::from_millis(400));
        for failures in [2, 5, 10, 1000, u32::MAX] {
            let wait = retry_wait(failures);
            assert!(
                wait <= RETRY_CAP + Duration::from_millis(100),
                "{failures}: {wait:?}"
            );
        }
        assert!(retry_wait(6) >= RETRY_CAP);
    }

    #[test]
    fn compressed_payloads_inflate_and_garbage_is_an_error() {
        use flate2::write::ZlibEncoder;
        use std::io::Write;
        let mut encoder = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(br#"{"op":11}"#).unwrap();
        assert_eq!(inflate(&encoder.finish().unwrap()).unwrap(), r#"{"op":11}"#);
        assert!(inflate(b"not zlib").is_err());
    }
}
