//! The ledger's portable form, JSON Lines, for `warroom export` and `warroom import`: moving a
//! store from SQLite to PostgreSQL (or back) and taking backups anyone can re-check.
//!
//! A file is a header line, one line per stored row in position order, and a closing line:
//!
//! ```text
//! {"format":"warroom-ledger","version":1,"after":0,"after_hash":"000…","exported_at":"…","warroom":"0.1.0"}
//! {"position":1,"stream_id":"incident-1","stream_version":1,"event_id":"…","event_type":"IncidentOpened","schema_version":1,"occurred_at":"2021-03-09T09:17:00.000000Z","recorded_at":"…","actor":"rpark","payload":"{\"channel\":\"ops\",…}","hash":"…"}
//! {"end":true,"rows":57,"last_position":57,"last_hash":"…"}
//! ```
//!
//! Every stored field is there, so an import reproduces each row exactly and its hash still
//! checks. The payload stays a JSON *string* holding the stored canonical text: the hash covers
//! those bytes, and a string survives any JSON tool (`jq`, a pretty-printer) unchanged, where an
//! embedded object could come back with other spacing or number forms. The header says where
//! the file starts (`--from`) and the hash it chains on; the closing line tells a complete file
//! from one cut short.
//!
//! An import checks each row as it reads it — positions gapless, stream versions gapless, the
//! hash recomputed with the store's own chain function — and writes the rows in batches, each
//! in one transaction, with their original positions, times and hashes. A bad line stops it:
//! the rows before it are in the store (a whole, verifiable chain), nothing from it on. The
//! target must be empty or hold a prefix of the same chain (the hash at its last position
//! matches the file's): rows it already holds are skipped, so an interrupted import is resumed
//! by running it again, and a `--from` export extends an earlier import.

use super::chain::{self, ChainFields};
use super::{Ledger, StoreError, StoredEvent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use uuid::Uuid;

/// The header's `format`.
pub const FORMAT: &str = "warroom-ledger";
/// The header's `version`; bumped if the line shapes change.
pub const VERSION: u32 = 1;
/// Rows read per page when exporting.
const EXPORT_PAGE: usize = 5_000;
/// Rows written per transaction when importing: large enough that the commit (an fsync on
/// SQLite) is a small share, small enough that a failed batch loses little work.
const IMPORT_BATCH: usize = 5_000;

/// The first line of an export.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    /// Rows follow from `after + 1`.
    after: i64,
    /// The hash of position `after` (the genesis hash for 0): what the first row chains on.
    after_hash: String,
    /// When the export started; for people.
    #[serde(default)]
    exported_at: String,
    /// The warroom version that wrote it; for people.
    #[serde(default)]
    warroom: String,
}

/// A row as written: every stored field, borrowed from the stored event.
#[derive(Serialize)]
struct RowOut<'a> {
    position: i64,
    stream_id: &'a str,
    stream_version: i64,
    event_id: String,
    event_type: &'a str,
    schema_version: i32,
    occurred_at: String,
    recorded_at: String,
    actor: &'a str,
    payload: &'a str,
    hash: &'a str,
}

/// A row as read back.
#[derive(Deserialize)]
struct RowIn {
    position: i64,
    stream_id: String,
    stream_version: i64,
    event_id: String,
    event_type: String,
    schema_version: i32,
    occurred_at: String,
    recorded_at: String,
    actor: String,
    payload: String,
    hash: String,
}

/// The last line of a complete export.
#[derive(Debug, Serialize, Deserialize)]
struct End {
    end: bool,
    rows: u64,
    last_position: i64,
    last_hash: String,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// Rows written.
    pub rows: u64,
    /// The position the rows follow (`--from`).
    pub after: i64,
    /// The last position written (`after` when none).
    pub last_position: i64,
    /// Its hash: the next `--from last_position` export chains on it.
    pub last_hash: String,
    /// Bytes written, header and closing line included.
    pub bytes: u64,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `--from` names a position the ledger does not have.
    #[error("the ledger ends at position {head}, so there is nothing after position {after}; `--from` takes a position up to {head}")]
    Beyond { after: i64, head: i64 },
    /// The output refused the bytes (for a closed pipe: `source.kind()` is `BrokenPipe`).
    #[error("cannot write the export after {rows} rows: {source}; the output is incomplete")]
    Write {
        rows: u64,
        #[source]
        source: std::io::Error,
    },
}

