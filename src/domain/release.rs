//! Releases and their as-built document: what went into each release (changes by kind with
//! their tickets, stakeholders, design decisions, test highlights, deployment notes), the
//! capacity arithmetic for its deployment, and the Kubernetes Deployment that follows from it.
//!
//! A release is one stream (`release-2`); `decide` holds the rules, `apply` cannot fail, and
//! the document is a function of the release streams' events and the contact list, like the
//! post-mortem. The capacity plan is decided once, when `/release capacity` is given, and its
//! figures and arithmetic are recorded in the event, so a later change of the rules never
//! rewrites the as-built of a release that already shipped.

use super::contacts::{Directory, Named};
use super::event::{Event, Recorded};
use super::types::UnknownWord;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::str::FromStr;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Value types
// ---------------------------------------------------------------------------------------------

/// A release's version as people write it: `2`, `2.1`, `2024.03-rc1`. It names the release's
/// stream and is a Kubernetes label value, hence the narrow alphabet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(String);

/// The longest version accepted: short enough for a stream id and a label value (63).
const VERSION_MAX: usize = 32;

impl Version {
    /// The id of the stream that holds this release.
    pub fn stream_id(&self) -> String {
        format!("release-{}", self.0)
    }

    /// The version of a release stream id, if it is one.
    pub fn from_stream_id(stream: &str) -> Option<Version> {
        stream.strip_prefix("release-")?.parse().ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Version {
    type Err = ReleaseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let given = s.trim();
        // `v2` and `2` are the same release: people write both.
        let text = match given.strip_prefix(['v', 'V']) {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
            _ => given,
        };
        let ok = !text.is_empty()
            && text.len() <= VERSION_MAX
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && text.starts_with(|c: char| c.is_ascii_alphanumeric())
            && text.ends_with(|c: char| c.is_ascii_alphanumeric());
        if ok {
            Ok(Version(text.to_string()))
        } else {
            Err(ReleaseError::BadVersion(given.to_string()))
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of change a ticket made. The first four are code changes, the last two go under
/// "Data and System Changes", as the seed's as-built template separates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Security,
    /// The template's own example of a code change group, beside features and security.
    BugFix,
    Feature,
    FeatureModification,
    DataModel,
    System,
}

/// The kinds in the words `/release change kind:` takes, for error messages and help.
pub const KIND_WORDS: &str =
    "security, bug-fix, feature, feature-modification, data-model or system";

impl ChangeKind {
    /// Every kind, in the order the document lists their groups.
    pub const ALL: [ChangeKind; 6] = [
        ChangeKind::Security,
        ChangeKind::BugFix,
        ChangeKind::Feature,
        ChangeKind::FeatureModification,
        ChangeKind::DataModel,
        ChangeKind::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Security => "security",
            ChangeKind::BugFix => "bug-fix",
            ChangeKind::Feature => "feature",
            ChangeKind::FeatureModification => "feature-modification",
            ChangeKind::DataModel => "data-model",
            ChangeKind::System => "system",
        }
    }

    /// The group's heading in the document.
    pub fn heading(self) -> &'static str {
        match self {
            ChangeKind::Security => "Security fixes",
            ChangeKind::BugFix => "Bug fixes",
            ChangeKind::Feature => "Feature additions",
            ChangeKind::FeatureModification => "Feature modifications",
            ChangeKind::DataModel => "Data model changes",
            ChangeKind::System => "System changes",
        }
    }

    /// Whether the change goes under "Code Changes" (else "Data and System Changes").
    pub fn is_code(self) -> bool {
        !matches!(self, ChangeKind::DataModel | ChangeKind::System)
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChangeKind {
    type Err = UnknownWord;
    /// The issue's words (`security fix`, `feature`, `feature modification`, `data model
    /// change`, `system change`) and the template's (`bug fix`, `feature addition`), with
    /// spaces, hyphens or underscores.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let word: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c == ' ' || c == '_' { '-' } else { c })
            .collect();
        match word.as_str() {
            "security" | "security-fix" | "security-fixes" => Ok(ChangeKind::Security),
            "bug-fix" | "bugfix" | "bug" | "fix" | "bug-fixes" => Ok(ChangeKind::BugFix),
            "feature" | "feature-addition" | "new-feature" | "features" => Ok(ChangeKind::Feature),
            "feature-modification" | "modification" | "feature-change" => {
                Ok(ChangeKind::FeatureModification)
            }
            "data-model" | "data-model-change" | "data" | "data-change" => {
                Ok(ChangeKind::DataModel)
            }
            "system" | "system-change" => Ok(ChangeKind::System),
            _ => Err(UnknownWord {
                what: "change kind",
                given: s.trim().to_string(),
                expected: KIND_WORDS,
            }),
        }
    }
}

/// A ticket id as the team writes it, the separator made a hyphen: `Tk 205` and `Tk-205` are
/// one ticket (the seed writes both).
pub fn ticket(text: &str) -> Result<String, ReleaseError> {
    let given = text.trim();
    let digits_at = given
        .find(|c: char| c.is_ascii_digit())
        .ok_or_else(|| ReleaseError::BadTicket(given.to_string()))?;
    let (prefix, number) = given.split_at(digits_at);
    let prefix = prefix.trim_end_matches([' ', '-', '_', '#']);
    let ok = number.chars().all(|c| c.is_ascii_digit())
        && prefix.chars().all(|c| c.is_ascii_alphanumeric())
        && prefix.len() <= 16;
    match (ok, prefix.is_empty()) {
        (false, _) => Err(ReleaseError::BadTicket(given.to_string())),
        (true, true) => Ok(number.to_string()),
        (true, false) => Ok(format!("{prefix}-{number}")),
    }
}

/// A non-negative decimal with two places, kept exact as hundredths: percentages (`85`,
/// `12.5%`) and factors (`2`, `1.5`). Stored as its text so the ledger holds no binary
/// floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal(u64);

impl Decimal {
    pub const ZERO: Decimal = Decimal(0);
    pub const ONE: Decimal = Decimal(100);

    pub fn from_hundredths(h: u64) -> Decimal {
        Decimal(h)
    }

    pub fn hundredths(self) -> u64 {
        self.0
    }

    /// Hundredths rounded up from a fraction `num / den` (den > 0).
    fn ceil_of(num: u128, den: u128) -> Decimal {
        Decimal(num.div_ceil(den) as u64)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / 100, self.0 % 100);
        match frac {
            0 => write!(f, "{whole}"),
            f2 if f2 % 10 == 0 => write!(f, "{whole}.{}", f2 / 10),
            f2 => write!(f, "{whole}.{f2:02}"),
        }
    }
}

impl FromStr for Decimal {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let text = s.trim().trim_end_matches('%').trim();
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
        if !digits(whole) || whole.len() > 12 || !(frac.is_empty() || digits(frac)) {
            return Err(());
        }
        if frac.len() > 2 {
            return Err(());
        }
        let whole: u64 = whole.parse().map_err(|_| ())?;
        let frac: u64 = format!("{frac:0<2}").parse().map_err(|_| ())?;
        Ok(Decimal(whole * 100 + frac))
    }
}

