//! `[[schedules]]`: on-call schedules, each checked into a rotation warroom can resolve;
//! the names escalation steps target with `schedule:NAME`.

use crate::domain::contacts::Directory;
use crate::domain::schedule::{Schedule, ScheduleSpec};
use chrono_tz::Tz;
use std::collections::BTreeMap;

/// A schedule of the configuration: as written (what `warroom serve` records in the ledger)
/// and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfiguredSchedule {
    /// As `warroom serve` records it: zones written out, people by canonical handle.
    pub spec: ScheduleSpec,
    pub schedule: Schedule,
}

/// Each schedule by name; one with a mistake is left out after its problems.
pub(super) fn read_schedules(
    schedules: &[ScheduleSpec],
    zone: Tz,
    directory: &Directory,
    problems: &mut Vec<String>,
) -> BTreeMap<String, ConfiguredSchedule> {
    let mut read = BTreeMap::new();
    let driving: Vec<&str> = schedules
        .iter()
        .filter(|s| s.shifts)
        .map(|s| s.name.as_str())
        .collect();
    if driving.len() > 1 {
        problems.push(format!(
            "schedules: {} all say shifts = true; one person is on call for /oncall at a time, so choose one",
            driving.join(", ")
        ));
    }
    for (i, spec) in schedules.iter().enumerate() {
        let key = format!("schedules[{i}] ({})", spec.name);
        match Schedule::check(spec, zone, directory, &key) {
            Ok(schedule) => {
                let name = schedule.name.clone();
                let configured = ConfiguredSchedule {
                    spec: schedule.recorded_spec(spec),
                    schedule,
                };
                if read.insert(name.clone(), configured).is_some() {
                    problems.push(format!("{key}.name: another schedule is called '{name}'"));
                }
            }
            Err(found) => problems.extend(found),
        }
    }
    read
}

#[cfg(test)]
mod tests {
    use crate::config::tests::no_env;
    use crate::config::Settings;

    #[test]
    fn schedules_are_read_with_the_files_zone_and_escalations_may_target_them() {
        let text = r#"
timezone = "Europe/Berlin"
[[teams]]
name = "SRE"
[[contacts]]
handle = "rpark"
name = "Riley Park"
team = "SRE"
[[schedules]]
name = "sre-primary"
[[schedules.layers]]
people = ["@rpark", "none"]
turn = "1w"
anchor = "2026-11-30"
[[escalations]]
name = "p"
steps = [{ targets = ["schedule:sre-primary"], wait_minutes = 5 }, { targets = ["schedule:nope"], wait_minutes = 0 }]
[[escalations]]
name = "hours"
steps = [{ targets = ["@rpark"], wait_minutes = 0, timezone = "Mars/Base", restrict = [{ days = ["someday"] }] }]
"#;
        let err = Settings::from_toml(text, "w.toml", no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("escalations[0] (p).steps[1].targets: no schedule is called 'nope'"),
            "{err}"
        );
        for expected in [
            "escalations[1] (hours).steps[0].restrict[0]: 'someday' is not a day",
            "escalations[1] (hours).steps[0].timezone: 'Mars/Base' is not an IANA time zone",
        ] {
            assert!(err.contains(expected), "missing «{expected}» in:\n{err}");
        }
        let text = text.replace(
            "timezone = \"Mars/Base\", restrict = [{ days = [\"someday\"] }]",
            "restrict = [{ days = [\"sat\"] }]",
        );
        let ok = text.replace(", { targets = [\"schedule:nope\"], wait_minutes = 0 }", "");
        let s = Settings::from_toml(&ok, "w.toml", no_env).unwrap();
        let sre = &s.schedules["sre-primary"].schedule;
        assert_eq!(sre.zone, chrono_tz::Europe::Berlin);
        let recorded = &s.schedules["sre-primary"].spec;
        assert_eq!(recorded.layers[0].people, vec!["@rpark", "none"]);
        assert_eq!(recorded.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(
            crate::domain::schedule::Schedule::from_recorded(recorded).as_ref(),
            Ok(sre),
            "the recorded spec reads back as the same schedule without the directory"
        );
        assert_eq!(
            s.policies["p"].steps[0].targets,
            vec!["schedule:sre-primary"]
        );
        let dup = format!("{ok}\n[[schedules]]\nname = \"sre-primary\"\n[[schedules.layers]]\npeople = [\"@rpark\"]\nturn = \"1d\"\nanchor = \"2026-11-30\"\nsurprise = 1\n");
        let err = Settings::from_toml(&dup, "w.toml", no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("another schedule is called 'sre-primary'"),
            "{err}"
        );
        assert!(
            err.contains("schedules[1].layers[0].surprise: unknown key"),
            "{err}"
        );
    }
}
