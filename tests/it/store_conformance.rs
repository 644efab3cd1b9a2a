//! The event store's contract, the same tests on SQLite and PostgreSQL.

use crate::common;

use chrono::{TimeZone, Utc};
use std::collections::HashSet;
use std::time::Duration;
use warroom::store::{
    AppendError, Appended, ExpectedVersion, Ledger, LedgerOptions, NewEvent, StoreError,
};

on_both_backends!(
    envelopes_round_trip_exactly,
    positions_and_versions_are_gapless,
    streams_read_in_pages_both_ways,
    streams_are_found_by_prefix,
    events_are_found_by_the_start_of_their_id,
    events_of_a_type_read_newest_first_in_pages,
    expected_versions_are_enforced,
    re_appending_an_event_is_a_no_op_and_a_changed_one_an_error,
    one_conflicting_append_does_not_sink_the_batch,
    a_failed_commit_fails_only_the_guilty_append,
    appends_the_store_could_not_read_back_are_refused,
    a_closed_ledger_refuses_appends,
    concurrent_appends_share_commits,
    racing_appenders_get_one_winner_per_version,
    verify_catches_an_edited_row,
    verify_catches_a_removed_row,
    rows_cannot_be_changed_through_sql,
    subscribers_see_new_events_in_order,
    followers_never_skip_a_late_commit,
    a_writing_follower_never_skips_its_own_commits_or_others,
    a_subscriber_gets_its_own_commit_whole_as_it_reads_back,
);

fn event(n: u64, text: &str) -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{n}:{text}").as_bytes()),
        event_type: "MessagePosted".into(),
        schema_version: 2,
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
    assert_eq!(stored.schema_version, 2);
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
    assert_eq!(stored.recorded_at.timestamp_subsec_nanos() % 1000, 0);
    assert_eq!(
        ledger.read_all(0, 10).await.unwrap(),
        ledger.read_stream("incident-1").await.unwrap()
    );
    assert!(ledger.contains_event(e.event_id).await.unwrap());
    assert!(!ledger.contains_event(uuid::Uuid::nil()).await.unwrap());
    // Texts shaped like the store's own page format (lengths, colons), several bytes a
    // character, control characters and NUL come back byte for byte.
    let odd = NewEvent {
        actor: "12:é🙂\u{1e}3:x:".into(),
        ..event(2, "4:ab\u{0}\n\u{1f}🙂 8:")
    };
    ledger
        .append("incident-1", ExpectedVersion::Exactly(1), vec![odd.clone()])
        .await
        .unwrap();
    let both = ledger.read_stream("incident-1").await.unwrap();
    assert_eq!(both[1].actor, odd.actor);
    assert_eq!(both[1].payload_json().unwrap(), odd.payload);
    assert_eq!(ledger.read_all(0, 10).await.unwrap(), both);
    let times = ledger.stream_times("incident-1").await.unwrap();
    assert_eq!(
        times.iter().map(|t| t.occurred_at).collect::<Vec<_>>(),
        both.iter().map(|e| e.occurred_at).collect::<Vec<_>>()
    );
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

async fn streams_read_in_pages_both_ways(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    let events: Vec<NewEvent> = (0..10).map(|i| event(i, "page")).collect();
    ledger
        .append("long", ExpectedVersion::NoStream, events)
        .await
        .unwrap();
    ledger
        .append("other", ExpectedVersion::NoStream, vec![event(99, "x")])
        .await
        .unwrap();
    let versions = |page: &[warroom::store::StoredEvent]| {
        page.iter().map(|e| e.stream_version).collect::<Vec<_>>()
    };
    let newest = ledger.read_stream_backward("long", None, 4).await.unwrap();
    assert_eq!(versions(&newest), [10, 9, 8, 7]);
    let next = ledger
        .read_stream_backward("long", Some(7), 4)
        .await
        .unwrap();
    assert_eq!(versions(&next), [6, 5, 4, 3]);
    let last = ledger
        .read_stream_backward("long", Some(3), 4)
        .await
        .unwrap();
    assert_eq!(versions(&last), [2, 1]);
    assert!(ledger
        .read_stream_backward("long", Some(1), 4)
        .await
        .unwrap()
        .is_empty());
    assert!(ledger
        .read_stream_backward("absent", None, 4)
        .await
        .unwrap()
        .is_empty());
    let first = ledger.read_stream_after("long", 0, 4).await.unwrap();
    assert_eq!(versions(&first), [1, 2, 3, 4]);
    let next = ledger.read_stream_after("long", 4, 4).await.unwrap();
    assert_eq!(versions(&next), [5, 6, 7, 8]);
    let last = ledger.read_stream_after("long", 8, 4).await.unwrap();
    assert_eq!(versions(&last), [9, 10]);
    assert!(ledger
        .read_stream_after("long", 10, 4)
        .await
        .unwrap()
        .is_empty());
    assert!(ledger
        .read_stream_after("absent", 0, 4)
        .await
        .unwrap()
        .is_empty());
}

