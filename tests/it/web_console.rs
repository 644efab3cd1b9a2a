//! The web console in a real browser: Debian's headless Chromium, driven through chromedriver
//! by fantoccini, against `warroom serve` in this process and a local fake of Discord's
//! OAuth2 endpoints. Skips when `WARROOM_TEST_CHROMEDRIVER` is unset; `.ci/run` installs
//! Debian's `chromium` and `chromium-driver` and sets it (to chromedriver's path), and then a
//! browser that cannot start fails the test. Screenshots of each page are written under
//! `target/web-console/`.

use crate::common::{fresh_sqlite_url, serve_app, TestApp};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warroom::app::{Caller, Input, InputKind};
use warroom::config::{Settings, WebDiscord, WebSettings};
use warroom::domain::access::Access;
use warroom::secret::Secret;
use wiremock::matchers::{body_string_contains, header_exists, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const GUILD: u64 = 4242;
const RESPONDER_ROLE: u64 = 77;
const RILEY: u64 = 1001;
const AGENT_TOKEN: &str = "app-agent-token";

/// chromedriver on a free port, stopped with the test.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session, with its chromedriver.
struct Browser {
    client: Client,
    _driver: Driver,
}

impl Browser {
    /// The browser, or `None` (and a note) when this run has none.
    async fn start() -> Option<Browser> {
        let Some(chromedriver) = std::env::var_os("WARROOM_TEST_CHROMEDRIVER") else {
            eprintln!("skipped: WARROOM_TEST_CHROMEDRIVER is unset; install chromium and chromium-driver and set it to /usr/bin/chromedriver (.ci/run does)");
            return None;
        };
        Some(Browser::with(chromedriver).await)
    }

    async fn with(chromedriver: std::ffi::OsString) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {chromedriver:?} (WARROOM_TEST_CHROMEDRIVER): {e}")
            });
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let ready = Instant::now();
        loop {
            let up = reqwest::get(format!("{}/status", driver.url)).await;
            if up.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                ready.elapsed() < Duration::from_secs(20),
                "chromedriver did not answer within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1280,1000"],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a Chromium session starts");
        Browser {
            client,
            _driver: driver,
        }
    }

    /// Runs `script` (a function body taking `arguments`) in the page.
    async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap()
    }

    /// Waits until `script` returns true, up to `within`; the time it took.
    async fn until(
        &self,
        within: Duration,
        what: &str,
        script: &str,
        args: Vec<Value>,
    ) -> Duration {
        let start = Instant::now();
        loop {
            if self.run(script, args.clone()).await == json!(true) {
                return start.elapsed();
            }
            if start.elapsed() >= within {
                let seen = self
                    .run("const r = document.getElementById('reply'); const t = document.getElementById('timeline'); return [location.href, r ? r.textContent : null, t ? t.lastElementChild && t.lastElementChild.textContent : null]", vec![])
                    .await;
                panic!("not within {within:?}: {what}; the page shows (address, reply, last line) {seen}");
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }

    /// Opens `url` in the browser.
    async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Opens an incident's page at `url` and waits until its live timeline has connected.
    async fn open_live(&self, url: &str) {
        self.goto(url).await;
        self.until(
            Duration::from_secs(5),
            "the live timeline connects",
            "return document.body.classList.contains('live')",
            vec![],
        )
        .await;
    }

    /// Clicks the element `locator` finds; the test fails when there is none.
    async fn click(&self, locator: Locator<'_>) {
        let element = self
            .client
            .find(locator)
            .await
            .unwrap_or_else(|e| panic!("nothing to click: {e}"));
        element.click().await.unwrap();
    }

    async fn text_of(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// A PNG of what the browser shows, for a person to look at.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join("web-console");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn close(self) {
        self.client.close().await.unwrap();
    }
}

/// Discord's consent page, approving at once: back to the redirect URI with a code and the
/// state it was given.
struct Consent;

impl Respond for Consent {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let q: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let to = format!(
            "{}?code=c0de&state={}",
            q["redirect_uri"],
            url::form_urlencoded::byte_serialize(q["state"].as_bytes()).collect::<String>()
        );
        ResponseTemplate::new(302).insert_header("location", to.as_str())
    }
}

