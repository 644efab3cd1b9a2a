//! SMS and voice calls through Twilio's REST API (Messages and Calls resources, form-encoded,
//! HTTP basic auth with the account SID and auth token), and the `X-Twilio-Signature` that
//! Twilio's webhooks carry. The TwiML a call runs and the webhook replies live in `twiml.rs`
//! and are re-exported here.

use super::reply::{self, Shape};
pub use super::twiml::{sms_reply_twiml, voice_reply_twiml, voice_twiml};
use super::{is_e164, one_line, Notice, Secret, Sent, Twilio};
use anyhow::{bail, Context};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha1::Sha1;

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

/// `X-Twilio-Signature`: base64 of the HMAC-SHA1, under the auth token, of the URL Twilio
/// requested followed by each POST parameter's name and value, sorted by name.
pub fn signature(auth_token: &Secret, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // By name, then value: a repeated name signs in value order too.
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `header` is the signature of this request, compared in constant time.
pub fn signature_valid(
    auth_token: &Secret,
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    let expected = signature(auth_token, url, params);
    bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        header.trim().as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The worked example of Twilio's webhook-security guide: auth token 12345, this URL
    /// and these parameters sign to `0/KCTR6DLpKmkAf8muzZqo1nDgQ=`.
    const DOC_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const DOC_SIGNATURE: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    fn doc_params() -> Vec<(String, String)> {
        // Out of order on purpose: the signature sorts them.
        params(&[
            ("To", "+18005551212"),
            ("Digits", "1234"),
            ("CallSid", "CA1234567890ABCDE"),
            ("From", "+12349013030"),
            ("Caller", "+12349013030"),
        ])
    }

    #[test]
    fn signature_matches_twilios_documented_example() {
        let token = Secret::new("12345");
        assert_eq!(signature(&token, DOC_URL, &doc_params()), DOC_SIGNATURE);
        assert!(signature_valid(
            &token,
            DOC_URL,
            &doc_params(),
            DOC_SIGNATURE
        ));
    }

    #[test]
    fn signature_valid_rejects_a_changed_param_url_token_or_header() {
        let token = Secret::new("12345");
        let mut changed = doc_params();
        changed[1].1 = "9999".into();
        assert!(!signature_valid(&token, DOC_URL, &changed, DOC_SIGNATURE));
        let mut added = doc_params();
        added.push(("Extra".into(), "1".into()));
        assert!(!signature_valid(&token, DOC_URL, &added, DOC_SIGNATURE));
        let other_url = "https://mycompany.com/myapp.php?foo=1&bar=3";
        assert!(!signature_valid(
            &token,
            other_url,
            &doc_params(),
            DOC_SIGNATURE
        ));
        assert!(!signature_valid(
            &Secret::new("54321"),
            DOC_URL,
            &doc_params(),
            DOC_SIGNATURE
        ));
        for header in [
            "",
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ",
            "1/KCTR6DLpKmkAf8muzZqo1nDgQ=",
        ] {
            assert!(
                !signature_valid(&token, DOC_URL, &doc_params(), header),
                "{header:?}"
            );
        }
    }

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
