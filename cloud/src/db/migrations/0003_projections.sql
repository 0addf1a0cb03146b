-- Projections: business tables built from `events` in the transaction that stores them
-- (src/projections/). Each row remembers the seqs it was built from, so that events applied in
-- any order, in any batches, give the same row; `sitebox-cloud projections rebuild` builds
-- them again from `events`. Times `*_site` are the box's clock (ms), `*_at` the cloud's.

CREATE TABLE payments (
    tenant_id          text   NOT NULL,
    site_id            text   NOT NULL,
    receipt            text   NOT NULL,
    payment_id         bigint,                       -- the site's id
    provider           text,
    amount             bigint,
    currency           text,
    phone              text,                         -- masked at the site
    plan               text,
    username           text,
    subscription_id    bigint,
    state              text   NOT NULL CHECK (state IN ('received', 'applied', 'rejected')),
    reason             text,                         -- why the site rejected it
    received_site      bigint,                       -- PaymentReceived at the site
    settled_site       bigint,                       -- PaymentApplied / PaymentRejected at the site
    received_at        timestamptz,                  -- the cloud stored PaymentReceived
    seq                bigint NOT NULL,              -- highest seq applied
    received_seq       bigint,
    settled_seq        bigint,
    PRIMARY KEY (tenant_id, site_id, receipt),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);
CREATE INDEX payments_by_time ON payments (tenant_id, received_site DESC, site_id, receipt);

CREATE TABLE subscribers (
    tenant_id          text   NOT NULL,
    site_id            text   NOT NULL,
    username           text   NOT NULL,
    subscriber_id      bigint,
    kind               text,
    state              text,
    phone              text,
    mac_auth           boolean,
    macs               jsonb  NOT NULL DEFAULT '[]',  -- from the latest full record
    macs_bound         jsonb  NOT NULL DEFAULT '{}',  -- MAC → seq, bound after that record
    created_site       bigint,
    updated_site       bigint,
    seq                bigint NOT NULL,               -- seq of the latest full record
    PRIMARY KEY (tenant_id, site_id, username),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

CREATE TABLE subscriptions (
    tenant_id          text   NOT NULL,
    site_id            text   NOT NULL,
    subscription_id    bigint NOT NULL,
    subscriber_id      bigint,
    plan               text,
    source             text,
    state              text   NOT NULL,               -- active, then expired / exhausted
    starts_site        bigint,
    expires_site       bigint,
    ended_site         bigint,
    used_seconds       bigint,
    used_bytes         bigint,
    started_seq        bigint,
    ended_seq          bigint,
    PRIMARY KEY (tenant_id, site_id, subscription_id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

CREATE TABLE voucher_batches (
    tenant_id          text   NOT NULL,
    site_id            text   NOT NULL,
    batch              text   NOT NULL,
    plan               text,
    count              bigint,
    generated_site     bigint,
    seq                bigint NOT NULL,
    PRIMARY KEY (tenant_id, site_id, batch),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

CREATE TABLE vouchers (
    tenant_id          text   NOT NULL,
    site_id            text   NOT NULL,
    code               text   NOT NULL,
    voucher_id         bigint,
    batch              text,
    plan               text,
    subscriber_id      bigint,
    subscription_id    bigint,
    redeemed_site      bigint,
    seq                bigint NOT NULL,
    PRIMARY KEY (tenant_id, site_id, code),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

CREATE TABLE sessions (
    tenant_id          text   NOT NULL,
    site_id            text   NOT NULL,
    session_id         bigint NOT NULL,              -- the site's id
    router_id          bigint,
    acct_session_id    text,
    username           text,
    mac                text,
    framed_ip          text,
    subscriber_id      bigint,
    state              text   NOT NULL CHECK (state IN ('open', 'closed')),
    session_time_s     bigint,
    input_octets       bigint,
    output_octets      bigint,
    terminate_cause    bigint,
    started_site       bigint,
    ended_site         bigint,
    updated_site       bigint,
    seq                bigint NOT NULL,               -- seq of the latest counters
    started_seq        bigint,
    stopped_seq        bigint,
    PRIMARY KEY (tenant_id, site_id, session_id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);
CREATE INDEX sessions_open ON sessions (tenant_id, site_id) WHERE state = 'open';

CREATE TABLE routers (
    tenant_id          text   NOT NULL,
    site_id            text   NOT NULL,
    name               text   NOT NULL,
    router_id          bigint,
    nas_ip             text,
    state              text,                          -- active / disabled
    status             text,                          -- unknown / up / down
    status_detail      text,
    ros_version        text,
    identity           text,
    latency_ms         bigint,
    status_site        bigint,                        -- when the status was seen at the site
    config_seq         bigint,
    status_seq         bigint,
    identity_seq       bigint,
    PRIMARY KEY (tenant_id, site_id, name),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

CREATE TABLE failed_jobs (
    tenant_id          text   NOT NULL,
    site_id            text   NOT NULL,
    job_id             bigint NOT NULL,
    queue              text,
    kind               text,
    attempts           bigint,
    error              text,
    state              text   NOT NULL CHECK (state IN ('failed', 'retried', 'discarded')),
    failed_site        bigint,
    changed_site       bigint,
    seq                bigint NOT NULL,
    failed_seq         bigint,
    PRIMARY KEY (tenant_id, site_id, job_id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);
CREATE INDEX failed_jobs_open ON failed_jobs (tenant_id, site_id) WHERE state = 'failed';

-- RADIUS rejects per site-clock minute (the site sends them aggregated).
CREATE TABLE auth_rejects (
    tenant_id          text   NOT NULL,
    site_id            text   NOT NULL,
    minute_site        bigint NOT NULL,
    total              bigint NOT NULL,
    PRIMARY KEY (tenant_id, site_id, minute_site),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

-- Per site, what its events add up to.
CREATE TABLE site_health (
    tenant_id          text   NOT NULL,
    site_id            text   NOT NULL,
    events             bigint NOT NULL DEFAULT 0,
    last_seq           bigint NOT NULL DEFAULT 0,
    last_event_site    bigint,                        -- newest event's time at the site
    payments_applied   bigint NOT NULL DEFAULT 0,
    amount_applied     bigint NOT NULL DEFAULT 0,
    auth_rejects       bigint NOT NULL DEFAULT 0,
    unprojected        jsonb  NOT NULL DEFAULT '{}',  -- event types no projection knows: count
    PRIMARY KEY (tenant_id, site_id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

-- Events a projection could not apply: recorded, never skipped silently; the event stays in
-- `events` and a rebuild tries it again.
CREATE TABLE projection_failures (
    tenant_id          text   NOT NULL,
    site_id            text   NOT NULL,
    seq                bigint NOT NULL,
    projection         text   NOT NULL,
    type               text   NOT NULL,
    error              text   NOT NULL,
    at                 timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, site_id, seq, projection),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

ALTER TABLE payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE payments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON payments
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE subscribers ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscribers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON subscribers
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON subscriptions
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE voucher_batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE voucher_batches FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON voucher_batches
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE vouchers ENABLE ROW LEVEL SECURITY;
ALTER TABLE vouchers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON vouchers
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sessions
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE routers ENABLE ROW LEVEL SECURITY;
ALTER TABLE routers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON routers
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE failed_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE failed_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON failed_jobs
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE auth_rejects ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_rejects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_rejects
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE site_health ENABLE ROW LEVEL SECURITY;
ALTER TABLE site_health FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON site_health
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE projection_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE projection_failures FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projection_failures
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));
