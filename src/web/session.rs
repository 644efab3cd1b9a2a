//! Who is signed in: sessions in a signed cookie, sign-in links, and the per-session form
//! token (CSRF). All three are the same shape, `payload.signature`, signed with the console's
//! key under a purpose of their own so one can never stand in for another.
//!
//! The cookie says who the person is, never what they may do: their role is worked out on
//! every request from the configuration, as chat does, so taking a role away in
//! `warroom.toml` takes effect at the next click rather than when the session ends.

use crate::app::Warroom;
use crate::config::WebSettings;
use crate::domain::access::Access;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "warroom_session";
/// The cookie that carries the OAuth `state` from the sign-in redirect to its callback.
pub const OAUTH_COOKIE: &str = "warroom_oauth";

/// What a signature is for; part of what is signed.
#[derive(Clone, Copy)]
pub enum Purpose {
    Session,
    Link,
    Form,
    OAuthState,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::Session => "warroom-web-session",
            Purpose::Link => "warroom-web-link",
            Purpose::Form => "warroom-web-form",
            Purpose::OAuthState => "warroom-web-oauth-state",
        }
    }
}

/// `base64url(json).base64url(hmac)`, the HMAC over the purpose and the encoded payload.
pub fn sign<T: Serialize>(web: &WebSettings, purpose: Purpose, payload: &T) -> String {
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).expect("payloads serialise"));
    let signature = mac(web, purpose, &body);
    format!("{body}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The payload of a token signed for `purpose`; `None` when it was not (forged, altered, made
/// with another key or for another purpose) or does not parse.
pub fn verify<T: DeserializeOwned>(web: &WebSettings, purpose: Purpose, token: &str) -> Option<T> {
    let (body, signature) = token.split_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let signed = format!("{}\n{body}", purpose.label());
    if !web.key.verifies(signed.as_bytes(), &signature) {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()
}

fn mac(web: &WebSettings, purpose: Purpose, body: &str) -> Vec<u8> {
    let signed = format!("{}\n{body}", purpose.label());
    let hex = web.key.sign(signed.as_bytes());
    hex::decode(hex.trim_start_matches("sha256=")).expect("sign gives hex")
}

/// How the person proved who they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "lowercase")]
pub enum Identity {
    /// A `warroom web-link` link made for this contact handle.
    Link { handle: String },
    /// Discord's OAuth2: the user id and the guild roles they held at sign-in.
    Discord {
        id: u64,
        name: String,
        #[serde(default)]
        roles: Vec<u64>,
    },
}

/// A signed-in session, as the cookie carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub who: Identity,
    /// Unix seconds after which the session is over.
    pub exp: i64,
    /// A random id: what the session's form token is made from.
    pub sid: String,
}

impl Session {
    pub fn new(who: Identity, now: DateTime<Utc>, web: &WebSettings) -> Session {
        Session {
            who,
            exp: (now + web.session_lifetime).timestamp(),
            sid: random_id(),
        }
    }

    /// The token every form of this session carries (and `POST`s are refused without).
    pub fn form_token(&self, web: &WebSettings) -> String {
        sign(web, Purpose::Form, &self.sid)
    }

    /// Whether `token` is this session's form token.
    pub fn accepts_form_token(&self, web: &WebSettings, token: &str) -> bool {
        verify::<String>(web, Purpose::Form, token).is_some_and(|sid| sid == self.sid)
    }
}

/// 128 random bits in hex: session ids, link nonces, OAuth states.
pub fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The person behind a request, as warroom decides for itself: the name their actions are
/// recorded under and the role they hold now.
#[derive(Debug, Clone)]
pub struct Person {
    pub session: Session,
    /// The actor of what they do: a contact's handle, or `Name (Discord)` as in chat.
    pub actor: String,
    pub access: Access,
}

impl Person {
    /// The person a session names, with their role read from the configuration now.
    pub fn of(session: Session, warroom: &Warroom, web: &WebSettings) -> Person {
        let settings = warroom.settings();
        let (actor, access) = match &session.who {
            Identity::Link { handle } => (handle.clone(), web.access_of_handle(handle)),
            Identity::Discord { id, name, roles } => {
                let actor = settings
                    .discord
                    .users
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("{name} (Discord)"));
                (actor, settings.discord.access_of(*id, roles))
            }
        };
        Person {
            session,
            actor,
            access,
        }
    }
}

