//! SMS and voice calls through Twilio's REST API (Messages and Calls resources, form-encoded,
//! HTTP basic auth with the account SID and auth token), and the `X-Twilio-Signature` that
//! Twilio's webhooks carry. The TwiML a call runs and the webhook replies live in `twiml.rs`
//! and are re-exported here.

use super::reply::{self, Shape};
pub use super::twiml::voice_twiml;
use super::{is_e164, one_line, Notice, Sent, Twilio};
pub use crate::twilio::{signature, signature_valid, sms_reply_twiml, voice_reply_twiml};
use anyhow::{bail, Context};
use serde_json::{Map, Value};

/// Twilio bills an SMS per segment (160 GSM characters, 70 in UCS-2); two to three segments
/// carry the summary and the link without turning a page into an essay.
const SMS_MAX: usize = 320;

const SHAPE: Shape = Shape {
    name: "Twilio",
    id_field: "sid",
    explain,
};

/// Checks what can be checked before the first send: the SID goes into the URL's path.
pub(super) fn check(twilio: &Twilio) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(&twilio.api_url)
        .with_context(|| format!("[notifications.twilio] api_url {:?}", twilio.api_url))?;
    if !matches!(url.scheme(), "https" | "http") {
        bail!(
            "[notifications.twilio] api_url {:?} is not an http(s) URL; leave it out for \
             https://api.twilio.com",
            twilio.api_url
        );
    }
    if twilio.account_sid.is_empty()
        || !twilio
            .account_sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
    {
        bail!(
            "[notifications.twilio] account_sid {:?} is not an account SID (AC followed by 32 \
             hex digits, from the Twilio console)",
            twilio.account_sid
        );
    }
    if !is_e164(&twilio.from) {
        bail!(
            "[notifications.twilio] from {:?} is not an E.164 number; write it as +14155550100",
            twilio.from
        );
    }
    Ok(())
}

/// Texts `number` the summary and the acknowledge link.
pub(super) async fn send_sms(
    client: &reqwest::Client,
    twilio: &Twilio,
    number: &str,
    notice: &Notice,
) -> Sent {
    let mut form = vec![("Body".to_string(), sms_body(notice))];
    form.extend(status_callback(twilio));
    post(client, twilio, "Messages.json", number, form).await
}

/// Texts `number` a plain message (a hand-over): no link, no status callback.
pub(super) async fn send_plain_sms(
    client: &reqwest::Client,
    twilio: &Twilio,
    number: &str,
    subject: &str,
    text: &str,
) -> Sent {
    let body = one_line(&format!("{subject}: {text}"), SMS_MAX);
    post(
        client,
        twilio,
        "Messages.json",
        number,
        vec![("Body".to_string(), body)],
    )
    .await
}

/// Calls `number`; the call says the notice and takes the keypress (see [`voice_twiml`]).
pub(super) async fn call(
    client: &reqwest::Client,
    twilio: &Twilio,
    number: &str,
    notice: &Notice,
) -> Sent {
    let mut form = vec![("Twiml".to_string(), voice_twiml(notice))];
    form.extend(status_callback(twilio));
    post(client, twilio, "Calls.json", number, form).await
}

fn status_callback(twilio: &Twilio) -> Option<(String, String)> {
    twilio
        .status_callback
        .as_ref()
        .map(|url| ("StatusCallback".to_string(), url.clone()))
}

async fn post(
    client: &reqwest::Client,
    twilio: &Twilio,
    resource: &str,
    number: &str,
    mut form: Vec<(String, String)>,
) -> Sent {
    if !is_e164(number) {
        return Sent::refused(format!(
            "{number:?} is not an E.164 phone number; write it with + and the country code, \
             e.g. +14155550100"
        ));
    }
    form.push(("To".into(), number.into()));
    form.push(("From".into(), twilio.from.clone()));
    let url = format!(
        "{}/2010-04-01/Accounts/{}/{resource}",
        twilio.api_url.trim_end_matches('/'),
        twilio.account_sid
    );
    let token = Some(&twilio.auth_token);
    match client
        .post(url)
        .timeout(twilio.timeout)
        .basic_auth(&twilio.account_sid, Some(twilio.auth_token.expose()))
        .form(&form)
        .send()
        .await
    {
        Ok(response) => reply::classify(response, &SHAPE, token).await,
        Err(err) => reply::unanswered("Twilio", err, twilio.timeout, token),
    }
}

/// Twilio's errors: `{"code":21211,"message":"…","more_info":"…","status":400}`.
fn explain(body: &Map<String, Value>) -> Option<String> {
    let message = body.get("message").and_then(Value::as_str)?;
    Some(reply::numbered(
        body.get("code"),
        Some(message),
        body.get("more_info").and_then(Value::as_str),
    ))
}

/// The summary and the link, the link whole: a cut link acknowledges nothing, so the
/// summary is what gets shortened.
fn sms_body(notice: &Notice) -> String {
    let tail = match &notice.ack_url {
        Some(url) => format!(" Ack: {url}"),
        None => " Reply 1 to acknowledge.".to_string(),
    };
    let room = SMS_MAX.saturating_sub(tail.chars().count()).max(40);
    format!("{}{tail}", one_line(&notice.summary, room))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_body_keeps_the_link_whole_within_320_characters() {
        let mut long = super::super::tests::notice();
        long.summary = "word ".repeat(200);
        let body = sms_body(&long);
        assert!(body.chars().count() <= SMS_MAX, "{}", body.chars().count());
        assert!(
            body.ends_with(" Ack: https://warroom.example/ack/abc"),
            "{body}"
        );

        long.ack_url = None;
        assert!(sms_body(&long).ends_with(" Reply 1 to acknowledge."));
    }
}
