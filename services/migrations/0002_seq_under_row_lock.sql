-- Per-user sequence numbers are allocated inside the transaction that stores the inbox row, under the user's
-- row lock in user_seq: commit order equals seq order, so a receiver pulling "after N" can never step over a
-- seq whose row is still being written, and the database (RPO 0) is the only source of the high-water mark,
-- so no cache failover can move it backwards.
RENAME TABLE seq_segments TO user_seq;

ALTER TABLE user_seq CHANGE max_seq last_seq BIGINT NOT NULL;

-- A message lands in a user's inbox at most once, however often the fan-out is replayed.
ALTER TABLE inbox ADD UNIQUE KEY uk_inbox_user_message (user_id, message_id);

ALTER TABLE inbox ADD KEY idx_inbox_message (message_id);

-- The group timeline position of a group message, so a receiver knows where it stands in each group.
ALTER TABLE messages ADD COLUMN group_seq BIGINT NULL;
