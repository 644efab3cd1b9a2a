//! Fetching a schedule layer's calendar from its URL (a Google Calendar secret address, a
//! Grafana OnCall export): bounded in time and size, redirects followed only to `https`, and
//! errors that never carry the URL, which may itself be the secret.

use super::outcome::describe_error;
use crate::small_file::SMALL_FILE_CAP;
use std::time::Duration;

/// How long one fetch may take, connection to last byte.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// The most redirects a fetch follows.
const MAX_REDIRECTS: usize = 3;

/// The largest calendar taken: the same cap as a calendar file, as its text is recorded.
pub const MAX_CALENDAR_BYTES: u64 = SMALL_FILE_CAP;

/// Fetches calendars, sharing one HTTP client (its connections and TLS sessions).
#[derive(Clone)]
pub struct CalendarFetcher {
    client: reqwest::Client,
}

impl Default for CalendarFetcher {
    fn default() -> CalendarFetcher {
        CalendarFetcher { client: client() }
    }
}

impl CalendarFetcher {
    /// The calendar at `url`, as text; the error says what went wrong, without the URL.
    pub async fn fetch(&self, url: &str) -> Result<String, String> {
        fetch(&self.client, url).await
    }
}

/// The client calendar fetches share.
fn client() -> reqwest::Client {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else if attempt.url().scheme() != "https" {
            attempt.error("a redirect away from https is not followed")
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(redirects)
        .user_agent(concat!("warroom/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client without custom TLS always builds")
}

/// The calendar at `url`, as text; the error says what went wrong, without the URL.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "text/calendar, */*;q=0.5")
        .send()
        .await
        .map_err(|e| describe_error(e, FETCH_TIMEOUT))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("the server answered {status}"));
    }
    let too_big = || {
        format!(
            "the calendar is larger than {} KiB; export a shorter window",
            MAX_CALENDAR_BYTES / 1024
        )
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_CALENDAR_BYTES)
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| describe_error(e, FETCH_TIMEOUT))?
    {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > MAX_CALENDAR_BYTES {
            return Err(too_big());
        }
    }
    String::from_utf8(body).map_err(|_| "the calendar is not UTF-8 text".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn a_calendar_is_fetched_and_failures_never_name_the_url() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/private-s3cr3t/basic.ics"))
            .respond_with(
                ResponseTemplate::new(200).set_body_string("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/big.ics"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_string("x".repeat(MAX_CALENDAR_BYTES as usize + 1)),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/to-http"))
            .respond_with(ResponseTemplate::new(302).insert_header(
                "location",
                format!("{}/private-s3cr3t/basic.ics", server.uri()),
            ))
            .mount(&server)
            .await;
        let client = client();
        let base = server.uri();
        assert_eq!(
            fetch(&client, &format!("{base}/private-s3cr3t/basic.ics")).await,
            Ok("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n".to_string())
        );
        let missing = fetch(&client, &format!("{base}/private-s3cr3t/gone.ics"))
            .await
            .unwrap_err();
        assert_eq!(missing, "the server answered 404 Not Found");
        let big = fetch(&client, &format!("{base}/big.ics"))
            .await
            .unwrap_err();
        assert!(big.contains("larger than 1024 KiB"), "{big}");
        // A redirect to plain http is refused (the server here is http, as tests are).
        let redirected = fetch(&client, &format!("{base}/to-http?token=s3cr3t"))
            .await
            .unwrap_err();
        assert!(redirected.contains("away from https"), "{redirected}");
        let refused = fetch(
            &client,
            "http://127.0.0.1:9/private-s3cr3t/basic.ics?token=s3cr3t",
        )
        .await
        .unwrap_err();
        for error in [&missing, &big, &redirected, &refused] {
            assert!(!error.contains("s3cr3t"), "the URL leaked: {error}");
        }
    }
}
