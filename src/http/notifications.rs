//! The doors a notification's acknowledgement comes back through: the signed link of an
//! email, SMS or push (`GET` shows a confirm page, `POST` acknowledges: mail scanners that
//! open links must not acknowledge for anyone), ntfy's Acknowledge action (a `POST` to the
//! same link), and Twilio's webhooks (an SMS reply, the keypress of a call, delivery
//! statuses), each checked against `X-Twilio-Signature` before anything is read from it.

use crate::app::notifications::LinkState;
use crate::app::Warroom;
use crate::clock::Clock;
use crate::twilio;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use std::sync::Arc;

/// `GET /v1/ack/{token}`: what the link would acknowledge, with a button that does it.
pub async fn confirm_page(
    State(warroom): State<Arc<Warroom>>,
    Extension(clock): Extension<Clock>,
    Path(token): Path<String>,
) -> Response {
    match warroom.ack_link_state(&token, clock.now()).await {
        Ok(Ok(LinkState::Ready {
            incident,
            title,
            severity,
            person,
        })) => page(
            StatusCode::OK,
            &format!("Acknowledge {incident}?"),
            &format!(
                "<p>{incident} ({severity}): {}</p>\
                 <p>You were paged as @{}. Acknowledging stops its escalation for everyone.</p>\
                 <form method=\"post\"><button type=\"submit\">Acknowledge {incident}</button></form>",
                escape(&title),
                escape(&person)
            ),
        ),
        Ok(Ok(LinkState::Done(text))) => page(StatusCode::OK, "Nothing to acknowledge", &para(&text)),
        Ok(Err(e)) => page(StatusCode::FORBIDDEN, "This link does not work", &para(&e.to_string())),
        Err(e) => unavailable(e),
    }
}

/// `POST /v1/ack/{token}`: the confirm page's button, and ntfy's Acknowledge action.
pub async fn acknowledge(
    State(warroom): State<Arc<Warroom>>,
    Extension(clock): Extension<Clock>,
    Path(token): Path<String>,
) -> Response {
    match warroom.acknowledge_by_link(&token, clock.now()).await {
        Ok(Ok(reply)) if reply.acknowledged => {
            page(StatusCode::OK, "Acknowledged", &para(&reply.text))
        }
        // Said, not failed: a second press, or an incident resolved meanwhile.
        Ok(Ok(reply)) => page(StatusCode::CONFLICT, "Not acknowledged", &para(&reply.text)),
        Ok(Err(e)) => page(
            StatusCode::FORBIDDEN,
            "This link does not work",
            &para(&e.to_string()),
        ),
        Err(e) => unavailable(e),
    }
}

/// `POST /v1/twilio/sms`: a reply to an SMS notification.
pub async fn twilio_sms(
    State(warroom): State<Arc<Warroom>>,
    Extension(clock): Extension<Clock>,
    form: TwilioForm,
) -> Response {
    let from = form.param("From").unwrap_or_default();
    let text = form.param("Body").unwrap_or_default();
    match warroom.acknowledge_by_sms(from, text, clock.now()).await {
        Ok(reply) => twiml(twilio::sms_reply_twiml(&reply.text)),
        Err(e) => unavailable(e),
    }
}

/// `POST /v1/twilio/voice?ack=TOKEN`: the key pressed during a voice notification.
pub async fn twilio_voice(
    State(warroom): State<Arc<Warroom>>,
    Extension(clock): Extension<Clock>,
    form: TwilioForm,
) -> Response {
    let token = form
        .query
        .as_deref()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "ack")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    if form.param("Digits") != Some("1") {
        return twiml(twilio::voice_reply_twiml("Not acknowledged. Goodbye."));
    }
    match warroom.acknowledge_by_link(&token, clock.now()).await {
        Ok(Ok(reply)) => twiml(twilio::voice_reply_twiml(&reply.text)),
        Ok(Err(e)) => twiml(twilio::voice_reply_twiml(&e.to_string())),
        Err(e) => unavailable(e),
    }
}

/// `POST /v1/twilio/status`: what became of an SMS or a call Twilio accepted.
pub async fn twilio_status(State(warroom): State<Arc<Warroom>>, form: TwilioForm) -> Response {
    let reference = form.param("MessageSid").or_else(|| form.param("CallSid"));
    let status = form
        .param("MessageStatus")
        .or_else(|| form.param("CallStatus"));
    let (Some(reference), Some(status)) = (reference, status) else {
        return super::error(
            StatusCode::BAD_REQUEST,
            "a status callback names MessageSid or CallSid and its MessageStatus or CallStatus",
        );
    };
    let code = form.param("ErrorCode").map(str::to_string);
    match warroom
        .record_notification_status(reference, status, code)
        .await
    {
        // Unknown ids are answered 200 too: Twilio would only retry them.
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => unavailable(e),
    }
}

/// A Twilio webhook's form parameters, taken only once its signature checks out; a request
/// that fails the check is answered before any handler reads it.
pub struct TwilioForm {
    params: Vec<(String, String)>,
    /// The URL's query, as signed (the voice callback carries its link token there).
    query: Option<String>,
}

impl TwilioForm {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl FromRequest<Arc<Warroom>> for TwilioForm {
    type Rejection = Response;

    async fn from_request(request: Request, warroom: &Arc<Warroom>) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, TWILIO_FORM_LIMIT)
            .await
            .map_err(|_| {
                super::error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "a Twilio webhook's form is at most 64 KiB",
                )
            })?;
        let params = signed_params(
            warroom,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            &body,
        )
        .map_err(|refusal| *refusal)?;
        Ok(TwilioForm {
            params,
            query: parts.uri.query().map(str::to_string),
        })
    }
}

/// The largest Twilio webhook form read: theirs are a few KiB.
const TWILIO_FORM_LIMIT: usize = 64 * 1024;

/// The form parameters of a Twilio webhook, once its signature checks out against the URL
/// Twilio was given (`public_url` + path + query) and the auth token.
fn signed_params(
    warroom: &Warroom,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, Box<Response>> {
    let settings = &warroom.settings().notifications;
    let (Some(twilio_settings), Some(base)) = (&settings.providers.twilio, &settings.public_url)
    else {
        return Err(Box::new(super::error(
            StatusCode::NOT_FOUND,
            "Twilio is not configured here; set [notifications.twilio] and notifications.public_url",
        )));
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let url = match query {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    };
    let presented = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !twilio::signature_valid(&twilio_settings.auth_token, &url, &params, presented) {
        return Err(Box::new(super::error(
            StatusCode::FORBIDDEN,
            "X-Twilio-Signature is missing or does not match; check notifications.public_url is the address Twilio calls and the auth token",
        )));
    }
    Ok(params)
}

fn twiml(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn unavailable(e: anyhow::Error) -> Response {
    tracing::error!("cannot acknowledge from a notification: {e:#}");
    super::retry_after(page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "<p>warroom cannot reach its store right now. Try again in a few seconds, or acknowledge with /ack in the incident's channel.</p>",
    ))
}

fn para(text: &str) -> String {
    format!("<p>{}</p>", escape(text))
}

/// A small HTML page. The link's token is in the address, so the page tells browsers not to
/// keep it, not to send it on as a referrer, and not to run anything but itself.
fn page(status: StatusCode, heading: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>warroom: {heading}</title></head><body><h1>{heading}</h1>{body}</body></html>",
        heading = escape(heading)
    );
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    if status.is_client_error() {
        response
            .extensions_mut()
            .insert(super::refusals::RefusalReason(heading.to_string()));
    }
    let headers = response.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Text made safe inside HTML elements and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            super::escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
