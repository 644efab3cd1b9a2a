//! Who is on call, against hand-computed calendars: daylight saving in Berlin, follow-the-sun
//! across three zones, monthly turns, `none` slots, held rotations, overrides, covers and
//! roster changes that leave the past alone.

use super::*;
use crate::domain::testkit::directory;
use chrono::TimeZone;

pub(super) fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

pub(super) fn layer(people: &[&str], turn: &str, anchor: &str) -> LayerSpec {
    LayerSpec {
        name: None,
        people: people.iter().map(|p| p.to_string()).collect(),
        turn: turn.into(),
        anchor: anchor.into(),
        handoff: None,
        timezone: None,
        restrict: vec![],
        masked_turns: None,
        ..LayerSpec::default()
    }
}

fn window(days: &str, from: &str, to: &str) -> WindowSpec {
    WindowSpec {
        days: vec![days.into()],
        from: Some(from.into()),
        to: Some(to.into()),
    }
}

fn schedule(zone: &str, layers: Vec<LayerSpec>) -> Schedule {
    let spec = ScheduleSpec {
        name: "sre".into(),
        timezone: Some(zone.into()),
        shifts: false,
        layers,
    };
    Schedule::check(&spec, chrono_tz::UTC, &directory(), "schedules[0]").unwrap()
}

pub(super) fn roster(s: Schedule) -> Roster {
    Roster {
        versions: vec![Version {
            effective_from: utc(2020, 1, 1, 0, 0),
            schedule: Some(s),
        }],
        overrides: vec![],
    }
}

/// The spans as `(start, end, person)` with `-` for nobody, for compact comparison.
pub(super) fn plain(spans: &[Span]) -> Vec<(String, String, String)> {
    spans
        .iter()
        .map(|s| {
            (
                s.start.format("%m-%d %H:%M").to_string(),
                s.end.format("%m-%d %H:%M").to_string(),
                s.person.clone().unwrap_or_else(|| "-".into()),
            )
        })
        .collect()
}

pub(super) fn row(a: &str, b: &str, who: &str) -> (String, String, String) {
    (a.into(), b.into(), who.into())
}

#[test]
fn a_weekly_berlin_rotation_hands_off_at_nine_local_on_both_sides_of_each_change() {
    let s = schedule(
        "Europe/Berlin",
        vec![layer(
            &["@rpark", "@ghammer", "@khouse"],
            "1w",
            "2026-10-19T09:00",
        )],
    );
    let r = roster(s);
    // Clocks go back on Sunday 2026-10-25: 09:00 is 07:00 UTC before, 08:00 UTC after.
    let autumn = r.resolve(utc(2026, 10, 19, 0, 0), utc(2026, 11, 3, 0, 0));
    assert_eq!(
        plain(&autumn),
        vec![
            row("10-19 00:00", "10-19 07:00", "-"),
            row("10-19 07:00", "10-26 08:00", "rpark"),
            row("10-26 08:00", "11-02 08:00", "ghammer"),
            row("11-02 08:00", "11-03 00:00", "khouse"),
        ]
    );
    // Clocks go forward on Sunday 2027-03-28: 08:00 UTC before, 07:00 UTC after.
    let spring = r.resolve(utc(2027, 3, 21, 0, 0), utc(2027, 4, 6, 0, 0));
    let turns = 22; // weeks from the anchor to 2027-03-22
    let who = |k: usize| ["rpark", "ghammer", "khouse"][k % 3];
    assert_eq!(
        plain(&spring),
        vec![
            row("03-21 00:00", "03-22 08:00", who(turns - 1)),
            row("03-22 08:00", "03-29 07:00", who(turns)),
            row("03-29 07:00", "04-05 07:00", who(turns + 1)),
            row("04-05 07:00", "04-06 00:00", who(turns + 2)),
        ]
    );
    assert_eq!(
        r.on_call_at(utc(2026, 10, 26, 7, 59)).as_deref(),
        Some("rpark"),
        "in winter time the hand-off is at 08:00 UTC"
    );
}

#[test]
fn follow_the_sun_across_three_zones_leaves_the_gaps_between_regions() {
    let mut apac = layer(&["@khouse"], "1w", "2026-11-30T09:00");
    apac.timezone = Some("Asia/Tokyo".into());
    apac.restrict = vec![window("mon-fri", "09:00", "17:00")];
    let mut emea = layer(&["@ghammer"], "1w", "2026-11-30T09:00");
    emea.timezone = Some("Europe/London".into());
    emea.restrict = vec![window("mon-fri", "09:00", "17:00")];
    let mut amer = layer(&["@svega"], "1w", "2026-11-30T09:00");
    amer.timezone = Some("America/New_York".into());
    amer.restrict = vec![window("mon-fri", "09:00", "17:00")];
    let r = roster(schedule("UTC", vec![apac, emea, amer]));
    // Wednesday 2026-12-02 in UTC: Tokyo 00–08, London 09–17, New York 14–22 (above London).
    let day = r.resolve(utc(2026, 12, 2, 0, 0), utc(2026, 12, 3, 0, 0));
    assert_eq!(
        plain(&day),
        vec![
            row("12-02 00:00", "12-02 08:00", "khouse"),
            row("12-02 08:00", "12-02 09:00", "-"),
            row("12-02 09:00", "12-02 14:00", "ghammer"),
            row("12-02 14:00", "12-02 22:00", "svega"),
            row("12-02 22:00", "12-03 00:00", "-"),
        ]
    );
    assert_eq!(gaps(&day).count(), 2);
    // In June, London and New York are on summer time: London 08–16, New York 13–21.
    let june = r.resolve(utc(2027, 6, 2, 0, 0), utc(2027, 6, 3, 0, 0));
    assert_eq!(
        plain(&june)[1..3],
        [
            row("06-02 08:00", "06-02 13:00", "ghammer"),
            row("06-02 13:00", "06-02 21:00", "svega"),
        ]
    );
}

