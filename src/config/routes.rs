//! `[[routes]]` and `[default_route]`: which alerts go where, with their titles, severities,
//! SOPs, escalation policies and grouping.

use super::bounds::bounded;
use crate::domain::escalation::Policy;
use crate::domain::routing::{LabelMatcher, Route, Routes, Sop};
use crate::domain::types::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A route as written. `name` and the matchers are absent in `[default_route]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RouteFile {
    pub name: Option<String>,
    /// Labels that must equal these values.
    #[serde(default, rename = "match")]
    pub match_equal: BTreeMap<String, String>,
    /// Labels whose whole value must match these regular expressions.
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    pub title: Option<String>,
    pub severity: Option<String>,
    /// Path of the SOP's Markdown, relative to the config file.
    pub sop: Option<String>,
    pub escalation: Option<String>,
    #[serde(default)]
    pub auto_open: bool,
    #[serde(default)]
    pub suggest: Vec<String>,
    pub group_by: Option<Vec<String>>,
    pub group_window_minutes: Option<i64>,
    /// The service the route's alerts are about when their labels name none; its deploys
    /// join the incidents the route opens.
    pub service: Option<String>,
}

/// `[[routes]]` in order, then `[default_route]` (record only when absent or unreadable).
pub(super) fn read_routes(
    routes: &[RouteFile],
    default_route: Option<&RouteFile>,
    policies: &BTreeMap<String, Policy>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> Routes {
    let mut route_names = std::collections::HashSet::new();
    let mut read = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        let name = r.name.clone().unwrap_or_default();
        let key = format!("routes[{i}] ({name})");
        if name.trim().is_empty() {
            problems.push(format!("routes[{i}].name: every route needs a name"));
        } else if !route_names.insert(name.clone()) {
            problems.push(format!("{key}.name: another route is called '{name}'"));
        }
        if let Some(route) = read_route(&key, &name, r, policies, file, problems) {
            read.push(route);
        }
    }
    let default = match default_route {
        Some(r) => {
            if r.name.is_some() || !r.match_equal.is_empty() || !r.match_re.is_empty() {
                problems.push(
                    "default_route: takes every alert no route matched; it has no name, match or match_re"
                        .into(),
                );
            }
            read_route("default_route", "default", r, policies, file, problems)
                .unwrap_or_else(|| Route::record_only("default"))
        }
        None => Route::record_only("default"),
    };
    Routes {
        routes: read,
        default,
    }
}

fn read_route(
    key: &str,
    name: &str,
    r: &RouteFile,
    policies: &BTreeMap<String, Policy>,
    file: &dyn Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> Option<Route> {
    let before = problems.len();
    let mut matchers: Vec<LabelMatcher> = r
        .match_equal
        .iter()
        .map(|(label, value)| LabelMatcher::equals(label, value))
        .collect();
    for (label, expression) in &r.match_re {
        match LabelMatcher::regex(label, expression) {
            Ok(m) => matchers.push(m),
            Err(e) => {
                // The regex crate's message draws a caret over several lines; its last line
                // says what is wrong.
                let text = e.to_string();
                let why = text.lines().last().unwrap_or_default().trim();
                problems.push(format!(
                    "{key}.match_re.{label}: '{expression}' is not a regular expression ({why})"
                ))
            }
        }
    }
    let severity = match r.severity.as_deref() {
        None => Severity::Sev3,
        Some(s) => s
            .parse()
            .unwrap_or_else(|e: crate::domain::types::UnknownWord| {
                problems.push(format!("{key}.severity: {e}"));
                Severity::Sev3
            }),
    };
    let sop = r.sop.as_ref().and_then(|path| match file(path) {
        Ok(markdown) => Some(Sop {
            path: path.clone(),
            markdown,
        }),
        Err(e) => {
            problems.push(format!(
                "{key}.sop: cannot read {path} (relative to the config file): {e}"
            ));
            None
        }
    });
    if let Some(policy) = &r.escalation {
        if !policies.contains_key(policy) {
            problems.push(format!(
                "{key}.escalation: no policy is called '{policy}'; define it in [[escalations]]"
            ));
        }
    }
    for s in &r.suggest {
        if !s.starts_with('/') {
            problems.push(format!(
                "{key}.suggest: '{s}' is not a command; write it as in chat, e.g. /failover dns"
            ));
        }
    }
    let group_window_minutes = bounded(
        &format!("{key}.group_window_minutes"),
        r.group_window_minutes,
        1..=10_080,
        60,
        problems,
    );
    if problems.len() > before {
        return None;
    }
    Some(Route {
        name: name.to_string(),
        matchers,
        title: r.title.clone(),
        severity,
        sop,
        escalation: r.escalation.clone(),
        auto_open: r.auto_open,
        suggest: r.suggest.clone(),
        group_by: r
            .group_by
            .clone()
            .unwrap_or_else(|| vec!["alertname".into()]),
        group_window: chrono::Duration::minutes(group_window_minutes),
        service: r
            .service
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    })
}
