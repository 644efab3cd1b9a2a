//! The page, pagers and retry policy the notifier's tests send, and the fake receiver's
//! answers; shared by the tests of every part of the notifier.

use super::{Page, PageAction, Pager, PagerKind, RetryPolicy, Secret};
use chrono::{TimeZone, Utc};
use serde_json::json;
use std::time::Duration;
use wiremock::{MockServer, ResponseTemplate};

pub(super) const ROUTING_KEY: &str = "R0UTINGKEYr0utingkey0123456789ab";
pub(super) const WEBHOOK_SECRET: &str = "whsec-very-secret-value";

pub(super) fn page(action: PageAction) -> Page {
    Page {
        dedup_key: "warroom-INC-7-step1-networking".into(),
        action,
        incident: "INC-7".into(),
        title: "Application outage".into(),
        summary: "INC-7 sev1 Application outage — paging Networking (step 1)".into(),
        severity: "critical".into(),
        target: "!Networking".into(),
        message: Some("db primary down".into()),
        at: Utc.with_ymd_and_hms(2024, 5, 1, 10, 30, 0).unwrap(),
    }
}

pub(super) fn pagerduty(url: String) -> Pager {
    Pager {
        name: "pd-networking".into(),
        url,
        kind: PagerKind::PagerDuty {
            routing_key: Secret::new(ROUTING_KEY),
        },
        timeout: Duration::from_secs(5),
    }
}

pub(super) fn webhook(url: String, secret: Option<&str>) -> Pager {
    Pager {
        name: "hook".into(),
        url,
        kind: PagerKind::Webhook {
            secret: secret.map(Secret::new),
        },
        timeout: Duration::from_secs(5),
    }
}

pub(super) fn fast_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_millis(50),
        ..Default::default()
    }
}

pub(super) fn accepted() -> ResponseTemplate {
    ResponseTemplate::new(202).set_body_json(json!({
        "status": "success",
        "message": "Event processed",
        "dedup_key": "warroom-INC-7-step1-networking",
    }))
}

pub(super) async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.expect("recording is on")
}
