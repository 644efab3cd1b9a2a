//! The event store's contract, the same tests on SQLite and PostgreSQL.

mod common;

use chrono::{TimeZone, Utc};
use std::collections::HashSet;
use warroom::store::{AppendError, ExpectedVersion, Ledger, NewEvent};

/// Declares each conformance test twice: on an SQLite file and on a fresh PostgreSQL database.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_dir, url) = crate::common::fresh_sqlite_url();
                super::$name(&url).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(url) = crate::common::fresh_postgres_url().await else { return };
                super::$name(&url).await;
            })*
        }
    };
}

on_both_backends!(
    envelopes_round_trip_exactly,
    positions_and_versions_are_gapless,
    expected_versions_are_enforced,
    re_appending_an_event_is_a_no_op_and_a_changed_one_an_error,
    one_conflicting_append_does_not_sink_the_batch,
    concurrent_appends_share_commits,
    racing_appenders_get_one_winner_per_version,
    verify_catches_an_edited_row,
    verify_catches_a_removed_row,
    rows_cannot_be_changed_through_sql,
    subscribers_see_new_events_in_order,
    followers_never_skip_a_late_commit,
);

fn event(n: u64, text: &str) -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{n}:{text}").as_bytes()),
        event_type: "MessagePosted".into(),
        schema_version: 1,
        occurred_at: Utc.with_ymd_and_hms(2021, 3, 9, 9, 15, 0).unwrap()
            + chrono::Duration::nanoseconds(n as i64 * 1_234_567),
        actor: "svega".into(),
        payload: serde_json::json!({"text": text, "n": n, "nested": {"b": 1, "a": [1.5, "x"]}}),
    }
}

async fn envelopes_round_trip_exactly(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    let e = event(
        1,
        "Hey we have reports of an application outage — “ünïcode”",
    );
    let appended = ledger
        .append("incident-1", ExpectedVersion::NoStream, vec![e.clone()])
        .await
        .unwrap();
    assert_eq!(
        (
            appended.first_position,
            appended.last_position,
            appended.stream_version
        ),
        (1, 1, 1)
    );
    let stored = &ledger.read_stream("incident-1").await.unwrap()[0];
    assert_eq!(stored.event_id, e.event_id);
    assert_eq!(stored.stream_id, "incident-1");
    assert_eq!(stored.event_type, "MessagePosted");
    assert_eq!(stored.schema_version, 1);
    assert_eq!(stored.actor, "svega");
    assert_eq!(
        stored.occurred_at,
        Utc.timestamp_micros(e.occurred_at.timestamp_micros())
            .unwrap()
    );
    assert_eq!(stored.payload_json().unwrap(), e.payload);
    assert_eq!(
        stored.payload,
        r#"{"n":1,"nested":{"a":[1.5,"x"],"b":1},"text":"Hey we have reports of an application outage — “ünïcode”"}"#
    );
    assert_eq!(stored.hash.len(), 64);
    assert!(stored.recorded_at <= Utc::now());
    assert_eq!(
        ledger.read_all(0, 10).await.unwrap(),
        ledger.read_stream("incident-1").await.unwrap()
    );
    assert!(ledger.contains_event(e.event_id).await.unwrap());
    assert!(!ledger.contains_event(uuid::Uuid::nil()).await.unwrap());
    ledger.close().await;
    // Reopening reads the same bytes back.
    let again = Ledger::open(url).await.unwrap();
    assert_eq!(&again.read_stream("incident-1").await.unwrap()[0], stored);
}

async fn positions_and_versions_are_gapless(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    for i in 0..5 {
        let stream = if i % 2 == 0 { "a" } else { "b" };
        ledger
            .append(
                stream,
                ExpectedVersion::Any,
                vec![event(i * 2, "x"), event(i * 2 + 1, "y")],
            )
            .await
            .unwrap();
    }
    let all = ledger.read_all(0, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    let a: Vec<i64> = ledger
        .read_stream("a")
        .await
        .unwrap()
        .iter()
        .map(|e| e.stream_version)
        .collect();
    assert_eq!(a, [1, 2, 3, 4, 5, 6]);
    assert_eq!(ledger.stream_version("b").await.unwrap(), 4);
    assert_eq!(ledger.stream_version("nope").await.unwrap(), 0);
    assert_eq!(ledger.head().await.unwrap(), 10);
    assert_eq!(
        ledger
            .read_all(7, 2)
            .await
            .unwrap()
            .iter()
            .map(|e| e.position)
            .collect::<Vec<_>>(),
        [8, 9]
    );
}

async fn expected_versions_are_enforced(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    ledger
        .append("s", ExpectedVersion::NoStream, vec![event(1, "a")])
        .await
        .unwrap();
    let err = ledger
        .append("s", ExpectedVersion::NoStream, vec![event(2, "b")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppendError::Conflict { actual: 1, .. }),
        "{err}"
    );
    let err = ledger
        .append("s", ExpectedVersion::Exactly(0), vec![event(2, "b")])
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::Conflict { actual: 1, .. }));
    ledger
        .append("s", ExpectedVersion::Exactly(1), vec![event(2, "b")])
        .await
        .unwrap();
    assert!(err.to_string().contains("reload and retry"));
    assert_eq!(ledger.head().await.unwrap(), 2);
}

