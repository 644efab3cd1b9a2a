//! Alert routing: which route an alert takes (the first whose matchers all hold, else the
//! default route) and the group key that turns an alert storm into one incident.
//!
//! A route carries everything an SRE decided about an alert ahead of time: its SOP, the
//! escalation policy, the severity, whether to open an incident by itself, and the runbook
//! commands worth suggesting.

use crate::domain::event::AlertFacts;
use crate::domain::types::Severity;
use regex::Regex;
use sha2::{Digest, Sha256};

/// How one label is matched.
#[derive(Debug, Clone)]
pub enum LabelMatch {
    /// The label's value equals this text.
    Equals(String),
    /// The whole value matches this expression (anchored, as in Alertmanager's `=~`).
    Regex(Regex),
}

/// A condition on one label. A missing label counts as the empty string, so `=~ ""` or
/// `=~ ".*"` matches alerts without it, as Alertmanager does.
#[derive(Debug, Clone)]
pub struct LabelMatcher {
    pub label: String,
    pub matches: LabelMatch,
}

impl LabelMatcher {
    /// A regex matcher; the expression is anchored at both ends.
    pub fn regex(label: &str, expression: &str) -> Result<LabelMatcher, regex::Error> {
        Ok(LabelMatcher {
            label: label.to_string(),
            matches: LabelMatch::Regex(Regex::new(&format!("^(?:{expression})$"))?),
        })
    }

    pub fn equals(label: &str, value: &str) -> LabelMatcher {
        LabelMatcher {
            label: label.to_string(),
            matches: LabelMatch::Equals(value.to_string()),
        }
    }

    fn holds(&self, alert: &AlertFacts) -> bool {
        let value = label_value(alert, &self.label);
        match &self.matches {
            LabelMatch::Equals(expected) => value == expected,
            LabelMatch::Regex(re) => re.is_match(value),
        }
    }
}

/// An SOP: the Markdown an on-call engineer follows, posted when an alert opens an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Sop {
    /// Where it came from, as configured, so people can find and improve it.
    pub path: String,
    pub markdown: String,
}

/// What happens to an alert that takes this route.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    /// All must hold; none means the route takes every alert.
    pub matchers: Vec<LabelMatcher>,
    /// Title of an incident the route opens; default the alert's summary or name.
    pub title: Option<String>,
    pub severity: Severity,
    pub sop: Option<Sop>,
    /// Name of the escalation policy started when the route opens an incident.
    pub escalation: Option<String>,
    /// Open an incident when a firing alert takes this route and no incident of its group is
    /// open; otherwise the alert is announced and recorded only.
    pub auto_open: bool,
    /// Runbook commands worth running, shown with the SOP (e.g. `/failover dns`).
    pub suggest: Vec<String>,
    /// Labels whose values form the group: alerts sharing them join one incident.
    /// Empty means one group per route.
    pub group_by: Vec<String>,
    /// After the group's incident resolved, a firing alert within this window joins it
    /// again (a flapping alert) instead of opening a new incident.
    pub group_window: chrono::Duration,
    /// The service this route's alerts are about when their labels do not say (a disk or a
    /// DNS server's alert names none): its deploys join the incidents the route opens.
    pub service: Option<String>,
}

/// The labels that name the service an alert is about, in the spellings monitoring uses.
pub const SERVICE_LABELS: [&str; 3] = ["service", "app", "application"];

impl Route {
    /// A route that takes every alert and only records it: the default when none is set.
    pub fn record_only(name: &str) -> Route {
        Route {
            name: name.to_string(),
            matchers: vec![],
            title: None,
            severity: Severity::Sev3,
            sop: None,
            escalation: None,
            auto_open: false,
            suggest: vec![],
            group_by: vec!["alertname".into()],
            group_window: chrono::Duration::minutes(60),
            service: None,
        }
    }

    /// The services an alert on this route is about: the values of its service labels and
    /// the route's own service, in one spelling (`same_service`). Empty when neither names
    /// one: then no deploy is taken for its cause.
    pub fn services_of(&self, alert: &AlertFacts) -> std::collections::BTreeSet<String> {
        SERVICE_LABELS
            .iter()
            .filter_map(|l| alert.labels.get(*l))
            .chain(self.service.as_ref())
            .map(|s| service_key(s))
            .filter(|s| !s.is_empty())
            .collect()
    }

    pub fn matches(&self, alert: &AlertFacts) -> bool {
        self.matchers.iter().all(|m| m.holds(alert))
    }