impl Serialize for Decimal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom(format!("'{text}' is not a decimal")))
    }
}

// ---------------------------------------------------------------------------------------------
// Capacity planning
// ---------------------------------------------------------------------------------------------

/// What `/release capacity` is told about one component, as the seed's release planning
/// states it: load-test figures and today's allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityInputs {
    /// The component as the team names it (`app`, `order_processor`); its Kubernetes names
    /// are derived from it.
    pub service: String,
    /// The container image to run. Recorded with the release, not read from configuration,
    /// so the Deployment printed for a past release is the one it shipped with.
    pub image: String,
    /// Concurrent users to serve after the release, with `users_per_replica`; absent for a
    /// component that does not scale with users (a batch processor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_users: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_per_replica: Option<u64>,
    /// Replicas today (for the "was" figure), or the replicas to run when no user load is
    /// given; 1 when not said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_replicas: Option<u32>,
    /// Today's memory request per replica, in MiB.
    pub memory_request_mi: u64,
    /// How much of that request is in use at today's load, in percent.
    pub memory_utilisation: Decimal,
    /// How much more memory the release needs for the same users, in percent.
    pub memory_growth: Decimal,
    /// Today's CPU request per replica (or the component it is sized after), in millicores.
    pub cpu_request_m: u64,
    /// How many times that CPU the component needs (QA's "twice the CPU" is 2).
    pub cpu_factor: Decimal,
    /// The port the container listens on, when it serves one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// The decided allocation for one component, with the arithmetic that led to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityPlan {
    pub inputs: CapacityInputs,
    /// The DNS-1123 label for the Deployment and its container: `order-processor`.
    pub name: String,
    pub replicas: u32,
    /// Memory the component needs per replica after the release, MiB, rounded up to the
    /// hundredth.
    pub memory_needed_mi: Decimal,
    /// The standard size requested (and set as the limit), MiB.
    pub memory_mi: u64,
    pub cpu_m: u64,
    /// The CPU limit: room to burst (a batch at the top of the hour) without being throttled.
    pub cpu_limit_m: u64,
    /// Each step of the arithmetic, in words, as the Deployment Notes show it.
    pub steps: Vec<String>,
}

/// The smallest standard memory size, MiB; the sizes are its powers-of-two multiples.
pub const SMALLEST_MEMORY_MI: u64 = 128;

/// The most CPU a request may name, in millicores: a guard against `cpu:250` (cores) meant
/// as 250m.
const CPU_MAX_M: u64 = 64_000;

/// The CPU limit as a multiple of the request.
const CPU_LIMIT_FACTOR: u64 = 2;

/// The standard size for a need: the smallest power-of-two size (128, 256, 512, … MiB) above
/// it. A need that falls exactly on a size goes to the next one, since running at 100% of a
/// request leaves no headroom — as the seed's planners chose 2048 MB for an order processor
/// that used about 1 GB.
pub fn standard_memory_size(needed: Decimal) -> u64 {
    let mut size = SMALLEST_MEMORY_MI;
    while size * 100 <= needed.hundredths() {
        size *= 2;
    }
    size
}

/// A DNS-1123 label derived from a name: `order_processor` → `order-processor`, `mainApp` →
/// `main-app`. Kubernetes refuses anything else as a Deployment or container name.
pub fn dns_label(name: &str) -> Option<String> {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.trim().chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('-');
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    let label: String = out.trim_matches('-').chars().take(63).collect();
    let label = label.trim_end_matches('-').to_string();
    (!label.is_empty()).then_some(label)
}

/// `5.2` for 2600 / 500: the quotient to two places, for the arithmetic in words.
fn quotient(num: u64, den: u64) -> Decimal {
    Decimal::from_hundredths((num as u128 * 100 / den as u128) as u64)
}

