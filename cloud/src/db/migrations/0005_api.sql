-- The tenant-scoped API's identities: tenant users (the dashboard's logins) and API tokens.
-- Per-tenant secrets that later features add (the live feed's app key, the Daraja profile)
-- live in their own tables keyed by tenant, beside these.

-- People of a tenant who log in to its dashboard (argon2id password hashes).
CREATE TABLE users (
    tenant_id      text NOT NULL REFERENCES tenants,
    user_id        bigserial,
    login          text NOT NULL,
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('read', 'operator')),
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id),
    UNIQUE (tenant_id, login)
);

-- API tokens: `sbx.{tenant}.{token_id}.{secret}`; only SHA-256(secret) is kept. A token may be
-- limited to some of the tenant's sites.
CREATE TABLE api_tokens (
    tenant_id     text NOT NULL REFERENCES tenants,
    token_id      text NOT NULL,
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('read', 'operator')),
    sites         text[],                         -- NULL: every site of the tenant
    secret_hash   bytea NOT NULL,
    user_id       bigint,                         -- the user it was made for, if one
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    PRIMARY KEY (tenant_id, token_id)
);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_tokens
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));
