//! Who may do what: the warroom roles a chat front end grants its users, in rising order.
//!
//! Discord's own command permissions can be changed by any guild admin, so warroom decides
//! by itself: the front end maps a person to one of these roles, every command names the
//! least role it needs, and a person holding a higher role may do everything below it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::types::UnknownWord;

/// A warroom role. The order is the order of trust: `Sre` may do what `Responder` may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Holds no warroom role: what they say is recorded, but they may run no command.
    Guest,
    /// May read: timelines, post-mortem drafts, help.
    Viewer,
    /// May work an incident: open it, post updates, page, acknowledge, resolve.
    Responder,
    /// May also close and reopen incidents and run runbooks that say so.
    Sre,
}

impl Access {
    pub const ALL: [Access; 4] = [
        Access::Guest,
        Access::Viewer,
        Access::Responder,
        Access::Sre,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Guest => "guest",
            Access::Viewer => "viewer",
            Access::Responder => "responder",
            Access::Sre => "sre",
        }
    }

    /// Whether someone holding `self` may run something that needs `needed`.
    pub fn allows(self, needed: Access) -> bool {
        self >= needed
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Access {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "guest" | "none" => Ok(Access::Guest),
            "viewer" => Ok(Access::Viewer),
            "responder" => Ok(Access::Responder),
            "sre" => Ok(Access::Sre),
            _ => Err(UnknownWord {
                what: "warroom role",
                given: s.to_string(),
                expected: "guest (none), viewer, responder or sre",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_roles_may_do_what_lower_ones_may() {
        assert!(Access::Sre.allows(Access::Responder));
        assert!(Access::Responder.allows(Access::Responder));
        assert!(!Access::Viewer.allows(Access::Responder));
        assert!(!Access::Responder.allows(Access::Sre));
        assert_eq!("SRE".parse::<Access>().unwrap(), Access::Sre);
        let err = "admin".parse::<Access>().unwrap_err().to_string();
        assert!(err.contains("viewer, responder or sre"), "{err}");
    }
}
