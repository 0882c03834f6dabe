-- Domain additions (teams, agents, tasks, rounds): the agent's avatar, retry links between tasks,
-- at most one open round per team, and the lead run that reviews a finished round.

ALTER TABLE agents ADD COLUMN emoji text NOT NULL DEFAULT '🤖' CHECK (length(emoji) BETWEEN 1 AND 32);

ALTER TABLE tasks ADD COLUMN retry_of text REFERENCES tasks (id);
CREATE INDEX tasks_team_created ON tasks (team_id, created_at, id);

ALTER TABLE rounds ADD COLUMN wake_run_id text REFERENCES runs (id);
-- New delegated work joins the team's open round; a round stops taking tasks once it is waking the lead.
CREATE UNIQUE INDEX rounds_one_open_per_team ON rounds (team_id) WHERE state = 'open';

CREATE INDEX runs_team_state ON runs (team_id, state);
