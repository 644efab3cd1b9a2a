//! Names warroom accepts, made from the tools': chat handles from usernames and emails, and
//! unique slugs for schedules and escalation policies.

use std::collections::BTreeSet;

/// A chat handle from a username or an email: the local part, lowercase, letters, digits,
/// `.`, `_` and `-` only, starting with a letter (a mention needs one).
pub(crate) fn handle_from(wanted: &str) -> String {
    let local = wanted.split('@').next().unwrap_or_default();
    let mut handle: String = local
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    handle = handle
        .trim_matches(|c| matches!(c, '.' | '_' | '-'))
        .to_string();
    if !handle.starts_with(|c: char| c.is_ascii_alphabetic()) {
        handle.insert(0, 'u');
    }
    handle
}

/// A name of letters, digits, `-`, `_` and `.`, lowercase, unique in `taken`.
pub(super) fn unique_slug(wanted: &str, default: &str, taken: &mut BTreeSet<String>) -> String {
    let mut slug = String::new();
    for c in wanted.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    let base = if slug.is_empty() { default } else { slug };
    let mut chosen = base.to_string();
    let mut n = 2;
    while taken.contains(&chosen) {
        chosen = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(chosen.clone());
    chosen
}

#[cfg(test)]
mod tests {
    use super::super::draft::Draft;
    use super::super::ImportSource;
    use super::*;

    #[test]
    fn handles_and_names_are_what_warroom_accepts_and_unique() {
        assert_eq!(
            handle_from("Riley.Park+oncall@example.com"),
            "riley.park-oncall"
        );
        assert_eq!(handle_from("rpark"), "rpark");
        assert_eq!(handle_from("1ops"), "u1ops");
        let mut draft = Draft::new(ImportSource::PagerDuty);
        let team = draft.team("rpark");
        assert_eq!(team, "rpark");
        // A handle may not be a team's name, in any case.
        assert_eq!(
            draft.person("RPark@example.com", "Riley Park", None),
            "rpark2"
        );
        assert_eq!(
            draft.person("rpark@example.org", "Riley Other", None),
            "rpark3"
        );
        assert_eq!(draft.schedule_name("SRE / Primary (EU)"), "sre-primary-eu");
        assert_eq!(draft.schedule_name("sre primary eu"), "sre-primary-eu-2");
        assert_eq!(draft.schedule_name("!!!"), "schedule");
    }
}
