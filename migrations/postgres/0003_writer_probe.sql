-- One row that readiness rewrites after a failed commit, to learn whether the store takes
-- writes again (a full disk with room again) without touching the ledger.
CREATE TABLE writer_probe (
    id        INTEGER     PRIMARY KEY CHECK (id = 1),
    probed_at TIMESTAMPTZ NOT NULL
);
