-- What each worker found of the agent CLIs on its host (found, version, tested range, logged in): the health
-- report shows the CLIs where the agents run, not where the web runs.
ALTER TABLE workers ADD COLUMN clis jsonb NOT NULL DEFAULT '[]'::jsonb;
