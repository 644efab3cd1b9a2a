//! `[[teams]]` and `[[contacts]]`: the directory in which every page target and every
//! Discord user of the later sections is looked up.

use crate::domain::contacts::{Contact, Directory, Team};

/// `[[teams]]` and `[[contacts]]` as one directory; `None` when it cannot be made, since
/// every later section that names a person or a team needs it.
pub(super) fn read_directory(
    teams: Vec<Team>,
    contacts: Vec<Contact>,
    problems: &mut Vec<String>,
) -> Option<Directory> {
    let mut teams = teams;
    for contact in &contacts {
        if !teams.iter().any(|t| t.name == contact.team) {
            problems.push(format!(
                "contact '{}' is in team '{}', which is not in [[teams]]; add the team or fix the name",
                contact.handle, contact.team
            ));
        }
    }
    teams.dedup_by(|a, b| a.name == b.name);
    match Directory::new(contacts, teams) {
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    }
}
