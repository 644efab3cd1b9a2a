//! iCalendar (RFC 5545) for on-call shifts: a schedule's shifts rendered as a feed calendar
//! clients subscribe to, and the shifts of an exported calendar (Google Calendar, Grafana
//! OnCall) read back, recurrences expanded, for a schedule layer to take its people from.
//!
//! Pure: no IO and no clock. The reading side covers what on-call calendars use: UTC, IANA
//! `TZID`, floating and all-day times, `DURATION`, `RRULE` (daily, weekly and monthly, with
//! `INTERVAL`, `COUNT`, `UNTIL`, `BYDAY`, `BYMONTHDAY`, `WKST`), `RDATE`, `EXDATE`,
//! `RECURRENCE-ID` overrides and cancelled events. Anything else that would change when a
//! shift happens is refused with the line it is on, never skipped: a wrong calendar pages
//! the wrong person.
//!
//! Recurrences are expanded by hand rather than with the `rrule` crate: its iterator ends an
//! expansion it finds too long with only a log line, it can drop an occurrence on a day
//! whose local midnight the clocks skip, and its parser reads floating times on the
//! machine's zone. The subset here is small, and it reads skipped and repeated wall-clock
//! times with [`instant`], exactly as the schedules do.

use super::turns::instant;
use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc, Weekday,
};
use chrono_tz::Tz;
use std::collections::HashMap;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Export

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
fn escape_text(text: &str) -> String {
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

// ---------------------------------------------------------------------------------------
// Import

/// One occurrence of an event: a shift, and who may be meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedShift {
    pub start: DateTime<Utc>,
    /// Not clipped at the window: the occurrence's own end.
    pub end: DateTime<Utc>,
    /// Candidate names, most telling first: the SUMMARY, each ATTENDEE's CN and mailto
    /// address, the ORGANIZER's, the DESCRIPTION; empty when the event names nobody, so the
    /// caller can say so.
    pub who: Vec<String>,
}

/// Why a calendar could not be read. Lines are the file's physical lines, from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcalError {
    #[error("not an iCalendar file: it does not begin with BEGIN:VCALENDAR")]
    NotACalendar,
    #[error("line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("line {line}: {what} is not supported")]
    Unsupported { line: usize, what: String },
    #[error(
        "line {line}: expanding the recurrences up to the end of the window takes more than \
         {limit} occurrences; import a shorter window or split the rule"
    )]
    TooManyOccurrences { line: usize, limit: usize },
}

/// The most occurrences one import expands, over all its events.
pub const MAX_OCCURRENCES: usize = 100_000;

/// A rule that matches no date in this many periods in a row never will (e.g. the 30th of
/// every February); without this, one would be stepped through until the window ends.
const MAX_EMPTY_PERIODS: u32 = 1_000;

