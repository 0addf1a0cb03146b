-- The durable job queue.
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE jobs (
    -- AUTOINCREMENT: an id is never reused, so a failed job keeps its id when retried.
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    args          TEXT    NOT NULL,               -- JSON
    priority      INTEGER NOT NULL DEFAULT 0,     -- lower runs first
    state         TEXT    NOT NULL CHECK (state IN ('available', 'running', 'completed')),
    attempt       INTEGER NOT NULL DEFAULT 0,     -- attempts started so far
    max_attempts  INTEGER NOT NULL CHECK (max_attempts >= 1),
    run_at        INTEGER NOT NULL,               -- not before this
    timeout_ms    INTEGER NOT NULL CHECK (timeout_ms > 0),
    locked_until  INTEGER,                        -- lease; NULL unless running
    locked_by     TEXT,                           -- the worker process holding the lease
    unique_key    TEXT,
    errors        TEXT    NOT NULL DEFAULT '[]',  -- JSON array: one entry per failed attempt
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER
) STRICT;

-- The claim query's index: equality on queue, then exactly its ORDER BY.
CREATE INDEX jobs_claim ON jobs (queue, priority, run_at, id) WHERE state = 'available';
-- When the next delayed job of a queue falls due.
CREATE INDEX jobs_due ON jobs (queue, run_at) WHERE state = 'available';
-- Leases to rescue.
CREATE INDEX jobs_lease ON jobs (locked_until) WHERE state = 'running';
-- Pruning.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state = 'completed';
-- One job per unique key waiting or running.
CREATE UNIQUE INDEX jobs_unique ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'running');

-- Jobs that used up their attempts or were discarded by their handler, kept for retry/discard.
CREATE TABLE failed_jobs (
    id            INTEGER PRIMARY KEY,            -- the job's id
    queue         TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    args          TEXT    NOT NULL,
    priority      INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,
    max_attempts  INTEGER NOT NULL,
    timeout_ms    INTEGER NOT NULL,
    unique_key    TEXT,
    error         TEXT    NOT NULL,               -- the last error
    errors        TEXT    NOT NULL,               -- every attempt's error
    created_at    INTEGER NOT NULL,
    failed_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX failed_jobs_failed_at ON failed_jobs (failed_at);

-- Periodic jobs: when each is next due, kept so a restart neither skips nor doubles a run.
CREATE TABLE periodic_jobs (
    name     TEXT PRIMARY KEY,
    next_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
