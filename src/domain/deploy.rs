//! Deploys as warroom records them: what was deployed where, by whom, with or without
//! migrations, and how it ended — the answer to the seed's "when was the last deploy? What
//! were the details?" — and the guard rules that flag a suspicious one (a QA build in
//! production, a deploy outside the change window).
//!
//! The same body comes from a pipeline (`POST /v1/deploys`), a chat command (`/deploy record`)
//! or a transcript line; every mistake names the field.

use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, Utc, Weekday};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// How a deploy ended, or that it is under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployStatus {
    Started,
    Succeeded,
    Failed,
    RolledBack,
}

impl DeployStatus {
    pub const WORDS: &'static str = "started, succeeded, failed, rolled_back";

    pub fn as_str(self) -> &'static str {
        match self {
            DeployStatus::Started => "started",
            DeployStatus::Succeeded => "succeeded",
            DeployStatus::Failed => "failed",
            DeployStatus::RolledBack => "rolled_back",
        }
    }

    fn parse(word: &str) -> Option<DeployStatus> {
        match word
            .trim()
            .to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .as_str()
        {
            "started" => Some(DeployStatus::Started),
            "succeeded" => Some(DeployStatus::Succeeded),
            "failed" => Some(DeployStatus::Failed),
            "rolled_back" => Some(DeployStatus::RolledBack),
            _ => None,
        }
    }
}

/// One deploy of a service's version to an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deploy {
    pub service: String,
    pub environment: String,
    pub version: String,
    /// Who deployed it (a handle, or the pipeline's name).
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// Whether it ran database migrations; `None` when nobody said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrations: Option<bool>,
    pub status: DeployStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The sender's own id for the deploy (a pipeline run): a resend with the same id is
    /// recorded once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What is wrong with a deploy body: the field and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

fn field_error(field: &str, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// Service and environment names: what fits a stream id, a label value and a DNS label.
static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9._-]{0,62}$").expect("a valid pattern"));
/// Versions, commits and ids: one word of printable characters.
static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[[:graph:]]{1,128}$").expect("a valid pattern"));

const FIELDS: &[&str] = &[
    "service",
    "environment",
    "version",
    "by",
    "commit",
    "artifact",
    "migrations",
    "status",
    "started_at",
    "finished_at",
    "notes",
    "id",
];

