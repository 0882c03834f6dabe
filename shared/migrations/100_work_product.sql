-- The team's work product in git (orchestrator/workflows/work_product.py): each task's branch and what it
-- changed as git measured it, its merge into the main line, a team's check command, and the checks it ran.
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS branch text;
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS base_commit text;
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS changes jsonb;
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS merge jsonb;
ALTER TABLE teams ADD COLUMN IF NOT EXISTS check_command text
    CHECK (check_command IS NULL OR length(check_command) BETWEEN 1 AND 2000);

ALTER TABLE task_reviews DROP CONSTRAINT IF EXISTS task_reviews_step_check;
ALTER TABLE task_reviews ADD CONSTRAINT task_reviews_step_check CHECK (step IN (
    'requested', 'approved', 'changes_requested', 'rejected', 'merged', 'merge_conflict', 'check_failed'));

CREATE TABLE IF NOT EXISTS merge_checks (
    id            text PRIMARY KEY,
    team_id       text NOT NULL REFERENCES teams (id),
    task_id       text NOT NULL REFERENCES tasks (id),
    state         text NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'passed', 'failed', 'cancelled')),
    command       text NOT NULL,
    base_commit   text NOT NULL,   -- the main line the merge was made on
    merge_commit  text NOT NULL,   -- the merged result the command runs on
    approved_by   text NOT NULL,
    exit_code     integer,
    output        text,
    worker        text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
CREATE INDEX IF NOT EXISTS merge_checks_task ON merge_checks (task_id, created_at);
