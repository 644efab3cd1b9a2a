//! Tests of the release rules, the capacity arithmetic and the as-built document.

use super::capacity::*;
use super::rules::*;
use super::values::*;
use crate::domain::event::{Event, Recorded};
use chrono::{TimeZone, Utc};

/// The seed's main application: 500 users per replica, 2,600 expected, 3 replicas today,
/// 85% of a 256 MB request in use, 25% more memory for the same users, CPU unchanged.
pub(crate) fn seed_app() -> CapacityInputs {
    CapacityInputs {
        service: "app".into(),
        image: "nginx:latest".into(),
        concurrent_users: Some(2600),
        users_per_replica: Some(500),
        current_replicas: Some(3),
        memory_request_mi: 256,
        memory_utilisation: "85".parse().unwrap(),
        memory_growth: "25".parse().unwrap(),
        cpu_request_m: 250,
        cpu_factor: Decimal::ONE,
        port: Some(80),
    }
}

#[test]
fn the_seed_figures_give_six_replicas_and_512_mi() {
    let plan = CapacityPlan::compute(seed_app()).unwrap();
    assert_eq!(plan.replicas, 6);
    assert_eq!(plan.memory_needed_mi, Decimal::from_hundredths(27_200));
    assert_eq!(plan.memory_needed_mi.to_string(), "272");
    assert_eq!(plan.memory_mi, 512);
    assert_eq!(plan.cpu_m, 250);
    assert_eq!(plan.name, "app");
    assert_eq!(
        plan.steps[0],
        "Replicas: 2600 concurrent users ÷ 500 users per replica = 5.2, rounded up: 6 (was 3); 6 × 500 = 3000 users ≥ 2600."
    );
    assert_eq!(
        plan.steps[1],
        "Memory: 256 Mi × 85% in use × (1 + 25% growth) = 272 Mi needed; the next standard size above it is 512 Mi (was 256 Mi)."
    );
    assert_eq!(plan.steps[2], "CPU: 250m × 1 = 250m (unchanged).");
}

#[test]
fn a_new_component_scales_cpu_by_its_factor_and_keeps_headroom() {
    // The seed's order processor: about 1 GB used in testing, twice the app's CPU.
    let plan = CapacityPlan::compute(CapacityInputs {
        service: "order_processor".into(),
        concurrent_users: None,
        users_per_replica: None,
        current_replicas: None,
        memory_request_mi: 1024,
        memory_utilisation: "100".parse().unwrap(),
        memory_growth: Decimal::ZERO,
        cpu_factor: "2".parse().unwrap(),
        port: None,
        ..seed_app()
    })
    .unwrap();
    assert_eq!(plan.name, "order-processor");
    assert_eq!(plan.replicas, 1);
    assert_eq!(plan.memory_mi, 2048, "a need exactly on a size gets room");
    assert_eq!(plan.cpu_m, 500);
    assert_eq!(plan.cpu_limit_m, 1000);
    assert!(plan.steps[0].contains("as given"), "{:?}", plan.steps);
    // It runs nowhere today: its basis figures are not what it "was".
    assert!(
        plan.steps
            .iter()
            .all(|s| !s.contains("(was") && !s.contains("unchanged")),
        "{:?}",
        plan.steps
    );
    assert_eq!(
        plan.steps[2], "CPU: 250m × 2 = 500m.",
        "a new component's CPU has no earlier figure"
    );
}

#[test]
fn standard_sizes_are_powers_of_two_from_128() {
    let mi = |m: u64| standard_memory_size(Decimal::from_hundredths(m * 100));
    assert_eq!(mi(1), 128);
    assert_eq!(mi(127), 128);
    assert_eq!(mi(128), 256);
    assert_eq!(standard_memory_size(Decimal::from_hundredths(27_160)), 512);
    assert_eq!(mi(272), 512);
    assert_eq!(mi(600), 1024);
    assert_eq!(mi(5000), 8192);
}

