//! A calendar's text read as content lines: unfolded, each split into its name, parameters
//! and value, TEXT unescaped, and gathered into the calendar's own properties and each
//! VEVENT's.

use super::IcalError;

/// One content line, unfolded: `NAME;PARAM=value:value`.
#[derive(Debug, Clone)]
pub(super) struct Prop {
    pub(super) name: String,
    pub(super) params: Vec<(String, String)>,
    pub(super) value: String,
    pub(super) line: usize,
}

impl Prop {
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn malformed(&self, reason: impl Into<String>) -> IcalError {
        IcalError::Malformed {
            line: self.line,
            reason: format!("{}: {}", self.name, reason.into()),
        }
    }

    pub(super) fn unsupported(&self, what: impl Into<String>) -> IcalError {
        IcalError::Unsupported {
            line: self.line,
            what: what.into(),
        }
    }
}

/// Logical lines with the physical line each starts on. A line beginning with a space or
/// tab continues the one before, without that first character.
pub(super) fn unfold(text: &str) -> Vec<(usize, String)> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let continued = raw.strip_prefix([' ', '\t']);
        match (continued, lines.last_mut()) {
            (Some(more), Some((_, last))) => last.push_str(more),
            _ if raw.trim().is_empty() => {}
            _ => lines.push((i + 1, raw.to_string())),
        }
    }
    lines
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Splits a content line into its name, parameters (quotes removed, several values joined
/// with commas) and value.
fn parse_line(line: usize, text: &str) -> Result<Prop, IcalError> {
    let shown: String = text.chars().take(60).collect();
    let bad = |what: &str| IcalError::Malformed {
        line,
        reason: format!("{what} in '{shown}'"),
    };
    let name_end = text
        .find([';', ':'])
        .ok_or_else(|| bad("no ':' before the value"))?;
    let name = text[..name_end].to_ascii_uppercase();
    if !is_name(&name) {
        return Err(bad("not a property name"));
    }
    let mut params = Vec::new();
    let mut rest = &text[name_end..];
    while let Some(after) = rest.strip_prefix(';') {
        let eq = after
            .find('=')
            .ok_or_else(|| bad("a parameter without '='"))?;
        let pname = after[..eq].to_ascii_uppercase();
        if !is_name(&pname) {
            return Err(bad("not a parameter name"));
        }
        let mut r = &after[eq + 1..];
        let mut values = Vec::new();
        loop {
            if let Some(quoted) = r.strip_prefix('"') {
                let close = quoted
                    .find('"')
                    .ok_or_else(|| bad("a quote never closed"))?;
                values.push(caret_decode(&quoted[..close]));
                r = &quoted[close + 1..];
            } else {
                let end = r.find([',', ';', ':']).unwrap_or(r.len());
                values.push(caret_decode(&r[..end]));
                r = &r[end..];
            }
            match r.strip_prefix(',') {
                Some(more) => r = more,
                None => break,
            }
        }
        params.push((pname, values.join(",")));
        rest = r;
    }
    let value = rest
        .strip_prefix(':')
        .ok_or_else(|| bad("no ':' before the value"))?;
    Ok(Prop {
        name,
        params,
        value: value.to_string(),
        line,
    })
}

/// RFC 6868: `^n`, `^^` and `^'` in parameter values (a CN with a quote or newline).
fn caret_decode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('^', Some('n')) => out.push('\n'),
            ('^', Some('^')) => out.push('^'),
            ('^', Some('\'')) => out.push('"'),
            _ => {
                out.push(c);
                continue;
            }
        }
        chars.next();
    }
    out
}

/// A TEXT value unescaped; `\:` (which Outlook writes) is read as `:`.
pub(super) fn unescape_text(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, false) => out.push(c),
            _ => match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
        }
    }
    out
}

type Props = Vec<Prop>;

