//! Runbooks as an agent runs them: every branch of the seed's DNS failover against a fake
//! dnsTool, a run past its limit, redaction, and hostile parameters that are refused or
//! arrive as one inert argument, never executed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use warroom::agent::runner::{run_runbook, run_runbook_on, Report, RunClock, Site};
use warroom::config::Settings;
use warroom::domain::runbook::Runbook;

fn fakes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes")
}

fn shipped(command: &str) -> Runbook {
    Settings::example()
        .unwrap()
        .runbooks
        .into_iter()
        .find(|r| r.command_text() == command)
        .unwrap()
}

/// A site where `dnstool` is the fake, its state in `state`.
fn dns_site(state: &Path) -> Site {
    Site {
        programs: BTreeMap::from([(
            "dnstool".to_string(),
            fakes().join("dnstool").display().to_string(),
        )]),
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("FAKE_DNS".into(), state.display().to_string()),
        ],
        output_limit: 64 * 1024,
        redact: vec![regex::Regex::new(r"token=\S+").unwrap()],
        url_hosts: vec![],
    }
}

/// Runs the shipped DNS failover with the fake in the given state; returns the reports and
/// the dnsTool calls.
async fn failover(setup: &[&str]) -> (Vec<Report>, Vec<String>, String) {
    failover_from("dns1", setup).await
}

