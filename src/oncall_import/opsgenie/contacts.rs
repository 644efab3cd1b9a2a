//! An Opsgenie user's contacts and notification rules as how warroom reaches them: the
//! username as email, the first SMS or voice number, the steps of the new-alert rule that
//! matches every alert.

use super::input::{minutes, NotificationRule, User};
use crate::oncall_import::reach::{e164, e164_written, email_address, Method, Reach};

/// How to reach a user: their email, their first phone, the steps of the rule a new alert
/// runs.
pub(super) fn reach_of(u: &User, handle: &str) -> Reach {
    let mut reach = Reach::new(handle);
    reach.email(&u.username);
    for c in &u.user_contacts {
        let method = c.contact_method.as_str();
        let to = c.to.as_deref().unwrap_or_default().trim();
        let what = format!("{method} contact {to}");
        if c.enabled == Some(false) {
            reach.note(format!(
                "@{handle}: {what} is disabled in Opsgenie; not imported"
            ));
            continue;
        }
        match method {
            "sms" | "voice" if !to.is_empty() => reach.phone(number(to), method, &what),
            "email" => {
                if email_address(to).is_ok_and(|e| !e.eq_ignore_ascii_case(u.username.trim())) {
                    reach.note(format!(
                        "@{handle}: {what} is not imported: a warroom contact has one email, and their username was kept"
                    ));
                }
            }
            "mobile" => reach.push("Opsgenie app"),
            "sms" | "voice" => {}
            other => reach.note(format!(
                "@{handle}: {other} contact {to} has no warroom counterpart; not imported"
            )),
        }
    }
    let mut alert_rules: Vec<&NotificationRule> = u
        .notification_rules
        .iter()
        .filter(|r| r.enabled != Some(false))
        .filter(|r| r.action_type.as_deref() == Some("create-alert"))
        .collect();
    alert_rules.sort_by_key(|r| r.order.unwrap_or(i64::MAX));
    let name = |r: &NotificationRule| r.name.clone().unwrap_or_else(|| "(no name)".to_string());
    // The first rule that matches every alert is the one a page to them always runs; failing
    // one, the first of all, with its conditions dropped.
    let chosen = alert_rules
        .iter()
        .position(|r| r.matches_all())
        .or((!alert_rules.is_empty()).then_some(0));
    if let Some(i) = chosen {
        let rule = alert_rules[i];
        let n = name(rule);
        for (j, other) in alert_rules.iter().enumerate().filter(|(j, _)| *j != i) {
            reach.note(format!(
                "@{handle}: their new-alert rule '{}' is not imported: a warroom contact has one set of rules, and '{n}' was taken{}",
                name(other),
                if j < i { " (it applies to every alert)" } else { "" }
            ));
        }
        if !rule.matches_all() {
            reach.note(format!(
                "@{handle}: their new-alert rule '{n}' applies to the alerts matching its conditions only; in warroom its steps follow every page"
            ));
        }
        if rule.time_restriction.is_some() {
            reach.note(format!(
                "@{handle}: their new-alert rule '{n}' applies at some times only; in warroom its steps follow every page, at any time"
            ));
        }
        if let Some(every) = rule
            .repeat
            .as_ref()
            .filter(|r| r.enabled != Some(false))
            .and_then(|r| r.loop_after)
            .filter(|m| *m > 0)
        {
            reach.note(format!(
                "@{handle}: their new-alert rule '{n}' starts over every {every} minutes until acknowledged; warroom runs each rule once (the escalation's repeat pages again)"
            ));
        }
        for step in rule.steps.iter().filter(|s| s.enabled != Some(false)) {
            let after = step.send_after.as_ref().map_or(0, minutes);
            let to = step.contact.to.as_deref().map(str::trim);
            match step.contact.method.as_str() {
                "email" => reach.rule(Method::Email, after, to.and_then(|t| email_address(t).ok())),
                "sms" => reach.rule(Method::Sms, after, to.and_then(|t| number(t).ok())),
                "voice" => reach.rule(Method::Voice, after, to.and_then(|t| number(t).ok())),
                "mobile" => reach.rule(Method::Push, after, None),
                other => reach.unknown_rule(other, after),
            }
        }
        reach.rules_from(&format!("from Opsgenie's new-alert rule '{n}'"));
    }
    if u.notification_rules.iter().any(|r| {
        r.enabled != Some(false)
            && matches!(
                r.action_type.as_deref(),
                Some("schedule-start" | "schedule-end")
            )
    }) {
        reach.note(format!(
            "@{handle}: their on-call start and end reminders are not imported; warroom tells of hand-overs by the methods in handoff_notices"
        ));
    }
    reach
}