impl Deploy {
    /// Reads and checks a deploy body (JSON object). `status` defaults to `succeeded`.
    pub fn from_json(body: &Value) -> Result<Deploy, FieldError> {
        let Value::Object(map) = body else {
            return Err(field_error(
                "body",
                "must be a JSON object with service, environment, version and by",
            ));
        };
        if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(field_error(
                unknown,
                format!(
                    "is not a deploy field; the fields are {}",
                    FIELDS.join(", ")
                ),
            ));
        }
        let deploy = Deploy {
            service: required(map, "service")?,
            environment: required(map, "environment")?,
            version: required(map, "version")?,
            by: required(map, "by")?,
            commit: optional(map, "commit")?,
            artifact: optional(map, "artifact")?,
            migrations: match map.get("migrations") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => return Err(field_error("migrations", "must be true or false")),
            },
            status: match optional(map, "status")? {
                None => DeployStatus::Succeeded,
                Some(word) => DeployStatus::parse(&word).ok_or_else(|| {
                    field_error(
                        "status",
                        format!(
                            "'{word}' is not a status; use one of {}",
                            DeployStatus::WORDS
                        ),
                    )
                })?,
            },
            started_at: time(map, "started_at")?,
            finished_at: time(map, "finished_at")?,
            notes: optional(map, "notes")?,
            id: optional(map, "id")?,
        };
        deploy.check()
    }

    /// A deploy from a chat command's options (`service:`, `env:`, `version:`, …), by the
    /// speaker unless `by:` names someone else.
    pub fn from_options(
        options: &BTreeMap<String, String>,
        speaker: &str,
    ) -> Result<Deploy, FieldError> {
        let mut body = Map::new();
        for (name, value) in options {
            let field = match name.as_str() {
                "env" => "environment",
                other => other,
            };
            let value = match field {
                "migrations" => match value.trim().to_ascii_lowercase().as_str() {
                    "yes" | "true" => Value::Bool(true),
                    "no" | "false" => Value::Bool(false),
                    _ => {
                        return Err(field_error(
                            "migrations",
                            format!("'{value}' is neither yes nor no"),
                        ))
                    }
                },
                "by" => Value::String(value.trim().trim_start_matches(['@', '!']).to_string()),
                _ => Value::String(value.clone()),
            };
            body.insert(field.to_string(), value);
        }
        body.entry("by")
            .or_insert_with(|| Value::String(speaker.to_string()));
        Deploy::from_json(&Value::Object(body))
    }

    /// Checks every field's shape; names are lowercased.
    fn check(mut self) -> Result<Deploy, FieldError> {
        for (field, value) in [
            ("service", &mut self.service),
            ("environment", &mut self.environment),
        ] {
            *value = value.trim().to_ascii_lowercase();
            if !NAME.is_match(value) {
                return Err(field_error(
                    field,
                    format!("'{value}' is not a name: use 1 to 63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"),
                ));
            }
        }
        for (field, value) in [
            ("version", Some(&self.version)),
            ("commit", self.commit.as_ref()),
            ("id", self.id.as_ref()),
        ] {
            if let Some(v) = value {
                if !WORD.is_match(v) {
                    return Err(field_error(
                        field,
                        "must be one word of 1 to 128 printable characters, without spaces",
                    ));
                }
            }
        }
        let by = self.by.trim();
        if by.is_empty() || by.chars().count() > 100 || by.chars().any(char::is_control) {
            return Err(field_error(
                "by",
                "must name who deployed, in 1 to 100 characters",
            ));
        }
        self.by = by.to_string();
        for (field, value, limit) in [
            ("artifact", &self.artifact, 500),
            ("notes", &self.notes, 2000),
        ] {
            if value.as_ref().is_some_and(|v| v.chars().count() > limit) {
                return Err(field_error(
                    field,
                    format!("is longer than {limit} characters"),
                ));
            }
        }
        if let (Some(start), Some(end)) = (self.started_at, self.finished_at) {
            if end < start {
                return Err(field_error("finished_at", "is before started_at"));
            }
        }
        Ok(self)
    }

    /// The same deploy (same id) as a later report says it is now: the later report's
    /// status and values, with what it leaves out (commit, start time, …) kept from before,
    /// as a pipeline says `started` with the details and then only `succeeded`.
    pub fn updated_by(&self, later: &Deploy) -> Deploy {
        Deploy {
            service: later.service.clone(),
            environment: later.environment.clone(),
            version: later.version.clone(),
            by: later.by.clone(),
            commit: later.commit.clone().or_else(|| self.commit.clone()),
            artifact: later.artifact.clone().or_else(|| self.artifact.clone()),
            migrations: later.migrations.or(self.migrations),
            status: later.status,
            started_at: later.started_at.or(self.started_at),
            finished_at: later.finished_at.or(self.finished_at),
            notes: later.notes.clone().or_else(|| self.notes.clone()),
            id: later.id.clone(),
        }
    }

    /// When the deploy happened: when it finished, else when it started, else when it was
    /// recorded.
    pub fn when(&self, recorded_at: DateTime<Utc>) -> DateTime<Utc> {
        self.finished_at.or(self.started_at).unwrap_or(recorded_at)
    }

    /// The stream of a service's deploys.
    pub fn stream_id(&self) -> String {
        stream_id(&self.service)
    }

    /// `app 2.1.0-qa.1 to prod by ghammer: succeeded, no migrations, commit 4f2a9c1`
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} {} to {} by {}: {}",
            self.service,
            self.version,
            self.environment,
            self.by,
            self.status.as_str().replace('_', " ")
        );
        match self.migrations {
            Some(true) => text.push_str(", with migrations"),
            Some(false) => text.push_str(", no migrations"),
            None => text.push_str(", migrations not said"),
        }
        if let Some(commit) = &self.commit {
            text.push_str(&format!(", commit {commit}"));
        }
        if let Some(notes) = &self.notes {
            text.push_str(&format!(" ({notes})"));
        }
        text
    }
}

/// The stream of a service's deploys: `deploys-app`.
pub fn stream_id(service: &str) -> String {
    format!("{STREAM_PREFIX}{service}")
}

/// What every deploy stream's id starts with.
pub const STREAM_PREFIX: &str = "deploys-";

fn text_of<'a>(map: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, FieldError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(field_error(field, "must be a string")),
    }
}

fn required(map: &Map<String, Value>, field: &str) -> Result<String, FieldError> {
    text_of(map, field)?
        .map(str::to_string)
        .ok_or_else(|| field_error(field, "is missing"))
}