impl CapacityPlan {
    /// Checks the inputs and works the plan out. Memory: request × utilisation × (1 +
    /// growth), up to the next standard size; replicas: users ÷ users per replica, rounded
    /// up; CPU: request × factor.
    pub fn compute(inputs: CapacityInputs) -> Result<CapacityPlan, ReleaseError> {
        let bad = |problem: String| Err(ReleaseError::BadCapacity(problem));
        let Some(name) = dns_label(&inputs.service) else {
            return bad(format!(
                "service '{}' has no letters or digits to name a Deployment after",
                inputs.service
            ));
        };
        if inputs.image.trim().is_empty() || inputs.image.chars().any(char::is_whitespace) {
            return bad(format!(
                "image '{}' is not an image reference; write e.g. image:nginx:1.27",
                inputs.image
            ));
        }
        if inputs.memory_request_mi == 0 {
            return bad("memory must be more than 0".into());
        }
        let util = inputs.memory_utilisation.hundredths();
        if !(100..=10_000).contains(&util) {
            return bad(format!(
                "utilisation {}% is not a share of the request; write 85 for 85%",
                inputs.memory_utilisation
            ));
        }
        if inputs.memory_growth.hundredths() > 100_000 {
            return bad(format!(
                "growth {}% is more than ten times the memory; check the figure",
                inputs.memory_growth
            ));
        }
        if inputs.cpu_request_m == 0 || inputs.cpu_request_m > CPU_MAX_M {
            return bad(format!(
                "cpu {}m is out of range; write millicores as e.g. cpu:250m",
                inputs.cpu_request_m
            ));
        }
        if inputs.cpu_factor == Decimal::ZERO || inputs.cpu_factor.hundredths() > 10_000 {
            return bad(format!(
                "cpu_factor {} is out of range; write 2 for twice the CPU",
                inputs.cpu_factor
            ));
        }
        let mut steps = Vec::new();

        let current = inputs.current_replicas;
        let was = |now: String, before: Option<String>| match before {
            Some(b) if b != now => format!(" (was {b})"),
            Some(_) => " (unchanged)".to_string(),
            None => String::new(),
        };
        let replicas = match (inputs.concurrent_users, inputs.users_per_replica) {
            (Some(users), Some(per)) if users > 0 && per > 0 => {
                let replicas = u32::try_from(users.div_ceil(per)).unwrap_or(u32::MAX);
                steps.push(format!(
                    "Replicas: {users} concurrent users ÷ {per} users per replica = {}, rounded up: {replicas}{}; {replicas} × {per} = {} users ≥ {users}.",
                    quotient(users, per),
                    was(replicas.to_string(), current.map(|c| c.to_string())),
                    u64::from(replicas) * per,
                ));
                replicas
            }
            (None, None) => {
                let replicas = current.unwrap_or(1).max(1);
                steps.push(format!(
                    "Replicas: {replicas}, as given (no user load to scale by)."
                ));
                replicas
            }
            _ => {
                return bad(
                    "give users and per_replica together, both above 0 (e.g. users:2600 per_replica:500), or neither".into(),
                )
            }
        };

        let growth = inputs.memory_growth.hundredths();
        // Hundredths of MiB: request × (util / 100%) × (1 + growth / 100%), exact in integers.
        let needed = Decimal::ceil_of(
            inputs.memory_request_mi as u128 * 100 * util as u128 * (10_000 + growth) as u128,
            10_000 * 10_000,
        );
        let memory_mi = standard_memory_size(needed);
        let growth_part = if growth > 0 {
            format!(" × (1 + {}% growth)", inputs.memory_growth)
        } else {
            String::new()
        };
        steps.push(format!(
            "Memory: {} Mi × {}% in use{growth_part} = {needed} Mi needed; the next standard size above it is {memory_mi} Mi{}.",
            inputs.memory_request_mi,
            inputs.memory_utilisation,
            was(format!("{memory_mi} Mi"), Some(format!("{} Mi", inputs.memory_request_mi))),
        ));

        let cpu_m = (inputs.cpu_request_m as u128 * inputs.cpu_factor.hundredths() as u128)
            .div_ceil(100) as u64;
        let cpu_limit_m = cpu_m * CPU_LIMIT_FACTOR;
        steps.push(format!(
            "CPU: {}m × {} = {cpu_m}m{}.",
            inputs.cpu_request_m,
            inputs.cpu_factor,
            was(
                format!("{cpu_m}m"),
                Some(format!("{}m", inputs.cpu_request_m))
            ),
        ));
        steps.push(format!(
            "Limits: memory {memory_mi}Mi (the request: memory cannot be throttled, only run out), CPU {cpu_limit_m}m ({CPU_LIMIT_FACTOR} × the request, room to burst)."
        ));
        Ok(CapacityPlan {
            inputs,
            name,
            replicas,
            memory_needed_mi: needed,
            memory_mi,
            cpu_m,
            cpu_limit_m,
            steps,
        })
    }
}

/// `256`, `256Mi`, `256MiB`, `256mb` (the seed's spelling, meaning MiB), `1Gi`, `1GB`.
pub fn parse_memory_mi(text: &str) -> Result<u64, ReleaseError> {
    let given = text.trim();
    let lower = given.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(split);
    let scale = match unit.trim() {
        "" | "mi" | "mib" | "mb" | "m" => 1,
        "gi" | "gib" | "gb" | "g" => 1024,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(n) if scale > 0 && n > 0 && n <= 1 << 30 => Ok(n * scale),
        _ => Err(ReleaseError::BadCapacity(format!(
            "memory '{given}' is not a size; write MiB as e.g. memory:256Mi"
        ))),
    }
}

/// `250m` (millicores), `0.25` or `1` (cores, as Kubernetes reads a bare number).
pub fn parse_cpu_m(text: &str) -> Result<u64, ReleaseError> {
    let given = text.trim();
    let bad = || {
        ReleaseError::BadCapacity(format!(
            "cpu '{given}' is not a CPU amount; write millicores as e.g. cpu:250m"
        ))
    };
    let millis = match given.strip_suffix('m') {
        Some(m) => m.parse::<u64>().map_err(|_| bad())?,
        None => {
            let cores: Decimal = given.parse().map_err(|_| bad())?;
            cores.hundredths() * 10
        }
    };
    if millis == 0 || millis > CPU_MAX_M {
        return Err(ReleaseError::BadCapacity(format!(
            "cpu '{given}' is {millis}m; write millicores as e.g. cpu:250m (at most {CPU_MAX_M}m)"
        )));
    }
    Ok(millis)
}

// ---------------------------------------------------------------------------------------------
// The release aggregate
// ---------------------------------------------------------------------------------------------

/// A change that went into the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub ticket: Option<String>,
    pub text: String,
    pub author: String,
    pub event_id: Uuid,
}

/// A person named as a stakeholder, under the team given (or their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StakeholderNote {
    pub team: Option<String>,
    pub person: String,
    pub event_id: Uuid,
}

/// A design decision, test highlight or deployment note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub text: String,
    /// The supporting document (`Design Doc 5247`), for decisions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    pub author: String,
    pub event_id: Uuid,
}

/// A component's capacity plan, with the event it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedComponent {
    #[serde(flatten)]
    pub plan: CapacityPlan,
    pub event_id: Uuid,
}

/// A release as its events leave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub version: Version,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub changes: Vec<Change>,
    pub stakeholders: Vec<StakeholderNote>,
    pub decisions: Vec<Note>,
    pub tests: Vec<Note>,
    pub notes: Vec<Note>,
    /// One plan per component, in the order first planned; a later plan replaces it.
    pub capacity: Vec<PlannedComponent>,
    pub published_at: Option<DateTime<Utc>>,
    /// Events applied: the stream version to expect on the next append.
    pub version_count: i64,
}

/// An order for a release.
#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseCommand {
    Open,
    AddChange {
        kind: ChangeKind,
        ticket: Option<String>,
        text: String,
    },
    AddStakeholder {
        team: Option<String>,
        person: String,
    },
    NoteDecision {
        text: String,
        doc: Option<String>,
    },
    NoteTest {
        text: String,
    },
    AddNote {
        text: String,
    },
    PlanCapacity(CapacityInputs),
    Publish,
}