/// A number as Opsgenie writes it, country code, dash, number (`49-15550001`), in E.164.
fn number(to: &str) -> Result<String, String> {
    match to.split_once('-') {
        Some((cc, rest)) => e164(cc, rest),
        None if to.starts_with('+') => e164_written(to),
        None => Err(format!(
            "'{to}' is not a country code, a dash and a number, as Opsgenie writes them (1-5550100)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::TOOL;
    use super::*;
    use crate::oncall_import::tests::{
        assert_line, contact_block, import_unchecked, problems_with_rules_live,
    };

    #[test]
    fn contacts_get_their_email_phone_and_new_alert_rule_as_a_comment() {
        let imported = import_unchecked(TOOL, "opsgenie.json");
        let toml = &imported.toml;
        // The username is the email; 49-15550001 is +4915550001. Of the new-alert rules, the
        // one for every alert is taken; its enabled steps, each counted from the alert, are
        // the rules.
        assert_eq!(
            contact_block(toml, "rpark"),
            "[[contacts]]\nhandle = \"rpark\"\nname = \"Riley Park\"\nteam = \"SRE\"\nemail = \"rpark@example.com\"\nphone = \"+4915550001\"\n\
             # notify = [{ method = \"email\", after_minutes = 0 }, { method = \"sms\", after_minutes = 1 }, { method = \"voice\", after_minutes = 5 }]  \
             # from Opsgenie's new-alert rule 'New alert'; uncomment once [notifications] is set (docs/notifications.md)"
        );
        // Two hours is more than warroom waits; the app's push is left out.
        assert_eq!(
            contact_block(toml, "ghammer"),
            "[[contacts]]\nhandle = \"ghammer\"\nname = \"Glenn Hammer\"\nteam = \"SRE\"\nemail = \"ghammer@example.com\"\n\
             # notify = [{ method = \"email\", after_minutes = 60 }]  \
             # from Opsgenie's new-alert rule 'New alert'; uncomment once [notifications] is set (docs/notifications.md)"
        );
        // An export without notificationRules still reads; Kim's number is a digit short.
        assert_eq!(
            contact_block(toml, "khouse"),
            "[[contacts]]\nhandle = \"khouse\"\nname = \"Kim House\"\nteam = \"SRE\"\nemail = \"khouse@example.com\""
        );
        let u = &imported.unmapped;
        assert_line(
            u,
            &[
                "@khouse: sms contact 1-555010 is left out",
                "+1555010 has 7 digits",
            ],
        );
        assert_line(
            u,
            &[
                "@ghammer: push to their phone app (Opsgenie app) is not imported, nor their rule pushing at 0 minutes",
                "give @ghammer a push_topic (ntfy) and a push rule",
            ],
        );
        assert_line(
            u,
            &["@ghammer: their email rule at 120 minutes waits longer than warroom's 60"],
        );
        assert_line(
            u,
            &[
                "@rpark: their new-alert rule 'P1 calls me' is not imported",
                "'New alert' was taken (it applies to every alert)",
            ],
        );
        assert_line(
            u,
            &["@rpark: their new-alert rule 'New alert' starts over every 10 minutes"],
        );
        assert_line(
            u,
            &[
                "@rpark: their on-call start and end reminders are not imported",
                "handoff_notices",
            ],
        );
        assert_line(u, &["notification rules are written as comments"]);
        assert!(
            !u.iter().any(|l| l.contains("not imported yet")),
            "{}",
            u.join("\n")
        );
        // Uncommented, with the providers set, warroom takes every rule.
        assert_eq!(problems_with_rules_live(&imported), Vec::<String>::new());
    }

    #[test]
    fn numbers_are_read_as_opsgenie_writes_them() {
        assert_eq!(number("1-5550100").as_deref(), Ok("+15550100"));
        assert_eq!(number("+44-7700900123").as_deref(), Ok("+447700900123"));
        assert_eq!(number("+447700900123").as_deref(), Ok("+447700900123"));
        assert!(number("5550100")
            .unwrap_err()
            .contains("country code, a dash"));
        assert!(number("1-555-CALL").unwrap_err().contains("not a digit"));
    }
}
