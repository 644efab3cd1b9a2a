//! The `Ledger`: the store's public face. Appends go to one writer task that commits whatever
//! is queued in one transaction (group commit); reads go straight to the backend.

use super::backend::{raise_head, Backend, Snapshot};
use super::chain::{self, ChainFields};
use super::id_prefix::IdPrefix;
use super::plan::AppendRequest;
use super::{
    AppendError, Appended, ExpectedVersion, NewEvent, StoreError, StoredEvent, StreamTime,
};
use chrono::Utc;
use sqlx::migrate::Migrator;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use uuid::Uuid;

/// Tuning for [`Ledger::open_with`].
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// Most events one group commit takes (bounded so one transaction stays short).
    pub max_batch_events: usize,
    /// Apply migrations at open.
    pub migrate: bool,
    /// Open for reading only: appends are refused, and on SQLite no writer lock is taken, so
    /// this works beside a running `warroom serve` (see [`Ledger::open_read_only`]).
    pub read_only: bool,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            max_batch_events: 2000,
            migrate: true,
            read_only: false,
        }
    }
}

/// Counters for group-commit evidence and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerStats {
    /// Transactions committed by this ledger's writer.
    pub commits: u64,
    /// Events those transactions wrote.
    pub events_written: u64,
}

/// The schema against the migrations this build embeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// Every migration is applied, and nothing else.
    Current,
    /// These migrations are not applied yet (`warroom migrate` applies them).
    Behind(Vec<i64>),
    /// These applied migrations are unknown to this build: a newer warroom migrated it.
    Newer(Vec<i64>),
}

/// The first place the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyProblem {
    /// The position where the break shows: the altered row, or the missing position.
    pub position: i64,
    /// What is wrong there, in plain words.
    pub what: String,
}

impl std::fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at position {}: {}", self.position, self.what)
    }
}

/// The result of walking the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events checked.
    pub events: i64,
    /// The hash of the last event: write it down elsewhere to detect a rewrite of the whole chain.
    pub head_hash: String,
    /// The first break found, if any; nothing after it is checked.
    pub problem: Option<VerifyProblem>,
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            None => write!(
                f,
                "ledger intact: {} events, head hash {}",
                self.events, self.head_hash
            ),
            Some(problem) => write!(
                f,
                "ledger broken {problem}; the {} events before it check out (last good hash {})",
                self.events, self.head_hash
            ),
        }
    }
}

/// An append the writer has queued: awaiting it gives its outcome once it is committed.
#[must_use = "an append is only known durable once its answer is awaited"]
pub struct QueuedAppend {
    answer: oneshot::Receiver<Result<Appended, AppendError>>,
    started: std::time::Instant,
}

impl std::future::Future for QueuedAppend {
    type Output = Result<Appended, AppendError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.get_mut();
        std::future::Future::poll(std::pin::Pin::new(&mut this.answer), cx).map(|answer| {
            crate::metrics::get().append_took(this.started.elapsed());
            answer.unwrap_or_else(|_| Err(StoreError::WriterStopped.into()))
        })
    }
}

/// What the writer task is asked to do.
enum Job {
    Append(
        AppendRequest,
        oneshot::Sender<Result<Appended, AppendError>>,
    ),
    /// Answered once everything queued before it is committed.
    Flush(oneshot::Sender<()>),
}

/// Shared by every clone of a [`Ledger`]; dropping the last clone stops the writer.
struct Inner {
    /// The database, behind the one interface both backends implement.
    backend: Arc<dyn Backend>,
    /// Feeds the writer task; the writer stops when this is dropped.
    jobs: mpsc::Sender<Job>,
    /// The latest known head, published after each commit (and, on PostgreSQL, after other
    /// instances' commits) to wake subscriptions.
    heads: Arc<watch::Sender<i64>>,
    /// Every commit of this writer, its rows as stored, handed to this ledger's
    /// subscriptions so they need not read back what was just written.
    committed: broadcast::Sender<Arc<Vec<StoredEvent>>>,
    /// Group commits done by this writer, for evidence and benchmarks.
    commits: AtomicU64,
    /// Events those commits wrote.
    events_written: AtomicU64,
    /// Set by `close`, so clones refuse new appends instead of racing the closing pools.
    closed: AtomicBool,
    /// Opened with [`LedgerOptions::read_only`]: appends are refused.
    read_only: bool,
    /// This process is the store's only writer, so `heads` is the store's head.
    sole_writer: bool,
    /// Other writers' commits reach `heads` (PostgreSQL, while listening).
    followed: Arc<AtomicBool>,
    /// Dropped with the ledger, which stops the PostgreSQL listener task.
    _stop_listener: oneshot::Sender<()>,
    /// Why the last commit failed, while no commit has succeeded since: readiness reports
    /// the store unwritable meanwhile.
    write_failure: std::sync::Mutex<Option<String>>,
    /// `sqlite` or `postgres`.
    backend_name: &'static str,
    /// The URL with the password hidden, for messages.
    display_url: String,
}

