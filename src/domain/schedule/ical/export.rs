//! The feed as an iCalendar document: content lines folded at 75 octets, TEXT escaped, and
//! each shift's UID made from what stays the same across fetches.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A calendar feed: one schedule's shifts, or one person's across schedules.
#[derive(Debug, Clone, Copy)]
pub struct CalendarFeed<'a> {
    /// The calendar's name in clients (`X-WR-CALNAME`).
    pub name: &'a str,
    /// The host the UIDs are made unique under, e.g. `warroom.example.com`.
    pub host: &'a str,
    pub shifts: &'a [FeedShift<'a>],
    /// When the feed was made (`DTSTAMP`); passed in, as this module reads no clock.
    pub stamp: DateTime<Utc>,
}

/// One person's shift on one schedule.
#[derive(Debug, Clone, Copy)]
pub struct FeedShift<'a> {
    pub schedule: &'a str,
    /// The person's handle; with `schedule` and `start` it makes the event's UID.
    pub person: &'a str,
    /// How the person is shown, e.g. `Riley Park (@rpark)`.
    pub display: &'a str,
    /// The shift's own start, **not clipped** at the feed's window. The UID is derived from
    /// it, and calendar clients match events across refreshes by UID alone: a shift in
    /// progress clipped at "now" would start somewhere new at every fetch, so each refresh
    /// would add it again beside the stale copies. The caller resolves from early enough
    /// (or extends the first span back to its real start) and passes that start.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Fixed for good: changing it changes every UID, and every subscriber would see each
/// shift twice until the old events age out.
const SHIFT_UID_NAMESPACE: Uuid = Uuid::from_u128(0x803b_9319_7cec_4a57_b4c2_1cc6_0798_d1c2);

const PRODID: &str = "-//warroom//on-call schedules//EN";

/// RFC 5545 caps a content line at 75 octets, line break excluded.
const LINE_OCTETS: usize = 75;

/// The feed as an iCalendar document: CRLF line ends, long lines folded, times in UTC.
/// Each event's UID comes from (schedule, person, start), so the shifts must carry their
/// unclipped starts (see [`FeedShift::start`]) for clients to update rather than duplicate.
pub fn render_calendar(cal: &CalendarFeed<'_>) -> String {
    let mut out = String::new();
    let stamp = utc_stamp(cal.stamp);
    let head = [
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        format!("PRODID:{PRODID}"),
        "CALSCALE:GREGORIAN".into(),
        "METHOD:PUBLISH".into(),
        format!("X-WR-CALNAME:{}", escape_text(cal.name)),
        // Subscribed calendars refresh on the client's whim unless told; an hour keeps
        // hand-off changes from lagging by a day.
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H".into(),
        "X-PUBLISHED-TTL:PT1H".into(),
    ];
    head.iter().for_each(|l| put_line(&mut out, l));
    for s in cal.shifts {
        let summary = format!("On call: {} ({})", s.display, s.schedule);
        for l in [
            "BEGIN:VEVENT".to_string(),
            format!("UID:{}", escape_text(&shift_uid(s, cal.host))),
            format!("DTSTAMP:{stamp}"),
            format!("DTSTART:{}", utc_stamp(s.start)),
            format!("DTEND:{}", utc_stamp(s.end)),
            format!("SUMMARY:{}", escape_text(&summary)),
            // Being on call is not being busy: the shift must not block the person's
            // free/busy for meetings.
            "TRANSP:TRANSPARENT".into(),
            "END:VEVENT".into(),
        ] {
            put_line(&mut out, &l);
        }
    }
    put_line(&mut out, "END:VCALENDAR");
    out
}

/// The UID of a shift: a name-based UUID of (schedule, person, start), so the same shift
/// gets the same UID in every fetch and a changed end updates the event in place.
fn shift_uid(s: &FeedShift<'_>, host: &str) -> String {
    // Neither schedule names nor handles hold a newline, so the key is unambiguous.
    let key = format!("{}\n{}\n{}", s.schedule, s.person, utc_stamp(s.start));
    format!(
        "{}@{host}",
        Uuid::new_v5(&SHIFT_UID_NAMESPACE, key.as_bytes())
    )
}