#[test]
fn capacity_inputs_are_checked_with_what_to_write() {
    let err = |inputs: CapacityInputs| CapacityPlan::compute(inputs).unwrap_err().to_string();
    assert!(err(CapacityInputs {
        concurrent_users: None,
        ..seed_app()
    })
    .contains("users and per_replica together"));
    assert!(err(CapacityInputs {
        service: "__".into(),
        ..seed_app()
    })
    .contains("service '__'"));
    assert!(err(CapacityInputs {
        memory_utilisation: "0.85".parse().unwrap(),
        ..seed_app()
    })
    .contains("write 85 for 85%"));
    assert!(parse_cpu_m("250")
        .unwrap_err()
        .to_string()
        .contains("cpu:250m"));
    assert_eq!(parse_cpu_m("250m").unwrap(), 250);
    assert_eq!(parse_cpu_m("0.5").unwrap(), 500);
    assert_eq!(parse_memory_mi("256mb").unwrap(), 256);
    assert_eq!(parse_memory_mi("256Mi").unwrap(), 256);
    assert_eq!(parse_memory_mi("1Gi").unwrap(), 1024);
    assert!(parse_memory_mi("256kb").is_err());
}

#[test]
fn names_become_dns_labels() {
    assert_eq!(dns_label("order_processor").unwrap(), "order-processor");
    assert_eq!(dns_label("mainApp").unwrap(), "main-app");
    assert_eq!(dns_label("  App  Server!! ").unwrap(), "app-server");
    assert_eq!(dns_label("x".repeat(80).as_str()).unwrap().len(), 63);
    assert_eq!(dns_label("__"), None);
}

#[test]
fn kinds_read_the_issue_and_template_words_and_list_them_when_wrong() {
    for (word, kind) in [
        ("security", ChangeKind::Security),
        ("security fix", ChangeKind::Security),
        ("Bug fix", ChangeKind::BugFix),
        ("feature", ChangeKind::Feature),
        ("feature addition", ChangeKind::Feature),
        ("feature modification", ChangeKind::FeatureModification),
        ("feature_modification", ChangeKind::FeatureModification),
        ("data model change", ChangeKind::DataModel),
        ("data-model", ChangeKind::DataModel),
        ("system change", ChangeKind::System),
    ] {
        assert_eq!(word.parse::<ChangeKind>().unwrap(), kind, "{word}");
    }
    for kind in ChangeKind::ALL {
        assert_eq!(kind.as_str().parse::<ChangeKind>().unwrap(), kind);
    }
    let err = "hotfix".parse::<ChangeKind>().unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown change kind 'hotfix'; use security, bug-fix, feature, feature-modification, data-model or system"
    );
}

#[test]
fn versions_and_tickets_are_read_once() {
    assert_eq!("2".parse::<Version>().unwrap().stream_id(), "release-2");
    assert_eq!("v2.1".parse::<Version>().unwrap().as_str(), "2.1");
    assert_eq!(
        Version::from_stream_id("release-2024.03-rc1")
            .unwrap()
            .as_str(),
        "2024.03-rc1"
    );
    assert!("two words".parse::<Version>().is_err());
    assert!("-2".parse::<Version>().is_err());
    assert_eq!(Version::from_stream_id("incident-2"), None);
    assert_eq!(ticket("Tk-205").unwrap(), "Tk-205");
    assert_eq!(ticket("Tk 205").unwrap(), "Tk-205");
    assert_eq!(ticket("TK-203").unwrap(), "TK-203");
    assert_eq!(ticket("205").unwrap(), "205");
    assert!(ticket("soon").is_err());
    assert!(ticket("Tk-2x5").is_err());
}

#[test]
fn decimals_are_exact_and_read_back() {
    let d: Decimal = "12.5%".parse().unwrap();
    assert_eq!(d.hundredths(), 1250);
    assert_eq!(d.to_string(), "12.5");
    assert_eq!("1.25".parse::<Decimal>().unwrap().to_string(), "1.25");
    assert!("1.255".parse::<Decimal>().is_err());
    assert!("-1".parse::<Decimal>().is_err());
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(json, "\"12.5\"");
    assert_eq!(serde_json::from_str::<Decimal>(&json).unwrap(), d);
}