impl Inner {
    fn note_write_failure(&self, e: &StoreError) {
        *self.write_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
    }

    fn note_write_success(&self) {
        self.write_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    fn last_write_failure(&self) -> Option<String> {
        self.write_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The append-only, hash-chained event store. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

impl Ledger {
    /// Opens `sqlite://PATH` (created if missing) or `postgres://…`, applying migrations.
    /// On SQLite this process becomes the file's one writer: [`StoreError::InUse`] when
    /// another process already is (ledgers opened in the same process share the role).
    pub async fn open(url: &str) -> Result<Ledger, StoreError> {
        Ledger::open_with(url, LedgerOptions::default()).await
    }

    /// Opens for reading only (`verify`, `export`, `incidents`, `postmortem`, …): no writer
    /// lock is taken, so it works while `warroom serve` runs on the same SQLite file (WAL lets
    /// readers and the writer run together); appends answer [`StoreError::ReadOnly`].
    pub async fn open_read_only(url: &str) -> Result<Ledger, StoreError> {
        Ledger::open_with(
            url,
            LedgerOptions {
                read_only: true,
                // Reading never writes, not even a schema: an emptied file must not be made
                // into a new, empty ledger that verifies.
                migrate: false,
                ..LedgerOptions::default()
            },
        )
        .await
    }

    /// Opens with explicit options; see [`LedgerOptions`].
    pub async fn open_with(url: &str, options: LedgerOptions) -> Result<Ledger, StoreError> {
        let (backend, name) = open_backend(url, options.migrate, !options.read_only).await?;
        let head = backend.head().await.map_err(|e| {
            let hint = if options.migrate {
                ""
            } else {
                " (opened without migrating: a store from an older warroom needs `warroom migrate` first)"
            };
            StoreError::Open {
                url: redact(url),
                reason: format!("{e}{hint}"),
            }
        })?;
        let shared = backend.sole_writer_heads();
        let sole_writer = shared.is_some();
        let heads = shared.unwrap_or_else(|| Arc::new(watch::channel(0).0));
        raise_head(&heads, head);
        let (stop_listener, stop) = oneshot::channel();
        let followed = Arc::new(AtomicBool::new(false));
        backend
            .follow_other_writers(heads.clone(), followed.clone(), stop)
            .await?;
        let (jobs, queue) = mpsc::channel(4096);
        let inner = Arc::new(Inner {
            backend,
            jobs,
            heads,
            committed: broadcast::channel(COMMITS_HANDED_OVER).0,
            commits: AtomicU64::new(0),
            events_written: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            read_only: options.read_only,
            sole_writer,
            followed,
            write_failure: std::sync::Mutex::new(None),
            _stop_listener: stop_listener,
            backend_name: name,
            display_url: redact(url),
        });
        tokio::spawn(write_loop(
            Arc::downgrade(&inner),
            inner.backend.clone(),
            queue,
            options.max_batch_events.max(1),
        ));
        Ok(Ledger { inner })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.inner.backend_name
    }

    /// The URL with any password replaced by `***`.
    pub fn display_url(&self) -> &str {
        &self.inner.display_url
    }

    /// Appends events to a stream if its version is as expected; durable when this returns.
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, AppendError> {
        self.queue_append(stream, expected, events).await?.await
    }

    /// Queues an append behind every append queued before it and returns at once, with what
    /// answers when it is committed (durable) or refused. Appends queued one after another
    /// get positions in that order, so a caller that decides inputs in order can have many
    /// in flight and still record them in its order (a replay does; see `app::replay`).
    pub async fn queue_append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<QueuedAppend, AppendError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::WriterStopped.into());
        }
        if self.inner.read_only {
            return Err(StoreError::ReadOnly.into());
        }
        storable(stream, &events)?;
        let started = std::time::Instant::now();
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            stream: stream.to_string(),
            expected,
            events,
        };
        self.inner
            .jobs
            .send(Job::Append(request, reply))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        Ok(QueuedAppend { answer, started })
    }

    /// Whether this process is the only writer of the store, so [`Ledger::known_head`] is
    /// the store's head: an SQLite file opened for writing (its writer lock keeps other
    /// processes out, and every ledger of this process on the file shares one head).
    pub fn sole_writer(&self) -> bool {
        self.inner.sole_writer
    }

    /// Whether [`Ledger::known_head`] counts every commit made to the store, so a reader
    /// at that head has nothing to read. On an SQLite file opened for writing, this process
    /// is the only writer (its writer lock keeps other processes out, and every ledger of
    /// this process on the file shares one head). On PostgreSQL, while the listener is
    /// connected: another instance's commit reaches it one notification later, about a
    /// millisecond, which is the same as a request that came in that much sooner; a commit
    /// refused for what another wrote first raises the head to what the store holds, so a
    /// decision taken again reads it.
    pub fn head_is_known(&self) -> bool {
        self.inner.sole_writer || self.inner.followed.load(Ordering::Acquire)
    }

    /// Every event of one stream, by version; empty when the stream does not exist. Read a
    /// page at a time (`read_stream_after`).
    pub async fn read_stream(&self, stream: &str) -> Result<Vec<StoredEvent>, StoreError> {
        const PAGE: usize = 2_000;
        let mut events = Vec::new();
        loop {
            let after = events.last().map_or(0, |e: &StoredEvent| e.stream_version);
            let page = self.read_stream_after(stream, after, PAGE).await?;
            let full = page.len() == PAGE;
            events.extend(page);
            if !full {
                return Ok(events);
            }
        }
    }

    /// Every event of a stream as its version, position and time, in stream order: the
    /// little a reader needs to take a long stream's events in time order while reading
    /// them a page at a time.
    pub async fn stream_times(&self, stream: &str) -> Result<Vec<StreamTime>, StoreError> {
        self.inner.backend.stream_times(stream).await
    }

    /// Up to `limit` events of a stream, oldest first, with versions above `after_version`:
    /// pages through a long stream so that a reader converts each page before the next
    /// arrives instead of holding every row at once.
    pub async fn read_stream_after(
        &self,
        stream: &str,
        after_version: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner
            .backend
            .read_stream_after(stream, after_version, limit.clamp(1, 100_000) as i64)
            .await
    }

    /// Up to `limit` events of a stream, newest first, with versions below `before_version`
    /// (`None`: from the end). Pages back through a long stream without reading all of it.
    pub async fn read_stream_backward(
        &self,
        stream: &str,
        before_version: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner
            .backend
            .read_stream_backward(
                stream,
                before_version.unwrap_or(i64::MAX),
                limit.clamp(1, 100_000) as i64,
            )
            .await
    }

    /// The stream's last version; 0 when it does not exist.
    pub async fn stream_version(&self, stream: &str) -> Result<i64, StoreError> {
        self.inner.backend.stream_version(stream).await
    }

    /// Ids of the streams whose id starts with `prefix` (`release-`, `deploys-`), in byte
    /// order: what a reader of one kind of stream reads instead of the whole ledger.
    pub async fn streams_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.backend.streams_with_prefix(prefix).await
    }

    /// Up to `limit` events with positions after `after_position`, in order.
    pub async fn read_all(
        &self,
        after_position: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.inner
            .backend
            .read_all(after_position, limit.min(100_000) as i64)
            .await
    }

    /// Up to `limit` events of one type (`AlertReceived`), newest first, with positions
    /// below `before_position` (`None`: from the head): what a list of recent events of a
    /// kind reads, a page at a time, without reading the streams they are in.
    pub async fn read_type_backward(
        &self,
        event_type: &str,
        before_position: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner
            .backend
            .read_type_backward(
                event_type,
                before_position.unwrap_or(i64::MAX),
                limit.clamp(1, 100_000) as i64,
            )
            .await
    }

    /// Up to `limit` events whose id starts with `prefix`, in position order: what a short
    /// reference in a document (`[1a2b3c4d]`) points at. One index range, whatever the
    /// ledger's size.
    pub async fn events_with_id_prefix(
        &self,
        prefix: &IdPrefix,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.inner
            .backend
            .events_with_id_prefix(prefix, limit.min(100_000) as i64)
            .await
    }

    /// The last position this process has seen committed (its own commits, and on
    /// PostgreSQL other instances'), without asking the store.
    pub fn known_head(&self) -> i64 {
        *self.inner.heads.borrow()
    }

    /// The last position; 0 when the ledger is empty.
    pub async fn head(&self) -> Result<i64, StoreError> {
        self.inner.backend.head().await
    }

    /// The last position and its hash (0 and the genesis hash when empty): where the next
    /// event chains on.
    pub(crate) async fn last(&self) -> Result<(i64, String), StoreError> {
        let head = self.head().await?;
        if head == 0 {
            return Ok((0, chain::GENESIS.to_string()));
        }
        match self.read_all(head - 1, 1).await?.pop() {
            Some(e) if e.position == head => Ok((e.position, e.hash)),
            _ => Err(StoreError::Corrupt {
                position: head,
                reason: "the last position cannot be read back".into(),
            }),
        }
    }

    /// Inserts rows whose chain the caller checked, exactly as given, if the store still ends
    /// at `expected_head`; returns the head found otherwise (nothing written). Only for
    /// [`super::portable::import`].
    pub(crate) async fn insert_verbatim(
        &self,
        expected_head: &(i64, String),
        rows: &[StoredEvent],
    ) -> Result<Option<(i64, String)>, StoreError> {
        if self.inner.read_only {
            return Err(StoreError::ReadOnly);
        }
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::WriterStopped);
        }
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        let found = self
            .inner
            .backend
            .insert_verbatim(expected_head, rows)
            .await?;
        if found.is_none() {
            // Wake this process's subscribers as a commit by the writer would.
            let head = last.position;
            raise_head(&self.inner.heads, head);
        }
        Ok(found)
    }

    /// Whether the store takes writes, for readiness. After a failed commit (a full disk, a
    /// lost connection) and until one succeeds, a probe write outside the ledger tells: the
    /// error says why the store is unwritable, and a probe that succeeds clears it, so
    /// readiness comes back when the disk has room again even while no traffic arrives.
    pub async fn writable(&self) -> Result<(), String> {
        if self.inner.read_only || self.inner.last_write_failure().is_none() {
            return Ok(());
        }
        match self.inner.backend.probe_write().await {
            Ok(()) => {
                self.inner.note_write_success();
                Ok(())
            }
            Err(e) => {
                let failure = format!("the store takes no writes: {e}");
                *self
                    .inner
                    .write_failure
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(failure.clone());
                Err(failure)
            }
        }
    }

    /// Whether an event with this id is stored, e.g. to skip an input already recorded.
    pub async fn contains_event(&self, id: Uuid) -> Result<bool, StoreError> {
        self.inner.backend.contains_event(id).await
    }

    /// How the schema compares with this build's migrations (for `/readyz`).
    pub async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        let applied = self.inner.backend.applied_migrations().await?;
        let known: Vec<i64> = migrator_for_backend(self.inner.backend_name)
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .collect();
        let unknown: Vec<i64> = applied
            .iter()
            .filter(|v| !known.contains(v))
            .copied()
            .collect();
        if !unknown.is_empty() {
            return Ok(SchemaState::Newer(unknown));
        }
        let missing: Vec<i64> = known
            .iter()
            .filter(|v| !applied.contains(v))
            .copied()
            .collect();
        Ok(if missing.is_empty() {
            SchemaState::Current
        } else {
            SchemaState::Behind(missing)
        })
    }

    /// Every event after `after_position`, in order, waiting for new ones; see [`Subscription`].
    pub fn subscribe(&self, after_position: i64) -> Subscription {
        Subscription {
            backend: self.inner.backend.clone(),
            heads: self.inner.heads.subscribe(),
            committed: self.inner.committed.subscribe(),
            after: after_position,
            buffer: VecDeque::new(),
        }
    }

    /// What this instance's writer has committed since it opened.
    pub fn stats(&self) -> LedgerStats {
        LedgerStats {
            commits: self.inner.commits.load(Ordering::Relaxed),
            events_written: self.inner.events_written.load(Ordering::Relaxed),
        }
    }

    /// Walks the whole ledger: positions gapless from 1, each hash recomputed, stream versions
    /// gapless from 1. Reports the first break.
    pub async fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.verify_witnessed(&[]).await
    }

    /// [`Ledger::verify`], and also against heads witnessed outside the database (`(position,
    /// hash)`, see [`crate::witness`]): the hash at each witnessed position must be the one
    /// witnessed, and the ledger must reach the furthest witnessed position — the chain alone
    /// cannot show events cut from its end.
    pub async fn verify_witnessed(
        &self,
        witnessed: &[(i64, String)],
    ) -> Result<VerifyReport, StoreError> {
        self.walk(witnessed, None).await
    }

    /// The walk of [`Ledger::verify`] from the first position up to and including `position`
    /// only: whether one event and everything before it are as appended (what `warroom show`
    /// says of the event it prints). Later events are not read.
    pub async fn verify_through(&self, position: i64) -> Result<VerifyReport, StoreError> {
        self.walk(&[], Some(position)).await
    }

    /// Walks the chain from position 1 to the end, or to `through`; see [`Ledger::verify`].
    async fn walk(
        &self,
        witnessed: &[(i64, String)],
        through: Option<i64>,
    ) -> Result<VerifyReport, StoreError> {
        let mut witnessed_at: HashMap<i64, Vec<&str>> = HashMap::new();
        for (position, hash) in witnessed {
            witnessed_at.entry(*position).or_default().push(hash);
        }
        let mut prev_hash = chain::GENESIS.to_string();
        let mut expected_position = 1;
        let mut versions: HashMap<String, i64> = HashMap::new();
        let report = |problem: VerifyProblem, events: i64, head_hash: String| VerifyReport {
            events,
            head_hash,
            problem: Some(problem),
        };
        loop {
            let page = match through {
                Some(last) if last < expected_position => break,
                Some(last) => (last - expected_position + 1).min(5000) as usize,
                None => 5000,
            };
            let batch = self.read_all(expected_position - 1, page).await?;
            if batch.is_empty() {
                break;
            }
            for e in batch {
                let checked = expected_position - 1;
                if e.position != expected_position {
                    return Ok(report(
                        VerifyProblem {
                            position: expected_position,
                            what: format!(
                                "position {expected_position} is missing (the next stored is {})",
                                e.position
                            ),
                        },
                        checked,
                        prev_hash,
                    ));
                }
                let hash = chain::hash(
                    &prev_hash,
                    &ChainFields {
                        position: e.position,
                        stream_id: &e.stream_id,
                        stream_version: e.stream_version,
                        event_id: e.event_id,
                        event_type: &e.event_type,
                        schema_version: e.schema_version,
                        occurred_at: e.occurred_at,
                        recorded_at: e.recorded_at,
                        actor: &e.actor,
                        payload: &e.payload,
                    },
                );
                if hash != e.hash {
                    return Ok(report(
                        VerifyProblem { position: e.position, what: "hash mismatch: the row was altered, or an earlier row was removed or altered".into() },
                        checked,
                        prev_hash,
                    ));
                }
                if let Some(other) = witnessed_at
                    .get(&e.position)
                    .and_then(|hashes| hashes.iter().find(|h| !h.eq_ignore_ascii_case(&hash)))
                {
                    return Ok(report(
                        VerifyProblem {
                            position: e.position,
                            what: format!(
                                "the hash here is not the witnessed one ({other}): the ledger was rewritten at or before this position"
                            ),
                        },
                        checked,
                        prev_hash,
                    ));
                }
                let version = versions.entry(e.stream_id.clone()).or_insert(0);
                if e.stream_version != *version + 1 {
                    return Ok(report(
                        VerifyProblem {
                            position: e.position,
                            what: format!(
                                "stream {} jumps from version {} to {}",
                                e.stream_id, version, e.stream_version
                            ),
                        },
                        checked,
                        prev_hash,
                    ));
                }
                *version = e.stream_version;
                prev_hash = hash;
                expected_position += 1;
            }
        }
        let events = expected_position - 1;
        if let Some(last) = through.filter(|last| events < *last) {
            return Ok(report(
                VerifyProblem {
                    position: events + 1,
                    what: format!("the ledger ends at position {events}, before position {last}"),
                },
                events,
                prev_hash,
            ));
        }
        if let Some(furthest) = witnessed_at.keys().copied().filter(|p| *p > events).max() {
            return Ok(report(
                VerifyProblem {
                    position: events + 1,
                    what: format!(
                        "the ledger ends at position {events} but position {furthest} was witnessed: events were removed from its end"
                    ),
                },
                events,
                prev_hash,
            ));
        }
        Ok(VerifyReport {
            events,
            head_hash: prev_hash,
            problem: None,
        })
    }

    /// Whether [`Ledger::close`] was called (on any clone): reads may fail from then on.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Refuses further appends (from any clone), commits everything queued so far, then
    /// closes the connections.
    pub async fn close(self) {
        self.inner.closed.store(true, Ordering::Release);
        let (done, wait) = oneshot::channel();
        if self.inner.jobs.send(Job::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
        self.inner.backend.close().await;
    }
}

