//! `[discord]`: the Discord front end (on when a bot token is given), its channels, and which
//! warroom role each member holds.

use super::bounds::bounded;
use super::chat::channel_name;
use crate::domain::contacts::Directory;
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The Discord front end as written. Discord is on when a bot token is given.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DiscordSection {
    /// File holding the bot token (else `WARROOM_DISCORD_TOKEN`).
    pub token_file: Option<String>,
    /// The guild (server) warroom works in, as its numeric id.
    pub guild_id: Option<String>,
    /// The application's public key (hex), for `POST /discord/interactions`; also
    /// `WARROOM_DISCORD_PUBLIC_KEY`.
    pub public_key: Option<String>,
    /// Base URL of Discord's REST API; another base URL sends every REST call there (a
    /// proxy, or a fake Discord in tests).
    pub api_url: Option<String>,
    /// Name of the category incident channels are created under (created when missing).
    pub category: Option<String>,
    /// `channel` (a text channel per incident, the default) or `thread` (a thread in the
    /// announcement channel).
    pub incident_channels: Option<String>,
    /// Where alerts that open no incident and shift news are posted; default the alerts
    /// channel.
    pub announce_channel: Option<String>,
    /// Channels recorded besides incident channels; default the chat's default channel and
    /// the alerts channel.
    pub watch_channels: Option<Vec<String>>,
    /// After a new gateway session, how far back each recorded channel's history is
    /// compared with the ledger (edits, deletes, messages missed): hours (default 24) …
    pub reconcile_hours: Option<i64>,
    /// … and at most this many of its newest messages (default 500).
    pub reconcile_messages: Option<i64>,
    /// The warroom role of members no `access` entry names: `viewer` (default), `responder`,
    /// `sre`, or `none` (they may run no command; what they say is still recorded).
    pub default_access: Option<String>,
    /// Discord user id → contact handle, so messages are credited to the contact.
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    /// warroom role → Discord members holding it, as `user:ID` or `role:ID`.
    #[serde(default)]
    pub access: BTreeMap<String, Vec<String>>,
}

/// Discord's REST API.
pub const DISCORD_API_URL: &str = "https://discord.com";

/// The Discord front end, checked.
#[derive(Debug, Clone)]
pub struct DiscordSettings {
    /// The bot token; Discord is off without one.
    pub token: Option<Secret>,
    pub guild_id: Option<u64>,
    /// The application's Ed25519 public key in hex, for the interactions endpoint.
    pub public_key: Option<String>,
    pub api_url: String,
    pub category: String,
    /// Incidents get a thread in the announcement channel rather than a channel of their own.
    pub threads: bool,
    pub announce_channel: String,
    pub watch_channels: Vec<String>,
    /// How far back a new session compares each recorded channel's history with the ledger.
    pub reconcile_window: chrono::Duration,
    /// The most messages of a channel compared.
    pub reconcile_messages: usize,
    /// The role of members no `access` entry names.
    pub default_access: crate::domain::access::Access,
    /// Discord user id → contact handle.
    pub users: BTreeMap<u64, String>,
    /// Discord user id → warroom role.
    pub user_access: BTreeMap<u64, crate::domain::access::Access>,
    /// Discord role id → warroom role.
    pub role_access: BTreeMap<u64, crate::domain::access::Access>,
}

impl DiscordSettings {
    /// The highest warroom role a member holds through their user id, their roles or the
    /// default.
    pub fn access_of(&self, user: u64, roles: &[u64]) -> crate::domain::access::Access {
        self.user_access
            .get(&user)
            .into_iter()
            .chain(roles.iter().filter_map(|r| self.role_access.get(r)))
            .copied()
            .fold(self.default_access, std::cmp::max)
    }
}