/// Every occurrence of the calendar's events that overlaps `[from, to)`, by start.
///
/// A floating time (no `Z`, no `TZID`) and an all-day date are read on the calendar's
/// `X-WR-TIMEZONE` (Google writes it), else on UTC: never on the machine's zone.
/// Recurrences keep their local wall-clock time in their zone across daylight saving, and
/// so does their end when `DTEND` is in the same zone as `DTSTART` (RFC 5545 would keep the
/// exact length instead; for back-to-back weekly shifts that makes a one-hour overlap at
/// every change of the clocks). An event that lasts no time names nobody on call and is
/// left out.
pub fn parse_shifts(
    text: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ImportedShift>, IcalError> {
    let (calendar, raw) = read_components(text)?;
    let floating = Floating::of(&calendar);
    let events = raw
        .iter()
        .map(|(line, props)| Event::read(*line, props, &floating))
        .collect::<Result<Vec<_>, _>>()?;
    // Occurrences of a series replaced (or cancelled) by an event of their own.
    let mut replaced: HashMap<&str, Vec<Moment>> = HashMap::new();
    for e in &events {
        if let (Some(uid), Some(id)) = (&e.uid, e.recurrence_id) {
            replaced.entry(uid).or_default().push(id);
        }
    }
    let mut work = Work::default();
    let mut shifts = Vec::new();
    for e in events.iter().filter(|e| !e.cancelled) {
        let overridden = match (&e.uid, e.recurrence_id) {
            (Some(uid), None) => replaced.get(uid.as_str()).map_or(&[][..], Vec::as_slice),
            _ => &[],
        };
        for occurrence in e.occurrences(from, to, &mut work)? {
            if overridden
                .iter()
                .chain(&e.exdates)
                .any(|m| m.matches(&occurrence))
            {
                continue;
            }
            let start = occurrence.instant();
            let end = e
                .length
                .end(&occurrence)
                .ok_or_else(|| IcalError::Malformed {
                    line: e.line,
                    reason: "the event ends beyond the calendar's range".into(),
                })?;
            if start < to && from < end && start < end {
                shifts.push(ImportedShift {
                    start,
                    end,
                    who: e.who.clone(),
                });
            }
        }
    }
    shifts.sort_by_key(|s| (s.start, s.end));
    Ok(shifts)
}

/// One content line, unfolded: `NAME;PARAM=value:value`.
#[derive(Debug, Clone)]
struct Prop {
    name: String,
    params: Vec<(String, String)>,
    value: String,
    line: usize,
}

impl Prop {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn malformed(&self, reason: impl Into<String>) -> IcalError {
        IcalError::Malformed {
            line: self.line,
            reason: format!("{}: {}", self.name, reason.into()),
        }
    }

    fn unsupported(&self, what: impl Into<String>) -> IcalError {
        IcalError::Unsupported {
            line: self.line,
            what: what.into(),
        }
    }
}

/// Logical lines with the physical line each starts on. A line beginning with a space or
/// tab continues the one before, without that first character.
fn unfold(text: &str) -> Vec<(usize, String)> {
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
fn unescape_text(v: &str) -> String {
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
fn read_components(text: &str) -> Result<(Props, Vec<(usize, Props)>), IcalError> {
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

/// The zone of floating times and all-day dates: X-WR-TIMEZONE, else UTC. An unknown name
/// is an error only once a floating time needs it.
struct Floating(Result<Tz, IcalError>);

impl Floating {
    fn of(calendar: &[Prop]) -> Floating {
        Floating(match calendar.iter().find(|p| p.name == "X-WR-TIMEZONE") {
            None => Ok(chrono_tz::UTC),
            Some(p) => zone(p, p.value.trim()),
        })
    }
}

/// An IANA zone by name. Some producers prefix it (`/mozilla.org/20050126_1/Europe/Berlin`),
/// so a name that does not parse is tried without its leading segments.
fn zone(prop: &Prop, name: &str) -> Result<Tz, IcalError> {
    std::iter::once(name)
        .chain(name.match_indices('/').map(|(i, _)| &name[i + 1..]))
        .find_map(|n| n.parse::<Tz>().ok())
        .ok_or_else(|| {
            prop.unsupported(format!(
                "time zone '{name}' (only IANA names such as Europe/Berlin)"
            ))
        })
}

/// A time as written: a wall-clock time on a zone's clock (UTC for `Z` times), so that
/// recurrences step on the local calendar.
#[derive(Debug, Clone, Copy, PartialEq)]
struct When {
    local: NaiveDateTime,
    zone: Tz,
    date_only: bool,
}

impl When {
    fn instant(&self) -> DateTime<Utc> {
        instant(self.zone, self.local)
    }

    /// The same instant on another zone's clock.
    fn local_on(&self, zone: Tz) -> NaiveDateTime {
        if zone == self.zone {
            self.local
        } else {
            self.instant().with_timezone(&zone).naive_local()
        }
    }
}

/// `YYYYMMDD` or `YYYYMMDDTHHMMSS` with an optional `Z`, read strictly.
fn read_stamp(text: &str) -> Option<(NaiveDateTime, bool, bool)> {
    let (body, utc) = match text.strip_suffix(['Z', 'z']) {
        Some(b) => (b, true),
        None => (text, false),
    };
    if !body.is_ascii() {
        return None;
    }
    let num = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let date = |d: &str| {
        (d.len() == 8).then_some(())?;
        NaiveDate::from_ymd_opt(num(&d[..4])? as i32, num(&d[4..6])?, num(&d[6..])?)
    };
    match body.split_once(['T', 't']) {
        None if !utc => Some((date(body)?.and_time(NaiveTime::MIN), false, true)),
        None => None,
        Some((d, t)) => {
            (t.len() == 6).then_some(())?;
            let time = NaiveTime::from_hms_opt(num(&t[..2])?, num(&t[2..4])?, num(&t[4..])?)?;
            Some((date(d)?.and_time(time), utc, false))
        }
    }
}

/// One DATE or DATE-TIME value of `prop`, with its TZID or VALUE parameters.
fn read_when(prop: &Prop, text: &str, floating: &Floating) -> Result<When, IcalError> {
    let value_type = prop.param("VALUE").map(str::to_ascii_uppercase);
    match value_type.as_deref() {
        None | Some("DATE") | Some("DATE-TIME") => {}
        Some(other) => return Err(prop.unsupported(format!("{} of VALUE={other}", prop.name))),
    }
    let text = text.trim();
    let (local, utc, date_only) = read_stamp(text)
        .filter(|&(_, _, date_only)| match value_type.as_deref() {
            Some("DATE") => date_only,
            Some(_) => !date_only,
            None => true,
        })
        .ok_or_else(|| {
            prop.malformed(format!(
                "'{text}' is not a date (20261019) or date and time (20261019T090000, Z for UTC)"
            ))
        })?;
    let zone = match (utc, prop.param("TZID")) {
        (true, _) => chrono_tz::UTC,
        (false, Some(name)) => zone(prop, name.trim())?,
        (false, None) => floating.0.clone()?,
    };
    Ok(When {
        local,
        zone,
        date_only,
    })
}

/// An EXDATE or RECURRENCE-ID: an instant, or a whole local day for a date.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Moment {
    At(DateTime<Utc>),
    Day(NaiveDate),
}

impl Moment {
    fn of(w: When) -> Moment {
        match w.date_only {
            true => Moment::Day(w.local.date()),
            false => Moment::At(w.instant()),
        }
    }

    fn matches(&self, occurrence: &When) -> bool {
        match *self {
            Moment::At(t) => occurrence.instant() == t,
            Moment::Day(d) => occurrence.local.date() == d,
        }
    }
}

/// How long each occurrence lasts: a stretch of the local clock, then exact time.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Length {
    local: TimeDelta,
    exact: TimeDelta,
}

impl Length {
    fn end(&self, start: &When) -> Option<DateTime<Utc>> {
        let local_end = start.local.checked_add_signed(self.local)?;
        instant(start.zone, local_end).checked_add_signed(self.exact)
    }

    /// How far before the window an occurrence may start and still reach into it.
    fn reach(&self) -> Option<TimeDelta> {
        self.local
            .checked_add(&self.exact)?
            .checked_add(&TimeDelta::days(2))
    }
}

/// `P1W`, `P1DT12H`, `PT8H`: weeks and days on the local clock, hours to seconds exact
/// (RFC 5545 3.3.6). A shift cannot last a negative time.
fn read_duration(prop: &Prop) -> Result<Length, IcalError> {
    let text = prop.value.trim();
    let bad = || {
        prop.malformed(format!(
            "'{text}' is not a duration; write e.g. P7D, PT12H or P1DT8H"
        ))
    };
    let body = text.strip_prefix('+').unwrap_or(text);
    if body.starts_with('-') {
        return Err(prop.malformed(format!("'{text}': a shift cannot last a negative time")));
    }
    let body = body.strip_prefix(['P', 'p']).ok_or_else(bad)?;
    let (date, time) = match body.split_once(['T', 't']) {
        Some((_, "")) => return Err(bad()),
        Some((d, t)) => (d, t),
        None => (body, ""),
    };
    let mut total = [0i64; 2];
    let mut any = false;
    for (part, slot) in [(date, 0), (time, 1)] {
        let mut digits = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let scale: i64 = match (slot, c.to_ascii_uppercase()) {
                (0, 'W') => 7,
                (0, 'D') => 1,
                (1, 'H') => 3600,
                (1, 'M') => 60,
                (1, 'S') => 1,
                _ => return Err(bad()),
            };
            let n: i64 = digits.parse().map_err(|_| bad())?;
            total[slot] = n
                .checked_mul(scale)
                .and_then(|v| total[slot].checked_add(v))
                .ok_or_else(bad)?;
            digits.clear();
            any = true;
        }
        if !digits.is_empty() {
            return Err(bad());
        }
    }
    if !any {
        return Err(bad());
    }
    Ok(Length {
        local: TimeDelta::try_days(total[0]).ok_or_else(bad)?,
        exact: TimeDelta::try_seconds(total[1]).ok_or_else(bad)?,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freq {
    Daily,
    Weekly,
    Monthly,
}

/// Where a rule stops, as UNTIL was written.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Until {
    At(DateTime<Utc>),
    Day(NaiveDate),
    Local(NaiveDateTime),
}

impl Until {
    fn passed(&self, zone: Tz, local: NaiveDateTime) -> bool {
        match *self {
            Until::At(t) => instant(zone, local) > t,
            Until::Day(d) => local.date() > d,
            Until::Local(l) => local > l,
        }
    }
}

/// An RRULE in the supported subset.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    line: usize,
    freq: Freq,
    interval: u32,
    count: Option<u32>,
    until: Option<Until>,
    /// With an ordinal (`2MO`, `-1FR`) for monthly rules only.
    by_day: Vec<(Option<i8>, Weekday)>,
    by_month_day: Vec<i8>,
    week_start: Weekday,
}

fn weekday(code: &str) -> Option<Weekday> {
    use Weekday::*;
    let days = [
        ("MO", Mon),
        ("TU", Tue),
        ("WE", Wed),
        ("TH", Thu),
        ("FR", Fri),
    ];
    days.into_iter()
        .chain([("SA", Sat), ("SU", Sun)])
        .find(|(c, _)| code.eq_ignore_ascii_case(c))
        .map(|(_, d)| d)
}

fn read_rule(prop: &Prop) -> Result<Rule, IcalError> {
    let mut rule = Rule {
        line: prop.line,
        freq: Freq::Daily,
        interval: 1,
        count: None,
        until: None,
        by_day: vec![],
        by_month_day: vec![],
        week_start: Weekday::Mon,
    };
    let mut seen: Vec<String> = Vec::new();
    let mut freq = None;
    for part in prop.value.trim().split(';').filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| prop.malformed(format!("'{part}' has no '='")))?;
        let key = key.trim().to_ascii_uppercase();
        let value = value.trim();
        if seen.contains(&key) {
            return Err(prop.malformed(format!("{key} is given twice")));
        }
        seen.push(key.clone());
        let bad = |what: &str| prop.malformed(format!("{key}={value}: {what}"));
        let positive = || match value.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad("not a whole number from 1")),
        };
        match key.as_str() {
            "FREQ" => {
                freq = Some(match value.to_ascii_uppercase().as_str() {
                    "DAILY" => Freq::Daily,
                    "WEEKLY" => Freq::Weekly,
                    "MONTHLY" => Freq::Monthly,
                    "YEARLY" | "HOURLY" | "MINUTELY" | "SECONDLY" => {
                        return Err(prop.unsupported(format!(
                            "RRULE FREQ={value} (only DAILY, WEEKLY and MONTHLY)"
                        )))
                    }
                    _ => return Err(bad("not a frequency")),
                })
            }
            "INTERVAL" => rule.interval = positive()?,
            "COUNT" => rule.count = Some(positive()?),
            "UNTIL" => {
                let (local, utc, date_only) = read_stamp(value)
                    .ok_or_else(|| bad("not a date (20261231) or time (20261231T225959Z)"))?;
                rule.until = Some(match (utc, date_only) {
                    (true, _) => Until::At(local.and_utc()),
                    (false, true) => Until::Day(local.date()),
                    (false, false) => Until::Local(local),
                });
            }
            "WKST" => rule.week_start = weekday(value).ok_or_else(|| bad("not a weekday"))?,
            "BYDAY" => {
                for day in value.split(',').map(str::trim) {
                    if !day.is_ascii() {
                        return Err(bad("not a list of weekdays"));
                    }
                    let split = day.len().saturating_sub(2);
                    let (ordinal, code) = (&day[..split], &day[split..]);
                    let wd = weekday(code).ok_or_else(|| bad("not a list of weekdays"))?;
                    let ordinal = match ordinal.strip_prefix('+').unwrap_or(ordinal) {
                        "" => None,
                        n => match n.parse::<i8>() {
                            Ok(n) if n != 0 && n.abs() <= 5 => Some(n),
                            _ => return Err(bad("a month has the 1st to the 5th or -1st to -5th")),
                        },
                    };
                    rule.by_day.push((ordinal, wd));
                }
            }
            "BYMONTHDAY" => {
                for day in value.split(',').map(str::trim) {
                    match day.strip_prefix('+').unwrap_or(day).parse::<i8>() {
                        Ok(n) if n != 0 && n.abs() <= 31 => rule.by_month_day.push(n),
                        _ => return Err(bad("days of the month are 1 to 31 or -1 to -31")),
                    }
                }
            }
            _ => {
                return Err(prop.unsupported(format!(
                    "RRULE part {key} (warroom reads FREQ, INTERVAL, COUNT, UNTIL, BYDAY, \
                     BYMONTHDAY and WKST)"
                )))
            }
        }
    }
    rule.freq = freq.ok_or_else(|| prop.malformed("an RRULE needs FREQ"))?;
    if rule.count.is_some() && rule.until.is_some() {
        return Err(prop.malformed("COUNT and UNTIL cannot both be given"));
    }
    let ordinals = rule.by_day.iter().any(|(n, _)| n.is_some());
    let month_days = !rule.by_month_day.is_empty();
    match rule.freq {
        Freq::Monthly if month_days && !rule.by_day.is_empty() => {
            Err(prop.unsupported("RRULE with both BYDAY and BYMONTHDAY"))
        }
        Freq::Monthly => Ok(rule),
        _ if ordinals => Err(prop.malformed("BYDAY with a number (2MO) is for monthly rules")),
        Freq::Daily if month_days => Err(prop.unsupported("BYMONTHDAY in a daily RRULE")),
        Freq::Weekly if month_days => {
            Err(prop.malformed("BYMONTHDAY cannot be used with FREQ=WEEKLY"))
        }
        _ => Ok(rule),
    }
}

