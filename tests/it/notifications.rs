//! Reaching people directly: an alert pages whoever the schedule has on call, their own
//! rules notify them by push, then SMS, then a call, each through its provider (wiremock
//! standing in for ntfy and Twilio with their real request and response shapes), and the
//! acknowledgement that comes back — an SMS reply, a link, ntfy's action, a keypress —
//! stops the rest, recorded as `Acknowledged` with the method.

use crate::common;
use std::time::Duration;
use warroom::clock::Clock;
use warroom::config::Settings;
use warroom::domain::event::{Event, Recorded};
use warroom::domain::types::IncidentNumber;
use warroom::secret::Secret;
use warroom::twilio::signature;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const AM_TOKEN: &str = "am-token-0123";
const TWILIO_TOKEN: &str = "twilio-auth-token-0123";
const LINK_SECRET: &str = "link-secret-0123456789";
const SID: &str = "AC0123456789abcdef0123456789abcdef";
const PUBLIC: &str = "https://warroom.example.test";

fn config(twilio: &str, ntfy: &str) -> String {
    format!(
        r#"
[alerts]
channel = "ops"
[alerts.sources.alertmanager]
auth = "bearer"
secret_env = "AM_TOKEN"

[[teams]]
name = "SRE"
[[contacts]]
handle = "rpark"
name = "Riley Park"
team = "SRE"
phone = "+15550100"
email = "rpark@example.test"
push_topic = "warroom-rpark"
notify = [
  {{ method = "sms", after_minutes = 2 }},
  {{ method = "push", after_minutes = 0 }},
  {{ method = "voice", after_minutes = 5 }},
]
[[contacts]]
handle = "ghammer"
name = "Glenn Hammer"
team = "SRE"
phone = "+15550111"
push_topic = "warroom-ghammer"
notify = [{{ method = "push" }}, {{ method = "sms", after_minutes = 1 }}]
handoff_notices = ["push"]

[[schedules]]
name = "sre"
timezone = "UTC"
[[schedules.layers]]
people = ["@rpark", "@ghammer"]
turn = "1d"
anchor = "2026-01-06T09:00"

[[escalations]]
name = "sre"
steps = [{{ targets = ["schedule:sre"], wait_minutes = 30 }}]

[[routes]]
name = "dns"
match = {{ alertname = "DNSNotAnswering" }}
title = "DNS server not answering requests"
severity = "sev2"
escalation = "sre"
auto_open = true

[notifications]
public_url = "{PUBLIC}"
secret_env = "LINKS"
[notifications.twilio]
account_sid = "{SID}"
secret_env = "TWILIO"
from = "+15550999"
api_url = "{twilio}"
[notifications.ntfy]
url = "{ntfy}"
"#
    )
}

fn settings(twilio: &str, ntfy: &str) -> Settings {
    Settings::from_toml(&config(twilio, ntfy), "notifications.toml", |k| match k {
        "AM_TOKEN" => Some(AM_TOKEN.into()),
        "TWILIO" => Some(TWILIO_TOKEN.into()),
        "LINKS" => Some(LINK_SECRET.into()),
        _ => None,
    })
    .unwrap()
}

fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().unwrap()
}

/// Twilio's answer to a created message or call.
fn twilio_created(sid: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(serde_json::json!({
        "sid": sid, "status": "queued", "account_sid": SID,
    }))
}

struct Providers {
    twilio: MockServer,
    ntfy: MockServer,
}

async fn providers() -> Providers {
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
        .respond_with(twilio_created("SM00000000000000000000000000000001"))
        .mount(&twilio)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Calls.json")))
        .respond_with(twilio_created("CA00000000000000000000000000000001"))
        .mount(&twilio)
        .await;
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "sPs71M8A2T", "time": 1, "event": "message", "topic": "warroom-rpark",
        })))
        .mount(&ntfy)
        .await;
    Providers { twilio, ntfy }
}

fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {form:?}"))
}

