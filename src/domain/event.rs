//! The domain's events: past-tense facts, each carrying everything a read model needs.
//!
//! One enum covers every stream kind (incident, channel, release); the variant name is the
//! stored event type and the remaining fields are the payload. `Recorded` is an event with the
//! envelope facts the domain reads (when, who, which id) but none of the storage details.

use super::deploy::Deploy;
use super::release::capacity::CapacityPlan;
use super::release::values::{ChangeKind, Version};
use super::types::{ImpactArea, IncidentNumber, Role, Severity};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The payload schema version written for every event type today.
pub const SCHEMA_VERSION: i32 = 1;

/// A chat message as seen in a channel (Discord, the console, a transcript).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The channel it was said in, without `#`.
    pub channel: String,
    /// The source's own id for the message (Discord message id, transcript `id`), needed to
    /// match later edits and deletes; absent when the source gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The author as the source named them (a handle, an alias, or a raw name); resolved to a
    /// contact when read, so a contact added later still gets credit.
    pub author: String,
    /// The text verbatim.
    pub text: String,
    /// Handles mentioned with `@handle` or `!handle`, without the sigil, in order of first use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// The message this one replies to, when the source says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Files attached to the message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A file attached to a chat message: kept by reference, not downloaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    pub url: String,
    pub size: u64,
}

/// Whether a monitoring alert is firing or has resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// The facts of one monitoring alert as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertFacts {
    /// Which sender: `alertmanager`, `grafana` or `generic`.
    pub source: String,
    /// The alert's name (Alertmanager's `alertname` label).
    pub name: String,
    pub status: AlertStatus,
    /// The channel the alert was announced in.
    pub channel: String,
    /// Identity for deduplication: the sender's fingerprint, else derived from the labels.
    pub fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
}

/// The actor of what warroom does by itself: opening an incident for an alert, firing an
/// escalation step, delivering a page.
pub const SYSTEM_ACTOR: &str = "warroom";

/// One step of an escalation policy, as copied into the incident when it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationStep {
    /// `@handle`, `!team`, `schedule:NAME` or `everyone`, paged at the same time.
    pub targets: Vec<String>,
    /// Minutes to wait for an acknowledgement before the next step.
    pub wait_minutes: u32,
    /// When a `schedule:NAME` target has nobody on call: skip it (true) rather than page
    /// the policy's fallback (the default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_when_nobody: bool,
    /// Page one of the targets per firing, taking turns: the policy's next incident (and
    /// the next pass) pages the next one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub round_robin: bool,
    /// The step pages only within these windows (of `timezone`); outside them it is
    /// skipped and the escalation goes on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrict: Vec<crate::domain::schedule::WindowSpec>,
    /// The zone of `restrict`, written out when the policy is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// How one attempt to deliver a page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptOutcome {
    Delivered,
    /// Failed in a way worth retrying (5xx, 429, timeout, no connection).
    Failed,
    /// The pager refused the page (a 4xx other than 429): retrying would not help.
    Refused,
}

