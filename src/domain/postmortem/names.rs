//! Names from events resolved through the contact list — handle, full name, team, how they
//! are shown — once per distinct name, for every section.

use crate::domain::contacts::{Directory, Named};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The contact list, and the names already resolved through it.
pub(super) struct Names<'d> {
    directory: &'d Directory,
    // Every name resolves the same way each time and an incident has few distinct names, so
    // each is looked up once (a 100k-event incident would otherwise redo it 300k times).
    // A mutex, not a cell, so that an assembly can be carried across a reader's awaits.
    resolved: Mutex<HashMap<String, Arc<Resolved>>>,
}

impl<'d> Names<'d> {
    pub(super) fn new(directory: &'d Directory) -> Names<'d> {
        Names {
            directory,
            resolved: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn directory(&self) -> &'d Directory {
        self.directory
    }

    pub(super) fn resolve(&self, name: &str) -> Arc<Resolved> {
        let mut resolved = self.resolved.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = resolved.get(name) {
            return known.clone();
        }
        let known = Arc::new(Resolved::of(self.directory, name));
        resolved.insert(name.to_string(), known.clone());
        known
    }

    /// The contact's handle, or the name as written without its sigil.
    pub(super) fn canonical(&self, name: &str) -> String {
        self.resolve(name).handle.clone()
    }
}

/// The team of people who are not in the contact list.
pub(super) const OTHER: &str = "Other";

/// How a name from an event is shown, resolved once per distinct name.
pub(super) struct Resolved {
    /// The contact's handle, or the name as written without its sigil.
    pub(super) handle: String,
    /// The handle lowercased: one person, however their name is capitalised.
    pub(super) key: String,
    /// The contact's full name, when known.
    pub(super) name: Option<String>,
    /// `Susan Vega (@svega)`, or `@name` for a stranger.
    pub(super) shown: String,
    /// The contact's team, or `Other`.
    pub(super) team: String,
    /// The name is not a person's: a team (`!sre`), everyone in the channel (`@everyone`,
    /// `@here`), a Discord role or channel mention — never a stakeholder.
    pub(super) is_team: bool,
    /// The contact list knows the name.
    pub(super) known: bool,
}

impl Resolved {
    fn of(directory: &Directory, name: &str) -> Resolved {
        match directory.lookup(name) {
            Some(Named::Person(c)) => Resolved {
                key: c.handle.to_lowercase(),
                handle: c.handle.clone(),
                name: Some(c.name.clone()),
                shown: directory.display(name),
                team: c.team.clone(),
                is_team: false,
                known: true,
            },
            other => {
                let raw = name.trim_start_matches(['@', '!']).to_string();
                let not_a_person = matches!(other, Some(Named::Team(_))) || !person_like(&raw);
                Resolved {
                    key: raw.to_lowercase(),
                    shown: format!("@{raw}"),
                    handle: raw,
                    name: None,
                    team: OTHER.to_string(),
                    is_team: not_a_person,
                    known: other.is_some(),
                }
            }
        }
    }
}

/// Whether a name not in the contact list can still be a person's: not a word Discord gives
/// to a whole channel, and not a role (`<@&…>`, `&…`) or channel (`<#…>`, `#…`) mention.
fn person_like(raw: &str) -> bool {
    !raw.is_empty()
        && !matches!(
            raw.to_ascii_lowercase().as_str(),
            "everyone" | "here" | "channel"
        )
        && !raw.starts_with(['&', '#', '<'])
}
