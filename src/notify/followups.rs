//! Follow-up actions filed as issues in GitHub or GitLab through their REST APIs: one issue
//! per action, its URL recorded in the incident (`ActionIssueLinked`) so the post-mortem
//! links it. Failures are retried with the pagers' backoff and logged without the token.
//!
//! GitHub: `POST /repos/{owner}/{repo}/issues` with `title`, `body`, `labels`, a bearer
//! token, answering 201 with `number` and `html_url`. GitLab: `POST
//! /projects/{id or url-encoded path}/issues` with `title`, `description`, `labels` (comma
//! separated) and `due_date`, a `PRIVATE-TOKEN` header, answering 201 with `iid` and
//! `web_url`.

use super::RetryPolicy;
use crate::app::followups::UnfiledAction;
use crate::app::Warroom;
use crate::config::{FollowupSettings, Tracker};
use crate::domain::types::IncidentNumber;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long one call to the tracker may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// An issue the tracker made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiledIssue {
    /// `#12` on GitHub, `#12` (the project's iid) on GitLab.
    pub issue: String,
    pub url: String,
}

/// Files every action of the incident that has no issue yet, one at a time and in order,
/// and records each issue. One incident's filings never overlap: `lock` is held throughout,
/// so two deliveries for one incident cannot file an action twice.
pub async fn file_incident(
    warroom: Arc<Warroom>,
    client: reqwest::Client,
    retry: RetryPolicy,
    lock: Arc<tokio::sync::Mutex<()>>,
    incident: IncidentNumber,
) {
    let Some(settings) = warroom.settings().followups.clone() else {
        return;
    };
    let _one_at_a_time = lock.lock().await;
    let unfiled = match warroom.unfiled_actions(incident).await {
        Ok(unfiled) => unfiled,
        Err(e) => {
            tracing::error!(%incident, "could not read the follow-up actions to file: {e:#}");
            return;
        }
    };
    for action in unfiled {
        let id = format!("{incident}/{}", action.action.id);
        let mut attempt = 1;
        let filed = loop {
            match file(&client, &settings, &action).await {
                Ok(filed) => break Some(filed),
                Err(failure) => {
                    attempt += 1;
                    match retry
                        .delay_before(attempt, None)
                        .filter(|_| failure.retryable)
                    {
                        Some(wait) => {
                            tracing::warn!(action = %id, tracker = settings.tracker.as_str(), "filing the follow-up failed, trying again: {}", failure.reason);
                            tokio::time::sleep(wait).await;
                        }
                        None => {
                            tracing::error!(action = %id, tracker = settings.tracker.as_str(), "could not file the follow-up: {}", failure.reason);
                            break None;
                        }
                    }
                }
            }
        };
        let Some(filed) = filed else { continue };
        match warroom
            .link_issue(
                incident,
                action.number,
                settings.tracker.as_str(),
                &filed.issue,
                &filed.url,
            )
            .await
        {
            Ok(()) => tracing::info!(action = %id, issue = %filed.url, "follow-up filed"),
            Err(e) => {
                tracing::error!(action = %id, issue = %filed.url, "filed, but could not record the issue: {e:#}")
            }
        }
    }
}

/// Why a filing failed, and whether trying again may help.
#[derive(Debug)]
pub struct Failure {
    pub reason: String,
    pub retryable: bool,
}

/// Files one action and returns the issue.
pub async fn file(
    client: &reqwest::Client,
    settings: &FollowupSettings,
    unfiled: &UnfiledAction,
) -> Result<FiledIssue, Failure> {
    let a = &unfiled.action;
    let title = format!(
        "[{}/{}] {}",
        unfiled.incident,
        a.id,
        a.text.lines().next().unwrap_or_default()
    );
    let mut body = format!(
        "Follow-up action {} of {} “{}”.\n\n{}\n",
        a.id, unfiled.incident, unfiled.incident_title, a.text
    );
    if let Some(owner) = &a.owner {
        body.push_str(&format!("\nOwner: @{owner} (warroom handle)"));
    }
    if let Some(due) = a.due {
        body.push_str(&format!("\nDue: {due}"));
    }
    body.push_str(&format!(
        "\n\nFiled by warroom; `warroom show {}` prints the event that added it.",
        crate::domain::postmortem::short_ref(&a.event_id)
    ));
    let request = match settings.tracker {
        Tracker::GitHub => client
            .post(format!(
                "{}/repos/{}/issues",
                settings.api_url, settings.repository
            ))
            .bearer_auth(settings.token.expose())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .json(&json!({"title": title, "body": body, "labels": settings.labels})),
        Tracker::GitLab => {
            let mut fields = json!({
                "title": title,
                "description": body,
                "labels": settings.labels.join(","),
            });
            if let Some(due) = a.due {
                fields["due_date"] = json!(due.to_string());
            }
            client
                .post(format!(
                    "{}/projects/{}/issues",
                    settings.api_url,
                    // The path's characters are checked at load: only `/` needs encoding.
                    settings.repository.replace('/', "%2F")
                ))
                .header("PRIVATE-TOKEN", settings.token.expose())
                .json(&fields)
        }
    };
    let answer = request.timeout(TIMEOUT).send().await.map_err(|e| Failure {
        // Without the URL: it is ours, and the error adds nothing to it.
        reason: format!("the tracker did not answer: {}", e.without_url()),
        retryable: true,
    })?;
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    if !status.is_success() {
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_default();
        return Err(Failure {
            reason: format!("the tracker answered {status}: {message}"),
            retryable: status.is_server_error() || status.as_u16() == 429,
        });
    }
    let value: Value = serde_json::from_str(&text).map_err(|e| Failure {
        reason: format!("the tracker's answer is not JSON: {e}"),
        retryable: false,
    })?;
    let (number, url) = match settings.tracker {
        Tracker::GitHub => (&value["number"], &value["html_url"]),
        Tracker::GitLab => (&value["iid"], &value["web_url"]),
    };
    match (number.as_u64(), url.as_str()) {
        (Some(n), Some(url)) => Ok(FiledIssue {
            issue: format!("#{n}"),
            url: url.to_string(),
        }),
        _ => Err(Failure {
            reason: "the tracker's answer names no issue number and URL".to_string(),
            retryable: false,
        }),
    }
}
