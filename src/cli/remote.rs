//! The command line as a client of a running `warroom serve`: `warroom healthcheck` and
//! `warroom replay --server`. The only outbound HTTP of the command line.

use anyhow::{bail, Context};

/// `warroom healthcheck`: one GET with a short timeout. Anything but a 2xx — a refused
/// connection, a timeout, a 503 — is unhealthy, and says why on one line.
pub async fn healthcheck(url: &str) -> anyhow::Result<i32> {
    let client = reqwest::Client::builder()
        // Below Docker's default 30 s health-check timeout, so ours reports first.
        .timeout(std::time::Duration::from_secs(5))
        // A redirect would make some other address answer for this one.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot build the HTTP client")?;
    match client.get(url).send().await {
        Ok(response) if response.status().is_success() => {
            println!("{url}: {}", response.status());
            Ok(0)
        }
        Ok(response) => {
            println!("{url}: unhealthy: {}", response.status());
            Ok(1)
        }
        Err(e) => {
            println!("{url}: unhealthy: no answer ({e})");
            Ok(1)
        }
    }
}

/// `warroom replay FILE --server URL`: the lines go to the server's HTTP console, the
/// replies come back.
pub async fn replay_on_server(
    server: &str,
    text: &str,
    identity: &str,
    quiet: bool,
) -> anyhow::Result<i32> {
    let token = std::env::var("WARROOM_CONSOLE_TOKEN").map_err(|_| {
        anyhow::anyhow!("set WARROOM_CONSOLE_TOKEN to the console token of {server} (its SHA-256 is http.console_token_sha256 there)")
    })?;
    let url = format!("{}/v1/console", server.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .query(&[("identity", identity)])
        .bearer_auth(token.trim())
        .body(text.to_string())
        .send()
        .await
        .with_context(|| format!("cannot reach {url}; is warroom serve running there?"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!(
            "{url} answered {status}: {}",
            body["error"].as_str().unwrap_or("no reason given")
        );
    }
    if !quiet {
        for reply in body["replies"].as_array().into_iter().flatten() {
            if let Some(text) = reply["reply"].as_str() {
                println!("line {}: {text}", reply["line"]);
            }
        }
    }
    eprintln!(
        "sent {} lines to {server}: {} events recorded",
        body["lines"], body["events"]
    );
    Ok(0)
}
