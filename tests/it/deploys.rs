//! Deploys: recorded from transcripts, chat and the pipelines' HTTP door; "when was the last
//! deploy?" across services and environments; the deploys shortly before an incident in its
//! timeline and post-mortem; the guard that flags a QA build in production.

use crate::common;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use warroom::app::replay::replay;
use warroom::app::{Notice, Warroom};
use warroom::config::Settings;
use warroom::domain::postmortem::render_markdown;
use warroom::domain::types::IncidentNumber;
use warroom::store::Ledger;

const DEPLOY_TOKEN: &str = "pipeline-token-for-tests";

async fn app(url: &str) -> Warroom {
    let mut settings = Settings::example().unwrap();
    settings.deploys.token_sha256 = Some(Sha256::digest(DEPLOY_TOKEN.as_bytes()).into());
    Warroom::start(Ledger::open(url).await.unwrap(), settings)
        .await
        .unwrap()
}

fn deploy(at: &str, body: Value) -> String {
    json!({"at": at, "deploy": body}).to_string()
}

fn say(at: &str, from: &str, text: &str) -> String {
    json!({"at": at, "from": from, "text": text}).to_string()
}

/// The types of a stream's events, in order.
async fn event_types(app: &Warroom, stream: &str) -> Vec<String> {
    let events = app.ledger().read_stream(stream).await.unwrap();
    events.into_iter().map(|e| e.event_type).collect()
}

/// Replays lines and returns each line's reply.
async fn run(app: &Warroom, lines: &[String], identity: &str) -> Vec<String> {
    let mut replies = Vec::new();
    replay(app, &lines.join("\n"), identity, |_, outcome| {
        replies.push(outcome.reply.clone().unwrap_or_default())
    })
    .await
    .unwrap();
    replies
}

fn history() -> Vec<String> {
    vec![
        deploy(
            "2021-03-01T10:00:00Z",
            json!({"service": "app", "environment": "prod", "version": "1.9.0", "by": "ghammer", "migrations": true}),
        ),
        deploy(
            "2021-03-08T11:00:00Z",
            json!({"service": "order-processor", "environment": "prod", "version": "2.0.0", "by": "ghammer"}),
        ),
        deploy(
            "2021-03-08T14:00:00Z",
            json!({"service": "app", "environment": "qa", "version": "2.1.0-qa.1", "by": "gtree"}),
        ),
        // The seed's root cause: the QA build deployed to production the evening before.
        deploy(
            "2021-03-08T18:45:00Z",
            json!({"service": "app", "environment": "prod", "version": "2.1.0-qa.1", "by": "ghammer",
                   "migrations": false, "commit": "4f2a9c1",
                   "started_at": "2021-03-08T18:30:00Z", "finished_at": "2021-03-08T18:40:00Z"}),
        ),
    ]
}

#[tokio::test]
async fn the_last_deploy_is_one_command_for_each_service_and_environment() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    run(&app, &history(), "history").await;
    let replies = run(
        &app,
        &[
            say(
                "2021-03-09T10:05:00Z",
                "gtree",
                "/deploys last service:app env:prod",
            ),
            say(
                "2021-03-09T10:05:10Z",
                "gtree",
                "/deploys last service:app env:qa count:1",
            ),
            say(
                "2021-03-09T10:05:20Z",
                "gtree",
                "/deploys last env:prod count:2",
            ),
            say(
                "2021-03-09T10:05:30Z",
                "gtree",
                "/deploys last service:billing",
            ),
            say("2021-03-09T10:05:40Z", "gtree", "/deploys last count:many"),
        ],
        "questions",
    )
    .await;
    let app_prod: Vec<&str> = replies[0].lines().collect();
    assert_eq!(app_prod.len(), 2, "{}", replies[0]);
    assert!(app_prod[0].starts_with("2021-03-08 18:40 UTC — app 2.1.0-qa.1 to prod by ghammer: succeeded, no migrations, commit 4f2a9c1"), "{}", app_prod[0]);
    assert!(
        app_prod[0].contains("⚠ test build in production"),
        "{}",
        app_prod[0]
    );
    assert!(
        app_prod[1].starts_with(
            "2021-03-01 10:00 UTC — app 1.9.0 to prod by ghammer: succeeded, with migrations"
        ),
        "{}",
        app_prod[1]
    );
    assert!(
        replies[1].starts_with("2021-03-08 14:00 UTC — app 2.1.0-qa.1 to qa by gtree"),
        "{}",
        replies[1]
    );
    assert!(!replies[1].contains('⚠'), "a QA build in QA is fine");
    let prod: Vec<&str> = replies[2].lines().collect();
    assert_eq!(prod.len(), 2);
    assert!(
        prod[0].contains("app 2.1.0-qa.1 to prod")
            && prod[1].contains("order-processor 2.0.0 to prod"),
        "{prod:?}"
    );
    assert_eq!(replies[3], "no deploys recorded");
    assert!(
        replies[4].contains("count:many is not a number from 1 to 50"),
        "{}",
        replies[4]
    );

    // The same question from the command line.
    let found = app
        .deploys(&warroom::app::deploys::DeployQuery {
            service: Some("app".into()),
            environment: Some("prod".into()),
            last: 1,
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].deploy.version, "2.1.0-qa.1");
    assert_eq!(found[0].deploy.migrations, Some(false));

    // The command line reads the deploy streams alone, with no projection, and finds the
    // same deploys, flags and order.
    let reader = warroom::app::reading::Reader::new(app.ledger().clone(), app.settings().clone());
    for (service, environment) in [
        (Some("app"), Some("prod")),
        (None, None),
        (None, Some("qa")),
    ] {
        let query = warroom::app::deploys::DeployQuery {
            service: service.map(Into::into),
            environment: environment.map(Into::into),
            last: 50,
        };
        let projected = app.deploys(&query).await.unwrap();
        assert!(!projected.is_empty(), "{query:?}");
        assert_eq!(
            reader.deploys(&query).await.unwrap(),
            projected,
            "{query:?}"
        );
    }
}

