//! Signing in and out: with Discord (OAuth2's authorization-code flow: the person approves
//! warroom in Discord, warroom exchanges the code for a token and asks Discord who they are
//! and which roles they hold in the guild), or with a `warroom web-link` link for installs
//! without Discord.

use super::session::{self, set_cookie, Identity, Purpose, Session, OAUTH_COOKIE, SESSION_COOKIE};
use super::{layout, refusal, safe_next, url_param, Shared};
use axum::extract::{Query, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// `GET /signin`: the ways in this install offers.
pub async fn page(State(console): State<Shared>, Query(q): Query<Next>) -> Response {
    let next = safe_next(q.next.as_deref());
    let body = html! {
        section.signin {
            h1 { "Sign in to warroom" }
            @if console.web.discord.is_some() {
                p {
                    a.button href={ "/signin/discord?next=" (url_param(&next)) } { "Sign in with Discord" }
                }
                p.hint { "Your role here is the one warroom gives you in chat." }
            } @else {
                p { "Sign-in with Discord is not set up here ([web.discord] in warroom.toml)." }
            }
            p.hint {
                "Without Discord, ask whoever runs warroom for a sign-in link: "
                code { "warroom web-link @you" }
                ". Each link signs in once and soon expires."
            }
        }
    };
    layout::page("Sign in", None, &console.web, body).into_response()
}

#[derive(Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
}

/// `GET /signin/link?token=…`: a link made by `warroom web-link`, taken once.
pub async fn by_link(State(console): State<Shared>, Query(q): Query<LinkQuery>) -> Response {
    let handle = match q.token.as_deref().map(|t| console.take_link(t)) {
        Some(Ok(handle)) => handle,
        Some(Err(why)) => return refusal(StatusCode::FORBIDDEN, why, None, &console.web),
        None => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "This address needs the token of a sign-in link; open the whole link `warroom web-link` printed.",
                None,
                &console.web,
            )
        }
    };
    tracing::info!(person = %handle, "signed in to the web console by link");
    signed_in(&console, Identity::Link { handle }, "/incidents")
}

/// The answer that starts a session for `who`: its cookie, and on to `next`.
fn signed_in(console: &Shared, who: Identity, next: &str) -> Response {
    let session = Session::new(who, console.now(), &console.web);
    let token = session::sign(&console.web, Purpose::Session, &session);
    let mut response = Redirect::to(next).into_response();
    set_cookie(
        response.headers_mut(),
        SESSION_COOKIE,
        &token,
        console.web.session_lifetime.num_seconds(),
    );
    response
}

#[derive(Deserialize)]
pub struct SignOutForm {
    csrf: Option<String>,
}

/// `POST /signout`: ends the session in this browser.
pub async fn sign_out(
    State(console): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<SignOutForm>,
) -> Response {
    // Signed out already: nothing to end. Signed in: only a form of this session ends it.
    if let Some(person) = console.person(&headers) {
        if let Err(refused) = console.form_of(&person, form.csrf.as_deref()) {
            return *refused;
        }
    }
    let mut response = Redirect::to("/signin").into_response();
    set_cookie(response.headers_mut(), SESSION_COOKIE, "", 0);
    response
}

/// What the OAuth cookie keeps between the redirect to Discord and the way back.
#[derive(Serialize, Deserialize)]
struct OAuthState {
    state: String,
    next: String,
    exp: i64,
}

/// How long a person may take to approve warroom in Discord.
const OAUTH_MINUTES: i64 = 10;

/// The address Discord sends the person back to: the public address when configured, else
/// the one this request came to.
fn callback_url(console: &Shared, headers: &HeaderMap) -> String {
    let base = console.web.public_url.clone().unwrap_or_else(|| {
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    });
    format!("{base}/signin/discord/callback")
}

