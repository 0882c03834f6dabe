-- Budgets pause, not fail: a team's (and an agent's) budget state — ok, warned (80 % spent, said once), paused
-- (spent: no new run starts, queued runs wait). An agent's budget_usd is now its total budget, like the team's.
ALTER TABLE teams ADD COLUMN budget_state text NOT NULL DEFAULT 'ok' CHECK (budget_state IN ('ok', 'warned', 'paused'));
ALTER TABLE agents ADD COLUMN budget_state text NOT NULL DEFAULT 'ok' CHECK (budget_state IN ('ok', 'warned', 'paused'));