/// Days from `week_start` to `day` within a week that starts on `week_start`.
fn days_into_week(week_start: Weekday, day: Weekday) -> u64 {
    u64::from((day.num_days_from_monday() + 7 - week_start.num_days_from_monday()) % 7)
}

fn month_number(d: NaiveDate) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

/// Counts the occurrences an import expands, to refuse a runaway one.
#[derive(Debug, Default)]
struct Work {
    occurrences: usize,
}

impl Work {
    fn count(&mut self, line: usize) -> Result<(), IcalError> {
        self.occurrences += 1;
        if self.occurrences > MAX_OCCURRENCES {
            return Err(IcalError::TooManyOccurrences {
                line,
                limit: MAX_OCCURRENCES,
            });
        }
        Ok(())
    }
}

impl Rule {
    fn week_start_of(&self, d: NaiveDate) -> Option<NaiveDate> {
        d.checked_sub_days(Days::new(days_into_week(self.week_start, d.weekday())))
    }

    /// Period `k` of the rule counted from the one holding `first`: the day it opens and
    /// the dates in it the rule picks, in order. `None` past the calendar's range.
    fn period(&self, first: NaiveDate, k: i64) -> Option<(NaiveDate, Vec<NaiveDate>)> {
        let step = u64::try_from(k.checked_mul(i64::from(self.interval))?).ok()?;
        let (opens, mut dates) = match self.freq {
            Freq::Daily => {
                let day = first.checked_add_days(Days::new(step))?;
                let picked = self.by_day.is_empty()
                    || self.by_day.iter().any(|&(_, wd)| wd == day.weekday());
                (day, if picked { vec![day] } else { vec![] })
            }
            Freq::Weekly => {
                let opens = self
                    .week_start_of(first)?
                    .checked_add_days(Days::new(step.checked_mul(7)?))?;
                let days = match self.by_day.is_empty() {
                    true => vec![first.weekday()],
                    false => self.by_day.iter().map(|&(_, wd)| wd).collect(),
                };
                let dates = days
                    .into_iter()
                    .filter_map(|wd| {
                        opens.checked_add_days(Days::new(days_into_week(self.week_start, wd)))
                    })
                    .collect();
                (opens, dates)
            }
            Freq::Monthly => {
                let m = month_number(first).checked_add(i64::try_from(step).ok()?)?;
                let year = i32::try_from(m.div_euclid(12)).ok()?;
                let opens = NaiveDate::from_ymd_opt(year, m.rem_euclid(12) as u32 + 1, 1)?;
                let month: Vec<NaiveDate> = (1..=31).filter_map(|d| opens.with_day(d)).collect();
                let nth = |n: i64, of: &[NaiveDate]| {
                    let i = if n > 0 { n - 1 } else { of.len() as i64 + n };
                    usize::try_from(i).ok().and_then(|i| of.get(i).copied())
                };
                let dates: Vec<NaiveDate> = if !self.by_month_day.is_empty() {
                    self.by_month_day
                        .iter()
                        .filter_map(|&n| nth(n.into(), &month))
                        .collect()
                } else if !self.by_day.is_empty() {
                    self.by_day
                        .iter()
                        .flat_map(|&(n, wd)| {
                            let all: Vec<NaiveDate> = month
                                .iter()
                                .copied()
                                .filter(|d| d.weekday() == wd)
                                .collect();
                            match n {
                                None => all,
                                Some(n) => nth(n.into(), &all).into_iter().collect(),
                            }
                        })
                        .collect()
                } else {
                    // The start's day; a month without it (the 31st in April) is skipped.
                    opens.with_day(first.day()).into_iter().collect()
                };
                (opens, dates)
            }
        };
        dates.sort();
        dates.dedup();
        Some((opens, dates))
    }

