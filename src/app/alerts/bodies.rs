//! Reading alert bodies as their senders post them (Alertmanager webhook v4, Grafana's
//! Alertmanager-shaped webhook, and warroom's generic shape) into alert facts.
//!
//! Unknown and missing optional fields are tolerated; a missing required field is named.

use crate::domain::event::{AlertFacts, AlertStatus};
use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Why an alert body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{sender} alert body: {problem}")]
pub struct AlertBodyError {
    /// Which sender's format was expected.
    pub sender: String,
    pub problem: String,
    /// The field at fault, as a path into the body (`alerts[2].startsAt`), when one is.
    pub field: Option<String>,
}

/// Deserializes `body` as `T`, naming the field at fault in the error.
fn typed<T: serde::de::DeserializeOwned>(
    body: &serde_json::Value,
) -> Result<T, (Option<String>, String)> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let problem = e.into_inner().to_string();
        if path == "." {
            (None, problem)
        } else {
            (Some(path.clone()), format!("{path}: {problem}"))
        }
    })
}

#[derive(Deserialize)]
struct WebhookV4 {
    alerts: Vec<WebhookAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    fingerprint: Option<String>,
}

#[derive(Deserialize)]
struct GenericAlert {
    name: String,
    #[serde(default = "firing")]
    status: String,
    severity: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    dedup_key: Option<String>,
    summary: Option<String>,
}

fn firing() -> String {
    "firing".into()
}

/// Reads the alerts in a body from `source` (`alertmanager`, `grafana` or `generic`), to be
/// announced in `channel`.
pub fn read_alerts(
    source: &str,
    body: &serde_json::Value,
    channel: &str,
) -> Result<Vec<AlertFacts>, AlertBodyError> {
    let fail = |field: Option<String>, problem: String| AlertBodyError {
        sender: source.to_string(),
        problem,
        field,
    };
    let status = |field: String, s: &str| match s.to_ascii_lowercase().as_str() {
        "firing" | "alerting" => Ok(AlertStatus::Firing),
        "resolved" | "ok" => Ok(AlertStatus::Resolved),
        other => Err(fail(
            Some(field.clone()),
            format!("{field}: '{other}' is neither firing nor resolved"),
        )),
    };
    // A time out of range is refused naming its field; the message names it too.
    let in_range = |field: String, t: Option<DateTime<Utc>>| {
        t.map(|t| crate::time_range::check(&field, t))
            .transpose()
            .map_err(|problem| fail(Some(field.clone()), problem))
    };
    match source {
        "alertmanager" | "grafana" => {
            let hook: WebhookV4 = typed(body).map_err(|(field, problem)| fail(field, problem))?;
            hook.alerts
                .into_iter()
                .enumerate()
                .map(|(i, a)| {
                    let field = |name: &str| format!("alerts[{i}].{name}");
                    let starts_at = in_range(field("startsAt"), a.starts_at)?;
                    // Alertmanager sends Go's zero time (0001-01-01T00:00:00Z) as the end of
                    // a firing alert; some senders send the epoch for the same.
                    let ends_at = in_range(
                        field("endsAt"),
                        a.ends_at.filter(|t| t.year() != 1 && t.timestamp() != 0),
                    )?;
                    let name = a
                        .labels
                        .get("alertname")
                        .filter(|n| !n.trim().is_empty())
                        .cloned()
                        .ok_or_else(|| {
                            fail(
                                Some(field("labels.alertname")),
                                format!(
                                    "{} is missing or empty; every alert needs a name",
                                    field("labels.alertname")
                                ),
                            )
                        })?;
                    Ok(AlertFacts {
                        source: source.to_string(),
                        fingerprint: a
                            .fingerprint
                            .clone()
                            .unwrap_or_else(|| label_fingerprint(&a.labels)),
                        status: status(field("status"), &a.status)?,
                        severity: a.labels.get("severity").cloned(),
                        summary: a.annotations.get("summary").cloned(),
                        name,
                        channel: channel.to_string(),
                        labels: a.labels,
                        annotations: a.annotations,
                        starts_at,
                        ends_at,
                    })
                })
                .collect()
        }
        "generic" => {
            let a: GenericAlert = typed(body).map_err(|(field, problem)| fail(field, problem))?;
            if a.name.trim().is_empty() {
                return Err(fail(Some("name".into()), "name: it is empty".into()));
            }
            let starts_at = in_range("starts_at".into(), a.starts_at)?;
            let ends_at = in_range("ends_at".into(), a.ends_at)?;
            Ok(vec![AlertFacts {
                source: source.to_string(),
                fingerprint: a.dedup_key.clone().unwrap_or_else(|| {
                    let mut labels = a.labels.clone();
                    labels.insert("alertname".into(), a.name.clone());
                    label_fingerprint(&labels)
                }),
                status: status("status".into(), &a.status)?,
                name: a.name,
                channel: channel.to_string(),
                severity: a.severity,
                summary: a.summary.or_else(|| a.annotations.get("summary").cloned()),
                labels: a.labels,
                annotations: a.annotations,
                starts_at,
                ends_at,
            }])
        }
        other => Err(fail(
            None,
            format!("unknown source '{other}'; use alertmanager, grafana or generic"),
        )),
    }
}

