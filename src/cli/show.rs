//! `warroom show REF`: the event a document's reference (`[1a2b3c4d]`) points at, printed
//! whole, and whether the hash chain holds from the first event up to it.

use super::Format;
use crate::store::{IdPrefix, Ledger, StoredEvent, VerifyReport};
use chrono::SecondsFormat;

/// Matches listed when a reference is ambiguous.
const LISTED: usize = 20;

/// Exit code when the reference is malformed, matches no event or several: the chain was
/// not judged (1 means it was, and it is broken).
const NOT_ONE_EVENT: i32 = 2;

/// What a reference looks like and where to find one, for every error about one.
const WHERE_REFS_ARE: &str = "a reference is 4 to 32 hex digits of an event's id, e.g. \
    1a2b3c4d; the post-mortem (`warroom postmortem INC-N`) and `warroom timeline INC-N` end \
    each line with one in brackets, [1a2b3c4d]";

/// Prints the one event whose id starts with `reference`, then whether the chain verifies
/// through it: exit 0 when it does, 1 when it breaks at or before the event, 2 when the
/// reference is malformed or matches no event or several.
pub async fn show(db: &str, reference: &str, format: Format) -> anyhow::Result<i32> {
    let prefix = match IdPrefix::parse(reference) {
        Ok(prefix) => prefix,
        Err(e) => {
            eprintln!("error: not an event reference: {e}; {WHERE_REFS_ARE}");
            return Ok(NOT_ONE_EVENT);
        }
    };
    let ledger = Ledger::open_read_only(db).await?;
    let looked_up = look_up(&ledger, &prefix).await;
    let url = ledger.display_url().to_string();
    ledger.close().await;
    match looked_up? {
        Lookup::One(event, report) => {
            match format {
                Format::Md => print!("{}", describe(&event, &report)),
                Format::Json => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&as_json(&event, &report))?
                    )
                }
            }
            Ok(if report.problem.is_none() { 0 } else { 1 })
        }
        Lookup::None => {
            eprintln!("error: no event's id starts with {prefix} in {url}; {WHERE_REFS_ARE}");
            Ok(NOT_ONE_EVENT)
        }
        Lookup::Several(several) => {
            eprintln!(
                "error: {}{} events have an id starting with {prefix}; give more digits of the one you mean:",
                if several.len() > LISTED { "more than " } else { "" },
                several.len().min(LISTED)
            );
            for e in several.iter().take(LISTED) {
                eprintln!(
                    "  {}  {:<22} {} v{}  at {}",
                    e.event_id,
                    inert(&e.event_type),
                    inert(&e.stream_id),
                    e.stream_version,
                    time(&e.occurred_at)
                );
            }
            Ok(NOT_ONE_EVENT)
        }
    }
}

/// What a reference led to.
enum Lookup {
    /// The one event, and the chain walked through it.
    One(Box<StoredEvent>, VerifyReport),
    None,
    /// Up to `LISTED + 1` of the events it matches.
    Several(Vec<StoredEvent>),
}

async fn look_up(ledger: &Ledger, prefix: &IdPrefix) -> anyhow::Result<Lookup> {
    let mut found = ledger.events_with_id_prefix(prefix, LISTED + 1).await?;
    if found.len() > 1 {
        return Ok(Lookup::Several(found));
    }
    let Some(event) = found.pop() else {
        return Ok(Lookup::None);
    };
    let report = ledger.verify_through(event.position).await?;
    Ok(Lookup::One(Box::new(event), report))
}

/// A stored name as printed to a terminal: control characters (an escape sequence written
/// into the database) shown escaped, never sent as they are.
fn inert(text: &str) -> String {
    if text.chars().any(char::is_control) {
        text.escape_debug().to_string()
    } else {
        text.to_string()
    }
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The payload as JSON, or its stored text when it is not JSON (a damaged row).
fn payload(event: &StoredEvent) -> serde_json::Value {
    event
        .payload_json()
        .unwrap_or_else(|_| serde_json::Value::String(event.payload.clone()))
}

/// The event and the chain's verdict as text.
fn describe(event: &StoredEvent, report: &VerifyReport) -> String {
    let payload = serde_json::to_string_pretty(&payload(event)).unwrap_or_default();
    let verdict = match &report.problem {
        None => format!(
            "chain verifies: positions 1 to {} are as appended (hash {} recomputed)",
            event.position, event.hash
        ),
        Some(p) if p.position < event.position => format!(
            "chain does NOT verify: it breaks at position {}, before this event ({}); \
             what is shown here cannot be trusted. `warroom verify` walks the whole ledger",
            p.position,
            inert(&p.what)
        ),
        Some(p) => format!(
            "chain does NOT verify: this event (position {}) is not as appended ({}). \
             `warroom verify` walks the whole ledger",
            p.position,
            inert(&p.what)
        ),
    };
    format!(
        "event        {}\n\
         type         {} (schema {})\n\
         stream       {}, version {}\n\
         position     {}\n\
         occurred_at  {}\n\
         recorded_at  {}\n\
         actor        {}\n\
         hash         {}\n\
         payload\n{payload}\n\
         {verdict}\n",
        event.event_id,
        inert(&event.event_type),
        event.schema_version,
        inert(&event.stream_id),
        event.stream_version,
        event.position,
        time(&event.occurred_at),
        time(&event.recorded_at),
        inert(&event.actor),
        inert(&event.hash),
    )
}

/// The event and the chain's verdict as one JSON object.
fn as_json(event: &StoredEvent, report: &VerifyReport) -> serde_json::Value {
    serde_json::json!({
        "event_id": event.event_id,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "stream_id": event.stream_id,
        "stream_version": event.stream_version,
        "position": event.position,
        "occurred_at": time(&event.occurred_at),
        "recorded_at": time(&event.recorded_at),
        "actor": event.actor,
        "hash": event.hash,
        "payload": payload(event),
        "verified": report.problem.is_none(),
        "chain_problem": report.problem.as_ref().map(|p| serde_json::json!({
            "position": p.position,
            "what": p.what,
        })),
    })
}
