//! Carries out one runbook run on the host: each step through the executor, with its
//! retries and timeout, its captures judged by the runbook, and the transitions the runbook
//! declares, reporting every step as it starts and ends so the incident's timeline follows.

use super::exec::{self, Ended, Invocation};
use crate::domain::runbook::{render, Next, Runbook};
use crate::domain::url_param::HostPattern;
use regex::Regex;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What the site maps program names to, and the environment and limits steps run with.
#[derive(Debug, Clone)]
pub struct Site {
    /// Program name in runbooks → path on this host (`dnstool` → `/usr/local/bin/dnsTool`).
    /// A name not listed is looked up in `PATH` of `env`.
    pub programs: BTreeMap<String, String>,
    /// The whole environment of every step (at least `PATH`).
    pub env: Vec<(String, String)>,
    /// Output kept per step, in bytes.
    pub output_limit: usize,
    /// Patterns removed from every output line before it leaves the host.
    pub redact: Vec<Regex>,
    /// The hosts URL parameters may name on this host when the runbook lists none.
    pub url_hosts: Vec<HostPattern>,
}

/// What the runner reports as the run goes: the protocol's reports (it never sends
/// `Heartbeat` or `Refused`; the client does).
pub use crate::protocol::AgentReport as Report;

/// How time passes for a run: how long it has taken (against the runbook's time limit) and
/// the pause before a step's retry. `warroom agent`'s is the host's own ([`RealTime`]); a
/// simulated host's (the demo's) moves only as its programs and these pauses say, so a
/// minute of polling takes no time at all.
#[async_trait::async_trait]
pub trait RunClock: Send + Sync {
    /// Time taken since the run started.
    fn elapsed(&self) -> Duration;
    /// Waits `pause` before a step's next attempt.
    async fn pause(&self, pause: Duration);
}

/// The host's own time, from when the run started.
pub struct RealTime(Instant);

impl RealTime {
    pub fn starting_now() -> RealTime {
        RealTime(Instant::now())
    }
}

#[async_trait::async_trait]
impl RunClock for RealTime {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }

    async fn pause(&self, pause: Duration) {
        tokio::time::sleep(pause).await;
    }
}

/// Runs a runbook with checked parameters in real time; `report` sees every report in
/// order and may be slow (it sends them to the server). Returns the final report.
pub async fn run_runbook<F, Fut>(
    runbook: &Runbook,
    params: &BTreeMap<String, String>,
    site: &Site,
    report: F,
) -> Report
where
    F: FnMut(Report) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    run_runbook_on(runbook, params, site, &RealTime::starting_now(), report).await
}

/// [`run_runbook`] on `clock`'s time: the time limit is checked and the retries wait on it.
/// (A step's process still runs for real; its own timeout is what is left of the limit.)
pub async fn run_runbook_on<F, Fut>(
    runbook: &Runbook,
    params: &BTreeMap<String, String>,
    site: &Site,
    clock: &dyn RunClock,
    mut report: F,
) -> Report
where
    F: FnMut(Report) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let limit = Duration::from_secs(runbook.timeout_seconds);
    let time_left = || limit.saturating_sub(clock.elapsed());
    let mut values = params.clone();
    if runbook.steps.is_empty() {
        return finish(&mut report, "failed", "the runbook has no steps".into()).await;
    }
    let mut index = 0;
    loop {
        let step = &runbook.steps[index];
        let mut attempt = 0;
        let succeeded = loop {
            attempt += 1;
            let args = match step.arguments(&values) {
                Ok(args) => args,
                Err(missing) => {
                    // A capture an earlier step did not make: the step cannot run.
                    report(Report::StepFinished {
                        step: step.id.clone(),
                        attempt,
                        exit: None,
                        succeeded: false,
                        captured: BTreeMap::new(),
                    })
                    .await;
                    let message = format!("step {} could not run: {missing}", step.id);
                    return finish(&mut report, "failed", message).await;
                }
            };
            let left = time_left();
            if left.is_zero() {
                return timed_out(&mut report, runbook).await;
            }
            report(Report::StepStarted {
                step: step.id.clone(),
                attempt,
                program: step.program.clone(),
                // The arguments leave the host too: the same patterns are removed from them.
                args: args.iter().map(|a| redacted(a, &site.redact)).collect(),
            })
            .await;
            let invocation = Invocation {
                program: site
                    .programs
                    .get(&step.program)
                    .cloned()
                    .unwrap_or_else(|| step.program.clone()),
                args,
                env: site.env.clone(),
                cwd: None,
                timeout: Duration::from_secs(step.timeout_seconds).min(left),
                output_limit: site.output_limit,
                redact: site.redact.clone(),
            };
            let execution = exec::run(&invocation, |_, _| {}).await;
            let lines: Vec<String> = execution.lines.iter().map(|(_, l)| l.clone()).collect();
            if !lines.is_empty() {
                report(Report::Output {
                    step: step.id.clone(),
                    lines: lines.clone(),
                })
                .await;
            }
            let exit = match &execution.ended {
                Ended::Exited { code } => Some(*code),
                _ => None,
            };
            let judged = step.judge(exit, &lines.join("\n"));
            report(Report::StepFinished {
                step: step.id.clone(),
                attempt,
                exit,
                succeeded: judged.succeeded,
                captured: judged.captured.clone(),
            })
            .await;
            if let Ended::NotStarted { error } = &execution.ended {
                let message = format!("step {} could not start {}: {error}", step.id, step.program);
                return finish(&mut report, "failed", message).await;
            }
            // Output that yields a value no parameter could take is not trusted: no retry and
            // no `on_failure` step may run on it.
            if let Some(why) = judged.refused {
                return finish(&mut report, "failed", why).await;
            }
            if judged.succeeded {
                values.extend(judged.captured);
                break true;
            }
            if time_left().is_zero() {
                return timed_out(&mut report, runbook).await;
            }
            if attempt > step.retries {
                break false;
            }
            clock
                .pause(Duration::from_secs(step.retry_delay_seconds).min(time_left()))
                .await;
        };
        let (next, outcome_template) = if succeeded {
            (step.on_success, &step.success_outcome)
        } else {
            (step.on_failure, &step.failure_outcome)
        };
        match next {
            Next::Step(j) => index = j,
            Next::Succeed | Next::Fail => {
                let outcome = if next == Next::Succeed {
                    "succeeded"
                } else {
                    "failed"
                };
                let message = match outcome_template {
                    Some(template) => render(template, &values)
                        .unwrap_or_else(|_| template.replace(['{', '}'], "")),
                    None if next == Next::Succeed => {
                        format!("{} succeeded", runbook.command_text())
                    }
                    None => format!("{} failed at step {}", runbook.command_text(), step.id),
                };
                return finish(&mut report, outcome, message).await;
            }
        }
    }
}

fn redacted(text: &str, patterns: &[Regex]) -> String {
    patterns.iter().fold(text.to_string(), |text, pattern| {
        pattern.replace_all(&text, "[redacted]").into_owned()
    })
}

async fn finish<F, Fut>(report: &mut F, outcome: &str, message: String) -> Report
where
    F: FnMut(Report) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let last = Report::Finished {
        outcome: outcome.to_string(),
        message,
    };
    report(last.clone()).await;
    last
}

async fn timed_out<F, Fut>(report: &mut F, runbook: &Runbook) -> Report
where
    F: FnMut(Report) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let message = format!(
        "{} ran past its {} s limit and was stopped",
        runbook.command_text(),
        runbook.timeout_seconds
    );
    finish(report, "timed_out", message).await
}