/// A stable identity for an alert without a sender fingerprint: a hash of its sorted labels.
fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    for (k, v) in labels {
        hasher.update(k.as_bytes());
        hasher.update([0]);
        hasher.update(v.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_an_alertmanager_webhook_and_tolerates_extra_fields() {
        let body = json!({
            "version": "4", "status": "firing", "receiver": "warroom", "groupKey": "{}", "extra": 1,
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "ApplicationDown", "severity": "critical"},
                "annotations": {"summary": "exoticplant.plant is unreachable"},
                "startsAt": "2021-03-09T09:15:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "abc123", "generatorURL": "http://x"
            }]
        });
        let alerts = read_alerts("alertmanager", &body, "ops").unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].name, "ApplicationDown");
        assert_eq!(alerts[0].fingerprint, "abc123");
        assert_eq!(
            alerts[0].summary.as_deref(),
            Some("exoticplant.plant is unreachable")
        );
        assert_eq!(alerts[0].ends_at, None);
    }

    #[test]
    fn times_outside_the_accepted_range_are_refused_naming_the_field() {
        let hook = |starts: &str, ends: &str| {
            json!({"alerts": [
                {"status": "firing", "labels": {"alertname": "A"}, "startsAt": "2021-03-09T09:15:00Z"},
                {"status": "firing", "labels": {"alertname": "B"}, "startsAt": starts, "endsAt": ends}
            ]})
        };
        for (starts, ends, field) in [
            (
                "-0001-01-01T00:00:00Z",
                "0001-01-01T00:00:00Z",
                "alerts[1].startsAt",
            ),
            (
                "-2021-03-09T09:15:00Z",
                "0001-01-01T00:00:00Z",
                "alerts[1].startsAt",
            ),
            (
                "1969-12-31T23:59:59Z",
                "0001-01-01T00:00:00Z",
                "alerts[1].startsAt",
            ),
            (
                "2021-03-09T09:15:00Z",
                "-0005-01-01T00:00:00Z",
                "alerts[1].endsAt",
            ),
        ] {
            match read_alerts("alertmanager", &hook(starts, ends), "ops") {
                Err(e) => assert!(e.problem.starts_with(field), "{starts} {ends}: {e}"),
                Ok(alerts) => panic!("{starts} {ends} accepted: {alerts:?}"),
            }
        }
        let generic = json!({"name": "DiskLow", "starts_at": "-0001-01-01T00:00:00Z"});
        let e = read_alerts("generic", &generic, "ops").unwrap_err();
        assert!(e.problem.starts_with("starts_at: "), "{e}");
    }

    #[test]
    fn generic_alerts_fingerprint_by_labels_and_missing_fields_are_named() {
        let a = read_alerts(
            "generic",
            &json!({"name": "DiskLow", "labels": {"mount": "/var/log"}}),
            "ops",
        )
        .unwrap();
        let b = read_alerts(
            "generic",
            &json!({"name": "DiskLow", "labels": {"mount": "/var/log"}}),
            "ops",
        )
        .unwrap();
        assert_eq!(a[0].fingerprint, b[0].fingerprint);
        assert_eq!(a[0].status, AlertStatus::Firing);
        let err = read_alerts("generic", &json!({"status": "firing"}), "ops").unwrap_err();
        assert!(err.to_string().contains("missing field `name`"), "{err}");
        let err = read_alerts(
            "alertmanager",
            &json!({"alerts": [{"status": "firing", "labels": {}}]}),
            "ops",
        )
        .unwrap_err();
        assert!(err.to_string().contains("alertname"));
    }
}
