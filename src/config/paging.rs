//! `[[escalations]]` and `[[pagers]]`: the policies that say whom to page and when, the
//! outside pagers, and which pagers a page to a person, a team or everyone goes through.

use super::bounds::bounded;
use super::schedules::ConfiguredSchedule;
use super::secrets::read_secret;
use super::Settings;
use crate::domain::contacts::{Contact, Directory};
use crate::domain::escalation::{Policy, Target};
use crate::domain::event::EscalationStep;
use crate::domain::schedule::read_window;
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
pub struct EscalationFile {
    pub name: String,
    pub steps: Vec<EscalationStep>,
    #[serde(default)]
    pub repeat: i64,
    #[serde(default)]
    pub fallback: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PagerFile {
    pub name: String,
    /// `pagerduty` or `webhook`.
    pub kind: String,
    /// Where pages are sent; PagerDuty's Events API v2 when omitted for `pagerduty`.
    pub url: Option<String>,
    /// Environment variable or file holding the PagerDuty routing key or the webhook's
    /// HMAC key.
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    /// `@handle`, `!team` or `everyone`: whom this pager reaches.
    pub targets: Vec<String>,
    pub timeout_seconds: Option<i64>,
    pub max_attempts: Option<i64>,
}

/// How a pager is spoken to.
#[derive(Debug, Clone)]
pub enum PagerKind {
    /// PagerDuty Events API v2 (`url` is normally `https://events.pagerduty.com/v2/enqueue`).
    PagerDuty {
        /// The integration's routing key, sent in the body.
        routing_key: Secret,
    },
    /// A JSON POST; when a secret is set, header
    /// `X-Warroom-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`.
    Webhook {
        /// HMAC key shared with the receiver.
        secret: Option<Secret>,
    },
    /// The chat front end (Discord): a mention in the incident's channel and a direct
    /// message. Delivered through the chat pager the notifier was given.
    Chat,
}

impl PagerKind {
    /// The secret this kind holds, so error text can be scrubbed of it.
    pub fn secret(&self) -> Option<&Secret> {
        match self {
            PagerKind::PagerDuty { routing_key } => Some(routing_key),
            PagerKind::Webhook { secret } => secret.as_ref(),
            PagerKind::Chat => None,
        }
    }
}

/// An outside pager, checked.
#[derive(Debug, Clone)]
pub struct PagerSettings {
    pub name: String,
    pub kind: PagerKind,
    pub url: String,
    /// Whom it reaches, canonical (`@handle`, `!Team name`, `everyone`).
    pub targets: Vec<Target>,
    pub timeout: std::time::Duration,
    pub max_attempts: u32,
}

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Page targets as written (`@handle`, `!team`, `everyone`), each resolved in the directory;
/// those that cannot be are left out with a problem under `key`.
fn read_targets(
    key: &str,
    given: &[String],
    directory: &Directory,
    schedules: Option<&BTreeMap<String, ConfiguredSchedule>>,
    problems: &mut Vec<String>,
) -> Vec<Target> {
    given
        .iter()
        .filter_map(|t| match Target::parse(t) {
            Ok(Target::Schedule(name)) => match schedules {
                Some(known) if known.contains_key(&name) => Some(Target::Schedule(name)),
                Some(_) => {
                    problems.push(format!(
                        "{key}: no schedule is called '{name}'; add it under [[schedules]]"
                    ));
                    None
                }
                None => {
                    problems.push(format!(
                        "{key}: a pager reaches people and teams, not schedule:{name}"
                    ));
                    None
                }
            },
            Ok(target) => match target.resolve(directory) {
                Ok(resolved) => Some(resolved),
                Err(e) => {
                    problems.push(format!("{key}: {e}"));
                    None
                }
            },
            Err(e) => {
                problems.push(format!("{key}: {e}"));
                None
            }
        })
        .collect()
}

/// `[[escalations]]`: the policies by name, their targets in canonical form.
pub(super) fn read_escalations(
    escalations: &[EscalationFile],
    directory: &Directory,
    schedules: &BTreeMap<String, ConfiguredSchedule>,
    zone: chrono_tz::Tz,
    problems: &mut Vec<String>,
) -> BTreeMap<String, Policy> {
    let targets = |key: &str, given: &[String], problems: &mut Vec<String>| {
        read_targets(key, given, directory, Some(schedules), problems)
    };
    let mut policies = BTreeMap::new();
    for (i, e) in escalations.iter().enumerate() {
        let key = format!("escalations[{i}] ({})", e.name);
        if e.steps.is_empty() {
            problems.push(format!("{key}.steps: a policy needs at least one step"));
        }
        let steps = e
            .steps
            .iter()
            .enumerate()
            .map(|(j, step)| {
                let step_key = format!("{key}.steps[{j}].targets");
                if step.targets.is_empty() {
                    problems.push(format!("{step_key}: a step needs at least one target"));
                }
                let wait_key = format!("{key}.steps[{j}].wait_minutes");
                let wait_minutes = bounded(
                    &wait_key,
                    Some(step.wait_minutes.into()),
                    0..=10_080,
                    0,
                    problems,
                ) as u32;
                let hours_key = format!("{key}.steps[{j}]");
                for (w, window) in step.restrict.iter().enumerate() {
                    if let Err(e) = read_window(window) {
                        problems.push(format!("{hours_key}.restrict[{w}]: {e}"));
                    }
                }
                // Written out, so the incident's copy of the policy reads the same hours
                // whatever the configuration's zone becomes.
                let timezone = match &step.timezone {
                    Some(name) if name.parse::<chrono_tz::Tz>().is_err() => {
                        problems.push(format!(
                            "{hours_key}.timezone: '{name}' is not an IANA time zone; use e.g. Europe/Berlin"
                        ));
                        None
                    }
                    Some(name) => Some(name.clone()),
                    None => (!step.restrict.is_empty()).then(|| zone.name().to_string()),
                };
                EscalationStep {
                    targets: targets(&step_key, &step.targets, problems)
                        .iter()
                        .map(Target::to_string)
                        .collect(),
                    wait_minutes,
                    timezone,
                    ..step.clone()
                }
            })
            .collect();
        let fallback = targets(&format!("{key}.fallback"), &e.fallback, problems)
            .iter()
            .map(Target::to_string)
            .collect();
        let policy = Policy {
            name: e.name.clone(),
            steps,
            repeat: bounded(
                &format!("{key}.repeat"),
                Some(e.repeat),
                0..=100,
                0,
                problems,
            ) as u32,
            fallback,
        };
        if policies.insert(e.name.clone(), policy).is_some() {
            problems.push(format!("{key}.name: another policy is called '{}'", e.name));
        }
    }
    policies
}

/// `[[pagers]]`: each outside pager with its secret, URL and whom it reaches. A pager with
/// a mistake that leaves it unusable is left out after its problem.
pub(super) fn read_pagers(
    pagers: &[PagerFile],
    directory: &Directory,
    env: &dyn Fn(&str) -> Option<String>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> Vec<PagerSettings> {
    let mut read = Vec::new();
    for (i, p) in pagers.iter().enumerate() {
        let key = format!("pagers[{i}] ({})", p.name);
        let value = read_secret(&key, &p.secret_env, &p.secret_file, env, file, problems);
        let kind = match p.kind.as_str() {
            "pagerduty" => match value {
                Some(routing_key) => PagerKind::PagerDuty { routing_key },
                None => {
                    if p.secret_env.is_none() && p.secret_file.is_none() {
                        problems.push(format!(
                            "{key}: PagerDuty needs its routing key in secret_env or secret_file"
                        ));
                    }
                    continue;
                }
            },
            "webhook" => PagerKind::Webhook { secret: value },
            "discord" => PagerKind::Chat,
            other => {
                problems.push(format!(
                    "{key}.kind = '{other}': use pagerduty, webhook or discord"
                ));
                continue;
            }
        };
        let url = match (&kind, &p.url) {
            (PagerKind::Chat, Some(_)) => {
                problems.push(format!(
                    "{key}.url: a discord pager posts through the bot; remove url"
                ));
                continue;
            }
            (PagerKind::Chat, None) => "discord:".to_string(),
            (_, Some(url)) => url.clone(),
            (PagerKind::PagerDuty { .. }, None) => PAGERDUTY_EVENTS_URL.to_string(),
            (PagerKind::Webhook { .. }, None) => {
                problems.push(format!(
                    "{key}.url: a webhook pager needs the URL to post to"
                ));
                continue;
            }
        };
        if !(url.starts_with("https://") || url.starts_with("http://") || url == "discord:") {
            problems.push(format!(
                "{key}.url = '{url}': use an http:// or https:// URL"
            ));
        }
        let reached = read_targets(
            &format!("{key}.targets"),
            &p.targets,
            directory,
            None,
            problems,
        );
        if p.targets.is_empty() {
            problems.push(format!(
                "{key}.targets: name whom it reaches (@handle, !team, everyone)"
            ));
        }
        read.push(PagerSettings {
            name: p.name.clone(),
            kind,
            url,
            targets: reached,
            timeout: std::time::Duration::from_secs(bounded(
                &format!("{key}.timeout_seconds"),
                p.timeout_seconds,
                1..=300,
                10,
                problems,
            ) as u64),
            max_attempts: bounded(
                &format!("{key}.max_attempts"),
                p.max_attempts,
                1..=100,
                5,
                problems,
            ) as u32,
        });
    }
    read
}

impl Settings {
    /// The pagers a page to `target` goes through: those that reach it directly, else, for
    /// a team or everyone, those of each person in it.
    pub fn pagers_reaching(&self, target: &Target) -> Vec<&PagerSettings> {
        let direct = self.pagers_for(target);
        if !direct.is_empty() {
            return direct;
        }
        let people: Vec<&Contact> = match target {
            Target::Person(_) | Target::Schedule(_) => vec![],
            Target::Team(team) => self
                .directory
                .contacts()
                .iter()
                .filter(|c| &c.team == team)
                .collect(),
            Target::Everyone => self.directory.contacts().iter().collect(),
        };
        let mut found: Vec<&PagerSettings> = Vec::new();
        for person in people {
            for pager in self.pagers_for(&Target::Person(person.handle.clone())) {
                if !found.iter().any(|p| p.name == pager.name) {
                    found.push(pager);
                }
            }
        }
        found
    }

    /// The pagers that reach a target directly: those naming it, its team, or everyone.
    pub fn pagers_for(&self, target: &Target) -> Vec<&PagerSettings> {
        let team_of = |handle: &str| {
            self.directory
                .person(handle)
                .map(|c| Target::Team(c.team.clone()))
        };
        self.pagers
            .iter()
            .filter(|p| {
                p.targets.iter().any(|t| {
                    t == target
                        || *t == Target::Everyone
                        || matches!(target, Target::Person(h) if team_of(h).as_ref() == Some(t))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SourceAuth;

    #[test]
    fn secrets_come_from_the_environment_and_pagers_reach_teams_members() {
        let text = r#"
[[teams]]
name = "Networking"
aliases = ["net"]
[[contacts]]
handle = "bsparrow"
name = "Bob Sparrow"
team = "Networking"
[alerts.sources.generic]
auth = "hmac"
secret_env = "GEN"
[[pagers]]
name = "pd-net"
kind = "pagerduty"
secret_env = "PD"
targets = ["!net"]
"#;
        let env = |k: &str| match k {
            "GEN" => Some("s3cret".to_string()),
            "PD" => Some("routing-key".to_string()),
            _ => None,
        };
        let s = Settings::check(text, "w.toml", env, |_| Ok(String::new())).unwrap();
        assert!(
            matches!(&s.sources["generic"], SourceAuth::Hmac { secret, header }
            if secret.expose() == "s3cret" && header == "X-Warroom-Signature")
        );
        assert!(!format!("{s:?}").contains("s3cret"));
        assert!(!format!("{s:?}").contains("routing-key"));
        let pd = s.pagers_for(&Target::Person("bsparrow".into()));
        assert_eq!(pd.len(), 1);
        assert_eq!(pd[0].url, PAGERDUTY_EVENTS_URL);
        assert!(s.pagers_for(&Target::Team("Networking".into())).len() == 1);
    }
}
