-- Leases: which instance does the work that must run once (the Discord gateway, the
-- escalation scheduler, the job sweeper). Unlike `events`, a lease row is updated in place:
-- it is coordination state, not history.
CREATE TABLE leases (
    name       TEXT        PRIMARY KEY,   -- what the lease is for: `leader`
    holder     TEXT        NOT NULL,      -- the holding instance, as it names itself in logs
    generation BIGINT      NOT NULL,      -- bumped at every change of holder: the fencing token
    expires_at TIMESTAMPTZ NOT NULL       -- in the database's clock; renewed while held
);