/// Waits until `server` has `n` requests, and returns them.
async fn requests(server: &MockServer, n: usize) -> Vec<Request> {
    for _ in 0..200 {
        let got = server.received_requests().await.unwrap_or_default();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let got = server.received_requests().await.unwrap_or_default();
    panic!("expected {n} requests, got {}: {got:#?}", got.len());
}

/// The incident's events, once `done` holds of them.
async fn incident_until(
    app: &common::TestApp,
    number: u64,
    done: impl Fn(&[Recorded]) -> bool,
) -> Vec<Recorded> {
    for _ in 0..200 {
        let records = app
            .warroom
            .incident_records(IncidentNumber(number))
            .await
            .unwrap();
        if done(&records) {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the incident never got there");
}

/// A Twilio webhook as Twilio sends it: form-encoded, signed over the URL it was given.
async fn twilio_post(
    app: &common::TestApp,
    path_and_query: &str,
    params: &[(&str, &str)],
) -> reqwest::Response {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let signed = signature(
        &Secret::new(TWILIO_TOKEN),
        &format!("{PUBLIC}{path_and_query}"),
        &owned,
    );
    reqwest::Client::new()
        .post(format!("{}{path_and_query}", app.base))
        .header("X-Twilio-Signature", signed)
        .form(&owned)
        .send()
        .await
        .unwrap()
}

async fn serve(url: &str, p: &Providers, now: &str) -> common::TestApp {
    serve_with(url, settings(&p.twilio.uri(), &p.ntfy.uri()), now).await
}

async fn serve_with(url: &str, settings: Settings, now: &str) -> common::TestApp {
    let options = warroom::serve::Options {
        clock: Clock::starting_at(at(now)),
        retry: warroom::notify::RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            ..Default::default()
        },
        ..Default::default()
    };
    common::spawn_app(url, settings, options).await
}

async fn fire_alert(app: &common::TestApp) {
    let body = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "warroom",
        "alerts": [{"status": "firing", "labels": {"alertname": "DNSNotAnswering"},
                    "annotations": {"summary": "ns1 does not answer"},
                    "startsAt": "2030-01-07T10:00:00Z", "fingerprint": "fp-dns"}]
    });
    let response = reqwest::Client::new()
        .post(format!("{}/v1/alerts/alertmanager", app.base))
        .bearer_auth(AM_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
}

fn notified(records: &[Recorded]) -> Vec<(String, String)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::NotificationRequested { person, method, .. } => {
                Some((person.clone(), method.clone()))
            }
            _ => None,
        })
        .collect()
}