async fn streams_are_found_by_prefix(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    for (n, stream) in [
        "release-2",
        "release-10",
        "releases",
        "release",
        "incident-1",
        "release-2",
        "deploys-app",
        "release.x",
    ]
    .iter()
    .enumerate()
    {
        ledger
            .append(stream, ExpectedVersion::Any, vec![event(n as u64, "s")])
            .await
            .unwrap();
    }
    assert_eq!(
        ledger.streams_with_prefix("release-").await.unwrap(),
        ["release-10", "release-2"]
    );
    assert_eq!(
        ledger.streams_with_prefix("deploys-").await.unwrap(),
        ["deploys-app"]
    );
    assert!(ledger
        .streams_with_prefix("shift-")
        .await
        .unwrap()
        .is_empty());
}

async fn events_are_found_by_the_start_of_their_id(url: &str) {
    use warroom::store::IdPrefix;
    let ledger = Ledger::open(url).await.unwrap();
    // Ids on both sides of each bound: a digit that carries across a hyphen, 9 → a, f → g.
    let ids: [u128; 7] = [
        0x1a2b3c4d_5eff_0000_0000_000000000000,
        0x1a2b3c4d_5e00_0000_0000_000000000000,
        0x1a2b3c4d_5f00_0000_0000_000000000000,
        0x1a2b3c4c_ffff_ffff_ffff_ffffffffffff,
        0x1a29ffff_0000_0000_0000_000000000000,
        0x1a2a0000_0000_0000_0000_000000000000,
        0xffffffff_ffff_ffff_ffff_ffffffffffff,
    ];
    for (n, id) in ids.iter().enumerate() {
        let mut e = event(n as u64, "by id");
        e.event_id = uuid::Uuid::from_u128(*id);
        ledger
            .append("s", ExpectedVersion::Any, vec![e])
            .await
            .unwrap();
    }
    let found = |prefix: &str, limit: usize| {
        let ledger = ledger.clone();
        let prefix = IdPrefix::parse(prefix).unwrap();
        async move {
            ledger
                .events_with_id_prefix(&prefix, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.position)
                .collect::<Vec<i64>>()
        }
    };
    assert_eq!(found("1a2b3c4d5e", 10).await, [1, 2], "by position");
    assert_eq!(found("1A2B-3C4D-5F", 10).await, [3]);
    assert_eq!(found("1a2b3c4d", 10).await, [1, 2, 3]);
    assert_eq!(found("1a2b3c4d", 2).await, [1, 2]);
    assert_eq!(found("1a2b3c4c", 10).await, [4]);
    assert_eq!(found("1a29", 10).await, [5]);
    assert_eq!(found("1a2a", 10).await, [6]);
    assert_eq!(found("ffff", 10).await, [7]);
    assert_eq!(found("ffffffff-ffff-ffff-ffff-ffffffffffff", 10).await, [7]);
    assert!(found("1a2b3c4e", 10).await.is_empty());
    assert!(found("0000", 10).await.is_empty());
}

async fn events_of_a_type_read_newest_first_in_pages(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    // Positions 1..=9 across two streams; every third is an alert.
    for n in 1..=9u64 {
        let mut e = event(n, "typed");
        if n % 3 == 0 {
            e.event_type = "AlertReceived".into();
        }
        let stream = if n % 2 == 0 { "a" } else { "b" };
        ledger
            .append(stream, ExpectedVersion::Any, vec![e])
            .await
            .unwrap();
    }
    let read = |before: Option<i64>, limit: usize| {
        let ledger = ledger.clone();
        async move {
            ledger
                .read_type_backward("AlertReceived", before, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.position, e.event_type))
                .collect::<Vec<_>>()
        }
    };
    let alert = |p: i64| (p, "AlertReceived".to_string());
    assert_eq!(read(None, 10).await, [alert(9), alert(6), alert(3)]);
    assert_eq!(read(None, 2).await, [alert(9), alert(6)]);
    assert_eq!(read(Some(6), 2).await, [alert(3)], "the next page, below 6");
    assert!(read(Some(3), 2).await.is_empty());
    assert!(ledger
        .read_type_backward("NoSuchType", None, 10)
        .await
        .unwrap()
        .is_empty());
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