#[test]
fn monthly_turns_and_a_none_slot_falling_through_to_the_layer_below() {
    let base = layer(&["@khouse"], "1w", "2026-01-05T09:00");
    let monthly = layer(
        &["@rpark", "none", "@ghammer"],
        "1month",
        "2026-01-01T09:00",
    );
    let r = roster(schedule("UTC", vec![base, monthly]));
    assert_eq!(
        r.on_call_at(utc(2026, 1, 15, 12, 0)).as_deref(),
        Some("rpark")
    );
    // February is the none slot: the base layer's person is on call.
    assert_eq!(
        r.on_call_at(utc(2026, 2, 15, 12, 0)).as_deref(),
        Some("khouse")
    );
    assert_eq!(
        r.on_call_at(utc(2026, 3, 1, 8, 59)).as_deref(),
        Some("khouse")
    );
    assert_eq!(
        r.on_call_at(utc(2026, 3, 1, 9, 0)).as_deref(),
        Some("ghammer")
    );
    assert_eq!(
        r.on_call_at(utc(2026, 4, 1, 9, 0)).as_deref(),
        Some("rpark")
    );
    // Alone, the none slot is a gap.
    let alone = roster(schedule(
        "UTC",
        vec![layer(&["@rpark", "none"], "1d", "2026-01-01T00:00")],
    ));
    let two_days = alone.resolve(utc(2026, 1, 1, 0, 0), utc(2026, 1, 3, 0, 0));
    assert_eq!(
        plain(&two_days),
        vec![
            row("01-01 00:00", "01-02 00:00", "rpark"),
            row("01-02 00:00", "01-03 00:00", "-"),
        ]
    );
    // Before the anchor nobody is on call.
    assert_eq!(alone.on_call_at(utc(2025, 12, 31, 23, 0)), None);
}

#[test]
fn a_held_weekday_rotation_skips_nobody_and_an_advancing_one_loses_weekend_turns() {
    let mut daily = layer(&["@rpark", "@ghammer", "@khouse"], "1d", "2026-11-30");
    daily.handoff = Some("00:00".into());
    daily.restrict = vec![window("mon-fri", "00:00", "24:00")];
    let advancing = roster(schedule("UTC", vec![daily.clone()]));
    daily.masked_turns = Some("hold".into());
    let held = roster(schedule("UTC", vec![daily]));
    let noon = |d: u32| utc(2026, 12, d, 12, 0);
    // Mon 30 Nov … Fri 4 Dec, then Mon 7 Dec. The Saturday and Sunday turns (5, 6 Dec)
    // are wholly outside the window and, held, use up nobody's turn.
    let week = |r: &Roster| {
        [
            utc(2026, 11, 30, 12, 0),
            noon(1),
            noon(2),
            noon(3),
            noon(4),
            noon(7),
            noon(8),
        ]
        .map(|t| r.on_call_at(t).unwrap_or_else(|| "-".into()))
    };
    assert_eq!(
        week(&held),
        ["rpark", "ghammer", "khouse", "rpark", "ghammer", "khouse", "rpark"]
    );
    // Advancing, the weekend's two turns went to khouse and rpark unseen: Monday is ghammer.
    assert_eq!(
        week(&advancing),
        ["rpark", "ghammer", "khouse", "rpark", "ghammer", "ghammer", "khouse"]
    );
    // Saturday is outside the window: nobody.
    assert_eq!(held.on_call_at(utc(2026, 12, 5, 3, 0)), None);
}

