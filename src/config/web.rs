//! `[web]`: the web console — where it listens, the address people reach it at, the key its
//! sessions and sign-in links are signed with, who may do what there, and sign-in with
//! Discord. The console is on when the section is present.

use super::bounds::bounded;
use super::secrets::read_secret;
use crate::domain::access::Access;
use crate::domain::contacts::Directory;
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The web console as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WebSection {
    /// An address of its own (`0.0.0.0:8443`); default: `warroom serve`'s own port.
    pub listen: Option<String>,
    /// The address people open, behind any proxy (`https://warroom.example.com`): sign-in
    /// links and Discord's redirect are made from it. Default: the address the browser used.
    pub public_url: Option<String>,
    /// The key sessions, sign-in links and form tokens are signed with (32 characters or
    /// more), by environment variable or file.
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    /// How long a sign-in lasts (default 12 hours).
    pub session_hours: Option<i64>,
    /// How long a `warroom web-link` link may wait to be used (default 15 minutes).
    pub link_minutes: Option<i64>,
    /// The role of people signed in by link whom no `access` entry names: `viewer`
    /// (default), `responder`, `sre` or `none`.
    pub default_access: Option<String>,
    /// warroom role → the handles (`@svega`) holding it, for people signed in by link.
    /// People signed in with Discord hold the role `[discord.access]` gives them, as in chat.
    #[serde(default)]
    pub access: BTreeMap<String, Vec<String>>,
    /// Sign-in with Discord (OAuth2): the application's client id and secret.
    pub discord: Option<WebDiscordSection>,
}

/// `[web.discord]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WebDiscordSection {
    /// The application's client id (the Developer Portal's OAuth2 page).
    pub client_id: Option<String>,
    /// Its client secret, by environment variable or file.
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
}

/// The web console, checked.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Its own address; `None`: served on `warroom serve`'s port.
    pub listen: Option<std::net::SocketAddr>,
    /// The public address without a trailing slash; `None`: the one the browser used.
    pub public_url: Option<String>,
    pub key: Secret,
    pub session_lifetime: chrono::Duration,
    pub link_lifetime: chrono::Duration,
    pub default_access: Access,
    /// Lowercased canonical handle → role, for people signed in by link.
    pub access: BTreeMap<String, Access>,
    /// Sign-in with Discord; `None`: off.
    pub discord: Option<WebDiscord>,
}

/// Sign-in with Discord, checked.
#[derive(Debug, Clone)]
pub struct WebDiscord {
    pub client_id: String,
    pub client_secret: Secret,
}

impl WebSettings {
    /// The role of someone signed in by link as `handle`.
    pub fn access_of_handle(&self, handle: &str) -> Access {
        self.access
            .get(&handle.trim_start_matches('@').to_ascii_lowercase())
            .copied()
            .unwrap_or(self.default_access)
    }
}

/// The shortest session key taken: HMAC-SHA256 keys below 256 bits are guessable sooner.
const MIN_KEY_CHARS: usize = 32;

/// `[web]`, when present; every mistake pushed with its key.
pub(super) fn read_web(
    web: Option<WebSection>,
    directory: &Directory,
    env: &dyn Fn(&str) -> Option<String>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> Option<WebSettings> {
    let web = web?;
    let listen = web.listen.as_deref().and_then(|l| match l.parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            problems.push(format!(
                "web.listen = '{l}' is not an address; use IP:PORT such as 0.0.0.0:8443, or leave it out to serve the console on http.listen"
            ));
            None
        }
    });
    let public_url = web
        .public_url
        .as_deref()
        .and_then(|u| public_url(u, problems));
    let key = read_secret(
        "web",
        &web.secret_env,
        &web.secret_file,
        env,
        file,
        problems,
    );
    if web.secret_env.is_none() && web.secret_file.is_none() {
        problems.push(
            "web: set secret_env or secret_file to the key sessions and sign-in links are signed with (32 characters or more, e.g. from `openssl rand -hex 32`)".into(),
        );
    }
    if let Some(key) = &key {
        if key.expose().chars().count() < MIN_KEY_CHARS {
            problems.push(format!(
                "web: the session key has {} characters; use {MIN_KEY_CHARS} or more (`openssl rand -hex 32` makes one)",
                key.expose().chars().count()
            ));
        }
    }
    let session_hours = bounded(
        "web.session_hours",
        web.session_hours,
        1..=720,
        12,
        problems,
    );
    let link_minutes = bounded(
        "web.link_minutes",
        web.link_minutes,
        1..=10_080,
        15,
        problems,
    );
    let default_access = web
        .default_access
        .as_deref()
        .unwrap_or("viewer")
        .parse::<Access>()
        .unwrap_or_else(|e| {
            problems.push(format!("web.default_access: {e}"));
            Access::Guest
        });
    let mut access = BTreeMap::new();
    for (role, handles) in &web.access {
        let key = format!("web.access.{role}");
        let role = match role.parse::<Access>() {
            Ok(a) => a,
            Err(e) => {
                problems.push(format!("{key}: {e}"));
                continue;
            }
        };
        for handle in handles {
            match directory.person(handle) {
                Some(contact) => {
                    let held = access
                        .entry(contact.handle.to_ascii_lowercase())
                        .or_insert(role);
                    *held = (*held).max(role);
                }
                None => problems.push(format!(
                    "{key}: '{handle}' is not a contact's handle; add them to [[contacts]] or fix the name"
                )),
            }
        }
    }
    let discord = web.discord.and_then(|d| {
        let secret = read_secret(
            "web.discord",
            &d.secret_env,
            &d.secret_file,
            env,
            file,
            problems,
        );
        let client_id = d.client_id.filter(|c| !c.trim().is_empty());
        if client_id.is_none() {
            problems.push(
                "web.discord.client_id: give the application's client id (Developer Portal, OAuth2), or drop [web.discord] to sign in by link only".into(),
            );
        }
        if d.secret_env.is_none() && d.secret_file.is_none() {
            problems.push(
                "web.discord: set secret_env or secret_file to the application's client secret".into(),
            );
        }
        Some(WebDiscord {
            client_id: client_id?.trim().to_string(),
            client_secret: secret?,
        })
    });
    Some(WebSettings {
        listen,
        public_url,
        key: key?,
        session_lifetime: chrono::Duration::hours(session_hours),
        link_lifetime: chrono::Duration::minutes(link_minutes),
        default_access,
        access,
        discord,
    })
}

