-- Domain events for in-process listeners and the cloud, and the audit log.

CREATE TABLE outbox (
    -- The site's event sequence: AUTOINCREMENT never reuses a number, even after pruning.
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,      -- UUIDv7
    type            TEXT    NOT NULL,             -- e.g. PaymentApplied
    schema_version  INTEGER NOT NULL,
    lane            TEXT    NOT NULL CHECK (lane IN ('payments', 'results', 'events', 'telemetry')),
    occurred_at     INTEGER NOT NULL,             -- box wall clock, ms
    boot_id         TEXT    NOT NULL,             -- which run of the daemon wrote it
    uptime_ms       INTEGER NOT NULL,             -- monotonic time since that run started
    subject         TEXT    NOT NULL,             -- what it happened to, e.g. job:42
    payload         TEXT    NOT NULL,             -- JSON, no secrets
    acked_at        INTEGER                       -- when the cloud's ack covered it
) STRICT;

CREATE INDEX outbox_unacked ON outbox (lane, seq) WHERE acked_at IS NULL;

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,                  -- e.g. system, cli, technician:alice, cloud
    action     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    detail     TEXT    NOT NULL,                  -- JSON
    event_seq  INTEGER REFERENCES outbox (seq) ON DELETE SET NULL
) STRICT;

CREATE INDEX audit_log_at ON audit_log (at);