/// Connects to the backend the URL names, applying migrations when asked; `write` takes the
/// SQLite writer lock (see `lock.rs`).
async fn open_backend(
    url: &str,
    migrate: bool,
    write: bool,
) -> Result<(Arc<dyn Backend>, &'static str), StoreError> {
    let open_error = |reason: String| StoreError::Open {
        url: redact(url),
        reason,
    };
    let reason = |e: StoreError| {
        match e {
        StoreError::Database(e) => e.to_string(),
        StoreError::Migrate(sqlx::migrate::MigrateError::VersionMissing(version)) => format!(
            "the schema is newer than this warroom {}: migration {version} was applied by a newer release and this binary does not know it; upgrade warroom to that release (or newer), never downgrade it over a migrated store",
            env!("CARGO_PKG_VERSION")
        ),
        e => e.to_string(),
    }
    };
    if url.starts_with("sqlite:") {
        let backend = super::sqlite::SqliteBackend::open(url, migrate, write)
            .await
            .map_err(|e| match e {
                // Already says which file and what to do.
                e @ (StoreError::InUse { .. }
                | StoreError::Open { .. }
                | StoreError::Missing { .. }) => e,
                e => open_error(reason(e)),
            })?;
        Ok((Arc::new(backend), "sqlite"))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let backend = super::postgres::PgBackend::open(url, migrate)
            .await
            .map_err(|e| open_error(reason(e)))?;
        Ok((Arc::new(backend), "postgres"))
    } else {
        Err(open_error(
            "the store URL must start with sqlite:// or postgres://".into(),
        ))
    }
}