#[tokio::test]
async fn deploys_before_an_incident_are_in_its_timeline_and_post_mortem() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let mut lines = history();
    // Too old for the 24-hour window.
    lines.insert(
        0,
        deploy(
            "2021-03-07T09:00:00Z",
            json!({"service": "app", "environment": "prod", "version": "1.9.1", "by": "ghammer"}),
        ),
    );
    lines.extend(warroom::cli::DEMO_OUTAGE.lines().map(String::from));
    run(&app, &lines, "week").await;
    let md = render_markdown(&app.postmortem(IncidentNumber(1)).await.unwrap());
    let timeline = md
        .split("## Incident Timeline")
        .nth(1)
        .unwrap()
        .split("## Impact")
        .next()
        .unwrap();
    let first = timeline.lines().find(|l| l.starts_with("- ")).unwrap();
    let (first, _reference) = first.rsplit_once(" [").unwrap();
    assert_eq!(
        first,
        "- 18:40 — @warroom deploy on 2021-03-08: app 2.1.0-qa.1 to prod by ghammer: succeeded, no migrations, commit 4f2a9c1 — 14 hours 35 minutes before this incident opened (⚠ test build in production: app to prod: version 2.1.0-qa.1 matches /-qa\\|-rc\\|-snapshot/) (⚠ outside the change window: app to prod: made Mon 18:40, outside the change window)"
    );
    // And again under Contributing Factors, as a change before the incident.
    let factors = md.split("## Contributing Factors").nth(1).unwrap();
    assert!(
        factors.contains(
            "Changes before the incident:\n\n- 18:40 — deploy on 2021-03-08: app 2.1.0-qa.1"
        ),
        "{factors}"
    );
    // The alert names service=app: the order processor's deploy is not a suspect, nor
    // deploys to QA, nor the one two days before.
    assert!(!timeline.contains("order-processor"), "{timeline}");
    assert!(!timeline.contains("to qa by"), "{timeline}");
    assert!(!timeline.contains("1.9.1"), "{timeline}");
    // The incident still starts when it started.
    assert!(md.contains("1 hour 15 minutes"), "{md}");
}

