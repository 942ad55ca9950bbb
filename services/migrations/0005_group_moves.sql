-- Moves of a group's members between sub-groups (docs/groups.md, "Growth and rebalance as a workflow"). One row per
-- move, and one per moving member with its old and new sub-group: a rollback sets each member back from these rows,
-- and while a move is 'dual' the fan-out of both the old and the new sub-group serves its members.
CREATE TABLE group_moves (
  move_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  group_id BIGINT NOT NULL,
  -- The sub-group count before the move (what a rollback returns to) and after it.
  from_sub_groups INT NOT NULL,
  to_sub_groups INT NOT NULL,
  -- The group's head when the move was planned: the new sub-groups' cursors start here.
  plan_head BIGINT NOT NULL,
  -- The lowest fan-out cursor of the group's sub-groups when the move was planned: every entry up to it was in every
  -- member's inbox already, so a moving member's in-order inbox catch-up (write diffusion) starts above it.
  plan_low BIGINT NOT NULL,
  moving INT NOT NULL,
  -- 'dual' (open: planned, switching), 'done' (finished), 'rolled_back'.
  state VARCHAR(16) NOT NULL,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  closed_at TIMESTAMP(3) NULL,
  KEY idx_group_moves_group (group_id, state)
);

CREATE TABLE group_move_members (
  move_id BIGINT NOT NULL,
  group_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  old_sub_group INT NOT NULL,
  new_sub_group INT NOT NULL,
  -- 1 once the member's group_members.sub_group is its new sub-group.
  switched TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (move_id, user_id),
  KEY idx_group_move_members_old (group_id, old_sub_group),
  KEY idx_group_move_members_new (group_id, new_sub_group)
);