/// `GET /signin/discord`: on to Discord's consent page, with a `state` only this browser
/// holds (in a signed cookie) so a callback forged elsewhere is refused.
pub async fn discord_start(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Response {
    let Some(discord) = &console.web.discord else {
        return refusal(
            StatusCode::NOT_FOUND,
            "Sign-in with Discord is not set up here; add [web.discord] to warroom.toml, or sign in by link.",
            None,
            &console.web,
        );
    };
    let state = OAuthState {
        state: session::random_id(),
        next: safe_next(q.next.as_deref()),
        exp: (console.now() + chrono::Duration::minutes(OAUTH_MINUTES)).timestamp(),
    };
    let api = &console.warroom.settings().discord.api_url;
    let scope = if console.warroom.settings().discord.guild_id.is_some() {
        "identify guilds.members.read"
    } else {
        "identify"
    };
    let to = format!(
        "{api}/oauth2/authorize?response_type=code&client_id={}&scope={}&redirect_uri={}&state={}&prompt=none",
        url_param(&discord.client_id),
        url_param(scope),
        url_param(&callback_url(&console, &headers)),
        url_param(&state.state),
    );
    let mut response = Redirect::to(&to).into_response();
    set_cookie(
        response.headers_mut(),
        OAUTH_COOKIE,
        &session::sign(&console.web, Purpose::OAuthState, &state),
        OAUTH_MINUTES * 60,
    );
    response
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

#[derive(Deserialize)]
struct DiscordUser {
    id: String,
    username: String,
    global_name: Option<String>,
}

#[derive(Deserialize)]
struct GuildMember {
    #[serde(default)]
    roles: Vec<String>,
}

/// `GET /signin/discord/callback`: Discord's answer. The code is exchanged for a token,
/// which is used at once to learn the person and their guild roles, and then dropped.
pub async fn discord_callback(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let refuse = |status, why: &str| refusal(status, why, None, &console.web);
    let Some(discord) = &console.web.discord else {
        return refuse(
            StatusCode::NOT_FOUND,
            "Sign-in with Discord is not set up here.",
        );
    };
    if let Some(error) = &q.error {
        return refuse(
            StatusCode::FORBIDDEN,
            &format!("Discord did not sign you in ({error}); try again from the sign-in page."),
        );
    }
    let expected: Option<OAuthState> = session::cookie(&headers, OAUTH_COOKIE)
        .and_then(|c| session::verify(&console.web, Purpose::OAuthState, &c));
    let Some(expected) = expected.filter(|s| {
        s.exp > console.now().timestamp() && Some(s.state.as_str()) == q.state.as_deref()
    }) else {
        return refuse(
            StatusCode::FORBIDDEN,
            "This sign-in did not start in this browser, or took longer than 10 minutes; start again from the sign-in page.",
        );
    };
    let Some(code) = q.code.as_deref() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Discord sent no code back; start again from the sign-in page.",
        );
    };
    let settings = console.warroom.settings();
    match who_is(&console, discord, code, &callback_url(&console, &headers)).await {
        Ok(who) => {
            tracing::info!(
                discord_user = match &who {
                    Identity::Discord { id, .. } => *id,
                    _ => 0,
                },
                "signed in to the web console with Discord"
            );
            let mut response = signed_in(&console, who, &expected.next);
            set_cookie(response.headers_mut(), OAUTH_COOKIE, "", 0);
            response
        }
        Err(e) => {
            tracing::warn!(api = %settings.discord.api_url, "Discord sign-in failed: {e:#}");
            refuse(
                StatusCode::BAD_GATEWAY,
                "Discord could not confirm who you are just now; try again in a moment.",
            )
        }
    }
}

/// The person behind an authorization code: the token exchange, then who they are and, when
/// warroom knows its guild, the roles they hold there.
async fn who_is(
    console: &Shared,
    discord: &crate::config::WebDiscord,
    code: &str,
    redirect_uri: &str,
) -> anyhow::Result<Identity> {
    use anyhow::Context;
    let settings = console.warroom.settings();
    let api = format!("{}/api/v10", settings.discord.api_url);
    let token: TokenAnswer = console
        .http
        .post(format!("{api}/oauth2/token"))
        .basic_auth(&discord.client_id, Some(discord.client_secret.expose()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ])
        .send()
        .await?
        .error_for_status()
        .context("the token exchange")?
        .json()
        .await
        .context("the token exchange's answer")?;
    let user: DiscordUser = console
        .http
        .get(format!("{api}/users/@me"))
        .bearer_auth(&token.access_token)
        .send()
        .await?
        .error_for_status()
        .context("who the user is")?
        .json()
        .await
        .context("the user's answer")?;
    let id: u64 = user
        .id
        .parse()
        .context("Discord's user id is not a number")?;
    let mut roles = Vec::new();
    if let Some(guild) = settings.discord.guild_id {
        let answer = console
            .http
            .get(format!("{api}/users/@me/guilds/{guild}/member"))
            .bearer_auth(&token.access_token)
            .send()
            .await?;
        // Not a member of the guild: no guild roles, so the default role (or what a
        // `user:ID` entry gives).
        if answer.status() != reqwest::StatusCode::NOT_FOUND {
            let member: GuildMember = answer
                .error_for_status()
                .context("the user's guild roles")?
                .json()
                .await
                .context("the guild member's answer")?;
            roles = member.roles.iter().filter_map(|r| r.parse().ok()).collect();
        }
    }
    Ok(Identity::Discord {
        id,
        name: user.global_name.unwrap_or(user.username),
        roles,
    })
}
