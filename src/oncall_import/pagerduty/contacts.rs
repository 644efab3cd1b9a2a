//! A PagerDuty user's contact methods and notification rules as how warroom reaches them: the
//! login email, the first phone or SMS number, the high-urgency rules.

use super::{Reference, User};
use crate::oncall_import::reach::{e164, email_address, Method, Reach};
use serde::Deserialize;

/// A contact method, or a reference to one (with no address) without
/// `include[]=contact_methods`.
#[derive(Debug, Deserialize)]
pub(super) struct ContactMethod {
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    country_code: Option<u32>,
}

impl ContactMethod {
    /// `email`, `phone`, `sms`, `push_notification`: the type without its suffixes.
    fn kind(&self) -> &str {
        let k = self.kind.as_deref().unwrap_or_default();
        let k = k.strip_suffix("_reference").unwrap_or(k);
        k.strip_suffix("_contact_method").unwrap_or(k)
    }

    /// The name the user gave it (`Mobile`, `iPhone`), if any.
    fn name(&self) -> Option<&str> {
        self.label.as_deref().or(self.summary.as_deref())
    }

    /// The address in warroom's form, when it has one warroom takes.
    fn address(&self) -> Option<Result<String, String>> {
        let a = self.address.as_deref()?;
        Some(match self.kind() {
            "phone" | "sms" => e164(
                &self.country_code.map(|c| c.to_string()).unwrap_or_default(),
                a,
            ),
            _ => email_address(a),
        })
    }
}

/// A notification rule, or a reference to one (with neither method nor delay).
#[derive(Debug, Deserialize)]
pub(super) struct NotificationRule {
    #[serde(default)]
    start_delay_in_minutes: Option<u64>,
    #[serde(default)]
    contact_method: Option<Reference>,
    #[serde(default)]
    urgency: Option<String>,
}

/// What the users' notification rules held that is said once for the whole export.
#[derive(Default)]
pub(super) struct RulesSeen {
    /// The people whose rules are bare references.
    pub(super) as_references: Vec<String>,
    pub(super) low_urgency: bool,
}

/// How to reach a user: their email, their first phone, their high-urgency rules.
pub(super) fn reach_of(u: &User, handle: &str, seen: &mut RulesSeen) -> Reach {
    let mut reach = Reach::new(handle);
    reach.email(&u.email);
    for c in &u.contact_methods {
        let kind = c.kind();
        let what = match c.name() {
            Some(name) => format!("{kind} contact method '{name}'"),
            None => format!("{kind} contact method"),
        };
        match (kind, c.address()) {
            ("phone", Some(number)) => reach.phone(number, "voice", &what),
            ("sms", Some(number)) => reach.phone(number, "sms", &what),
            ("email", Some(Ok(a))) if !a.eq_ignore_ascii_case(u.email.trim()) => {
                reach.note(format!(
                    "@{handle}: {what} ({a}) is not imported: a warroom contact has one email, and their login email was kept"
                ))
            }
            // A reference without its address, or the login email again: nothing to add.
            ("phone" | "sms" | "email", _) => {}
            ("push_notification", _) => reach.push(c.name().unwrap_or_default()),
            (other, _) => reach.note(format!(
                "@{handle}: {what} has no warroom counterpart ('{other}'); not imported"
            )),
        }
    }
    let mut references = false;
    for r in &u.notification_rules {
        let Some(delay) = r.start_delay_in_minutes else {
            references = true;
            continue;
        };
        if r.urgency.as_deref().is_some_and(|u| u != "high") {
            seen.low_urgency = true;
            continue;
        }
        let Some(cm) = &r.contact_method else {
            reach.unknown_rule("no contact method", delay);
            continue;
        };
        // The user's own contact method has the address; the rule's reference may be bare.
        let own = u.contact_methods.iter().find(|c| c.id == cm.id);
        let kind = match own {
            Some(c) => c.kind().to_string(),
            None => {
                let k = cm.kind();
                k.strip_suffix("_contact_method").unwrap_or(k).to_string()
            }
        };
        let method = match kind.as_str() {
            "email" => Method::Email,
            "sms" => Method::Sms,
            "phone" => Method::Voice,
            "push_notification" => Method::Push,
            other => {
                reach.unknown_rule(other, delay);
                continue;
            }
        };
        let to = own.and_then(ContactMethod::address).and_then(Result::ok);
        reach.rule(method, delay, to);
    }
    if references {
        seen.as_references.push(format!("@{handle}"));
    }
    reach.rules_from("from PagerDuty's high-urgency rules");
    reach
}

