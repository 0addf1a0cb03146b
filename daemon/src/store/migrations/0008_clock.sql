-- The wall clock's standing, kept across restarts like systemd-timesyncd's saved clock: the
-- newest trusted time seen (the clock is never trusted earlier than this), and an untrusted
-- timeline not yet moved onto the wall clock.
CREATE TABLE clock_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    trusted_floor    INTEGER,
    untrusted_since  INTEGER,
    untrusted_last   INTEGER
) STRICT;
