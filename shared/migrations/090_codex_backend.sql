-- Agents and runs may use the codex CLI: widen the backend CHECKs of 001_core.sql.
ALTER TABLE agents DROP CONSTRAINT IF EXISTS agents_backend_check;
ALTER TABLE agents ADD CONSTRAINT agents_backend_check CHECK (backend IN ('claude', 'codex', 'demo'));
ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_backend_check;
ALTER TABLE runs ADD CONSTRAINT runs_backend_check CHECK (backend IN ('claude', 'codex', 'demo'));
