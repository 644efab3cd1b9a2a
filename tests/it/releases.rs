//! Releases end to end: the seed's two releases told through a transcript, their as-built
//! document (Markdown and JSON) from the ledger, the capacity arithmetic of release night, and
//! the Kubernetes Deployment `warroom as-built --deployment` prints, parsed as YAML.

use crate::common;

use warroom::app::replay::replay;
use warroom::app::Warroom;
use warroom::config::Settings;
use warroom::domain::release::as_built::{render_json, render_markdown};
use warroom::store::Ledger;
use yaml_rust2::{Yaml, YamlLoader};

/// Release 1 and Release 2 of the seed, as the team would say them on release night.
fn transcript() -> String {
    let lines: &[(&str, &str, &str)] = &[
        ("2021-03-02T20:00:00Z", "rpark", "/release open version:1"),
        ("2021-03-02T20:01:00Z", "rpark", r#"/release stakeholder team:"Development Team" user:"John Doe""#),
        ("2021-03-02T20:01:10Z", "rpark", r#"/release stakeholder team:dev user:"Jane Peters""#),
        ("2021-03-02T20:01:20Z", "rpark", r#"/release stakeholder team:ops user:"Jay Smith""#),
        ("2021-03-02T20:02:00Z", "rpark", r#"/release change kind:security ticket:Tk-100 text:"Added new password requirements""#),
        ("2021-03-02T20:02:10Z", "rpark", r#"/release change kind:feature ticket:Tk-102 text:"Added new menu options for users""#),
        ("2021-03-02T20:02:20Z", "rpark", r#"/release change kind:"security fix" ticket:Tk-103 text:"Fixed how SQL queries were handled""#),
        ("2021-03-02T20:02:30Z", "rpark", r#"/release change kind:data-model ticket:"TK 101" text:"Users table was split into 2 smaller tables""#),
        ("2021-03-02T20:03:00Z", "rpark", r#"/release decision text:"Users table was split into two smaller tables to create more efficient queries." doc:"Design Doc 134""#),
        ("2021-03-02T20:03:10Z", "rpark", r#"/release test text:"All test suites are passing 100%.""#),
        ("2021-03-02T20:03:20Z", "rpark", r#"/release note text:"The database admins asked for an additional set of scripts to be run for data corrections.""#),
        ("2021-03-02T21:00:00Z", "rpark", "/release publish"),
        ("2021-03-09T19:00:00Z", "rpark", "/release open version:2"),
        ("2021-03-09T19:00:30Z", "rpark", r#"/release change kind:hotfix ticket:Tk-205 text:"Fixed a SQL injection flaw""#),
        ("2021-03-09T19:01:00Z", "rpark", "/release stakeholder team:ops user:@ghammer"),
        ("2021-03-09T19:01:10Z", "rpark", "/release stakeholder user:@gtree"),
        ("2021-03-09T19:01:20Z", "rpark", "/release stakeholder team:sre user:@rpark"),
        ("2021-03-09T19:02:00Z", "gtree", r#"/release change kind:security ticket:"Tk 205" text:"Fixed a security flaw where attackers could execute a SQL injection attack""#),
        ("2021-03-09T19:02:10Z", "gtree", r#"/release change kind:"feature modification" ticket:Tk-202 text:"Rearranged the catalog menu in the UI to accommodate the additional catalog""#),
        ("2021-03-09T19:02:20Z", "gtree", r#"/release change kind:"data model change" ticket:TK-203 text:"Added a new catalog for exotic plants""#),
        ("2021-03-09T19:02:30Z", "gtree", r#"/release change kind:system ticket:Tk-201 text:"Added an additional component to the application, an order processor""#),
        ("2021-03-09T19:03:00Z", "gtree", r#"/release decision text:"Added an order processor to decouple the UI from CPU-intensive order processing." doc:"Design Doc 5247""#),
        ("2021-03-09T19:03:10Z", "rpark", r#"/release test text:"All test suites are passing 100%.""#),
        ("2021-03-09T19:04:00Z", "rpark", "/release capacity service:app image:nginx:latest users:2600 per_replica:500 replicas:3 memory:256mb utilisation:85 growth:25 cpu:250m port:80"),
        ("2021-03-09T19:04:30Z", "rpark", "/release capacity service:order_processor image:nginx:latest memory:1024Mi utilisation:100 cpu:250m cpu_factor:2"),
        ("2021-03-09T19:05:00Z", "rpark", r#"/release note text:"Database: requires no changes.""#),
        ("2021-03-09T21:00:00Z", "rpark", "/release publish"),
    ];
    lines
        .iter()
        .map(|(at, from, text)| {
            serde_json::json!({"at": at, "from": from, "text": text, "channel": "releases"})
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The part of `md` between two headings.
fn section<'a>(md: &'a str, from: &str, to: &str) -> &'a str {
    let start = md
        .find(from)
        .unwrap_or_else(|| panic!("no {from:?} in\n{md}"));
    let rest = &md[start + from.len()..];
    &rest[..rest.find(to).unwrap_or(rest.len())]
}

#[tokio::test]
async fn two_releases_make_the_seeds_as_built_document() {
    let (_dir, url) = common::fresh_sqlite_url();
    let app = Warroom::start(
        Ledger::open(&url).await.unwrap(),
        Settings::example().unwrap(),
    )
    .await
    .unwrap();
    let mut replies = Vec::new();
    replay(&app, &transcript(), "releases", |line, outcome| {
        replies.push((line.line, outcome.reply.clone(), outcome.refused));
    })
    .await
    .unwrap();
    // Every line was accepted but the misspelt kind, which names the kinds to use.
    let refused: Vec<_> = replies.iter().filter(|r| r.2).collect();
    assert_eq!(refused.len(), 1, "{replies:#?}");
    let reason = refused[0].1.as_deref().unwrap();
    assert!(
        reason.starts_with("unknown change kind 'hotfix'; use security, bug-fix, feature, feature-modification, data-model or system. Usage: /release change kind:"),
        "{reason}"
    );
    let capacity_reply = replies[23].1.as_deref().unwrap();
    assert!(
        capacity_reply.contains("6 replicas, 512Mi memory"),
        "{capacity_reply}"
    );

    let doc = app.as_built(None).await.unwrap();
    let md = render_markdown(&doc);
    // The command line reads the release streams alone, with no projection: the same
    // document.
    let reader = warroom::app::reading::Reader::new(app.ledger().clone(), app.settings().clone());
    assert_eq!(render_markdown(&reader.as_built(None).await.unwrap()), md);
    // Both releases, in order, each with the template's sections in the template's order.
    let headings: Vec<&str> = md.lines().filter(|l| l.starts_with('#')).collect();
    let sections = [
        "### Stakeholders",
        "### Code Changes",
        "### Data and System Changes",
        "### Design decision highlights",
        "### Test Section",
        "### Deployment Notes",
    ];
    let mut expected = vec!["# As-Built Doc", "## Release 1"];
    expected.extend(sections);
    expected.push("## Release 2");
    expected.extend(sections);
    assert_eq!(headings, expected, "{md}");

    let one = section(&md, "## Release 1", "## Release 2");
    let two = section(&md, "## Release 2", "\u{0}");
    assert!(one.contains("Published 2021-03-02 21:00 (UTC)."), "{one}");
    // Stakeholders by team: the contact list's team names and order, then unknown people
    // under the team given.
    assert!(
        one.contains("- Ops\n  - Jay Smith\n- Development Team\n  - John Doe\n  - Jane Peters\n"),
        "{one}"
    );
    assert!(
        two.contains("### Stakeholders\n\n- Ops\n  - Glenn Hammer (@ghammer)\n- Development Team\n  - Gal Tree (@gtree)\n- SRE\n  - Riley Park (@rpark)\n"),
        "{two}"
    );
    // Changes grouped by kind with their tickets; data and system changes apart.
    assert!(
        one.contains("- Security fixes\n  - Added new password requirements (Tk-100)\n  - Fixed how SQL queries were handled (Tk-103)\n- Feature additions\n  - Added new menu options for users (Tk-102)\n"),
        "{one}"
    );
    assert!(
        section(one, "### Data and System Changes", "###").contains(
            "- Data model changes\n  - Users table was split into 2 smaller tables (TK-101)"
        ),
        "{one}"
    );
    let code = section(two, "### Code Changes", "###");
    assert!(
        code.contains("- Security fixes\n  - Fixed a security flaw where attackers could execute a SQL injection attack (Tk-205)\n- Feature modifications\n  - Rearranged the catalog menu in the UI to accommodate the additional catalog (Tk-202)\n"),
        "{code}"
    );
    assert!(
        !code.contains("hotfix") && !code.contains("Tk-203"),
        "{code}"
    );
    let data = section(two, "### Data and System Changes", "###");
    assert!(
        data.contains("- Data model changes\n  - Added a new catalog for exotic plants (TK-203)\n- System changes\n  - Added an additional component to the application, an order processor (Tk-201)\n"),
        "{data}"
    );
    assert!(two.contains("See Design Doc 5247 for further discussion."));
    assert!(section(two, "### Test Section", "###").contains("All test suites are passing 100%."));
    // The capacity arithmetic of release night in the Deployment Notes.
    let notes = section(two, "### Deployment Notes", "\u{0}");
    for expected in [
        "- Database: requires no changes.",
        "1. app (nginx:latest): 6 replicas, 512Mi memory, 250m CPU",
        "Replicas: 2600 concurrent users ÷ 500 users per replica = 5.2, rounded up: 6 (was 3); 6 × 500 = 3000 users ≥ 2600.",
        "Memory: 256 Mi × 85% in use × (1 + 25% growth) = 272 Mi needed; the next standard size above it is 512 Mi (was 256 Mi).",
        "2. order_processor (nginx:latest): 1 replica, 2048Mi memory, 500m CPU",
        "CPU: 250m × 2 = 500m.",
    ] {
        assert!(notes.contains(expected), "missing {expected:?} in\n{notes}");
    }

    // The JSON form: the same releases, traceable to their events.
    let json: serde_json::Value = serde_json::from_str(&render_json(&doc)).unwrap();
    let releases = json["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 2);
    assert_eq!(releases[0]["version"], "1");
    assert_eq!(releases[1]["version"], "2");
    let r2 = &releases[1];
    assert_eq!(r2["code_changes"][0]["kind"], "security");
    assert_eq!(r2["code_changes"][0]["changes"][0]["ticket"], "Tk-205");
    assert!(r2["code_changes"][0]["changes"][0]["event_id"].is_string());
    assert_eq!(r2["data_and_system_changes"][1]["kind"], "system");
    assert_eq!(r2["stakeholders"][0]["team"], "Ops");
    assert_eq!(r2["stakeholders"][0]["members"][0]["handle"], "ghammer");
    assert_eq!(r2["design_decisions"][0]["doc"], "Design Doc 5247");
    assert_eq!(r2["capacity"][0]["replicas"], 6);
    assert_eq!(r2["capacity"][0]["memory_mi"], 512);
    assert_eq!(r2["capacity"][0]["memory_needed_mi"], "272");
    assert_eq!(r2["capacity"][0]["inputs"]["users_per_replica"], 500);

    // A published release takes nothing more; a later transcript line says why.
    let late = serde_json::json!({"at": "2021-03-10T09:00:00Z", "from": "rpark", "text": "/release note text:late version:2"}).to_string();
    let mut reply = None;
    replay(&app, &late, "late", |_, o| reply = o.reply.clone())
        .await
        .unwrap();
    assert_eq!(
        reply.as_deref(),
        Some("release 2 was published already; open the next one with /release open version:N")
    );
    // Same events, byte-identical document.
    assert_eq!(render_markdown(&app.as_built(None).await.unwrap()), md);
}

use common::{text, warroom};

#[test]
fn as_built_deployment_is_valid_kubernetes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("releases.jsonl");
    std::fs::write(&file, transcript()).unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let out = warroom(dir.path(), &["--db", &db, "replay", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let md = warroom(dir.path(), &["--db", &db, "as-built"]);
    assert!(md.status.success(), "{}", text(&md.stderr));
    assert!(text(&md.stdout).contains("## Release 2"));
    let json = warroom(
        dir.path(),
        &[
            "--db",
            &db,
            "as-built",
            "--release",
            "1",
            "--format",
            "json",
        ],
    );
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["releases"].as_array().unwrap().len(), 1);
    assert_eq!(value["releases"][0]["version"], "1");

    // The Deployment is YAML, the form kubectl applies: asked for JSON, it says so rather
    // than print YAML without a word.
    let json_asked = warroom(
        dir.path(),
        &["as-built", "--deployment", "--format", "json", "--db", &db],
    );
    assert_eq!(json_asked.status.code(), Some(2));
    assert!(json_asked.stdout.is_empty());
    assert!(
        text(&json_asked.stderr).contains("'--deployment' cannot be used with '--format <FORMAT>'"),
        "{}",
        text(&json_asked.stderr)
    );

    let out = warroom(dir.path(), &["--db", &db, "as-built", "--deployment"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    let docs = YamlLoader::load_from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(docs.len(), 2, "one Deployment per component:\n{yaml}");
    let dns_label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    for doc in &docs {
        // The field names Kubernetes reads, spelt as it reads them (the seed wrote
        // `ApiVersion` and `Replicas`, which it ignores or refuses).
        assert_eq!(doc["apiVersion"].as_str(), Some("apps/v1"), "{yaml}");
        assert_eq!(doc["kind"].as_str(), Some("Deployment"));
        assert!(doc["ApiVersion"].is_badvalue() && doc["spec"]["Replicas"].is_badvalue());
        let name = doc["metadata"]["name"].as_str().unwrap();
        assert!(dns_label(name), "{name}");
        let spec = &doc["spec"];
        assert_eq!(
            spec["selector"]["matchLabels"]["app.kubernetes.io/name"].as_str(),
            Some(name)
        );
        assert_eq!(
            spec["template"]["metadata"]["labels"]["app.kubernetes.io/name"].as_str(),
            Some(name),
            "the selector matches the pod template"
        );
        let containers = spec["template"]["spec"]["containers"].as_vec().unwrap();
        assert_eq!(containers.len(), 1);
        assert!(dns_label(containers[0]["name"].as_str().unwrap()));
        let requests = &containers[0]["resources"]["requests"];
        let memory = requests["memory"].as_str().unwrap();
        assert!(memory.ends_with("Mi"), "{memory}");
        assert!(requests["cpu"].as_str().unwrap().ends_with('m'));
        assert_eq!(
            containers[0]["resources"]["limits"]["memory"].as_str(),
            Some(memory)
        );
    }
    let app = &docs[0];
    assert_eq!(app["metadata"]["name"].as_str(), Some("app"));
    assert_eq!(app["spec"]["replicas"], Yaml::Integer(6));
    let container = &app["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"].as_str(), Some("nginx:latest"));
    assert_eq!(
        container["resources"]["requests"]["memory"].as_str(),
        Some("512Mi")
    );
    assert_eq!(
        container["resources"]["requests"]["cpu"].as_str(),
        Some("250m")
    );
    assert_eq!(container["ports"][0]["containerPort"], Yaml::Integer(80));
    let processor = &docs[1];
    assert_eq!(
        processor["metadata"]["name"].as_str(),
        Some("order-processor")
    );
    let container = &processor["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"].as_str(), Some("order-processor"));
    assert_eq!(
        container["resources"]["requests"]["memory"].as_str(),
        Some("2048Mi")
    );
    assert_eq!(
        container["resources"]["requests"]["cpu"].as_str(),
        Some("500m")
    );

    // Release 1 planned no capacity: the reason and what to do, and a non-zero exit.
    let none = warroom(
        dir.path(),
        &["--db", &db, "as-built", "--release", "1", "--deployment"],
    );
    assert!(!none.status.success());
    assert!(
        text(&none.stderr)
            .contains("release 1 has no capacity plan; record one with /release capacity"),
        "{}",
        text(&none.stderr)
    );
}
