-- What a chat line is, in Gamma's words (shared/vocabulary.py CHAT_KINDS), next to the model-facing `role`:
--   user   the user's message                          (role user)
--   answer the lead's reply                            (role assistant)
--   wake   the prompt that woke the lead for a round   (role system, on the wake run, from no agent)
--   notice every other system line                     (role system)
-- No DEFAULT on purpose: every insert must say which kind it writes.

ALTER TABLE chat_messages ADD COLUMN kind text;

UPDATE chat_messages m SET kind = CASE
    WHEN m.role = 'user' THEN 'user'
    WHEN m.role = 'assistant' THEN 'answer'
    -- The wake prompt is posted with the wake run's id and no agent; the lead's own notes about that same run
    -- (failed, cancelled) carry the lead's agent id and stay notices.
    WHEN m.agent_id IS NULL AND EXISTS (SELECT 1 FROM runs r WHERE r.id = m.run_id AND r.reason = 'wake') THEN 'wake'
    ELSE 'notice'
END;

ALTER TABLE chat_messages ALTER COLUMN kind SET NOT NULL;
ALTER TABLE chat_messages ADD CONSTRAINT chat_messages_kind_check CHECK (kind IN ('user', 'answer', 'wake', 'notice'));
