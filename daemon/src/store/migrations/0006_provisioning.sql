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