fn record(n: i64, event: Event) -> Recorded {
    let at = Utc.with_ymd_and_hms(2021, 3, 10, 20, 0, 0).unwrap() + chrono::Duration::minutes(n);
    crate::domain::testkit::recorded(n, at, "rpark", event)
}

fn run(commands: Vec<ReleaseCommand>) -> Result<Option<Release>, ReleaseError> {
    let version: Version = "2".parse().unwrap();
    let mut records = Vec::new();
    for c in commands {
        let state = fold(&records);
        for e in decide(state.as_ref(), &version, c)? {
            records.push(record(records.len() as i64 + 1, e));
        }
    }
    Ok(fold(&records))
}

fn change(kind: ChangeKind, ticket: &str, text: &str) -> ReleaseCommand {
    ReleaseCommand::AddChange {
        kind,
        ticket: Some(ticket.into()),
        text: text.into(),
    }
}

#[test]
fn a_release_takes_changes_until_it_is_published() {
    let release = run(vec![
        ReleaseCommand::Open,
        change(ChangeKind::Security, "Tk 205", "Fixed SQL injection"),
        ReleaseCommand::PlanCapacity(seed_app()),
        ReleaseCommand::Publish,
    ])
    .unwrap()
    .unwrap();
    assert!(release.published_at.is_some());
    assert_eq!(release.changes[0].ticket.as_deref(), Some("Tk-205"));
    assert_eq!(release.capacity[0].plan.replicas, 6);
    assert_eq!(release.version_count, 4);

    let late = run(vec![
        ReleaseCommand::Open,
        change(ChangeKind::Feature, "Tk-1", "x"),
        ReleaseCommand::Publish,
        change(ChangeKind::Feature, "Tk-2", "y"),
    ]);
    assert!(matches!(late, Err(ReleaseError::AlreadyPublished(_))));
    let reopened = run(vec![
        ReleaseCommand::Open,
        change(ChangeKind::Feature, "Tk-1", "x"),
        ReleaseCommand::Publish,
        ReleaseCommand::Open,
    ]);
    assert!(matches!(reopened, Err(ReleaseError::AlreadyPublished(_))));
}

#[test]
fn the_rules_refuse_with_what_to_do() {
    let err = run(vec![change(ChangeKind::Feature, "Tk-1", "x")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "release 2 was never opened; start it with /release open version:2"
    );
    let err = run(vec![ReleaseCommand::Open, ReleaseCommand::Publish]).unwrap_err();
    assert!(err.to_string().contains("has no changes yet"), "{err}");
    let err = run(vec![ReleaseCommand::Open, ReleaseCommand::Open]).unwrap_err();
    assert!(matches!(err, ReleaseError::AlreadyOpen(_)));
    let err = run(vec![
        ReleaseCommand::Open,
        ReleaseCommand::NoteTest { text: "  ".into() },
    ])
    .unwrap_err();
    assert_eq!(err.to_string(), "the text is empty; say it with text:\"…\"");
    let twice = ReleaseCommand::AddStakeholder {
        team: Some("ops".into()),
        person: "@ghammer".into(),
    };
    let err = run(vec![ReleaseCommand::Open, twice.clone(), twice]).unwrap_err();
    assert!(matches!(err, ReleaseError::DuplicateStakeholder { .. }));
}

#[test]
fn a_later_plan_for_the_same_component_replaces_the_earlier() {
    let release = run(vec![
        ReleaseCommand::Open,
        ReleaseCommand::PlanCapacity(CapacityInputs {
            concurrent_users: Some(1300),
            ..seed_app()
        }),
        ReleaseCommand::PlanCapacity(seed_app()),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(release.capacity.len(), 1);
    assert_eq!(release.capacity[0].plan.replicas, 6);
}
