//! A calendar's VEVENTs read, and their occurrences put together: each series' RRULE and
//! RDATE, less its EXDATEs and the occurrences that events of their own override or cancel.

use super::lines::{read_components, unescape_text, Prop};
use super::recur::Work;
use super::rrule::{read_rule, Rule};
use super::times::{read_duration, read_when, Floating, Length, Moment, When};
use super::IcalError;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashMap;

/// One occurrence of an event: a shift, and who may be meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedShift {
    /// The line of the event's `BEGIN:VEVENT`, for messages.
    pub line: usize,
    pub start: DateTime<Utc>,
    /// Not clipped at the window: the occurrence's own end.
    pub end: DateTime<Utc>,
    /// Candidate names, most telling first: the SUMMARY, each ATTENDEE's CN and mailto
    /// address, the ORGANIZER's, the DESCRIPTION; empty when the event names nobody, so the
    /// caller can say so.
    pub who: Vec<String>,
}

/// A calendar read once, to be asked about any window: its events and which occurrences
/// of each series other events replace.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    events: Vec<Event>,
    /// Occurrences of a series replaced (or cancelled) by an event of their own, by UID.
    replaced: HashMap<String, Vec<Moment>>,
}

impl Calendar {
    /// Reads a calendar's text; every line that would change when a shift happens and
    /// cannot be read is an error naming the line.
    pub fn parse(text: &str) -> Result<Calendar, IcalError> {
        let (calendar, raw) = read_components(text)?;
        let floating = Floating::of(&calendar);
        let events = raw
            .iter()
            .map(|(line, props)| Event::read(*line, props, &floating))
            .collect::<Result<Vec<_>, _>>()?;
        let mut replaced: HashMap<String, Vec<Moment>> = HashMap::new();
        for e in &events {
            if let (Some(uid), Some(id)) = (&e.uid, e.recurrence_id) {
                replaced.entry(uid.clone()).or_default().push(id);
            }
        }
        Ok(Calendar { events, replaced })
    }

    /// The candidate names of each event that is not cancelled, as [`ImportedShift::who`]
    /// gives them, for matching them to people once rather than per occurrence.
    pub fn names(&self) -> impl Iterator<Item = &[String]> {
        self.events
            .iter()
            .filter(|e| !e.cancelled)
            .map(|e| e.who.as_slice())
    }

    /// Every occurrence of the calendar's events that overlaps `[from, to)`, by start.
    ///
    /// A floating time (no `Z`, no `TZID`) and an all-day date are read on the calendar's
    /// `X-WR-TIMEZONE` (Google writes it), else on UTC: never on the machine's zone.
    /// Recurrences keep their local wall-clock time in their zone across daylight saving,
    /// and so does their end when `DTEND` is in the same zone as `DTSTART` (RFC 5545 would
    /// keep the exact length instead; for back-to-back weekly shifts that makes a one-hour
    /// overlap at every change of the clocks). An event that lasts no time names nobody on
    /// call and is left out.
    pub fn shifts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ImportedShift>, IcalError> {
        let mut work = Work::default();
        let mut shifts = Vec::new();
        for e in self.events.iter().filter(|e| !e.cancelled) {
            let overridden = match (&e.uid, e.recurrence_id) {
                (Some(uid), None) => self
                    .replaced
                    .get(uid.as_str())
                    .map_or(&[][..], Vec::as_slice),
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
                        line: e.line,
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
}

/// Every occurrence of the calendar's events that overlaps `[from, to)`, by start: the
/// calendar read and asked once (see [`Calendar::shifts`]).
pub fn parse_shifts(
    text: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ImportedShift>, IcalError> {
    Calendar::parse(text)?.shifts(from, to)
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
pub(super) fn names(p: &Prop) -> Vec<String> {
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
    use super::super::fixture::{calendar, event, plain, row, starts, utc, GOOGLE};
    use super::*;

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
}
