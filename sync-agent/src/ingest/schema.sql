-- The reference cloud ingest's tables. Every table is keyed by tenant first: many ISPs share
-- one database, and nothing is ever looked up without the tenant.

CREATE TABLE IF NOT EXISTS tenants (
    tenant_id   text PRIMARY KEY,
    name        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The site registry: which (tenant, site) may send, and its MQTT identity. The broker's ACL
-- and password file are generated from it (`sitebox-ingest acl`).
CREATE TABLE IF NOT EXISTS sites (
    tenant_id           text NOT NULL REFERENCES tenants,
    site_id             text NOT NULL,
    mqtt_username       text NOT NULL UNIQUE,       -- {tenant}.{site}
    mqtt_password_hash  text NOT NULL,              -- mosquitto $7$ (PBKDF2-SHA512)
    enabled             boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, site_id)
);

-- Cloud-side MQTT users (ingest workers, the command issuer): read every site's uplink,
-- write every site's acks and commands.
CREATE TABLE IF NOT EXISTS service_accounts (
    mqtt_username       text PRIMARY KEY,
    mqtt_password_hash  text NOT NULL
);

-- Events, once each: (tenant, site, seq) is the idempotency key.
CREATE TABLE IF NOT EXISTS events (
    tenant_id       text    NOT NULL,
    site_id         text    NOT NULL,
    seq             bigint  NOT NULL,
    event_id        text,                           -- NULL for a seq dropped at the edge
    type            text    NOT NULL,               -- '_dropped' for a dropped seq
    schema_version  integer NOT NULL,
    lane            text    NOT NULL,
    occurred_at     bigint,                         -- box clock, ms
    boot_id         text,
    uptime_ms       bigint,
    subject         text,
    payload         jsonb,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, site_id, seq),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

-- Per site: the highest contiguous seq stored, and what gap detection needs.
CREATE TABLE IF NOT EXISTS site_cursors (
    tenant_id            text    NOT NULL,
    site_id              text    NOT NULL,
    through              bigint  NOT NULL DEFAULT 0,
    max_seen             bigint  NOT NULL DEFAULT 0,
    duplicates           bigint  NOT NULL DEFAULT 0, -- events received again (ON CONFLICT skips)
    dropped_at_edge      bigint  NOT NULL DEFAULT 0,
    progressed_at        timestamptz NOT NULL DEFAULT now(),
    last_batch_at        timestamptz,
    resend_requested_at  timestamptz,
    skew_ms              bigint,                    -- box clock minus server clock
    last_boot_id         text,
    PRIMARY KEY (tenant_id, site_id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

-- Commands sent to sites, and the result each site reported.
CREATE TABLE IF NOT EXISTS commands (
    command_id        text PRIMARY KEY,
    tenant_id         text NOT NULL,
    site_id           text NOT NULL,
    type              text NOT NULL,
    payload           jsonb NOT NULL,
    issued_at         timestamptz NOT NULL DEFAULT now(),
    last_sent_at      timestamptz NOT NULL DEFAULT now(), -- sent again while unanswered
    state             text,                          -- applied | rejected, from the result
    result            jsonb,
    results_received  integer NOT NULL DEFAULT 0,    -- repeats answer with the first result
    result_at         timestamptz,
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

-- Retained status per site.
CREATE TABLE IF NOT EXISTS site_status (
    tenant_id   text NOT NULL,
    site_id     text NOT NULL,
    state       text NOT NULL,
    boot_id     text,
    version     text,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, site_id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

-- Payloads refused (bad topic, bad payload, tenant/site mismatch, unknown site).
CREATE TABLE IF NOT EXISTS rejected_messages (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    reason       text NOT NULL,
    bytes        integer NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
