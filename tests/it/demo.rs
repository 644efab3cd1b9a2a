//! The demos against the seed's own log (`plan-reduce-repeat.txt`, "Application Outage,
//! cont", 09:15–10:30): every line of it is in the post-mortem at its minute, and the restart
//! and the redeploy run on the fake host's simulated time, landing where the seed has them.

use crate::common::{text, warroom};
use chrono::{DateTime, Utc};

/// What the seed's log says, in order: the time, who, and the text as written.
const SEED_LOG: &[(&str, &str, &str)] = &[
    ("09:15", "svega", "Hey we have reports of an application outage and we can not reach the app either."),
    ("09:16", "rpark", "I have an alert for that too. I'm looking at things now, will start a communication channel to coordinate. Checking logs and app servers now."),
    ("09:20", "rpark", "!svega !bsparrow !ghammer !khouse !gtree we have an application outage"),
    ("09:30", "bsparrow", "Everything looks good from the network"),
    ("09:32", "khouse", "I can access the DB and it is reporting back normal"),
    ("09:35", "ghammer", "Everything here looks normal."),
    ("09:37", "gtree", "We are still reviewing logs and seeing if we can reproduce on our end"),
    ("09:38", "ghammer", "We should try restarting the app, Maybe that will help"),
    ("09:40", "svega", "Maybe that will help."),
    ("09:43", "rpark", "Okay I will try. Bringing down."),
    ("09:45", "rpark", "App is down. Bring back up."),
    ("09:47", "rpark", "App is starting."),
    ("09:52", "ghammer", "Main app is back up."),
    ("09:55", "svega", "App is still not respond."),
    ("09:56", "ghammer", "I'm sending you some new logs !gtree these look off"),
    ("10:05", "gtree", "!sre !ghammer when was the last deploy? What were the details? This looks like a qa build."),
    ("10:07", "ghammer", "I did a deploy with one of the devs to qa to do some testing. Let me check."),
    ("10:10", "ghammer", "I think there was a mixup when doing the deployment. The wrong scripts was used and that build was deployed to prod."),
    ("10:11", "khouse", "Were there any migrations for that !ghammer"),
    ("10:12", "ghammer", "No, just code changes."),
    ("10:13", "svega", "Thats good. We should be able to just revert back then."),
    ("10:15", "rpark", "Let me take down the app and redeploy it."),
    ("10:17", "rpark", "App is down. Bring back up."),
    ("10:23", "rpark", "App is starting."),
    ("10:26", "ghammer", "Main app is back up."),
    ("10:30", "svega", "Everything looks like it is responding now."),
];

/// In the demo the SRE's narration of the restart and the redeploy is the runbooks' own
/// record: the line at a time is the run's step or finish at that time, within a minute.
/// (run, step: `None` for the run's finish.)
fn run_for(at: &str) -> Option<(usize, Option<&'static str>)> {
    match at {
        "09:45" => Some((0, Some("stop"))),
        "09:47" => Some((0, None)),
        "10:17" => Some((1, Some("stop"))),
        "10:23" => Some((1, None)),
        _ => None,
    }
}

/// The demo transcript's one difference in wording: svega fixes her typo a few seconds later
/// (an edit), and the post-mortem shows what the message finally says.
fn as_shown(said: &str) -> &str {
    match said {
        "App is still not respond." => "App is still not responding.",
        other => other,
    }
}

fn time(value: &serde_json::Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"))
        .parse()
        .unwrap()
}

fn seed_time(hh_mm: &str) -> DateTime<Utc> {
    format!("2021-03-09T{hh_mm}:00Z").parse().unwrap()
}

/// Every seed line in the post-mortem `pm` (its JSON): said by its author at its minute, or,
/// for the narration of the runs, a run's step or finish within a minute of it.
fn assert_follows_the_seed(pm: &serde_json::Value) {
    let timeline = pm["timeline"].as_array().unwrap();
    let runs = pm["runs"].as_array().unwrap();
    for (at, who, said) in SEED_LOG {
        if let Some((run, step)) = run_for(at) {
            let run = &runs[run];
            let finished = match step {
                Some(step) => {
                    let step = run["steps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|s| s["step"] == step)
                        .unwrap_or_else(|| panic!("no step {step}: {run}"));
                    time(&step["finished_at"])
                }
                None => time(&run["finished_at"]),
            };
            let off = (finished - seed_time(at)).num_seconds().abs();
            assert!(
                off <= 60,
                "{at} {said:?}: run {} {step:?} finished at {finished}, {off} s away",
                run["run"]
            );
            continue;
        }
        let said = as_shown(said);
        let found = timeline.iter().find(|e| {
            e["kind"] == "message"
                && e["text"].as_str().is_some_and(|t| t.contains(said))
                && time(&e["at"]).format("%H:%M").to_string() == *at
        });
        let found = found.unwrap_or_else(|| panic!("{at} {said:?} is not in the timeline"));
        assert_eq!(found["author"], *who, "{at} {said:?}");
    }
}

#[test]
fn the_demo_post_mortem_holds_every_line_of_the_seed_log_at_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let out = warroom(dir.path(), &["demo", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pm: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_follows_the_seed(&pm);
    // The runs on the host's simulated time: each step stamped as the host's delays and the
    // runbook's polls pass, not all at the minute the run was asked.
    let runs = pm["runs"].as_array().unwrap();
    assert_eq!(time(&runs[0]["finished_at"]), seed_time("09:47"));
    assert_eq!(time(&runs[1]["finished_at"]), seed_time("10:23"));
    let healthy: Vec<&serde_json::Value> = runs[1]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"] == "healthy")
        .collect();
    assert!(healthy.len() > 1, "the health check polled: {healthy:?}");
    assert!(
        healthy
            .windows(2)
            .all(|w| (time(&w[1]["started_at"]) - time(&w[0]["started_at"])).num_seconds() == 3),
        "every 3 s of the host's time, as the runbook's retry_delay_seconds says: {healthy:?}"
    );
}

#[test]
fn the_week_demo_holds_the_outage_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let out = warroom(dir.path(), &["demo", "week", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let week: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(week["postmortem"]["id"], "INC-5");
    assert_follows_the_seed(&week["postmortem"]);
}

/// Figures have one home: docs/benchmarks.md's summary table names each measure once, with
/// one figure, and the README quotes none (it once gave the demo's peak memory as 12.4 MB
/// in one table and 25 MB in another).
#[test]
fn each_figure_is_given_once_in_the_benchmarks_summary_and_not_in_the_readme() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let figure = regex::Regex::new(r"\d+(\.\d+)?\s*(MB|MiB|ms|events/s|alerts/s)\b").unwrap();
    let quoted: Vec<&str> = figure.find_iter(&readme).map(|m| m.as_str()).collect();
    assert!(
        quoted.is_empty(),
        "the README quotes figures: {quoted:?}; link docs/benchmarks.md"
    );

    let benchmarks = std::fs::read_to_string(root.join("docs/benchmarks.md")).unwrap();
    let summary: Vec<&str> = benchmarks
        .lines()
        .skip_while(|l| !l.starts_with("| figure | measured | target |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(summary.len() >= 8, "no summary table in docs/benchmarks.md");
    let mut measures = std::collections::BTreeSet::new();
    for row in &summary {
        let measure = row.split('|').nth(1).unwrap().trim();
        assert!(measures.insert(measure), "{measure} is given twice");
    }
    let demo = summary
        .iter()
        .find(|r| r.contains("`warroom demo` peak RSS"))
        .expect("the demo's peak memory is in the summary");
    assert!(demo.contains("MiB"), "{demo}");
}
