//! `warroom bench --parts web`: the web console's page of a long incident, served by a
//! `warroom serve` child over loopback — when the first part of the page (the head and the
//! first screen of the timeline) arrives, and when the whole page has.

use super::child::{free_port, ChildGuard};
use super::outside::Sender;
use super::{ms, write_big_incident};
use crate::config::Settings;
use crate::web::session::{self, Identity, Purpose, Session, SESSION_COOKIE};
use anyhow::Context;
use std::process::{Command, Stdio};

/// Times the page of an incident of `events` events, five times.
pub async fn run(events: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("web.db").display());
    write_big_incident(&url, events, "writing the console's incident").await?;
    let port = free_port()?;
    let config = dir.path().join("warroom.toml");
    let (cookie, config_text) = console_config(port, dir.path())?;
    std::fs::write(&config, config_text)?;
    let child = Command::new(std::env::current_exe()?)
        .args(["serve", "--db", &url, "--config"])
        .arg(&config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start warroom serve")?;
    let _server = ChildGuard(child);
    let client = Sender::new(4)?;
    let base = format!("http://127.0.0.1:{port}");
    client.wait_ready(&format!("{base}/healthz")).await?;
    let page = format!("{base}/incidents/1");
    // A first request warms the projection and the page cache, as a working server has them.
    client.time_page(&page, &cookie).await?;
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(client.time_page(&page, &cookie).await?);
    }
    runs.sort_by_key(|r| r.first_part);
    let first = &runs[2];
    println!(
        "\nweb: the console's page of a {events}-event incident (warroom serve over loopback, 5 runs)"
    );
    println!(
        "  first part (head, state, forms and the first {} timeline lines): median {}, min {}, max {}",
        first.first_part_lines,
        ms(first.first_part),
        ms(runs[0].first_part),
        ms(runs[4].first_part)
    );
    runs.sort_by_key(|r| r.whole);
    println!(
        "  whole page ({} lines, {:.1} MB): median {}, min {}, max {}",
        runs[2].lines,
        runs[2].bytes as f64 / 1e6,
        ms(runs[2].whole),
        ms(runs[0].whole),
        ms(runs[4].whole)
    );
    Ok(())
}

/// A `[web]` section over a fresh key in `dir`, and the cookie of a viewer signed in with
/// it: what the bench's reader of the console presents.
pub(super) fn console_web(dir: &std::path::Path) -> anyhow::Result<(String, String)> {
    let key = session::random_id() + &session::random_id();
    let key_file = dir.join("web.key");
    std::fs::write(&key_file, &key)?;
    let section = format!(
        "[web]\nsecret_file = \"{}\"\n",
        key_file.display().to_string().replace('\\', "/")
    );
    let settings =
        Settings::from_toml(&section, "bench", |_| None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let web = settings.web.context("the bench's [web] section")?;
    let person = Session::new(
        Identity::Link {
            handle: "bench".into(),
        },
        chrono::Utc::now(),
        &web,
    );
    let cookie = format!(
        "{SESSION_COOKIE}={}",
        session::sign(&web, Purpose::Session, &person)
    );
    Ok((cookie, section))
}

fn console_config(port: u16, dir: &std::path::Path) -> anyhow::Result<(String, String)> {
    let (cookie, web) = console_web(dir)?;
    Ok((
        cookie,
        format!("[http]\nlisten = \"127.0.0.1:{port}\"\n{web}"),
    ))
}
