//! A runbook's parameters: checked when the file is read (a name, an anchored pattern that
//! every choice and the default match, the hosts of a URL parameter), and the values a
//! person gives bound to them, matched whole, before anything runs.

use super::command::NAME_LIMIT;
use super::file::{Mistakes, ParamFile};
use super::Runbook;
use crate::domain::url_param::{check_url, HostPattern};
use regex::Regex;
use std::collections::BTreeMap;

/// A parameter of a runbook command.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub help: String,
    /// The whole value must match (anchored when read).
    pub pattern: Regex,
    pub required: bool,
    /// The only values allowed, when given (offered as choices in Discord).
    pub choices: Vec<String>,
    pub default: Option<String>,
    /// For a URL parameter (`kind = "url"`): the hosts it may name; empty leaves the list to
    /// each agent's `url_hosts`. `None` for a plain parameter.
    pub url_hosts: Option<Vec<HostPattern>>,
}

/// The `i`th parameter as written, checked; `None` when its pattern is not a regular
/// expression (the one mistake it is reported as).
pub(super) fn check(i: usize, p: &ParamFile, mistakes: &mut Mistakes) -> Option<Param> {
    let key = format!("params[{i}]");
    let line = mistakes.line_of(p.name.span());
    let name = p.name.get_ref().clone();
    if !is_name(&name) || name.len() > NAME_LIMIT {
        mistakes.fail(
            line,
            &format!("{key}.name"),
            format!(
                "'{name}' is not a parameter name; use up to 32 lowercase letters, digits and _"
            ),
        );
    }
    let pattern = match anchored(p.pattern.get_ref()) {
        Ok(r) => r,
        Err(problem) => {
            mistakes.fail(
                mistakes.line_of(p.pattern.span()),
                &format!("{key}.pattern"),
                problem,
            );
            return None;
        }
    };
    for value in p.choices.iter().chain(&p.default) {
        if !pattern.is_match(value) {
            mistakes.fail(
                line,
                &key,
                format!("'{value}' (a choice or the default) does not match the pattern"),
            );
        }
    }
    let url_hosts = match (p.kind.as_ref().map(|k| k.get_ref().as_str()), &p.hosts) {
        (None | Some("text"), None) => None,
        (None | Some("text"), Some(hosts)) => {
            mistakes.fail(
                mistakes.line_of(hosts.span()),
                &format!("{key}.hosts"),
                "hosts belong to a URL parameter; add kind = \"url\"".into(),
            );
            None
        }
        (Some("url"), hosts) => {
            let mut allowed = Vec::new();
            for entry in hosts.iter().flat_map(|h| h.get_ref()) {
                match HostPattern::parse(entry) {
                    Ok(pattern) => allowed.push(pattern),
                    Err(problem) => mistakes.fail(
                        hosts.as_ref().map_or(line, |h| mistakes.line_of(h.span())),
                        &format!("{key}.hosts"),
                        problem,
                    ),
                }
            }
            for value in p.choices.iter().chain(&p.default) {
                if let Err(problem) = check_url(&name, value, &allowed, false) {
                    mistakes.fail(line, &key, format!("the default or a choice: {problem}"));
                }
            }
            Some(allowed)
        }
        (Some(other), _) => {
            let kind = p.kind.as_ref().expect("matched Some");
            mistakes.fail(
                mistakes.line_of(kind.span()),
                &format!("{key}.kind"),
                format!("'{other}' is not a parameter kind; use text or url"),
            );
            None
        }
    };
    Some(Param {
        name,
        help: p.help.clone(),
        pattern,
        required: p.required,
        choices: p.choices.clone(),
        default: p.default.clone(),
        url_hosts,
    })
}