/// A fake of Discord's OAuth2: Riley Park (user 1001) holds the responder role in the guild.
async fn fake_discord_oauth() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/oauth2/authorize"))
        .respond_with(Consent)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v10/oauth2/token"))
        .and(body_string_contains("code=c0de"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "t0ken", "token_type": "Bearer", "scope": "identify guilds.members.read"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v10/users/@me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": RILEY.to_string(), "username": "riley", "global_name": "Riley Park"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v10/users/@me/guilds/{GUILD}/member")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"roles": [RESPONDER_ROLE.to_string()]})),
        )
        .mount(&server)
        .await;
    server
}

/// The example configuration with the console on, Discord's API at `discord_api`, and
/// Riley's Discord account mapped to @rpark.
fn settings(discord_api: &str) -> Settings {
    let mut settings = Settings::example().unwrap();
    settings.discord.api_url = discord_api.trim_end_matches('/').to_string();
    settings.discord.guild_id = Some(GUILD);
    settings.discord.default_access = Access::Viewer;
    settings.discord.role_access = [(RESPONDER_ROLE, Access::Responder)].into();
    settings.discord.users = [(RILEY, "rpark".to_string())].into();
    settings.agents = vec![warroom::config::AgentSettings {
        name: "planthost1".into(),
        token_sha256: <sha2::Sha256 as sha2::Digest>::digest(AGENT_TOKEN).into(),
        labels: [("role".to_string(), "app".to_string())].into(),
    }];
    settings.web = Some(WebSettings {
        listen: None,
        public_url: None,
        key: Secret::new("a-test-key-of-thirty-two-chars!!"),
        session_lifetime: chrono::Duration::hours(12),
        link_lifetime: chrono::Duration::minutes(15),
        default_access: Access::Viewer,
        access: Default::default(),
        discord: Some(WebDiscord {
            client_id: "31337".into(),
            client_secret: Secret::new("client-secret"),
        }),
    });
    settings
}

async fn serve(settings: Settings, url: &str) -> TestApp {
    let ledger = warroom::store::Ledger::open(url).await.unwrap();
    let warroom = warroom::app::Warroom::start(ledger, settings)
        .await
        .unwrap();
    serve_app(Arc::new(warroom), warroom::serve::Options::default()).await
}

/// What someone says in the incident's channel from chat.
fn said_in_chat(key: &str, channel: &str, from: &str, text: &str) -> Input {
    Input {
        key: key.into(),
        at: chrono::Utc::now(),
        from: from.into(),
        channel: channel.into(),
        caller: Caller::default(),
        kind: InputKind::Message {
            text: text.into(),
            message_id: Some(key.into()),
            reply_to: None,
            attachments: vec![],
        },
    }
}