/// Every fact warroom records. The variant name is the stored event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// An incident was opened in a channel, which is bound to it until it closes.
    IncidentOpened {
        number: IncidentNumber,
        title: String,
        severity: Severity,
        channel: String,
    },
    SeverityChanged {
        from: Severity,
        to: Severity,
    },
    RoleAssigned {
        role: Role,
        /// The holder's handle as given (resolved to a contact when read).
        handle: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
    StatusUpdatePosted {
        text: String,
    },
    ImpactNoted {
        area: ImpactArea,
        text: String,
    },
    ResolutionNoted {
        text: String,
    },
    /// What caused the incident or contributed to it, as someone noted it
    /// (`/incident cause`): the post-mortem's contributing factors.
    CauseNoted {
        text: String,
    },
    /// The harm stopped (a workaround, a failover, a rollback) while the incident stays open
    /// until it is resolved: the post-mortem's "mitigated" moment.
    IncidentMitigated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// A message marked as a key moment of the incident (`/incident highlight`, a ⭐
    /// reaction), by the actor.
    MessageHighlighted {
        channel: String,
        message_id: String,
    },
    /// The actor took their mark off the message (`/incident highlight … off`, the ⭐
    /// removed).
    MessageHighlightWithdrawn {
        channel: String,
        message_id: String,
    },
    ActionAdded {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<NaiveDate>,
    },
    /// Follow-up action `A{action}` of the incident (its place among the incident's
    /// `ActionAdded`, from 1) is done.
    ActionCompleted {
        action: u32,
    },
    /// Follow-up action `A{action}` was filed as an issue in the tracker (`github`,
    /// `gitlab`): its reference there (`#12`) and its page.
    ActionIssueLinked {
        action: u32,
        tracker: String,
        issue: String,
        url: String,
    },
    IncidentResolved {
        /// True when `/incident close` resolved it on the way, rather than an explicit resolve.
        #[serde(default)]
        implicit: bool,
    },
    IncidentClosed {},
    IncidentReopened {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    MessagePosted(ChatMessage),
    MessageEdited {
        channel: String,
        message_id: String,
        /// The text before the edit; `None` when the original was never seen (edited before
        /// warroom joined, or outside any recorded stream).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
        after: String,
        /// Set when the edit was found in the channel's history after warroom was away
        /// (Discord delivered no event for it): when it was found.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        found_at: Option<DateTime<Utc>>,
    },
    /// A marker: the original text stays in the ledger in its `MessagePosted`.
    MessageDeleted {
        channel: String,
        message_id: String,
        /// Set when the message was found missing from the channel's history after warroom
        /// was away: when (the delete itself happened at an unknown time before).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        found_at: Option<DateTime<Utc>>,
    },
    AlertReceived(AlertFacts),
    /// An alert opened this incident for its route's group; later alerts of the group join it.
    /// Its id derives from the group and how many incidents the group had, so two instances
    /// opening an incident for the same group at once cannot both succeed.
    AlertGroupOpened {
        route: String,
        group: String,
    },
    /// The SOP of the alert's route, posted in the incident channel.
    SopPosted {
        route: String,
        path: String,
        markdown: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        suggest: Vec<String>,
    },
    /// An escalation policy started; its steps are copied so a config change later never
    /// alters a running escalation.
    EscalationStarted {
        policy: String,
        steps: Vec<EscalationStep>,
        repeat: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fallback: Vec<String>,
        reason: String,
    },
    /// Someone was paged: by an escalation step, on demand (`/incident page`), or as the
    /// fallback for a page that could not be delivered.
    PageRequested {
        /// Which escalation and which position in its sequence, when a step fired.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        escalation: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sequence: Option<u32>,
        /// The step's number within its policy, for people.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<u32>,
        /// `@handle`, `!team` or `everyone`.
        target: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Fixed per incident, step and target: pagers drop a repeated page with this key.
        dedup_key: String,
        /// Why: the policy and step, who asked, or whose page could not be delivered.
        reason: String,
    },
    /// One attempt to hand a page (or its acknowledgement or resolution) to a pager.
    PageAttempted {
        dedup_key: String,
        pager: String,
        /// `trigger`, `acknowledge` or `resolve`.
        action: String,
        attempt: u32,
        outcome: AttemptOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A pager could not be reached after its retries, or refused the page.
    PageGaveUp {
        dedup_key: String,
        target: String,
        pager: String,
        reason: String,
    },
    /// An escalation step fired with nobody to page for one of its targets: a schedule had
    /// nobody on call and the step skips a gap (or the policy has no fallback).
    PageSkipped {
        escalation: u32,
        sequence: u32,
        step: u32,
        target: String,
        reason: String,
    },
    /// Someone acknowledged the incident's pages: escalation stops.
    Acknowledged {
        by: String,
        /// How, when not by a chat command: `email`, `sms`, `voice` or `push` (a link or
        /// reply of the notification that reached them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
        /// The notification acknowledged from (`DEDUP_KEY#RULE`), when `via` is set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notification: Option<String>,
    },
    /// A person's notification rule fell due for a page to them: notify them by `method`.
    /// The address itself (email, phone number, topic) stays in the configuration: the
    /// ledger is append-only, personal addresses do not belong in it.
    NotificationRequested {
        /// The page this notification is for.
        dedup_key: String,
        /// The handle notified.
        person: String,
        /// The rule's place in the person's rules, from 0.
        rule: u32,
        /// `email`, `sms`, `voice` or `push`.
        method: String,
        /// Minutes after the page the rule waits.
        after_minutes: u32,
    },
    /// One attempt to send a notification through its provider.
    NotificationAttempted {
        dedup_key: String,
        rule: u32,
        method: String,
        attempt: u32,
        outcome: AttemptOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The provider's id for what it accepted (Twilio's SID, ntfy's id, the Message-ID).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_ref: Option<String>,
    },
    /// A notification could not be sent after its retries, or its provider refused it.
    NotificationGaveUp {
        dedup_key: String,
        rule: u32,
        method: String,
        reason: String,
    },
    /// What the provider later said of a notification it accepted (Twilio's status
    /// callback: `delivered`, `undelivered`, `failed`, `completed`, `no-answer`, `busy`).
    NotificationStatus {
        dedup_key: String,
        rule: u32,
        method: String,
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_code: Option<String>,
    },
    /// The incident's channel exists in a chat service: warroom created it (or found it) and
    /// posts there from now on.
    ChatChannelLinked {
        channel: String,
        /// `discord`.
        service: String,
        /// The service's id of the channel (a Discord channel or thread id).
        chat_id: String,
    },
    /// The post-mortem draft was posted in the incident's channel as a file.
    PostmortemPublished {
        channel: String,
        file: String,
        /// SHA-256 of the file as posted, so the posted copy can be checked against the ledger.
        sha256: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chat_message_id: Option<String>,
    },
    /// Someone asked for a runbook run in the incident (`/failover dns`), with checked
    /// parameters. The actor is the requester.
    RunbookRequested {
        /// 1, 2, … within the incident.
        run: u32,
        /// `/failover dns`
        command: String,
        /// The runbook's file name without `.toml`: what agents know it by.
        runbook: String,
        #[serde(default)]
        params: BTreeMap<String, String>,
        /// Whether the requester must confirm before it runs.
        confirm: bool,
        /// Who must approve it, in words, when a second person must.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approval: Option<String>,
        idempotent: bool,
    },
    RunbookConfirmed {
        run: u32,
    },
    RunbookApproved {
        run: u32,
        by: String,
    },
    /// Ready for an agent with these labels until `expires_at`.
    RunbookQueued {
        run: u32,
        #[serde(default)]
        agents: BTreeMap<String, String>,
        expires_at: DateTime<Utc>,
    },
    /// An agent took the run; it holds it while it sends heartbeats.
    RunbookClaimed {
        run: u32,
        agent: String,
        /// Fresh per claim; the agent's reports carry it.
        nonce: String,
    },
    /// The agent running it is still there.
    RunbookHeartbeat {
        run: u32,
    },
    RunbookStepStarted {
        run: u32,
        step: String,
        attempt: u32,
        program: String,
        args: Vec<String>,
    },
    /// Output lines of a step, already redacted by the agent.
    RunbookOutput {
        run: u32,
        step: String,
        lines: Vec<String>,
    },
    RunbookStepFinished {
        run: u32,
        step: String,
        attempt: u32,
        /// The exit code, when the program exited by itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit: Option<i32>,
        succeeded: bool,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        captured: BTreeMap<String, String>,
    },
    /// `succeeded`, `failed`, `timed_out`, `lost` (the agent stopped answering) or `refused`
    /// (by the agent), with what the run says.
    RunbookFinished {
        run: u32,
        outcome: String,
        message: String,
    },
    /// A deploy, in its service's stream (`deploys-app`).
    DeployRecorded(Deploy),
    /// A guard rule flagged the deploy recorded just before it in the same stream.
    DeployFlagged {
        rule: String,
        reason: String,
    },
    /// A deploy to the incident's environment shortly before it opened (a suspect), noted in
    /// the incident when it opens, with when the deploy happened and what flagged it.
    DeployNoted {
        deploy: Deploy,
        deployed_at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        flags: Vec<String>,
    },
    /// Someone went on call (`shift-N`), taking over from whoever was on call.
    ShiftStarted {
        number: u32,
        person: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handed_over_from: Option<String>,
    },
    /// The shift ended: by `/oncall end`, or at a hand-over (then naming who took over).
    ShiftEnded {
        number: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handed_over_to: Option<String>,
    },
    /// A version of an on-call schedule (`schedule-NAME`), in force from `effective_from`:
    /// recorded when `warroom serve` starts with a schedule of warroom.toml that differs
    /// from the last one it recorded (`source` is `config`), or changed from chat (`chat`).
    /// The spec is as [`crate::domain::schedule::Schedule::recorded_spec`] writes it.
    ScheduleDefined {
        spec: crate::domain::schedule::ScheduleSpec,
        effective_from: DateTime<Utc>,
        source: String,
    },
    /// The schedule left the configuration; nobody is on call in it from `effective_from`.
    ScheduleRemoved {
        effective_from: DateTime<Utc>,
    },
    /// A schedule handed over (`schedule-NAME`): at `at` the person on call changed from
    /// `outgoing` to `incoming` (nobody for a gap), until `until`. Recorded when the moment
    /// passes, by whichever instance sees it first, and the people are told then.
    OncallHandedOff {
        at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outgoing: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        incoming: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<DateTime<Utc>>,
    },
    /// Someone is put on call for a while (`oncall-overrides`): over whoever `schedule` has
    /// on call, or, as a cover, only where `replaces` would be (in `schedule`, or in every
    /// schedule when it is `None`).
    OncallOverridden {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schedule: Option<String>,
        person: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces: Option<String>,
    },
    /// Someone asks `with` to take their turns in `[from, to)` (in `schedule`, or in every
    /// schedule), and offers to take `with`'s turns in `[back_from, back_to)` in return
    /// (`oncall-overrides`). Nothing changes until `with` accepts.
    OncallSwapRequested {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schedule: Option<String>,
        /// Who asks (their handle): whose turns `with` would take.
        asker: String,
        with: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        back_from: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        back_to: Option<DateTime<Utc>>,
    },
    /// The person asked answered a swap, named by its reference: accepted, it holds as two
    /// covers under that reference (cancelled together); declined, nothing changes.
    OncallSwapAnswered {
        reference: String,
        accepted: bool,
    },
    /// An override or cover is withdrawn from `effective_from` on (what of it is past
    /// stays), named by its reference (the first 8 hex digits of the id of the event that
    /// made it).
    OncallOverrideCancelled {
        reference: String,
        effective_from: DateTime<Utc>,
    },
    /// A command that was refused or could not be understood, with the reply given.
    CommandRejected {
        channel: String,
        command: String,
        reason: String,
    },
    // Releases (`release-N` streams): what went into a release, for its as-built document.
    /// A release was opened; changes, notes and plans are added to it until it is published.
    ReleaseOpened {
        version: Version,
    },
    ReleaseChangeAdded {
        kind: ChangeKind,
        /// The ticket to follow up with (`Tk-205`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<String>,
        text: String,
    },
    /// Someone involved in the release, under a team (or their own, from the contact list).
    ReleaseStakeholderAdded {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        team: Option<String>,
        /// A handle (`@ghammer`) or a name as given; resolved to a contact when read.
        person: String,
    },
    ReleaseDecisionNoted {
        text: String,
        /// The supporting document (`Design Doc 5247`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        doc: Option<String>,
    },
    ReleaseTestNoted {
        text: String,
    },
    /// A deployment note.
    ReleaseNoteAdded {
        text: String,
    },
    /// A component's capacity was planned: the inputs, the figures decided and the
    /// arithmetic, so the as-built of a shipped release never changes with the rules.
    ReleaseCapacityPlanned(CapacityPlan),
    /// The release shipped: its as-built is final and nothing more is added to it.
    ReleasePublished {},
    /// A channel event copied into an incident because it was said within the lookback window
    /// before the incident opened. The copy keeps the original's time; the original stays in
    /// its channel stream.
    Imported {
        original_event_id: Uuid,
        from_stream: String,
        event: Box<Event>,
    },
}

/// An event whose stored type or payload this build cannot read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read event of type '{event_type}': {reason}")]
pub struct UnreadableEvent {
    pub event_type: String,
    pub reason: String,
}

impl Event {
    /// The stored type name: the variant name.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::IncidentOpened { .. } => "IncidentOpened",
            Event::SeverityChanged { .. } => "SeverityChanged",
            Event::RoleAssigned { .. } => "RoleAssigned",
            Event::StatusUpdatePosted { .. } => "StatusUpdatePosted",
            Event::ImpactNoted { .. } => "ImpactNoted",
            Event::ResolutionNoted { .. } => "ResolutionNoted",
            Event::CauseNoted { .. } => "CauseNoted",
            Event::ActionCompleted { .. } => "ActionCompleted",
            Event::ActionIssueLinked { .. } => "ActionIssueLinked",
            Event::IncidentMitigated { .. } => "IncidentMitigated",
            Event::MessageHighlighted { .. } => "MessageHighlighted",
            Event::MessageHighlightWithdrawn { .. } => "MessageHighlightWithdrawn",
            Event::ActionAdded { .. } => "ActionAdded",
            Event::IncidentResolved { .. } => "IncidentResolved",
            Event::IncidentClosed { .. } => "IncidentClosed",
            Event::IncidentReopened { .. } => "IncidentReopened",
            Event::MessagePosted(_) => "MessagePosted",
            Event::MessageEdited { .. } => "MessageEdited",
            Event::MessageDeleted { .. } => "MessageDeleted",
            Event::AlertReceived(_) => "AlertReceived",
            Event::CommandRejected { .. } => "CommandRejected",
            Event::AlertGroupOpened { .. } => "AlertGroupOpened",
            Event::SopPosted { .. } => "SopPosted",
            Event::EscalationStarted { .. } => "EscalationStarted",
            Event::PageRequested { .. } => "PageRequested",
            Event::PageAttempted { .. } => "PageAttempted",
            Event::PageGaveUp { .. } => "PageGaveUp",
            Event::Acknowledged { .. } => "Acknowledged",
            Event::NotificationRequested { .. } => "NotificationRequested",
            Event::NotificationAttempted { .. } => "NotificationAttempted",
            Event::NotificationGaveUp { .. } => "NotificationGaveUp",
            Event::NotificationStatus { .. } => "NotificationStatus",
            Event::Imported { .. } => "Imported",
            Event::ChatChannelLinked { .. } => "ChatChannelLinked",
            Event::PostmortemPublished { .. } => "PostmortemPublished",
            Event::RunbookRequested { .. } => "RunbookRequested",
            Event::RunbookConfirmed { .. } => "RunbookConfirmed",
            Event::RunbookApproved { .. } => "RunbookApproved",
            Event::RunbookQueued { .. } => "RunbookQueued",
            Event::RunbookClaimed { .. } => "RunbookClaimed",
            Event::RunbookHeartbeat { .. } => "RunbookHeartbeat",
            Event::RunbookStepStarted { .. } => "RunbookStepStarted",
            Event::RunbookOutput { .. } => "RunbookOutput",
            Event::RunbookStepFinished { .. } => "RunbookStepFinished",
            Event::RunbookFinished { .. } => "RunbookFinished",
            Event::DeployRecorded(_) => "DeployRecorded",
            Event::DeployFlagged { .. } => "DeployFlagged",
            Event::DeployNoted { .. } => "DeployNoted",
            Event::ShiftStarted { .. } => "ShiftStarted",
            Event::ShiftEnded { .. } => "ShiftEnded",
            Event::ScheduleDefined { .. } => "ScheduleDefined",
            Event::ScheduleRemoved { .. } => "ScheduleRemoved",
            Event::OncallOverridden { .. } => "OncallOverridden",
            Event::OncallHandedOff { .. } => "OncallHandedOff",
            Event::OncallSwapRequested { .. } => "OncallSwapRequested",
            Event::OncallSwapAnswered { .. } => "OncallSwapAnswered",
            Event::OncallOverrideCancelled { .. } => "OncallOverrideCancelled",
            Event::PageSkipped { .. } => "PageSkipped",
            Event::ReleaseOpened { .. } => "ReleaseOpened",
            Event::ReleaseChangeAdded { .. } => "ReleaseChangeAdded",
            Event::ReleaseStakeholderAdded { .. } => "ReleaseStakeholderAdded",
            Event::ReleaseDecisionNoted { .. } => "ReleaseDecisionNoted",
            Event::ReleaseTestNoted { .. } => "ReleaseTestNoted",
            Event::ReleaseNoteAdded { .. } => "ReleaseNoteAdded",
            Event::ReleaseCapacityPlanned(_) => "ReleaseCapacityPlanned",
            Event::ReleasePublished { .. } => "ReleasePublished",
        }
    }

    /// The payload to store: the serialised event without its `type` tag.
    pub fn to_payload(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("events always serialise to JSON");
        if let serde_json::Value::Object(map) = &mut value {
            map.remove("type");
        }
        value
    }

    /// Reads an event back from its stored type and payload.
    pub fn from_parts(
        event_type: &str,
        payload: serde_json::Value,
    ) -> Result<Event, UnreadableEvent> {
        Event::from_stored(event_type, &payload.to_string())
    }

    /// Reads an event back from its stored type and payload text. The payload is the event's
    /// JSON object without its `type` key, so the key is written in front of the payload's
    /// members and the text parsed once, straight into the event: no JSON tree in between,
    /// which is most of the cost of reading a long stream.
    pub fn from_stored(event_type: &str, payload: &str) -> Result<Event, UnreadableEvent> {
        let unreadable = |reason: String| UnreadableEvent {
            event_type: event_type.to_string(),
            reason,
        };
        // The events a long incident is mostly made of are read straight into their own
        // struct: the tagged path below first copies every value into serde's buffer.
        let direct = match event_type {
            "MessagePosted" => Some(serde_json::from_str(payload).map(Event::MessagePosted)),
            "AlertReceived" => Some(serde_json::from_str(payload).map(Event::AlertReceived)),
            _ => None,
        };
        if let Some(read) = direct {
            return read.map_err(|e| unreadable(e.to_string()));
        }
        let Some(members) = payload.trim_start().strip_prefix('{') else {
            return Err(unreadable("payload is not a JSON object".into()));
        };
        let tag = serde_json::to_string(event_type).expect("a string serialises to JSON");
        let separator = if members.trim_start().starts_with('}') {
            ""
        } else {
            ","
        };
        let mut text = String::with_capacity(payload.len() + tag.len() + 10);
        text.push_str("{\"type\":");
        text.push_str(&tag);
        text.push_str(separator);
        text.push_str(members);
        serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))
    }

    /// The event itself, or the original for an imported copy.
    pub fn unwrapped(&self) -> &Event {
        match self {
            Event::Imported { event, .. } => event.unwrapped(),
            other => other,
        }
    }
}