/// Writes every row after position `after` (0: all of them) up to the head as it is when the
/// export starts (later events are left for a `--from` export), reading in pages so the ledger
/// is never in memory whole. Works on a read-only ledger, beside a running writer.
pub async fn export<W: AsyncWrite + Unpin>(
    ledger: &Ledger,
    after: i64,
    out: W,
) -> Result<ExportSummary, ExportError> {
    let head = ledger.head().await?;
    if after > head || after < 0 {
        return Err(ExportError::Beyond { after, head });
    }
    let after_hash = if after == 0 {
        chain::GENESIS.to_string()
    } else {
        match ledger.read_all(after - 1, 1).await?.pop() {
            Some(e) if e.position == after => e.hash,
            _ => return Err(ExportError::Beyond { after, head }),
        }
    };
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, out);
    let mut summary = ExportSummary {
        rows: 0,
        after,
        last_position: after,
        last_hash: after_hash.clone(),
        bytes: 0,
    };
    let mut line = Vec::with_capacity(4096);
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        after,
        after_hash,
        exported_at: chain::canonical_time(Utc::now()),
        warroom: env!("CARGO_PKG_VERSION").into(),
    };
    serde_json::to_writer(&mut line, &header).expect("a header serialises");
    write_line(&mut out, &mut line, &mut summary).await?;
    let mut position = after;
    while position < head {
        let page = ledger
            .read_all(position, EXPORT_PAGE.min((head - position) as usize))
            .await?;
        if page.is_empty() {
            break;
        }
        for e in &page {
            let row = RowOut {
                position: e.position,
                stream_id: &e.stream_id,
                stream_version: e.stream_version,
                event_id: e.event_id.to_string(),
                event_type: &e.event_type,
                schema_version: e.schema_version,
                occurred_at: chain::canonical_time(e.occurred_at),
                recorded_at: chain::canonical_time(e.recorded_at),
                actor: &e.actor,
                payload: &e.payload,
                hash: &e.hash,
            };
            serde_json::to_writer(&mut line, &row).expect("strings and numbers serialise");
            write_line(&mut out, &mut line, &mut summary).await?;
            summary.rows += 1;
            summary.last_position = e.position;
        }
        if let Some(last) = page.last() {
            summary.last_hash = last.hash.clone();
        }
        position = summary.last_position;
    }
    let end = End {
        end: true,
        rows: summary.rows,
        last_position: summary.last_position,
        last_hash: summary.last_hash.clone(),
    };
    serde_json::to_writer(&mut line, &end).expect("the closing line serialises");
    write_line(&mut out, &mut line, &mut summary).await?;
    out.flush().await.map_err(|source| ExportError::Write {
        rows: summary.rows,
        source,
    })?;
    Ok(summary)
}

async fn write_line<W: AsyncWrite + Unpin>(
    out: &mut W,
    line: &mut Vec<u8>,
    summary: &mut ExportSummary,
) -> Result<(), ExportError> {
    line.push(b'\n');
    out.write_all(line)
        .await
        .map_err(|source| ExportError::Write {
            rows: summary.rows,
            source,
        })?;
    summary.bytes += line.len() as u64;
    line.clear();
    Ok(())
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Rows in the file.
    pub rows_read: u64,
    /// Rows written to the store.
    pub imported: u64,
    /// Rows the store already held (same chain), skipped.
    pub skipped: u64,
    /// The first position written (0 when none).
    pub first_position: i64,
    /// The store's last position afterwards.
    pub head: i64,
    /// Its hash.
    pub head_hash: String,
}

/// What kind of problem stopped an import; the message says the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportProblem {
    /// A line is not JSON, misses a field, or has a field of the wrong type.
    Format,
    /// A row breaks the chain: wrong position, stream version or hash.
    Chain,
    /// The store holds events that are not the start of this file's ledger.
    NotEmpty,
    /// The file ends without its closing line, or the closing line disagrees with the rows.
    Truncated,
    /// The store failed or refused a batch, or another writer appended meanwhile.
    Store,
}

/// Why an import stopped, and how far it got: the store then holds its earlier rows plus
/// every row before `line` (a whole chain that `warroom verify` passes), nothing after.
#[derive(Debug, thiserror::Error)]
#[error("{}{what}; {}", where_(*.line, *.position), progress(*.problem, *.imported, *.head))]
pub struct ImportError {
    /// What kind of problem.
    pub problem: ImportProblem,
    /// The line of the file (from 1), when one is to blame.
    pub line: Option<u64>,
    /// The position that line claims, when it got that far.
    pub position: Option<i64>,
    /// What is wrong and what to do.
    pub what: String,
    /// Rows written by this import before it stopped.
    pub imported: u64,
    /// The store's last position when it stopped.
    pub head: i64,
}

