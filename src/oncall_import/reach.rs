//! How to reach a person, as an import reads it from a tool: the email address, one phone
//! number in E.164, and the personal notification rules, each checked the way warroom's
//! configuration check will check it, with a line for the reviewer for whatever is left out.
//!
//! The rules are written as a comment under the contact, not as `notify`: warroom refuses a
//! rule whose provider (`[notifications.email]`, `.twilio`, `.ntfy`) is not configured, and
//! an import knows nothing of those, so live rules would make the whole file fail its check.

use std::fmt;

/// warroom's notification methods (`notify = [{ method = … }]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Email,
    Sms,
    Voice,
    Push,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Email => "email",
            Method::Sms => "sms",
            Method::Voice => "voice",
            Method::Push => "push",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest wait warroom takes before a rule; a later reminder is an escalation's job.
pub(crate) const LONGEST_WAIT_MINUTES: u64 = 60;

/// An email address as warroom takes it: `name@host.tld`, no spaces.
pub(crate) fn email_address(text: &str) -> Result<String, String> {
    let e = text.trim();
    if e.is_empty() {
        return Err("it is empty".to_string());
    }
    if e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it has spaces in it".to_string());
    }
    let Some((name, host)) = e.rsplit_once('@') else {
        return Err("it has no @".to_string());
    };
    if name.is_empty() || name.contains('@') {
        return Err("it is not of the form name@example.com".to_string());
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return Err(format!(
            "its host '{host}' is not a domain such as example.com"
        ));
    }
    Ok(e.to_string())
}

/// A number in E.164 (`+` and 8 to 15 digits, the first not 0) from a country code and a
/// national number, which may carry the usual spaces, dashes, dots and brackets.
pub(crate) fn e164(country_code: &str, number: &str) -> Result<String, String> {
    let cc = country_code.trim().trim_start_matches('+');
    if cc.is_empty() {
        return Err("it has no country code".to_string());
    }
    if !cc.bytes().all(|b| b.is_ascii_digit()) || cc.len() > 3 || cc.starts_with('0') {
        return Err(format!("'{cc}' is not a country calling code"));
    }
    let mut digits = String::from(cc);
    for c in number.trim().chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(format!("'{number}' has '{c}' in it, which is not a digit")),
        }
    }
    if !(8..=15).contains(&digits.len()) {
        return Err(format!(
            "+{digits} has {} digits, and an E.164 number has 8 to 15",
            digits.len()
        ));
    }
    Ok(format!("+{digits}"))
}

/// A number already written in E.164, give or take spaces and dashes.
pub(crate) fn e164_written(text: &str) -> Result<String, String> {
    let t = text.trim();
    let Some(rest) = t.strip_prefix('+') else {
        return Err("it does not start with + and the country code".to_string());
    };
    // Which digits are the country code does not matter here: e164 checks the whole length.
    let split = rest.len().min(1);
    e164(&rest[..split], &rest[split..])
}

/// One rule as the tool has it.
#[derive(Debug, Clone)]
struct RuleIn {
    method: Method,
    minutes: u64,
    /// The address the tool sends it to, when it says.
    to: Option<String>,
}

/// What a tool says of how to reach one person, gathered before it is checked.
#[derive(Debug, Clone)]
pub(crate) struct Reach {
    handle: String,
    email: Option<String>,
    /// The number and the kind of contact method it came from (`sms`, `voice`, …).
    phone: Option<(String, String)>,
    /// The tool's push contact methods, by label.
    push: Vec<String>,
    push_rules: Vec<u64>,
    rules: Vec<RuleIn>,
    rules_from: String,
    notes: Vec<String>,
}

/// How to reach one person, checked: what is written under their `[[contacts]]` entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reached {
    pub email: Option<String>,
    pub phone: Option<String>,
    /// In order of waiting time, as warroom reads them.
    pub rules: Vec<(Method, u64)>,
    /// Where the rules came from, e.g. `from PagerDuty's high-urgency rules`.
    pub rules_from: String,
    /// What was mapped, e.g. `email, phone +15550100 (sms), 2 notification rules (commented out)`.
    pub summary: Option<String>,
}

