-- The hotspot domain: routers (NAS), plans, subscribers, vouchers, subscriptions, payments and
-- accounting sessions. Money is in minor units (cents); times are ms since the epoch (UTC);
-- durations are seconds; byte counts are whole bytes (gigawords already folded in).
-- Secrets are sealed (secrets.rs): never stored in the clear.

CREATE TABLE routers (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL UNIQUE,         -- also its RADIUS client name
    nas_ip           TEXT    NOT NULL UNIQUE,         -- source address of its RADIUS packets
    nas_identifier   TEXT,
    radius_secret    BLOB    NOT NULL,                -- sealed
    coa_port         INTEGER NOT NULL DEFAULT 3799,
    require_message_authenticator INTEGER NOT NULL DEFAULT 1,
    api_host         TEXT,                            -- RouterOS API; NULL when not managed
    api_port         INTEGER,
    api_tls          INTEGER NOT NULL DEFAULT 0,
    api_fingerprint  TEXT,                            -- SHA-256 of the API-SSL certificate
    api_user         TEXT,
    api_password     BLOB,                            -- sealed
    codepage         TEXT    NOT NULL DEFAULT 'windows-1252',
    state            TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
    status           TEXT    NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'up', 'down')),
    status_detail    TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE plans (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL UNIQUE,
    kind             TEXT    NOT NULL CHECK (kind IN ('hotspot', 'pppoe', 'any')),
    price            INTEGER NOT NULL CHECK (price >= 0),
    currency         TEXT    NOT NULL,
    validity_s       INTEGER NOT NULL CHECK (validity_s > 0),  -- from activation to expiry
    time_limit_s     INTEGER CHECK (time_limit_s > 0),         -- online time allowed
    data_limit       INTEGER CHECK (data_limit > 0),           -- bytes in + out
    rate_limit       TEXT,                                     -- Mikrotik-Rate-Limit
    shared_users     INTEGER NOT NULL DEFAULT 1 CHECK (shared_users >= 1),
    mac_binding      INTEGER NOT NULL DEFAULT 0,
    idle_timeout_s   INTEGER,
    interim_s        INTEGER NOT NULL DEFAULT 300,
    state            TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE subscribers (
    id               INTEGER PRIMARY KEY,
    username         TEXT    NOT NULL UNIQUE,
    kind             TEXT    NOT NULL CHECK (kind IN ('hotspot', 'pppoe')),
    password         BLOB,                            -- sealed cleartext (PAP/CHAP/MS-CHAP)
    nt_hash          BLOB,                            -- sealed NT hash when no cleartext is known
    mac_auth         INTEGER NOT NULL DEFAULT 0,      -- logs in by MAC (User-Name = MAC)
    phone            TEXT,
    state            TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'suspended', 'deleted')),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE subscriber_macs (
    subscriber_id    INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    mac              TEXT    NOT NULL,                -- AA:BB:CC:DD:EE:FF
    bound_at         INTEGER NOT NULL,
    PRIMARY KEY (subscriber_id, mac)
) STRICT, WITHOUT ROWID;

CREATE TABLE vouchers (
    id               INTEGER PRIMARY KEY,
    code             TEXT    NOT NULL UNIQUE,
    plan_id          INTEGER NOT NULL REFERENCES plans (id),
    batch            TEXT    NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'unused' CHECK (state IN ('unused', 'redeemed', 'void')),
    subscriber_id    INTEGER REFERENCES subscribers (id),
    created_at       INTEGER NOT NULL,
    redeemed_at      INTEGER
) STRICT;

CREATE INDEX vouchers_batch ON vouchers (batch);

CREATE TABLE payments (
    id                   INTEGER PRIMARY KEY,
    provider             TEXT    NOT NULL CHECK (provider IN ('mpesa', 'cash', 'voucher')),
    receipt              TEXT    NOT NULL UNIQUE,     -- e.g. MpesaReceiptNumber
    checkout_request_id  TEXT,
    amount               INTEGER NOT NULL,            -- minor units
    currency             TEXT    NOT NULL,
    phone                TEXT,
    plan_id              INTEGER REFERENCES plans (id),
    subscriber_id        INTEGER REFERENCES subscribers (id),
    mac                  TEXT,
    state                TEXT    NOT NULL CHECK (state IN ('applied', 'rejected')),
    reason               TEXT,                        -- why rejected, for a technician
    subscription_id      INTEGER,
    raw                  TEXT    NOT NULL,            -- the confirmation as received (JSON)
    received_at          INTEGER NOT NULL
) STRICT;

CREATE TABLE subscriptions (
    id               INTEGER PRIMARY KEY,
    subscriber_id    INTEGER NOT NULL REFERENCES subscribers (id),
    plan_id          INTEGER NOT NULL REFERENCES plans (id),
    state            TEXT    NOT NULL CHECK (state IN ('queued', 'active', 'expired', 'exhausted', 'cancelled')),
    source           TEXT    NOT NULL CHECK (source IN ('mpesa', 'cash', 'voucher', 'manual')),
    payment_id       INTEGER REFERENCES payments (id),
    voucher_id       INTEGER REFERENCES vouchers (id),
    starts_at        INTEGER,                         -- set at activation
    expires_at       INTEGER,                         -- computed once at activation
    time_limit_s     INTEGER,                         -- copied from the plan
    data_limit       INTEGER,
    used_seconds     INTEGER NOT NULL DEFAULT 0,
    used_bytes       INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    ended_at         INTEGER
) STRICT;

CREATE INDEX subscriptions_current ON subscriptions (subscriber_id, state);
CREATE INDEX subscriptions_expiry ON subscriptions (expires_at) WHERE state = 'active';

CREATE TABLE sessions (
    id               INTEGER PRIMARY KEY,
    router_id        INTEGER NOT NULL REFERENCES routers (id),
    acct_session_id  TEXT    NOT NULL,
    subscriber_id    INTEGER REFERENCES subscribers (id),
    subscription_id  INTEGER REFERENCES subscriptions (id),
    username         TEXT    NOT NULL,
    mac              TEXT,
    framed_ip        TEXT,
    nas_port_id      TEXT,
    state            TEXT    NOT NULL CHECK (state IN ('open', 'closed')),
    started_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    stopped_at       INTEGER,
    session_time_s   INTEGER NOT NULL DEFAULT 0,
    input_octets     INTEGER NOT NULL DEFAULT 0,      -- from the client, gigawords folded in
    output_octets    INTEGER NOT NULL DEFAULT 0,      -- to the client
    terminate_cause  INTEGER,
    UNIQUE (router_id, acct_session_id)
) STRICT;

CREATE INDEX sessions_open ON sessions (subscriber_id) WHERE state = 'open';