fn where_(line: Option<u64>, position: Option<i64>) -> String {
    match (line, position) {
        (Some(l), Some(p)) => format!("line {l} (position {p}): "),
        (Some(l), None) => format!("line {l}: "),
        _ => String::new(),
    }
}

fn progress(problem: ImportProblem, imported: u64, head: i64) -> String {
    let what_next = match problem {
        ImportProblem::Truncated => "import a complete export to add the rest",
        ImportProblem::Store => "run the same import again when the store is fixed",
        _ => "fix the file and run the same import again",
    };
    match (imported, head) {
        (0, 0) => "nothing was imported and the store is empty".to_string(),
        (0, h) => format!("nothing was imported; the store still ends at position {h}"),
        (n, h) => format!(
            "{n} rows were imported before that and check out: the store ends at position {h} \
             (`warroom verify` passes); {what_next} (rows already stored are skipped)"
        ),
    }
}

/// Loads an export into `ledger`, checking every row; see the module documentation for the
/// rules. The ledger must be opened for writing ([`Ledger::open`]).
pub async fn import<R: AsyncBufRead + Unpin>(
    ledger: &Ledger,
    mut input: R,
) -> Result<ImportSummary, ImportError> {
    let (target_head, target_hash) = ledger.last().await.map_err(|e| store_error(e, 0, 0))?;
    let mut state = Importer {
        ledger,
        target_head,
        target_hash: target_hash.clone(),
        prev: (target_head, target_hash),
        batch_start: None,
        batch: Vec::with_capacity(IMPORT_BATCH),
        versions: HashMap::new(),
        imported: 0,
        skipped: 0,
        first_position: 0,
        rows_read: 0,
        line: 0,
        expect_position: 0,
        last_file_hash: String::new(),
    };
    let mut text = String::new();
    // The header.
    let header = loop {
        text.clear();
        state.line += 1;
        let read = input
            .read_line(&mut text)
            .await
            .map_err(|e| state.fail(ImportProblem::Format, None, format!("cannot read: {e}")))?;
        if read == 0 {
            return Err(state.fail(
                ImportProblem::Format,
                None,
                "the input is empty: an export starts with a header line; make one with `warroom export`".into(),
            ));
        }
        if !text.trim().is_empty() {
            break parse_header(&text)
                .map_err(|what| state.fail(ImportProblem::Format, None, what))?;
        }
    };
    state.expect_position = header.after + 1;
    state.last_file_hash = header.after_hash.clone();
    if header.after > state.target_head {
        return Err(state.fail(
            ImportProblem::NotEmpty,
            None,
            format!(
                "this file holds the rows after position {}, but the store ends at position {}: import the export of the rows before it first (or export again with `--from {}`)",
                header.after, state.target_head, state.target_head
            ),
        ));
    }
    if header.after == state.target_head && header.after_hash != state.target_hash {
        return Err(state.not_same_chain(None, header.after));
    }
    // The rows, then the closing line.
    let end = loop {
        text.clear();
        state.line += 1;
        let read = match input.read_line(&mut text).await {
            Ok(read) => read,
            Err(e) => {
                let what = format!("cannot read: {e}");
                return Err(state
                    .flush_then_fail(ImportProblem::Format, None, what)
                    .await);
            }
        };
        if read == 0 {
            break None;
        }
        let line = text.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with("{\"end\"") {
            match serde_json::from_str::<End>(line) {
                Ok(end) => {
                    // Nothing may follow the closing line: rows there would be silently lost.
                    loop {
                        text.clear();
                        state.line += 1;
                        match input.read_line(&mut text).await {
                            Ok(0) => break,
                            Ok(_) if text.trim().is_empty() => continue,
                            _ => {
                                let what = "there is more after the closing line: the file is two exports joined, or was edited; import each export on its own".to_string();
                                return Err(state
                                    .flush_then_fail(ImportProblem::Format, None, what)
                                    .await);
                            }
                        }
                    }
                    break Some(end);
                }
                Err(e) => {
                    let what = format!("the closing line is malformed: {}", serde_message(&e));
                    return Err(state
                        .flush_then_fail(ImportProblem::Format, None, what)
                        .await);
                }
            }
        }
        let row = match parse_row(line) {
            Ok(row) => row,
            Err(what) => {
                let position = serde_json::from_str::<Value>(line)
                    .ok()
                    .and_then(|v| v.get("position").and_then(Value::as_i64));
                return Err(state
                    .flush_then_fail(ImportProblem::Format, position, what)
                    .await);
            }
        };
        state.rows_read += 1;
        state.take(row).await?;
    };
    state.flush().await?;
    let Some(end) = end else {
        let what = format!(
            "the file ends without its closing line after {} rows: it was cut short (an export interrupted, or a partial copy); export again",
            state.rows_read
        );
        return Err(state.fail(ImportProblem::Truncated, None, what));
    };
    let last_position = state.expect_position - 1;
    if end.rows != state.rows_read
        || end.last_position != last_position
        || end.last_hash != state.last_file_hash
    {
        let what = format!(
            "the closing line promises {} rows up to position {} (hash {}), but the file holds {} rows up to position {}: lines were lost or added",
            end.rows, end.last_position, end.last_hash, state.rows_read, last_position
        );
        return Err(state.fail(ImportProblem::Truncated, None, what));
    }
    // Every row of the file is before the store's head: the store holds them only if the
    // hashes agree where the file ends.
    if last_position < state.target_head {
        let stored = if last_position == 0 {
            Some(chain::GENESIS.to_string())
        } else {
            ledger
                .read_all(last_position - 1, 1)
                .await
                .map_err(|e| store_error(e, 0, state.target_head))?
                .pop()
                .map(|e| e.hash)
        };
        if stored.as_deref() != Some(state.last_file_hash.as_str()) {
            return Err(state.not_same_chain(None, last_position));
        }
    }
    Ok(ImportSummary {
        rows_read: state.rows_read,
        imported: state.imported,
        skipped: state.skipped,
        first_position: state.first_position,
        head: state.prev.0,
        head_hash: state.prev.1.clone(),
    })
}

