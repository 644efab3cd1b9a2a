//! The reacher against fake providers (wiremock): what goes on the wire to Twilio and ntfy,
//! and how their answers are classified.

use super::*;
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "twilio-auth-token-very-secret";
pub(super) const NTFY_TOKEN: &str = "tk_ntfytokenverysecret";
pub(super) const ACK: &str = "https://warroom.example/ack/abc";

pub(super) fn notice() -> Notice {
    Notice {
        incident: "INC-7".into(),
        title: "Database down".into(),
        severity: "sev1".into(),
        summary: "INC-7 sev1 Database down: you are paged (step 1 of 'all-points-of-contact')"
            .into(),
        ack_url: Some(ACK.into()),
        voice_ack_url: Some("https://warroom.example/twilio/voice/abc".into()),
    }
}

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn twilio(api_url: String) -> Providers {
    Providers {
        twilio: Some(Twilio {
            api_url,
            account_sid: SID.into(),
            auth_token: Secret::new(AUTH_TOKEN),
            from: "+15005550006".into(),
            status_callback: Some("https://warroom.example/twilio/status".into()),
            timeout: Duration::from_secs(5),
        }),
        ..Providers::default()
    }
}

pub(super) fn reacher(providers: Providers) -> Reacher {
    Reacher::new(client(), providers).unwrap()
}

/// The form fields of a request, in order.
fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn basic_auth() -> String {
    use base64::Engine as _;
    let pair = format!("{SID}:{AUTH_TOKEN}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

pub(super) async fn only_request(server: &MockServer) -> Request {
    let mut requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests.remove(0)
}

#[tokio::test]
async fn sms_posts_the_form_to_the_messages_resource_and_returns_the_sid() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sid": "SM0123456789abcdef0123456789abcdef",
            "status": "queued",
            "to": "+14155550100",
        })))
        .expect(1)
        .mount(&server)
        .await;
    let sent = reacher(twilio(server.uri()))
        .send(&Address::Sms("+14155550100".into()), &notice())
        .await;
    assert_eq!(
        sent,
        Sent {
            attempt: Attempt::Delivered { status: 201 },
            provider_ref: Some("SM0123456789abcdef0123456789abcdef".into()),
        }
    );
    let request = only_request(&server).await;
    assert_eq!(
        request.headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    let fields = form(&request);
    assert_eq!(field(&fields, "To"), Some("+14155550100"));
    assert_eq!(field(&fields, "From"), Some("+15005550006"));
    assert_eq!(
        field(&fields, "StatusCallback"),
        Some("https://warroom.example/twilio/status")
    );
    let body = field(&fields, "Body").unwrap();
    assert_eq!(body, format!("{} Ack: {ACK}", notice().summary));
    assert!(field(&fields, "Twiml").is_none());
}

#[tokio::test]
async fn a_call_posts_the_twiml_to_the_calls_resource_and_returns_the_sid() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Calls.json")))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sid": "CA0123456789abcdef0123456789abcdef",
            "status": "queued",
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut providers = twilio(format!("{}/", server.uri()));
    if let Some(account) = providers.twilio.as_mut() {
        account.status_callback = None;
    }
    let sent = reacher(providers)
        .send(&Address::Voice("+14155550100".into()), &notice())
        .await;
    assert_eq!(sent.attempt, Attempt::Delivered { status: 201 });
    assert_eq!(
        sent.provider_ref.as_deref(),
        Some("CA0123456789abcdef0123456789abcdef")
    );
    let fields = form(&only_request(&server).await);
    assert_eq!(field(&fields, "To"), Some("+14155550100"));
    assert_eq!(field(&fields, "From"), Some("+15005550006"));
    assert_eq!(
        field(&fields, "Twiml"),
        Some(twilio::voice_twiml(&notice()).as_str())
    );
    assert!(field(&fields, "StatusCallback").is_none());
    assert!(field(&fields, "Body").is_none());
}

#[tokio::test]
async fn a_twilio_error_is_refused_with_its_code_and_message_and_never_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21211,
            "message": format!("The 'To' number +1415 is not a valid phone number ({AUTH_TOKEN})"),
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400,
        })))
        .mount(&server)
        .await;
    let sent = reacher(twilio(server.uri()))
        .send(&Address::Sms("+14155550100".into()), &notice())
        .await;
    assert_eq!(sent.provider_ref, None);
    let Attempt::Refused { status, error } = sent.attempt else {
        panic!("expected refused, got {:?}", sent.attempt);
    };
    assert_eq!(status, 400);
    assert!(error.contains("21211"), "{error}");
    assert!(error.contains("is not a valid phone number"), "{error}");
    assert!(!error.contains(AUTH_TOKEN), "{error}");
    assert!(error.contains("[redacted]"), "{error}");
}