impl Reach {
    /// Nothing known yet of how to reach `handle`.
    pub fn new(handle: &str) -> Reach {
        Reach {
            handle: handle.to_string(),
            email: None,
            phone: None,
            push: Vec::new(),
            push_rules: Vec::new(),
            rules: Vec::new(),
            rules_from: String::new(),
            notes: Vec::new(),
        }
    }

    /// The person's email address; one warroom would refuse is left out, with the reason.
    pub fn email(&mut self, text: &str) {
        if self.email.is_some() {
            return;
        }
        match email_address(text) {
            Ok(e) => self.email = Some(e),
            Err(why) => self.notes.push(format!(
                "@{}: email '{}' is left out: {why}; add email = \"name@example.com\" by hand",
                self.handle,
                text.trim()
            )),
        }
    }

    /// A phone number of a contact method of kind `via` (`sms`, `voice`), read or refused;
    /// `what` names the method for the reviewer. The first good one is kept: a warroom
    /// contact has one phone, for SMS and voice alike.
    pub fn phone(&mut self, number: Result<String, String>, via: &str, what: &str) {
        let h = &self.handle;
        match (number, &self.phone) {
            (Err(why), _) => self.notes.push(format!(
                "@{h}: {what} is left out: {why}; write their phone as + and the country code and number, e.g. +15550100"
            )),
            (Ok(n), None) => self.phone = Some((n, via.to_string())),
            (Ok(n), Some((kept, _))) if n != *kept => self.notes.push(format!(
                "@{h}: {what} ({n}) is left out: a warroom contact has one phone, and {kept} came first"
            )),
            (Ok(_), Some(_)) => {}
        }
    }

    /// A push contact method (the tool's own phone app), which warroom cannot carry over.
    pub fn push(&mut self, label: &str) {
        let label = label.trim().to_string();
        if !self.push.contains(&label) {
            self.push.push(label);
        }
    }

    /// A rule: notify by `method` `minutes` after the page (to `to`, when the tool says).
    pub fn rule(&mut self, method: Method, minutes: u64, to: Option<String>) {
        if method == Method::Push {
            self.push_rules.push(minutes);
        } else {
            self.rules.push(RuleIn {
                method,
                minutes,
                to,
            });
        }
    }

    /// A rule by a means warroom has no method for (`kind` as the tool names it).
    pub fn unknown_rule(&mut self, kind: &str, minutes: u64) {
        self.notes.push(format!(
            "@{}: their rule notifying by '{kind}' at {minutes} minutes is left out: warroom notifies by email, sms, voice or push",
            self.handle
        ));
    }

    /// Where the rules came from, for the comment, e.g. `from PagerDuty's high-urgency rules`.
    pub fn rules_from(&mut self, text: &str) {
        self.rules_from = text.replace(['\n', '\r'], " ");
    }

    /// A line for the reviewer about this person's contact methods.
    pub fn note(&mut self, line: String) {
        self.notes.push(line);
    }

