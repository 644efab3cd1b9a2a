//! `warroom alerts`: recent alerts inside incidents and outside them, with their state,
//! route and incident, filtered by state, name and time.

use crate::common::{text, warroom};
use serde_json::json;

fn alert(at: &str, name: &str, status: &str, labels: serde_json::Value) -> String {
    let mut labels = labels;
    labels["alertname"] = json!(name);
    let mut one = json!({"status": status, "labels": labels,
        "annotations": {"summary": format!("{name} {status}")},
        "startsAt": format!("2021-03-09T{}Z", if status == "firing" { at } else { "08:00:00" }),
        "fingerprint": format!("fp-{name}")});
    if status == "resolved" {
        one["endsAt"] = json!(format!("2021-03-09T{at}Z"));
    }
    json!({"at": format!("2021-03-09T{at}Z"), "alert": {"source": "alertmanager", "body": {
        "version": "4", "status": status, "receiver": "warroom", "alerts": [one]}}})
    .to_string()
}

#[test]
fn alerts_lists_each_alert_where_it_stands_in_an_incident_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let storage =
        || json!({"instance": "loghost", "mountpoint": "/var/log", "severity": "warning"});
    let transcript = [
        alert("08:00:00", "LowStorage", "firing", storage()),
        // No route takes it: the default records it in the alerts channel only.
        alert(
            "08:10:00",
            "DiskSlow",
            "firing",
            json!({"instance": "loghost"}),
        ),
        alert("08:30:00", "LowStorage", "resolved", storage()),
    ]
    .join("\n");
    std::fs::write(dir.path().join("t.jsonl"), transcript).unwrap();
    let config = format!("{}/deploy/warroom.toml", env!("CARGO_MANIFEST_DIR"));
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let run = |extra: &[&str]| {
        let mut args = vec!["alerts"];
        args.extend_from_slice(extra);
        args.extend(["--db", &db, "--config", &config]);
        warroom(dir.path(), &args)
    };
    let replayed = warroom(
        dir.path(),
        &["replay", "-q", "t.jsonl", "--db", &db, "--config", &config],
    );
    assert!(replayed.status.success(), "{}", text(&replayed.stderr));

    let all = run(&[]);
    assert!(all.status.success(), "{}", text(&all.stderr));
    assert_eq!(
        text(&all.stdout).lines().collect::<Vec<_>>(),
        [
            "2021-03-09 08:30 UTC  resolved  LowStorage (warning)  route low-storage  INC-1 — LowStorage resolved",
            "2021-03-09 08:10 UTC  firing    DiskSlow  route default  no incident — DiskSlow firing",
        ],
        "newest change first, one line per alert"
    );
    let names = |extra: &[&str]| -> Vec<String> {
        let out = run(extra);
        assert!(out.status.success(), "{extra:?}: {}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| l.split_whitespace().nth(4).unwrap_or(l).to_string())
            .collect()
    };
    assert_eq!(
        names(&["--firing"]),
        ["DiskSlow"],
        "LowStorage resolved since"
    );
    assert_eq!(names(&["--name", "lowstorage"]), ["LowStorage"]);
    assert_eq!(names(&["--since", "2021-03-09T08:20:00Z"]), ["LowStorage"]);
    assert_eq!(names(&["--last", "1"]), ["LowStorage"]);
    assert_eq!(
        names(&["--since", "6h"]),
        ["no alerts match"],
        "they are from 2021"
    );

    let json = run(&["--format", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows[0]["incident"], "INC-1");
    assert_eq!(rows[0]["route"], "low-storage");
    assert_eq!(rows[0]["status"], "resolved");
    assert_eq!(rows[1]["incident"], serde_json::Value::Null);
    assert_eq!(rows[1]["labels"]["instance"], "loghost");
    let id = rows[1]["event_id"].as_str().unwrap();
    let show = warroom(dir.path(), &["show", &id[..8], "--db", &db]);
    assert!(
        text(&show.stdout).contains("DiskSlow"),
        "{}",
        text(&show.stdout)
    );

    let bad = run(&["--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("--since: 'yesterday' is not a time"),
        "{}",
        text(&bad.stderr)
    );
}