    /// A period from which on every occurrence that can reach `from` is found: without
    /// COUNT nothing before it needs counting, so years of history are not stepped through.
    fn period_near(&self, start: &When, length: &Length, from: DateTime<Utc>) -> i64 {
        if self.count.is_some() {
            return 0;
        }
        let Some(early) = length.reach().and_then(|r| from.checked_sub_signed(r)) else {
            return 0;
        };
        let target = early.with_timezone(&start.zone).date_naive();
        let first = start.local.date();
        if target <= first {
            return 0;
        }
        let interval = i64::from(self.interval);
        let k = match self.freq {
            Freq::Daily => (target - first).num_days() / interval,
            Freq::Weekly => match self.week_start_of(first) {
                Some(w) => (target - w).num_days() / (7 * interval),
                None => 0,
            },
            Freq::Monthly => (month_number(target) - month_number(first)) / interval,
        };
        (k - 1).max(0)
    }

    /// The local starts of the occurrences, DTSTART first (it always counts as one), up to
    /// the first that starts at or after `to`, UNTIL or COUNT.
    fn expand(
        &self,
        start: &When,
        length: &Length,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        work: &mut Work,
    ) -> Result<Vec<NaiveDateTime>, IcalError> {
        let (zone, time, first) = (start.zone, start.local.time(), start.local.date());
        work.count(self.line)?;
        let mut found = vec![start.local];
        let mut counted: u32 = 1;
        let mut empty = 0;
        let mut k = self.period_near(start, length, from);
        while self.count.is_none_or(|c| counted < c) {
            let Some((opens, dates)) = self.period(first, k) else {
                break;
            };
            if instant(zone, opens.and_time(NaiveTime::MIN)) >= to {
                break;
            }
            empty = if dates.is_empty() { empty + 1 } else { 0 };
            if empty >= MAX_EMPTY_PERIODS {
                return Err(IcalError::Unsupported {
                    line: self.line,
                    what: format!(
                        "an RRULE that matches no date in {MAX_EMPTY_PERIODS} periods in a row"
                    ),
                });
            }
            for local in dates.into_iter().map(|d| d.and_time(time)) {
                if local <= start.local {
                    continue;
                }
                if self.until.is_some_and(|u| u.passed(zone, local)) || instant(zone, local) >= to {
                    return Ok(found);
                }
                work.count(self.line)?;
                found.push(local);
                counted += 1;
                if self.count == Some(counted) {
                    return Ok(found);
                }
            }
            k += 1;
        }
        Ok(found)
    }
}