async fn re_appending_an_event_is_a_no_op_and_a_changed_one_an_error(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    let first = ledger
        .append(
            "s",
            ExpectedVersion::NoStream,
            vec![event(1, "a"), event(2, "b")],
        )
        .await
        .unwrap();
    let again = ledger
        .append(
            "s",
            ExpectedVersion::NoStream,
            vec![event(1, "a"), event(2, "b")],
        )
        .await
        .unwrap();
    assert!(again.already_stored);
    assert_eq!(
        (again.first_position, again.last_position),
        (first.first_position, first.last_position)
    );
    assert_eq!(ledger.head().await.unwrap(), 2);
    let mut changed = event(1, "a");
    changed.payload = serde_json::json!({"text": "tampered"});
    let err = ledger
        .append("s", ExpectedVersion::Any, vec![changed])
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::DuplicateEventId { .. }), "{err}");
    let err = ledger
        .append(
            "s",
            ExpectedVersion::Any,
            vec![event(1, "a"), event(3, "c")],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::Invalid(_)), "{err}");
    let err = ledger
        .append("s", ExpectedVersion::Any, vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::Invalid(_)));
    assert_eq!(ledger.head().await.unwrap(), 2);
}

async fn one_conflicting_append_does_not_sink_the_batch(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    ledger
        .append("taken", ExpectedVersion::NoStream, vec![event(0, "x")])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 1..=20u64 {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            if i == 10 {
                ledger
                    .append("taken", ExpectedVersion::NoStream, vec![event(i, "late")])
                    .await
            } else {
                ledger
                    .append(
                        &format!("s{i}"),
                        ExpectedVersion::NoStream,
                        vec![event(i, "ok")],
                    )
                    .await
            }
        }));
    }
    let mut ok = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(AppendError::Conflict { .. }) => assert_eq!(i + 1, 10),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 19);
    assert_eq!(ledger.head().await.unwrap(), 20);
    assert!(ledger.verify().await.unwrap().problem.is_none());
}

async fn concurrent_appends_share_commits(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                ledger
                    .append(
                        &format!("s{}", i % 7),
                        ExpectedVersion::Any,
                        vec![event(i, "c")],
                    )
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let stats = ledger.stats();
    assert_eq!(stats.events_written, 200);
    assert!(
        stats.commits < 200,
        "200 appends took {} commits: no group commit",
        stats.commits
    );
    let ids: HashSet<_> = ledger
        .read_all(0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids.len(), 200);
}

async fn racing_appenders_get_one_winner_per_version(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    let tasks: Vec<_> = (0..40u64)
        .map(|i| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    let v = ledger.stream_version("hot").await.unwrap();
                    match ledger
                        .append(
                            "hot",
                            ExpectedVersion::Exactly(v),
                            vec![event(1000 + i * 100 + v as u64, "race")],
                        )
                        .await
                    {
                        Ok(a) => return a.stream_version,
                        Err(AppendError::Conflict { .. }) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
                panic!("never won");
            })
        })
        .collect();
    let mut won = Vec::new();
    for t in tasks {
        won.push(t.await.unwrap());
    }
    won.sort();
    assert_eq!(
        won,
        (1..=40).collect::<Vec<i64>>(),
        "each version won exactly once"
    );
}

