//! The shape of a Grafana OnCall export: the fields of each API response warroom reads.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(super) struct Export {
    pub(super) users: Vec<User>,
    #[serde(default)]
    pub(super) teams: Vec<Team>,
    #[serde(default)]
    pub(super) schedules: Vec<Schedule>,
    #[serde(default)]
    pub(super) on_call_shifts: Vec<Shift>,
    #[serde(default)]
    pub(super) escalation_chains: Vec<Chain>,
    #[serde(default)]
    pub(super) escalation_policies: Vec<Policy>,
    #[serde(default)]
    pub(super) personal_notification_rules: Vec<NotificationRule>,
}

#[derive(Debug, Deserialize)]
pub(super) struct User {
    pub(super) id: String,
    #[serde(default)]
    pub(super) email: Option<String>,
    pub(super) username: String,
    /// Not in every version's answer; the username stands in for it.
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) teams: Vec<String>,
    /// The public API says only whether there is a verified number, never the number.
    #[serde(default)]
    pub(super) is_phone_number_verified: Option<bool>,
    /// The number itself, in E.164, in the answer of the internal API the web app uses
    /// (`/api/internal/v1/users/`), for an export that takes users from there.
    #[serde(default)]
    pub(super) verified_phone_number: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Team {
    pub(super) id: String,
    pub(super) name: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Schedule {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) team_id: Option<String>,
    #[serde(default)]
    pub(super) time_zone: Option<String>,
    #[serde(default)]
    pub(super) shifts: Option<Vec<String>>,
    /// An `ical` schedule's calendar: who is on call is whoever its events name.
    #[serde(default)]
    pub(super) ical_url_primary: Option<String>,
    /// A calendar whose events override the schedule's shifts.
    #[serde(default)]
    pub(super) ical_url_overrides: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Shift {
    pub(super) id: String,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) time_zone: Option<String>,
    #[serde(default)]
    pub(super) level: i64,
    pub(super) start: String,
    pub(super) duration: u64,
    #[serde(default)]
    pub(super) rotation_start: Option<String>,
    #[serde(default)]
    pub(super) frequency: Option<String>,
    #[serde(default)]
    pub(super) interval: Option<u32>,
    #[serde(default)]
    pub(super) until: Option<String>,
    #[serde(default)]
    pub(super) week_start: Option<String>,
    #[serde(default)]
    pub(super) by_day: Option<Vec<String>>,
    #[serde(default)]
    pub(super) by_month: Option<Vec<i64>>,
    #[serde(default)]
    pub(super) by_monthday: Option<Vec<i64>>,
    #[serde(default)]
    pub(super) users: Option<Vec<String>>,
    #[serde(default)]
    pub(super) rolling_users: Option<Vec<Vec<String>>>,
    #[serde(default)]
    pub(super) start_rotation_from_user_index: Option<usize>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Chain {
    pub(super) id: String,
    pub(super) name: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Policy {
    pub(super) escalation_chain_id: String,
    #[serde(default)]
    pub(super) position: i64,
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) duration: Option<u64>,
    #[serde(default)]
    pub(super) important: Option<bool>,
    #[serde(default)]
    pub(super) persons_to_notify: Option<Vec<String>>,
    #[serde(default)]
    pub(super) notify_on_call_from_schedule: Option<String>,
    #[serde(default)]
    pub(super) team_to_notify: Option<String>,
}

/// One step of a user's notification rules: `wait`, or `notify_by_…`.
#[derive(Debug, Deserialize)]
pub(super) struct NotificationRule {
    pub(super) user_id: String,
    /// The steps of one user run in this order, the default and the important ones apart.
    #[serde(default)]
    pub(super) position: i64,
    #[serde(rename = "type")]
    pub(super) kind: String,
    /// A `wait`'s length in seconds.
    #[serde(default)]
    pub(super) duration: Option<u64>,
    #[serde(default)]
    pub(super) important: Option<bool>,
}