/// A VEVENT, read.
#[derive(Debug, Clone)]
struct Event {
    line: usize,
    uid: Option<String>,
    start: When,
    length: Length,
    rule: Option<Rule>,
    rdates: Vec<When>,
    exdates: Vec<Moment>,
    recurrence_id: Option<Moment>,
    cancelled: bool,
    who: Vec<String>,
}

impl Event {
    fn read(line: usize, props: &[Prop], floating: &Floating) -> Result<Event, IcalError> {
        let once = |name: &str| -> Result<Option<&Prop>, IcalError> {
            let mut found = props.iter().filter(|p| p.name == name);
            let first = found.next();
            match found.next() {
                Some(again) => Err(again.malformed("given twice in one event")),
                None => Ok(first),
            }
        };
        let start_prop = once("DTSTART")?.ok_or_else(|| IcalError::Malformed {
            line,
            reason: "VEVENT has no DTSTART".into(),
        })?;
        let start = read_when(start_prop, &start_prop.value, floating)?;
        let length = match (once("DTEND")?, once("DURATION")?) {
            (Some(p), Some(_)) => {
                return Err(p.malformed("an event has DTEND or DURATION, not both"))
            }
            (Some(p), None) => {
                let end = read_when(p, &p.value, floating)?;
                let length = if end.zone == start.zone {
                    Length {
                        local: end.local - start.local,
                        exact: TimeDelta::zero(),
                    }
                } else {
                    Length {
                        local: TimeDelta::zero(),
                        exact: end.instant() - start.instant(),
                    }
                };
                if length.local < TimeDelta::zero() || length.exact < TimeDelta::zero() {
                    return Err(p.malformed("the event ends before it starts"));
                }
                length
            }
            (None, Some(p)) => read_duration(p)?,
            // RFC 5545: a day for an all-day event, no time for one with a time.
            (None, None) => Length {
                local: TimeDelta::days(i64::from(start.date_only)),
                exact: TimeDelta::zero(),
            },
        };
        let mut rule = None;
        let (mut rdates, mut exdates) = (Vec::new(), Vec::new());
        let (mut attendees, mut organizer) = (Vec::new(), Vec::new());
        for p in props {
            match p.name.as_str() {
                "RRULE" if rule.is_some() => {
                    return Err(p.unsupported("a second RRULE in one event"))
                }
                "RRULE" => rule = Some(read_rule(p)?),
                "EXRULE" => return Err(p.unsupported("EXRULE (dropped by RFC 5545)")),
                "RDATE" | "EXDATE" => {
                    for v in p.value.split(',').filter(|v| !v.trim().is_empty()) {
                        let when = read_when(p, v, floating)?;
                        match p.name.as_str() {
                            "RDATE" => rdates.push(when),
                            _ => exdates.push(Moment::of(when)),
                        }
                    }
                }
                "ATTENDEE" => attendees.extend(names(p)),
                "ORGANIZER" => organizer.extend(names(p)),
                _ => {}
            }
        }
        let recurrence_id = match once("RECURRENCE-ID")? {
            None => None,
            Some(p)
                if p.param("RANGE")
                    .is_some_and(|r| r.eq_ignore_ascii_case("THISANDFUTURE")) =>
            {
                return Err(p.unsupported("RECURRENCE-ID with RANGE=THISANDFUTURE"))
            }
            Some(p) if rule.is_some() => {
                return Err(p.unsupported("an RRULE on an event that overrides one occurrence"))
            }
            Some(p) => Some(Moment::of(read_when(p, &p.value, floating)?)),
        };
        let text = |name: &str| -> Result<Option<String>, IcalError> {
            Ok(once(name)?
                .map(|p| unescape_text(&p.value).trim().to_string())
                .filter(|t| !t.is_empty()))
        };
        let mut who: Vec<String> = Vec::new();
        let candidates = text("SUMMARY")?
            .into_iter()
            .chain(attendees)
            .chain(organizer)
            .chain(text("DESCRIPTION")?);
        for name in candidates {
            if !who.contains(&name) {
                who.push(name);
            }
        }
        Ok(Event {
            line,
            uid: once("UID")?.map(|p| p.value.trim().to_string()),
            start,
            length,
            rule,
            rdates,
            exdates,
            recurrence_id,
            cancelled: once("STATUS")?
                .is_some_and(|p| p.value.trim().eq_ignore_ascii_case("CANCELLED")),
            who,
        })
    }