/// [`failover`] with dnsTool naming `active` as the active server.
async fn failover_from(active: &str, setup: &[&str]) -> (Vec<Report>, Vec<String>, String) {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("active"), format!("{active}\n")).unwrap();
    for flag in setup {
        std::fs::write(state.path().join(flag), "").unwrap();
    }
    let mut reports = Vec::new();
    run_runbook(
        &shipped("/failover dns"),
        &BTreeMap::new(),
        &dns_site(state.path()),
        |r| {
            reports.push(r);
            async {}
        },
    )
    .await;
    let calls = std::fs::read_to_string(state.path().join("calls"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    let active = std::fs::read_to_string(state.path().join("active"))
        .unwrap()
        .trim()
        .to_string();
    (reports, calls, active)
}

fn finished(reports: &[Report]) -> (String, String) {
    match reports.last() {
        Some(Report::Finished { outcome, message }) => (outcome.clone(), message.clone()),
        other => panic!("the run did not finish: {other:?}"),
    }
}

#[tokio::test]
async fn an_answering_active_server_is_shut_down_then_failed_over() {
    let (reports, calls, active) = failover(&[]).await;
    assert_eq!(
        calls,
        [
            "-q active_server",
            "-a shutdown -s dns1",
            "-a failover -s dns2",
            "-q active_server"
        ]
    );
    assert_eq!(active, "dns2");
    let (outcome, message) = finished(&reports);
    assert_eq!(outcome, "succeeded");
    assert_eq!(
        message,
        "dns2 is now the active DNS server (was dns1). Engage Networking to bring dns1 back as the standby."
    );
    let started: Vec<(String, Vec<String>)> = reports
        .iter()
        .filter_map(|r| match r {
            Report::StepStarted { step, args, .. } => Some((step.clone(), args.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        started[1],
        (
            "shutdown".into(),
            vec!["-a".into(), "shutdown".into(), "-s".into(), "dns1".into()]
        )
    );
}

#[tokio::test]
async fn a_failed_shutdown_fails_over_with_the_force_flag() {
    let (reports, calls, active) = failover(&["unreachable"]).await;
    assert_eq!(
        calls,
        [
            "-q active_server",
            "-a shutdown -s dns1",
            "-a failover -s dns2 -f",
            "-q active_server"
        ]
    );
    assert_eq!(active, "dns2");
    assert_eq!(finished(&reports).0, "succeeded");
    assert!(reports.iter().any(|r| matches!(r, Report::StepFinished { step, succeeded: false, exit: Some(1), .. } if step == "shutdown")));
}

#[tokio::test]
async fn a_failed_query_changes_nothing_and_says_so() {
    let (reports, calls, active) = failover(&["query-fails"]).await;
    assert_eq!(calls, ["-q active_server"]);
    assert_eq!(active, "dns1");
    let (outcome, message) = finished(&reports);
    assert_eq!(outcome, "failed");
    assert!(
        message.starts_with("dnsTool could not say which server is active; nothing was changed"),
        "{message}"
    );
}

#[tokio::test]
async fn failed_failovers_end_the_run_with_what_to_do() {
    let (reports, _, active) = failover(&["unreachable", "force-fails"]).await;
    assert_eq!(active, "dns1");
    let (outcome, message) = finished(&reports);
    assert_eq!(outcome, "failed");
    assert_eq!(message, "dns1 could not be shut down and the forced failover to dns2 failed. Engage Networking now.");
    let (reports, _, _) = failover(&["failover-fails"]).await;
    assert_eq!(
        finished(&reports).1,
        "The failover to dns2 failed after dns1 was shut down: DNS may be down. Engage Networking now."
    );
}

/// dnsTool printing an option where a server name belongs: the value is refused like a
/// parameter would be, and nothing after the query runs — neither the shutdown with it nor
/// an `on_failure` step.
#[tokio::test]
async fn a_captured_value_that_looks_like_an_option_stops_the_run() {
    let (reports, calls, _) = failover_from("--evil-flag", &[]).await;
    assert_eq!(calls, ["-q active_server"]);
    let (outcome, message) = finished(&reports);
    assert_eq!(outcome, "failed");
    assert!(
        message.contains("step ask-active: the captured active '--evil-flag' starts with '-'"),
        "{message}"
    );
    assert!(reports.iter().any(|r| matches!(r,
        Report::StepFinished { step, succeeded: false, captured, .. }
            if step == "ask-active" && !captured.contains_key("active"))));
}

fn inline(text: &str) -> Runbook {
    Runbook::parse("commands/test.toml", text).unwrap_or_else(|e| panic!("{e:?}"))
}

#[tokio::test]
async fn a_run_past_its_limit_is_stopped_and_output_is_redacted() {
    let runbook = inline(
        r#"command = "hang"
description = "d"
roles = ["sre"]
timeout_seconds = 1
[[steps]]
id = "talk"
program = "sh"
args = ["-c", "echo token=hunter2 ok; echo done"]
[[steps]]
id = "hang"
program = "sleep"
args = ["30"]
"#,
    );
    let state = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let mut reports = Vec::new();
    run_runbook(&runbook, &BTreeMap::new(), &dns_site(state.path()), |r| {
        reports.push(r);
        async {}
    })
    .await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(finished(&reports).0, "timed_out");
    let output: Vec<&String> = reports
        .iter()
        .filter_map(|r| match r {
            Report::Output { lines, .. } => Some(lines),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(output, ["[redacted] ok", "done"]);
    assert!(!format!("{reports:?}").contains("hunter2"));
}

/// 200+ hostile values: refused by a parameter's pattern, or, where a pattern allows them,
/// delivered as exactly one argument and never run.
#[tokio::test]
async fn hostile_parameters_are_refused_or_arrive_as_one_inert_argument() {
    let trap = tempfile::tempdir().unwrap();
    let pwned = trap.path().join("pwned");
    let p = pwned.display();
    let mut payloads: Vec<String> = Vec::new();
    for template in [
        "; touch {p}",
        "&& touch {p}",
        "| touch {p}",
        "$(touch {p})",
        "`touch {p}`",
        "\ntouch {p}",
        "x\ntouch {p}",
        "' ; touch {p} ; '",
        "\" ; touch {p} ; \"",
        "> {p}",
        "--force",
        "-rf /",
        "${{IFS}}touch${{IFS}}{p}",
        "$(printf touch) {p}",
        "a b c",
        "*",
        "~root",
        "../../etc/passwd",
        "\\; touch {p}",
        "%s%s%n",
    ] {
        let payload = template.replace("{p}", &p.to_string());
        for prefix in ["", "dns1", "x ", "0", " ", "\t", "é", "-", "'", "\""] {
            payloads.push(format!("{prefix}{payload}"));
        }
    }
    payloads.push("a".repeat(100_000));
    assert!(payloads.len() >= 200);

    // A real runbook's pattern refuses every one of them.
    let restart = Settings::example()
        .unwrap()
        .runbooks
        .into_iter()
        .find(|r| r.command_text() == "/restart app")
        .unwrap();
    let mut refused = 0;
    for payload in &payloads {
        let given = BTreeMap::from([("service".to_string(), payload.clone())]);
        match restart.bind(&given) {
            Err(_) => refused += 1,
            // What gets through is a plain unit name (it goes after `--` anyway).
            Ok(values) => assert!(
                values["service"]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "@._-".contains(c)),
                "accepted {payload:?}"
            ),
        }
    }
    assert!(refused > 190, "{refused} refused");
    // The build a redeploy installs: a version, never an option or a command.
    let redeploy = Settings::example()
        .unwrap()
        .runbooks
        .into_iter()
        .find(|r| r.command_text() == "/redeploy app")
        .unwrap();
    for payload in &payloads {
        let given = BTreeMap::from([("version".to_string(), payload.clone())]);
        if let Ok(values) = redeploy.bind(&given) {
            let version = &values["version"];
            assert!(!version.starts_with('-'), "accepted {payload:?}");
            assert!(
                version
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c)),
                "accepted {payload:?}"
            );
        }
    }

    // A runbook that lets anything through still runs nothing: each value is one argument.
    let open = inline(&format!(
        r#"command = "echo back"
description = "d"
roles = ["sre"]
[[params]]
name = "value"
pattern = '(?s).*'
required = true
[[steps]]
id = "echo"
program = "{}"
args = ["{{value}}"]
"#,
        fakes().join("args").display()
    ));
    let site = dns_site(trap.path());
    for payload in &payloads {
        let Ok(values) = open.bind(&BTreeMap::from([("value".to_string(), payload.clone())]))
        else {
            // Refused for starting with '-': also never run.
            assert!(payload.starts_with('-'), "refused {payload:?}");
            continue;
        };
        let mut lines = Vec::new();
        run_runbook(
            &open,
            &values,
            &Site {
                output_limit: 1 << 20,
                ..site.clone()
            },
            |r| {
                if let Report::Output { lines: l, .. } = r {
                    lines.extend(l);
                }
                async {}
            },
        )
        .await;
        let received = lines.join("\n");
        assert_eq!(
            received,
            format!("[{payload}]"),
            "the program got something else for {payload:?}"
        );
    }
    assert!(!pwned.exists(), "a payload was executed");
}

/// Runs a shipped runbook from `commands/` on the fake application host (the service
/// running build 1.0.0, `setup` flags set), with retries not waiting; returns the reports,
/// the calls the fakes saw, and the build installed afterwards.
async fn on_app_host(
    file: &str,
    given: &[(&str, &str)],
    setup: &[&str],
) -> (Vec<Report>, Vec<String>, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("commands")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("retry_delay_seconds = 3", "retry_delay_seconds = 0");
    let runbook = Runbook::parse(file, &text).unwrap();
    let given: BTreeMap<String, String> = given
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let values = runbook.bind(&given).unwrap();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("running"), "").unwrap();
    std::fs::write(host.path().join("version"), "1.0.0\n").unwrap();
    for flag in setup {
        std::fs::write(host.path().join(flag), "").unwrap();
    }
    let program = |name: &str| fakes().join(name).display().to_string();
    let site = Site {
        programs: BTreeMap::from([
            ("systemctl".to_string(), program("systemctl")),
            ("curl".to_string(), program("health")),
            ("deployctl".to_string(), program("deployctl")),
        ]),
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("FAKE_HOST".into(), host.path().display().to_string()),
        ],
        output_limit: 64 * 1024,
        redact: vec![],
        url_hosts: vec![],
    };
    let mut reports = Vec::new();
    run_runbook(&runbook, &values, &site, |r| {
        reports.push(r);
        async {}
    })
    .await;
    let calls = std::fs::read_to_string(host.path().join("calls"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    let build = std::fs::read_to_string(host.path().join("version"))
        .unwrap()
        .trim()
        .to_string();
    (reports, calls, build)
}

#[tokio::test]
async fn a_restart_stops_waits_for_down_starts_and_waits_for_healthy() {
    let (reports, calls, _) = on_app_host("restart-app.toml", &[], &[]).await;
    assert_eq!(
        calls,
        [
            "systemctl stop -- exoticplant",
            "systemctl is-active --quiet -- exoticplant",
            "systemctl start -- exoticplant",
            "health http://127.0.0.1/healthz",
        ]
    );
    let (outcome, message) = finished(&reports);
    assert_eq!(outcome, "succeeded");
    assert_eq!(
        message,
        "exoticplant restarted and http://127.0.0.1/healthz answers."
    );
}

#[tokio::test]
async fn a_restart_that_cannot_start_says_the_application_is_down() {
    let (reports, calls, _) = on_app_host("restart-app.toml", &[], &["start-fails"]).await;
    assert!(!calls.iter().any(|c| c.starts_with("health")), "{calls:?}");
    let (outcome, message) = finished(&reports);
    assert_eq!(outcome, "failed");
    assert!(message.contains("the application is DOWN"), "{message}");
}

#[tokio::test]
async fn a_service_that_will_not_stop_is_never_started_again() {
    let (reports, calls, _) = on_app_host("restart-app.toml", &[], &["stays-up"]).await;
    let waits = calls.iter().filter(|c| c.contains("is-active")).count();
    assert_eq!(waits, 21, "one try and 20 retries: {calls:?}");
    assert!(!calls.iter().any(|c| c.contains(" start ")), "{calls:?}");
    let (outcome, message) = finished(&reports);
    assert_eq!(outcome, "failed");
    assert!(message.contains("it was not started again"), "{message}");
}

#[tokio::test]
async fn an_unhealthy_restart_fails_after_polling_the_health_url() {
    let (reports, calls, _) = on_app_host("restart-app.toml", &[], &["unhealthy"]).await;
    let polls = calls.iter().filter(|c| c.starts_with("health")).count();
    assert_eq!(polls, 41, "{calls:?}");
    let (outcome, message) = finished(&reports);
    assert_eq!(outcome, "failed");
    assert!(message.contains("did not answer"), "{message}");
}

#[tokio::test]
async fn a_redeploy_installs_the_build_asked_for_into_a_stopped_service() {
    let (reports, calls, build) =
        on_app_host("redeploy-app.toml", &[("version", "2.0.0")], &[]).await;
    assert_eq!(build, "2.0.0");
    let install = calls
        .iter()
        .position(|c| c.starts_with("deployctl install"));
    let down = calls.iter().position(|c| c.contains("is-active"));
    let start = calls.iter().position(|c| c.contains("systemctl start"));
    assert!(down < install && install < start, "{calls:?}");
    assert!(calls.contains(&"deployctl install -- exoticplant 2.0.0".to_string()));
    let (outcome, message) = finished(&reports);
    assert_eq!(outcome, "succeeded");
    assert_eq!(
        message,
        "exoticplant runs build 2.0.0 (was 1.0.0) and http://127.0.0.1/healthz answers."
    );
}

#[tokio::test]
async fn a_failed_install_leaves_the_old_build_and_says_the_service_is_down() {
    let (reports, calls, build) = on_app_host(
        "redeploy-app.toml",
        &[("version", "2.0.0")],
        &["install-fails"],
    )
    .await;
    assert_eq!(build, "1.0.0");
    assert!(
        !calls.iter().any(|c| c.contains("systemctl start")),
        "{calls:?}"
    );
    let (outcome, message) = finished(&reports);
    assert_eq!(outcome, "failed");
    assert!(
        message.contains("Build 2.0.0 could not be installed: exoticplant is DOWN with 1.0.0"),
        "{message}"
    );
}

/// A responder cannot point the shipped runbooks' health URL at anything but the app host
/// itself: metadata and link-local addresses, other hosts and credentials in the URL are
/// refused before any run is asked for.
#[test]
fn health_urls_reach_only_the_listed_hosts() {
    let settings = Settings::example().unwrap();
    for command in ["/restart app", "/redeploy app"] {
        let runbook = settings
            .runbooks
            .iter()
            .find(|r| r.command_text() == command)
            .unwrap();
        let bind = |url: &str| {
            let mut given = BTreeMap::from([("health_url".to_string(), url.to_string())]);
            if command == "/redeploy app" {
                given.insert("version".into(), "1.2.3".into());
            }
            runbook.bind(&given)
        };
        for refused in [
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "http://2852039166/latest/meta-data/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://10.0.0.5:8080/healthz",
            "http://127.0.0.1:8080@evil.example/healthz",
            "http://internal-admin.corp:8080/",
        ] {
            let problem = bind(refused).unwrap_err();
            assert!(
                problem.starts_with("health_url: ") && problem.ends_with("(refused, nothing ran)"),
                "{command} {refused}: {problem}"
            );
        }
        for allowed in [
            "http://127.0.0.1:8080/healthz",
            "http://localhost:9000/ready",
            "http://[::1]:8080/healthz",
        ] {
            let values = bind(allowed).unwrap_or_else(|e| panic!("{command} {allowed}: {e}"));
            assert_eq!(values["health_url"], allowed);
        }
    }
}

/// A run's time read from a fake host's simulated clock (`clock` in its state directory, as
/// the demo's hosts keep it): the fakes move it by the time they take, a pause moves it on.
struct HostFileClock {
    file: PathBuf,
    started: u64,
}

impl HostFileClock {
    fn seconds(&self) -> u64 {
        std::fs::read_to_string(&self.file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

#[async_trait::async_trait]
impl RunClock for HostFileClock {
    fn elapsed(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.seconds() - self.started)
    }

    async fn pause(&self, pause: std::time::Duration) {
        let now = self.seconds() + pause.as_secs();
        std::fs::write(&self.file, format!("{now}\n")).unwrap();
    }
}

/// The shipped restart on a fake host whose time is simulated, with the host's `timings`
/// (seconds per file); returns the reports, the health polls and the seconds the run took.
async fn restart_on_simulated_host(timings: &[(&str, u64)]) -> (Vec<Report>, usize, u64) {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("running"), "").unwrap();
    let start = 1_615_282_980; // 2021-03-09T09:43:00Z
    std::fs::write(host.path().join("clock"), format!("{start}\n")).unwrap();
    for (file, seconds) in timings {
        std::fs::write(host.path().join(file), format!("{seconds}\n")).unwrap();
    }
    let program = |name: &str| fakes().join(name).display().to_string();
    let site = Site {
        programs: BTreeMap::from([
            ("systemctl".to_string(), program("systemctl")),
            ("curl".to_string(), program("health")),
        ]),
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("FAKE_HOST".into(), host.path().display().to_string()),
        ],
        output_limit: 64 * 1024,
        redact: vec![],
        url_hosts: vec![],
    };
    let runbook = shipped("/restart app");
    let values = runbook.bind(&BTreeMap::new()).unwrap();
    let clock = HostFileClock {
        file: host.path().join("clock"),
        started: start,
    };
    let mut reports = Vec::new();
    run_runbook_on(&runbook, &values, &site, &clock, |r| {
        reports.push(r);
        async {}
    })
    .await;
    let polls = std::fs::read_to_string(host.path().join("calls"))
        .unwrap()
        .lines()
        .filter(|c| c.starts_with("health"))
        .count();
    (reports, polls, clock.seconds() - start)
}

#[tokio::test]
async fn on_a_simulated_host_a_run_takes_the_hosts_time_not_the_wall_clocks() {
    let started = std::time::Instant::now();
    let (reports, polls, took) = restart_on_simulated_host(&[
        ("stop-seconds", 90),
        ("start-seconds", 105),
        ("warmup-seconds", 15),
    ])
    .await;
    assert_eq!(finished(&reports).0, "succeeded", "{reports:?}");
    // 15 s of warm-up: polls at 0, 3, …, 15 s after the start, the sixth answers.
    assert_eq!(polls, 6);
    assert_eq!(took, 90 + 105 + 15, "the host's time");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "five retry pauses of 3 s and 3.5 minutes of host time cost no waiting: {:?}",
        started.elapsed()
    );

    // The runbook's time limit (600 s) is on the host's time too: a stop that takes longer
    // ends the run as timed out, in no time.
    let (reports, polls, took) = restart_on_simulated_host(&[("stop-seconds", 700)]).await;
    let (outcome, message) = finished(&reports);
    assert_eq!(outcome, "timed_out");
    assert_eq!(
        message,
        "/restart app ran past its 600 s limit and was stopped"
    );
    assert_eq!((polls, took), (0, 700));
}
