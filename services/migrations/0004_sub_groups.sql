-- Sub-groups of large groups (docs/groups.md). A group's sub-group count and each member's sub-group are persisted:
-- the fan-out reads a sub-group's members by index and never recomputes placement while it works, and a later move
-- (dual write, staged switch, rollback) changes rows it can name and undo.
ALTER TABLE im_groups ADD COLUMN sub_groups INT NOT NULL DEFAULT 1;

ALTER TABLE group_members ADD COLUMN sub_group INT NOT NULL DEFAULT 0;

ALTER TABLE group_members ADD KEY idx_group_members_sub_group (group_id, sub_group);

-- How far each sub-group's fan-out has processed its group's timeline, for groups with more than one sub-group (a
-- group with one keeps im_groups.fanout_seq). Each sub-group is consumed on its own, so each has its own cursor.
CREATE TABLE group_sub_groups (
  group_id BIGINT NOT NULL,
  sub_group INT NOT NULL,
  fanout_seq BIGINT NOT NULL DEFAULT 0,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (group_id, sub_group)
);