#[cfg(test)]
mod tests {
    use super::super::TOOL;
    use crate::oncall_import::tests::{
        assert_line, contact_block, import_unchecked, now, problems_with_rules_live,
    };

    #[test]
    fn contacts_get_their_email_phone_and_high_urgency_rules_as_a_comment() {
        let imported = import_unchecked(TOOL, "pagerduty.json");
        let toml = &imported.toml;
        // The first phone or SMS method is the phone, country code first; the high-urgency
        // rules follow as a comment, by delay, whatever order the export lists them in.
        assert_eq!(
            contact_block(toml, "rpark"),
            "[[contacts]]\nhandle = \"rpark\"\nname = \"Riley Park\"\nteam = \"SRE\"\nemail = \"rpark@example.com\"\nphone = \"+15550100\"\n\
             # notify = [{ method = \"sms\", after_minutes = 0 }, { method = \"voice\", after_minutes = 5 }]  \
             # from PagerDuty's high-urgency rules; uncomment once [notifications] is set (docs/notifications.md)"
        );
        // A contact method given as a bare reference has no address, but the rule naming it
        // still says its type; 90 minutes is more than warroom waits.
        assert_eq!(
            contact_block(toml, "ghammer"),
            "[[contacts]]\nhandle = \"ghammer\"\nname = \"Glenn Hammer\"\nteam = \"SRE\"\nemail = \"ghammer@example.com\"\n\
             # notify = [{ method = \"email\", after_minutes = 60 }]  \
             # from PagerDuty's high-urgency rules; uncomment once [notifications] is set (docs/notifications.md)"
        );
        // Kim's number is a digit short, and her push rule has nowhere to go.
        let kim = contact_block(toml, "khouse");
        assert!(!kim.contains("phone ="), "{kim}");
        assert!(
            kim.contains("# notify = [{ method = \"sms\", after_minutes = 2 }]"),
            "{kim}"
        );
        let u = &imported.unmapped;
        assert_line(
            u,
            &[
                "@khouse: sms contact method 'Mobile' is left out",
                "+1555010 has 7 digits, and an E.164 number has 8 to 15",
            ],
        );
        assert_line(
            u,
            &[
                "@khouse: push to their phone app (iPhone) is not imported, nor their rule pushing at 0 minutes",
                "give @khouse a push_topic (ntfy) and a push rule",
            ],
        );
        assert_line(
            u,
            &[
                "@khouse: their sms rules need a phone number",
                "add phone =",
            ],
        );
        assert_line(
            u,
            &[
                "@ghammer: their email rule at 90 minutes waits longer than warroom's 60",
                "notifies at 60 instead",
            ],
        );
        assert_line(u, &["low-urgency notification rules are not imported"]);
        assert_line(
            u,
            &[
                "notification rules are written as comments",
                "uncomment them then",
            ],
        );
        assert!(
            !u.iter().any(|l| l.contains("not imported yet")),
            "{}",
            u.join("\n")
        );
    }

    #[test]
    fn uncommented_with_providers_the_rules_pass_the_check_but_where_the_plan_says_not() {
        let imported = import_unchecked(TOOL, "pagerduty.json");
        assert_eq!(
            problems_with_rules_live(&imported),
            vec!["contacts[2] (khouse).notify[0]: khouse has no phone for sms; add it or drop the rule"]
        );
    }

    #[test]
    fn rules_exported_as_references_are_named_not_guessed() {
        let export = r#"{"users": [{
            "id": "PAB0001", "name": "Alex Bell", "email": "abell@example.com",
            "contact_methods": [{ "id": "PC1", "type": "email_contact_method_reference", "summary": "Default" }],
            "notification_rules": [{ "id": "PR1", "type": "assignment_notification_rule_reference", "summary": "Default" }]
        }]}"#;
        let imported = crate::oncall_import::import_at(TOOL, export, now()).unwrap();
        assert_eq!(
            imported.made,
            vec![
                "team 'Imported': 1 person",
                "contact '@abell': Alex Bell, team Imported; email",
            ]
        );
        assert!(!imported.toml.contains("notify"), "{}", imported.toml);
        assert_eq!(
            imported.unmapped,
            vec!["the notification rules of @abell are references only in the export, without method or delay: export the users with include[]=notification_rules (docs/import-oncall.md) to import them"]
        );
    }
}
