//! What `warroom agent` and `warroom serve` say to each other over HTTP. The agent only
//! ever connects out: it long-polls for a job and posts reports about it.
//!
//! - `POST /v1/agent/poll`, `Authorization: Bearer <agent token>`, body [`Poll`]: waits up to
//!   `wait_seconds` for a run this agent may take; 200 with [`Job`] (the run is then claimed
//!   by this agent), or 204 when there is none. 401 for an unknown token.
//! - `POST /v1/agent/jobs/{incident}/{run}/reports`, same token, body [`ReportBody`]: one
//!   report about a claimed job (a step started or finished, output, heartbeat, the end, or
//!   a refusal). 200 when recorded; 409 when the job is not this agent's (or is over), so the
//!   agent stops; 401 for an unknown token.
//!
//! The server sends a runbook name and checked parameters, never a command line. The agent
//! runs only runbooks from its own directory and checks the parameters again against its
//! own copy; a job that expired, repeats a nonce, or names a runbook it lacks is refused.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The agent asks for work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Poll {
    /// Runbook names (file stems) the agent has: it is offered only these.
    pub runbooks: Vec<String>,
    /// How long the server may hold the request waiting for a job (capped at 30).
    pub wait_seconds: u64,
}

/// A run for the agent to carry out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The incident number.
    pub incident: u64,
    /// The run's number within the incident.
    pub run: u32,
    /// The runbook's file stem (`failover-dns`).
    pub runbook: String,
    pub params: BTreeMap<String, String>,
    /// Fresh per claim: a job seen twice with one nonce is a replay.
    pub nonce: String,
    /// The agent refuses the job after this time.
    pub expires_at: DateTime<Utc>,
    /// How often the agent says it is still working; after three missed beats the run is
    /// declared lost.
    pub heartbeat_seconds: u64,
}

/// A report about a job, with the job's nonce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportBody {
    pub nonce: String,
    #[serde(flatten)]
    pub report: AgentReport,
}

/// What happened on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgentReport {
    StepStarted {
        step: String,
        attempt: u32,
        program: String,
        args: Vec<String>,
    },
    Output {
        step: String,
        lines: Vec<String>,
    },
    StepFinished {
        step: String,
        attempt: u32,
        exit: Option<i32>,
        succeeded: bool,
        #[serde(default)]
        captured: BTreeMap<String, String>,
    },
    Heartbeat,
    /// `outcome`: `succeeded`, `failed` or `timed_out`.
    Finished {
        outcome: String,
        message: String,
    },
    /// The agent would not run it: expired, replayed, unknown runbook, bad parameters.
    Refused {
        reason: String,
    },
}