    /// The group an alert belongs to on this route: the route's name and the values of its
    /// group-by labels, hashed so the key is short and safe in a stream id.
    pub fn group_key(&self, alert: &AlertFacts) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.name.as_bytes());
        for label in &self.group_by {
            hasher.update([0]);
            hasher.update(label.as_bytes());
            hasher.update([0]);
            hasher.update(label_value(alert, label).as_bytes());
        }
        format!("{}-{}", self.name, hex::encode(&hasher.finalize()[..6]))
    }

    /// The title of an incident this route opens for `alert`.
    pub fn incident_title(&self, alert: &AlertFacts) -> String {
        match (&self.title, &alert.summary) {
            (Some(title), _) => title.clone(),
            (None, Some(summary)) => format!("{}: {summary}", alert.name),
            (None, None) => alert.name.clone(),
        }
    }
}

/// The ordered routes and the default.
#[derive(Debug, Clone)]
pub struct Routes {
    pub routes: Vec<Route>,
    pub default: Route,
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            routes: vec![],
            default: Route::record_only("default"),
        }
    }
}

impl Routes {
    /// The route an alert takes: the first that matches, else the default.
    pub fn route(&self, alert: &AlertFacts) -> &Route {
        self.routes
            .iter()
            .find(|r| r.matches(alert))
            .unwrap_or(&self.default)
    }

    /// A route by name, the default included.
    pub fn named(&self, name: &str) -> Option<&Route> {
        self.routes
            .iter()
            .chain(std::iter::once(&self.default))
            .find(|r| r.name == name)
    }
}

/// A service's name in one spelling, so `Order_Processor`, `order-processor` and
/// `order_processor` (a deploy tool's name and a label's) are the same service.
pub fn service_key(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

/// A label's value; `alertname` falls back to the alert's name (generic alerts carry it
/// outside their labels).
fn label_value<'a>(alert: &'a AlertFacts, label: &str) -> &'a str {
    match alert.labels.get(label) {
        Some(v) => v,
        None if label == "alertname" => &alert.name,
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::AlertStatus;

    fn alert(name: &str, labels: &[(&str, &str)]) -> AlertFacts {
        AlertFacts {
            source: "generic".into(),
            name: name.into(),
            status: AlertStatus::Firing,
            channel: "ops".into(),
            fingerprint: "f".into(),
            severity: None,
            summary: None,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: Default::default(),
            starts_at: None,
            ends_at: None,
        }
    }

    fn route(name: &str, matchers: Vec<LabelMatcher>) -> Route {
        Route {
            matchers,
            ..Route::record_only(name)
        }
    }

    #[test]
    fn first_matching_route_wins_and_the_default_takes_the_rest() {
        let routes = Routes {
            routes: vec![
                route(
                    "dns",
                    vec![LabelMatcher::regex("alertname", "DNS.*").unwrap()],
                ),
                route("dns-and-prod", vec![LabelMatcher::equals("env", "prod")]),
            ],
            default: Route::record_only("default"),
        };
        let dns = alert("DNSNotAnswering", &[("env", "prod")]);
        assert_eq!(routes.route(&dns).name, "dns");
        assert_eq!(
            routes.route(&alert("Other", &[("env", "prod")])).name,
            "dns-and-prod"
        );
        assert_eq!(routes.route(&alert("Other", &[])).name, "default");
    }

    #[test]
    fn regexes_are_anchored_and_missing_labels_are_empty() {
        let m = LabelMatcher::regex("alertname", "DNS").unwrap();
        assert!(!m.holds(&alert("DNSNotAnswering", &[])));
        assert!(m.holds(&alert("DNS", &[])));
        let optional = LabelMatcher::regex("team", "|ops").unwrap();
        assert!(optional.holds(&alert("X", &[])));
        assert!(!optional.holds(&alert("X", &[("team", "dev")])));
    }

    #[test]
    fn alerts_group_by_the_route_labels_only() {
        let mut r = Route::record_only("app");
        r.group_by = vec!["alertname".into(), "service".into()];
        let a = alert("AppDown", &[("service", "web"), ("instance", "h1")]);
        let b = alert("AppDown", &[("service", "web"), ("instance", "h2")]);
        let c = alert("AppDown", &[("service", "api"), ("instance", "h1")]);
        assert_eq!(r.group_key(&a), r.group_key(&b));
        assert_ne!(r.group_key(&a), r.group_key(&c));
        assert!(r.group_key(&a).starts_with("app-"));
    }

    #[test]
    fn an_alert_is_about_the_services_its_labels_or_its_route_name() {
        let plain = route("disk", vec![]);
        let disk = alert("LowStorage", &[("mountpoint", "/var/log")]);
        assert!(
            plain.services_of(&disk).is_empty(),
            "no label, no route service"
        );
        let orders = alert("Orders", &[("service", "Order_Processor"), ("app", "shop")]);
        assert_eq!(
            plain.services_of(&orders).into_iter().collect::<Vec<_>>(),
            ["order-processor", "shop"]
        );
        let named = Route {
            service: Some("app".into()),
            ..route("app-down", vec![])
        };
        assert_eq!(
            named.services_of(&disk).into_iter().collect::<Vec<_>>(),
            ["app"]
        );
    }
}
