-- What each run did through the agent API (tasks created, plans, messages, results, status reports, goal done),
-- one row per action, written in the action's own transaction. A row with an idempotency key answers a repeat of
-- the same call in the same run (any attempt) with the first response; the rows of a run also tell a resumed
-- attempt what it already did. `response` is `json`, not `jsonb`, so a repeat gets the first body as it was sent
-- (same keys in the same order).
CREATE TABLE agent_actions (
    id              bigserial PRIMARY KEY,
    run_id          text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    attempt         integer NOT NULL CHECK (attempt >= 0),
    idempotency_key text CHECK (idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 200),
    action          text NOT NULL CHECK (length(action) BETWEEN 1 AND 40),
    fingerprint     text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    -- Filled in the same transaction as the claim (the row is never visible without them).
    status          integer CHECK (status IS NULL OR status BETWEEN 200 AND 299),
    response        json,
    summary         text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX agent_actions_run_key ON agent_actions (run_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX agent_actions_run ON agent_actions (run_id, id);
