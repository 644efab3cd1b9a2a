//! Email through the site's SMTP server (lettre over rustls): STARTTLS required unless set
//! otherwise, the webpki roots plus an optional private CA, one pool of connections reused
//! across sends. A plain-text message whose Message-ID is the attempt's provider id.

use super::smtp_error::{self, chain};
use super::{one_line, Attempt, EmailServer, Notice, Sent, SmtpTls};
use anyhow::{bail, Context};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, AsyncSmtpTransportBuilder};
use lettre::{AsyncTransport, Message, Tokio1Executor};
use std::fmt;
use std::sync::OnceLock;

/// How much of the title goes into the subject.
const SUBJECT_TITLE_MAX: usize = 120;

/// One SMTP server, its settings checked, its connection pool made on first use.
pub(super) struct Mailer {
    server: EmailServer,
    from: Mailbox,
    /// The domain of the Message-IDs we make: the sender's.
    id_domain: String,
    builder: AsyncSmtpTransportBuilder,
    transport: OnceLock<Pool>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The settings (the password shows as [redacted]); the pool's state is noise.
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Checks the settings and prepares TLS; errors name the setting.
    pub(super) fn new(server: EmailServer) -> anyhow::Result<Mailer> {
        let from: Mailbox = server.from.parse().map_err(|err| {
            anyhow::anyhow!(
                "[notifications.email] from {:?} is not an email address ({err}); write it as \
                 \"warroom@example.com\" or \"Warroom <warroom@example.com>\"",
                server.from
            )
        })?;
        let id_domain = from.email.domain().to_string();
        if server.host.is_empty() {
            bail!("[notifications.email] host is empty; name the SMTP server");
        }
        let tls = match server.tls {
            SmtpTls::StartTls => Tls::Required(tls_parameters(&server)?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters(&server)?),
            SmtpTls::None if is_loopback(&server.host) => Tls::None,
            SmtpTls::None => bail!(
                "[notifications.email] tls = \"none\" is only for a relay on loopback, and host \
                 {:?} is not one; use \"starttls\" (port 587) or \"tls\" (port 465)",
                server.host
            ),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&server.host)
            .port(server.port)
            .tls(tls)
            .timeout(Some(server.timeout));
        match (&server.username, &server.password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(
                    user.clone(),
                    password.expose().to_string(),
                ));
            }
            (None, None) => {}
            (Some(_), None) => bail!(
                "[notifications.email] username is set but password is not; set both or neither"
            ),
            (None, Some(_)) => bail!(
                "[notifications.email] password is set but username is not; set both or neither"
            ),
        }
        Ok(Mailer {
            server,
            from,
            id_domain,
            builder,
            transport: OnceLock::new(),
        })
    }

    /// Sends the notice to `to`.
    pub(super) async fn send(&self, to: &str, notice: &Notice) -> Sent {
        self.deliver(to, subject(notice), body(notice)).await
    }

    /// Sends a plain message (a hand-over) to `to`, its subject after `[warroom] `.
    pub(super) async fn send_plain(&self, to: &str, subject: &str, text: &str) -> Sent {
        let body = format!(
            "{}\n\n-- \nSent by warroom, the incident bot.\n",
            one_line(text, 2000)
        );
        self.deliver(
            to,
            format!("[warroom] {}", one_line(subject, SUBJECT_TITLE_MAX)),
            body,
        )
        .await
    }

    async fn deliver(&self, to: &str, subject: String, body: String) -> Sent {
        let to: Mailbox = match to.parse() {
            Ok(mailbox) => mailbox,
            Err(err) => {
                return Sent::refused(format!(
                    "{to:?} is not an email address ({err}); write it as alice@example.com"
                ))
            }
        };
        let message_id = format!("<{}@{}>", uuid::Uuid::new_v4(), self.id_domain);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(body);
        let message = match message {
            Ok(message) => message,
            // Only a missing From or To fails here, and both are set above.
            Err(err) => return Sent::refused(format!("the email could not be built: {err}")),
        };
        match self.transport().send(message).await {
            Ok(response) => Sent {
                attempt: Attempt::Delivered {
                    status: u16::from(response.code()),
                },
                provider_ref: Some(message_id),
            },
            Err(err) => Sent {
                attempt: smtp_error::classify(&err, &self.server),
                provider_ref: None,
            },
        }
    }

    /// The pool, made on first use: lettre's pool starts its cleanup task when made, which
    /// needs the Tokio runtime that `send` runs in (and `new` may not).
    fn transport(&self) -> &AsyncSmtpTransport<Tokio1Executor> {
        self.transport
            .get_or_init(|| Pool(Some(self.builder.clone().build())))
            .0
            .as_ref()
            .expect("the pool is only taken out when dropped")
    }
}

/// `[warroom] INC-7 sev1: Database down`.
pub(super) fn subject(notice: &Notice) -> String {
    format!(
        "[warroom] {} {}: {}",
        one_line(&notice.incident, 40),
        one_line(&notice.severity, 20),
        one_line(&notice.title, SUBJECT_TITLE_MAX)
    )
}