/// The calendar's own properties and each VEVENT's (with the line it begins on). Other
/// components (VTIMEZONE, VTODO) and those inside an event (VALARM, whose DESCRIPTION and
/// TRIGGER are no shift's) are passed over; BEGIN and END must still pair up, so a file
/// cut short in transfer is refused rather than read as fewer shifts.
pub(super) fn read_components(text: &str) -> Result<(Props, Vec<(usize, Props)>), IcalError> {
    let lines = unfold(text);
    match lines.first() {
        Some((_, first)) if first.trim().eq_ignore_ascii_case("BEGIN:VCALENDAR") => {}
        _ => return Err(IcalError::NotACalendar),
    }
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut calendar = Vec::new();
    let mut events = Vec::new();
    let mut event: Option<(usize, Props)> = None;
    for (line, text) in &lines {
        let prop = parse_line(*line, text)?;
        let component = prop.value.trim().to_ascii_uppercase();
        match prop.name.as_str() {
            "BEGIN" => {
                if component == "VEVENT" && open.len() == 1 && open[0].0 == "VCALENDAR" {
                    event = Some((*line, Vec::new()));
                }
                if open.is_empty() && component != "VCALENDAR" {
                    return Err(prop.malformed("a component outside VCALENDAR"));
                }
                open.push((component, *line));
            }
            "END" => match open.pop() {
                Some((begun, _)) if begun == component => {
                    if component == "VEVENT" && open.len() == 1 {
                        events.extend(event.take());
                    }
                }
                Some((begun, at)) => {
                    return Err(prop.malformed(format!(
                        "END:{component} does not close BEGIN:{begun} of line {at}"
                    )))
                }
                None => return Err(prop.malformed(format!("END:{component} closes nothing"))),
            },
            _ => match (open.len(), &mut event) {
                (0, _) => return Err(prop.malformed("a property outside VCALENDAR")),
                (1, _) => calendar.push(prop),
                (2, Some((_, props))) => props.push(prop),
                _ => {}
            },
        }
    }
    if let Some((component, at)) = open.pop() {
        return Err(IcalError::Malformed {
            line: at,
            reason: format!("BEGIN:{component} is never closed; the file may be cut short"),
        });
    }
    Ok((calendar, events))
}

#[cfg(test)]
mod tests {
    use super::super::events::names;
    use super::super::export::escape_text;
    use super::super::fixture::{calendar, error, event};
    use super::*;

    #[test]
    fn text_is_escaped_on_the_way_out_and_read_back_on_the_way_in() {
        let text = "a,b;c\\d\ne\r\nf\u{7}g\th";
        let escaped = escape_text(text);
        assert_eq!(escaped, "a\\,b\\;c\\\\d\\ne\\nfg\th");
        assert_eq!(unescape_text(&escaped), "a,b;c\\d\ne\nfg\th");
        assert_eq!(unescape_text("Outlook\\: time\\N"), "Outlook: time\n");
        let p = parse_line(
            4,
            "ATTENDEE;CN=\"Park, ^'Riley^'\";ROLE=X:mailto:rpark@example.com",
        )
        .unwrap();
        assert_eq!(p.param("CN"), Some("Park, \"Riley\""));
        assert_eq!(p.value, "mailto:rpark@example.com");
        assert_eq!(names(&p), vec!["Park, \"Riley\"", "rpark@example.com"]);
    }

    #[test]
    fn malformed_files_are_refused_with_their_line() {
        let malformed = |e: IcalError| match e {
            IcalError::Malformed { line, reason } => (line, reason),
            other => panic!("not malformed: {other}"),
        };
        assert_eq!(
            error("<!doctype html><html>Sign in</html>"),
            IcalError::NotACalendar
        );
        assert_eq!(error(""), IcalError::NotACalendar);
        let cut =
            calendar("BEGIN:VEVENT\nDTSTART:20261005T090000Z\n").replace("END:VCALENDAR\r\n", "");
        assert_eq!(
            malformed(error(&cut)),
            (
                3,
                "BEGIN:VEVENT is never closed; the file may be cut short".into()
            )
        );
        let crossed = calendar("BEGIN:VEVENT\nDTSTART:20261005T090000Z\nEND:VTODO\n");
        assert_eq!(malformed(error(&crossed)).0, 5);
        let (line, reason) = malformed(error(&event("DTSTART:2026-10-05T09:00\n")));
        assert_eq!(line, 4);
        assert!(
            reason.starts_with("DTSTART: '2026-10-05T09:00' is not a date"),
            "{reason}"
        );
        assert_eq!(malformed(error(&event("SUMMARY:no start\n"))).0, 3);
        assert_eq!(
            malformed(error(&event("DTSTART;TZID=Europe/Berlin\n"))).0,
            4
        );
        let backwards = event("DTSTART:20261005T090000Z\nDTEND:20261004T090000Z\n");
        assert_eq!(
            malformed(error(&backwards)),
            (5, "DTEND: the event ends before it starts".into())
        );
        let both =
            event("DTSTART:20261005T090000Z\nRRULE:FREQ=DAILY;COUNT=2;UNTIL=20261010T000000Z\n");
        assert_eq!(
            malformed(error(&both)),
            (5, "RRULE: COUNT and UNTIL cannot both be given".into())
        );
        let (line, reason) = malformed(error(&event("DTSTART:20261005T090000Z\nDURATION:-PT1H\n")));
        assert_eq!((line, reason.contains("negative")), (5, true));
        let (line, _) = malformed(error(&event("DTSTART:20261005T090000Z\nDURATION:1 hour\n")));
        assert_eq!(line, 5);
        let weekly_ordinal = event("DTSTART:20261005T090000Z\nRRULE:FREQ=WEEKLY;BYDAY=2MO\n");
        assert_eq!(malformed(error(&weekly_ordinal)).0, 5);
    }
}