fn migrator_for_backend(name: &str) -> &'static Migrator {
    match name {
        "sqlite" => &super::sqlite::MIGRATOR,
        _ => &super::postgres::MIGRATOR,
    }
}

/// The migrations for the backend the URL names, e.g. to list them.
pub fn migrator_for(url: &str) -> Result<&'static Migrator, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(&super::sqlite::MIGRATOR)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(&super::postgres::MIGRATOR)
    } else {
        Err(StoreError::Open {
            url: redact(url),
            reason: "the store URL must start with sqlite:// or postgres://".into(),
        })
    }
}

/// Refuses an append the store could write but not read back identically, whatever door it
/// came through: a time outside [`crate::time_range`] (SQLite's RFC 3339 text cannot hold a
/// negative or five-digit year, and one such row made every later read fail), or a NUL
/// character in a text column (PostgreSQL refuses it, failing the whole group commit). The
/// payload is JSON text, where serde escapes NUL, so it needs no check.
fn storable(stream: &str, events: &[NewEvent]) -> Result<(), AppendError> {
    let nul = |what: &str, text: &str| {
        if text.contains('\0') {
            Err(AppendError::Invalid(format!(
                "the {what} {:?} holds a NUL character, which the store cannot keep",
                text.chars().take(80).collect::<String>()
            )))
        } else {
            Ok(())
        }
    };
    nul("stream id", stream)?;
    for e in events {
        nul("event type", &e.event_type)?;
        nul("actor", &e.actor)?;
        crate::time_range::check(&format!("event {} occurred_at", e.event_id), e.occurred_at)
            .map_err(AppendError::Invalid)?;
    }
    Ok(())
}

