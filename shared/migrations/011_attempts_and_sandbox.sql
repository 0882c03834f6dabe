-- Attempts that were lost (their worker died or froze and the reaper took the run back) are what
-- `max_attempts` limits; a run handed back at shutdown, or re-queued for a usage limit or a fresh session,
-- keeps its budget of attempts.
ALTER TABLE runs ADD COLUMN lost_attempts integer NOT NULL DEFAULT 0 CHECK (lost_attempts >= 0);

-- What each worker process found about the agent sandbox on its host (for `gamma doctor` and the UI).
ALTER TABLE workers ADD COLUMN sandbox text;

-- The kernel a worker runs on (its boot id): workers on the same machine can tell that a crashed sibling's
-- process is gone and take its runs back without waiting for their leases to expire.
ALTER TABLE workers ADD COLUMN machine_id text;
