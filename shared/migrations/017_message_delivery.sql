-- Messages between agents reach their recipient: each unread message is put into the recipient's next run's
-- prompt once (the run it went to is recorded, so a resumed attempt of that run shows it again and no other run
-- does); a message that asks for an answer wakes an idle recipient.
ALTER TABLE agent_messages ADD COLUMN delivered_run_id text REFERENCES runs (id);
ALTER TABLE agent_messages ADD COLUMN wants_reply boolean NOT NULL DEFAULT false;
CREATE INDEX agent_messages_delivered ON agent_messages (delivered_run_id) WHERE delivered_run_id IS NOT NULL;
