//! A release's value types: its version, the kinds of change, tickets, and why an order was refused.

use crate::domain::types::UnknownWord;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

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
    /// What every release stream's id starts with.
    pub const STREAM_PREFIX: &str = "release-";

    /// The id of the stream that holds this release.
    pub fn stream_id(&self) -> String {
        format!("{}{}", Version::STREAM_PREFIX, self.0)
    }

    /// The version of a release stream id, if it is one.
    pub fn from_stream_id(stream: &str) -> Option<Version> {
        stream.strip_prefix(Version::STREAM_PREFIX)?.parse().ok()
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
    /// The words (`security fix`, `feature`, `feature modification`, `data model
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