/// Why a release order was refused; each says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("'{0}' is not a release version; write it as version:2 or version:2.1 (letters, digits, dots and hyphens)")]
    BadVersion(String),
    #[error("'{0}' is not a ticket; write it as ticket:Tk-205")]
    BadTicket(String),
    #[error("{0}")]
    BadCapacity(String),
    #[error(
        "release {0} is already open; add to it with /release change, or open another version"
    )]
    AlreadyOpen(Version),
    #[error("release {0} was published already; open the next one with /release open version:N")]
    AlreadyPublished(Version),
    #[error("release {0} was never opened; start it with /release open version:{0}")]
    NotFound(Version),
    #[error("the {0} is empty; say it with {0}:\"…\"")]
    Empty(&'static str),
    #[error("{person} is already a stakeholder of release {version}")]
    DuplicateStakeholder { person: String, version: Version },
    #[error("release {0} has no changes yet; add one with /release change kind:… text:\"…\" before publishing")]
    NothingToPublish(Version),
}

fn non_empty(field: &'static str, value: &str) -> Result<String, ReleaseError> {
    let value = value.trim();
    if value.is_empty() {
        Err(ReleaseError::Empty(field))
    } else {
        Ok(value.to_string())
    }
}

/// Decides what an order does to the release in `state` (`None`: not opened yet).
pub fn decide(
    state: Option<&Release>,
    version: &Version,
    command: ReleaseCommand,
) -> Result<Vec<Event>, ReleaseError> {
    let release = match (state, &command) {
        (None, ReleaseCommand::Open) => {
            return Ok(vec![Event::ReleaseOpened {
                version: version.clone(),
            }])
        }
        (Some(r), ReleaseCommand::Open) if r.published_at.is_some() => {
            return Err(ReleaseError::AlreadyPublished(version.clone()))
        }
        (Some(_), ReleaseCommand::Open) => return Err(ReleaseError::AlreadyOpen(version.clone())),
        (None, _) => return Err(ReleaseError::NotFound(version.clone())),
        (Some(r), _) if r.published_at.is_some() => {
            return Err(ReleaseError::AlreadyPublished(version.clone()))
        }
        (Some(r), _) => r,
    };
    let event = match command {
        ReleaseCommand::Open => unreachable!("handled above"),
        ReleaseCommand::AddChange { kind, ticket, text } => Event::ReleaseChangeAdded {
            kind,
            ticket: ticket.map(|t| self::ticket(&t)).transpose()?,
            text: non_empty("text", &text)?,
        },
        ReleaseCommand::AddStakeholder { team, person } => {
            let person = non_empty("user", &person)?;
            let team = team.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
            let same = |a: &str, b: &str| {
                a.trim_start_matches('@')
                    .eq_ignore_ascii_case(b.trim_start_matches('@'))
            };
            if release
                .stakeholders
                .iter()
                .any(|s| same(&s.person, &person) && s.team == team)
            {
                return Err(ReleaseError::DuplicateStakeholder {
                    person,
                    version: version.clone(),
                });
            }
            Event::ReleaseStakeholderAdded { team, person }
        }
        ReleaseCommand::NoteDecision { text, doc } => Event::ReleaseDecisionNoted {
            text: non_empty("text", &text)?,
            doc: doc.map(|d| d.trim().to_string()).filter(|d| !d.is_empty()),
        },
        ReleaseCommand::NoteTest { text } => Event::ReleaseTestNoted {
            text: non_empty("text", &text)?,
        },
        ReleaseCommand::AddNote { text } => Event::ReleaseNoteAdded {
            text: non_empty("text", &text)?,
        },
        ReleaseCommand::PlanCapacity(inputs) => {
            Event::ReleaseCapacityPlanned(CapacityPlan::compute(inputs)?)
        }
        ReleaseCommand::Publish => {
            if release.changes.is_empty() {
                return Err(ReleaseError::NothingToPublish(version.clone()));
            }
            Event::ReleasePublished {}
        }
    };
    Ok(vec![event])
}

/// Folds one recorded event into the release. Events of other kinds leave it as it is.
pub fn apply(state: Option<Release>, recorded: &Recorded) -> Option<Release> {
    let mut release = match (state, &recorded.event) {
        (None, Event::ReleaseOpened { version }) => {
            return Some(Release {
                version: version.clone(),
                opened_at: recorded.at,
                opened_by: recorded.actor.clone(),
                changes: Vec::new(),
                stakeholders: Vec::new(),
                decisions: Vec::new(),
                tests: Vec::new(),
                notes: Vec::new(),
                capacity: Vec::new(),
                published_at: None,
                version_count: 1,
            })
        }
        (None, _) => return None,
        (Some(release), _) => release,
    };
    release.version_count += 1;
    let note = |text: &str, doc: Option<&String>| Note {
        text: text.to_string(),
        doc: doc.cloned(),
        author: recorded.actor.clone(),
        event_id: recorded.event_id,
    };
    match &recorded.event {
        Event::ReleaseChangeAdded { kind, ticket, text } => release.changes.push(Change {
            kind: *kind,
            ticket: ticket.clone(),
            text: text.clone(),
            author: recorded.actor.clone(),
            event_id: recorded.event_id,
        }),
        Event::ReleaseStakeholderAdded { team, person } => {
            release.stakeholders.push(StakeholderNote {
                team: team.clone(),
                person: person.clone(),
                event_id: recorded.event_id,
            })
        }
        Event::ReleaseDecisionNoted { text, doc } => {
            release.decisions.push(note(text, doc.as_ref()))
        }
        Event::ReleaseTestNoted { text } => release.tests.push(note(text, None)),
        Event::ReleaseNoteAdded { text } => release.notes.push(note(text, None)),
        Event::ReleaseCapacityPlanned(plan) => {
            let planned = PlannedComponent {
                plan: plan.clone(),
                event_id: recorded.event_id,
            };
            match release
                .capacity
                .iter_mut()
                .find(|c| c.plan.name == plan.name)
            {
                Some(existing) => *existing = planned,
                None => release.capacity.push(planned),
            }
        }
        Event::ReleasePublished {} => release.published_at = Some(recorded.at),
        _ => {}
    }
    Some(release)
}

/// The release a stream's events describe, if it was opened.
pub fn fold(records: &[Recorded]) -> Option<Release> {
    records.iter().fold(None, apply)
}

/// `1 replica`, `6 replicas`.
fn replicas(n: u32) -> String {
    if n == 1 {
        "1 replica".to_string()
    } else {
        format!("{n} replicas")
    }
}

