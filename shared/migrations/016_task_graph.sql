-- Tasks with dependencies, a blocked stage, and the history of their reviews. The unused `planning` stage goes.
UPDATE tasks SET stage = 'backlog' WHERE stage = 'planning';
ALTER TABLE tasks DROP CONSTRAINT tasks_stage_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_stage_check
    CHECK (stage IN ('backlog', 'blocked', 'in_progress', 'review', 'done', 'failed', 'cancelled'));
-- Why a blocked task waits (its dependencies, or the one that failed).
ALTER TABLE tasks ADD COLUMN blocked_reason text CHECK (blocked_reason IS NULL OR length(blocked_reason) <= 10000);

-- A task starts only once every task it depends on is done. Both ends belong to the same team (checked by the
-- orchestrator, which also refuses cycles before it writes).
CREATE TABLE task_dependencies (
    task_id    text NOT NULL REFERENCES tasks (id),
    depends_on text NOT NULL REFERENCES tasks (id),
    PRIMARY KEY (task_id, depends_on),
    CHECK (task_id <> depends_on)
);
CREATE INDEX task_dependents ON task_dependencies (depends_on);

-- Each step of a review: requested (by the assignee), approved, changes requested (with the feedback) or
-- rejected (by the lead or the user).
CREATE TABLE task_reviews (
    id         text PRIMARY KEY CHECK (id ~ '^rev_[0-9A-HJKMNP-TV-Z]{26}$'),
    task_id    text NOT NULL REFERENCES tasks (id),
    step       text NOT NULL CHECK (step IN ('requested', 'approved', 'changes_requested', 'rejected')),
    by_agent   text REFERENCES agents (id),
    by_name    text NOT NULL CHECK (length(by_name) BETWEEN 1 AND 200),
    run_id     text REFERENCES runs (id),
    feedback   text CHECK (feedback IS NULL OR length(feedback) <= 100000),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX task_reviews_task ON task_reviews (task_id, created_at, id);
