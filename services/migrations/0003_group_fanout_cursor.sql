-- How far the fan-out has processed each group's timeline. Events can reach Kafka out of group order (two
-- senders commit 21 then 22 but publish 22 first); the fan-out follows the timeline up to each event's seq
-- instead, so members' inboxes keep the group's order and a late event finds its work already done.
ALTER TABLE im_groups ADD COLUMN fanout_seq BIGINT NOT NULL DEFAULT 0;