/// The plain-text body: the summary, the incident, and the acknowledge link with what it
/// does. The title stays on one line, so it cannot pose as a link line of its own.
pub(super) fn body(notice: &Notice) -> String {
    let mut text = format!(
        "{}\n\nIncident: {} ({})\nTitle: {}\n\n",
        one_line(&notice.summary, 1000),
        one_line(&notice.incident, 40),
        one_line(&notice.severity, 20),
        one_line(&notice.title, 1000),
    );
    match &notice.ack_url {
        Some(url) => text.push_str(&format!(
            "Acknowledge: {url}\nThe link opens a page that asks you to confirm. It works once \
             and expires.\n"
        )),
        None => text.push_str("This notice carries no acknowledge link; acknowledge in warroom.\n"),
    }
    text.push_str("\n-- \nSent by warroom, the incident bot.\n");
    text
}

/// Root certificates: the webpki roots, plus the configured CA for a private one.
fn tls_parameters(server: &EmailServer) -> anyhow::Result<TlsParameters> {
    let mut builder = TlsParameters::builder(server.host.clone())
        .certificate_store(CertificateStore::WebpkiRoots);
    if let Some(path) = &server.ca_file {
        let what = || format!("[notifications.email] ca_file {}", path.display());
        let pem = crate::small_file::read_small_file(path).with_context(what)?;
        // lettre reads a file without any certificate as an empty list, which would trust
        // nothing more and fail only at the first email; say it now.
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            bail!(
                "{}: no PEM certificate in it (-----BEGIN CERTIFICATE-----); name the CA's \
                 certificate in PEM form",
                what()
            );
        }
        let cert = Certificate::from_pem(pem.as_bytes())
            .map_err(|err| anyhow::anyhow!("{}: not a readable PEM certificate: {err}", what()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(|err| {
        anyhow::anyhow!(
            "[notifications.email] TLS for {} cannot be set up: {}",
            server.host,
            chain(&err)
        )
    })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// lettre's pool, which when dropped spawns a task to close its connections, and that
/// panics outside a Tokio runtime (a `Reacher` dropped after its runtime is gone): there it
/// is left to the process's end instead.
struct Pool(Option<AsyncSmtpTransport<Tokio1Executor>>);

impl Drop for Pool {
    fn drop(&mut self) {
        if let Some(transport) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_err() {
                std::mem::forget(transport);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::notice;
    use super::*;
    use std::time::Duration;

    fn server() -> EmailServer {
        EmailServer {
            host: "smtp.example.com".into(),
            port: 587,
            tls: SmtpTls::StartTls,
            from: "Warroom <warroom@example.com>".into(),
            username: None,
            password: None,
            ca_file: None,
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn subject_and_body_carry_the_incident_and_the_link_on_their_own_lines() {
        let mut notice = notice();
        notice.title = "Database down\r\nBcc: everyone@example.com".into();
        assert_eq!(
            subject(&notice),
            "[warroom] INC-7 sev1: Database down Bcc: everyone@example.com"
        );
        let body = body(&notice);
        assert!(body.starts_with(&notice.summary), "{body}");
        assert!(
            body.contains("Acknowledge: https://warroom.example/ack/abc\n"),
            "{body}"
        );
        assert!(body.contains("works once"), "{body}");
        assert!(!body.contains("down\r\n"), "{body}");
    }

    #[test]
    fn settings_that_cannot_work_are_refused_with_the_setting_named() {
        let mut bad_from = server();
        bad_from.from = "not an address".into();
        let err = Mailer::new(bad_from).unwrap_err().to_string();
        assert!(err.contains("[notifications.email] from"), "{err}");

        let mut plain_remote = server();
        plain_remote.tls = SmtpTls::None;
        let err = Mailer::new(plain_remote).unwrap_err().to_string();
        assert!(err.contains("only for a relay on loopback"), "{err}");
        let mut plain_local = server();
        plain_local.tls = SmtpTls::None;
        plain_local.host = "127.0.0.1".into();
        assert!(Mailer::new(plain_local).is_ok());

        let mut half_login = server();
        half_login.username = Some("warroom".into());
        let err = Mailer::new(half_login).unwrap_err().to_string();
        assert!(err.contains("password is not"), "{err}");
    }

    #[test]
    fn a_ca_file_that_is_missing_or_not_pem_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut missing = server();
        missing.ca_file = Some(dir.path().join("nope.pem"));
        let err = format!("{:#}", Mailer::new(missing).unwrap_err());
        assert!(err.contains("[notifications.email] ca_file"), "{err}");
        assert!(err.contains("nope.pem"), "{err}");

        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "hello, I am not a certificate\n").unwrap();
        let mut garbage = server();
        garbage.ca_file = Some(not_pem.clone());
        let err = format!("{:#}", Mailer::new(garbage).unwrap_err());
        assert!(err.contains("no PEM certificate"), "{err}");

        std::fs::write(
            &not_pem,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let mut broken = server();
        broken.ca_file = Some(not_pem);
        let err = format!("{:#}", Mailer::new(broken).unwrap_err());
        assert!(err.contains("[notifications.email]"), "{err}");
    }

    #[test]
    fn a_mailer_dropped_outside_a_runtime_does_not_panic() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let mailer = Mailer::new(server()).unwrap();
        // Make the pool inside the runtime, as a send would, then drop it outside one.
        runtime.block_on(async {
            mailer.transport();
        });
        drop(runtime);
        drop(mailer);
    }
}
