//! What Twilio and warroom say to each other, shared by the notifier that sends SMS and
//! calls and the HTTP doors that take Twilio's webhooks: the `X-Twilio-Signature` of a
//! webhook, made and checked in constant time, and the TwiML that answers one.

use crate::secret::Secret;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

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

/// TwiML answering an inbound SMS: `<Message>text</Message>`.
pub fn sms_reply_twiml(text: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>{}</Message></Response>"#,
        xml_escape(text)
    )
}

/// TwiML answering the call's keypress: `<Say>text</Say>`.
pub fn voice_reply_twiml(text: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>{}</Say></Response>"#,
        xml_escape(text)
    )
}

/// Escapes text for XML content and attribute values.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters, even escaped; a call whose TwiML
            // does not parse says nothing at all.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
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
    fn replies_escape_their_text() {
        assert_eq!(
            sms_reply_twiml("Acknowledged INC-7 <ok> & thanks"),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>Acknowledged INC-7 &lt;ok&gt; &amp; thanks</Message></Response>"#
        );
        assert_eq!(
            voice_reply_twiml("Acknowledged. Thank you."),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>Acknowledged. Thank you.</Say></Response>"#
        );
    }
}
