//! Whether the agent takes a job: a fresh nonce, not expired, one of its own runbooks, and
//! parameters its own copy accepts; otherwise the refusal, as the server is told it and as
//! the log says it. Shared with the in-process agent (`agent::local`).

use crate::domain::runbook::Runbook;
use crate::protocol::Job;
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Whether an agent takes `job`: a nonce never seen, not expired at `now` by the agent's
/// clock, a runbook among its own, parameters its own copy accepts. Returns that copy and
/// the bound values, or the refusal.
pub(crate) fn admit(
    job: &Job,
    runbooks: &BTreeMap<String, Runbook>,
    url_hosts: &[crate::domain::url_param::HostPattern],
    nonces: &mut Nonces,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Runbook, BTreeMap<String, String>), Refusal> {
    if job.nonce.trim().is_empty() {
        return Err(Refusal::same(
            "the job has no nonce, so a replay of it could not be told apart; is the server the same warroom version?".to_string(),
        ));
    }
    // Remembered whatever happens next, so a refused job replayed is spotted too.
    if !nonces.remember(&job.nonce) {
        return Err(Refusal::same(
            "replayed: this agent has already received a job with this nonce".to_string(),
        ));
    }
    if job.expires_at <= now {
        return Err(Refusal::same(format!(
            "stale: the job expired at {} ({} s ago by this host's clock); if this repeats, check the clocks of the agent and the server",
            job.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            (now - job.expires_at).num_seconds()
        )));
    }
    let Some(runbook) = runbooks.get(&job.runbook) else {
        return Err(Refusal::same(format!(
            "unknown runbook {}: this agent does not have it",
            job.runbook
        )));
    };
    match runbook
        .bind(&job.params)
        .and_then(|values| runbook.check_urls_on_site(&values, url_hosts).map(|()| values))
    {
        Ok(values) => Ok((runbook.clone(), values)),
        Err(e) => Err(Refusal {
            reason: format!("bad parameters: {e}"),
            // The message may quote a value, and values are not logged.
            logged: "bad parameters: they do not pass this agent's copy of the runbook (the reason is in the report)".to_string(),
        }),
    }
}

/// Why a job is refused: what the server is told, and what the log says.
pub(crate) struct Refusal {
    /// Sent to the server in the `refused` report.
    pub(crate) reason: String,
    /// Written to the agent's log (no parameter values).
    pub(crate) logged: String,
}

impl Refusal {
    fn same(reason: String) -> Refusal {
        Refusal {
            logged: reason.clone(),
            reason,
        }
    }
}

/// The nonces of the last jobs, oldest forgotten first.
pub(crate) struct Nonces {
    /// In arrival order.
    order: VecDeque<String>,
    /// The same, for lookups.
    seen: HashSet<String>,
    /// How many are kept.
    capacity: usize,
}

impl Nonces {
    pub(crate) fn new(capacity: usize) -> Nonces {
        Nonces {
            order: VecDeque::new(),
            seen: HashSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Remembers `nonce`; false when it was already remembered (a replay).
    pub(crate) fn remember(&mut self, nonce: &str) -> bool {
        if self.seen.contains(nonce) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.order.push_back(nonce.to_string());
        self.seen.insert(nonce.to_string());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{job, kinds, stop, Fixture};
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_it_must_not_run_are_refused_and_nothing_runs() {
        let f = Fixture::new().await;
        let mut stale = job(1, "failover-dns", json!({}), "n-stale");
        stale["expires_at"] = json!(Utc::now() - chrono::Duration::seconds(30));
        f.jobs(&[
            stale,
            job(2, "delete-everything", json!({}), "n-unknown"),
            job(3, "failover-dns", json!({"server": "dns2"}), "n-extra"),
            job(
                4,
                "echo",
                json!({"word": "$(touch /tmp/pwned)"}),
                "n-pattern",
            ),
            // A well-formed job, but with a nonce already seen.
            job(5, "failover-dns", json!({}), "n-unknown"),
        ])
        .await;
        f.reports_answer(200).await;
        let (tx, agent) = f.start();
        let reports = f.wait_for_reports("five refusals", |r| r.len() >= 5).await;
        stop(tx, agent).await;

        assert_eq!(kinds(&reports), ["refused"; 5]);
        let reasons: Vec<&str> = reports
            .iter()
            .map(|r| r["reason"].as_str().unwrap())
            .collect();
        assert!(
            reasons[0].starts_with("stale: the job expired at"),
            "{reasons:?}"
        );
        assert_eq!(
            reasons[1],
            "unknown runbook delete-everything: this agent does not have it"
        );
        assert!(
            reasons[2].starts_with("bad parameters: /failover dns has no parameter 'server'"),
            "{reasons:?}"
        );
        assert!(
            reasons[3].starts_with("bad parameters: word: the value does not match"),
            "{reasons:?}"
        );
        assert!(reasons[4].starts_with("replayed:"), "{reasons:?}");
        let paths: Vec<String> = f.reports().await.into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            (1..=5)
                .map(|i| format!("/v1/agent/jobs/{i}/2/reports"))
                .collect::<Vec<_>>()
        );
        assert_eq!(f.dns_calls(), None, "the fake dnsTool ran");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn url_parameters_reach_only_the_hosts_the_agent_lists() {
        let f = Fixture::new().await;
        f.jobs(&[
            job(
                1,
                "probe",
                json!({"url": "http://169.254.169.254/latest/meta-data/"}),
                "u-1",
            ),
            job(2, "probe", json!({"url": "http://2852039166/"}), "u-2"),
            job(3, "probe", json!({"url": "http://db.example.com/"}), "u-3"),
            job(
                4,
                "probe",
                json!({"url": "http://app.svc.internal:8080/healthz"}),
                "u-4",
            ),
        ])
        .await;
        f.reports_answer(200).await;
        let (tx, agent) = f.start();
        let reports = f
            .wait_for_reports("three refusals and a finished run", |r| {
                r.iter().filter(|r| r["kind"] == "finished").count() == 1 && r.len() >= 4
            })
            .await;
        stop(tx, agent).await;
        let refusals: Vec<&str> = reports
            .iter()
            .filter(|r| r["kind"] == "refused")
            .map(|r| r["reason"].as_str().unwrap())
            .collect();
        assert_eq!(refusals.len(), 3, "{reports:?}");
        assert!(
            refusals[0].contains("url: 169.254.169.254 is a link-local or cloud metadata address"),
            "{refusals:?}"
        );
        assert!(refusals[1].contains("metadata address"), "{refusals:?}");
        assert!(
            refusals[2].contains(
                "url: db.example.com is not an allowed host; use one of 127.0.0.1, *.svc.internal"
            ),
            "{refusals:?}"
        );
        let finished = reports.iter().find(|r| r["kind"] == "finished").unwrap();
        assert_eq!(finished["outcome"], "succeeded", "{finished}");
    }

    #[test]
    fn nonces_are_remembered_up_to_the_capacity() {
        let mut nonces = Nonces::new(2);
        assert!(nonces.remember("a"));
        assert!(!nonces.remember("a"));
        assert!(nonces.remember("b"));
        assert!(nonces.remember("c"));
        // "a" was the oldest of three: forgotten.
        assert!(nonces.remember("a"));
        assert!(!nonces.remember("c"));
    }
}
