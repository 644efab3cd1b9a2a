//! The people and teams warroom knows, and how chat names and mentions resolve to them.
//!
//! Names are matched case-insensitively on the handle or any alias, because the seed's own log
//! writes `hammer` and `ghammer` for the same person.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A person who can be mentioned, paged or given a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The canonical handle, as written after `@` in chat.
    pub handle: String,
    /// The full name shown in documents.
    pub name: String,
    /// The team the person answers for; stakeholders are grouped by it.
    pub team: String,
    /// Other names the person goes by in chat.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A team that can be mentioned as a whole (`!sre`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// The name shown in documents, e.g. `Database Admin`.
    pub name: String,
    /// Short names used in chat, e.g. `dba`.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A configuration mistake in the contact list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("the name '{name}' is used by both {first} and {second}; each handle and alias must name one contact or team")]
    Ambiguous {
        name: String,
        first: String,
        second: String,
    },
    #[error("contact '{handle}' has an empty {field}; fill it in")]
    Empty { handle: String, field: &'static str },
}

/// What a chat name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named<'a> {
    Person(&'a Contact),
    Team(&'a Team),
}

/// All contacts and teams, indexed by every name they answer to.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    contacts: Vec<Contact>,
    teams: Vec<Team>,
    by_name: HashMap<String, Entry>,
}

#[derive(Debug, Clone, Copy)]
enum Entry {
    Person(usize),
    Team(usize),
}

impl Directory {
    /// Builds the index; refuses a name that would point at two different entries.
    pub fn new(contacts: Vec<Contact>, teams: Vec<Team>) -> Result<Directory, DirectoryError> {
        let mut dir = Directory {
            contacts,
            teams,
            by_name: HashMap::new(),
        };
        for (i, c) in dir.contacts.iter().enumerate() {
            for (field, value) in [("handle", &c.handle), ("name", &c.name), ("team", &c.team)] {
                if value.trim().is_empty() {
                    return Err(DirectoryError::Empty {
                        handle: c.handle.clone(),
                        field,
                    });
                }
            }
            for name in std::iter::once(&c.handle).chain(&c.aliases) {
                insert(
                    &mut dir.by_name,
                    &dir.contacts,
                    &dir.teams,
                    name,
                    Entry::Person(i),
                )?;
            }
        }
        for (i, t) in dir.teams.iter().enumerate() {
            for name in std::iter::once(&t.name).chain(&t.aliases) {
                insert(
                    &mut dir.by_name,
                    &dir.contacts,
                    &dir.teams,
                    name,
                    Entry::Team(i),
                )?;
            }
        }
        Ok(dir)
    }

    pub fn contacts(&self) -> &[Contact] {
        &self.contacts
    }

    /// Teams in configuration order; documents list teams in this order.
    pub fn teams(&self) -> &[Team] {
        &self.teams
    }

    /// What a name (with or without a leading `@`/`!`) refers to.
    pub fn lookup(&self, name: &str) -> Option<Named<'_>> {
        match self.by_name.get(&normalise(name))? {
            Entry::Person(i) => Some(Named::Person(&self.contacts[*i])),
            Entry::Team(i) => Some(Named::Team(&self.teams[*i])),
        }
    }

    /// The person a name refers to, if it is a person.
    pub fn person(&self, name: &str) -> Option<&Contact> {
        match self.lookup(name)? {
            Named::Person(c) => Some(c),
            Named::Team(_) => None,
        }
    }

    /// How a person is shown in documents: `Susan Vega (@svega)`, or `@name` when unknown.
    pub fn display(&self, name: &str) -> String {
        match self.person(name) {
            Some(c) => format!("{} (@{})", c.name, c.handle),
            None => format!("@{}", strip_sigil(name)),
        }
    }
}

