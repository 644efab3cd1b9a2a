//! The web console: incidents, their live timelines and what responders do about them, in the
//! browser. Pages are rendered on the server (maud escapes every text), a little plain
//! JavaScript adds live updates by Server-Sent Events and sends forms without a reload, and
//! the assets are compiled into the binary. Every action goes through [`Warroom::handle`] as
//! the signed-in person, with the role warroom gives them, exactly as in chat.
//!
//! Served by `warroom serve` on its own port, or on `[web] listen`; off without `[web]`.

mod actions;
mod incident;
mod incidents;
mod layout;
mod ledger;
mod oncall;
mod postmortem;
mod runs;
pub mod session;
mod signin;
mod timeline;

use crate::app::Warroom;
use crate::clock::Clock;
use crate::config::{Settings, WebSettings};
use crate::domain::access::Access;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use session::{LinkClaim, Person, Purpose};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// What every page handler shares.
pub struct Console {
    warroom: Arc<Warroom>,
    web: WebSettings,
    clock: Clock,
    /// Sign-in links already taken here, by nonce, until they would have expired.
    used_links: Mutex<HashMap<String, i64>>,
    /// Set when the server stops: live timelines end so the shutdown need not wait for them.
    stopped: watch::Receiver<bool>,
    /// For Discord's token and user endpoints.
    http: reqwest::Client,
    /// The last ledger verify started from the console.
    verify: Mutex<Option<ledger::Verify>>,
}

type Shared = Arc<Console>;

/// The console's routes over `warroom`, or `None` when `[web]` is not configured.
pub fn router(
    warroom: Arc<Warroom>,
    clock: Clock,
    stopped: watch::Receiver<bool>,
) -> anyhow::Result<Option<Router>> {
    let Some(web) = warroom.settings().web.clone() else {
        return Ok(None);
    };
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let console = Arc::new(Console {
        warroom,
        web,
        clock,
        used_links: Mutex::new(HashMap::new()),
        stopped,
        http,
        verify: Mutex::new(None),
    });
    let router = Router::new()
        .route("/", get(|| async { Redirect::to("/incidents") }))
        .route("/incidents", get(incidents::list))
        .route("/incidents/{number}", get(incident::page))
        .route("/incidents/{number}/live", get(incident::live))
        .route("/incidents/{number}/state", get(incident::state))
        .route("/incidents/{number}/postmortem", get(postmortem::page))
        .route(
            "/incidents/{number}/postmortem.md",
            get(postmortem::markdown),
        )
        .route("/incidents/{number}/postmortem.json", get(postmortem::json))
        .route("/incidents/{number}/say", post(actions::say))
        .route("/incidents/{number}/act", post(actions::act))
        .route("/oncall", get(oncall::page))
        .route("/runs", get(runs::page))
        .route("/ledger", get(ledger::page))
        .route("/ledger/verify", post(ledger::verify))
        .route("/signin", get(signin::page))
        .route("/signin/link", get(signin::by_link))
        .route("/signin/discord", get(signin::discord_start))
        .route("/signin/discord/callback", get(signin::discord_callback))
        .route("/signout", post(signin::sign_out))
        .route("/assets/console.css", get(stylesheet))
        .route("/assets/console.js", get(script))
        .layer(axum::middleware::from_fn(guard_headers))
        .with_state(console);
    Ok(Some(router))
}

/// What every console answer carries: a Content-Security-Policy that allows scripts, styles
/// and connections from the console itself only (no inline script, so an injected `<script>`
/// would not run even if a text slipped through escaping), no framing, no sniffing, no
/// referrer beyond the console, and no caching of pages that hold incident data.
async fn guard_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

const STYLESHEET: &str = include_str!("assets/console.css");
const SCRIPT: &str = include_str!("assets/console.js");

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static("max-age=300")),
        ],
        body,
    )
        .into_response()
}

impl Console {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The signed-in person behind a request, when there is one.
    fn person(&self, headers: &HeaderMap) -> Option<Person> {
        let session = session::session_of(headers, &self.web, self.now())?;
        Some(Person::of(session, &self.warroom, &self.web))
    }

    /// The person, when they may read the console; else the answer to give instead: the
    /// sign-in page (coming back to `back` afterwards), or a refusal for a role below viewer.
    fn reader(&self, headers: &HeaderMap, back: &str) -> Result<Person, Box<Response>> {
        let Some(person) = self.person(headers) else {
            let to = format!("/signin?next={}", url_param(back));
            return Err(Box::new(Redirect::to(&to).into_response()));
        };
        if !person.access.allows(Access::Viewer) {
            return Err(Box::new(refusal(
                StatusCode::FORBIDDEN,
                &format!(
                    "Reading the console needs the viewer role in warroom and you have {}; ask whoever runs warroom to grant it.",
                    person.access
                ),
                Some(&person),
                &self.web,
            )));
        }
        Ok(person)
    }

