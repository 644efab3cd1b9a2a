//! PagerDuty Events API v2: the event sent for a page, its summary cut to PagerDuty's limit
//! and its severity kept to PagerDuty's four.

use super::{rfc3339, Page, PageAction, Secret};
use serde_json::{json, Value};

/// PagerDuty refuses a `payload.summary` longer than this.
const PAGERDUTY_SUMMARY_MAX: usize = 1024;

/// The event for `page`: a trigger with its payload, or an acknowledge or resolve that only
/// names the alert.
pub(super) fn event(routing_key: &Secret, page: &Page) -> Value {
    if page.action != PageAction::Trigger {
        // Acknowledge and resolve only name the alert; PagerDuty ignores a payload.
        return json!({
            "routing_key": routing_key.expose(),
            "event_action": page.action.as_str(),
            "dedup_key": page.dedup_key,
        });
    }
    json!({
        "routing_key": routing_key.expose(),
        "event_action": page.action.as_str(),
        "dedup_key": page.dedup_key,
        "payload": {
            "summary": truncate_bytes(&page.summary, PAGERDUTY_SUMMARY_MAX),
            "source": "warroom",
            "severity": pagerduty_severity(&page.severity),
            "timestamp": rfc3339(page.at),
            "component": page.incident,
            "group": page.target,
            "class": "incident page",
            "custom_details": {
                "incident": page.incident,
                "title": page.title,
                "target": page.target,
                "message": page.message,
            },
        },
    })
}

/// PagerDuty rejects any severity outside its four with a 400, which would turn a typo into a
/// missed page; an unknown one is sent as `critical` because over-paging beats not paging.
fn pagerduty_severity(severity: &str) -> &'static str {
    match severity.trim().to_ascii_lowercase().as_str() {
        "critical" => "critical",
        "error" => "error",
        "warning" => "warning",
        "info" => "info",
        other => {
            tracing::warn!(
                severity = other,
                "unknown PagerDuty severity, sending critical"
            );
            "critical"
        }
    }
}

/// At most `max` bytes (so also at most `max` characters), cut on a char boundary and ending
/// in `…` when cut.
fn truncate_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let ellipsis = '…';
    let mut end = max.saturating_sub(ellipsis.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = text[..end].to_string();
    out.push(ellipsis);
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{accepted, page, pagerduty, requests, ROUTING_KEY};
    use super::super::{body_for, Attempt, Notifier, PagerKind};
    use super::*;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer};

    #[tokio::test]
    async fn pagerduty_trigger_body_is_events_v2_and_202_is_delivered() {
        let server = MockServer::start().await;
        let expected = json!({
            "routing_key": ROUTING_KEY,
            "event_action": "trigger",
            "dedup_key": "warroom-INC-7-step1-networking",
            "payload": {
                "summary": "INC-7 sev1 Application outage — paging Networking (step 1)",
                "source": "warroom",
                "severity": "critical",
                "timestamp": "2024-05-01T10:30:00.000Z",
                "component": "INC-7",
                "group": "!Networking",
                "class": "incident page",
                "custom_details": {
                    "incident": "INC-7",
                    "title": "Application outage",
                    "target": "!Networking",
                    "message": "db primary down",
                },
            },
        });
        Mock::given(method("POST"))
            .and(path("/v2/enqueue"))
            .and(header("content-type", "application/json"))
            .and(body_json(&expected))
            .respond_with(accepted())
            .expect(1)
            .mount(&server)
            .await;
        let pager = pagerduty(format!("{}/v2/enqueue", server.uri()));
        let got = Notifier::new()
            .attempt(&pager, &page(PageAction::Trigger))
            .await;
        assert_eq!(got, Attempt::Delivered { status: 202 });
        let reqs = requests(&server).await;
        let ua = reqs[0].headers.get("user-agent").unwrap().to_str().unwrap();
        assert!(ua.starts_with("warroom/"), "user agent {ua}");
    }

    #[tokio::test]
    async fn pagerduty_resolve_sends_only_key_action_and_dedup_key() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(body_json(json!({
                "routing_key": ROUTING_KEY,
                "event_action": "resolve",
                "dedup_key": "warroom-INC-7-step1-networking",
            })))
            .respond_with(accepted())
            .expect(1)
            .mount(&server)
            .await;
        let got = Notifier::new()
            .attempt(&pagerduty(server.uri()), &page(PageAction::Resolve))
            .await;
        assert_eq!(got, Attempt::Delivered { status: 202 });
    }

    #[test]
    fn pagerduty_summary_is_cut_to_1024_bytes_on_a_char_boundary() {
        let mut p = page(PageAction::Trigger);
        p.summary = "é".repeat(2000);
        p.severity = "SEV-bogus".into();
        let body = body_for(
            &PagerKind::PagerDuty {
                routing_key: Secret::new(ROUTING_KEY),
            },
            &p,
        );
        let summary = body["payload"]["summary"].as_str().unwrap();
        assert!(summary.len() <= 1024, "{} bytes", summary.len());
        assert!(summary.len() > 1000);
        assert!(summary.ends_with('…'));
        assert_eq!(body["payload"]["severity"], "critical");
    }
}
