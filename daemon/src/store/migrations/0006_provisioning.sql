-- Router health, as the periodic poll over the RouterOS API last saw it. `status` and
-- `status_detail` (0005) stay the summary; these are the figures behind it.
ALTER TABLE routers ADD COLUMN ros_version      TEXT;     -- `/system/resource` version
ALTER TABLE routers ADD COLUMN identity         TEXT;     -- `/system/identity` name
ALTER TABLE routers ADD COLUMN latency_ms       INTEGER;  -- one API round trip
ALTER TABLE routers ADD COLUMN uptime_s         INTEGER;
ALTER TABLE routers ADD COLUMN cpu_load         INTEGER;  -- percent
ALTER TABLE routers ADD COLUMN free_memory      INTEGER;  -- bytes
ALTER TABLE routers ADD COLUMN active_sessions  INTEGER;  -- hotspot active + PPP active
ALTER TABLE routers ADD COLUMN last_seen_at     INTEGER;  -- last poll that reached it
ALTER TABLE routers ADD COLUMN last_error       TEXT;     -- the router's (or the link's) last error
ALTER TABLE routers ADD COLUMN checked_at       INTEGER;  -- last poll, reached or not

-- What each managed router should have of each subscriber, as revisions: a change bumps
-- `wanted` in its own transaction; a provisioning job records the revision it converged the
-- router to in `applied`. A pair left behind (a change that committed while the job for that
-- pair was finishing, or a job that gave up while the router was down) is found by the health
-- sweep and provisioned again.
CREATE TABLE router_provisioning (
    router_id      INTEGER NOT NULL REFERENCES routers (id) ON DELETE CASCADE,
    subscriber_id  INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    wanted         INTEGER NOT NULL DEFAULT 1,
    applied        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (router_id, subscriber_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX router_provisioning_behind ON router_provisioning (router_id, subscriber_id)
    WHERE applied < wanted;