#[tokio::test]
async fn unavailable_with_retry_after_is_retryable_after_that_long() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "7"))
        .mount(&server)
        .await;
    let sent = reacher(twilio(server.uri()))
        .send(&Address::Voice("+14155550100".into()), &notice())
        .await;
    assert_eq!(
        sent.attempt,
        Attempt::Retryable {
            status: Some(503),
            error: "Twilio answered HTTP 503 Service Unavailable".into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
}

#[tokio::test]
async fn a_redirect_is_refused_not_followed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(307).insert_header("Location", "https://elsewhere.test/x?k=v"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sent = reacher(twilio(server.uri()))
        .send(&Address::Sms("+14155550100".into()), &notice())
        .await;
    let Attempt::Refused { status, error } = sent.attempt else {
        panic!("expected refused, got {:?}", sent.attempt);
    };
    assert_eq!(status, 307);
    assert!(
        error.contains("https://elsewhere.test/x not followed"),
        "{error}"
    );
}

#[tokio::test]
async fn a_channel_without_its_provider_is_refused_saying_what_to_configure() {
    let reacher = reacher(Providers::default());
    for (to, section) in [
        (
            Address::Email("alice@example.com".into()),
            "[notifications.email]",
        ),
        (
            Address::Sms("+14155550100".into()),
            "[notifications.twilio]",
        ),
        (
            Address::Voice("+14155550100".into()),
            "[notifications.twilio]",
        ),
        (Address::Push("alice".into()), "[notifications.ntfy]"),
    ] {
        let sent = reacher.send(&to, &notice()).await;
        assert_eq!(sent.provider_ref, None);
        match sent.attempt {
            Attempt::Refused { status: 0, error } => {
                assert!(error.starts_with(&format!("no {section} ")), "{error}");
                assert!(error.contains("configured; set "), "{error}");
            }
            other => panic!("{to:?}: expected refused, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_number_that_is_not_e164_is_refused_before_twilio_is_asked() {
    let server = MockServer::start().await;
    let sent = reacher(twilio(server.uri()))
        .send(&Address::Sms("415-555-0100".into()), &notice())
        .await;
    match sent.attempt {
        Attempt::Refused { status: 0, error } => assert!(error.contains("E.164"), "{error}"),
        other => panic!("expected refused, got {other:?}"),
    }
    assert!(server
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn twilio_not_answering_is_retryable_and_says_so() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sent = reacher(twilio(format!("http://127.0.0.1:{port}")))
        .send(&Address::Sms("+14155550100".into()), &notice())
        .await;
    match sent.attempt {
        Attempt::Retryable {
            status: None,
            error,
            ..
        } => {
            assert!(error.starts_with("Twilio: connect error"), "{error}");
            assert!(!error.contains(AUTH_TOKEN), "{error}");
        }
        other => panic!("expected retryable, got {other:?}"),
    }
}

#[test]
fn debug_never_shows_a_secret() {
    let mut providers = twilio("https://api.twilio.com".into());
    providers.ntfy = Some(Ntfy {
        url: "https://ntfy.sh".into(),
        token: Some(Secret::new(NTFY_TOKEN)),
        timeout: Duration::from_secs(5),
    });
    providers.email = Some(EmailServer {
        host: "smtp.example.com".into(),
        port: 587,
        tls: SmtpTls::StartTls,
        from: "warroom@example.com".into(),
        username: Some("warroom".into()),
        password: Some(Secret::new("smtp-password-secret")),
        ca_file: None,
        timeout: Duration::from_secs(5),
    });
    let reacher = Reacher::new(client(), providers.clone()).unwrap();
    for text in [format!("{providers:?}"), format!("{reacher:#?}")] {
        for secret in [AUTH_TOKEN, NTFY_TOKEN, "smtp-password-secret"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("[redacted]"), "{text}");
    }
}

#[test]
fn settings_that_cannot_work_fail_at_new_naming_the_setting() {
    let mut bad_sid = twilio("https://api.twilio.com".into());
    if let Some(account) = bad_sid.twilio.as_mut() {
        account.account_sid = "AC12/../../x".into();
    }
    let err = Reacher::new(client(), bad_sid).unwrap_err().to_string();
    assert!(err.contains("[notifications.twilio] account_sid"), "{err}");

    let bad_url = Providers {
        ntfy: Some(Ntfy {
            url: "ntfy.sh".into(),
            token: None,
            timeout: Duration::from_secs(5),
        }),
        ..Providers::default()
    };
    let err = format!("{:#}", Reacher::new(client(), bad_url).unwrap_err());
    assert!(err.contains("[notifications.ntfy] url"), "{err}");
}