/// An event with the envelope facts the domain reasons about.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The event's unique id, so every statement in a document can be traced back to it.
    pub event_id: Uuid,
    /// Global position in the ledger; orders events recorded at the same instant.
    pub position: i64,
    /// When it happened in the world.
    pub at: DateTime<Utc>,
    /// Who caused it, as recorded.
    pub actor: String,
    pub event: Event,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn payload_round_trips_without_the_type_tag() {
        let event = Event::IncidentOpened {
            number: IncidentNumber(3),
            title: "Application outage".into(),
            severity: Severity::Sev1,
            channel: "ops".into(),
        };
        let payload = event.to_payload();
        assert!(payload.get("type").is_none());
        assert_eq!(payload["number"], 3);
        assert_eq!(
            Event::from_parts(event.event_type(), payload).unwrap(),
            event
        );
    }

    #[test]
    fn imported_copies_round_trip_and_unwrap() {
        let inner = Event::MessagePosted(ChatMessage {
            channel: "ops".into(),
            message_id: Some("m1".into()),
            author: "svega".into(),
            text: "app is down".into(),
            mentions: vec![],
            reply_to: None,
            attachments: vec![],
        });
        let copy = Event::Imported {
            original_event_id: Uuid::nil(),
            from_stream: "channel-ops".into(),
            event: Box::new(inner.clone()),
        };
        let back = Event::from_parts("Imported", copy.to_payload()).unwrap();
        assert_eq!(back.unwrapped(), &inner);
    }

    #[test]
    fn unknown_types_are_reported_not_guessed() {
        let err = Event::from_parts("NoSuchEvent", serde_json::json!({})).unwrap_err();
        assert!(err.to_string().contains("NoSuchEvent"));
    }

    #[test]
    fn events_read_straight_into_their_struct_read_as_the_tagged_path_reads_them() {
        let message = Event::MessagePosted(ChatMessage {
            channel: "ops".into(),
            message_id: Some("m1".into()),
            author: "svega".into(),
            text: "app is down \"again\" — @rpark".into(),
            mentions: vec!["rpark".into()],
            reply_to: Some("m0".into()),
            attachments: vec![Attachment {
                name: "graph.png".into(),
                url: "https://cdn.example/graph.png".into(),
                size: 12_345,
            }],
        });
        let alert = Event::AlertReceived(AlertFacts {
            source: "alertmanager".into(),
            name: "AppDown".into(),
            status: AlertStatus::Firing,
            channel: "ops".into(),
            fingerprint: "f1".into(),
            severity: Some("critical".into()),
            summary: Some("planthost1 down".into()),
            labels: [("service".to_string(), "app".to_string())].into(),
            annotations: [("runbook".to_string(), "restart".to_string())].into(),
            starts_at: Some(Utc.with_ymd_and_hms(2021, 3, 9, 9, 15, 0).unwrap()),
            ends_at: None,
        });
        for event in [message, alert] {
            let payload = event.to_payload().to_string();
            let tagged: Event = serde_json::from_str(&format!(
                "{{\"type\":\"{}\",{}",
                event.event_type(),
                &payload[1..]
            ))
            .unwrap();
            assert_eq!(tagged, event);
            assert_eq!(
                Event::from_stored(event.event_type(), &payload).unwrap(),
                event
            );
            let err = Event::from_stored(event.event_type(), "[1]").unwrap_err();
            assert!(err.to_string().contains(event.event_type()), "{err}");
        }
    }

    #[test]
    fn stored_text_is_read_whatever_its_spacing_and_refused_when_not_one_object() {
        let closed = Event::IncidentClosed {};
        assert_eq!(Event::from_stored("IncidentClosed", "{}").unwrap(), closed);
        assert_eq!(
            Event::from_stored("IncidentClosed", " { } ").unwrap(),
            closed
        );
        let event = Event::IncidentOpened {
            number: IncidentNumber(4),
            title: "Checkout down".into(),
            severity: Severity::Sev2,
            channel: "ops".into(),
        };
        let payload = event.to_payload().to_string();
        assert_eq!(
            Event::from_stored("IncidentOpened", &payload).unwrap(),
            event
        );
        let spaced = format!("  {{ {} ", payload.trim_start_matches('{'));
        assert_eq!(
            Event::from_stored("IncidentOpened", &spaced).unwrap(),
            event
        );
        let trailing = format!("{payload}{{}}");
        let unclosed = payload.trim_end_matches('}').to_string();
        for bad in ["[1]", "", "\"{}\"", &trailing, &unclosed] {
            let err = Event::from_stored("IncidentOpened", bad).unwrap_err();
            assert!(err.to_string().contains("IncidentOpened"), "{bad}: {err}");
        }
        // A type name is data, never JSON syntax: a quote in it cannot smuggle in fields.
        let err = Event::from_stored("IncidentClosed\",\"x\":\"y", "{}").unwrap_err();
        assert!(err.reason.contains("unknown variant"), "{err}");
    }
}
