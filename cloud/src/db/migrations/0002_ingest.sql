-- What the ingest stores: events once each, each site's cursor, the command ledger, and each
-- site's MQTT presence.

-- Events, once each: (tenant, site, seq) is the idempotency key.
CREATE TABLE events (
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

-- Per site: the highest contiguous seq stored, what gap detection needs, and what the last
-- batch said about the site (its clock, its backlog). Created with the site; every batch of
-- the site locks this row first, so one site's batches commit one after another.
CREATE TABLE site_cursors (
    tenant_id            text    NOT NULL,
    site_id              text    NOT NULL,
    through              bigint  NOT NULL DEFAULT 0,
    through_at_site      bigint,                    -- box clock of the event at `through`
    max_seen             bigint  NOT NULL DEFAULT 0,
    duplicates           bigint  NOT NULL DEFAULT 0, -- events received again (ON CONFLICT skips)
    dropped_at_edge      bigint  NOT NULL DEFAULT 0,
    progressed_at        timestamptz NOT NULL DEFAULT now(),
    last_batch_at        timestamptz,
    resend_requested_at  timestamptz,
    skew_ms              bigint,                    -- box clock minus server clock
    last_boot_id         text,
    head                 bigint,                    -- the site's newest seq, as last reported
    head_site_at         bigint,                    -- the box's clock when it reported it
    PRIMARY KEY (tenant_id, site_id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

-- The command ledger: every command sent to a site, queued → delivered (the broker took it)
-- → applied | rejected (the site's result); a resend_from the broker dropped unsent after
-- its expiry is expired.
CREATE TABLE commands (
    tenant_id         text NOT NULL,
    command_id        text NOT NULL,
    site_id           text NOT NULL,
    type              text NOT NULL,
    payload           jsonb NOT NULL,
    issued_by         text NOT NULL,
    issued_at         timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz,
    state             text NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'delivered', 'applied', 'rejected', 'expired')),
    sends             integer NOT NULL DEFAULT 0,
    last_sent_at      timestamptz,
    delivered_at      timestamptz,
    result            jsonb,
    result_at         timestamptz,
    handled_at_site   bigint,                        -- the box's clock when it handled it
    results_received  integer NOT NULL DEFAULT 0,    -- repeats answer with the first result
    PRIMARY KEY (tenant_id, command_id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);
CREATE INDEX commands_open ON commands (tenant_id, site_id, issued_at)
    WHERE state IN ('queued', 'delivered');
CREATE INDEX commands_by_site ON commands (tenant_id, site_id, issued_at DESC);

-- Each site's MQTT presence (its retained status and last will) and the liveness the
-- signals add up to (src/liveness.rs).
CREATE TABLE site_liveness (
    tenant_id         text NOT NULL,
    site_id           text NOT NULL,
    presence          text CHECK (presence IN ('online', 'offline')),
    presence_at       timestamptz,                   -- when the cloud received it
    presence_site_at  bigint,                        -- the box's clock in it (0 in the will)
    boot_id           text,
    version           text,
    state             text NOT NULL DEFAULT 'unknown'
                      CHECK (state IN ('unknown', 'online', 'degraded', 'offline')),
    reasons           text[] NOT NULL DEFAULT '{}',
    state_since       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, site_id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE site_cursors ENABLE ROW LEVEL SECURITY;
ALTER TABLE site_cursors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON site_cursors
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE commands ENABLE ROW LEVEL SECURITY;
ALTER TABLE commands FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON commands
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE site_liveness ENABLE ROW LEVEL SECURITY;
ALTER TABLE site_liveness FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON site_liveness
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));