/// Texts that would run a script or forge structure if the console rendered them as HTML.
const HOSTILE: &[&str] = &[
    "<script>window.pwned = 'script'</script>",
    "<img src=x onerror=\"window.pwned = 'img'\">",
    "</li></ol><h1>Forged heading</h1>",
    "# Forged heading\n## Summary\n[click](javascript:window.pwned='link')",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responder_signs_in_with_discord_and_works_an_incident_live() {
    let discord = fake_discord_oauth().await;
    let (_dir, url) = fresh_sqlite_url();
    let app = serve(settings(&discord.uri()), &url).await;
    let opened = app
        .warroom
        .handle(crate::common::console_line(
            "open",
            "svega",
            "/incident open title:\"Application outage\" severity:sev1",
        ))
        .await
        .unwrap();
    let number = opened.incident.expect("an incident opened");
    let channel = app.warroom.incident(number).await.unwrap().unwrap().channel;
    for (i, text) in HOSTILE.iter().enumerate() {
        app.warroom
            .handle(said_in_chat(
                &format!("hostile-{i}"),
                &channel,
                "mallory<b>",
                text,
            ))
            .await
            .unwrap();
    }

    let Some(browser) = Browser::start().await else {
        return;
    };
    // Signed out, a page sends the person to sign in, and back afterwards.
    browser
        .goto(&format!("{}/incidents/{}", app.base, number.0))
        .await;
    assert!(browser
        .client
        .current_url()
        .await
        .unwrap()
        .path()
        .starts_with("/signin"));
    browser.screenshot("signin").await;
    browser
        .click(Locator::LinkText("Sign in with Discord"))
        .await;
    browser
        .until(
            Duration::from_secs(10),
            "the incident page after signing in with Discord",
            "return document.querySelector('#timeline') !== null",
            vec![],
        )
        .await;
    assert_eq!(
        browser.client.current_url().await.unwrap().path(),
        format!("/incidents/{}", number.0)
    );
    assert_eq!(browser.text_of("header .who").await, "rpark");
    assert_eq!(browser.text_of("header .role").await, "responder");

    // The incidents list shows it open, with its severity.
    browser.goto(&format!("{}/incidents", app.base)).await;
    let row = browser.text_of("table.incidents tbody tr").await;
    assert!(
        row.contains("INC-1 Application outage") && row.contains("sev1"),
        "{row}"
    );
    browser.screenshot("incidents").await;
    // The search finds it by what was said in it, and not by words nobody said.
    browser
        .goto(&format!("{}/incidents?q=forged+heading", app.base))
        .await;
    assert!(browser
        .text_of("table.incidents")
        .await
        .contains("Application outage"));
    browser
        .goto(&format!("{}/incidents?q=nobody+said+this", app.base))
        .await;
    assert_eq!(browser.text_of("p.empty").await, "No incident matches.");

    browser
        .open_live(&format!("{}/incidents/{}", app.base, number.0))
        .await;
    // The hostile texts are shown as text: no script ran, no heading was forged.
    let shown = browser
        .run(
            "return Array.from(document.querySelectorAll('#timeline .k-message .said')).map(e => e.textContent)",
            vec![],
        )
        .await;
    for text in HOSTILE {
        assert!(
            shown.as_array().unwrap().contains(&json!(text)),
            "{text} not shown as said: {shown}"
        );
    }
    assert_eq!(
        browser
            .run("return window.pwned === undefined", vec![])
            .await,
        json!(true)
    );
    assert_eq!(
        browser
            .run("return document.querySelectorAll('h1').length", vec![])
            .await,
        json!(1),
        "a text forged a heading"
    );
    assert_eq!(
        browser.run("return document.querySelectorAll('#timeline img, #timeline script, #timeline a[href^=javascript]').length", vec![]).await,
        json!(0)
    );

    // Posted from the console, a message appears in the timeline within a second.
    let text = "Restarting app on planthost1, watching the health check";
    browser
        .client
        .find(Locator::Css("form.say textarea"))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
    browser.click(Locator::Css("form.say button")).await;
    let seen = "return Array.from(document.querySelectorAll('#timeline .k-message .said')).some(e => e.textContent === arguments[0])";
    let took = browser
        .until(
            Duration::from_secs(1),
            "the console's message in the timeline",
            seen,
            vec![json!(text)],
        )
        .await;
    println!("a message posted in the console showed in the timeline after {took:?}");
    let records = app.warroom.incident_records(number).await.unwrap();
    assert!(
        records.iter().any(|r| r.actor == "rpark"
            && matches!(&r.event, warroom::domain::event::Event::MessagePosted(m) if m.text == text)),
        "the console's message is in the ledger as said by rpark"
    );
    // Said in chat, a message appears within a second too.
    let from_chat = "DNS looks fine from here";
    app.warroom
        .handle(said_in_chat("from-chat", &channel, "bsparrow", from_chat))
        .await
        .unwrap();
    let took = browser
        .until(
            Duration::from_secs(1),
            "a chat message in the timeline",
            seen,
            vec![json!(from_chat)],
        )
        .await;
    println!("a message said in chat showed in the timeline after {took:?}");
    // Edited in chat, then deleted: the edit shows before and after, the delete a marker,
    // and the message line is marked for both, live.
    let edit = |kind: InputKind| Input {
        kind,
        ..said_in_chat("edit-key", &channel, "bsparrow", "")
    };
    app.warroom
        .handle(Input {
            key: "from-chat-edit".into(),
            ..edit(InputKind::Edit {
                message_id: "from-chat".into(),
                text: "DNS looks broken from here".into(),
                found_at: None,
            })
        })
        .await
        .unwrap();
    browser
        .until(
            Duration::from_secs(1),
            "the edit with its before and after",
            "const l = document.querySelector('#timeline li.k-edit'); return l !== null && l.querySelector('del').textContent === 'DNS looks fine from here' && l.querySelector('ins').textContent === 'DNS looks broken from here' && document.querySelector('#timeline li.k-message.edited') !== null",
            vec![],
        )
        .await;
    app.warroom
        .handle(Input {
            key: "from-chat-delete".into(),
            ..edit(InputKind::Delete {
                message_id: "from-chat".into(),
                found_at: None,
            })
        })
        .await
        .unwrap();
    browser
        .until(
            Duration::from_secs(1),
            "the delete as a marker, the message struck",
            "return document.querySelector('#timeline li.k-delete') !== null && document.querySelector('#timeline li.k-message.deleted') !== null",
            vec![],
        )
        .await;

    // Acknowledging from the page records the acknowledgement as rpark, and it shows.
    browser
        .click(Locator::XPath("//button[text()='Acknowledge']"))
        .await;
    browser
        .until(
            Duration::from_secs(5),
            "the acknowledgement in the timeline",
            "return document.querySelector('#timeline .k-ack, #timeline li[class*=ack]') !== null || Array.from(document.querySelectorAll('#timeline li')).some(l => /acknowledged/i.test(l.textContent))",
            vec![],
        )
        .await;
    let records = app.warroom.incident_records(number).await.unwrap();
    assert!(
        records.iter().any(|r| r.actor == "rpark"
            && matches!(&r.event, warroom::domain::event::Event::Acknowledged { .. })),
        "the acknowledgement is in the ledger"
    );
    let reply = browser.text_of("#reply").await;
    assert!(!reply.is_empty(), "the page shows warroom's reply");
    // The state block follows: the incident shows as acknowledged without a reload.
    browser
        .until(
            Duration::from_secs(3),
            "the state block says acknowledged",
            "return /after/.test(document.querySelector('#state').textContent)",
            vec![],
        )
        .await;
    browser.screenshot("incident").await;

    // The post-mortem page: rendered from the model, hostile texts inert, each citation a
    // link to its event's line in the timeline; the downloads are the command's documents.
    browser.click(Locator::LinkText("Post-mortem draft")).await;
    browser
        .until(
            Duration::from_secs(5),
            "the post-mortem page",
            "return document.querySelector('article.postmortem') !== null",
            vec![],
        )
        .await;
    assert_eq!(
        browser.text_of("article.postmortem h1").await,
        "Application outage"
    );
    assert_eq!(
        browser
            .run(
                "return window.pwned === undefined && document.querySelectorAll('h1').length === 1",
                vec![]
            )
            .await,
        json!(true)
    );
    browser.screenshot("postmortem").await;
    let downloads = browser
        .client
        .execute_async(
            "const done = arguments[0];
             Promise.all([fetch(location.pathname + '.md').then(r => r.text()),
                          fetch(location.pathname + '.json').then(r => r.json())])
               .then(([md, json]) => done([md.split('\\n')[0], json.id]), e => done(String(e)));",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        downloads[0]
            .as_str()
            .unwrap()
            .starts_with("# Application outage"),
        "{downloads}"
    );
    assert_eq!(downloads[1], json!(format!("INC-{}", number.0)));
    let cited = browser
        .run("const a = document.querySelector('ol.pm-timeline a.cite'); const to = a.getAttribute('href'); a.click(); return to", vec![])
        .await;
    let cited = cited.as_str().unwrap().to_string();
    let (_, anchor) = cited.split_once('#').unwrap();
    browser
        .until(
            Duration::from_secs(5),
            "the cited line, targeted in the timeline",
            "const t = document.querySelector(':target'); return t !== null && t.id === arguments[0] && t.closest('#timeline') !== null",
            vec![json!(anchor)],
        )
        .await;
    browser.screenshot("citation").await;

    // A runbook from the Command box: warroom asks its requester to confirm, the run's line
    // offers the button, and once confirmed the run waits for an agent.
    browser
        .open_live(&format!("{}/incidents/{}", app.base, number.0))
        .await;
    browser
        .client
        .find(Locator::Css("input[name=command]"))
        .await
        .unwrap()
        .send_keys("/restart app")
        .await
        .unwrap();
    browser
        .click(Locator::XPath("//button[text()='Run']"))
        .await;
    browser
        .until(
            Duration::from_secs(5),
            "the Confirm button under the run's line",
            "return document.querySelector('#timeline .run-buttons button') !== null",
            vec![],
        )
        .await;
    assert!(browser
        .text_of("#reply")
        .await
        .to_lowercase()
        .contains("confirm"));
    browser
        .click(Locator::Css("#timeline .run-buttons button"))
        .await;
    browser
        .until(Duration::from_secs(5), "the confirmation in the timeline", "return document.querySelector('#timeline .run-buttons') === null && Array.from(document.querySelectorAll('#timeline li')).some(l => /confirmed/i.test(l.textContent))", vec![])
        .await;
    // An agent asks for work, and a deploy is recorded: the runs page shows both.
    let polled = reqwest::Client::new()
        .post(format!("{}/v1/agent/poll", app.base))
        .bearer_auth(AGENT_TOKEN)
        .json(&json!({"runbooks": ["failover-dns"], "wait_seconds": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(polled.status(), 204);
    app.warroom
        .handle(crate::common::console_line(
            "deploy",
            "svega",
            "/deploy record service:app env:production version:2.4.1",
        ))
        .await
        .unwrap();

    // On call, runs and ledger: each page shows what the ledger and the configuration say.
    browser.goto(&format!("{}/oncall", app.base)).await;
    assert_eq!(browser.text_of("section.schedule h2").await, "ops");
    assert!(browser
        .text_of("section.schedule p.now")
        .await
        .contains("on call"));
    assert!(
        browser
            .run(
                "return document.querySelectorAll('table.spans tbody tr').length >= 1",
                vec![]
            )
            .await
            == json!(true)
    );
    browser.screenshot("oncall").await;
    browser.goto(&format!("{}/runs", app.base)).await;
    assert!(browser.text_of("main").await.contains("Latest deploys"));
    browser.screenshot("runs").await;
    browser.goto(&format!("{}/ledger", app.base)).await;
    let head = app.warroom.ledger().head().await.unwrap();
    assert!(
        browser
            .text_of("dl.state")
            .await
            .contains(&format!("Head position\n{head}")),
        "{}",
        browser.text_of("dl.state").await
    );
    assert_eq!(
        browser
            .run(
                "return document.querySelector('form.verify') === null",
                vec![]
            )
            .await,
        json!(true),
        "a responder is not offered the verify"
    );
    browser.screenshot("ledger").await;

    // Signing out ends the session: the next page asks to sign in again.
    browser.click(Locator::Css("form.signout button")).await;
    browser
        .until(
            Duration::from_secs(5),
            "the sign-in page",
            "return location.pathname === '/signin'",
            vec![],
        )
        .await;
    browser.goto(&format!("{}/incidents", app.base)).await;
    assert!(browser
        .client
        .current_url()
        .await
        .unwrap()
        .path()
        .starts_with("/signin"));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_signed_in_by_link_reads_but_is_refused_every_action() {
    let (_dir, url) = fresh_sqlite_url();
    let mut settings = settings("http://127.0.0.1:9");
    if let Some(web) = &mut settings.web {
        web.discord = None;
        web.access = [("svega".to_string(), Access::Sre)].into();
    }
    let link = warroom::web::sign_in_link(&settings, "@bsparrow", chrono::Utc::now()).unwrap();
    let app = serve(settings, &url).await;
    app.warroom
        .handle(crate::common::console_line(
            "open",
            "svega",
            "/incident open title:\"Database latency\" severity:sev2",
        ))
        .await
        .unwrap();
    let (_, token_part) = link.split_once("/signin/link").unwrap();
    let link = format!("{}/signin/link{token_part}", app.base);

    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.goto(&link).await;
    assert_eq!(
        browser.client.current_url().await.unwrap().path(),
        "/incidents"
    );
    assert_eq!(browser.text_of("header .who").await, "bsparrow");
    assert_eq!(browser.text_of("header .role").await, "viewer");
    browser.goto(&format!("{}/incidents/1", app.base)).await;
    // A viewer gets no forms, and warroom refuses what a forged form would ask.
    assert_eq!(
        browser
            .run(
                "return document.querySelectorAll('form.act').length",
                vec![]
            )
            .await,
        json!(0)
    );
    browser.screenshot("incident-viewer").await;
    let post = r#"
        const done = arguments[arguments.length - 1];
        const csrf = document.querySelector('form.signout input[name=csrf]').value;
        const send = (where, fields) => fetch(where, {
            method: 'POST', headers: { Accept: 'application/json' },
            body: new URLSearchParams(Object.assign({ csrf: csrf, nonce: '' }, fields)),
        }).then(async r => ({ status: r.status, body: await r.json() }));
        Promise.all([
            send('/incidents/1/act', { action: 'ack' }),
            send('/incidents/1/say', { action: 'say', text: 'let me in' }),
            fetch('/incidents/1/act', { method: 'POST', headers: { Accept: 'application/json' },
                body: new URLSearchParams({ action: 'ack' }) }).then(r => ({ status: r.status })),
        ]).then(done, e => done(String(e)));
    "#;
    let answers = browser.client.execute_async(post, vec![]).await.unwrap();
    assert_eq!(answers[0]["status"], json!(422), "{answers}");
    assert!(
        answers[0]["body"]["reply"]
            .as_str()
            .unwrap()
            .contains("needs the responder role"),
        "{answers}"
    );
    assert_eq!(answers[1]["status"], json!(403), "{answers}");
    assert_eq!(
        answers[2]["status"],
        json!(403),
        "a form without the session's token: {answers}"
    );
    let records = app
        .warroom
        .incident_records(warroom::domain::types::IncidentNumber(1))
        .await
        .unwrap();
    assert!(
        records.iter().all(|r| r.actor != "bsparrow"
            || matches!(
                &r.event,
                warroom::domain::event::Event::CommandRejected { .. }
            )),
        "the viewer changed nothing"
    );
    // An SRE signed in by link verifies the ledger from the console.
    let sre_link =
        warroom::web::sign_in_link(app.warroom.settings(), "@svega", chrono::Utc::now()).unwrap();
    let (_, token_part) = sre_link.split_once("/signin/link").unwrap();
    browser.client.delete_all_cookies().await.unwrap();
    browser
        .goto(&format!("{}/signin/link{token_part}", app.base))
        .await;
    assert_eq!(browser.text_of("header .role").await, "sre");
    browser.goto(&format!("{}/ledger", app.base)).await;
    browser.click(Locator::Css("form.verify button")).await;
    let start = Instant::now();
    loop {
        browser.goto(&format!("{}/ledger", app.base)).await;
        if let Ok(result) = browser.client.find(Locator::Css("p.verify")).await {
            let said = result.text().await.unwrap();
            assert!(said.starts_with("Intact: ledger intact"), "{said}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the verify did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.screenshot("ledger-verified").await;

    // The link signs in once.
    browser.client.delete_all_cookies().await.unwrap();
    browser.goto(&link).await;
    assert!(browser
        .text_of("section.refusal")
        .await
        .contains("used already"));
    browser.close().await;
}

#[test]
fn web_link_prints_a_sign_in_link_for_a_contact_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("warroom.toml");
    std::fs::write(
        &config,
        format!(
            "[web]\npublic_url = \"https://warroom.example.com\"\nsecret_env = \"WARROOM_WEB_KEY\"\n{}",
            crate::common::PEOPLE
        ),
    )
    .unwrap();
    let run = |handle: &str| {
        Command::new(env!("CARGO_BIN_EXE_warroom"))
            .args(["web-link", handle, "--config"])
            .arg(&config)
            .env("WARROOM_WEB_KEY", "a-test-key-of-thirty-two-chars!!")
            .env_remove("WARROOM_CONFIG")
            .output()
            .unwrap()
    };
    let out = run("@rpark");
    let printed = crate::common::text(&out.stdout);
    assert!(out.status.success(), "{}", crate::common::text(&out.stderr));
    assert!(
        printed.starts_with("https://warroom.example.com/signin/link?token="),
        "{printed}"
    );
    let out = run("@nobody");
    assert!(!out.status.success());
    assert!(
        crate::common::text(&out.stderr).contains("'@nobody' is not a contact's handle"),
        "{}",
        crate::common::text(&out.stderr)
    );
}

#[tokio::test]
async fn the_console_can_have_a_port_of_its_own_and_guards_every_answer() {
    let (_dir, url) = fresh_sqlite_url();
    let mut settings = settings("http://127.0.0.1:9");
    if let Some(web) = &mut settings.web {
        web.listen = Some("127.0.0.1:0".parse().unwrap());
    }
    let app = serve(settings, &url).await;
    let web = format!(
        "http://{}",
        app.running
            .web_addr
            .expect("the console listens on a port of its own")
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signin = client.get(format!("{web}/signin")).send().await.unwrap();
    assert_eq!(signin.status(), 200);
    let headers = signin.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    let page = signin.text().await.unwrap();
    assert!(!page.contains("<script>") && page.contains("<script src=\"/assets/console.js\""));
    assert!(!page.contains("a-test-key") && !page.contains("client-secret"));
    // Signed out, a page sends the browser to sign in and back.
    let incidents = client
        .get(format!("{web}/incidents/3"))
        .send()
        .await
        .unwrap();
    assert_eq!(incidents.status(), 303);
    assert_eq!(
        incidents.headers()["location"],
        "/signin?next=%2Fincidents%2F3"
    );
    // A forged or altered session cookie is no session.
    let forged = client
        .get(format!("{web}/incidents"))
        .header(
            "cookie",
            "warroom_session=eyJ3aG8iOnsiYnkiOiJsaW5rIn19.AAAA",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 303);
    // The console is not on the doors' port, and the doors are not on the console's.
    let on_doors = client
        .get(format!("{}/signin", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(on_doors.status(), 404);
    let health = client.get(format!("{web}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 404);
    app.running.stop().await;
}
