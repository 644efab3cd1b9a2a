//! Signed JSON webhooks: the body sent for a page, the idempotency key a receiver drops
//! repeats by, and the HMAC signature over exactly the bytes sent.

use super::{rfc3339, Page, Secret};
use reqwest::RequestBuilder;
use serde_json::{json, Value};

/// Header carrying a webhook's HMAC, so the receiver can tell the page came from us.
pub const SIGNATURE_HEADER: &str = "X-Warroom-Signature";
/// Header carrying `<dedup_key>-<action>`, so a webhook receiver can drop repeats.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// The body for `page` (version 1 of the webhook format).
pub(super) fn body(page: &Page) -> Value {
    json!({
        "version": 1,
        "dedup_key": page.dedup_key,
        "action": page.action.as_str(),
        "incident": page.incident,
        "title": page.title,
        "summary": page.summary,
        "severity": page.severity,
        "target": page.target,
        "message": page.message,
        "at": rfc3339(page.at),
    })
}

/// `request` with the idempotency key and, when there is a secret, the signature of `body`.
pub(super) fn with_headers(
    mut request: RequestBuilder,
    page: &Page,
    secret: Option<&Secret>,
    body: &[u8],
) -> RequestBuilder {
    request = request.header(
        IDEMPOTENCY_HEADER,
        format!("{}-{}", page.dedup_key, page.action.as_str()),
    );
    if let Some(secret) = secret {
        request = request.header(SIGNATURE_HEADER, secret.sign(body));
    }
    request
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{page, requests, webhook, WEBHOOK_SECRET};
    use super::super::{Attempt, Notifier, PageAction};
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn webhook_is_signed_over_the_exact_body_bytes() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/hooks/page"))
            .and(header("content-type", "application/json"))
            .and(header(
                "idempotency-key",
                "warroom-INC-7-step1-networking-trigger",
            ))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;
        let pager = webhook(format!("{}/hooks/page", server.uri()), Some(WEBHOOK_SECRET));
        let got = Notifier::new()
            .attempt(&pager, &page(PageAction::Trigger))
            .await;
        assert_eq!(got, Attempt::Delivered { status: 200 });

        let req = &requests(&server).await[0];
        let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
        mac.update(&req.body);
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let got_sig = req.headers.get("x-warroom-signature").unwrap();
        assert_eq!(got_sig.to_str().unwrap(), want);

        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            json!({
                "version": 1,
                "dedup_key": "warroom-INC-7-step1-networking",
                "action": "trigger",
                "incident": "INC-7",
                "title": "Application outage",
                "summary": "INC-7 sev1 Application outage — paging Networking (step 1)",
                "severity": "critical",
                "target": "!Networking",
                "message": "db primary down",
                "at": "2024-05-01T10:30:00.000Z",
            })
        );
        assert!(!String::from_utf8_lossy(&req.body).contains(WEBHOOK_SECRET));
    }

    #[tokio::test]
    async fn unsigned_webhook_sends_no_signature_header() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        let got = Notifier::new()
            .attempt(&webhook(server.uri(), None), &page(PageAction::Acknowledge))
            .await;
        assert_eq!(got, Attempt::Delivered { status: 204 });
        let req = &requests(&server).await[0];
        assert!(req.headers.get("x-warroom-signature").is_none());
        assert_eq!(
            req.headers.get("idempotency-key").unwrap(),
            "warroom-INC-7-step1-networking-acknowledge"
        );
    }

    #[test]
    fn signature_matches_a_known_hmac_sha256_vector() {
        // RFC 4231 test case 2.
        let sig = Secret::new("Jefe").sign(b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