    /// The person sending a form, when they are signed in and the form carries their
    /// session's token; else the refusal to answer with.
    fn sender(&self, headers: &HeaderMap, csrf: Option<&str>) -> Result<Person, Box<Response>> {
        let Some(person) = self.person(headers) else {
            return Err(Box::new(refusal(
                StatusCode::UNAUTHORIZED,
                "Your session has ended; sign in again and resend.",
                None,
                &self.web,
            )));
        };
        self.form_of(&person, csrf)?;
        Ok(person)
    }

    /// Whether a form carries `person`'s session token; else the refusal to answer with.
    fn form_of(&self, person: &Person, csrf: Option<&str>) -> Result<(), Box<Response>> {
        if person
            .session
            .accepts_form_token(&self.web, csrf.unwrap_or(""))
        {
            return Ok(());
        }
        Err(Box::new(refusal(
            StatusCode::FORBIDDEN,
            "This form is from another session or another site; reload the page and try again.",
            Some(person),
            &self.web,
        )))
    }

    /// The answer when the store cannot be read for a page: logged with `what` failed.
    fn unavailable(&self, person: &Person, what: &str, e: &anyhow::Error) -> Response {
        tracing::error!("the web console could not read {what}: {e:#}");
        refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "The ledger cannot be read just now; try again in a moment.",
            Some(person),
            &self.web,
        )
    }

    /// Takes a sign-in link once: the handle it was made for, or why it is refused.
    fn take_link(&self, token: &str) -> Result<String, &'static str> {
        let claim: LinkClaim = session::verify(&self.web, Purpose::Link, token)
            .ok_or("This sign-in link is not one warroom made, or it was cut short; ask for a new one (`warroom web-link @handle`).")?;
        let now = self.now().timestamp();
        if claim.exp <= now {
            return Err(
                "This sign-in link has expired; ask for a new one (`warroom web-link @handle`).",
            );
        }
        let mut used = self
            .used_links
            .lock()
            .expect("the link list is never poisoned");
        used.retain(|_, exp| *exp > now);
        if used.insert(claim.nonce, claim.exp).is_some() {
            return Err("This sign-in link was used already; each link signs in once. Ask for a new one (`warroom web-link @handle`).");
        }
        Ok(claim.handle)
    }
}

/// A page that says what was refused and what to do, with the status given.
fn refusal(
    status: StatusCode,
    message: &str,
    person: Option<&Person>,
    web: &WebSettings,
) -> Response {
    let body = maud::html! {
        section.refusal {
            h1 { "Not allowed" }
            p { (message) }
        }
    };
    (status, layout::page("Not allowed", person, web, body)).into_response()
}

/// A sign-in link for `handle` (a contact), valid for `[web] link_minutes` from `now`: what
/// `warroom web-link` prints. `base` is the console's public address.
pub fn sign_in_link(
    settings: &Settings,
    handle: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let Some(web) = &settings.web else {
        anyhow::bail!(
            "the web console is off; add a [web] section to warroom.toml (docs/web-console.md)"
        );
    };
    let Some(contact) = settings.directory.person(handle) else {
        anyhow::bail!(
            "'{handle}' is not a contact's handle; sign-in links are made for people in [[contacts]]"
        );
    };
    let claim = LinkClaim {
        handle: contact.handle.clone(),
        exp: (now + web.link_lifetime).timestamp(),
        nonce: session::random_id(),
    };
    let token = session::sign(web, Purpose::Link, &claim);
    let base = web.public_url.clone().unwrap_or_else(|| {
        format!(
            "http://{}",
            web.listen
                .map(|l| l.to_string())
                .unwrap_or_else(|| settings.listen.clone())
        )
    });
    Ok(format!("{base}/signin/link?token={token}"))
}

/// A value for a URL's query, percent-encoded.
fn url_param(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Where to go after signing in: a path of the console only, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/incidents".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_signing_in_only_console_paths_are_followed() {
        assert_eq!(safe_next(Some("/incidents/7")), "/incidents/7");
        assert_eq!(safe_next(Some("//evil.example")), "/incidents");
        assert_eq!(safe_next(Some("https://evil.example")), "/incidents");
        assert_eq!(safe_next(Some("/\\evil.example")), "/incidents");
        assert_eq!(safe_next(None), "/incidents");
    }
}