fn utc_stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A TEXT value escaped (RFC 5545 3.3.11). Control characters other than tab are not
/// allowed in TEXT and would corrupt the file, so they are dropped; CRLF is one newline.
pub(super) fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\n' => out.push_str("\\n"),
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded so no physical line passes 75 octets: a continuation
/// line starts with a space, which counts. A cut never falls inside a UTF-8 character,
/// since clients that decode each physical line would mangle it.
fn put_line(out: &mut String, line: &str) {
    let mut rest = line;
    let mut room = LINE_OCTETS;
    while rest.len() > room {
        let mut cut = room;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        room = LINE_OCTETS - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::super::fixture::utc;
    use super::super::lines::unfold;
    use super::super::parse_shifts;
    use super::*;
    use chrono::TimeDelta;

    fn shift<'a>(
        person: &'a str,
        display: &'a str,
        start: DateTime<Utc>,
        days: i64,
    ) -> FeedShift<'a> {
        FeedShift {
            schedule: "sre",
            person,
            display,
            start,
            end: start + TimeDelta::days(days),
        }
    }

    fn feed(shifts: &[FeedShift<'_>]) -> String {
        render_calendar(&CalendarFeed {
            name: "SRE, primary; on call",
            host: "warroom.example.com",
            shifts,
            stamp: utc(2026, 10, 20, 12, 0),
        })
    }

    fn uids(text: &str) -> Vec<String> {
        unfold(text)
            .into_iter()
            .filter_map(|(_, l)| l.strip_prefix("UID:").map(str::to_string))
            .collect()
    }

    #[test]
    fn an_exported_feed_is_rfc5545_and_reads_back_as_the_same_shifts() {
        let shifts = [
            shift("@rpark", "Riley Park (@rpark)", utc(2026, 10, 19, 7, 0), 7),
            shift(
                "@ghammer",
                "Hammer, Greta; \"Gee\" (@ghammer)",
                utc(2026, 10, 26, 8, 0),
                7,
            ),
            shift(
                "@jmüller",
                "Jürgen Müller-Lüdenscheidt, Köln–Düsseldorf Bereitschaft (@jmüller)",
                utc(2026, 11, 2, 8, 0),
                14,
            ),
        ];
        let text = feed(&shifts);
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert!(
            !text.replace("\r\n", "").contains(['\r', '\n']),
            "every line ends in CRLF"
        );
        for physical in text.split("\r\n") {
            assert!(physical.len() <= 75, "{physical:?} is over 75 octets");
        }
        let lines: Vec<String> = unfold(&text).into_iter().map(|(_, l)| l).collect();
        for expected in [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//warroom//on-call schedules//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:SRE\\, primary\\; on call",
            "DTSTAMP:20261020T120000Z",
            "DTSTART:20261019T070000Z",
            "DTEND:20261026T070000Z",
            "SUMMARY:On call: Riley Park (@rpark) (sre)",
            "SUMMARY:On call: Hammer\\, Greta\\; \"Gee\" (@ghammer) (sre)",
        ] {
            assert!(lines.iter().any(|l| l == expected), "no line {expected}");
        }
        let back = parse_shifts(&text, utc(2026, 10, 1, 0, 0), utc(2027, 1, 1, 0, 0)).unwrap();
        assert_eq!(back.len(), shifts.len());
        for (b, s) in back.iter().zip(&shifts) {
            assert_eq!((b.start, b.end), (s.start, s.end));
            assert_eq!(
                b.who,
                vec![format!("On call: {} ({})", s.display, s.schedule)]
            );
        }
    }

    #[test]
    fn long_lines_fold_at_75_octets_and_never_inside_a_character() {
        let mut out = String::new();
        put_line(&mut out, &"x".repeat(200));
        let sizes: Vec<usize> = out.split("\r\n").map(str::len).collect();
        assert_eq!(sizes, vec![75, 75, 52, 0], "a continuation's space counts");
        // Two-, three- and four-octet characters against every possible cut.
        for pad in 0..4 {
            let line = format!("SUMMARY:{}{}", "a".repeat(pad), "é€🙂".repeat(30));
            let mut out = String::new();
            put_line(&mut out, &line);
            for physical in out.as_bytes().split(|&b| b == b'\n') {
                let physical = physical.strip_suffix(b"\r").unwrap_or(physical);
                assert!(physical.len() <= 75);
                assert!(std::str::from_utf8(physical).is_ok(), "a character was cut");
            }
            assert_eq!(unfold(&out), vec![(1, line)]);
        }
    }

    #[test]
    fn uids_stay_the_same_when_the_window_moves_on() {
        let riley = shift("@rpark", "Riley Park (@rpark)", utc(2026, 10, 19, 7, 0), 7);
        let greta = shift(
            "@ghammer",
            "Greta Hammer (@ghammer)",
            utc(2026, 10, 26, 8, 0),
            7,
        );
        let kai = shift("@khouse", "Kai House (@khouse)", utc(2026, 11, 2, 8, 0), 7);
        // Fetched on 10-20 and again on 10-27: Riley's shift has ended, Greta's is the one in
        // progress (its start passed unclipped), Kai's has come into the window.
        let monday = uids(&feed(&[riley, greta]));
        let next_week = uids(&feed(&[greta, kai]));
        assert_eq!(monday[1], next_week[0]);
        assert!(monday[0].ends_with("@warroom.example.com"));
        let all = [&monday[..], &next_week[1..]].concat();
        assert_eq!(all.len(), 3);
        assert!(all[0] != all[1] && all[1] != all[2] && all[0] != all[2]);
        // An override that shortens Greta's shift changes her end: the event is updated.
        let shorter = FeedShift {
            end: greta.end - TimeDelta::days(2),
            ..greta
        };
        assert_eq!(uids(&feed(&[shorter])), vec![monday[1].clone()]);
        // The same time on another schedule or for another person is another event.
        let elsewhere = FeedShift {
            schedule: "dba",
            ..greta
        };
        let someone_else = FeedShift {
            person: "@khouse",
            ..greta
        };
        assert_ne!(uids(&feed(&[elsewhere]))[0], monday[1]);
        assert_ne!(uids(&feed(&[someone_else]))[0], monday[1]);
    }
}
