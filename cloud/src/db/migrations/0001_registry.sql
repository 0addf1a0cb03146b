-- Tenants (the ISPs), their sites, the cloud's own MQTT accounts, and what the ingest refused.
-- Every table of tenant data is keyed by tenant first (so it can be distributed by tenant
-- unchanged) and has row-level security forced on it: a row is visible only to a
-- transaction whose `sitebox.tenant` setting is its tenant (src/db/mod.rs).

CREATE TABLE tenants (
    tenant_id     text PRIMARY KEY CHECK (tenant_id ~ '^[a-z0-9_-]{1,64}$'),
    name          text NOT NULL DEFAULT '',
    disabled      boolean NOT NULL DEFAULT false,
    -- Overrides of the alert rules' defaults, by reason (src/alerts/policy.rs).
    alert_policy  jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The sweeps' work list: which tenant to visit next, and when. Ids only (no names, keys or
-- figures): it is how a process learns which tenants exist before it can set one, so it is
-- the one list without row-level security.
CREATE TABLE tenant_directory (
    tenant_id     text PRIMARY KEY,
    sweep_due_at  timestamptz NOT NULL DEFAULT now()
);

-- The site registry: which (tenant, site) may send, and its MQTT identity. The broker's ACL
-- and password file are generated from it (`sitebox-cloud acl`).
CREATE TABLE sites (
    tenant_id           text NOT NULL REFERENCES tenants,
    site_id             text NOT NULL CHECK (site_id ~ '^[a-z0-9_-]{1,64}$'),
    name                text NOT NULL DEFAULT '',
    mqtt_username       text NOT NULL UNIQUE,       -- {tenant}.{site}
    mqtt_password_hash  text NOT NULL,              -- mosquitto $7$ (PBKDF2-SHA512)
    enabled             boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, site_id)
);

-- Cloud-side MQTT users (the service's processes, operators' tools): read every site's
-- uplink, write every site's acks and commands. Not tenant data.
CREATE TABLE service_accounts (
    mqtt_username       text PRIMARY KEY,
    mqtt_password_hash  text NOT NULL
);

-- Messages refused on a site's topic, with the reason (kept for the tenant to see).
CREATE TABLE rejected_messages (
    tenant_id    text NOT NULL,
    id           bigserial,
    site_id      text NOT NULL,
    topic        text NOT NULL,
    reason       text NOT NULL,
    bytes        integer NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- Messages on topics that are not a site's (another contract version, a malformed name):
-- no tenant to show them to; for the operator.
CREATE TABLE rejected_foreign (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    reason       text NOT NULL,
    bytes        integer NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE sites ENABLE ROW LEVEL SECURITY;
ALTER TABLE sites FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sites
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE rejected_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE rejected_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rejected_messages
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

-- Who did what: every operator action (CLI or API) in the transaction of its effect.
CREATE TABLE audit_log (
    tenant_id  text NOT NULL,
    id         bigserial,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,                    -- `token:{id} ({name})`, `cli:{user}`, `system`
    action     text NOT NULL,                    -- e.g. `command.send`, `alert.acknowledge`
    site_id    text,
    subject    text,
    detail     jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, id)
);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));
