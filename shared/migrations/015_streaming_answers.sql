-- The lead's answer streams: its chat message exists from the run's first text (final = false) and grows with
-- it (chat.updated events); it becomes final when the run ends.
ALTER TABLE chat_messages ADD COLUMN final boolean NOT NULL DEFAULT true;
CREATE INDEX chat_streaming ON chat_messages (run_id) WHERE NOT final;
