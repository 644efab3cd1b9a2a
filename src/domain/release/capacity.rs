//! The capacity arithmetic of a release's deployment: exact decimals, the inputs given, and the plan decided from them with its reasoning.

use super::values::ReleaseError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

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
    /// Replicas today, or the replicas to run when no user load is given; 1 when not said.
    /// Given, the component runs today, and each figure says what it was; absent, it is new
    /// in the release (its memory and CPU are a basis, e.g. the component it is sized after).
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
        // Only a component that runs today had figures before; a new one's memory and CPU
        // are the basis it is sized from, not an allocation it had.
        let was = |now: String, before: Option<String>| match before.filter(|_| current.is_some()) {
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
