//! `warroom bench --parts oncall`: who is on call for a 10-layer schedule at each minute of
//! a year (the target: 50 ms in total), and what one lone question costs.

use crate::domain::schedule::{
    span_at, LayerSpec, Override, Roster, Schedule, ScheduleSpec, Version, WindowSpec,
};
use chrono::{Duration, TimeZone, Utc};
use std::time::Instant;

/// Ten layers of every kind: weekly, daily, 12-hour, 8-hour and monthly turns, business
/// hours and nights in four zones (follow-the-sun), held and advancing masked turns, none
/// slots.
fn ten_layers() -> ScheduleSpec {
    let people = |n: usize| -> Vec<String> { (0..n).map(|i| format!("@p{i}")).collect() };
    let window = |days: &str, from: &str, to: &str| WindowSpec {
        days: vec![days.into()],
        from: Some(from.into()),
        to: Some(to.into()),
    };
    let layer =
        |turn: &str, zone: &str, restrict: Vec<WindowSpec>, hold: bool, n: usize| LayerSpec {
            name: None,
            people: {
                let mut p = people(n);
                p.push("none".into());
                p
            },
            turn: turn.into(),
            anchor: "2026-01-05T09:00".into(),
            handoff: None,
            timezone: Some(zone.into()),
            restrict,
            masked_turns: hold.then(|| "hold".into()),
            ..LayerSpec::default()
        };
    ScheduleSpec {
        name: "bench".into(),
        shifts: false,
        timezone: Some("Europe/Berlin".into()),
        layers: vec![
            layer("1w", "Europe/Berlin", vec![], false, 8),
            layer(
                "1d",
                "Europe/Berlin",
                vec![window("mon-fri", "00:00", "24:00")],
                true,
                6,
            ),
            layer("12h", "America/New_York", vec![], false, 5),
            layer(
                "8h",
                "Asia/Tokyo",
                vec![window("mon-fri", "09:00", "17:00")],
                false,
                4,
            ),
            layer(
                "1month",
                "UTC",
                vec![window("sat-sun", "00:00", "24:00")],
                false,
                3,
            ),
            layer(
                "1w",
                "Europe/London",
                vec![window("mon-fri", "09:00", "17:00")],
                false,
                4,
            ),
            layer(
                "1w",
                "America/Los_Angeles",
                vec![window("mon-fri", "09:00", "17:00")],
                false,
                4,
            ),
            layer(
                "1d",
                "Australia/Sydney",
                vec![window("mon-fri", "22:00", "06:00")],
                true,
                3,
            ),
            layer(
                "2w",
                "Europe/Berlin",
                vec![window("fri", "17:00", "24:00")],
                false,
                2,
            ),
            layer(
                "1d",
                "Asia/Kolkata",
                vec![window("mon-sun", "10:00", "14:00")],
                false,
                7,
            ),
        ],
    }
}

/// Prints the figures.
pub fn run() -> anyhow::Result<()> {
    let schedule = Schedule::from_recorded(&ten_layers())
        .map_err(|problems| anyhow::anyhow!("the bench schedule: {}", problems.join("; ")))?;
    let from = Utc
        .with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
        .single()
        .expect("a date");
    let to = from + Duration::days(365);
    let overrides = (0..200)
        .map(|i| Override {
            person: format!("p{}", i % 9),
            from: from + Duration::hours(i * 43),
            to: from + Duration::hours(i * 43 + 6),
            replaces: (i % 3 == 0).then(|| format!("p{}", i % 4)),
            by: "bench".into(),
            reference: format!("{i:08x}"),
        })
        .collect();
    let roster = Roster {
        versions: vec![Version {
            effective_from: from - Duration::days(400),
            schedule: Some(schedule),
        }],
        overrides,
    };
    let minutes = 365 * 24 * 60;
    let (mut best, mut best_resolve) = (f64::MAX, f64::MAX);
    let mut spans_count = 0;
    let mut on_call = 0usize;
    for _ in 0..5 {
        let started = Instant::now();
        let spans = roster.resolve(from, to);
        best_resolve = best_resolve.min(started.elapsed().as_secs_f64() * 1000.0);
        on_call = (0..minutes)
            .filter(|m| {
                span_at(&spans, from + Duration::minutes(*m)).is_some_and(|s| s.person.is_some())
            })
            .count();
        best = best.min(started.elapsed().as_secs_f64() * 1000.0);
        spans_count = spans.len();
    }
    println!(
        "  on call, 10-layer schedule with 200 overrides, every minute of a year: {best:.1} ms \
         (best of 5, of which resolving the year's {spans_count} shifts {best_resolve:.1} ms; \
         someone on call {:.1}% of minutes; target ≤ 50 ms)",
        on_call as f64 * 100.0 / minutes as f64
    );
    let lone = 2_000;
    let started = Instant::now();
    for m in 0..lone {
        std::hint::black_box(roster.on_call_at(from + Duration::minutes(m * 263)));
    }
    println!(
        "  one lone question (who is on call at T, as an escalation step asks): {:.1} µs",
        started.elapsed().as_secs_f64() * 1e6 / lone as f64
    );
    calendar_beneath(from, to, minutes)
}