    /// The event's occurrences up to `to` (RRULE, then RDATE), in order, before EXDATE and
    /// overrides take some away.
    fn occurrences(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        work: &mut Work,
    ) -> Result<Vec<When>, IcalError> {
        let mut locals = match &self.rule {
            None => vec![self.start.local],
            Some(rule) => rule.expand(&self.start, &self.length, from, to, work)?,
        };
        locals.extend(self.rdates.iter().map(|r| r.local_on(self.start.zone)));
        locals.sort();
        locals.dedup();
        Ok(locals
            .into_iter()
            .map(|local| When {
                local,
                ..self.start
            })
            .collect())
    }
}

/// An ATTENDEE's or ORGANIZER's names: the CN, then the mailto address.
fn names(p: &Prop) -> Vec<String> {
    let cn = p.param("CN").map(str::trim).filter(|c| !c.is_empty());
    let value = p.value.trim();
    let address = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
        .map(|_| value[7..].trim())
        .filter(|a| !a.is_empty());
    cn.into_iter().chain(address).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const GOOGLE: &str = include_str!("../../../tests/fixtures/ical/google-oncall.ics");

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    /// A calendar around `events` (written with `\n`): its first event begins on line 3.
    fn calendar(events: &str) -> String {
        format!("BEGIN:VCALENDAR\nVERSION:2.0\n{events}END:VCALENDAR\n").replace('\n', "\r\n")
    }

    fn event(lines: &str) -> String {
        calendar(&format!("BEGIN:VEVENT\n{lines}END:VEVENT\n"))
    }

    /// `(start, end, first candidate)` in UTC, compact.
    fn plain(shifts: &[ImportedShift]) -> Vec<(String, String, String)> {
        shifts
            .iter()
            .map(|s| {
                (
                    s.start.format("%m-%d %H:%M").to_string(),
                    s.end.format("%m-%d %H:%M").to_string(),
                    s.who.first().cloned().unwrap_or_default(),
                )
            })
            .collect()
    }

    fn row(a: &str, b: &str, who: &str) -> (String, String, String) {
        (a.into(), b.into(), who.into())
    }

    fn starts(text: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
        parse_shifts(text, from, to)
            .unwrap()
            .iter()
            .map(|s| s.start.format("%Y-%m-%d %H:%M").to_string())
            .collect()
    }

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

    #[test]
    fn a_google_export_reads_as_its_shifts() {
        let shifts = parse_shifts(GOOGLE, utc(2026, 10, 1, 0, 0), utc(2027, 1, 1, 0, 0)).unwrap();
        let riley = "On call: Park, Riley";
        let greta = "On call: Greta Hammer";
        assert_eq!(
            plain(&shifts),
            vec![
                row("10-12 07:00", "10-19 07:00", riley),
                // The clocks go back on 10-25: the hand-off stays at 09:00 Berlin.
                row("10-19 07:00", "10-26 08:00", greta),
                row("10-26 08:00", "11-02 08:00", riley),
                row("11-02 08:00", "11-09 08:00", greta),
                row("11-09 08:00", "11-16 08:00", riley),
                // Greta's week is an EXDATE; Sam's cover was cancelled, Kai's stands.
                row(
                    "11-16 08:00",
                    "11-23 08:00",
                    "On call: Kai House (covering Greta)"
                ),
                row("11-23 08:00", "11-30 08:00", riley),
                row("11-30 08:00", "12-07 08:00", greta),
                // Riley's occurrence overridden by RECURRENCE-ID: three days, not seven.
                row(
                    "12-07 08:00",
                    "12-10 08:00",
                    "On call: Park, Riley (until Thursday)"
                ),
                row("12-10 08:00", "12-14 08:00", "On call: Kai House"),
                row("12-14 08:00", "12-21 08:00", greta),
                // The sixth and last of Riley's COUNT=6.
                row("12-21 08:00", "12-28 08:00", riley),
                // All day on 12-24 in the calendar's X-WR-TIMEZONE.
                row("12-23 23:00", "12-24 23:00", "Holiday cover: Kai House"),
                // Reaches past the window, and is returned whole.
                row("12-28 08:00", "01-04 08:00", greta),
            ]
        );
        // Folded lines, a quoted CN with a comma, the VALARM's DESCRIPTION left out.
        assert_eq!(
            shifts[0].who,
            vec![
                riley.to_string(),
                "Park, Riley".into(),
                "rpark@example.com".into(),
                "SRE primary on-call".into(),
                "c_8f3e2a1b9d7c4e5f0a6b@group.calendar.google.com".into(),
                "Primary on-call. Page first, then call: +49 30 1234 5678. Runbooks: \
                 https://wiki.example.com/sre/oncall/primary"
                    .into(),
            ]
        );
        assert!(shifts[8].who.contains(
            &"Riley hands over to Kai on Thursday, conference Thu–Fri (Grüße aus Köln).".into()
        ));
    }

    #[test]
    fn a_window_takes_what_overlaps_it_and_expansion_stops_at_its_end() {
        let shifts =
            parse_shifts(GOOGLE, utc(2026, 11, 10, 0, 0), utc(2026, 11, 20, 0, 0)).unwrap();
        assert_eq!(
            plain(&shifts),
            vec![
                row("11-09 08:00", "11-16 08:00", "On call: Park, Riley"),
                row(
                    "11-16 08:00",
                    "11-23 08:00",
                    "On call: Kai House (covering Greta)"
                ),
            ]
        );
        assert_eq!(
            parse_shifts(GOOGLE, utc(2027, 3, 1, 0, 0), utc(2027, 3, 2, 0, 0)),
            Ok(vec![])
        );
        // An endless daily rule from long ago, asked about one week: no runaway, no error.
        let daily = event("DTSTART:19900101T090000Z\nDURATION:PT8H\nRRULE:FREQ=DAILY\nSUMMARY:x\n");
        let week = parse_shifts(&daily, utc(2026, 10, 19, 0, 0), utc(2026, 10, 26, 0, 0)).unwrap();
        assert_eq!(week.len(), 7);
        assert_eq!(week[0].start, utc(2026, 10, 19, 9, 0));
        assert_eq!(week[0].end, utc(2026, 10, 19, 17, 0));
    }

    #[test]
    fn weekly_shifts_keep_nine_local_across_both_changes_of_the_clocks() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let shifts = parse_shifts(GOOGLE, utc(2026, 10, 1, 0, 0), utc(2026, 11, 1, 0, 0)).unwrap();
        for s in &shifts {
            assert_eq!(
                s.start
                    .with_timezone(&berlin)
                    .format("%a %H:%M")
                    .to_string(),
                "Mon 09:00"
            );
            assert_eq!(
                s.end.with_timezone(&berlin).format("%a %H:%M").to_string(),
                "Mon 09:00"
            );
        }
        // Spring: clocks go forward on Sunday 2027-03-28.
        let spring = event(
            "DTSTART;TZID=Europe/Berlin:20270322T090000\nDTEND;TZID=Europe/Berlin:20270329T090000\n\
             RRULE:FREQ=WEEKLY;COUNT=2\nSUMMARY:s\n",
        );
        let shifts = parse_shifts(&spring, utc(2027, 1, 1, 0, 0), utc(2028, 1, 1, 0, 0)).unwrap();
        assert_eq!(
            plain(&shifts),
            vec![
                row("03-22 08:00", "03-29 07:00", "s"),
                row("03-29 07:00", "04-05 07:00", "s")
            ]
        );
    }

    #[test]
    fn floating_times_all_day_dates_and_durations() {
        let (from, to) = (utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0));
        // No X-WR-TIMEZONE: floating and all-day times are UTC, whatever the machine's zone.
        let floating = event("DTSTART:20261019T090000\nDURATION:P1DT12H\nSUMMARY:f\n");
        assert_eq!(
            plain(&parse_shifts(&floating, from, to).unwrap()),
            vec![row("10-19 09:00", "10-20 21:00", "f")]
        );
        let in_tokyo = floating.replace("VERSION:2.0", "VERSION:2.0\r\nX-WR-TIMEZONE:Asia/Tokyo");
        assert_eq!(
            plain(&parse_shifts(&in_tokyo, from, to).unwrap()),
            vec![row("10-19 00:00", "10-20 12:00", "f")]
        );
        // An all-day event without DTEND lasts its day; one with no time and no end is a
        // moment, which puts nobody on call.
        let all_day = event("DTSTART;VALUE=DATE:20261224\nSUMMARY:d\n");
        assert_eq!(
            plain(&parse_shifts(&all_day, from, to).unwrap()),
            vec![row("12-24 00:00", "12-25 00:00", "d")]
        );
        let moment = event("DTSTART:20261224T100000Z\nSUMMARY:m\n");
        assert_eq!(parse_shifts(&moment, from, to), Ok(vec![]));
        // A mozilla-style prefixed TZID and a DTEND in another zone (an exact length).
        let prefixed = event(
            "DTSTART;TZID=/mozilla.org/20050126_1/Europe/Berlin:20261019T090000\n\
             DTEND:20261019T170000Z\nSUMMARY:p\n",
        );
        assert_eq!(
            plain(&parse_shifts(&prefixed, from, to).unwrap()),
            vec![row("10-19 07:00", "10-19 17:00", "p")]
        );
    }

    #[test]
    fn daily_and_monthly_rules_rdate_and_exdate() {
        let (from, to) = (utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0));
        let weekdays = event(
            "DTSTART:20261015T090000Z\nDURATION:PT8H\nRRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=4\n\
             EXDATE:20261019T090000Z\nRDATE:20261024T100000Z\n",
        );
        assert_eq!(
            starts(&weekdays, from, to),
            // Thu, Fri, (Mon excluded), Tue, and the extra Saturday.
            [
                "2026-10-15 09:00",
                "2026-10-16 09:00",
                "2026-10-20 09:00",
                "2026-10-24 10:00"
            ]
        );
        let last_day = event(
            "DTSTART:20260131T090000Z\nDURATION:PT1H\nRRULE:FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=3\n",
        );
        assert_eq!(
            starts(&last_day, from, to),
            ["2026-01-31 09:00", "2026-02-28 09:00", "2026-03-31 09:00"]
        );
        // The 31st of each month skips the months without one.
        let the_31st =
            event("DTSTART:20260131T090000Z\nDURATION:PT1H\nRRULE:FREQ=MONTHLY;UNTIL=20260601\n");
        assert_eq!(
            starts(&the_31st, from, to),
            ["2026-01-31 09:00", "2026-03-31 09:00", "2026-05-31 09:00"]
        );
        let first_monday = event(
            "DTSTART;TZID=Europe/Berlin:20261005T090000\nDURATION:PT2H\n\
             RRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=1MO,-1FR;COUNT=5\n",
        );
        assert_eq!(
            starts(&first_monday, from, to),
            [
                "2026-10-05 07:00",
                "2026-10-30 08:00",
                "2026-12-07 08:00",
                "2026-12-25 08:00"
            ]
        );
        // Every other week on Monday and Thursday, weeks starting on Sunday.
        let fortnightly = event(
            "DTSTART:20261018T090000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;WKST=SU;COUNT=5\n",
        );
        assert_eq!(
            starts(&fortnightly, from, to),
            [
                "2026-10-18 09:00",
                "2026-10-19 09:00",
                "2026-10-22 09:00",
                "2026-11-02 09:00",
                "2026-11-05 09:00"
            ]
        );
    }

    #[test]
    fn a_cancelled_override_removes_its_occurrence() {
        let text = calendar(
            "BEGIN:VEVENT\nUID:a\nDTSTART:20261005T090000Z\nDURATION:P1D\nRRULE:FREQ=WEEKLY;COUNT=3\nEND:VEVENT\n\
             BEGIN:VEVENT\nUID:a\nRECURRENCE-ID:20261012T090000Z\nDTSTART:20261012T090000Z\n\
             DURATION:P1D\nSTATUS:CANCELLED\nEND:VEVENT\n",
        );
        assert_eq!(
            starts(&text, utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0)),
            ["2026-10-05 09:00", "2026-10-19 09:00"]
        );
    }

    fn error(text: &str) -> IcalError {
        parse_shifts(text, utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0)).unwrap_err()
    }

    fn unsupported(line: usize, what: &str) -> IcalError {
        IcalError::Unsupported {
            line,
            what: what.into(),
        }
    }

    #[test]
    fn unsupported_rules_are_refused_with_their_line() {
        let rule = |r: &str| {
            error(&event(&format!(
                "DTSTART:20261005T090000Z\nDURATION:PT1H\nRRULE:{r}\n"
            )))
        };
        assert_eq!(
            rule("FREQ=YEARLY;BYMONTH=3"),
            unsupported(6, "RRULE FREQ=YEARLY (only DAILY, WEEKLY and MONTHLY)")
        );
        assert_eq!(
            rule("FREQ=SECONDLY"),
            unsupported(6, "RRULE FREQ=SECONDLY (only DAILY, WEEKLY and MONTHLY)")
        );
        let bysetpos = rule("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1");
        assert!(
            matches!(&bysetpos, IcalError::Unsupported { line: 6, what } if what.starts_with("RRULE part BYSETPOS")),
            "{bysetpos}"
        );
        assert_eq!(
            bysetpos.to_string(),
            "line 6: RRULE part BYSETPOS (warroom reads FREQ, INTERVAL, COUNT, UNTIL, BYDAY, \
             BYMONTHDAY and WKST) is not supported"
        );
        assert_eq!(
            rule("FREQ=MONTHLY;BYDAY=MO;BYMONTHDAY=1"),
            unsupported(6, "RRULE with both BYDAY and BYMONTHDAY")
        );
        let never = event("DTSTART:20000210T090000Z\nDURATION:PT1H\nRRULE:FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=30\n");
        assert_eq!(
            parse_shifts(&never, utc(2000, 1, 1, 0, 0), utc(3200, 1, 1, 0, 0)),
            Err(unsupported(
                6,
                "an RRULE that matches no date in 1000 periods in a row"
            ))
        );
        let two = event("DTSTART:20261005T090000Z\nRRULE:FREQ=DAILY\nRRULE:FREQ=WEEKLY\n");
        assert_eq!(error(&two), unsupported(6, "a second RRULE in one event"));
        let future = calendar(
            "BEGIN:VEVENT\nUID:a\nRECURRENCE-ID;RANGE=THISANDFUTURE:20261012T090000Z\n\
             DTSTART:20261012T100000Z\nEND:VEVENT\n",
        );
        assert_eq!(
            error(&future),
            unsupported(5, "RECURRENCE-ID with RANGE=THISANDFUTURE")
        );
        let windows_zone = event("DTSTART;TZID=W. Europe Standard Time:20261005T090000\n");
        assert_eq!(
            error(&windows_zone),
            unsupported(
                4,
                "time zone 'W. Europe Standard Time' (only IANA names such as Europe/Berlin)"
            )
        );
        let period = event("DTSTART:20261005T090000Z\nRDATE;VALUE=PERIOD:20261006T090000Z/PT1H\n");
        assert_eq!(error(&period), unsupported(5, "RDATE of VALUE=PERIOD"));
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

    #[test]
    fn more_than_the_occurrence_limit_is_refused() {
        let daily = event("DTSTART:17000101T000000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY\n");
        assert_eq!(
            parse_shifts(&daily, utc(1700, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0)),
            Err(IcalError::TooManyOccurrences {
                line: 6,
                limit: MAX_OCCURRENCES
            })
        );
        // COUNT counts from DTSTART, so a counted rule is expanded from its start.
        let counted =
            event("DTSTART:17000101T000000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=200000\n");
        assert!(matches!(
            parse_shifts(&counted, utc(2026, 1, 1, 0, 0), utc(2026, 1, 2, 0, 0)),
            Err(IcalError::TooManyOccurrences { .. })
        ));
    }
}
