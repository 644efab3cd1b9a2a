//! TwiML, Twilio's call and reply markup: what a voice call says and how it takes the
//! keypress, and the answers to Twilio's webhooks. Every piece of text is XML-escaped, so
//! chat text (an incident title) can never add a verb to a call.

use super::{one_line, Notice};
use crate::twilio::xml_escape;

/// How much of the title a call reads out: a long title is tiresome to hear at 3 a.m.
const SPOKEN_TITLE_MAX: usize = 100;

/// The TwiML a call runs: it says the incident, its severity and title, then asks twice for
/// 1 to acknowledge, posting the keypress to `voice_ack_url`; nothing pressed ends with a
/// goodbye. Without `voice_ack_url` it only says the notice, twice. Text is XML-escaped, so
/// a title cannot add verbs to the call.
pub fn voice_twiml(notice: &Notice) -> String {
    let said = xml_escape(&spoken(notice));
    let mut twiml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#);
    match &notice.voice_ack_url {
        Some(action) => {
            // The notice inside the Gather too, so a key pressed while it is read counts.
            twiml.push_str(&format!(
                r#"<Gather numDigits="1" action="{}" method="POST" timeout="6">"#,
                xml_escape(action)
            ));
            for _ in 0..2 {
                twiml.push_str(&format!(
                    "<Say>{said}</Say><Say>Press 1 to acknowledge.</Say><Pause length=\"1\"/>"
                ));
            }
            twiml.push_str(
                "</Gather><Say>Nothing was pressed, so the page is not acknowledged. \
                 Goodbye.</Say>",
            );
        }
        None => {
            twiml.push_str(&format!(
                "<Say>{said}</Say><Pause length=\"1\"/><Say>{said}</Say><Say>Goodbye.</Say>"
            ));
        }
    }
    twiml.push_str("</Response>");
    twiml
}

/// The sentence a call reads: `Warroom page. Incident 7, severity 1. Database down.`
fn spoken(notice: &Notice) -> String {
    let incident = one_line(&notice.incident, 40);
    // "INC-7" read out is "ink seven"; the number is what people say.
    let incident = incident
        .strip_prefix("INC-")
        .or_else(|| incident.strip_prefix("inc-"))
        .unwrap_or(&incident)
        .replace(['-', '_'], " ");
    let severity = one_line(&notice.severity, 20);
    let severity = match severity.strip_prefix("sev") {
        Some(level) => format!("severity {level}"),
        None => severity,
    };
    format!(
        "Warroom page. Incident {incident}, {severity}. {}.",
        one_line(&notice.title, SPOKEN_TITLE_MAX).trim_end_matches('.')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(title: &str, voice_ack_url: Option<&str>) -> Notice {
        Notice {
            incident: "INC-7".into(),
            title: title.into(),
            severity: "sev1".into(),
            summary: "INC-7 sev1 Database down: you are paged (step 1 of 'all')".into(),
            ack_url: Some("https://warroom.example/ack/abc".into()),
            voice_ack_url: voice_ack_url.map(String::from),
        }
    }

    #[test]
    fn voice_twiml_says_the_notice_and_gathers_one_digit_twice() {
        let twiml = voice_twiml(&notice(
            "Database down",
            Some("https://warroom.example/twilio/voice?t=a&u=b"),
        ));
        assert!(
            twiml.contains("<Say>Warroom page. Incident 7, severity 1. Database down.</Say>"),
            "{twiml}"
        );
        assert!(twiml.contains(
            r#"<Gather numDigits="1" action="https://warroom.example/twilio/voice?t=a&amp;u=b" method="POST""#
        ), "{twiml}");
        assert_eq!(
            twiml.matches("Press 1 to acknowledge.").count(),
            2,
            "{twiml}"
        );
        let after_gather = twiml.split("</Gather>").nth(1).unwrap_or("");
        assert!(after_gather.contains("Goodbye"), "{twiml}");

        let plain = voice_twiml(&notice("Database down", None));
        assert!(!plain.contains("Gather"), "{plain}");
        assert!(!plain.contains("Press 1"), "{plain}");
        assert!(plain.contains("Database down."), "{plain}");
    }

    #[test]
    fn a_title_cannot_break_out_of_the_twiml() {
        let twiml = voice_twiml(&notice(
            "</Say><Dial>+19005550100</Dial><Say> & \"more\"\u{0}",
            Some("https://warroom.example/v"),
        ));
        assert!(!twiml.contains("<Dial>"), "{twiml}");
        assert!(
            twiml.contains("&lt;/Say&gt;&lt;Dial&gt;+19005550100"),
            "{twiml}"
        );
        assert!(twiml.contains(" &amp; &quot;more&quot;"), "{twiml}");
        assert!(!twiml.contains('\u{0}'), "{twiml}");
        // The only elements are the ones the call is meant to run.
        let elements: Vec<&str> = twiml
            .split('<')
            .skip(1)
            .map(|tag| tag.split([' ', '>', '/']).next().unwrap_or(""))
            .filter(|name| !name.is_empty() && !name.starts_with('?'))
            .collect();
        for name in elements {
            assert!(
                ["Response", "Gather", "Say", "Pause"].contains(&name),
                "{name} in {twiml}"
            );
        }
    }
}