/// The import's progress through the file and the store.
struct Importer<'a> {
    ledger: &'a Ledger,
    /// The store's last position and hash before the import.
    target_head: i64,
    target_hash: String,
    /// The last row written (or, before any, the store's head): what the next row chains on.
    prev: (i64, String),
    /// What the pending batch chains on in the store (`prev` when it started).
    batch_start: Option<(i64, String)>,
    /// Checked rows not yet written.
    batch: Vec<StoredEvent>,
    /// Each stream's version so far (read from the store the first time a stream is seen).
    versions: HashMap<String, i64>,
    imported: u64,
    skipped: u64,
    first_position: i64,
    rows_read: u64,
    /// The current line of the file, from 1.
    line: u64,
    /// The position the next row of the file must have.
    expect_position: i64,
    /// The hash of the file's last row read (checked against the closing line).
    last_file_hash: String,
}

impl Importer<'_> {
    /// Checks one row and queues it (or skips it when the store already holds it).
    async fn take(&mut self, row: StoredEvent) -> Result<(), ImportError> {
        let position = row.position;
        if position != self.expect_position {
            let what = format!(
                "expected position {} next: the file's rows must be gapless and in order",
                self.expect_position
            );
            return Err(self
                .flush_then_fail(ImportProblem::Chain, Some(position), what)
                .await);
        }
        self.expect_position += 1;
        if position <= self.target_head {
            // The store has this position. Only the row at its head is compared: its hash
            // covers every row before it, so a match proves the store is this file's prefix.
            self.skipped += 1;
            if position == self.target_head && row.hash != self.target_hash {
                return Err(self.not_same_chain(Some(self.line), position));
            }
            self.last_file_hash = row.hash;
            return Ok(());
        }
        let stored_version = match self.versions.get(&row.stream_id) {
            Some(v) => *v,
            None if self.target_head == 0 => 0,
            None => self
                .ledger
                .stream_version(&row.stream_id)
                .await
                .map_err(|e| store_error(e, self.imported, self.prev.0))?,
        };
        if row.stream_version != stored_version + 1 {
            let what = format!(
                "stream {} jumps from version {} to {}: a row of that stream is missing or repeated",
                row.stream_id, stored_version, row.stream_version
            );
            return Err(self
                .flush_then_fail(ImportProblem::Chain, Some(position), what)
                .await);
        }
        let chain_on = match self.batch.last() {
            Some(last) => last.hash.as_str(),
            None => self.prev.1.as_str(),
        };
        let hash = chain::hash(
            chain_on,
            &ChainFields {
                position,
                stream_id: &row.stream_id,
                stream_version: row.stream_version,
                event_id: row.event_id,
                event_type: &row.event_type,
                schema_version: row.schema_version,
                occurred_at: row.occurred_at,
                recorded_at: row.recorded_at,
                actor: &row.actor,
                payload: &row.payload,
            },
        );
        if hash != row.hash {
            let what = "hash mismatch: the row is not what was exported (a field or the payload was changed), or an earlier row was changed or removed".to_string();
            return Err(self
                .flush_then_fail(ImportProblem::Chain, Some(position), what)
                .await);
        }
        self.versions
            .insert(row.stream_id.clone(), row.stream_version);
        self.last_file_hash = row.hash.clone();
        if self.batch_start.is_none() {
            self.batch_start = Some(self.prev.clone());
        }
        self.batch.push(row);
        if self.batch.len() >= IMPORT_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes the queued rows in one transaction.
    async fn flush(&mut self) -> Result<(), ImportError> {
        let Some(start) = self.batch_start.take() else {
            return Ok(());
        };
        let rows = std::mem::take(&mut self.batch);
        let (first, last) = (rows[0].position, rows[rows.len() - 1].position);
        match self.ledger.insert_verbatim(&start, &rows).await {
            Ok(None) => {
                if self.first_position == 0 {
                    self.first_position = first;
                }
                self.imported += rows.len() as u64;
                let last_row = rows.into_iter().next_back().expect("a batch is never empty");
                self.prev = (last_row.position, last_row.hash);
                self.batch = Vec::with_capacity(IMPORT_BATCH);
                Ok(())
            }
            Ok(Some((head, _))) => Err(self.fail(
                ImportProblem::Store,
                None,
                format!(
                    "another writer appended to the store during the import (it now ends at position {head}, the import expected {}); import into a store nothing else writes to",
                    start.0
                ),
            )),
            Err(e) => Err(self.fail(
                ImportProblem::Store,
                None,
                format!("the store refused the rows at positions {first}–{last} (none of them was written): {e}"),
            )),
        }
    }

    /// Writes the rows checked before the bad line, then reports the bad line.
    async fn flush_then_fail(
        &mut self,
        problem: ImportProblem,
        position: Option<i64>,
        what: String,
    ) -> ImportError {
        if let Err(e) = self.flush().await {
            return e;
        }
        let mut e = self.fail(problem, position, what);
        e.line = Some(self.line);
        e
    }

    fn fail(&self, problem: ImportProblem, position: Option<i64>, what: String) -> ImportError {
        ImportError {
            problem,
            line: match problem {
                ImportProblem::Format => Some(self.line),
                _ => None,
            },
            position,
            what,
            imported: self.imported,
            head: self.prev.0,
        }
    }

    fn not_same_chain(&self, line: Option<u64>, position: i64) -> ImportError {
        let mut e = self.fail(
            ImportProblem::NotEmpty,
            Some(position),
            format!(
                "the store is not empty: it holds positions 1–{}, which are not the start of this file's ledger (the hashes at position {position} differ); import into an empty store: a new SQLite file, or a new PostgreSQL database (`createdb`)",
                self.target_head
            ),
        );
        e.line = line;
        e
    }
}