/// The reply to an order that was carried out.
pub fn describe(version: &Version, events: &[Event]) -> String {
    events
        .iter()
        .map(|e| match e {
            Event::ReleaseOpened { .. } => format!(
                "Release {version} opened. Add changes with /release change, then /release publish."
            ),
            Event::ReleaseChangeAdded { kind, ticket, .. } => format!(
                "{} change{} added to release {version}.",
                kind.heading().trim_end_matches('s'),
                ticket.as_ref().map(|t| format!(" ({t})")).unwrap_or_default()
            ),
            Event::ReleaseStakeholderAdded { person, .. } => {
                format!("{person} is a stakeholder of release {version}.")
            }
            Event::ReleaseDecisionNoted { .. } => {
                format!("Design decision noted for release {version}.")
            }
            Event::ReleaseTestNoted { .. } => format!("Test note added to release {version}."),
            Event::ReleaseNoteAdded { .. } => {
                format!("Deployment note added to release {version}.")
            }
            Event::ReleaseCapacityPlanned(plan) => format!(
                "Capacity of {} for release {version}: {}, {}Mi memory, {}m CPU.\n{}",
                plan.name,
                replicas(plan.replicas),
                plan.memory_mi,
                plan.cpu_m,
                plan.steps.join("\n")
            ),
            Event::ReleasePublished {} => format!(
                "Release {version} published. `warroom as-built` prints its as-built document, `warroom as-built --release {version} --deployment` its Deployment."
            ),
            other => format!("{} recorded for release {version}.", other.event_type()),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads the options of `/release WORD` (already checked against the command table) into
/// the release named (if any) and the order. The error is the problem, without the usage line.
pub fn interpret(
    word: &str,
    options: &BTreeMap<String, String>,
) -> Result<(Option<Version>, ReleaseCommand), String> {
    let get = |name: &str| {
        options
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let text = || get("text").unwrap_or_default();
    let version = get("version")
        .map(|v| v.parse::<Version>())
        .transpose()
        .map_err(|e| e.to_string())?;
    let number = |name: &str, example: &str| -> Result<Option<u64>, String> {
        get(name)
            .map(|v| {
                v.replace([',', '_'], "").parse::<u64>().map_err(|_| {
                    format!("{name}:{v} is not a whole number; write e.g. {name}:{example}")
                })
            })
            .transpose()
    };
    let decimal = |name: &str, default: Decimal, example: &str| -> Result<Decimal, String> {
        get(name).map_or(Ok(default), |v| {
            v.parse::<Decimal>().map_err(|()| {
                format!("{name}:{v} is not a number with at most two decimals; write e.g. {name}:{example}")
            })
        })
    };
    let order = match word {
        "open" => ReleaseCommand::Open,
        "change" => ReleaseCommand::AddChange {
            kind: get("kind")
                .unwrap_or_default()
                .parse()
                .map_err(|e: UnknownWord| e.to_string())?,
            ticket: get("ticket"),
            text: text(),
        },
        "stakeholder" => ReleaseCommand::AddStakeholder {
            team: get("team").map(|t| t.trim_start_matches('!').to_string()),
            person: get("user").unwrap_or_default(),
        },
        "decision" => ReleaseCommand::NoteDecision {
            text: text(),
            doc: get("doc"),
        },
        "test" => ReleaseCommand::NoteTest { text: text() },
        "note" => ReleaseCommand::AddNote { text: text() },
        "capacity" => ReleaseCommand::PlanCapacity(CapacityInputs {
            service: get("service").unwrap_or_default(),
            image: get("image").unwrap_or_default(),
            concurrent_users: number("users", "2600")?,
            users_per_replica: number("per_replica", "500")?,
            current_replicas: number("replicas", "3")?
                .map(|r| u32::try_from(r).map_err(|_| format!("replicas:{r} is too many")))
                .transpose()?,
            memory_request_mi: parse_memory_mi(&get("memory").unwrap_or_default())
                .map_err(|e| e.to_string())?,
            memory_utilisation: decimal("utilisation", Decimal::ZERO, "85")?,
            memory_growth: decimal("growth", Decimal::ZERO, "25")?,
            cpu_request_m: parse_cpu_m(&get("cpu").unwrap_or_default())
                .map_err(|e| e.to_string())?,
            cpu_factor: decimal("cpu_factor", Decimal::ONE, "2")?,
            port: get("port")
                .map(|p| {
                    p.parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("port:{p} is not a port; write e.g. port:80"))
                })
                .transpose()?,
        }),
        "publish" => ReleaseCommand::Publish,
        other => return Err(format!("'/release {other}' is not a release command")),
    };
    Ok((version, order))
}

// ---------------------------------------------------------------------------------------------
// The as-built document
// ---------------------------------------------------------------------------------------------

/// The as-built document: every published release, oldest first (or the one asked for).
/// Serialises to the JSON form.
#[derive(Debug, Clone, Serialize)]
pub struct AsBuilt {
    pub releases: Vec<ReleaseDoc>,
    #[serde(skip)]
    tz: Tz,
}

/// One release's pages, in the seed template's sections.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseDoc {
    pub version: Version,
    pub opened_at: DateTime<Utc>,
    /// Null for a release shown before it was published.
    pub published_at: Option<DateTime<Utc>>,
    pub stakeholders: Vec<TeamMembers>,
    pub code_changes: Vec<ChangeGroup>,
    pub data_and_system_changes: Vec<ChangeGroup>,
    pub design_decisions: Vec<Note>,
    pub tests: Vec<Note>,
    pub deployment_notes: Vec<Note>,
    pub capacity: Vec<PlannedComponent>,
}

/// The stakeholders of one team.
#[derive(Debug, Clone, Serialize)]
pub struct TeamMembers {
    pub team: String,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    /// The full name when the contact list knows them, else the name as given.
    pub name: String,
    pub handle: Option<String>,
    pub event_id: Uuid,
}

/// Changes of one kind.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeGroup {
    pub kind: ChangeKind,
    pub heading: &'static str,
    pub changes: Vec<Change>,
}

/// The team of a stakeholder named with no team who is not in the contact list.
const OTHER: &str = "Other";

/// Builds the document from releases (already folded from their streams), in the order given.
pub fn assemble(releases: &[Release], directory: &Directory, tz: Tz) -> AsBuilt {
    AsBuilt {
        releases: releases.iter().map(|r| release_doc(r, directory)).collect(),
        tz,
    }
}

fn release_doc(release: &Release, directory: &Directory) -> ReleaseDoc {
    let mut teams: Vec<TeamMembers> = Vec::new();
    for s in &release.stakeholders {
        let contact = directory.person(&s.person);
        let team = match (&s.team, contact) {
            (Some(t), _) => match directory.lookup(t) {
                Some(Named::Team(team)) => team.name.clone(),
                _ => t.clone(),
            },
            (None, Some(c)) => c.team.clone(),
            (None, None) => OTHER.to_string(),
        };
        let member = Member {
            name: contact.map_or_else(
                || s.person.trim_start_matches('@').to_string(),
                |c| c.name.clone(),
            ),
            handle: contact
                .map(|c| c.handle.clone())
                .or_else(|| s.person.strip_prefix('@').map(str::to_string)),
            event_id: s.event_id,
        };
        match teams.iter_mut().find(|t| t.team == team) {
            Some(t) => t.members.push(member),
            None => teams.push(TeamMembers {
                team,
                members: vec![member],
            }),
        }
    }
    // Configured teams in configuration order, as the post-mortem lists them; then the
    // others in the order they were named; `Other` last. The sort is stable.
    teams.sort_by_key(
        |t| match directory.teams().iter().position(|c| c.name == t.team) {
            Some(i) => (0, i),
            None if t.team == OTHER => (2, 0),
            None => (1, 0),
        },
    );
    let mut groups: BTreeMap<ChangeKind, Vec<Change>> = BTreeMap::new();
    for c in &release.changes {
        groups.entry(c.kind).or_default().push(c.clone());
    }
    let group = |code: bool| -> Vec<ChangeGroup> {
        ChangeKind::ALL
            .iter()
            .filter(|k| k.is_code() == code)
            .filter_map(|k| {
                groups.get(k).map(|changes| ChangeGroup {
                    kind: *k,
                    heading: k.heading(),
                    changes: changes.clone(),
                })
            })
            .collect()
    };
    ReleaseDoc {
        version: release.version.clone(),
        opened_at: release.opened_at,
        published_at: release.published_at,
        stakeholders: teams,
        code_changes: group(true),
        data_and_system_changes: group(false),
        design_decisions: release.decisions.clone(),
        tests: release.tests.clone(),
        deployment_notes: release.notes.clone(),
        capacity: release.capacity.clone(),
    }
}

/// The Markdown form: the seed's as-built template, one `## Release N` per release.
pub fn render_markdown(doc: &AsBuilt) -> String {
    let mut out = String::from("# As-Built Doc\n");
    if doc.releases.is_empty() {
        out.push_str("\nNo release was published yet. Start one with `/release open version:N`; `/release publish` adds it here.\n");
    }
    for r in &doc.releases {
        write_release(&mut out, r, doc.tz);
    }
    out
}

fn write_release(out: &mut String, r: &ReleaseDoc, tz: Tz) {
    let _ = writeln!(out, "\n## Release {}\n", r.version);
    match r.published_at {
        Some(t) => {
            let _ = writeln!(
                out,
                "Published {} ({}).",
                t.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                tz.name()
            );
        }
        None => out.push_str("Draft: not published yet.\n"),
    }

    out.push_str("\n### Stakeholders\n\n");
    if r.stakeholders.is_empty() {
        out.push_str("No stakeholders were recorded. Add them with `/release stakeholder team:… user:@handle`.\n");
    }
    for t in &r.stakeholders {
        let _ = writeln!(out, "- {}", t.team);
        for m in &t.members {
            match &m.handle {
                Some(h) if *h != m.name => {
                    let _ = writeln!(out, "  - {} (@{h})", m.name);
                }
                Some(h) => {
                    let _ = writeln!(out, "  - @{h}");
                }
                None => {
                    let _ = writeln!(out, "  - {}", m.name);
                }
            }
        }
    }

    out.push_str("\n### Code Changes\n\n");
    write_groups(out, &r.code_changes, "No code changes were recorded.");
    out.push_str("\n### Data and System Changes\n\n");
    write_groups(
        out,
        &r.data_and_system_changes,
        "No data model or system changes were recorded.",
    );

    out.push_str("\n### Design decision highlights\n\n");
    if r.design_decisions.is_empty() {
        out.push_str("No design decisions were recorded. Add them with `/release decision text:\"…\" doc:\"…\"`.\n");
    }
    for d in &r.design_decisions {
        match &d.doc {
            Some(doc) => {
                let _ = writeln!(out, "- {} See {doc} for further discussion.", d.text);
            }
            None => {
                let _ = writeln!(out, "- {}", d.text);
            }
        }
    }

    out.push_str("\n### Test Section\n\n");
    if r.tests.is_empty() {
        out.push_str("No test results were recorded. Add them with `/release test text:\"…\"`.\n");
    }
    for t in &r.tests {
        let _ = writeln!(out, "- {}", t.text);
    }

    out.push_str("\n### Deployment Notes\n\n");
    if r.deployment_notes.is_empty() && r.capacity.is_empty() {
        out.push_str("No deployment notes were recorded. Add them with `/release note text:\"…\"` and `/release capacity …`.\n");
    }
    for n in &r.deployment_notes {
        let _ = writeln!(out, "- {}", n.text);
    }
    for (i, c) in r.capacity.iter().enumerate() {
        let p = &c.plan;
        let _ = writeln!(
            out,
            "{}{}. {} ({}): {}, {}Mi memory, {}m CPU",
            if i == 0 && !r.deployment_notes.is_empty() {
                "\n"
            } else {
                ""
            },
            i + 1,
            p.inputs.service,
            p.inputs.image,
            replicas(p.replicas),
            p.memory_mi,
            p.cpu_m
        );
        for step in &p.steps {
            let _ = writeln!(out, "   - {step}");
        }
    }
}

fn write_groups(out: &mut String, groups: &[ChangeGroup], none: &str) {
    if groups.is_empty() {
        let _ = writeln!(
            out,
            "{none} Add them with `/release change kind:… ticket:Tk-N text:\"…\"`."
        );
    }
    for g in groups {
        let _ = writeln!(out, "- {}", g.heading);
        for c in &g.changes {
            match &c.ticket {
                Some(t) => {
                    let _ = writeln!(out, "  - {} ({t})", c.text);
                }
                None => {
                    let _ = writeln!(out, "  - {}", c.text);
                }
            }
        }
    }
}

/// The JSON form: `{"releases": [...]}`.
pub fn render_json(doc: &AsBuilt) -> String {
    let mut json =
        serde_json::to_string_pretty(doc).expect("an as-built document always serialises");
    json.push('\n');
    json
}

// ---------------------------------------------------------------------------------------------
// The Kubernetes Deployment
// ---------------------------------------------------------------------------------------------

/// The release has no capacity plan to deploy from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("release {0} has no capacity plan; record one with /release capacity service:… image:… memory:… utilisation:… cpu:…")]
pub struct NoCapacityPlan(pub Version);

/// The release's Deployments, one per planned component, as a multi-document YAML stream:
/// each component scales on its own (the seed put the order processor in the app's pod,
/// which would have run six order processors with the six app replicas).
pub fn render_deployment(release: &ReleaseDoc) -> Result<String, NoCapacityPlan> {
    if release.capacity.is_empty() {
        return Err(NoCapacityPlan(release.version.clone()));
    }
    let mut out = String::new();
    for (i, c) in release.capacity.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        write_deployment(&mut out, &c.plan, &release.version);
    }
    Ok(out)
}

