//! Email through a real SMTP server: aiosmtpd on loopback with STARTTLS required and a
//! certificate from a throwaway CA, delivering into a Maildir (`.ci/smtp-server start DIR`
//! starts it and prints the variables below). Skips when `WARROOM_TEST_SMTP` is unset; CI
//! sets it, and then a server that cannot be reached fails the test.

use std::path::{Path, PathBuf};
use std::time::Duration;
use warroom::notify::reach::{Address, Attempt, EmailServer, Notice, Providers, Reacher, SmtpTls};

/// The running server, from the variables `.ci/smtp-server start` prints.
pub(crate) struct Smtp {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) ca: PathBuf,
    pub(crate) maildir: PathBuf,
}

pub(crate) fn smtp() -> Option<Smtp> {
    let address = std::env::var("WARROOM_TEST_SMTP").ok()?;
    let (host, port) = address
        .rsplit_once(':')
        .expect("WARROOM_TEST_SMTP is host:port, e.g. 127.0.0.1:2525");
    let var = |name: &str| {
        PathBuf::from(std::env::var(name).unwrap_or_else(|_| {
            panic!("WARROOM_TEST_SMTP is set, so {name} must be too (.ci/smtp-server prints both)")
        }))
    };
    Some(Smtp {
        host: host.to_string(),
        port: port.parse().expect("WARROOM_TEST_SMTP's port is a number"),
        ca: var("WARROOM_TEST_SMTP_CA"),
        maildir: var("WARROOM_TEST_SMTP_MAILDIR"),
    })
}

fn server(smtp: &Smtp, tls: SmtpTls, ca_file: Option<PathBuf>) -> EmailServer {
    EmailServer {
        host: smtp.host.clone(),
        port: smtp.port,
        tls,
        from: "Warroom <warroom@example.com>".into(),
        username: None,
        password: None,
        ca_file,
        timeout: Duration::from_secs(10),
    }
}

fn reacher(email: EmailServer) -> Reacher {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Reacher::new(
        client,
        Providers {
            email: Some(email),
            ..Providers::default()
        },
    )
    .unwrap()
}

fn notice(title: &str) -> Notice {
    Notice {
        incident: "INC-7".into(),
        title: title.into(),
        severity: "sev1".into(),
        summary: format!("INC-7 sev1 {title}: you are paged (step 1 of 'all-points-of-contact')"),
        ack_url: Some("https://warroom.example/ack/INC-7?token=abc.def&step=1".into()),
        voice_ack_url: None,
    }
}

/// The message in the Maildir whose Message-ID is `id`.
pub(crate) fn delivered(maildir: &Path, id: &str) -> Option<String> {
    let new = std::fs::read_dir(maildir.join("new")).ok()?;
    new.filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
        .find(|text| {
            text.lines().any(|line| {
                line.to_ascii_lowercase().starts_with("message-id:") && line.contains(id)
            })
        })
}

/// The value of header `name` (first occurrence, unfolded).
fn header(message: &str, name: &str) -> Option<String> {
    let head = message
        .split("\n\n")
        .next()?
        .replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ");
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

/// The body, decoded from quoted-printable when the message says it is.
fn body(message: &str) -> String {
    let message = message.replace("\r\n", "\n");
    let (_, raw) = message.split_once("\n\n").unwrap_or(("", ""));
    let qp = header(&message, "Content-Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("quoted-printable"));
    if !qp {
        return raw.to_string();
    }
    let raw = raw.replace("=\n", "");
    let mut out = Vec::new();
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn an_email_over_starttls_arrives_with_the_subject_the_ack_link_and_the_addresses() {
    let Some(smtp) = smtp() else {
        eprintln!("skipped: WARROOM_TEST_SMTP is unset; start a server with .ci/smtp-server start DIR and eval its output");
        return;
    };
    let reacher = reacher(server(&smtp, SmtpTls::StartTls, Some(smtp.ca.clone())));
    let title = format!("Database down {}", uuid::Uuid::new_v4().simple());
    let sent = reacher
        .send(&Address::Email("alice@example.com".into()), &notice(&title))
        .await;
    assert_eq!(sent.attempt, Attempt::Delivered { status: 250 }, "{sent:?}");
    let id = sent.provider_ref.expect("the Message-ID of the email sent");
    assert!(id.starts_with('<') && id.ends_with("@example.com>"), "{id}");

    let message = delivered(&smtp.maildir, &id).unwrap_or_else(|| {
        panic!(
            "no message with Message-ID {id} in {}",
            smtp.maildir.display()
        )
    });
    assert_eq!(
        header(&message, "Subject").as_deref(),
        Some(format!("[warroom] INC-7 sev1: {title}").as_str()),
        "{message}"
    );
    assert_eq!(
        header(&message, "From").as_deref(),
        Some("Warroom <warroom@example.com>"),
        "{message}"
    );
    assert_eq!(
        header(&message, "To").as_deref(),
        Some("alice@example.com"),
        "{message}"
    );
    // The envelope, as aiosmtpd recorded it.
    assert_eq!(
        header(&message, "X-MailFrom").as_deref(),
        Some("warroom@example.com"),
        "{message}"
    );
    assert_eq!(
        header(&message, "X-RcptTo").as_deref(),
        Some("alice@example.com"),
        "{message}"
    );
    let text = body(&message);
    assert!(
        text.contains("Acknowledge: https://warroom.example/ack/INC-7?token=abc.def&step=1\n"),
        "{text}"
    );
    assert!(text.contains("works once"), "{text}");
    assert!(text.contains(&format!("Title: {title}")), "{text}");

    // A second email goes through the same pool.
    let again = reacher
        .send(&Address::Email("bob@example.com".into()), &notice(&title))
        .await;
    assert_eq!(again.attempt, Attempt::Delivered { status: 250 });
    assert_ne!(again.provider_ref.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn no_tls_against_a_server_requiring_starttls_is_refused_saying_so() {
    let Some(smtp) = smtp() else {
        eprintln!("skipped: WARROOM_TEST_SMTP is unset; start a server with .ci/smtp-server start DIR and eval its output");
        return;
    };
    let sent = reacher(server(&smtp, SmtpTls::None, None))
        .send(
            &Address::Email("alice@example.com".into()),
            &notice("Plaintext attempt"),
        )
        .await;
    assert_eq!(sent.provider_ref, None);
    match sent.attempt {
        Attempt::Refused { status, error } => {
            assert_eq!(status, 530, "{error}");
            assert!(error.contains("STARTTLS"), "{error}");
            assert!(error.contains("tls = \"starttls\""), "{error}");
        }
        other => panic!("expected refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_fails_and_says_where_to_name_the_ca() {
    let Some(smtp) = smtp() else {
        eprintln!("skipped: WARROOM_TEST_SMTP is unset; start a server with .ci/smtp-server start DIR and eval its output");
        return;
    };
    let sent = reacher(server(&smtp, SmtpTls::StartTls, None))
        .send(
            &Address::Email("alice@example.com".into()),
            &notice("Untrusted"),
        )
        .await;
    assert_eq!(sent.provider_ref, None);
    match sent.attempt {
        Attempt::Retryable {
            status: None,
            error,
            ..
        } => {
            assert!(error.contains("TLS with SMTP server"), "{error}");
            assert!(error.contains("ca_file"), "{error}");
        }
        other => panic!("expected retryable, got {other:?}"),
    }
}
