-- Automatic growth of groups (docs/groups.md, "Automatic growth"). Who started a move ('operator': through the internal
-- routes, i.e. imctl; 'auto': the message service's automatic growth), and who asked for its rollback (a rollback in
-- progress refuses every further switch and the finish, so an operator's rollback and the automatic driver never
-- pull one move two ways).
ALTER TABLE group_moves ADD COLUMN started_by VARCHAR(16) NOT NULL DEFAULT 'operator';

ALTER TABLE group_moves ADD COLUMN rollback_by VARCHAR(16) NULL;

ALTER TABLE group_moves ADD KEY idx_group_moves_state (state, started_by);

-- The candidates of automatic growth are groups with more members than one sub-group's warn bar: found by index.
ALTER TABLE im_groups ADD KEY idx_im_groups_member_count (member_count);

-- Leases that make one instance of a service the leader of a job (automatic growth): held while `expires_at` is in
-- the future by the database's clock, renewed by the holder, taken over by another once it lapsed.
CREATE TABLE platform_leases (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  holder VARCHAR(128) NOT NULL,
  expires_at TIMESTAMP(3) NOT NULL
);
