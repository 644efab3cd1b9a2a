//! What an SMTP attempt came to: a permanent reply (5xx) refused with its code, a transient
//! one (4xx) or a connection, TLS or timeout failure worth retrying, each said so that the
//! person reading it knows what to change, and never with the password in it.

use super::super::outcome::ERROR_TEXT_MAX;
use super::super::scrub::{redact, truncate_chars};
use super::{one_line, Attempt, EmailServer, SmtpTls};
use lettre::transport::smtp::Error as SmtpError;

/// An SMTP failure as an attempt: a permanent reply (5xx) is refused with its code, a
/// transient one (4xx), a connection, TLS or timeout failure is worth retrying; a
/// failure on our side of the dialogue (no STARTTLS offered, no login mechanism in
/// common) is refused, since trying again changes nothing.
pub(super) fn classify(err: &SmtpError, server: &EmailServer) -> Attempt {
    let secret = server.password.as_ref();
    let tidy = |text: String| truncate_chars(&redact(text, secret), ERROR_TEXT_MAX);
    let at = format!("{}:{}", server.host, server.port);
    if let Some(code) = err.status() {
        let code = u16::from(code);
        let said = std::error::Error::source(err)
            .map(|reply| one_line(&reply.to_string(), ERROR_TEXT_MAX))
            .unwrap_or_default();
        let error = tidy(format!(
            "SMTP server {at} answered {code} {said}{}",
            hint(code, &said, server.tls)
        ));
        return if err.is_permanent() {
            Attempt::Refused {
                status: code,
                error,
            }
        } else {
            Attempt::Retryable {
                status: Some(code),
                error,
                retry_after: None,
            }
        };
    }
    let causes = causes(err);
    let error = if err.is_timeout() {
        format!(
            "timeout: SMTP server {at} did not answer within {} ms",
            server.timeout.as_millis()
        )
    } else if tls_failed(err) {
        format!(
            "TLS with SMTP server {at} failed: {causes} (a certificate from a private CA \
             needs that CA in [notifications.email] ca_file)"
        )
    } else if err.is_client() {
        return Attempt::Refused {
            status: 0,
            error: tidy(format!(
                "SMTP server {at} cannot be used as configured: {causes}"
            )),
        };
    } else {
        format!("could not talk to SMTP server {at}: {causes}")
    };
    Attempt::Retryable {
        status: None,
        error: tidy(error),
        retry_after: None,
    }
}

/// What to do about a refusal whose cause is our configuration.
fn hint(code: u16, said: &str, tls: SmtpTls) -> &'static str {
    let said = said.to_ascii_lowercase();
    match code {
        530 if said.contains("starttls") && tls == SmtpTls::None => {
            " (the server wants STARTTLS first: set [notifications.email] tls = \"starttls\")"
        }
        530 => " (the server wants a login: set username and password in [notifications.email])",
        535 => " (login refused: check username and password in [notifications.email])",
        _ => "",
    }
}

/// What went wrong, from the first cause that is not lettre's own wrapper: lettre wraps a
/// failed handshake twice ("Connection error: Connection error: invalid peer certificate").
fn causes(err: &SmtpError) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if cause.downcast_ref::<SmtpError>().is_none() {
            return chain(cause);
        }
        source = cause.source();
    }
    err.to_string()
}

/// Whether the TLS handshake failed. lettre reports a failed handshake as a connection
/// error, not a TLS one; what tells it apart is the I/O error rustls gives, InvalidData (a
/// certificate not trusted, a server that does not speak TLS on a TLS port).
fn tls_failed(err: &SmtpError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::InvalidData;
        }
        source = cause.source();
    }
    err.is_tls()
}

/// The error and its causes, each said once.
pub(super) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