async fn verify_catches_an_edited_row(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    for i in 0..8 {
        ledger
            .append("s", ExpectedVersion::Any, vec![event(i, "fine")])
            .await
            .unwrap();
    }
    let clean = ledger.verify().await.unwrap();
    assert_eq!((clean.events, clean.problem.clone()), (8, None));
    assert_eq!(
        clean.head_hash,
        ledger.read_all(7, 1).await.unwrap()[0].hash
    );
    ledger.close().await;
    let drop_triggers: &[&str] = if url.starts_with("sqlite") {
        &[
            "DROP TRIGGER events_no_update",
            "DROP TRIGGER events_no_delete",
        ]
    } else {
        &["DROP TRIGGER events_no_change ON events"]
    };
    common::raw_sql(url, drop_triggers).await;
    common::raw_sql(
        url,
        &[r#"UPDATE events SET payload = '{"n":4,"text":"rewritten"}' WHERE position = 5"#],
    )
    .await;
    let report = Ledger::open(url).await.unwrap().verify().await.unwrap();
    let problem = report.problem.expect("the edit is caught");
    assert_eq!(problem.position, 5);
    assert!(problem.what.contains("hash mismatch"));
    assert_eq!(report.events, 4, "everything before the edit checked out");
}

async fn verify_catches_a_removed_row(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    for i in 0..8 {
        ledger
            .append("s", ExpectedVersion::Any, vec![event(i, "fine")])
            .await
            .unwrap();
    }
    ledger.close().await;
    let statements: &[&str] = if url.starts_with("sqlite") {
        &[
            "DROP TRIGGER events_no_delete",
            "DELETE FROM events WHERE position = 5",
        ]
    } else {
        &[
            "DROP TRIGGER events_no_change ON events",
            "DELETE FROM events WHERE position = 5",
        ]
    };
    common::raw_sql(url, statements).await;
    let problem = Ledger::open(url)
        .await
        .unwrap()
        .verify()
        .await
        .unwrap()
        .problem
        .expect("the gap is caught");
    assert_eq!(problem.position, 5);
    assert!(problem.what.contains("missing"), "{}", problem.what);
}

async fn rows_cannot_be_changed_through_sql(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    ledger
        .append("s", ExpectedVersion::Any, vec![event(1, "a")])
        .await
        .unwrap();
    ledger.close().await;
    for statement in ["UPDATE events SET actor = 'mallory'", "DELETE FROM events"] {
        let refused = if url.starts_with("sqlite") {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query(statement)
                .execute(&mut c)
                .await
                .unwrap_err()
                .to_string()
        } else {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(statement)
                .execute(&mut c)
                .await
                .unwrap_err()
                .to_string()
        };
        assert!(refused.contains("append-only"), "{statement}: {refused}");
    }
}

async fn subscribers_see_new_events_in_order(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    ledger
        .append("s", ExpectedVersion::Any, vec![event(1, "before")])
        .await
        .unwrap();
    let mut sub = ledger.subscribe(1);
    let writer = ledger.clone();
    tokio::spawn(async move {
        for i in 2..=6 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            writer
                .append("s", ExpectedVersion::Any, vec![event(i, "after")])
                .await
                .unwrap();
        }
    });
    for expected in 2..=6 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(5), sub.next())
            .await
            .expect("woken in time")
            .unwrap();
        assert_eq!(e.position, expected);
    }
}

/// Several instances (separate pools, as separate processes would be) append at once while
/// a follower reads in global order: it must see every position exactly once, none skipped.
async fn followers_never_skip_a_late_commit(url: &str) {
    let instances: Vec<Ledger> =
        futures_util::future::try_join_all((0..4).map(|_| Ledger::open(url)))
            .await
            .unwrap();
    let follower = Ledger::open(url).await.unwrap();
    let mut sub = follower.subscribe(0);
    let per_instance = 250u64;
    let writers: Vec<_> = instances
        .iter()
        .enumerate()
        .map(|(w, ledger)| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let mut n = 0;
                let mut ids = Vec::new();
                while n < per_instance {
                    let size = 1 + (n % 5).min(per_instance - n - 1);
                    let events: Vec<NewEvent> = (n..n + size)
                        .map(|i| event(w as u64 * 10_000 + i, "load"))
                        .collect();
                    ids.extend(events.iter().map(|e| e.event_id));
                    ledger
                        .append(&format!("w{w}-{}", n % 3), ExpectedVersion::Any, events)
                        .await
                        .unwrap();
                    n += size;
                }
                ids
            })
        })
        .collect();
    let total = 4 * per_instance as i64;
    let mut seen = Vec::new();
    while seen.len() < total as usize {
        let e = tokio::time::timeout(std::time::Duration::from_secs(20), sub.next())
            .await
            .expect("the follower keeps up")
            .unwrap();
        seen.push((e.position, e.event_id));
    }
    let mut written = HashSet::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    assert_eq!(
        seen.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    assert_eq!(
        seen.iter().map(|(_, id)| *id).collect::<HashSet<_>>(),
        written
    );
    assert_eq!(follower.head().await.unwrap(), total);
    assert!(follower.verify().await.unwrap().problem.is_none());
}
