-- The ledger: one append-only table of hash-chained events.
CREATE TABLE events (
    position       BIGINT      PRIMARY KEY,      -- global order, gapless, assigned under an advisory lock
    stream_id      TEXT        NOT NULL,
    stream_version BIGINT      NOT NULL,
    event_id       TEXT        NOT NULL UNIQUE,
    event_type     TEXT        NOT NULL,
    schema_version INTEGER     NOT NULL,
    occurred_at    TIMESTAMPTZ NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL,
    actor          TEXT        NOT NULL,
    payload        TEXT        NOT NULL,         -- canonical JSON text, hashed as stored
    hash           TEXT        NOT NULL,
    UNIQUE (stream_id, stream_version)
);

-- Defence in depth: the application never changes a row; neither may anyone else by accident.
CREATE FUNCTION warroom_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END
$$;
CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION warroom_events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION warroom_events_append_only();
