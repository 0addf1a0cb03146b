-- Liveness signals over time, alerts with their conditions, and maintenance windows.

-- The site's backlog as its batches reported it, a sample a minute at most (newest last):
-- whether it grows.
ALTER TABLE site_cursors ADD COLUMN backlog_samples jsonb NOT NULL DEFAULT '[]';

-- The figures the liveness state was assessed from, kept with it for the API.
ALTER TABLE site_liveness ADD COLUMN backlog bigint;
ALTER TABLE site_liveness ADD COLUMN assessed_at timestamptz;

-- Per site, reason and subject (a router's name, or ''): since when the condition has been
-- bad (tolerance) or good again (flap damping), and the alert it holds open.
CREATE TABLE alert_conditions (
    tenant_id      text NOT NULL,
    site_id        text NOT NULL,
    reason         text NOT NULL,
    subject        text NOT NULL DEFAULT '',
    bad_since      timestamptz,
    good_since     timestamptz,
    alert_id       bigint,                         -- the open alert
    last_alert_id  bigint,                         -- the last one resolved, and when
    last_resolved  timestamptz,
    PRIMARY KEY (tenant_id, site_id, reason, subject),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

-- Alerts: detected → acknowledged → resolved.
CREATE TABLE alerts (
    tenant_id        text NOT NULL,
    alert_id         bigserial,
    site_id          text NOT NULL,
    reason           text NOT NULL
                     CHECK (reason IN ('site_offline', 'router_unreachable', 'payment_not_applied',
                                       'failed_jobs', 'radius_reject_spike', 'sync_backlog_growing',
                                       'clock_skew')),
    subject          text NOT NULL DEFAULT '',
    state            text NOT NULL DEFAULT 'detected'
                     CHECK (state IN ('detected', 'acknowledged', 'resolved')),
    detected_at      timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    ack_note         text,
    resolved_at      timestamptz,
    flaps            integer NOT NULL DEFAULT 0,     -- came back before it was resolved, or reopened
    detail           jsonb NOT NULL DEFAULT '{}',
    as_of_site       bigint,                         -- the site time of the figures it is about
    PRIMARY KEY (tenant_id, alert_id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (tenant_id, site_id, reason, subject)
    WHERE state <> 'resolved';
CREATE INDEX alerts_by_time ON alerts (tenant_id, detected_at DESC, alert_id DESC);

-- While a window is open, no alert opens for its site (or every site of the tenant when
-- site_id is NULL); alerts already open stay open and still resolve.
CREATE TABLE maintenance_windows (
    tenant_id   text NOT NULL,
    window_id   bigserial,
    site_id     text,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    reason      text NOT NULL DEFAULT '',
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, window_id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites
);

ALTER TABLE alert_conditions ENABLE ROW LEVEL SECURITY;
ALTER TABLE alert_conditions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON alert_conditions
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE alerts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON alerts
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));

ALTER TABLE maintenance_windows ENABLE ROW LEVEL SECURITY;
ALTER TABLE maintenance_windows FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON maintenance_windows
    USING (tenant_id = current_setting('sitebox.tenant', true))
    WITH CHECK (tenant_id = current_setting('sitebox.tenant', true));
