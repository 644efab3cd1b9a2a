//! Keeping secrets out of what is logged and recorded: a receiver's echo of the routing key
//! or webhook secret replaced, and error text cut to a length fit for an event.

use super::Secret;

/// Replaces every occurrence of the secret, in case a receiver echoes it back in an error.
pub(super) fn redact(text: String, secret: Option<&Secret>) -> String {
    match secret {
        Some(secret) if !secret.expose().is_empty() && text.contains(secret.expose()) => {
            text.replace(secret.expose(), "[redacted]")
        }
        _ => text,
    }
}

/// At most `max` characters, ending in `…` when cut.
pub(super) fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{page, pagerduty, webhook, ROUTING_KEY, WEBHOOK_SECRET};
    use super::super::outcome::ERROR_TEXT_MAX;
    use super::super::{Attempt, Notifier, PageAction};
    use super::*;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn refused_error_is_truncated_and_never_echoes_the_routing_key() {
        let server = MockServer::start().await;
        let echo = format!("unknown routing key {ROUTING_KEY} {}", "x".repeat(1000));
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(404).set_body_string(echo))
            .mount(&server)
            .await;
        let got = Notifier::new()
            .attempt(&pagerduty(server.uri()), &page(PageAction::Trigger))
            .await;
        let Attempt::Refused { status, error } = got else {
            panic!("expected refused, got {got:?}");
        };
        assert_eq!(status, 404);
        assert!(!error.contains(ROUTING_KEY), "{error}");
        assert!(error.contains("[redacted]"), "{error}");
        assert!(error.chars().count() <= ERROR_TEXT_MAX, "{error}");
    }

    #[test]
    fn debug_and_display_never_show_secrets() {
        let pd = pagerduty("https://events.pagerduty.com/v2/enqueue".into());
        let hook = webhook("https://example.test/hook".into(), Some(WEBHOOK_SECRET));
        for text in [
            format!("{pd:?}"),
            format!("{pd:#?}"),
            format!("{hook:?}"),
            format!("{:?}", hook.kind),
            format!("{}", Secret::new(WEBHOOK_SECRET)),
        ] {
            assert!(!text.contains(ROUTING_KEY), "{text}");
            assert!(!text.contains(WEBHOOK_SECRET), "{text}");
        }
        assert!(format!("{pd:?}").contains("[redacted]"));
    }
}
