-- An outbox that went back in time (`siteboxd restore`, or a WAL lost on a damaged card): the
-- highest seq it held then. The cloud may already hold later seqs from before the restore;
-- until its cursor is known nothing is sent, then every event written since is moved above
-- it (docs/PROTOCOL.md, "Outbox rewind"). `siteboxd restore` may create this table in a
-- backup from an older build, hence IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS outbox_rewind (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    restored_head   INTEGER NOT NULL
) STRICT;
