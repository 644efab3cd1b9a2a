//! Small value types of the incident domain, each parsed once at the edge with an error a person can act on.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How bad an incident is: sev1 (worst) to sev4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Sev1,
    Sev2,
    Sev3,
    Sev4,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Sev1,
        Severity::Sev2,
        Severity::Sev3,
        Severity::Sev4,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Sev1 => "sev1",
            Severity::Sev2 => "sev2",
            Severity::Sev3 => "sev3",
            Severity::Sev4 => "sev4",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is not one of a fixed set of words; the message lists the words to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{given}'; use {expected}")]
pub struct UnknownWord {
    pub what: &'static str,
    pub given: String,
    pub expected: &'static str,
}

impl FromStr for Severity {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sev1" | "1" => Ok(Severity::Sev1),
            "sev2" | "2" => Ok(Severity::Sev2),
            "sev3" | "3" => Ok(Severity::Sev3),
            "sev4" | "4" => Ok(Severity::Sev4),
            _ => Err(UnknownWord {
                what: "severity",
                given: s.to_string(),
                expected: "sev1–sev4",
            }),
        }
    }
}

/// The incident roles a responder can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Commander,
    Comms,
    Scribe,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Commander => "commander",
            Role::Comms => "comms",
            Role::Scribe => "scribe",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "commander" | "ic" => Ok(Role::Commander),
            "comms" | "communications" => Ok(Role::Comms),
            "scribe" => Ok(Role::Scribe),
            _ => Err(UnknownWord {
                what: "role",
                given: s.to_string(),
                expected: "commander, comms or scribe",
            }),
        }
    }
}

/// Where an incident hurt, as the post-mortem's Impact section groups it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImpactArea {
    Business,
    Customer,
    System,
}

impl ImpactArea {
    pub fn as_str(self) -> &'static str {
        match self {
            ImpactArea::Business => "business",
            ImpactArea::Customer => "customer",
            ImpactArea::System => "system",
        }
    }
}

impl fmt::Display for ImpactArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ImpactArea {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "business" => Ok(ImpactArea::Business),
            "customer" | "customers" => Ok(ImpactArea::Customer),
            "system" | "systems" => Ok(ImpactArea::System),
            _ => Err(UnknownWord {
                what: "impact area",
                given: s.to_string(),
                expected: "business, customer or system",
            }),
        }
    }
}

/// The human number of an incident: `INC-7`. Numbers are gapless, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentNumber(pub u64);

impl IncidentNumber {
    /// The id of the event stream holding this incident.
    pub fn stream_id(self) -> String {
        format!("incident-{}", self.0)
    }

    /// The incident number of a stream id, if it is an incident stream.
    pub fn from_stream_id(stream: &str) -> Option<IncidentNumber> {
        stream
            .strip_prefix("incident-")
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .map(IncidentNumber)
    }
}

impl fmt::Display for IncidentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{}", self.0)
    }
}

/// An incident reference that is neither `INC-7` nor `7`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an incident number; write it as INC-7 or 7")]
pub struct BadIncidentNumber(pub String);

impl FromStr for IncidentNumber {
    type Err = BadIncidentNumber;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let digits = t
            .strip_prefix("INC-")
            .or_else(|| t.strip_prefix("inc-"))
            .or_else(|| t.strip_prefix("Inc-"))
            .unwrap_or(t);
        match digits.parse::<u64>() {
            Ok(n) if n > 0 => Ok(IncidentNumber(n)),
            _ => Err(BadIncidentNumber(s.to_string())),
        }
    }
}

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Open,
    Resolved,
    Closed,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::Closed => "closed",
        }
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_refusal_names_the_valid_words() {
        let err = "p1".parse::<Severity>().unwrap_err();
        assert_eq!(err.to_string(), "unknown severity 'p1'; use sev1–sev4");
        assert_eq!("SEV2".parse::<Severity>().unwrap(), Severity::Sev2);
    }

    #[test]
    fn incident_numbers_accept_both_spellings() {
        assert_eq!(
            "INC-7".parse::<IncidentNumber>().unwrap(),
            IncidentNumber(7)
        );
        assert_eq!("7".parse::<IncidentNumber>().unwrap(), IncidentNumber(7));
        assert!("INC-0".parse::<IncidentNumber>().is_err());
        assert!("seven".parse::<IncidentNumber>().is_err());
        assert_eq!(
            IncidentNumber::from_stream_id("incident-12"),
            Some(IncidentNumber(12))
        );
        assert_eq!(IncidentNumber::from_stream_id("channel-ops"), None);
    }
}