/// Holds the store's write lock from outside, as a busy other instance would: the ledger's
/// writer blocks on its current commit while further appends queue up behind it, so the next
/// group commit deterministically takes them all.
enum WriteLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteLock {
    async fn hold(url: &str) -> WriteLock {
        use sqlx::Connection;
        if url.starts_with("sqlite") {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut c)
                .await
                .unwrap();
            WriteLock::Sqlite(c)
        } else {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut c).await.unwrap();
            sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
                .execute(&mut c)
                .await
                .unwrap();
            WriteLock::Postgres(c)
        }
    }

    async fn release(self) {
        match self {
            WriteLock::Sqlite(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            }
            WriteLock::Postgres(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            }
        }
    }
}

/// Queues appends in the order given while the writer is held up, then lets it go: the first
/// commits alone, the others form one batch. Returns their outcomes and how many commits
/// succeeded meanwhile.
async fn in_one_batch(
    url: &str,
    ledger: &Ledger,
    requests: Vec<(&str, ExpectedVersion, Vec<NewEvent>)>,
) -> (Vec<Result<Appended, AppendError>>, u64) {
    let lock = WriteLock::hold(url).await;
    let blocker = {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            ledger
                .append("blocker", ExpectedVersion::Any, vec![event(999_999, "b")])
                .await
        })
    };
    // Time for the writer to take the blocker alone and wait on the lock with it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let commits_before = ledger.stats().commits;
    // join_all polls each append once, in order, on its first poll: that queues them in
    // this order before any can be answered.
    let appends = futures_util::future::join_all(
        requests
            .into_iter()
            .map(|(stream, expected, events)| ledger.append(stream, expected, events)),
    );
    let release = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        lock.release().await;
    };
    let (outcomes, ()) = tokio::join!(appends, release);
    blocker.await.unwrap().unwrap();
    (outcomes, ledger.stats().commits - commits_before)
}

async fn one_conflicting_append_does_not_sink_the_batch(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    ledger
        .append("taken", ExpectedVersion::NoStream, vec![event(0, "x")])
        .await
        .unwrap();
    let (outcomes, commits) = in_one_batch(
        url,
        &ledger,
        vec![
            ("x", ExpectedVersion::NoStream, vec![event(1, "a")]),
            // Sees the previous request's effect although neither is committed yet.
            ("x", ExpectedVersion::Exactly(1), vec![event(2, "b")]),
            ("x", ExpectedVersion::Exactly(1), vec![event(3, "stale")]),
            ("taken", ExpectedVersion::NoStream, vec![event(4, "late")]),
            (
                "y",
                ExpectedVersion::Any,
                vec![event(5, "c"), event(6, "d")],
            ),
            // A re-send of an event stored earlier in this very batch.
            ("x", ExpectedVersion::NoStream, vec![event(1, "a")]),
        ],
    )
    .await;
    assert_eq!(
        commits, 2,
        "the blocker, then all six requests in one commit"
    );
    let mut outcomes = outcomes.into_iter();
    let mut next = || outcomes.next().unwrap();
    let a = next().unwrap();
    assert_eq!((a.first_position, a.stream_version), (3, 1));
    assert_eq!(next().unwrap().stream_version, 2);
    match next() {
        Err(AppendError::Conflict {
            stream,
            expected,
            actual,
        }) => assert_eq!(
            (stream.as_str(), expected, actual),
            ("x", ExpectedVersion::Exactly(1), 2)
        ),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        next(),
        Err(AppendError::Conflict { actual: 1, .. })
    ));
    let y = next().unwrap();
    assert_eq!((y.first_position, y.last_position), (5, 6));
    let again = next().unwrap();
    assert!(again.already_stored);
    assert_eq!((again.first_position, again.stream_version), (3, 2));
    assert_eq!(ledger.head().await.unwrap(), 6);
    assert_eq!(ledger.stats().events_written, 6);
    assert!(ledger.verify().await.unwrap().problem.is_none());
}