    /// Checks what was gathered: waits capped at warroom's longest, rules kept in the order
    /// warroom reads them; the lines for the reviewer go to `unmapped`.
    pub fn finish(self, unmapped: &mut Vec<String>) -> Reached {
        let h = self.handle;
        unmapped.extend(self.notes);
        if !self.push.is_empty() || !self.push_rules.is_empty() {
            let labels = if self.push.iter().any(|l| !l.is_empty()) {
                format!(" ({})", self.push.join(", "))
            } else {
                String::new()
            };
            let rules = match self.push_rules.as_slice() {
                [] => String::new(),
                [one] => format!(", nor their rule pushing at {one} minutes"),
                many => format!(
                    ", nor their rules pushing at {} minutes",
                    many.iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            unmapped.push(format!(
                "@{h}: push to their phone app{labels} is not imported{rules}: give @{h} a push_topic (ntfy) and a push rule"
            ));
        }
        let phone = self.phone.as_ref().map(|(n, _)| n.clone());
        let mut rules: Vec<(Method, u64)> = Vec::new();
        let mut lacking: Vec<Method> = Vec::new();
        for r in &self.rules {
            let minutes = if r.minutes > LONGEST_WAIT_MINUTES {
                unmapped.push(format!(
                    "@{h}: their {} rule at {} minutes waits longer than warroom's {LONGEST_WAIT_MINUTES}; it notifies at {LONGEST_WAIT_MINUTES} instead (a later reminder is the escalation's next step)",
                    r.method, r.minutes
                ));
                LONGEST_WAIT_MINUTES
            } else {
                r.minutes
            };
            let kept = match r.method {
                Method::Email => self.email.as_deref(),
                _ => phone.as_deref(),
            };
            match (kept, &r.to) {
                (None, _) if !lacking.contains(&r.method) => lacking.push(r.method),
                (Some(kept), Some(to)) if !same_address(kept, to) => unmapped.push(format!(
                    "@{h}: their {} rule at {} minutes goes to {to} in the export; warroom sends it to {kept}, their one {}",
                    r.method,
                    r.minutes,
                    if r.method == Method::Email { "email" } else { "phone" }
                )),
                _ => {}
            }
            if !rules.contains(&(r.method, minutes)) {
                rules.push((r.method, minutes));
            }
        }
        // Stable: rules of one wait keep the tool's order.
        rules.sort_by_key(|(_, m)| *m);
        if lacking.contains(&Method::Email) {
            unmapped.push(format!(
                "@{h}: their email rules need an email address, which is not imported; add email = \"…\" before uncommenting notify"
            ));
        }
        let phone_rules: Vec<&str> = [Method::Sms, Method::Voice]
            .into_iter()
            .filter(|m| lacking.contains(m))
            .map(Method::as_str)
            .collect();
        if !phone_rules.is_empty() {
            unmapped.push(format!(
                "@{h}: their {} rules need a phone number, which is not imported; add phone = \"+…\" (E.164) before uncommenting notify",
                phone_rules.join(" and ")
            ));
        }
        let mut parts = Vec::new();
        if self.email.is_some() {
            parts.push("email".to_string());
        }
        if let Some((n, via)) = &self.phone {
            parts.push(format!("phone {n} ({via})"));
        }
        if !rules.is_empty() {
            parts.push(format!(
                "{} notification {} (commented out)",
                rules.len(),
                if rules.len() == 1 { "rule" } else { "rules" }
            ));
        }
        Reached {
            email: self.email,
            phone,
            rules,
            rules_from: self.rules_from,
            summary: (!parts.is_empty()).then(|| parts.join(", ")),
        }
    }
}

impl Reached {
    /// The rules as a TOML comment line to follow the contact, when there are any.
    pub fn comment(&self) -> Option<String> {
        if self.rules.is_empty() {
            return None;
        }
        let list = self
            .rules
            .iter()
            .map(|(m, n)| format!("{{ method = \"{m}\", after_minutes = {n} }}"))
            .collect::<Vec<_>>()
            .join(", ");
        let from = if self.rules_from.is_empty() {
            String::new()
        } else {
            format!("{}; ", self.rules_from)
        };
        Some(format!(
            "# notify = [{list}]  # {from}uncomment once [notifications] is set (docs/notifications.md)"
        ))
    }
}

/// Whether two addresses are one: emails in any case, numbers with or without their spacing.
fn same_address(a: &str, b: &str) -> bool {
    let plain = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect::<String>()
            .to_lowercase()
    };
    a.eq_ignore_ascii_case(b) || (a.starts_with('+') && plain(a) == plain(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_taken_only_as_warroom_takes_them() {
        assert_eq!(
            email_address(" rpark@example.com ").as_deref(),
            Ok("rpark@example.com")
        );
        assert!(email_address("rpark@localhost")
            .unwrap_err()
            .contains("not a domain"));
        assert!(email_address("r park@example.com")
            .unwrap_err()
            .contains("spaces"));
        assert!(email_address("rpark").unwrap_err().contains("no @"));
        assert!(email_address("@example.com").is_err());
        assert!(email_address("rpark@example.").is_err());
        assert_eq!(e164("1", "555-0100").as_deref(), Ok("+15550100"));
        assert_eq!(e164("+49", "1555 0001").as_deref(), Ok("+4915550001"));
        assert!(e164("1", "555010").unwrap_err().contains("7 digits"));
        assert!(e164("", "5550100").unwrap_err().contains("no country code"));
        assert!(e164("1", "555-CALL").unwrap_err().contains("'C'"));
        assert!(e164("1", "1234567890123456")
            .unwrap_err()
            .contains("17 digits"));
        assert_eq!(e164_written("+1 555 0100").as_deref(), Ok("+15550100"));
        assert!(e164_written("5550100").unwrap_err().contains("+"));
    }

    #[test]
    fn rules_are_capped_ordered_and_written_as_a_comment() {
        let mut r = Reach::new("rpark");
        r.email("rpark@example.com");
        r.phone(e164("1", "5550100"), "sms", "sms contact method 'Mobile'");
        r.phone(e164("1", "5550199"), "voice", "phone contact method 'Home'");
        r.rules_from("from PagerDuty's high-urgency rules");
        r.rule(Method::Voice, 5, Some("+15550199".to_string()));
        r.rule(Method::Sms, 0, None);
        r.rule(Method::Email, 90, None);
        r.rule(Method::Sms, 0, None);
        r.rule(Method::Push, 1, None);
        let mut lines = Vec::new();
        let done = r.finish(&mut lines);
        assert_eq!(done.phone.as_deref(), Some("+15550100"));
        assert_eq!(
            done.rules,
            vec![(Method::Sms, 0), (Method::Voice, 5), (Method::Email, 60)]
        );
        assert_eq!(
            done.comment().as_deref(),
            Some("# notify = [{ method = \"sms\", after_minutes = 0 }, { method = \"voice\", after_minutes = 5 }, { method = \"email\", after_minutes = 60 }]  # from PagerDuty's high-urgency rules; uncomment once [notifications] is set (docs/notifications.md)")
        );
        assert_eq!(
            done.summary.as_deref(),
            Some("email, phone +15550100 (sms), 3 notification rules (commented out)")
        );
        let all = lines.join("\n");
        assert!(
            all.contains("phone contact method 'Home' (+15550199) is left out: a warroom contact has one phone"),
            "{all}"
        );
        assert!(all.contains("rule pushing at 1 minutes"), "{all}");
        assert!(
            all.contains("email rule at 90 minutes waits longer than warroom's 60"),
            "{all}"
        );
        assert!(
            all.contains("voice rule at 5 minutes goes to +15550199 in the export; warroom sends it to +15550100"),
            "{all}"
        );
        assert_eq!(lines.len(), 4, "{all}");
    }

    #[test]
    fn rules_without_an_address_are_kept_and_the_missing_address_named() {
        let mut r = Reach::new("khouse");
        r.phone(e164("1", "555010"), "sms", "sms contact method 'Mobile'");
        r.rule(Method::Sms, 2, None);
        let mut lines = Vec::new();
        let done = r.finish(&mut lines);
        assert_eq!(done.phone, None);
        assert_eq!(done.rules, vec![(Method::Sms, 2)]);
        assert_eq!(
            done.summary.as_deref(),
            Some("1 notification rule (commented out)")
        );
        let all = lines.join("\n");
        assert!(
            all.contains("@khouse: sms contact method 'Mobile' is left out: +1555010 has 7 digits"),
            "{all}"
        );
        assert!(
            all.contains("@khouse: their sms rules need a phone number"),
            "{all}"
        );
        // Nothing known: nothing written, nothing said.
        let mut lines = Vec::new();
        let done = Reach::new("x").finish(&mut lines);
        assert!(done.comment().is_none() && done.summary.is_none() && lines.is_empty());
    }
}
