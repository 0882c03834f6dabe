-- Which storage holds a team's one true repository (orchestrator/records/workspaces.py:storage_id): a worker
-- whose GAMMA_HOME is that storage works in it directly; any other keeps a clone and syncs over git's smart HTTP
-- (workers/repo_sync.py). NULL, for teams made before: the storage of every worker (one host).
ALTER TABLE teams ADD COLUMN IF NOT EXISTS repo_storage text
    CHECK (repo_storage IS NULL OR repo_storage ~ '^[0-9a-f]{32}$');
