//! `[notifications]` and each contact's methods: the providers that reach people directly
//! (an SMTP server, Twilio for SMS and voice, ntfy for push), the secret acknowledgement
//! links are signed with, and per person the addresses, the notification rules and the
//! hand-over opt-in.

use super::bounds::{bounded, bounded_seconds};
use super::secrets::read_secret;
use crate::domain::contacts::Contact;
use crate::domain::reach::{ContactMethods, Method, Rule, LONGEST_WAIT_MINUTES};
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// `[[contacts]]` as written: the person, and how to reach them besides chat.
#[derive(Debug, Clone, Deserialize)]
pub struct ContactFile {
    pub handle: String,
    pub name: String,
    pub team: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub email: Option<String>,
    /// E.164, e.g. `+15550100`: SMS and voice calls.
    pub phone: Option<String>,
    /// The ntfy topic their phone subscribes to.
    pub push_topic: Option<String>,
    /// Notification rules: `{ method = "sms", after_minutes = 2 }`, in any order.
    #[serde(default)]
    pub notify: Vec<RuleFile>,
    /// Methods that also tell them of their on-call hand-overs.
    #[serde(default)]
    pub handoff_notices: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RuleFile {
    pub method: String,
    pub after_minutes: Option<i64>,
}

/// `[notifications]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NotificationsSection {
    /// How people and Twilio reach this server, e.g. `https://warroom.example.com`: the
    /// acknowledgement links and Twilio's callbacks are made from it.
    pub public_url: Option<String>,
    /// Signs the acknowledgement links.
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    /// How long an acknowledgement link works; default 120.
    pub link_minutes: Option<i64>,
    pub email: Option<EmailSection>,
    pub twilio: Option<TwilioSection>,
    pub ntfy: Option<NtfySection>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EmailSection {
    pub host: String,
    pub port: Option<i64>,
    /// `starttls` (default), `tls` (implicit, port 465) or `none` (a relay on loopback).
    pub tls: Option<String>,
    pub from: String,
    pub username: Option<String>,
    /// The password, when `username` is set.
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    /// A PEM file of a CA to trust besides the public ones (an internal relay).
    pub ca_file: Option<String>,
    pub timeout_seconds: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TwilioSection {
    pub account_sid: String,
    /// The auth token: signs Twilio's callbacks and authenticates warroom's requests.
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    /// The number SMS and calls come from, E.164.
    pub from: String,
    /// Default `https://api.twilio.com`.
    pub api_url: Option<String>,
    pub timeout_seconds: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NtfySection {
    /// The ntfy server, e.g. `https://ntfy.sh` or your own.
    pub url: String,
    /// An access token, when the server asks for one.
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    pub timeout_seconds: Option<i64>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded by STARTTLS, which must succeed: a server (or something in
    /// the path) that does not offer it gets neither the login nor the message.
    #[default]
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host.
    None,
}

/// An SMTP server, checked.
#[derive(Debug, Clone)]
pub struct EmailServer {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub from: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

/// Twilio, checked.
#[derive(Debug, Clone)]
pub struct Twilio {
    pub api_url: String,
    pub account_sid: String,
    pub auth_token: Secret,
    pub from: String,
    /// Where Twilio posts delivery statuses: made from `public_url`.
    pub status_callback: Option<String>,
    pub timeout: Duration,
}

/// An ntfy server, checked.
#[derive(Debug, Clone)]
pub struct Ntfy {
    pub url: String,
    pub token: Option<Secret>,
    pub timeout: Duration,
}

/// The providers configured.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    pub email: Option<EmailServer>,
    pub twilio: Option<Twilio>,
    pub ntfy: Option<Ntfy>,
}

/// `[notifications]`, checked.
#[derive(Debug, Clone, Default)]
pub struct NotificationSettings {
    /// Without a trailing slash.
    pub public_url: Option<String>,
    /// Signs acknowledgement links; `None`: notifications carry no link.
    pub link_secret: Option<Secret>,
    pub link_ttl: chrono::Duration,
    pub providers: Providers,
    /// Each person's methods, by canonical handle; people without any are absent.
    pub people: BTreeMap<String, ContactMethods>,
}

impl NotificationSettings {
    /// Whether `method` can be sent at all.
    pub fn provides(&self, method: Method) -> bool {
        match method {
            Method::Email => self.providers.email.is_some(),
            Method::Sms | Method::Voice => self.providers.twilio.is_some(),
            Method::Push => self.providers.ntfy.is_some(),
        }
    }
}

/// Where Twilio posts inbound SMS, keypresses and statuses, under `public_url`.
pub const TWILIO_SMS_PATH: &str = "/v1/twilio/sms";
pub const TWILIO_VOICE_PATH: &str = "/v1/twilio/voice";
pub const TWILIO_STATUS_PATH: &str = "/v1/twilio/status";

/// Splits `[[contacts]]` into the directory's people and their contact methods.
pub(super) fn split_contacts(
    contacts: Vec<ContactFile>,
    problems: &mut Vec<String>,
) -> (Vec<Contact>, BTreeMap<String, ContactMethods>) {
    let mut people = Vec::new();
    let mut methods = BTreeMap::new();
    for (i, c) in contacts.into_iter().enumerate() {
        let key = format!("contacts[{i}] ({})", c.handle);
        let reach = read_methods(&key, &c, problems);
        if reach != ContactMethods::default() {
            methods.insert(c.handle.clone(), reach);
        }
        people.push(Contact {
            handle: c.handle,
            name: c.name,
            team: c.team,
            aliases: c.aliases,
        });
    }
    (people, methods)
}

fn read_methods(key: &str, c: &ContactFile, problems: &mut Vec<String>) -> ContactMethods {
    let email = c.email.as_ref().map(|e| e.trim().to_string());
    if let Some(e) = &email {
        let ok = e.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !e.contains(char::is_whitespace)
        });
        if !ok {
            problems.push(format!(
                "{key}.email = '{e}' is not an email address; write it as name@example.com"
            ));
        }
    }
    let phone = c.phone.as_ref().map(|p| p.trim().to_string());
    if let Some(p) = &phone {
        let digits = p.strip_prefix('+').unwrap_or("");
        if digits.len() < 8 || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            problems.push(format!(
                "{key}.phone = '{p}' is not an E.164 number; write it as + and 8 to 15 digits, e.g. +15550100"
            ));
        }
    }
    let push_topic = c.push_topic.as_ref().map(|t| t.trim().to_string());
    if let Some(t) = &push_topic {
        let ok = !t.is_empty()
            && t.len() <= 64
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            problems.push(format!(
                "{key}.push_topic = '{t}': an ntfy topic is 1 to 64 letters, digits, - or _"
            ));
        }
    }
    let mut methods = ContactMethods {
        email,
        phone,
        push_topic,
        rules: Vec::new(),
        handoffs: Vec::new(),
    };
    for (j, rule) in c.notify.iter().enumerate() {
        let rule_key = format!("{key}.notify[{j}]");
        let method = match Method::parse(&rule.method) {
            Ok(m) => m,
            Err(e) => {
                problems.push(format!("{rule_key}.method: {e}"));
                continue;
            }
        };
        let after = bounded(
            &format!("{rule_key}.after_minutes"),
            rule.after_minutes,
            0..=i64::from(LONGEST_WAIT_MINUTES),
            0,
            problems,
        ) as u32;
        if methods.address(method).is_none() {
            problems.push(format!(
                "{rule_key}: {} has no {} for {method}; add it or drop the rule",
                c.handle,
                address_name(method)
            ));
        }
        methods.rules.push(Rule {
            method,
            after_minutes: after,
        });
    }
    // In order of waiting time, so rule numbers read as the order people are reached in.
    methods.rules.sort_by_key(|r| r.after_minutes);
    for (j, name) in c.handoff_notices.iter().enumerate() {
        match Method::parse(name) {
            Ok(Method::Voice) => problems.push(format!(
                "{key}.handoff_notices[{j}]: a hand-over is not worth a phone call; use email, sms or push"
            )),
            Ok(m) if methods.address(m).is_none() => problems.push(format!(
                "{key}.handoff_notices[{j}]: {} has no {} for {m}",
                c.handle,
                address_name(m)
            )),
            Ok(m) => methods.handoffs.push(m),
            Err(e) => problems.push(format!("{key}.handoff_notices[{j}]: {e}")),
        }
    }
    methods
}

