//! `[[agents]]`: the agents allowed to connect, each known by the hash of its token.

use serde::Deserialize;
use std::collections::BTreeMap;

/// An agent as written: its token is never in the file, only its hash.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AgentFile {
    pub name: String,
    /// `sha256sum` of the agent's token, in hex.
    pub token_sha256: String,
    /// Labels that decide which runbooks it may run (`role = "dns"`, `host = "dns1"`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// An agent allowed to connect, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSettings {
    pub name: String,
    pub token_sha256: [u8; 32],
    pub labels: BTreeMap<String, String>,
}

/// `[[agents]]`: each agent by the hash of its token; names are unique.
pub(super) fn read_agents(agents: &[AgentFile], problems: &mut Vec<String>) -> Vec<AgentSettings> {
    let mut read: Vec<AgentSettings> = Vec::new();
    for (i, a) in agents.iter().enumerate() {
        let key = format!("agents[{i}] ({})", a.name);
        let hash = hex::decode(a.token_sha256.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        match hash {
            Some(token_sha256) => {
                if read.iter().any(|o| o.name == a.name) {
                    problems.push(format!("{key}.name: another agent is called '{}'", a.name));
                }
                read.push(AgentSettings {
                    name: a.name.clone(),
                    token_sha256,
                    labels: a.labels.clone(),
                })
            }
            None => problems.push(format!(
                "{key}.token_sha256: give the SHA-256 of the agent's token in hex (`printf %s \"$TOKEN\" | sha256sum`)"
            )),
        }
    }
    read
}
