-- Chat order is total: each message takes the next number of its team's chat counter, under the team row's lock,
-- in the transaction that writes it. ULIDs order messages only within one process (clocks and random parts of
-- two processes writing in the same millisecond need not agree with the order they were written in).
ALTER TABLE teams ADD COLUMN chat_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE chat_messages ADD COLUMN seq bigint;
UPDATE chat_messages m SET seq = numbered.n
FROM (SELECT id, row_number() OVER (PARTITION BY team_id ORDER BY id) AS n FROM chat_messages) numbered
WHERE numbered.id = m.id;
UPDATE teams t SET chat_seq = COALESCE((SELECT max(seq) FROM chat_messages WHERE team_id = t.id), 0);
ALTER TABLE chat_messages ALTER COLUMN seq SET NOT NULL;
ALTER TABLE chat_messages ADD CONSTRAINT chat_messages_team_seq UNIQUE (team_id, seq);
