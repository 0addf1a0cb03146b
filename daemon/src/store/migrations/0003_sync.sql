-- Cloud sync: the cloud's cursor, telemetry dropped under the disk budget, and the inbox of
-- cloud commands.

-- One row: what the cloud has acknowledged.
CREATE TABLE sync_state (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    cloud_cursor       INTEGER NOT NULL DEFAULT 0,  -- every seq up to it is stored in the cloud
    acked_at           INTEGER,                     -- box clock of the last ack, ms
    server_time        INTEGER,                     -- the cloud's clock in that ack, ms
    skew_ms            INTEGER,                     -- box clock minus cloud clock, ms
    dropped_telemetry  INTEGER NOT NULL DEFAULT 0   -- telemetry events dropped, ever
) STRICT;

INSERT INTO sync_state (id) VALUES (1);

-- Telemetry events deleted unsent under the disk budget: the seqs are sent as "dropped" so
-- the cloud's cursor can pass them. Deleted once the cursor has.
CREATE TABLE outbox_dropped (
    seq         INTEGER PRIMARY KEY,
    dropped_at  INTEGER NOT NULL
) STRICT;

-- Acked rows are pruned by age.
CREATE INDEX outbox_acked ON outbox (acked_at) WHERE acked_at IS NOT NULL;

-- Cloud commands, each stored once, in the same transaction as what it caused.
CREATE TABLE inbox (
    command_id  TEXT    PRIMARY KEY,
    type        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,                   -- JSON
    state       TEXT    NOT NULL CHECK (state IN ('applied', 'rejected')),
    result      TEXT    NOT NULL,                   -- JSON: the answer, or {"error": why}
    issued_at   INTEGER NOT NULL,                   -- cloud clock, ms
    handled_at  INTEGER NOT NULL                    -- box clock, ms
) STRICT;

CREATE INDEX inbox_handled_at ON inbox (handled_at);
