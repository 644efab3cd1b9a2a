-- The ledger: one append-only table of hash-chained events.
CREATE TABLE events (
    position       INTEGER PRIMARY KEY,          -- global order, gapless, assigned by the writer
    stream_id      TEXT    NOT NULL,
    stream_version INTEGER NOT NULL,
    event_id       TEXT    NOT NULL UNIQUE,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    occurred_at    TEXT    NOT NULL,             -- RFC 3339, UTC, microseconds
    recorded_at    TEXT    NOT NULL,
    actor          TEXT    NOT NULL,
    payload        TEXT    NOT NULL,             -- canonical JSON, hashed as stored
    hash           TEXT    NOT NULL,
    UNIQUE (stream_id, stream_version)
);

-- Defence in depth: the application never changes a row; neither may anyone else by accident.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