#[tokio::test]
async fn a_qa_build_in_production_is_flagged_with_an_event_and_a_warning() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    app.send_notices_to(tx);
    let replies = run(
        &app,
        &[say(
            "2021-03-09T14:00:00Z",
            "ghammer",
            "/deploy record service:app env:prod version:2.2.0-rc.1 migrations:no",
        )],
        "chat",
    )
    .await;
    assert!(
        replies[0].starts_with(
            "recorded deploy: app 2.2.0-rc.1 to prod by ghammer: succeeded, no migrations"
        ),
        "{}",
        replies[0]
    );
    assert!(
        replies[0].contains("⚠ flagged by 'test build in production'"),
        "{}",
        replies[0]
    );
    let events = app.ledger().read_stream("deploys-app").await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["DeployRecorded", "DeployFlagged"]);
    assert_eq!(events[0].actor, "ghammer");
    // The example's rotation hands over as the transcript starts; that is not a warning.
    let mut warnings =
        std::iter::from_fn(|| rx.try_recv().ok()).filter(|n| !matches!(n, Notice::HandOff(_)));
    match warnings.next() {
        Some(Notice::DeployFlagged { text }) => {
            assert!(text.contains("app 2.2.0-rc.1 to prod"), "{text}")
        }
        other => panic!("expected a warning, got {other:?}"),
    }
    // A release build in a change window on a Tuesday is not flagged.
    let replies = run(
        &app,
        &[say(
            "2021-03-09T14:30:00Z",
            "ghammer",
            "/deploy record service:app env:prod version:2.2.0",
        )],
        "chat-2",
    )
    .await;
    assert!(!replies[0].contains('⚠'), "{}", replies[0]);
    assert!(std::iter::from_fn(|| rx.try_recv().ok()).all(|n| matches!(n, Notice::HandOff(_))));
    // A mistake names the field and gives the usage.
    let replies = run(
        &app,
        &[say(
            "2021-03-09T14:40:00Z",
            "ghammer",
            "/deploy record service:app env:prod version:2.2.0 migrations:maybe",
        )],
        "chat-3",
    )
    .await;
    assert!(
        replies[0].starts_with("migrations: 'maybe' is neither yes nor no. Usage: /deploy record"),
        "{}",
        replies[0]
    );
}

/// Tuesday 2021-03-09, 10:00 UTC (the example's zone): inside the example's change window
/// (Monday to Thursday, 09:00–17:00), so only the rules under test flag a deploy.
const IN_THE_CHANGE_WINDOW: &str = "2021-03-09T10:00:00Z";

fn time(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// `warroom serve` on the app with its clock started at `now`, and its deploys door.
async fn serve(app: &Arc<Warroom>, now: &str) -> (warroom::serve::Running, String) {
    let served = common::serve_app(
        app.clone(),
        warroom::serve::Options {
            clock: warroom::clock::Clock::starting_at(time(now)),
            ..Default::default()
        },
    )
    .await;
    (served.running, format!("{}/v1/deploys", served.base))
}

#[tokio::test]
async fn pipelines_post_deploys_and_bad_bodies_get_400_naming_the_field() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = Arc::new(app(&url).await);
    let (running, endpoint) = serve(&app, IN_THE_CHANGE_WINDOW).await;
    let client = reqwest::Client::new();
    let post = |body: Value, token: &'static str| {
        client.post(&endpoint).bearer_auth(token).json(&body).send()
    };
    let good = json!({"service": "app", "environment": "prod", "version": "2.0.0", "by": "ci",
                      "id": "pipeline-981", "migrations": false, "status": "succeeded"});
    let first = post(good.clone(), DEPLOY_TOKEN).await.unwrap();
    assert_eq!(first.status(), 201);
    // The pipeline retried: recorded once.
    let again = post(good.clone(), DEPLOY_TOKEN).await.unwrap();
    assert_eq!(again.status(), 200);
    let recorded = app.ledger().read_stream("deploys-app").await.unwrap();
    assert_eq!(recorded.len(), 1);
    // A report without times happened when the server received it, by the server's clock.
    let received = recorded[0].occurred_at - time(IN_THE_CHANGE_WINDOW);
    assert!(
        (chrono::Duration::zero()..chrono::Duration::minutes(1)).contains(&received),
        "recorded at {}",
        recorded[0].occurred_at
    );

    assert_eq!(post(good, "wrong-token").await.unwrap().status(), 401);
    for (body, field) in [
        (
            json!({"environment": "prod", "version": "1", "by": "ci"}),
            "service",
        ),
        (
            json!({"service": "app", "environment": "prod", "version": "1", "by": "ci", "status": "done"}),
            "status",
        ),
        (
            json!({"service": "app", "environment": "prod", "version": "1", "by": "ci", "migrations": "no"}),
            "migrations",
        ),
        (
            json!({"service": "app", "environment": "prod", "version": "1", "by": "ci", "finished_at": "soon"}),
            "finished_at",
        ),
    ] {
        let response = post(body, DEPLOY_TOKEN).await.unwrap();
        assert_eq!(response.status(), 400);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["field"], field, "{answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field}: ")),
            "{answer}"
        );
    }
    let not_json = client
        .post(&endpoint)
        .bearer_auth(DEPLOY_TOKEN)
        .body("service=app")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(
        app.ledger().read_stream("deploys-app").await.unwrap().len(),
        1
    );
    running.stop().await;
}