fn insert(
    index: &mut HashMap<String, Entry>,
    contacts: &[Contact],
    teams: &[Team],
    name: &str,
    entry: Entry,
) -> Result<(), DirectoryError> {
    let key = normalise(name);
    if key.is_empty() {
        return Ok(());
    }
    let label = |e: Entry| match e {
        Entry::Person(i) => format!("contact '{}'", contacts[i].handle),
        Entry::Team(i) => format!("team '{}'", teams[i].name),
    };
    match index.get(&key) {
        Some(existing) if !same(*existing, entry) => Err(DirectoryError::Ambiguous {
            name: name.to_string(),
            first: label(*existing),
            second: label(entry),
        }),
        _ => {
            index.insert(key, entry);
            Ok(())
        }
    }
}

fn same(a: Entry, b: Entry) -> bool {
    matches!((a, b), (Entry::Person(x), Entry::Person(y)) | (Entry::Team(x), Entry::Team(y)) if x == y)
}

fn strip_sigil(name: &str) -> &str {
    name.trim().trim_start_matches(['@', '!'])
}

fn normalise(name: &str) -> String {
    strip_sigil(name).to_lowercase()
}

/// The names mentioned in a text with `@name` or `!name`, in order of first use, without the
/// sigil. A sigil counts only at the start of a word, so `ops@example.com` mentions nobody.
pub fn mentions(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let at_word_start = prev.is_none_or(|p| p.is_whitespace() || "([{\"'".contains(p));
        if (c == '@' || c == '!') && at_word_start {
            let rest = &text[i + c.len_utf8()..];
            let name: String = rest
                .chars()
                .take_while(|ch| ch.is_alphanumeric() || matches!(ch, '_' | '.' | '-'))
                .collect();
            let name = name.trim_end_matches(['.', '-']).to_string();
            if name.chars().next().is_some_and(|ch| ch.is_alphabetic()) && !found.contains(&name) {
                found.push(name);
            }
        }
        prev = Some(c);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Directory {
        Directory::new(
            vec![
                Contact {
                    handle: "ghammer".into(),
                    name: "Glenn Hammer".into(),
                    team: "Ops".into(),
                    aliases: vec!["hammer".into()],
                },
                Contact {
                    handle: "svega".into(),
                    name: "Susan Vega".into(),
                    team: "Customer Support".into(),
                    aliases: vec![],
                },
            ],
            vec![Team {
                name: "SRE".into(),
                aliases: vec!["sre".into()],
            }],
        )
        .unwrap()
    }

    #[test]
    fn aliases_resolve_to_the_same_person() {
        let dir = seed();
        assert_eq!(dir.person("hammer").unwrap().handle, "ghammer");
        assert_eq!(dir.person("@GHammer").unwrap().handle, "ghammer");
        assert_eq!(dir.display("!hammer"), "Glenn Hammer (@ghammer)");
        assert_eq!(dir.display("stranger"), "@stranger");
        assert!(matches!(dir.lookup("!sre"), Some(Named::Team(_))));
    }

    #[test]
    fn a_name_used_twice_is_refused() {
        let err = Directory::new(
            vec![
                Contact {
                    handle: "a".into(),
                    name: "A".into(),
                    team: "T".into(),
                    aliases: vec!["x".into()],
                },
                Contact {
                    handle: "b".into(),
                    name: "B".into(),
                    team: "T".into(),
                    aliases: vec!["X".into()],
                },
            ],
            vec![],
        )
        .unwrap_err();
        assert!(err
            .to_string()
            .contains("'X' is used by both contact 'a' and contact 'b'"));
    }

    #[test]
    fn mentions_take_both_sigils_once_each_and_ignore_emails() {
        assert_eq!(
            mentions("!sre !ghammer when was the last deploy? ping @svega, @svega and !ghammer."),
            vec!["sre", "ghammer", "svega"]
        );
        assert_eq!(
            mentions("mail ops@example.com now! really"),
            Vec::<String>::new()
        );
        assert_eq!(mentions("(@khouse) see this"), vec!["khouse"]);
    }
}