fn address_name(method: Method) -> &'static str {
    match method {
        Method::Email => "email",
        Method::Sms | Method::Voice => "phone",
        Method::Push => "push_topic",
    }
}

fn read_url(key: &str, url: &str, problems: &mut Vec<String>) -> String {
    let url = url.trim().trim_end_matches('/').to_string();
    if !(url.starts_with("https://") || url.starts_with("http://"))
        || url::Url::parse(&url).is_err()
    {
        problems.push(format!(
            "{key} = '{url}': give an http:// or https:// address"
        ));
    }
    url
}

/// `[notifications]` and the people's methods, checked against each other: a rule whose
/// provider is not configured is a problem, as it would never reach anyone.
pub(super) fn read_notifications(
    section: &NotificationsSection,
    people: BTreeMap<String, ContactMethods>,
    env: &dyn Fn(&str) -> Option<String>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> NotificationSettings {
    let public_url = section
        .public_url
        .as_ref()
        .map(|u| read_url("notifications.public_url", u, problems));
    let link_secret = if section.secret_env.is_some() || section.secret_file.is_some() {
        let secret = read_secret(
            "notifications",
            &section.secret_env,
            &section.secret_file,
            env,
            file,
            problems,
        );
        if secret.as_ref().is_some_and(|s| s.expose().len() < 16) {
            problems.push("notifications: the secret is shorter than 16 characters; use a long random one (openssl rand -hex 32)".into());
        }
        if public_url.is_none() {
            problems.push("notifications: acknowledgement links need public_url, the address people reach this server at".into());
        }
        secret
    } else {
        None
    };
    let link_ttl = chrono::Duration::minutes(bounded(
        "notifications.link_minutes",
        section.link_minutes,
        5..=24 * 60,
        120,
        problems,
    ));
    let timeout = |key: &str, value: Option<i64>, problems: &mut Vec<String>| {
        bounded_seconds(key, value, 1..=60, Duration::from_secs(10), problems)
    };
    let email = section.email.as_ref().map(|e| {
        let tls = match e.tls.as_deref().map(str::trim) {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("tls") => SmtpTls::Tls,
            Some("none") => SmtpTls::None,
            Some(other) => {
                problems.push(format!(
                    "notifications.email.tls = '{other}': use starttls, tls or none"
                ));
                SmtpTls::StartTls
            }
        };
        let default_port = if tls == SmtpTls::Tls { 465 } else { 587 };
        let port = bounded(
            "notifications.email.port",
            e.port,
            1..=65535,
            default_port,
            problems,
        ) as u16;
        if !e.from.contains('@') {
            problems.push(format!(
                "notifications.email.from = '{}' is not an email address",
                e.from
            ));
        }
        let password = match &e.username {
            Some(_) => read_secret(
                "notifications.email",
                &e.secret_env,
                &e.secret_file,
                env,
                file,
                problems,
            ),
            None => None,
        };
        EmailServer {
            host: e.host.trim().to_string(),
            port,
            tls,
            from: e.from.trim().to_string(),
            username: e.username.clone(),
            password,
            ca_file: e.ca_file.as_ref().map(PathBuf::from),
            timeout: timeout(
                "notifications.email.timeout_seconds",
                e.timeout_seconds,
                problems,
            ),
        }
    });
    let twilio = section.twilio.as_ref().and_then(|t| {
        if !(t.account_sid.starts_with("AC") && t.account_sid.len() == 34) {
            problems.push(format!(
                "notifications.twilio.account_sid = '{}': an account SID is AC and 32 hex digits",
                t.account_sid
            ));
        }
        let api_url = read_url(
            "notifications.twilio.api_url",
            t.api_url.as_deref().unwrap_or("https://api.twilio.com"),
            problems,
        );
        if public_url.is_none() {
            problems.push("notifications.twilio: Twilio's replies and statuses come back to public_url; set it".into());
        }
        let auth_token = read_secret(
            "notifications.twilio",
            &t.secret_env,
            &t.secret_file,
            env,
            file,
            problems,
        );
        let timeout = timeout("notifications.twilio.timeout_seconds", t.timeout_seconds, problems);
        Some(Twilio {
            api_url,
            account_sid: t.account_sid.clone(),
            auth_token: auth_token?,
            from: t.from.trim().to_string(),
            status_callback: public_url
                .as_ref()
                .map(|u| format!("{u}{TWILIO_STATUS_PATH}")),
            timeout,
        })
    });
    let ntfy = section.ntfy.as_ref().map(|n| {
        let token = if n.secret_env.is_some() || n.secret_file.is_some() {
            read_secret(
                "notifications.ntfy",
                &n.secret_env,
                &n.secret_file,
                env,
                file,
                problems,
            )
        } else {
            None
        };
        Ntfy {
            url: read_url("notifications.ntfy.url", &n.url, problems),
            token,
            timeout: timeout(
                "notifications.ntfy.timeout_seconds",
                n.timeout_seconds,
                problems,
            ),
        }
    });
    let settings = NotificationSettings {
        public_url,
        link_secret,
        link_ttl,
        providers: Providers {
            email,
            twilio,
            ntfy,
        },
        people,
    };
    for (handle, methods) in &settings.people {
        let used = methods
            .rules
            .iter()
            .map(|r| r.method)
            .chain(methods.handoffs.iter().copied());
        let mut missing: Vec<Method> = used.filter(|m| !settings.provides(*m)).collect();
        missing.sort();
        missing.dedup();
        for m in missing {
            let section = match m {
                Method::Email => "[notifications.email]",
                Method::Sms | Method::Voice => "[notifications.twilio]",
                Method::Push => "[notifications.ntfy]",
            };
            problems.push(format!(
                "contact {handle} is notified by {m}, but no {section} is configured"
            ));
        }
    }
    settings
}
