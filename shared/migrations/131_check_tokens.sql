-- A merge check on a worker of another host than the web's fetches the merged result and reports its outcome
-- over HTTP (web/api/git_http.py) with a token of its own, valid while the check runs, as a run's agent token is.
ALTER TABLE merge_checks ADD COLUMN IF NOT EXISTS token_hash text;
