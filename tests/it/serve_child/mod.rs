//! `warroom serve` as a child process, the way an operator runs it: JSON logs captured to a
//! file, the address read from its "serving" line (it listens on port 0), SIGTERM to stop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct ServeChild {
    child: Child,
    /// `127.0.0.1:PORT`, as the server logged it.
    pub addr: String,
    /// Its standard error: the JSON log lines.
    pub log: PathBuf,
}

/// Starts `warroom serve --db DB --listen 127.0.0.1:0 --log-format json` with `args` and
/// `envs` added, and waits until it says where it listens.
pub fn spawn(db: &str, args: &[&str], envs: &[(&str, &str)], log: &Path) -> ServeChild {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warroom"));
    command
        .args(["serve", "--db", db])
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .env_remove("WARROOM_CONFIG")
        .env_remove("WARROOM_DISCORD_TOKEN")
        .env_remove("WARROOM_LISTEN")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("a log file"));
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("warroom serve starts");
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = text.lines().find_map(listen_address) {
            return ServeChild {
                child,
                addr,
                log: log.to_path_buf(),
            };
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("warroom serve exited ({status}) before listening:\n{text}");
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("warroom serve did not say where it listens within 60 s:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `listen` field of the "serving" log line.
fn listen_address(line: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    value["fields"]["listen"].as_str().map(str::to_string)
}

impl ServeChild {
    /// Posts transcript `lines` to the console with `token`; with `identity`, a resend of the
    /// same lines is a no-op.
    pub async fn console(
        &self,
        http: &reqwest::Client,
        token: &str,
        identity: Option<&str>,
        lines: &str,
    ) -> reqwest::Response {
        let path = match identity {
            Some(identity) => format!("/v1/console?identity={identity}"),
            None => "/v1/console".to_string(),
        };
        http.post(self.url(&path))
            .bearer_auth(token)
            .body(lines.to_string())
            .send()
            .await
            .expect("the console answers")
    }

    /// The `/metrics` exposition as text (with `token` when the server asks for one).
    pub async fn metrics(&self, http: &reqwest::Client, token: Option<&str>) -> String {
        let mut request = http.get(self.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
            .send()
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("/metrics is text")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends SIGTERM and waits for the exit, at most `limit`.
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM could not be sent");
        self.wait(limit)
    }

    /// Sends SIGKILL (no goodbye: the process gets no chance to flush or finish anything)
    /// and reaps it.
    pub fn kill(&mut self) -> ExitStatus {
        self.child.kill().expect("SIGKILL could not be sent");
        self.child.wait().expect("the killed server is reaped")
    }

    /// Waits for the exit, at most `limit`; kills it and fails past that.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "warroom serve did not exit within {limit:?}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Posts one firing alert `name` (fingerprint `fp-N`) to the Alertmanager door of the
/// server at `base` (`http://127.0.0.1:PORT`) with a bearer `token`; the status, or 0 when
/// no answer came.
pub async fn post_alertmanager(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    n: usize,
) -> u16 {
    let body = alertmanager_body(name, &[format!("fp-{n}")]);
    match http
        .post(format!("{base}/v1/alerts/alertmanager"))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
    {
        Ok(answer) => answer.status().as_u16(),
        Err(_) => 0,
    }
}

/// An Alertmanager webhook body with one firing alert per fingerprint.
pub fn alertmanager_body(name: &str, fingerprints: &[String]) -> Vec<u8> {
    let alerts: Vec<serde_json::Value> = fingerprints
        .iter()
        .map(|f| {
            serde_json::json!({
                "status": "firing",
                "labels": {"alertname": name, "instance": f},
                "annotations": {"summary": format!("{name} on {f}")},
                "startsAt": "2030-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": f,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "version": "4", "status": "firing", "receiver": "warroom", "groupKey": "{}",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.test", "alerts": alerts,
    }))
    .expect("JSON")
}