fn store_error(e: StoreError, imported: u64, head: i64) -> ImportError {
    ImportError {
        problem: ImportProblem::Store,
        line: None,
        position: None,
        what: e.to_string(),
        imported,
        head,
    }
}

fn parse_header(line: &str) -> Result<Header, String> {
    let not_an_export =
        "is not the header of a warroom ledger export (make the file with `warroom export`)";
    let header: Header = serde_json::from_str(line.trim())
        .map_err(|e| format!("{not_an_export}: {}", serde_message(&e)))?;
    if header.format != FORMAT {
        return Err(format!(
            "{not_an_export}: its format is {:?}, not {FORMAT:?}",
            header.format
        ));
    }
    if header.version != VERSION {
        return Err(format!(
            "the export is format version {}, which this warroom ({}) does not read (it reads version {VERSION}); import it with the warroom that wrote it ({})",
            header.version,
            env!("CARGO_PKG_VERSION"),
            if header.warroom.is_empty() { "unknown" } else { &header.warroom }
        ));
    }
    if header.after < 0 || header.after_hash.len() != 64 {
        return Err(format!(
            "{not_an_export}: `after` must be a position and `after_hash` a 64-digit hash"
        ));
    }
    Ok(header)
}

/// The kinds of a row's fields, for naming the one at fault.
const ROW_FIELDS: [(&str, &str); 11] = [
    ("position", "an integer"),
    ("stream_id", "a string"),
    ("stream_version", "an integer"),
    ("event_id", "a string"),
    ("event_type", "a string"),
    ("schema_version", "an integer"),
    ("occurred_at", "a string"),
    ("recorded_at", "a string"),
    ("actor", "a string"),
    ("payload", "a string (the stored JSON text)"),
    ("hash", "a string"),
];