async fn a_failed_commit_fails_only_the_guilty_append(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    // A trigger refusing one stream's rows makes the whole transaction fail, as a row the
    // database cannot take would.
    let poison: &[&str] = if url.starts_with("sqlite") {
        &[
            "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.stream_id = 'poison' \
           BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
        ]
    } else {
        &[
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.stream_id = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; \
             RETURN NEW; END $$",
            "CREATE TRIGGER poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION poison()",
        ]
    };
    common::raw_sql(url, poison).await;
    let (outcomes, commits) = in_one_batch(
        url,
        &ledger,
        vec![
            ("fine", ExpectedVersion::Any, vec![event(1, "a")]),
            ("poison", ExpectedVersion::Any, vec![event(2, "p")]),
            ("fine", ExpectedVersion::Any, vec![event(3, "b")]),
        ],
    )
    .await;
    assert_eq!(
        commits, 3,
        "the blocker; then the batch failed and the two innocent appends committed one by one"
    );
    let mut outcomes = outcomes.into_iter();
    assert_eq!(outcomes.next().unwrap().unwrap().stream_version, 1);
    match outcomes.next().unwrap() {
        Err(AppendError::Store(e)) => assert!(e.to_string().contains("poisoned"), "{e}"),
        other => panic!("expected the poisoned append to fail, got {other:?}"),
    }
    assert_eq!(outcomes.next().unwrap().unwrap().stream_version, 2);
    assert_eq!(
        ledger.head().await.unwrap(),
        3,
        "the blocker and both fine events"
    );
    assert!(ledger.writable().await.is_ok(), "the store takes writes");
    assert!(ledger.verify().await.unwrap().problem.is_none());
}

async fn appends_the_store_could_not_read_back_are_refused(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    let at = |y: i32| Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap();
    let mut refused = Vec::new();
    for (n, tweak) in [
        (
            1,
            (|e: &mut NewEvent| e.occurred_at = Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap())
                as fn(&mut NewEvent),
        ),
        (2, |e: &mut NewEvent| {
            e.occurred_at = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap()
        }),
        (3, |e: &mut NewEvent| {
            e.occurred_at = Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap()
        }),
        (4, |e: &mut NewEvent| e.actor = "sv\0ega".into()),
        (5, |e: &mut NewEvent| {
            e.event_type = "Message\0Posted".into()
        }),
    ] {
        let mut e = event(n, "x");
        tweak(&mut e);
        refused.push(ledger.append("odd", ExpectedVersion::Any, vec![e]).await);
    }
    let refused_stream = ledger
        .append("chan\0nel-ops", ExpectedVersion::Any, vec![event(6, "x")])
        .await;
    refused.push(refused_stream);
    for (i, outcome) in refused.into_iter().enumerate() {
        match outcome {
            Err(AppendError::Invalid(why)) => assert!(
                why.contains("outside the times warroom accepts") || why.contains("NUL"),
                "{i}: {why}"
            ),
            other => panic!("{i}: expected a refusal, got {other:?}"),
        }
    }
    // The bounds themselves, a NUL inside the payload, and the rows around them are kept
    // and read back identically.
    let mut first = event(7, "nul \0 inside the text");
    first.occurred_at = at(1970);
    let mut last = event(8, "y");
    last.occurred_at = warroom::time_range::latest();
    ledger
        .append(
            "odd",
            ExpectedVersion::Any,
            vec![first.clone(), last.clone()],
        )
        .await
        .unwrap();
    let stored = ledger.read_stream("odd").await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].occurred_at, first.occurred_at);
    assert_eq!(stored[1].occurred_at, last.occurred_at);
    assert_eq!(stored[0].payload_json().unwrap(), first.payload);
    assert_eq!(ledger.read_all(0, 10).await.unwrap().len(), 2);
    assert!(ledger.verify().await.unwrap().problem.is_none());
}

