//! When in the week a layer is active: the tools' restrictions laid minute by minute on a
//! week, read back as warroom's day-and-time windows, and the weekday names the tools use.

use crate::domain::schedule::WindowSpec;
use std::collections::BTreeSet;

/// Minutes in a week, Monday 00:00 first.
pub(crate) const WEEK_MINUTES: u32 = 7 * 1440;

/// When in the week a layer is active, minute by minute on its zone's wall clock: the tools'
/// restrictions, which may span days, are laid on it, and it is read back as warroom's
/// day-and-time windows.
#[derive(Debug, Clone)]
pub(crate) struct WeekMask {
    on: Vec<bool>,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl WeekMask {
    pub fn new() -> WeekMask {
        WeekMask {
            on: vec![false; WEEK_MINUTES as usize],
        }
    }

    /// Marks `minutes` from `start` minutes after Monday 00:00, wrapping the week.
    pub fn add(&mut self, start: u32, minutes: u32) {
        for i in 0..minutes.min(WEEK_MINUTES) {
            self.on[((start + i) % WEEK_MINUTES) as usize] = true;
        }
    }

    /// Every minute of the week: a layer without restrictions.
    pub fn full() -> WeekMask {
        WeekMask {
            on: vec![true; WEEK_MINUTES as usize],
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.on.iter().any(|&m| m)
    }

    /// Whether both masks are active at some minute of the week.
    pub fn overlaps(&self, other: &WeekMask) -> bool {
        self.on.iter().zip(&other.on).any(|(a, b)| *a && *b)
    }

    /// warroom's windows for this mask; none when it covers the whole week.
    pub fn windows(&self) -> Vec<WindowSpec> {
        let Some(off) = self.on.iter().position(|&m| !m) else {
            return Vec::new();
        };
        // Each run of active minutes, as (day, from, to) pieces: a run of at most a day is
        // one window (crossing midnight when it must), a longer one is cut at midnights.
        let mut pieces: Vec<(usize, u32, u32)> = Vec::new();
        let mut i = 0;
        while i < WEEK_MINUTES {
            let at = |k: u32| self.on[((off as u32 + k) % WEEK_MINUTES) as usize];
            if !at(i) {
                i += 1;
                continue;
            }
            let start = i;
            while i < WEEK_MINUTES && at(i) {
                i += 1;
            }
            let begin = (off as u32 + start) % WEEK_MINUTES;
            split_run(begin, i - start, &mut pieces);
        }
        // Days that share their times become one window.
        let mut grouped: Vec<((u32, u32), BTreeSet<usize>)> = Vec::new();
        pieces.sort_by_key(|&(day, from, _)| (day, from));
        for (day, from, to) in pieces {
            match grouped.iter_mut().find(|(times, _)| *times == (from, to)) {
                Some((_, days)) => {
                    days.insert(day);
                }
                None => grouped.push(((from, to), BTreeSet::from([day]))),
            }
        }
        grouped
            .into_iter()
            .map(|((from, to), days)| WindowSpec {
                days: day_ranges(&days),
                from: Some(clock(from)),
                to: Some(clock(to)),
            })
            .collect()
    }
}

/// Cuts a run of `len` active minutes from minute-of-week `begin` into windows.
fn split_run(begin: u32, len: u32, pieces: &mut Vec<(usize, u32, u32)>) {
    let (mut day, mut t0, mut left) = ((begin / 1440) as usize, begin % 1440, len);
    while left > 0 {
        if t0 > 0 && left <= 1440 {
            // `to` at or before `from` runs into the next day, which warroom reads.
            let end = t0 + left;
            pieces.push((day % 7, t0, if end == 1440 { 1440 } else { end % 1440 }));
            return;
        }
        let today = (1440 - t0).min(left);
        pieces.push((day % 7, t0, t0 + today));
        left -= today;
        t0 = 0;
        day += 1;
    }
}

/// `HH:MM`, with `24:00` for the end of a day.
fn clock(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `mon-fri`, `sat`, …; nothing for every day.
fn day_ranges(days: &BTreeSet<usize>) -> Vec<String> {
    if days.len() == 7 {
        return Vec::new();
    }
    let mut ranges = Vec::new();
    let list: Vec<usize> = days.iter().copied().collect();
    let mut i = 0;
    while i < list.len() {
        let mut j = i;
        while j + 1 < list.len() && list[j + 1] == list[j] + 1 {
            j += 1;
        }
        ranges.push(if i == j {
            DAY_NAMES[list[i]].to_string()
        } else {
            format!("{}-{}", DAY_NAMES[list[i]], DAY_NAMES[list[j]])
        });
        i = j + 1;
    }
    ranges
}

/// Monday = 0 from a day name the tools use (`monday`, `MO`, ISO number as text is not).
pub(crate) fn weekday_index(name: &str) -> Option<u32> {
    let n = name.trim().to_ascii_lowercase();
    let i = match n.as_str() {
        "monday" | "mo" | "mon" => 0,
        "tuesday" | "tu" | "tue" => 1,
        "wednesday" | "we" | "wed" => 2,
        "thursday" | "th" | "thu" => 3,
        "friday" | "fr" | "fri" => 4,
        "saturday" | "sa" | "sat" => 5,
        "sunday" | "su" | "sun" => 6,
        _ => return None,
    };
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrictions_become_windows_warroom_reads_back_the_same() {
        let mut business = WeekMask::new();
        for day in 0..5 {
            business.add(day * 1440 + 9 * 60, 8 * 60);
        }
        assert_eq!(
            business.windows(),
            vec![WindowSpec {
                days: vec!["mon-fri".into()],
                from: Some("09:00".into()),
                to: Some("17:00".into()),
            }]
        );
        // A night every day is one window across midnight.
        let mut nights = WeekMask::new();
        for day in 0..7 {
            nights.add(day * 1440 + 22 * 60, 8 * 60);
        }
        assert_eq!(
            nights.windows(),
            vec![WindowSpec {
                days: vec![],
                from: Some("22:00".into()),
                to: Some("06:00".into()),
            }]
        );
        // Friday 18:00 to Monday 08:00 is cut at the midnights; the week wraps.
        let mut weekend = WeekMask::new();
        weekend.add(4 * 1440 + 18 * 60, 62 * 60);
        let w = weekend.windows();
        let text: Vec<String> = w
            .iter()
            .map(|w| format!("{:?} {:?}-{:?}", w.days, w.from, w.to))
            .collect();
        assert_eq!(
            text,
            vec![
                r#"["mon"] Some("00:00")-Some("08:00")"#,
                r#"["fri"] Some("18:00")-Some("24:00")"#,
                r#"["sat-sun"] Some("00:00")-Some("24:00")"#,
            ]
        );
        let mut all = WeekMask::new();
        all.add(3, WEEK_MINUTES);
        assert!(all.windows().is_empty());
        assert!(WeekMask::new().is_empty());
    }
}
