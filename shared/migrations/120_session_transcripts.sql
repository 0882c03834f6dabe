-- An agent CLI's session transcript, kept after each attempt so that the next run resumes its session on any
-- host (workers/session_transfer.py). Claude finds a session only in a file under its config directory and
-- the run's cwd, both of which differ between hosts: without this copy a run on another host starts afresh.
-- One row per agent and session; storing a session removes the agent's older ones (never resumed again).
CREATE TABLE IF NOT EXISTS session_transcripts (
    agent_id    text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    session_id  text NOT NULL CHECK (length(session_id) BETWEEN 1 AND 200),
    backend     text NOT NULL CHECK (backend IN ('claude', 'codex', 'demo')),
    -- the file's path below the place the CLI looks in (the part that is the same on every host)
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 1000),
    content     bytea NOT NULL,      -- zlib-compressed
    size        bigint NOT NULL CHECK (size >= 0),  -- bytes before compression
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),  -- of the uncompressed bytes
    host        text NOT NULL,       -- the worker's host that stored it
    run_id      text NOT NULL,       -- the attempt that stored it
    attempt     integer NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, session_id)
);
