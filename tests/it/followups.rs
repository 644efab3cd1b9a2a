//! Follow-up actions filed as issues in GitHub and GitLab, against wiremock answering with
//! their real shapes: one issue per action, the URL recorded and linked from the post-mortem,
//! a failing tracker retried, and the token never in the ledger.

use crate::common;

use std::time::Duration;
use warroom::app::{Caller, Input, InputKind, Warroom};
use warroom::config::{FollowupSettings, Settings, Tracker};
use warroom::domain::event::Event;
use warroom::domain::postmortem::render_markdown;
use warroom::domain::types::IncidentNumber;
use warroom::secret::Secret;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn say(app: &Warroom, key: &str, text: &str) {
    let input = Input {
        key: key.into(),
        at: chrono::Utc::now(),
        from: "rpark".into(),
        channel: "ops".into(),
        caller: Caller::default(),
        kind: InputKind::Message {
            text: text.into(),
            message_id: None,
            reply_to: None,
            attachments: vec![],
        },
    };
    let outcome = app.handle(input).await.unwrap();
    assert!(!outcome.refused, "{outcome:?}");
}

fn settings(tracker: Tracker, api_url: String, repository: &str) -> Settings {
    let mut settings = Settings::example().unwrap();
    settings.followups = Some(FollowupSettings {
        tracker,
        repository: repository.into(),
        api_url,
        labels: vec!["postmortem".into(), "sre".into()],
        token: Secret::new("tracker-token-123"),
    });
    settings
}

fn fast_retries() -> warroom::serve::Options {
    warroom::serve::Options {
        retry: warroom::notify::RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Waits until both actions of INC-1 have their issue; returns the links recorded.
async fn linked(app: &Warroom) -> Vec<(u32, String, String)> {
    for _ in 0..200 {
        let links: Vec<(u32, String, String)> = app
            .incident_records(IncidentNumber(1))
            .await
            .unwrap()
            .into_iter()
            .filter_map(|r| match r.event {
                Event::ActionIssueLinked {
                    action, issue, url, ..
                } => Some((action, issue, url)),
                _ => None,
            })
            .collect();
        if links.len() == 2 {
            return links;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the actions were not filed")
}

async fn github_issues_are_filed_once_per_action_and_linked(url: &str) {
    let github = MockServer::start().await;
    // The first call fails as GitHub does under load; it is tried again.
    Mock::given(method("POST"))
        .and(path("/repos/shop/app/issues"))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_json(serde_json::json!({"message": "Server Error"})),
        )
        .up_to_n_times(1)
        .mount(&github)
        .await;
    for (n, text) in [(41, "Test builds first"), (42, "Automate deploys")] {
        Mock::given(method("POST"))
            .and(path("/repos/shop/app/issues"))
            .and(header("authorization", "Bearer tracker-token-123"))
            .and(header("accept", "application/vnd.github+json"))
            .and(header("x-github-api-version", "2022-11-28"))
            .and(body_partial_json(
                serde_json::json!({"labels": ["postmortem", "sre"]}),
            ))
            .and(wiremock::matchers::body_string_contains(text))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "id": 1_000 + n,
                "number": n,
                "html_url": format!("https://github.com/shop/app/issues/{n}"),
                "title": text,
                "state": "open",
            })))
            .expect(1)
            .mount(&github)
            .await;
    }
    let app = common::spawn_app(
        url,
        settings(Tracker::GitHub, github.uri(), "shop/app"),
        fast_retries(),
    )
    .await;
    say(&app.warroom, "f1", "/incident open title:\"App down\"").await;
    say(
        &app.warroom,
        "f2",
        "/incident action text:\"Test builds first\" owner:@gtree due:2021-03-23",
    )
    .await;
    say(
        &app.warroom,
        "f3",
        "/incident action text:\"Automate deploys\"",
    )
    .await;
    let mut links = linked(&app.warroom).await;
    links.sort();
    assert_eq!(
        links,
        [
            (
                1,
                "#41".into(),
                "https://github.com/shop/app/issues/41".into()
            ),
            (
                2,
                "#42".into(),
                "https://github.com/shop/app/issues/42".into()
            ),
        ]
    );
    let md = render_markdown(&app.warroom.postmortem(IncidentNumber(1)).await.unwrap());
    assert!(
        md.contains("- A1: Test builds first — owner: Gal Tree (@gtree), due 2021-03-23, issue https://github.com/shop/app/issues/41 ["),
        "{md}"
    );
    let body = github.received_requests().await.unwrap();
    let first = String::from_utf8_lossy(&body.last().unwrap().body).to_string();
    assert!(first.contains("[INC-1/A2] Automate deploys"), "{first}");
    let ledger = app.warroom.ledger().clone();
    let all = ledger.read_all(0, 1_000).await.unwrap();
    assert!(
        all.iter()
            .all(|e| !e.payload.to_string().contains("tracker-token-123")),
        "the token is never recorded"
    );
    app.running.stop().await;
}

async fn gitlab_issues_carry_the_due_date_and_the_encoded_project(url: &str) {
    let gitlab = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/projects/shop%2Fplatform%2Fapp/issues"))
        .and(header("private-token", "tracker-token-123"))
        .and(body_partial_json(
            serde_json::json!({"labels": "postmortem,sre", "due_date": "2021-03-23"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "id": 9001, "iid": 7, "project_id": 3,
            "web_url": "https://gitlab.example/shop/platform/app/-/issues/7",
            "title": "[INC-1/A1] Test builds first", "state": "opened",
        })))
        .expect(1)
        .mount(&gitlab)
        .await;
    Mock::given(method("POST"))
        .and(path("/projects/shop%2Fplatform%2Fapp/issues"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "id": 9002, "iid": 8, "project_id": 3,
            "web_url": "https://gitlab.example/shop/platform/app/-/issues/8",
            "title": "[INC-1/A2] Automate deploys", "state": "opened",
        })))
        .mount(&gitlab)
        .await;
    let app = common::spawn_app(
        url,
        settings(Tracker::GitLab, gitlab.uri(), "shop/platform/app"),
        fast_retries(),
    )
    .await;
    say(&app.warroom, "g1", "/incident open title:\"App down\"").await;
    say(
        &app.warroom,
        "g2",
        "/incident action text:\"Test builds first\" due:2021-03-23",
    )
    .await;
    say(
        &app.warroom,
        "g3",
        "/incident action text:\"Automate deploys\"",
    )
    .await;
    let mut links = linked(&app.warroom).await;
    links.sort();
    assert_eq!(links[0].1, "#7");
    assert_eq!(
        links[1].2,
        "https://gitlab.example/shop/platform/app/-/issues/8"
    );
    app.running.stop().await;
}

on_both_backends!(
    github_issues_are_filed_once_per_action_and_linked,
    gitlab_issues_carry_the_due_date_and_the_encoded_project
);