/// A YAML double-quoted scalar: JSON's string syntax is a subset of it.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serialises")
}

fn write_deployment(out: &mut String, plan: &CapacityPlan, version: &Version) {
    let name = &plan.name;
    let version = quoted(version.as_str());
    let _ = write!(
        out,
        "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/version: {version}
    app.kubernetes.io/managed-by: warroom
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
        app.kubernetes.io/version: {version}
    spec:
      containers:
        - name: {name}
          image: {image}
          resources:
            requests:
              memory: {memory}Mi
              cpu: {cpu}m
            limits:
              memory: {memory}Mi
              cpu: {cpu_limit}m
",
        replicas = plan.replicas,
        image = quoted(&plan.inputs.image),
        memory = plan.memory_mi,
        cpu = plan.cpu_m,
        cpu_limit = plan.cpu_limit_m,
    );
    if let Some(port) = plan.inputs.port {
        let _ = write!(
            out,
            "          ports:\n            - containerPort: {port}\n"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The seed's main application: 500 users per replica, 2,600 expected, 3 replicas today,
    /// 85% of a 256 MB request in use, 25% more memory for the same users, CPU unchanged.
    pub(crate) fn seed_app() -> CapacityInputs {
        CapacityInputs {
            service: "app".into(),
            image: "nginx:latest".into(),
            concurrent_users: Some(2600),
            users_per_replica: Some(500),
            current_replicas: Some(3),
            memory_request_mi: 256,
            memory_utilisation: "85".parse().unwrap(),
            memory_growth: "25".parse().unwrap(),
            cpu_request_m: 250,
            cpu_factor: Decimal::ONE,
            port: Some(80),
        }
    }

    #[test]
    fn the_seed_figures_give_six_replicas_and_512_mi() {
        let plan = CapacityPlan::compute(seed_app()).unwrap();
        assert_eq!(plan.replicas, 6);
        assert_eq!(plan.memory_needed_mi, Decimal::from_hundredths(27_200));
        assert_eq!(plan.memory_needed_mi.to_string(), "272");
        assert_eq!(plan.memory_mi, 512);
        assert_eq!(plan.cpu_m, 250);
        assert_eq!(plan.name, "app");
        assert_eq!(
            plan.steps[0],
            "Replicas: 2600 concurrent users ÷ 500 users per replica = 5.2, rounded up: 6 (was 3); 6 × 500 = 3000 users ≥ 2600."
        );
        assert_eq!(
            plan.steps[1],
            "Memory: 256 Mi × 85% in use × (1 + 25% growth) = 272 Mi needed; the next standard size above it is 512 Mi (was 256 Mi)."
        );
        assert_eq!(plan.steps[2], "CPU: 250m × 1 = 250m (unchanged).");
    }

    #[test]
    fn a_new_component_scales_cpu_by_its_factor_and_keeps_headroom() {
        // The seed's order processor: about 1 GB used in testing, twice the app's CPU.
        let plan = CapacityPlan::compute(CapacityInputs {
            service: "order_processor".into(),
            concurrent_users: None,
            users_per_replica: None,
            current_replicas: None,
            memory_request_mi: 1024,
            memory_utilisation: "100".parse().unwrap(),
            memory_growth: Decimal::ZERO,
            cpu_factor: "2".parse().unwrap(),
            port: None,
            ..seed_app()
        })
        .unwrap();
        assert_eq!(plan.name, "order-processor");
        assert_eq!(plan.replicas, 1);
        assert_eq!(plan.memory_mi, 2048, "a need exactly on a size gets room");
        assert_eq!(plan.cpu_m, 500);
        assert_eq!(plan.cpu_limit_m, 1000);
        assert!(plan.steps[0].contains("as given"), "{:?}", plan.steps);
    }

    #[test]
    fn standard_sizes_are_powers_of_two_from_128() {
        let mi = |m: u64| standard_memory_size(Decimal::from_hundredths(m * 100));
        assert_eq!(mi(1), 128);
        assert_eq!(mi(127), 128);
        assert_eq!(mi(128), 256);
        assert_eq!(standard_memory_size(Decimal::from_hundredths(27_160)), 512);
        assert_eq!(mi(272), 512);
        assert_eq!(mi(600), 1024);
        assert_eq!(mi(5000), 8192);
    }

    #[test]
    fn capacity_inputs_are_checked_with_what_to_write() {
        let err = |inputs: CapacityInputs| CapacityPlan::compute(inputs).unwrap_err().to_string();
        assert!(err(CapacityInputs {
            concurrent_users: None,
            ..seed_app()
        })
        .contains("users and per_replica together"));
        assert!(err(CapacityInputs {
            service: "__".into(),
            ..seed_app()
        })
        .contains("service '__'"));
        assert!(err(CapacityInputs {
            memory_utilisation: "0.85".parse().unwrap(),
            ..seed_app()
        })
        .contains("write 85 for 85%"));
        assert!(parse_cpu_m("250")
            .unwrap_err()
            .to_string()
            .contains("cpu:250m"));
        assert_eq!(parse_cpu_m("250m").unwrap(), 250);
        assert_eq!(parse_cpu_m("0.5").unwrap(), 500);
        assert_eq!(parse_memory_mi("256mb").unwrap(), 256);
        assert_eq!(parse_memory_mi("256Mi").unwrap(), 256);
        assert_eq!(parse_memory_mi("1Gi").unwrap(), 1024);
        assert!(parse_memory_mi("256kb").is_err());
    }

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_label("order_processor").unwrap(), "order-processor");
        assert_eq!(dns_label("mainApp").unwrap(), "main-app");
        assert_eq!(dns_label("  App  Server!! ").unwrap(), "app-server");
        assert_eq!(dns_label("x".repeat(80).as_str()).unwrap().len(), 63);
        assert_eq!(dns_label("__"), None);
    }

    #[test]
    fn kinds_read_the_issue_and_template_words_and_list_them_when_wrong() {
        for (word, kind) in [
            ("security", ChangeKind::Security),
            ("security fix", ChangeKind::Security),
            ("Bug fix", ChangeKind::BugFix),
            ("feature", ChangeKind::Feature),
            ("feature addition", ChangeKind::Feature),
            ("feature modification", ChangeKind::FeatureModification),
            ("feature_modification", ChangeKind::FeatureModification),
            ("data model change", ChangeKind::DataModel),
            ("data-model", ChangeKind::DataModel),
            ("system change", ChangeKind::System),
        ] {
            assert_eq!(word.parse::<ChangeKind>().unwrap(), kind, "{word}");
        }
        for kind in ChangeKind::ALL {
            assert_eq!(kind.as_str().parse::<ChangeKind>().unwrap(), kind);
        }
        let err = "hotfix".parse::<ChangeKind>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown change kind 'hotfix'; use security, bug-fix, feature, feature-modification, data-model or system"
        );
    }

    #[test]
    fn versions_and_tickets_are_read_once() {
        assert_eq!("2".parse::<Version>().unwrap().stream_id(), "release-2");
        assert_eq!("v2.1".parse::<Version>().unwrap().as_str(), "2.1");
        assert_eq!(
            Version::from_stream_id("release-2024.03-rc1")
                .unwrap()
                .as_str(),
            "2024.03-rc1"
        );
        assert!("two words".parse::<Version>().is_err());
        assert!("-2".parse::<Version>().is_err());
        assert_eq!(Version::from_stream_id("incident-2"), None);
        assert_eq!(ticket("Tk-205").unwrap(), "Tk-205");
        assert_eq!(ticket("Tk 205").unwrap(), "Tk-205");
        assert_eq!(ticket("TK-203").unwrap(), "TK-203");
        assert_eq!(ticket("205").unwrap(), "205");
        assert!(ticket("soon").is_err());
        assert!(ticket("Tk-2x5").is_err());
    }

    #[test]
    fn decimals_are_exact_and_read_back() {
        let d: Decimal = "12.5%".parse().unwrap();
        assert_eq!(d.hundredths(), 1250);
        assert_eq!(d.to_string(), "12.5");
        assert_eq!("1.25".parse::<Decimal>().unwrap().to_string(), "1.25");
        assert!("1.255".parse::<Decimal>().is_err());
        assert!("-1".parse::<Decimal>().is_err());
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, "\"12.5\"");
        assert_eq!(serde_json::from_str::<Decimal>(&json).unwrap(), d);
    }

    fn record(n: i64, event: Event) -> Recorded {
        Recorded {
            event_id: Uuid::from_u128(n as u128),
            position: n,
            at: Utc.with_ymd_and_hms(2021, 3, 10, 20, 0, 0).unwrap() + chrono::Duration::minutes(n),
            actor: "rpark".into(),
            event,
        }
    }

    fn run(commands: Vec<ReleaseCommand>) -> Result<Option<Release>, ReleaseError> {
        let version: Version = "2".parse().unwrap();
        let mut records = Vec::new();
        for c in commands {
            let state = fold(&records);
            for e in decide(state.as_ref(), &version, c)? {
                records.push(record(records.len() as i64 + 1, e));
            }
        }
        Ok(fold(&records))
    }

    fn change(kind: ChangeKind, ticket: &str, text: &str) -> ReleaseCommand {
        ReleaseCommand::AddChange {
            kind,
            ticket: Some(ticket.into()),
            text: text.into(),
        }
    }

    #[test]
    fn a_release_takes_changes_until_it_is_published() {
        let release = run(vec![
            ReleaseCommand::Open,
            change(ChangeKind::Security, "Tk 205", "Fixed SQL injection"),
            ReleaseCommand::PlanCapacity(seed_app()),
            ReleaseCommand::Publish,
        ])
        .unwrap()
        .unwrap();
        assert!(release.published_at.is_some());
        assert_eq!(release.changes[0].ticket.as_deref(), Some("Tk-205"));
        assert_eq!(release.capacity[0].plan.replicas, 6);
        assert_eq!(release.version_count, 4);

        let late = run(vec![
            ReleaseCommand::Open,
            change(ChangeKind::Feature, "Tk-1", "x"),
            ReleaseCommand::Publish,
            change(ChangeKind::Feature, "Tk-2", "y"),
        ]);
        assert!(matches!(late, Err(ReleaseError::AlreadyPublished(_))));
        let reopened = run(vec![
            ReleaseCommand::Open,
            change(ChangeKind::Feature, "Tk-1", "x"),
            ReleaseCommand::Publish,
            ReleaseCommand::Open,
        ]);
        assert!(matches!(reopened, Err(ReleaseError::AlreadyPublished(_))));
    }

    #[test]
    fn the_rules_refuse_with_what_to_do() {
        let err = run(vec![change(ChangeKind::Feature, "Tk-1", "x")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "release 2 was never opened; start it with /release open version:2"
        );
        let err = run(vec![ReleaseCommand::Open, ReleaseCommand::Publish]).unwrap_err();
        assert!(err.to_string().contains("has no changes yet"), "{err}");
        let err = run(vec![ReleaseCommand::Open, ReleaseCommand::Open]).unwrap_err();
        assert!(matches!(err, ReleaseError::AlreadyOpen(_)));
        let err = run(vec![
            ReleaseCommand::Open,
            ReleaseCommand::NoteTest { text: "  ".into() },
        ])
        .unwrap_err();
        assert_eq!(err.to_string(), "the text is empty; say it with text:\"…\"");
        let twice = ReleaseCommand::AddStakeholder {
            team: Some("ops".into()),
            person: "@ghammer".into(),
        };
        let err = run(vec![ReleaseCommand::Open, twice.clone(), twice]).unwrap_err();
        assert!(matches!(err, ReleaseError::DuplicateStakeholder { .. }));
    }

    #[test]
    fn a_later_plan_for_the_same_component_replaces_the_earlier() {
        let release = run(vec![
            ReleaseCommand::Open,
            ReleaseCommand::PlanCapacity(CapacityInputs {
                concurrent_users: Some(1300),
                ..seed_app()
            }),
            ReleaseCommand::PlanCapacity(seed_app()),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(release.capacity.len(), 1);
        assert_eq!(release.capacity[0].plan.replicas, 6);
    }
}
