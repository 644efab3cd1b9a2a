//! `warroom import-oncall`: another on-call tool's API export, turned into warroom TOML for a
//! person to review, with a list of what was made and of what could not be carried over.
//!
//! Each source reads its tool's export (one JSON file of REST API responses; the shapes are in
//! the source modules and in `docs/import-oncall.md`) into a [`Draft`](draft::Draft): teams,
//! contacts (with their email, phone and notification rules, see [`reach`]), schedules and
//! escalation policies in warroom's own terms. The draft writes the TOML through the `toml`
//! crate, so names from the export are escaped as TOML requires, and every key it writes is
//! one warroom's configuration check reads; the notification rules alone are written as
//! comments, since they need providers the export knows nothing of.
//!
//! What one tool says and warroom cannot is never guessed at silently: it goes to
//! [`Imported::unmapped`], one line each, naming the thing and the reason.

mod draft;
mod grafana_oncall;
mod layers;
mod names;
mod opsgenie;
mod pagerduty;
mod reach;
mod weeks;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use std::fmt;

/// The tool an export comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportSource {
    Opsgenie,
    GrafanaOncall,
    PagerDuty,
}

impl std::str::FromStr for ImportSource {
    type Err = String;

    fn from_str(s: &str) -> Result<ImportSource, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "opsgenie" => Ok(ImportSource::Opsgenie),
            "grafana-oncall" => Ok(ImportSource::GrafanaOncall),
            "pagerduty" => Ok(ImportSource::PagerDuty),
            _ => Err(format!(
                "'{s}' is not a tool warroom imports from; use opsgenie, grafana-oncall or pagerduty"
            )),
        }
    }
}

impl fmt::Display for ImportSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImportSource::Opsgenie => "Opsgenie",
            ImportSource::GrafanaOncall => "Grafana OnCall",
            ImportSource::PagerDuty => "PagerDuty",
        })
    }
}

/// The result of an import: the configuration and what a reviewer needs to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// warroom TOML for review: `[[teams]]`, `[[contacts]]`, `[[schedules]]` (with
    /// `[[schedules.layers]]`) and `[[escalations]]`.
    pub toml: String,
    /// One line per thing made.
    pub made: Vec<String>,
    /// One line per thing that could not be carried over, saying what and why.
    pub unmapped: Vec<String>,
}

/// Why an export could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the {tool} export is not JSON: {detail}; export the API responses as docs/import-oncall.md shows")]
    NotJson { tool: ImportSource, detail: String },
    #[error("the {tool} export is not of the expected shape at {path}: {problem}; docs/import-oncall.md shows the shape and the curl commands that make it")]
    Shape {
        tool: ImportSource,
        path: String,
        problem: String,
    },
}

/// Reads an export into `T`, naming the key path of the first thing that does not fit.
pub(crate) fn read_export<T: DeserializeOwned>(
    tool: ImportSource,
    export: &str,
) -> Result<T, ImportError> {
    // A file that is not JSON at all is told apart from JSON of the wrong shape, since the
    // fixes differ (the export command versus one key).
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(export) {
        return Err(ImportError::NotJson {
            tool,
            detail: e.to_string(),
        });
    }
    let mut reader = serde_json::Deserializer::from_str(export);
    serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let path = match e.path().to_string() {
            p if p == "." => "the top level".to_string(),
            p => p,
        };
        let mut problem = e.into_inner().to_string();
        if problem.contains("expected a sequence") {
            // The usual slip: the whole API response where only its list belongs.
            problem.push_str(" (put the response's list here, not the whole response)");
        }
        shape(tool, &path, problem)
    })
}

/// A value in the export that has the right JSON type but cannot be read.
pub(crate) fn shape(tool: ImportSource, path: &str, problem: impl Into<String>) -> ImportError {
    ImportError::Shape {
        tool,
        path: path.to_string(),
        problem: problem.into(),
    }
}

/// Converts `export` (the API responses of `source`) into warroom TOML.
pub fn import(source: ImportSource, export: &str) -> Result<Imported, ImportError> {
    import_at(source, export, Utc::now())
}

/// [`import`] as of `now`: layers that ended before it are history and left out, and those
/// that start or end after it are flagged, since warroom layers have no start or end.
pub fn import_at(
    source: ImportSource,
    export: &str,
    now: DateTime<Utc>,
) -> Result<Imported, ImportError> {
    let draft = match source {
        ImportSource::Opsgenie => opsgenie::read(export, now)?,
        ImportSource::GrafanaOncall => grafana_oncall::read(export, now)?,
        ImportSource::PagerDuty => pagerduty::read(export, now)?,
    };
    Ok(draft.finish())
}

/// Reads an IANA zone name from the export.
pub(crate) fn read_zone(tool: ImportSource, path: &str, name: &str) -> Result<Tz, ImportError> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| shape(tool, path, format!("'{name}' is not an IANA time zone")))
}

/// Reads an RFC 3339 instant (`2026-03-02T09:00:00+01:00`, `…Z`) from the export.
pub(crate) fn read_instant(
    tool: ImportSource,
    path: &str,
    text: &str,
) -> Result<DateTime<Utc>, ImportError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            shape(
                tool,
                path,
                format!(
                    "'{text}' is not a date and time with its offset, e.g. 2026-03-02T09:00:00Z"
                ),
            )
        })
}

#[cfg(test)]
mod tests;