#[test]
fn overrides_replace_whoever_is_on_and_covers_only_the_person_they_name() {
    let mut r = roster(schedule(
        "UTC",
        vec![layer(&["@rpark", "@ghammer"], "1d", "2026-12-01T09:00")],
    ));
    r.overrides.push(Override {
        person: "svega".into(),
        from: utc(2026, 12, 1, 18, 0),
        to: utc(2026, 12, 2, 12, 0),
        replaces: None,
        by: "rpark".into(),
        reference: "0a1b2c3d".into(),
    });
    // A cover for khouse changes nothing: khouse is not on call.
    r.overrides.push(Override {
        person: "rpark".into(),
        from: utc(2026, 12, 1, 0, 0),
        to: utc(2026, 12, 4, 0, 0),
        replaces: Some("khouse".into()),
        by: "khouse".into(),
        reference: "11111111".into(),
    });
    // ghammer asks khouse to cover the afternoon of the 2nd.
    r.overrides.push(Override {
        person: "khouse".into(),
        from: utc(2026, 12, 2, 13, 0),
        to: utc(2026, 12, 2, 17, 0),
        replaces: Some("ghammer".into()),
        by: "ghammer".into(),
        reference: "22222222".into(),
    });
    let spans = r.resolve(utc(2026, 12, 1, 9, 0), utc(2026, 12, 3, 9, 0));
    assert_eq!(
        plain(&spans),
        vec![
            row("12-01 09:00", "12-01 18:00", "rpark"),
            row("12-01 18:00", "12-02 12:00", "svega"),
            row("12-02 12:00", "12-02 13:00", "ghammer"),
            row("12-02 13:00", "12-02 17:00", "khouse"),
            row("12-02 17:00", "12-03 09:00", "ghammer"),
        ]
    );
    assert_eq!(
        spans[1].source,
        Source::Override {
            by: "rpark".into(),
            reference: "0a1b2c3d".into()
        }
    );
    assert_eq!(
        span_at(&spans, utc(2026, 12, 2, 13, 30))
            .unwrap()
            .person
            .as_deref(),
        Some("khouse")
    );
}

#[test]
fn a_roster_change_holds_from_its_effective_time_and_the_past_stays_as_it_was() {
    let before = schedule(
        "UTC",
        vec![layer(&["@rpark", "@ghammer"], "1w", "2026-11-30T09:00")],
    );
    let after = schedule(
        "UTC",
        vec![layer(
            &["@rpark", "@ghammer", "@khouse"],
            "1w",
            "2026-11-30T09:00",
        )],
    );
    let mut r = roster(before);
    let past = r.resolve(utc(2026, 11, 30, 9, 0), utc(2026, 12, 21, 9, 0));
    r.add_version(Version {
        effective_from: utc(2026, 12, 14, 9, 0),
        schedule: Some(after),
    });
    let now = r.resolve(utc(2026, 11, 30, 9, 0), utc(2026, 12, 21, 9, 0));
    assert_eq!(
        plain(&now)[..2],
        plain(&past)[..2],
        "the first two weeks did not change"
    );
    assert_eq!(
        r.on_call_at(utc(2026, 12, 15, 0, 0)).as_deref(),
        Some("khouse")
    );
    r.add_version(Version {
        effective_from: utc(2026, 12, 28, 9, 0),
        schedule: None,
    });
    assert_eq!(
        r.on_call_at(utc(2026, 12, 29, 0, 0)),
        None,
        "removed: nobody"
    );
    assert!(r.version_at(utc(2026, 12, 20, 0, 0)).is_some());
}

#[test]
fn mistakes_are_all_reported_with_their_key() {
    let spec = ScheduleSpec {
        name: "bad name".into(),
        timezone: Some("Mars/Base".into()),
        shifts: false,
        layers: vec![LayerSpec {
            restrict: vec![window("someday", "9", "17:00")],
            masked_turns: Some("sometimes".into()),
            handoff: Some("10:00".into()),
            ..layer(&["@nobody"], "1fortnight", "2026-12-01T09:00")
        }],
    };
    let problems = Schedule::check(&spec, chrono_tz::UTC, &directory(), "schedules[0]")
        .unwrap_err()
        .join("\n");
    for expected in [
        "schedules[0].name: 'bad name' must be letters",
        "schedules[0].timezone: 'Mars/Base' is not an IANA time zone",
        "schedules[0].layers[0].people: '@nobody' is not in [[contacts]]",
        "schedules[0].layers[0].turn: '1fortnight' is not a turn length",
        "schedules[0].layers[0].anchor: '2026-12-01T09:00' has a time and handoff gives another",
        "schedules[0].layers[0].restrict[0]: 'someday' is not a day",
        "schedules[0].layers[0].masked_turns = 'sometimes': use advance or hold",
    ] {
        assert!(
            problems.contains(expected),
            "missing «{expected}» in:\n{problems}"
        );
    }
    let date_anchor = read_anchor("2026-12-01", None).unwrap();
    assert_eq!(
        date_anchor.to_string(),
        "2026-12-01 09:00:00",
        "hand-off defaults to 09:00"
    );
}

#[test]
fn held_turns_counted_per_weekly_period_match_counting_each_turn() {
    for (turn, restrict) in [
        ("1d", window("mon-fri", "00:00", "24:00")),
        ("5h", window("sat-sun", "10:00", "12:00")),
        ("3d", window("wed", "22:00", "02:00")),
    ] {
        let mut l = layer(&["@rpark", "@ghammer", "@khouse"], turn, "2024-02-29T09:00");
        l.restrict = vec![restrict];
        l.masked_turns = Some("hold".into());
        let s = schedule("Europe/Berlin", vec![l]);
        let layer = s.layers[0].rotation().unwrap();
        for first in [0, 1, 7, 168, 1000, 1729] {
            let each = (0..first).filter(|&k| layer.turn_is_active(k)).count() as i64;
            assert_eq!(
                layer.active_turns_before(first),
                each,
                "{turn} before {first}"
            );
        }
    }
}