async fn a_closed_ledger_refuses_appends(url: &str) {
    // `warroom migrate` migrates without opening a ledger; opening without migrating then works.
    warroom::store::migrate(url).await.unwrap();
    let options = LedgerOptions {
        migrate: false,
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open_with(url, options).await.unwrap();
    let clone = ledger.clone();
    ledger
        .append("s", ExpectedVersion::Any, vec![event(1, "a")])
        .await
        .unwrap();
    ledger.close().await;
    let err = clone
        .append("s", ExpectedVersion::Any, vec![event(2, "b")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppendError::Store(StoreError::WriterStopped)),
        "{err}"
    );
    // `sqlite:PATH` names the same file as `sqlite://PATH`.
    let reopened = Ledger::open(&url.replacen("sqlite://", "sqlite:", 1))
        .await
        .unwrap();
    assert_eq!(reopened.head().await.unwrap(), 1);
}

#[tokio::test]
async fn open_errors_name_the_store_but_not_its_password() {
    for (url, reason) in [
        ("postgres://warroom:s3cret@127.0.0.1:1/warroom", "refused"),
        ("mysql://warroom:s3cret@db/warroom", "must start with"),
    ] {
        let err = Ledger::open(url).await.err().expect("cannot open");
        assert!(matches!(err, StoreError::Open { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("warroom:***@") && !text.contains("s3cret") && text.contains(reason),
            "{text}"
        );
    }
    let err = Ledger::open("sqlite:///nonexistent-dir/warroom.db")
        .await
        .err()
        .expect("cannot open");
    assert!(err.to_string().contains("unable to open"), "{err}");
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
    // On PostgreSQL another instance writes, so the wake-up must come through NOTIFY; SQLite
    // has one writing process, whose own commits wake its subscribers.
    let writer = if ledger.backend() == "postgres" {
        Ledger::open(url).await.unwrap()
    } else {
        ledger.clone()
    };
    let (done, mut appended) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        for i in 2..=11 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let a = writer
                .append("s", ExpectedVersion::Any, vec![event(i, "after")])
                .await
                .unwrap();
            done.send((a.first_position, std::time::Instant::now()))
                .unwrap();
        }
    });
    for expected in 2..=11 {
        let e = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("woken in time")
            .unwrap();
        let seen = std::time::Instant::now();
        assert_eq!(e.position, expected);
        let (position, committed) = appended.recv().await.unwrap();
        assert_eq!(position, expected);
        // Well under the 1 s re-read timer: the commit itself woke the subscriber.
        let lag = seen.saturating_duration_since(committed);
        assert!(
            lag < Duration::from_millis(500),
            "woken {lag:?} after the commit"
        );
    }
}

/// Several instances (separate pools, as separate processes would be) append at once while
/// a follower reads in global order: it must see every position exactly once, none skipped.
async fn followers_never_skip_a_late_commit(url: &str) {
    four_writers_and_a_follower(url, false).await;
}

/// The follower is one of the writers: its own commits are handed over without a read,
/// the others' are read from the store, and between them it still sees every position once.
async fn a_writing_follower_never_skips_its_own_commits_or_others(url: &str) {
    four_writers_and_a_follower(url, true).await;
}

/// A subscription of the writing ledger gets one commit as one batch, each row exactly what
/// reading the store gives back.
async fn a_subscriber_gets_its_own_commit_whole_as_it_reads_back(url: &str) {
    let ledger = Ledger::open(url).await.unwrap();
    ledger
        .append("s", ExpectedVersion::Any, vec![event(0, "before")])
        .await
        .unwrap();
    let mut sub = ledger.subscribe(1);
    let events: Vec<NewEvent> = (1..=100).map(|n| event(n, "one commit")).collect();
    ledger
        .append("s", ExpectedVersion::Exactly(1), events)
        .await
        .unwrap();
    let batch = tokio::time::timeout(Duration::from_secs(5), sub.next_batch())
        .await
        .expect("woken in time")
        .unwrap();
    let read = ledger.read_all(1, 1_000).await.unwrap();
    assert_eq!(read.len(), 100);
    assert_eq!(*batch, read);
}

async fn four_writers_and_a_follower(url: &str, follower_writes: bool) {
    let instances: Vec<Ledger> =
        futures_util::future::try_join_all((0..4).map(|_| Ledger::open(url)))
            .await
            .unwrap();
    let follower = if follower_writes {
        instances[0].clone()
    } else {
        Ledger::open(url).await.unwrap()
    };
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

/// Instances started together on a new SQLite file race to switch it to WAL and to migrate
/// it (sqlx takes no migration lock on SQLite); every one must open. PostgreSQL migrations
/// take an advisory lock, and `followers_never_skip_a_late_commit` opens its instances together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_opening_a_new_sqlite_file_together_all_open() {
    // A lost race showed up in about one try in fifteen before opening retried.
    for _ in 0..40 {
        let (_dir, url) = common::fresh_sqlite_url();
        let ledgers = futures_util::future::try_join_all((0..5).map(|_| Ledger::open(&url)))
            .await
            .unwrap();
        assert_eq!(ledgers[4].head().await.unwrap(), 0);
    }
}