async fn the_person_on_call_is_reached_by_each_rule_in_turn_until_an_sms_reply(url: &str) {
    let p = providers().await;
    // 2030-01-07 10:00 UTC: the rotation has rpark on call (ghammer takes over at 09:00 the
    // next day).
    let app = serve(url, &p, "2030-01-07T10:00:00Z").await;
    fire_alert(&app).await;
    // The page to rpark starts their rules: push at once, through ntfy, with the link.
    let pushed = requests(&p.ntfy, 1).await;
    let push: serde_json::Value = serde_json::from_slice(&pushed[0].body).unwrap();
    assert_eq!(push["topic"], "warroom-rpark", "{push:#}");
    let action = &push["actions"][0];
    assert_eq!(action["action"], "http");
    assert_eq!(action["method"], "POST");
    assert!(
        action["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{PUBLIC}/v1/ack/")),
        "{push:#}"
    );
    assert!(
        p.twilio.received_requests().await.unwrap().is_empty(),
        "no SMS before 2 minutes"
    );
    // One minute on: nothing new. Two minutes on: the SMS, to rpark's phone.
    let fired = app
        .warroom
        .fire_due_notifications(at("2030-01-07T10:01:00Z"))
        .await
        .unwrap();
    assert!(fired.is_empty(), "{fired:#?}");
    let fired = app
        .warroom
        .fire_due_notifications(at("2030-01-07T10:02:01Z"))
        .await
        .unwrap();
    assert_eq!(fired.len(), 1);
    let sms = requests(&p.twilio, 1).await;
    assert_eq!(
        sms[0].url.path(),
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    let sms = form(&sms[0]);
    assert_eq!(field(&sms, "To"), "+15550100");
    assert_eq!(field(&sms, "From"), "+15550999");
    assert!(field(&sms, "Body").contains("INC-1"), "{sms:?}");
    assert_eq!(
        field(&sms, "StatusCallback"),
        format!("{PUBLIC}/v1/twilio/status")
    );
    // A reply from someone else's phone, or a forged one, acknowledges nothing.
    let forged = reqwest::Client::new()
        .post(format!("{}/v1/twilio/sms", app.base))
        .header("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl")
        .form(&[("From", "+15550100"), ("Body", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let stranger = twilio_post(
        &app,
        "/v1/twilio/sms",
        &[("From", "+15550177"), ("Body", "1")],
    )
    .await;
    assert!(stranger
        .text()
        .await
        .unwrap()
        .contains("does not know this number"));
    // rpark replies 1: acknowledged, by SMS.
    let reply = twilio_post(
        &app,
        "/v1/twilio/sms",
        &[("From", "+15550100"), ("Body", "1"), ("MessageSid", "SM9")],
    )
    .await;
    assert_eq!(reply.status(), 200);
    assert!(reply.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/xml"));
    let twiml = reply.text().await.unwrap();
    assert!(twiml.contains("<Message>Acknowledged INC-1"), "{twiml}");
    // Five minutes on, the call is not made: the acknowledgement stopped the rules.
    let fired = app
        .warroom
        .fire_due_notifications(at("2030-01-07T10:05:01Z"))
        .await
        .unwrap();
    assert!(fired.is_empty(), "{fired:#?}");
    // Twilio's delivery status of the SMS is recorded against it.
    let status = twilio_post(
        &app,
        "/v1/twilio/status",
        &[
            ("MessageSid", "SM00000000000000000000000000000001"),
            ("MessageStatus", "delivered"),
        ],
    )
    .await;
    assert_eq!(status.status(), 204);
    let records = incident_until(&app, 1, |r| {
        r.iter()
            .any(|r| matches!(r.event, Event::NotificationStatus { .. }))
    })
    .await;
    assert_eq!(
        notified(&records),
        [
            ("rpark".to_string(), "push".to_string()),
            ("rpark".into(), "sms".into())
        ],
        "exactly the person on call, by each method in the rules' order"
    );
    let acks: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Acknowledged {
                by,
                via,
                notification,
            } => Some((by.clone(), via.clone(), notification.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(acks.len(), 1, "{acks:#?}");
    assert_eq!(acks[0].0, "rpark");
    assert_eq!(acks[0].1.as_deref(), Some("sms"));
    assert!(acks[0].2.as_deref().unwrap().ends_with("#1"), "{acks:#?}");
    let delivered = records.iter().filter(|r| {
        matches!(&r.event, Event::NotificationAttempted { method, provider_ref: Some(sid), .. }
            if method == "sms" && sid == "SM00000000000000000000000000000001")
    });
    assert_eq!(delivered.count(), 1);
    assert!(records.iter().any(|r| matches!(&r.event,
        Event::NotificationStatus { method, status, .. } if method == "sms" && status == "delivered")));
    // Nothing reached ghammer, who is not on call.
    for request in p.ntfy.received_requests().await.unwrap() {
        assert!(!String::from_utf8_lossy(&request.body).contains("ghammer"));
    }
    app.running.stop().await;
}

async fn a_link_asks_before_it_acknowledges_and_works_once(url: &str) {
    let p = providers().await;
    let app = serve(url, &p, "2030-01-07T10:00:00Z").await;
    fire_alert(&app).await;
    let pushed = requests(&p.ntfy, 1).await;
    let push: serde_json::Value = serde_json::from_slice(&pushed[0].body).unwrap();
    let link = push["actions"][0]["url"].as_str().unwrap().to_string();
    let local = link.replace(PUBLIC, &app.base);
    let client = reqwest::Client::new();
    // Opening the link (a mail scanner does) only asks.
    let page = client.get(&local).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Acknowledge INC-1"), "{html}");
    assert!(html.contains("<form method=\"post\">"), "{html}");
    let records = app
        .warroom
        .incident_records(IncidentNumber(1))
        .await
        .unwrap();
    assert!(!records
        .iter()
        .any(|r| matches!(r.event, Event::Acknowledged { .. })));
    // A changed character is refused.
    let mut tampered = local.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let refused = client.post(&tampered).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    // ntfy's Acknowledge action posts to the link: acknowledged, by push.
    let acked = client.post(&local).send().await.unwrap();
    assert_eq!(acked.status(), 200);
    assert!(acked.text().await.unwrap().contains("Acknowledged INC-1"));
    // Once only: the second press says who acknowledged, and records nothing.
    let again = client.post(&local).send().await.unwrap();
    assert_eq!(again.status(), 409);
    let said = again.text().await.unwrap();
    assert!(
        said.contains("already acknowledged by rpark from their push notification"),
        "{said}"
    );
    let records = app
        .warroom
        .incident_records(IncidentNumber(1))
        .await
        .unwrap();
    let acks: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Acknowledged { by, via, .. } => Some((by.as_str(), via.as_deref())),
            _ => None,
        })
        .collect();
    assert_eq!(acks, [("rpark", Some("push"))]);
    app.running.stop().await;
}

async fn a_keypress_on_the_call_acknowledges(url: &str) {
    let p = providers().await;
    let app = serve(url, &p, "2030-01-07T10:00:00Z").await;
    fire_alert(&app).await;
    requests(&p.ntfy, 1).await;
    app.warroom
        .fire_due_notifications(at("2030-01-07T10:05:01Z"))
        .await
        .unwrap();
    // The SMS and the call, both due by now.
    let sent = requests(&p.twilio, 2).await;
    let call = sent
        .iter()
        .find(|r| r.url.path().ends_with("/Calls.json"))
        .expect("a call was made");
    let call = form(call);
    assert_eq!(field(&call, "To"), "+15550100");
    let twiml = field(&call, "Twiml");
    assert!(twiml.contains("<Gather"), "{twiml}");
    let action = twiml
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the Gather posts somewhere")
        .replace("&amp;", "&");
    let path_and_query = action.strip_prefix(PUBLIC).expect("under the public URL");
    assert!(
        path_and_query.starts_with("/v1/twilio/voice?ack="),
        "{path_and_query}"
    );
    // Pressing 2 does nothing; pressing 1 acknowledges, by voice.
    let two = twilio_post(&app, path_and_query, &[("Digits", "2"), ("CallSid", "CA1")]).await;
    assert!(two.text().await.unwrap().contains("Not acknowledged"));
    let one = twilio_post(&app, path_and_query, &[("Digits", "1"), ("CallSid", "CA1")]).await;
    let said = one.text().await.unwrap();
    assert!(said.contains("<Say>Acknowledged INC-1"), "{said}");
    let records = app
        .warroom
        .incident_records(IncidentNumber(1))
        .await
        .unwrap();
    assert!(records.iter().any(|r| matches!(&r.event,
        Event::Acknowledged { by, via: Some(via), .. } if by == "rpark" && via == "voice")));
    app.running.stop().await;
}

async fn an_email_reaches_a_real_smtp_server_and_its_link_acknowledges(url: &str) {
    let Some(smtp) = crate::reach::smtp() else {
        eprintln!("skipped: no SMTP server; run .ci/smtp-server start DIR and eval what it prints");
        return;
    };
    let p = providers().await;
    let text = config(&p.twilio.uri(), &p.ntfy.uri()).replace(
        r#"  { method = "push", after_minutes = 0 },"#,
        r#"  { method = "push", after_minutes = 0 }, { method = "email", after_minutes = 0 },"#,
    ) + &format!(
        "[notifications.email]\nhost = \"{}\"\nport = {}\nfrom = \"warroom@example.test\"\nca_file = \"{}\"\n",
        smtp.host,
        smtp.port,
        smtp.ca.display()
    );
    assert!(text.contains("method = \"email\""), "{text}");
    let settings = Settings::from_toml(&text, "email.toml", |k| match k {
        "AM_TOKEN" => Some(AM_TOKEN.into()),
        "TWILIO" => Some(TWILIO_TOKEN.into()),
        "LINKS" => Some(LINK_SECRET.into()),
        _ => None,
    })
    .unwrap();
    let app = serve_with(url, settings, "2030-01-07T10:00:00Z").await;
    fire_alert(&app).await;
    // The email went out over STARTTLS and its Message-ID is recorded with the attempt.
    let records = incident_until(&app, 1, |r| {
        r.iter().any(|r| {
            matches!(&r.event,
            Event::NotificationAttempted { method, provider_ref: Some(_), .. } if method == "email")
        })
    })
    .await;
    let id = records
        .iter()
        .find_map(|r| match &r.event {
            Event::NotificationAttempted {
                method,
                provider_ref: Some(id),
                ..
            } if method == "email" => Some(id.clone()),
            _ => None,
        })
        .unwrap();
    let mut message = None;
    for _ in 0..100 {
        message = crate::reach::delivered(&smtp.maildir, &id);
        if message.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let message = message.expect("the email is in the Maildir");
    // Quoted-printable: soft line breaks and `=` spelled out.
    let body = message
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    assert!(body.contains("rpark@example.test"), "{body}");
    let link = body
        .split("Acknowledge: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the email carries the link");
    assert!(link.starts_with(&format!("{PUBLIC}/v1/ack/")), "{link}");
    let acked = reqwest::Client::new()
        .post(link.replace(PUBLIC, &app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(acked.status(), 200);
    let records = app
        .warroom
        .incident_records(IncidentNumber(1))
        .await
        .unwrap();
    assert!(records.iter().any(|r| matches!(&r.event,
        Event::Acknowledged { by, via: Some(via), .. } if by == "rpark" && via == "email")));
    app.running.stop().await;
}

async fn a_hand_over_is_pushed_to_whoever_opted_in(url: &str) {
    let p = providers().await;
    let app = serve(url, &p, "2030-01-07T10:00:00Z").await;
    // The next day at 09:00 the rotation hands from rpark to ghammer; only ghammer opted in.
    let handed = app
        .warroom
        .record_handoffs(at("2030-01-08T09:00:10Z"))
        .await
        .unwrap();
    assert_eq!(handed.len(), 1, "{handed:#?}");
    let pushed = requests(&p.ntfy, 1).await;
    let push: serde_json::Value = serde_json::from_slice(&pushed[0].body).unwrap();
    assert_eq!(push["topic"], "warroom-ghammer", "{push:#}");
    assert_eq!(push["title"], "On call for sre", "{push:#}");
    let said = push["message"].as_str().unwrap();
    assert!(
        said.contains("You are on call for sre from Tue 08 Jan 09:00 UTC until Wed 09 Jan 09:00 UTC, taking over from Riley Park"),
        "{said}"
    );
    assert!(
        push.get("actions").is_none(),
        "a hand-over has nothing to acknowledge"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        p.ntfy.received_requests().await.unwrap().len(),
        1,
        "rpark did not opt in"
    );
    app.running.stop().await;
}

async fn retries_stop_once_the_page_is_acknowledged(url: &str) {
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&twilio)
        .await;
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "x"})))
        .mount(&ntfy)
        .await;
    let options = warroom::serve::Options {
        clock: Clock::starting_at(at("2030-01-07T10:00:00Z")),
        retry: warroom::notify::RetryPolicy {
            base_delay: Duration::from_millis(400),
            max_delay: Duration::from_millis(400),
            ..Default::default()
        },
        ..Default::default()
    };
    let app = common::spawn_app(url, settings(&twilio.uri(), &ntfy.uri()), options).await;
    fire_alert(&app).await;
    requests(&ntfy, 1).await;
    app.warroom
        .fire_due_notifications(at("2030-01-07T10:02:01Z"))
        .await
        .unwrap();
    // Twilio is down: the SMS fails once, and while it waits to retry, rpark acknowledges.
    requests(&twilio, 1).await;
    let reply = reqwest::Client::new()
        .post(format!("{}/v1/ack/nonsense", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 403, "a made-up link acknowledges nothing");
    let pushed = ntfy.received_requests().await.unwrap();
    let push: serde_json::Value = serde_json::from_slice(&pushed[0].body).unwrap();
    let link = push["actions"][0]["url"]
        .as_str()
        .unwrap()
        .replace(PUBLIC, &app.base);
    let acked = reqwest::Client::new().post(link).send().await.unwrap();
    assert_eq!(acked.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let tries = twilio.received_requests().await.unwrap().len();
    assert!(tries <= 2, "{tries} SMS attempts after the acknowledgement");
    let records = app
        .warroom
        .incident_records(IncidentNumber(1))
        .await
        .unwrap();
    assert!(
        !records
            .iter()
            .any(|r| matches!(r.event, Event::NotificationGaveUp { .. })),
        "an acknowledged page is not given up on: it is over"
    );
    app.running.stop().await;
}

on_both_backends!(
    retries_stop_once_the_page_is_acknowledged,
    an_email_reaches_a_real_smtp_server_and_its_link_acknowledges,
    a_hand_over_is_pushed_to_whoever_opted_in,
    the_person_on_call_is_reached_by_each_rule_in_turn_until_an_sms_reply,
    a_link_asks_before_it_acknowledges_and_works_once,
    a_keypress_on_the_call_acknowledges,
);

#[test]
fn rules_need_an_address_and_a_provider() {
    let text = r#"
[[teams]]
name = "SRE"
[[contacts]]
handle = "rpark"
name = "Riley Park"
team = "SRE"
phone = "555-0100"
notify = [{ method = "email" }, { method = "pigeon" }, { method = "sms", after_minutes = 90 }]
handoff_notices = ["voice"]
"#;
    let problems = Settings::from_toml(text, "t.toml", |_| None)
        .unwrap_err()
        .to_string();
    for expected in [
        "contacts[0] (rpark).phone = '555-0100' is not an E.164 number",
        "contacts[0] (rpark).notify[0]: rpark has no email for email",
        "contacts[0] (rpark).notify[1].method: unknown method 'pigeon'",
        "contacts[0] (rpark).notify[2].after_minutes = 90 is out of range; use 0..=60",
        "contacts[0] (rpark).handoff_notices[0]: a hand-over is not worth a phone call",
        "contact rpark is notified by sms, but no [notifications.twilio] is configured",
    ] {
        assert!(problems.contains(expected), "{expected}\nin\n{problems}");
    }
}