impl Runbook {
    /// Checks the values a person gave against the parameters: every value matches its
    /// pattern (and choices), required ones are present, defaults fill the rest, unknown
    /// names are refused. Errors say which parameter and what is allowed.
    pub fn bind(
        &self,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        for name in given.keys() {
            if !self.params.iter().any(|p| &p.name == name) {
                let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(format!(
                    "{} has no parameter '{name}'; it takes {}",
                    self.command_text(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        let mut values = BTreeMap::new();
        for p in &self.params {
            let value = match (given.get(&p.name), &p.default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) if p.required => {
                    return Err(format!("{} needs {}:…", self.command_text(), p.name))
                }
                (None, None) => continue,
            };
            if value.starts_with('-') {
                // A program would read it as an option; `--` guards the shipped runbooks,
                // but not every program knows `--`.
                return Err(format!(
                    "{}: a value may not start with '-' (refused, nothing ran)",
                    p.name
                ));
            }
            if !p.choices.is_empty() && !p.choices.contains(&value) {
                return Err(format!(
                    "{}: '{}' is not one of {}",
                    p.name,
                    value.chars().take(80).collect::<String>(),
                    p.choices.join(", ")
                ));
            }
            if !p.pattern.is_match(&value) {
                return Err(format!(
                    "{}: the value does not match {} (refused, nothing ran)",
                    p.name,
                    p.pattern.as_str()
                ));
            }
            if let Some(hosts) = &p.url_hosts {
                check_url(&p.name, &value, hosts, false)
                    .map_err(|problem| format!("{problem} (refused, nothing ran)"))?;
            }
            values.insert(p.name.clone(), value);
        }
        Ok(values)
    }

    /// The agent's own check of bound URL values: a URL parameter whose runbook lists no
    /// hosts may name only the agent's `url_hosts`, and with neither list nothing passes.
    pub fn check_urls_on_site(
        &self,
        values: &BTreeMap<String, String>,
        site_hosts: &[HostPattern],
    ) -> Result<(), String> {
        for p in &self.params {
            let (Some(hosts), Some(value)) = (&p.url_hosts, values.get(&p.name)) else {
                continue;
            };
            let allowed = if hosts.is_empty() { site_hosts } else { hosts };
            check_url(&p.name, value, allowed, true)?;
        }
        Ok(())
    }
}

/// A parameter or capture name: a lowercase letter or `_`, then lowercase letters, digits
/// and `_`.
pub(super) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `pattern` as a regex the whole value must match, or why it is not a regular expression.
pub(super) fn anchored(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
        format!(
            "'{pattern}' is not a regular expression ({})",
            regex_problem(&e)
        )
    })
}

/// The last line of the regex crate's error: the problem, without its drawing of the pattern.
pub(super) fn regex_problem(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines().last().unwrap_or_default().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::super::fixture::shipped;
    use super::super::Runbook;
    use crate::domain::url_param::HostPattern;
    use std::collections::BTreeMap;

    #[test]
    fn url_parameters_name_their_hosts() {
        let with = |param: &str| {
            format!(
                "command = \"probe url\"\ndescription = \"d\"\nroles = [\"sre\"]\n[[params]]\nname = \"url\"\npattern = '.*'\n{param}\n[[steps]]\nid = \"s\"\nprogram = \"p\"\nargs = [\"{{url}}\"]\n"
            )
        };
        let shown = |param: &str| -> Vec<String> {
            Runbook::parse("commands/p.toml", &with(param))
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            shown("hosts = [\"a\"]"),
            ["commands/p.toml:7: params[0].hosts: hosts belong to a URL parameter; add kind = \"url\""]
        );
        assert!(
            shown("kind = \"link\"")[0].contains("params[0].kind: 'link' is not a parameter kind")
        );
        assert!(shown("kind = \"url\"\nhosts = [\"a b\"]")[0]
            .contains("params[0].hosts: 'a b' is not a host entry"));
        let refused =
            shown("kind = \"url\"\nhosts = [\"127.0.0.1\"]\ndefault = \"http://169.254.169.254/\"");
        assert!(
            refused[0].contains("the default or a choice: url: 169.254.169.254 is a link-local"),
            "{refused:?}"
        );

        // Listed hosts bind on the server and on every agent; an empty list leaves the hosts
        // to each agent's url_hosts, and an agent with none refuses every URL.
        let listed = Runbook::parse("p", &with("kind = \"url\"\nhosts = [\"*.svc\"]")).unwrap();
        let given = |url: &str| BTreeMap::from([("url".to_string(), url.to_string())]);
        let values = listed.bind(&given("http://a.svc/")).unwrap();
        assert_eq!(listed.check_urls_on_site(&values, &[]), Ok(()));
        assert!(listed.bind(&given("http://a.other/")).is_err());
        let open = Runbook::parse("p", &with("kind = \"url\"")).unwrap();
        let values = open.bind(&given("http://a.other/")).unwrap();
        assert!(open
            .check_urls_on_site(&values, &[])
            .unwrap_err()
            .contains("no host is allowed"));
        let site = [HostPattern::parse("a.other").unwrap()];
        assert_eq!(open.check_urls_on_site(&values, &site), Ok(()));
        assert!(open.bind(&given("http://169.254.169.254/")).is_err());
    }

    #[test]
    fn parameters_are_checked_whole() {
        let restart = shipped("restart-app");
        let given = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        let values = restart.bind(&given("service", "exoticplant-api")).unwrap();
        assert_eq!(values["health_url"], "http://127.0.0.1/healthz");
        for hostile in [
            "x; rm -rf /",
            "$(reboot)",
            "`id`",
            "a\nb",
            "--force",
            "exoticplant && curl evil",
            &"a".repeat(65),
            "",
        ] {
            let refused = restart.bind(&given("service", hostile));
            assert!(refused.is_err(), "{hostile:?} was accepted");
        }
        assert!(restart
            .bind(&given("sevrice", "x"))
            .unwrap_err()
            .contains("has no parameter 'sevrice'; it takes service, health_url"));
        let cleanup = shipped("cleanup-logs");
        assert!(cleanup
            .bind(&given("dir", "/etc"))
            .unwrap_err()
            .contains("not one of /var/log/exoticplant"));
    }
}