fn optional(map: &Map<String, Value>, field: &str) -> Result<Option<String>, FieldError> {
    Ok(text_of(map, field)?.map(str::to_string))
}

fn time(map: &Map<String, Value>, field: &str) -> Result<Option<DateTime<Utc>>, FieldError> {
    text_of(map, field)?
        .map(|t| {
            let parsed = DateTime::parse_from_rfc3339(t.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    field_error(
                        field,
                        format!("'{t}' is not an RFC 3339 time such as 2021-03-08T18:40:00Z"),
                    )
                })?;
            if !crate::time_range::contains(parsed) {
                return Err(field_error(
                    field,
                    format!(
                        "'{t}' is outside the times warroom accepts ({})",
                        crate::time_range::DESCRIPTION
                    ),
                ));
            }
            Ok(parsed)
        })
        .transpose()
}

/// Days and hours in which deploys are expected, in the configured time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeWindow {
    pub days: Vec<Weekday>,
    pub from: NaiveTime,
    pub to: NaiveTime,
}

impl ChangeWindow {
    /// Reads `days` (`mon`, `tue`, …) and `hours` (`09:00-17:00`).
    pub fn parse(days: &[String], hours: &str) -> Result<ChangeWindow, String> {
        let days = days
            .iter()
            .map(|d| {
                d.parse::<Weekday>().map_err(|_| {
                    format!("'{d}' is not a day; write mon, tue, wed, thu, fri, sat or sun")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if days.is_empty() {
            return Err("name at least one day".into());
        }
        let (from, to) = hours
            .split_once('-')
            .ok_or_else(|| format!("'{hours}' is not a range; write it as 09:00-17:00"))?;
        let time = |t: &str| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|_| format!("'{t}' is not a time; write it as HH:MM"))
        };
        let (from, to) = (time(from)?, time(to)?);
        if from >= to {
            return Err(format!("'{hours}' ends before it starts"));
        }
        Ok(ChangeWindow { days, from, to })
    }

    pub fn contains(&self, local: NaiveDateTime) -> bool {
        self.days.contains(&local.weekday()) && local.time() >= self.from && local.time() < self.to
    }
}

/// A rule that flags a deploy: every condition it gives must hold.
#[derive(Debug, Clone)]
pub struct GuardRule {
    pub name: String,
    /// Applies to deploys to this environment only; every environment when `None`.
    pub environment: Option<String>,
    /// Flags a version matching this pattern (`-qa|-rc|-snapshot`).
    pub version_matches: Option<Regex>,
    /// Flags a deploy made outside this window.
    pub outside: Option<ChangeWindow>,
}

impl GuardRule {
    /// Why the rule flags `deploy`, made at `local` (the configured zone), if it does.
    pub fn flags(&self, deploy: &Deploy, local: NaiveDateTime) -> Option<String> {
        if self
            .environment
            .as_ref()
            .is_some_and(|e| e != &deploy.environment)
        {
            return None;
        }
        let mut reasons = Vec::new();
        if let Some(pattern) = &self.version_matches {
            if !pattern.is_match(&deploy.version) {
                return None;
            }
            reasons.push(format!(
                "version {} matches /{}/",
                deploy.version,
                pattern.as_str()
            ));
        }
        if let Some(window) = &self.outside {
            if window.contains(local) {
                return None;
            }
            reasons.push(format!(
                "made {} {}, outside the change window",
                local.weekday(),
                local.format("%H:%M")
            ));
        }
        if reasons.is_empty() {
            return None;
        }
        Some(format!(
            "{} to {}: {}",
            deploy.service,
            deploy.environment,
            reasons.join(" and ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({"service": "app", "environment": "prod", "version": "2.1.0-qa.1", "by": "ghammer"})
    }

    #[test]
    fn a_minimal_body_is_a_succeeded_deploy() {
        let d = Deploy::from_json(&body()).unwrap();
        assert_eq!(d.status, DeployStatus::Succeeded);
        assert_eq!(d.migrations, None);
        assert_eq!(d.stream_id(), "deploys-app");
        assert_eq!(
            d.summary(),
            "app 2.1.0-qa.1 to prod by ghammer: succeeded, migrations not said"
        );
    }

    #[test]
    fn every_mistake_names_its_field() {
        let cases = [
            (
                json!({"environment": "prod", "version": "1", "by": "x"}),
                "service",
            ),
            (
                json!({"service": "App Server", "environment": "prod", "version": "1", "by": "x"}),
                "service",
            ),
            (
                json!({"service": "app", "environment": "prod", "version": "two words", "by": "x"}),
                "version",
            ),
            (
                json!({"service": "app", "environment": "prod", "version": "1", "by": ""}),
                "by",
            ),
            (
                json!({"service": "app", "environment": "prod", "version": "1", "by": "x", "migrations": "no"}),
                "migrations",
            ),
            (
                json!({"service": "app", "environment": "prod", "version": "1", "by": "x", "status": "done"}),
                "status",
            ),
            (
                json!({"service": "app", "environment": "prod", "version": "1", "by": "x", "started_at": "yesterday"}),
                "started_at",
            ),
            (
                json!({"service": "app", "environment": "prod", "version": "1", "by": "x", "colour": "red"}),
                "colour",
            ),
            (
                json!({"service": "app", "environment": 7, "version": "1", "by": "x"}),
                "environment",
            ),
            (
                json!({"service": "app", "environment": "prod", "version": "1", "by": "x",
                    "started_at": "2021-03-08T18:40:00Z", "finished_at": "2021-03-08T18:00:00Z"}),
                "finished_at",
            ),
            (
                json!({"service": "app", "environment": "prod", "version": "1", "by": "x",
                    "started_at": "1969-07-20T20:17:00Z"}),
                "started_at",
            ),
            (json!(["not", "an", "object"]), "body"),
        ];
        for (body, field) in cases {
            let e = Deploy::from_json(&body).unwrap_err();
            assert_eq!(e.field, field, "{body}: {e}");
        }
    }

    #[test]
    fn chat_options_say_env_and_yes_or_no() {
        let options = BTreeMap::from([
            ("service".to_string(), "App".to_string()),
            ("env".to_string(), "prod".to_string()),
            ("version".to_string(), "2.0.0".to_string()),
            ("migrations".to_string(), "no".to_string()),
            ("status".to_string(), "rolled back".to_string()),
        ]);
        let d = Deploy::from_options(&options, "rpark").unwrap();
        assert_eq!(
            (d.service.as_str(), d.environment.as_str(), d.by.as_str()),
            ("app", "prod", "rpark")
        );
        assert_eq!(d.migrations, Some(false));
        assert_eq!(d.status, DeployStatus::RolledBack);
    }

    #[test]
    fn the_qa_guard_flags_a_qa_build_in_prod_only() {
        let rule = GuardRule {
            name: "qa build in prod".into(),
            environment: Some("prod".into()),
            version_matches: Some(Regex::new("-qa|-rc|-snapshot").unwrap()),
            outside: None,
        };
        let at = NaiveDateTime::parse_from_str("2021-03-08 18:40", "%Y-%m-%d %H:%M").unwrap();
        let qa = Deploy::from_json(&body()).unwrap();
        assert_eq!(
            rule.flags(&qa, at).unwrap(),
            "app to prod: version 2.1.0-qa.1 matches /-qa|-rc|-snapshot/"
        );
        let mut release = qa.clone();
        release.version = "2.0.0".into();
        assert_eq!(rule.flags(&release, at), None);
        let mut to_qa = qa;
        to_qa.environment = "qa".into();
        assert_eq!(rule.flags(&to_qa, at), None);
    }

    #[test]
    fn the_change_window_flags_evenings_and_weekends() {
        let window = ChangeWindow::parse(
            &["mon".into(), "tue".into(), "wed".into(), "thu".into()],
            "09:00-17:00",
        )
        .unwrap();
        let rule = GuardRule {
            name: "outside the change window".into(),
            environment: Some("prod".into()),
            version_matches: None,
            outside: Some(window),
        };
        let d = Deploy::from_json(&body()).unwrap();
        let at = |t: &str| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M").unwrap();
        // 2021-03-08 was a Monday.
        assert_eq!(rule.flags(&d, at("2021-03-08 10:00")), None);
        assert_eq!(
            rule.flags(&d, at("2021-03-08 18:40")).unwrap(),
            "app to prod: made Mon 18:40, outside the change window"
        );
        assert!(rule.flags(&d, at("2021-03-12 10:00")).is_some(), "a Friday");
        assert!(ChangeWindow::parse(&["someday".into()], "09:00-17:00").is_err());
        assert!(ChangeWindow::parse(&["mon".into()], "17:00-09:00").is_err());
    }
}
