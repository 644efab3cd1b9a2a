//! The shape of an Opsgenie export: the fields of each API response warroom reads, and what
//! is read off a reference and a delay.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(super) struct Export {
    pub(super) users: Vec<User>,
    #[serde(default)]
    pub(super) teams: Vec<Team>,
    #[serde(default)]
    pub(super) schedules: Vec<Schedule>,
    #[serde(default)]
    pub(super) escalations: Vec<Escalation>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct User {
    pub(super) id: String,
    /// The user's email address.
    pub(super) username: String,
    #[serde(default)]
    pub(super) full_name: Option<String>,
    #[serde(default)]
    pub(super) user_contacts: Vec<UserContact>,
    /// Not in the API's user: each `GET /v2/users/{id}/notification-rules/{ruleId}` .data,
    /// added by the export recipe.
    #[serde(default)]
    pub(super) notification_rules: Vec<NotificationRule>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserContact {
    /// `email`, `sms`, `voice`, `mobile`; `method` in the contact API's own list.
    #[serde(alias = "method")]
    pub(super) contact_method: String,
    /// The address: an email, or a number as country code, dash, number (`1-5550100`).
    #[serde(default)]
    pub(super) to: Option<String>,
    #[serde(default)]
    pub(super) enabled: Option<bool>,
}

/// A user's notification rule, with its steps.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NotificationRule {
    #[serde(default)]
    pub(super) name: Option<String>,
    /// `create-alert` (a new alert: the rule a page runs), `schedule-start`, …
    #[serde(default)]
    pub(super) action_type: Option<String>,
    #[serde(default)]
    pub(super) order: Option<i64>,
    #[serde(default)]
    pub(super) enabled: Option<bool>,
    #[serde(default)]
    pub(super) criteria: Option<Criteria>,
    #[serde(default)]
    pub(super) time_restriction: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub(super) steps: Vec<NotificationStep>,
    #[serde(default)]
    pub(super) repeat: Option<NotificationRepeat>,
}

impl NotificationRule {
    /// Whether it applies to every alert (`match-all`, Opsgenie's default).
    pub(super) fn matches_all(&self) -> bool {
        self.criteria
            .as_ref()
            .and_then(|c| c.kind.as_deref())
            .is_none_or(|k| k == "match-all")
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Criteria {
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NotificationStep {
    pub(super) contact: StepContact,
    /// Counted from the alert, as each step's is.
    #[serde(default)]
    pub(super) send_after: Option<Delay>,
    #[serde(default)]
    pub(super) enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(super) struct StepContact {
    pub(super) method: String,
    #[serde(default)]
    pub(super) to: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NotificationRepeat {
    #[serde(default)]
    pub(super) loop_after: Option<u64>,
    #[serde(default)]
    pub(super) enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Team {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) members: Vec<Member>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Member {
    pub(super) user: Recipient,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Schedule {
    #[serde(default)]
    pub(super) id: Option<String>,
    pub(super) name: String,
    #[serde(default)]
    pub(super) timezone: Option<String>,
    #[serde(default)]
    pub(super) enabled: Option<bool>,
    #[serde(default)]
    pub(super) owner_team: Option<Recipient>,
    #[serde(default)]
    pub(super) rotations: Vec<Rotation>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Rotation {
    #[serde(default)]
    pub(super) name: Option<String>,
    pub(super) start_date: String,
    #[serde(default)]
    pub(super) end_date: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default = "one")]
    pub(super) length: u32,
    pub(super) participants: Vec<Recipient>,
    #[serde(default)]
    pub(super) time_restriction: Option<TimeRestriction>,
}

fn one() -> u32 {
    1
}

/// A participant, a rule's recipient, a team member or an owner team: Opsgenie refers to
/// each the same way.
#[derive(Debug, Deserialize)]
pub(super) struct Recipient {
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) username: Option<String>,
}

impl Recipient {
    pub(super) fn label(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.username.clone())
            .or_else(|| self.id.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct TimeRestriction {
    #[serde(rename = "type")]
    pub(super) kind: String,
    /// `time-of-day`: one span, every day.
    #[serde(default)]
    pub(super) restriction: Option<Restriction>,
    /// `weekday-and-time-of-day`: spans from a weekday and time to another.
    #[serde(default)]
    pub(super) restrictions: Vec<Restriction>,
}

/// Hours and minutes Opsgenie leaves out when they are 0.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Restriction {
    #[serde(default)]
    pub(super) start_day: Option<String>,
    #[serde(default)]
    pub(super) end_day: Option<String>,
    #[serde(default)]
    pub(super) start_hour: u32,
    #[serde(default)]
    pub(super) start_min: u32,
    #[serde(default)]
    pub(super) end_hour: u32,
    #[serde(default)]
    pub(super) end_min: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Escalation {
    pub(super) name: String,
    #[serde(default)]
    pub(super) rules: Vec<Rule>,
    #[serde(default)]
    pub(super) repeat: Option<Repeat>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Rule {
    #[serde(default)]
    pub(super) condition: Option<String>,
    #[serde(default)]
    pub(super) notify_type: Option<String>,
    pub(super) delay: Delay,
    pub(super) recipient: Recipient,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Delay {
    pub(super) time_amount: u64,
    #[serde(default)]
    pub(super) time_unit: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Repeat {
    #[serde(default)]
    pub(super) wait_interval: u64,
    #[serde(default)]
    pub(super) count: u64,
}

/// Whether a reference (a team member) is this user.
pub(super) fn refers_to(r: &Recipient, u: &User) -> bool {
    r.id.as_deref() == Some(u.id.as_str())
        || r.username
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(&u.username))
}

/// A rule's delay in minutes.
pub(super) fn minutes(d: &Delay) -> u64 {
    match d.time_unit.as_deref().unwrap_or("minutes") {
        "hours" => d.time_amount.saturating_mul(60),
        "days" => d.time_amount.saturating_mul(24 * 60),
        _ => d.time_amount,
    }
}