#[tokio::test]
async fn a_bad_deploy_line_in_a_transcript_names_the_line_and_field() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = app(&url).await;
    let text = [
        say("2021-03-09T09:00:00Z", "rpark", "morning"),
        deploy(
            "2021-03-09T09:01:00Z",
            json!({"service": "app", "environment": "prod", "by": "ci"}),
        ),
    ]
    .join("\n");
    let e = replay(&app, &text, "bad", |_, _| {}).await.unwrap_err();
    assert_eq!(e.to_string(), "line 2: deploy.version: is missing");
    assert_eq!(
        app.ledger().head().await.unwrap(),
        0,
        "nothing was replayed"
    );
}

#[tokio::test]
async fn a_pipeline_reports_started_then_succeeded_and_it_is_one_deploy_flagged_once() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = Arc::new(app(&url).await);
    let (tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
    app.send_notices_to(tx);
    let (running, endpoint) = serve(&app, IN_THE_CHANGE_WINDOW).await;
    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(&endpoint)
            .bearer_auth(DEPLOY_TOKEN)
            .json(&body)
            .send()
    };
    let started = json!({"service": "app", "environment": "prod", "version": "2.1.0-qa.1",
                         "by": "ci", "id": "run-77", "status": "started", "commit": "4f2a9c1",
                         "migrations": false, "started_at": "2021-03-09T19:00:00Z"});
    let response = post(started).await.unwrap();
    assert_eq!(response.status(), 201);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["reply"].as_str().unwrap().contains("flagged"),
        "{answer}"
    );
    // The same run, finished: only what changed.
    let succeeded = json!({"service": "app", "environment": "prod", "version": "2.1.0-qa.1",
                           "by": "ci", "id": "run-77", "status": "succeeded",
                           "finished_at": "2021-03-09T19:04:00Z"});
    let response = post(succeeded.clone()).await.unwrap();
    assert_eq!(response.status(), 201);
    let answer: Value = response.json().await.unwrap();
    assert!(
        !answer["reply"].as_str().unwrap().contains("flagged"),
        "{answer}"
    );
    // The pipeline retried its last report: nothing new.
    assert_eq!(post(succeeded).await.unwrap().status(), 200);

    let found = app
        .deploys(&warroom::app::deploys::DeployQuery {
            service: Some("app".into()),
            environment: Some("prod".into()),
            last: 5,
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    let deploy = &found[0];
    assert_eq!(deploy.deploy.status.as_str(), "succeeded");
    assert_eq!(deploy.deploy.commit.as_deref(), Some("4f2a9c1"));
    assert_eq!(deploy.deploy.migrations, Some(false));
    assert_eq!(deploy.at.to_rfc3339(), "2021-03-09T19:04:00+00:00");
    // A QA build, at 19:00 on a Tuesday: both rules flag the first report, none the second.
    assert_eq!(deploy.flags.len(), 2, "{:?}", deploy.flags);
    // Both reports and the flags are in the ledger; the warning went out once.
    assert_eq!(
        event_types(&app, "deploys-app").await,
        [
            "DeployRecorded",
            "DeployFlagged",
            "DeployFlagged",
            "DeployRecorded"
        ]
    );
    let mut warnings = 0;
    while let Ok(notice) = notices.try_recv() {
        if matches!(notice, Notice::DeployFlagged { .. }) {
            warnings += 1;
        }
    }
    assert_eq!(warnings, 1);
    running.stop().await;
}

#[tokio::test]
async fn a_deploy_reported_without_times_is_judged_by_when_it_arrives() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = Arc::new(app(&url).await);
    // Saturday 2021-03-13, 03:00 UTC: outside the example's change window.
    let (running, endpoint) = serve(&app, "2021-03-13T03:00:00Z").await;
    let response = reqwest::Client::new()
        .post(&endpoint)
        .bearer_auth(DEPLOY_TOKEN)
        .json(&json!({"service": "app", "environment": "prod", "version": "2.0.1", "by": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let answer: Value = response.json().await.unwrap();
    let reply = answer["reply"].as_str().unwrap();
    assert!(
        reply.contains("flagged by 'outside the change window'") && reply.contains("made Sat 03:0"),
        "{reply}"
    );
    assert_eq!(
        event_types(&app, "deploys-app").await,
        ["DeployRecorded", "DeployFlagged"]
    );
    running.stop().await;
}