/// Brings the schema at `url` up to date and disconnects, for `warroom migrate`.
/// ([`Ledger::open`] migrates too; this does it without starting a writer.)
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    let (backend, _) = open_backend(url, true, true).await?;
    backend.close().await;
    Ok(())
}

/// The writer: takes the first queued append, drains what else is queued up to the batch
/// limit, and commits them together. Stops when the ledger is dropped.
async fn write_loop(
    ledger: std::sync::Weak<Inner>,
    backend: Arc<dyn Backend>,
    mut queue: mpsc::Receiver<Job>,
    max_batch: usize,
) {
    let mut carry: Option<Job> = None;
    loop {
        let first = match carry.take() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut size = 0;
        let mut push = |job: Job, batch: &mut Vec<_>, size: &mut usize| match job {
            Job::Append(request, reply) => {
                *size += request.events.len();
                batch.push((request, reply));
            }
            Job::Flush(done) => flushes.push(done),
        };
        push(first, &mut batch, &mut size);
        // Appenders answered by the last commit are runnable but may not have queued their
        // next append yet; letting them run once first makes the batch (and so the share of
        // each fsync) much larger at the cost of one scheduler pass.
        tokio::task::yield_now().await;
        while size < max_batch {
            match queue.try_recv() {
                Ok(job @ Job::Append(..)) if size > 0 && size + job_size(&job) > max_batch => {
                    carry = Some(job);
                    break;
                }
                Ok(job) => push(job, &mut batch, &mut size),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let (requests, replies): (Vec<AppendRequest>, Vec<_>) = batch.into_iter().unzip();
            match commit(&ledger, backend.as_ref(), &requests).await {
                Ok(outcomes) => {
                    for (outcome, reply) in outcomes.into_iter().zip(replies) {
                        let _ = reply.send(outcome);
                    }
                }
                Err(e) if requests.len() > 1 => {
                    // One request can sink a whole batch (a row the database refuses); the
                    // others must not pay for it. Each is tried alone, so only the guilty one
                    // fails, and a store that is down fails them all as before.
                    tracing::warn!(
                        "group commit of {} appends failed ({e}); retrying them one by one",
                        requests.len()
                    );
                    for (request, reply) in requests.into_iter().zip(replies) {
                        let outcome = match commit(&ledger, backend.as_ref(), &[request]).await {
                            Ok(mut outcomes) => outcomes.remove(0),
                            Err(e) => Err(StoreError::Commit(e.to_string()).into()),
                        };
                        let _ = reply.send(outcome);
                    }
                }
                Err(e) => {
                    let reason = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Commit(reason.clone()).into()));
                    }
                }
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Commits `requests` as one transaction and publishes the new head; the outcome of each
/// request, in order, or the store's error when nothing was stored.
async fn commit(
    ledger: &std::sync::Weak<Inner>,
    backend: &dyn Backend,
    requests: &[AppendRequest],
) -> Result<Vec<Result<Appended, AppendError>>, StoreError> {
    let recorded_at = Utc::now();
    let result = backend
        .commit(requests, &|s: Snapshot| {
            super::plan::plan(requests, s.head, s.versions, s.existing, recorded_at)
        })
        .await;
    let plan = match result {
        Ok(plan) => plan,
        Err(e) => {
            tracing::error!("a commit failed, nothing of it was stored: {e}");
            if let Some(inner) = ledger.upgrade() {
                inner.note_write_failure(&e);
            }
            return Err(e);
        }
    };
    if let Some(inner) = ledger.upgrade() {
        inner.note_write_success();
        let head = plan.head.0;
        if !plan.rows.is_empty() {
            crate::metrics::get().committed(plan.rows.len());
            inner.commits.fetch_add(1, Ordering::Relaxed);
            inner
                .events_written
                .fetch_add(plan.rows.len() as u64, Ordering::Relaxed);
            // The rows before the head: a subscription woken by the head finds them waiting.
            if inner.committed.receiver_count() > 0 {
                let _ = inner.committed.send(Arc::new(plan.rows));
            }
        }
        // Also when nothing was written: the head the commit found counts what others
        // wrote first (an append refused for it is decided again past it, not before).
        raise_head(&inner.heads, head);
    }
    Ok(plan.outcomes)
}

fn job_size(job: &Job) -> usize {
    match job {
        Job::Append(request, _) => request.events.len(),
        Job::Flush(_) => 0,
    }
}

/// Commits a subscription may be behind on before it reads the store instead (a lagging
/// subscription loses the oldest and reads them back; nothing is skipped).
const COMMITS_HANDED_OVER: usize = 256;

/// Events read from the store per query when a subscription catches up.
const SUBSCRIPTION_PAGE: i64 = 500;

/// Follows the ledger in global order from a position, waiting for new events. This
/// ledger's own commits are handed over as committed, without a read; anything else (other
/// instances' commits, a gap, a subscription that fell behind) is read from the store.
pub struct Subscription {
    /// Reads go straight to the database, so a subscription sees other instances' events too.
    backend: Arc<dyn Backend>,
    /// Wakes the subscription when a commit moves the head.
    heads: watch::Receiver<i64>,
    /// This ledger's commits, rows as stored, in commit order.
    committed: broadcast::Receiver<Arc<Vec<StoredEvent>>>,
    /// The last position returned; the next read starts after it.
    after: i64,
    /// For [`Subscription::next`]: events of a batch not yet returned.
    buffer: VecDeque<StoredEvent>,
}

impl Subscription {
    /// The next event after the last one returned.
    pub async fn next(&mut self) -> Result<StoredEvent, StoreError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Ok(event);
            }
            let batch = self.next_batch().await?;
            self.buffer.extend(batch.iter().cloned());
        }
    }

    /// The next events after the last ones returned, in order and gapless: a commit of
    /// this ledger whole, or a page read from the store. Never empty.
    pub async fn next_batch(&mut self) -> Result<Arc<Vec<StoredEvent>>, StoreError> {
        loop {
            if let Some(rows) = self.handed_over() {
                return Ok(rows);
            }
            let page = self.backend.read_all(self.after, SUBSCRIPTION_PAGE).await?;
            if let Some(last) = page.last() {
                self.after = last.position;
                return Ok(Arc::new(page));
            }
            // Woken by a commit here or a notification from another instance; the timer is a
            // safety net for a notification lost while reconnecting.
            tokio::select! {
                changed = self.heads.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// This ledger's next commit when it follows the last position returned. Commits
    /// already returned (read from the store meanwhile) are passed over; `None` when none is
    /// waiting or the next one leaves a gap, which the store then fills.
    fn handed_over(&mut self) -> Option<Arc<Vec<StoredEvent>>> {
        loop {
            match self.committed.try_recv() {
                Ok(rows) => {
                    let (first, last) = (rows.first()?.position, rows.last()?.position);
                    if last <= self.after {
                        continue;
                    }
                    if first != self.after + 1 {
                        return None;
                    }
                    self.after = last;
                    return Some(rows);
                }
                // Nothing waiting, or lagged past the oldest kept: the store has the rest.
                Err(_) => return None,
            }
        }
    }
}

/// The URL with the password replaced by `***`, for messages and logs: in the user info
/// (`user:password@host`) and in a `password=` query parameter.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    if scheme == "sqlite" {
        return url.to_string();
    }
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    // The last '@' ends the user info even when an unencoded password holds '@' or '/'.
    let location = match location.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => location.to_string(),
        },
        None => location.to_string(),
    };
    let query = query.map(|query| {
        query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(query) => format!("{scheme}://{location}?{query}"),
        None => format!("{scheme}://{location}"),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact("postgres://bob:s3cret@db:5432/warroom"),
            "postgres://bob:***@db:5432/warroom"
        );
        assert_eq!(
            redact("postgres://bob@db/warroom"),
            "postgres://bob@db/warroom"
        );
        assert_eq!(redact("sqlite://warroom.db"), "sqlite://warroom.db");
        assert_eq!(
            redact("postgresql://bob:p@ss/w0rd@db/warroom?sslmode=require&password=x"),
            "postgresql://bob:***@db/warroom?sslmode=require&password=***"
        );
    }
}
