-- Core schema of the IM platform: accounts, groups, messages, inboxes and sequence high-water marks.
-- Written for TiDB (production) and MariaDB (local stand-in): plain InnoDB-compatible DDL, no foreign keys,
-- no triggers, BIGINT keys assigned by the services (TiDB's AUTO_INCREMENT is not monotonic across nodes).

CREATE TABLE users (
  user_id BIGINT NOT NULL PRIMARY KEY,
  username VARCHAR(64) NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uk_users_username (username)
);

CREATE TABLE im_groups (
  group_id BIGINT NOT NULL PRIMARY KEY,
  name VARCHAR(128) NOT NULL,
  owner_id BIGINT NOT NULL,
  member_count INT NOT NULL DEFAULT 0,
  -- 'write': a per-member inbox row per message; 'read': one copy, members read from the group's head.
  diffusion VARCHAR(8) NOT NULL DEFAULT 'write',
  head_seq BIGINT NOT NULL DEFAULT 0,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
);

CREATE TABLE group_members (
  group_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  -- The group seq at join: a member reads a read-diffusion group's messages after this point only.
  joined_group_seq BIGINT NOT NULL DEFAULT 0,
  joined_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (group_id, user_id),
  KEY idx_group_members_user (user_id)
);

CREATE TABLE messages (
  message_id BIGINT NOT NULL PRIMARY KEY,
  sender_id BIGINT NOT NULL,
  client_msg_id VARCHAR(64) NOT NULL,
  -- 'user' for 1:1, 'group' for group messages.
  conversation_type VARCHAR(8) NOT NULL,
  conversation_id BIGINT NOT NULL,
  body TEXT NOT NULL,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  -- Sender dedupe: a retried send with the same client id is stored once.
  UNIQUE KEY uk_messages_sender_client (sender_id, client_msg_id)
);

CREATE TABLE inbox (
  user_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  message_id BIGINT NOT NULL,
  PRIMARY KEY (user_id, seq)
);

CREATE TABLE group_timeline (
  group_id BIGINT NOT NULL,
  group_seq BIGINT NOT NULL,
  message_id BIGINT NOT NULL,
  PRIMARY KEY (group_id, group_seq)
);

-- Sequence high-water marks (seqsvr): a segment is reserved here before any seq in it is handed out,
-- so a restart or a Redis failover can never hand out a smaller seq.
CREATE TABLE seq_segments (
  user_id BIGINT NOT NULL PRIMARY KEY,
  max_seq BIGINT NOT NULL
);
