-- The technician page: accounts, login sessions and login attempts (for the lockout).
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE technicians (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    password_hash  TEXT    NOT NULL,              -- argon2id PHC string
    role           TEXT    NOT NULL CHECK (role IN ('operator', 'read-only')),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE web_sessions (
    -- SHA-256 of the cookie's token: a copy of the database does not log anyone in.
    token_hash     BLOB    PRIMARY KEY,
    technician_id  INTEGER NOT NULL REFERENCES technicians (id) ON DELETE CASCADE,
    csrf           TEXT    NOT NULL,              -- sent back in X-CSRF-Token on every action
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

CREATE TABLE login_attempts (
    id     INTEGER PRIMARY KEY,
    name   TEXT    NOT NULL,                      -- the name typed, known or not
    peer   TEXT    NOT NULL,                      -- the client's IP address
    at     INTEGER NOT NULL,
    ok     INTEGER NOT NULL CHECK (ok IN (0, 1))
) STRICT;

CREATE INDEX login_attempts_name ON login_attempts (name, at);
CREATE INDEX login_attempts_peer ON login_attempts (peer, at);