/// Parses a row line. The typed parse is the fast path; when it fails the line is looked at
/// again as plain JSON to name the field at fault.
fn parse_row(line: &str) -> Result<StoredEvent, String> {
    let row: RowIn = match serde_json::from_str(line) {
        Ok(row) => row,
        Err(e) => return Err(diagnose(line, &e)),
    };
    let time = |field: &str, text: &str| {
        let t = DateTime::parse_from_rfc3339(text)
            .map(|t| chain::to_micros(t.with_timezone(&Utc)))
            .map_err(|e| {
                format!("field `{field}` must be an RFC 3339 time, found {text:?}: {e}")
            })?;
        crate::time_range::check(&format!("field `{field}`"), t)
    };
    // The store cannot keep a NUL in text (PostgreSQL refuses it): such a row could never
    // have been exported by warroom.
    for (field, text) in [
        ("stream_id", &row.stream_id),
        ("event_type", &row.event_type),
        ("actor", &row.actor),
        ("payload", &row.payload),
    ] {
        if text.contains('\0') {
            return Err(format!("field `{field}` holds a NUL character"));
        }
    }
    Ok(StoredEvent {
        position: row.position,
        event_id: Uuid::parse_str(&row.event_id).map_err(|e| {
            format!(
                "field `event_id` must be a UUID, found {:?}: {e}",
                row.event_id
            )
        })?,
        occurred_at: time("occurred_at", &row.occurred_at)?,
        recorded_at: time("recorded_at", &row.recorded_at)?,
        stream_id: row.stream_id,
        stream_version: row.stream_version,
        event_type: row.event_type,
        schema_version: row.schema_version,
        actor: row.actor,
        payload: row.payload,
        hash: row.hash,
    })
}

fn diagnose(line: &str, e: &serde_json::Error) -> String {
    let Ok(value) = serde_json::from_str::<Value>(line) else {
        return format!("not JSON: {}", serde_message(e));
    };
    let Some(object) = value.as_object() else {
        return "a row must be a JSON object".into();
    };
    for (name, kind) in ROW_FIELDS {
        match object.get(name) {
            None => return format!("field `{name}` is missing"),
            Some(v) if !has_kind(name, v) => {
                return format!("field `{name}` must be {kind}, found {}", short(v))
            }
            Some(_) => {}
        }
    }
    format!("not a ledger row: {}", serde_message(e))
}

fn has_kind(name: &str, v: &Value) -> bool {
    match name {
        "position" | "stream_version" => v.as_i64().is_some(),
        "schema_version" => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        _ => v.is_string(),
    }
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// serde_json's message without its "at line 1 column N" (the line is ours to number).
fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => format!("{} (column {})", &text[..i], e.column()),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_row_names_its_field() {
        let good = r#"{"position":1,"stream_id":"s","stream_version":1,"event_id":"00000000-0000-0000-0000-000000000000","event_type":"T","schema_version":1,"occurred_at":"2021-03-09T09:15:00.000000Z","recorded_at":"2021-03-09T09:15:00.000000Z","actor":"a","payload":"{}","hash":"h"}"#;
        assert!(parse_row(good).is_ok());
        let missing = good.replace(r#","hash":"h""#, "");
        assert_eq!(parse_row(&missing).unwrap_err(), "field `hash` is missing");
        let wrong = good.replace(r#""stream_version":1"#, r#""stream_version":"one""#);
        assert_eq!(
            parse_row(&wrong).unwrap_err(),
            "field `stream_version` must be an integer, found \"one\""
        );
        let payload = good.replace(r#""payload":"{}""#, r#""payload":{}"#);
        assert!(parse_row(&payload)
            .unwrap_err()
            .starts_with("field `payload` must be a string"));
        assert!(parse_row("{\"position\":")
            .unwrap_err()
            .starts_with("not JSON"));
        let time = good.replace("2021-03-09T09:15:00.000000Z", "yesterday");
        assert!(parse_row(&time)
            .unwrap_err()
            .starts_with("field `occurred_at` must be an RFC 3339 time"));
    }
}