/// The same ten layers above a calendar layer (two weekly series and 50 one-off covers), as
/// the ledger records it: the first year asked expands every week once, later asks reuse
/// them.
fn calendar_beneath(
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
    minutes: i64,
) -> anyhow::Result<()> {
    let mut text =
        String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX-WR-TIMEZONE:Europe/Berlin\r\n");
    let mut event = |uid: String, start: String, length: &str, rule: &str, who: &str| {
        text.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261201T000000Z\r\nDTSTART;TZID=Europe/Berlin:{start}\r\n\
             DURATION:{length}\r\n{rule}SUMMARY:On call: {who}\r\nEND:VEVENT\r\n"
        ));
    };
    event(
        "a".into(),
        "20260105T090000".into(),
        "P7D",
        "RRULE:FREQ=WEEKLY;INTERVAL=2\r\n",
        "p0",
    );
    event(
        "b".into(),
        "20260112T090000".into(),
        "P7D",
        "RRULE:FREQ=WEEKLY;INTERVAL=2\r\n",
        "p1",
    );
    for i in 0..50 {
        let day = (from + Duration::days(i * 7 + 3)).format("%Y%m%dT180000");
        event(format!("cover-{i}"), day.to_string(), "PT14H", "", "p2");
    }
    text.push_str("END:VCALENDAR\r\n");
    let mut spec = ten_layers();
    spec.layers.insert(
        0,
        LayerSpec {
            name: Some("calendar".into()),
            ical: Some("https://calendar.example/oncall.ics".into()),
            calendar: Some(text),
            calendar_people: (0..3)
                .map(|i| (format!("On call: p{i}"), format!("@p{i}")))
                .collect(),
            ..LayerSpec::default()
        },
    );
    let started = Instant::now();
    let schedule = Schedule::from_recorded(&spec)
        .map_err(|problems| anyhow::anyhow!("the bench calendar: {}", problems.join("; ")))?;
    let read = started.elapsed().as_secs_f64() * 1000.0;
    let roster = Roster {
        versions: vec![Version {
            effective_from: from - Duration::days(400),
            schedule: Some(schedule),
        }],
        overrides: vec![],
    };
    let mut times = Vec::new();
    let mut on_call = 0usize;
    for _ in 0..3 {
        let started = Instant::now();
        let spans = roster.resolve(from, to);
        on_call = (0..minutes)
            .filter(|m| {
                span_at(&spans, from + Duration::minutes(*m)).is_some_and(|s| s.person.is_some())
            })
            .count();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "  on call, the ten layers above a calendar layer (2 weekly series, 50 covers), every minute \
         of a year: first {:.1} ms (each week expanded once), then {:.1} ms; the calendar read in \
         {read:.1} ms; someone on call {:.1}% of minutes",
        times[0],
        times[1].min(times[2]),
        on_call as f64 * 100.0 / minutes as f64
    );
    Ok(())
}