/// The public address, checked: https, or http on this machine only, since sessions live in
/// `Secure` cookies that browsers keep only for https and for localhost.
fn public_url(given: &str, problems: &mut Vec<String>) -> Option<String> {
    let trimmed = given.trim().trim_end_matches('/');
    let Ok(url) = url::Url::parse(trimmed) else {
        problems.push(format!(
            "web.public_url = '{given}' is not a URL; use the address people open, such as https://warroom.example.com"
        ));
        return None;
    };
    let local = matches!(
        url.host_str(),
        Some("localhost") | Some("127.0.0.1") | Some("[::1]")
    );
    match url.scheme() {
        "https" => Some(trimmed.to_string()),
        "http" if local => Some(trimmed.to_string()),
        _ => {
            problems.push(format!(
                "web.public_url = '{given}': use https:// (browsers keep the console's Secure session cookie only over https, or on localhost)"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(toml_text: &str, env: &[(&str, &str)]) -> (Option<WebSettings>, Vec<String>) {
        let section: WebSection = toml::from_str(toml_text).unwrap();
        let directory = Directory::new(
            vec![crate::domain::contacts::Contact {
                handle: "svega".into(),
                name: "Susan Vega".into(),
                team: "SRE".into(),
                aliases: vec![],
            }],
            vec![],
        )
        .unwrap();
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut problems = Vec::new();
        let settings = read_web(
            Some(section),
            &directory,
            &|k| env.get(k).cloned(),
            &|_| Err(std::io::Error::other("no files here")),
            &mut problems,
        );
        (settings, problems)
    }

    #[test]
    fn a_console_takes_its_key_roles_and_address() {
        let (web, problems) = read(
            r#"
public_url = "https://warroom.example.com/"
secret_env = "KEY"
[access]
sre = ["@svega"]
"#,
            &[("KEY", "0123456789abcdef0123456789abcdef")],
        );
        assert!(problems.is_empty(), "{problems:?}");
        let web = web.unwrap();
        assert_eq!(
            web.public_url.as_deref(),
            Some("https://warroom.example.com")
        );
        assert_eq!(web.access_of_handle("@SVega"), Access::Sre);
        assert_eq!(web.access_of_handle("@rpark"), Access::Viewer);
        assert_eq!(web.session_lifetime, chrono::Duration::hours(12));
    }

    #[test]
    fn mistakes_are_named_with_what_to_do() {
        let (web, problems) = read(
            r#"
public_url = "http://warroom.example.com"
secret_env = "KEY"
listen = "everywhere"
[access]
owner = ["@svega"]
sre = ["@nobody"]
[discord]
secret_env = "NOPE"
"#,
            &[("KEY", "short")],
        );
        assert!(web.is_some_and(|w| w.discord.is_none() && w.listen.is_none()));
        let all = problems.join("\n");
        for expected in [
            "web.listen = 'everywhere' is not an address",
            "web.public_url = 'http://warroom.example.com': use https://",
            "web: the session key has 5 characters; use 32 or more",
            "web.access.owner: unknown warroom role",
            "web.access.sre: '@nobody' is not a contact's handle",
            "web.discord.client_id: give the application's client id",
            "web.discord.secret_env: the environment variable NOPE is not set",
        ] {
            assert!(all.contains(expected), "{expected} missing from:\n{all}");
        }
    }

    #[test]
    fn a_console_without_a_key_is_refused() {
        let (web, problems) = read("", &[]);
        assert!(web.is_none());
        assert!(problems[0].contains("set secret_env or secret_file"));
    }
}