/// SQLite's WAL is copied back into the database file in the background while commits come,
/// not only by the writer itself inside a commit once thousands of pages have piled up: in
/// a steady load, commits then do not stop to checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_in_the_background_between_commits() {
    let (dir, url) = common::fresh_sqlite_url();
    let ledger = Ledger::open(&url).await.unwrap();
    let file = dir.path().join("warroom.db");
    let size = || std::fs::metadata(&file).unwrap().len();
    let before = size();
    // About 600 KB in 20 commits: a few hundred WAL pages, far below the writer's own
    // threshold, so only the background checkpoint can move them into the file.
    let text = "x".repeat(600);
    for n in 0..20u64 {
        let events = (0..50).map(|i| event(n * 50 + i, &text)).collect();
        ledger
            .append("channel-ops", ExpectedVersion::Any, events)
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while size() < before + 500_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        size() >= before + 500_000,
        "the database file grew from {before} to only {} bytes: the WAL was not checkpointed",
        size()
    );
    ledger.close().await;
}

/// A PostgreSQL ledger written while event ids were text is upgraded to `uuid` ids when
/// opened, with every id and hash unchanged and the chain still verifying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_ledger_with_text_ids_is_upgraded_in_place() {
    use sqlx::Connection;
    let Some(url) = common::fresh_postgres_url().await else {
        return;
    };
    let ledger = Ledger::open(&url).await.unwrap();
    for i in 0..6 {
        ledger
            .append(
                &format!("s{}", i % 2),
                ExpectedVersion::Any,
                vec![event(i, "kept")],
            )
            .await
            .unwrap();
    }
    let written: Vec<_> = ledger
        .read_all(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.position, e.event_id, e.hash))
        .collect();
    ledger.close().await;
    // The schema as the migrations before this one left it.
    common::raw_sql(
        &url,
        &[
            "ALTER TABLE events ALTER COLUMN event_id TYPE text",
            "DELETE FROM _sqlx_migrations WHERE version = 4",
        ],
    )
    .await;
    let column_type = || async {
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        let t: String = sqlx::query_scalar(
            "SELECT data_type FROM information_schema.columns \
             WHERE table_name = 'events' AND column_name = 'event_id'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        t
    };
    assert_eq!(column_type().await, "text");

    let ledger = Ledger::open(&url).await.unwrap();
    assert_eq!(column_type().await, "uuid");
    let read: Vec<_> = ledger
        .read_all(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.position, e.event_id, e.hash))
        .collect();
    assert_eq!(read, written);
    let report = ledger.verify().await.unwrap();
    assert_eq!((report.events, report.problem), (6, None));
    // Still found by the start of an id, and still refusing a second copy of one.
    let first = written[0].1;
    let prefix = warroom::store::IdPrefix::parse(&first.to_string()[..8]).unwrap();
    let found = ledger.events_with_id_prefix(&prefix, 10).await.unwrap();
    assert!(found.iter().any(|e| e.event_id == first));
    let again = ledger
        .append("s0", ExpectedVersion::Any, vec![event(0, "kept")])
        .await
        .unwrap();
    assert!(again.already_stored);
}

/// On PostgreSQL a ledger learns of other instances' commits without asking the store, and
/// still does after its listening connection is cut: a commit made while it was down
/// reaches the head it knows once it listens again, and meanwhile it does not claim to know.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_ledger_knows_other_writers_heads_across_a_lost_listener() {
    use sqlx::Connection;
    let Some(url) = common::fresh_postgres_url().await else {
        return;
    };
    let (watcher, writer) = (
        Ledger::open(&url).await.unwrap(),
        Ledger::open(&url).await.unwrap(),
    );
    assert!(watcher.head_is_known());
    let reaches = |ledger: Ledger, head: i64| async move {
        for _ in 0..100 {
            if ledger.head_is_known() && ledger.known_head() >= head {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    let first = writer
        .append("s", ExpectedVersion::Any, vec![event(1, "notified")])
        .await
        .unwrap();
    assert!(reaches(watcher.clone(), first.last_position).await);

    // Cut every listening connection to this database, and commit at once.
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    let cut: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(cut.len(), 2, "one listener per ledger");
    for pid in &cut {
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&mut admin)
            .await
            .unwrap();
    }
    let during = writer
        .append("s", ExpectedVersion::Any, vec![event(2, "while cut")])
        .await
        .unwrap();
    assert!(
        reaches(watcher.clone(), during.last_position).await,
        "the commit made while the listener was cut is counted once it listens again"
    );
    let after = writer
        .append("s", ExpectedVersion::Any, vec![event(3, "notified again")])
        .await
        .unwrap();
    assert!(reaches(watcher.clone(), after.last_position).await);
    watcher.close().await;
    writer.close().await;
}
