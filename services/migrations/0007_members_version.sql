-- A group's member-list version (docs/groups.md, "Fan-out workers"): raised in the same transaction as every change
-- to who a fan-out serves (a join, a move's plan, switch, finish or rollback), so a message instance may keep a
-- group's or sub-group's member list in memory and read the database's list again only when the version moved.
ALTER TABLE im_groups ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;