pub(super) fn read_discord(
    d: DiscordSection,
    default_channel: &str,
    alerts_channel: &str,
    directory: &Directory,
    env: &dyn Fn(&str) -> Option<String>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> DiscordSettings {
    use crate::domain::access::Access;
    let snowflake = |key: &str, value: &str, problems: &mut Vec<String>| -> Option<u64> {
        let parsed = value.trim().parse::<u64>().ok().filter(|v| *v > 0);
        if parsed.is_none() {
            problems.push(format!(
                "{key} = '{value}' is not a Discord id; copy it with Developer Mode on (a number like 123456789012345678)"
            ));
        }
        parsed
    };
    let token = match (env("WARROOM_DISCORD_TOKEN"), &d.token_file) {
        (Some(t), _) if !t.trim().is_empty() => Some(Secret::new(t.trim())),
        (_, Some(path)) => match file(path) {
            Ok(t) if !t.trim().is_empty() => Some(Secret::new(t.trim())),
            Ok(_) => {
                problems.push(format!("discord.token_file: {path} is empty"));
                None
            }
            Err(e) => {
                problems.push(format!("discord.token_file: cannot read {path}: {e}"));
                None
            }
        },
        _ => None,
    };
    let guild_id = env("WARROOM_DISCORD_GUILD_ID")
        .or(d.guild_id)
        .and_then(|g| snowflake("discord.guild_id", &g, problems));
    if token.is_some() && guild_id.is_none() {
        problems.push(
            "discord.guild_id: a bot token is given, so name the guild (server) warroom works in"
                .into(),
        );
    }
    let public_key = env("WARROOM_DISCORD_PUBLIC_KEY").or(d.public_key);
    if let Some(key) = &public_key {
        if key.len() != 64 || hex::decode(key).is_err() {
            problems.push(
                "discord.public_key: use the application's public key as shown in the Developer Portal (64 hex digits)"
                    .into(),
            );
        }
    }
    let api_url = env("WARROOM_DISCORD_API_URL")
        .or(d.api_url)
        .unwrap_or_else(|| DISCORD_API_URL.to_string())
        .trim_end_matches('/')
        .to_string();
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        problems.push(format!(
            "discord.api_url = '{api_url}': use an http:// or https:// URL"
        ));
    }
    let threads = match d.incident_channels.as_deref().unwrap_or("channel") {
        "channel" => false,
        "thread" => true,
        other => {
            problems.push(format!(
                "discord.incident_channels = '{other}': use channel or thread"
            ));
            false
        }
    };
    let announce_channel = channel_name(
        d.announce_channel
            .or_else(|| Some(alerts_channel.to_string())),
        "discord.announce_channel",
        problems,
    );
    let mut watch_channels: Vec<String> = d
        .watch_channels
        .unwrap_or_else(|| vec![default_channel.to_string(), alerts_channel.to_string()])
        .into_iter()
        .map(|c| channel_name(Some(c), "discord.watch_channels", problems))
        .collect();
    watch_channels.dedup();
    let default_access = d
        .default_access
        .as_deref()
        .unwrap_or("viewer")
        .parse::<Access>()
        .unwrap_or_else(|e| {
            problems.push(format!("discord.default_access: {e}"));
            Access::Guest
        });
    let mut users = BTreeMap::new();
    for (id, handle) in &d.users {
        let key = format!("discord.users.\"{id}\"");
        let Some(id) = snowflake(&key, id, problems) else {
            continue;
        };
        match directory.person(handle) {
            Some(contact) => {
                users.insert(id, contact.handle.clone());
            }
            None => problems.push(format!(
                "{key} = '{handle}': no contact has that handle; add it to [[contacts]]"
            )),
        }
    }
    let mut user_access = BTreeMap::new();
    let mut role_access = BTreeMap::new();
    for (role, members) in &d.access {
        let key = format!("discord.access.{role}");
        let access = match role.parse::<Access>() {
            Ok(a) => a,
            Err(e) => {
                problems.push(format!("{key}: {e}"));
                continue;
            }
        };
        for member in members {
            let (map, id) = match member.split_once(':') {
                Some(("user", id)) => (&mut user_access, id),
                Some(("role", id)) => (&mut role_access, id),
                _ => {
                    problems.push(format!("{key}: '{member}' is neither user:ID nor role:ID"));
                    continue;
                }
            };
            if let Some(id) = snowflake(&key, id, problems) {
                let held: &mut Access = map.entry(id).or_insert(access);
                *held = (*held).max(access);
            }
        }
    }
    DiscordSettings {
        token,
        guild_id,
        public_key,
        api_url,
        category: d.category.unwrap_or_else(|| "Incidents".into()),
        threads,
        announce_channel,
        watch_channels,
        reconcile_window: chrono::Duration::hours(bounded(
            "discord.reconcile_hours",
            d.reconcile_hours,
            1..=720,
            24,
            problems,
        )),
        reconcile_messages: bounded(
            "discord.reconcile_messages",
            d.reconcile_messages,
            1..=10_000,
            500,
            problems,
        ) as usize,
        default_access,
        users,
        user_access,
        role_access,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    #[test]
    fn discord_maps_users_to_contacts_and_members_to_warroom_roles() {
        use crate::domain::access::Access;
        let text = r#"
[[teams]]
name = "SRE"
[[contacts]]
handle = "rpark"
name = "R Park"
team = "SRE"
[discord]
guild_id = "42"
default_access = "none"
[discord.users]
"1001" = "rpark"
[discord.access]
sre = ["user:1001"]
responder = ["role:77", "user:1001"]
"#;
        let env = |k: &str| (k == "WARROOM_DISCORD_TOKEN").then(|| "t0ken".to_string());
        let s = Settings::from_toml(text, "x.toml", env).unwrap();
        let d = &s.discord;
        assert_eq!(d.token.as_ref().map(|t| t.expose()), Some("t0ken"));
        assert_eq!(d.guild_id, Some(42));
        assert_eq!(d.users.get(&1001).map(String::as_str), Some("rpark"));
        // The highest of user and roles wins; the default applies to everyone else.
        assert_eq!(d.access_of(1001, &[]), Access::Sre);
        assert_eq!(d.access_of(5, &[77]), Access::Responder);
        assert_eq!(d.access_of(5, &[]), Access::Guest);
        assert_eq!(d.watch_channels, ["ops"]);

        let bad = r#"
[discord]
incident_channels = "forum"
public_key = "xyz"
default_access = "admin"
[discord.users]
"abc" = "nobody"
"7" = "nobody"
[discord.access]
owner = ["user:1"]
sre = ["group:1"]
"#;
        let err = Settings::from_toml(bad, "x.toml", env)
            .unwrap_err()
            .to_string();
        for expected in [
            "discord.guild_id: a bot token is given",
            "discord.incident_channels = 'forum': use channel or thread",
            "discord.public_key: use the application's public key",
            "discord.default_access: unknown warroom role",
            "discord.users.\"abc\" = 'abc' is not a Discord id",
            "discord.users.\"7\" = 'nobody': no contact has that handle",
            "discord.access.owner: unknown warroom role",
            "discord.access.sre: 'group:1' is neither user:ID nor role:ID",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
        }
    }
}