/// The signed-in session a request carries, when its cookie is signed and not over.
pub fn session_of(headers: &HeaderMap, web: &WebSettings, now: DateTime<Utc>) -> Option<Session> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let session: Session = verify(web, Purpose::Session, &token)?;
    (session.exp > now.timestamp()).then_some(session)
}

/// The value of the request's cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

/// `Set-Cookie` for a console cookie: `HttpOnly` (no script reads it), `Secure` (https, or
/// localhost), `SameSite=Lax` (sent when following a link in, never with another site's
/// form), for the whole console; `max_age` seconds, 0 to remove it.
pub fn set_cookie(headers: &mut HeaderMap, name: &str, value: &str, max_age: i64) {
    let cookie =
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.append(SET_COOKIE, value);
    }
}

/// What a sign-in link carries.
#[derive(Debug, Serialize, Deserialize)]
pub struct LinkClaim {
    pub handle: String,
    /// Unix seconds after which the link is refused.
    pub exp: i64,
    /// Each link is taken once: the nonce is remembered until the link would expire.
    pub nonce: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn web(key: &str) -> WebSettings {
        WebSettings {
            listen: None,
            public_url: None,
            key: Secret::new(key),
            session_lifetime: chrono::Duration::hours(12),
            link_lifetime: chrono::Duration::minutes(15),
            default_access: Access::Viewer,
            access: Default::default(),
            discord: None,
        }
    }

    #[test]
    fn a_token_verifies_only_under_its_key_and_purpose_and_unaltered() {
        let a = web("a-key-of-thirty-two-characters!!");
        let b = web("another-key-of-thirty-two-chars!");
        let token = sign(&a, Purpose::Session, &"svega");
        assert_eq!(
            verify::<String>(&a, Purpose::Session, &token).as_deref(),
            Some("svega")
        );
        assert!(verify::<String>(&b, Purpose::Session, &token).is_none());
        assert!(verify::<String>(&a, Purpose::Link, &token).is_none());
        let (body, signature) = token.split_once('.').unwrap();
        let forged_body = URL_SAFE_NO_PAD.encode(b"\"rpark\"");
        assert_ne!(body, forged_body);
        assert!(
            verify::<String>(&a, Purpose::Session, &format!("{forged_body}.{signature}")).is_none()
        );
        assert!(verify::<String>(&a, Purpose::Session, "garbage").is_none());
    }

    #[test]
    fn a_form_token_belongs_to_one_session() {
        let w = web("a-key-of-thirty-two-characters!!");
        let now = Utc::now();
        let mine = Session::new(
            Identity::Link {
                handle: "svega".into(),
            },
            now,
            &w,
        );
        let theirs = Session::new(
            Identity::Link {
                handle: "svega".into(),
            },
            now,
            &w,
        );
        assert!(mine.accepts_form_token(&w, &mine.form_token(&w)));
        assert!(!mine.accepts_form_token(&w, &theirs.form_token(&w)));
        assert!(!mine.accepts_form_token(&w, ""));
    }

    #[test]
    fn an_expired_session_is_not_taken() {
        let w = web("a-key-of-thirty-two-characters!!");
        let now = Utc::now();
        let session = Session::new(
            Identity::Link {
                handle: "svega".into(),
            },
            now,
            &w,
        );
        let mut headers = HeaderMap::new();
        let value = format!(
            "other=1; {SESSION_COOKIE}={}",
            sign(&w, Purpose::Session, &session)
        );
        headers.insert(COOKIE, HeaderValue::from_str(&value).unwrap());
        assert!(session_of(&headers, &w, now).is_some());
        assert!(session_of(&headers, &w, now + chrono::Duration::hours(13)).is_none());
    }
}
