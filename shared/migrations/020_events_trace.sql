-- The trace API's reads by time: a team's events between two instants, and the global trace ordered by
-- (created_at, team_id, seq) across teams (GET /api/events).
CREATE INDEX IF NOT EXISTS events_created ON events (created_at, team_id, seq);
CREATE INDEX IF NOT EXISTS events_team_created ON events (team_id, created_at);
