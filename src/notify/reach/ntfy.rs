//! Push notifications through ntfy: one JSON message POSTed to the server's root, with an
//! Acknowledge button that POSTs to the acknowledge link from the phone itself.

use super::reply::{self, Shape};
use super::{one_line, Notice, Ntfy, Sent};
use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

/// How much of the title goes into the notification's title line.
const TITLE_MAX: usize = 120;

const SHAPE: Shape = Shape {
    name: "ntfy",
    id_field: "id",
    explain,
};

/// Checks the server URL before the first send.
pub(super) fn check(ntfy: &Ntfy) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(&ntfy.url)
        .with_context(|| format!("[notifications.ntfy] url {:?}", ntfy.url))?;
    if !matches!(url.scheme(), "https" | "http") {
        bail!(
            "[notifications.ntfy] url {:?} is not an http(s) URL; write the server's base URL, \
             e.g. \"https://ntfy.sh\"",
            ntfy.url
        );
    }
    Ok(())
}

/// Publishes the notice to `topic`.
pub(super) async fn publish(
    client: &reqwest::Client,
    ntfy: &Ntfy,
    topic: &str,
    notice: &Notice,
) -> Sent {
    publish_json(client, ntfy, topic, message(topic, notice)).await
}

/// Publishes a plain message (a hand-over) to `topic`, at default priority, no button.
pub(super) async fn publish_plain(
    client: &reqwest::Client,
    ntfy: &Ntfy,
    topic: &str,
    title: &str,
    text: &str,
) -> Sent {
    let body = json!({
        "topic": topic,
        "title": one_line(title, TITLE_MAX),
        "message": text,
        "priority": 3,
        "tags": ["arrows_counterclockwise"],
    });
    publish_json(client, ntfy, topic, body).await
}

async fn publish_json(client: &reqwest::Client, ntfy: &Ntfy, topic: &str, body: Value) -> Sent {
    if !topic_ok(topic) {
        return Sent::refused(format!(
            "{topic:?} is not an ntfy topic; topics are 1 to 64 letters, digits, - and _"
        ));
    }
    let mut request = client.post(&ntfy.url).timeout(ntfy.timeout).json(&body);
    if let Some(token) = &ntfy.token {
        request = request.bearer_auth(token.expose());
    }
    let token = ntfy.token.as_ref();
    match request.send().await {
        Ok(response) => reply::classify(response, &SHAPE, token).await,
        Err(err) => reply::unanswered("ntfy", err, ntfy.timeout, token),
    }
}

/// The JSON ntfy publishes: urgent enough to break through for sev1 and sev2, a tap opens
/// the confirm page, and the Acknowledge button acknowledges in one press.
pub(super) fn message(topic: &str, notice: &Notice) -> Value {
    let priority = match notice.severity.as_str() {
        "sev1" => 5,
        "sev2" => 4,
        _ => 3,
    };
    let mut body = json!({
        "topic": topic,
        "title": format!(
            "{} {}: {}",
            one_line(&notice.incident, 40),
            one_line(&notice.severity, 20),
            one_line(&notice.title, TITLE_MAX)
        ),
        "message": notice.summary,
        "priority": priority,
        "tags": ["rotating_light"],
    });
    if let Some(url) = &notice.ack_url {
        body["click"] = json!(url);
        body["actions"] = json!([{
            "action": "http",
            "label": "Acknowledge",
            "url": url,
            "method": "POST",
            "clear": true,
        }]);
    }
    body
}

/// ntfy's errors: `{"code":40301,"http":403,"error":"forbidden","link":"…"}`.
fn explain(body: &Map<String, Value>) -> Option<String> {
    let error = body.get("error").and_then(Value::as_str)?;
    Some(reply::numbered(
        body.get("code"),
        Some(error),
        body.get("link").and_then(Value::as_str),
    ))
}

/// ntfy's topic names: `[-_A-Za-z0-9]{1,64}`.
fn topic_ok(topic: &str) -> bool {
    (1..=64).contains(&topic.len())
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::super::tests::{notice, only_request, reacher, ACK, NTFY_TOKEN};
    use super::super::{Address, Attempt, Providers, Secret};
    use super::*;
    use std::time::Duration;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[test]
    fn priority_follows_severity() {
        let mut notice = notice();
        for (severity, priority) in [("sev1", 5), ("sev2", 4), ("sev3", 3), ("sev4", 3)] {
            notice.severity = severity.into();
            assert_eq!(message("t", &notice)["priority"], priority, "{severity}");
        }
    }

    #[test]
    fn without_a_link_there_is_no_button_and_no_click() {
        let mut notice = notice();
        notice.ack_url = None;
        let body = message("t", &notice);
        assert!(body.get("click").is_none(), "{body}");
        assert!(body.get("actions").is_none(), "{body}");
    }

    #[test]
    fn topics_are_checked() {
        assert!(topic_ok("warroom-alice_7"));
        for bad in ["", "a/b", "a b", "../x", &"x".repeat(65)] {
            assert!(!topic_ok(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn ntfy_gets_the_message_the_bearer_token_and_an_acknowledge_button() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/"))
            .and(header(
                "authorization",
                format!("Bearer {NTFY_TOKEN}").as_str(),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "sPs71M8A2T", "time": 1700000000, "event": "message", "topic": "alice-pager",
            })))
            .expect(1)
            .mount(&server)
            .await;
        let providers = Providers {
            ntfy: Some(Ntfy {
                url: server.uri(),
                token: Some(Secret::new(NTFY_TOKEN)),
                timeout: Duration::from_secs(5),
            }),
            ..Providers::default()
        };
        let mut notice = notice();
        notice.title = "Database down\nagain".into();
        let sent = reacher(providers)
            .send(&Address::Push("alice-pager".into()), &notice)
            .await;
        assert_eq!(sent.attempt, Attempt::Delivered { status: 200 });
        assert_eq!(sent.provider_ref.as_deref(), Some("sPs71M8A2T"));
        let request = only_request(&server).await;
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            json!({
                "topic": "alice-pager",
                "title": "INC-7 sev1: Database down again",
                "message": notice.summary,
                "priority": 5,
                "tags": ["rotating_light"],
                "click": ACK,
                "actions": [{
                    "action": "http",
                    "label": "Acknowledge",
                    "url": ACK,
                    "method": "POST",
                    "clear": true,
                }],
            })
        );
    }

    #[tokio::test]
    async fn an_ntfy_refusal_says_why_without_the_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "code": 40301, "http": 403, "error": "forbidden",
                "link": "https://ntfy.sh/docs/publish/#authentication",
            })))
            .mount(&server)
            .await;
        let providers = Providers {
            ntfy: Some(Ntfy {
                url: server.uri(),
                token: Some(Secret::new(NTFY_TOKEN)),
                timeout: Duration::from_secs(5),
            }),
            ..Providers::default()
        };
        let sent = reacher(providers)
            .send(&Address::Push("alice-pager".into()), &notice())
            .await;
        let Attempt::Refused { status, error } = sent.attempt else {
            panic!("expected refused, got {:?}", sent.attempt);
        };
        assert_eq!(status, 403);
        assert!(error.contains("40301"), "{error}");
        assert!(error.contains("forbidden"), "{error}");
        assert!(!error.contains(NTFY_TOKEN), "{error}");
    }
}
