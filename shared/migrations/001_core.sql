-- Gamma core schema. Timestamps are timestamptz (UTC). IDs are prefixed ULIDs (text).

CREATE TABLE teams (
    id           text PRIMARY KEY CHECK (id ~ '^team_[0-9A-HJKMNP-TV-Z]{26}$'),
    name         text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    blueprint_id text,
    budget_usd   numeric(12, 4) CHECK (budget_usd IS NULL OR budget_usd > 0),
    -- Last event cursor handed out for this team. Bumped under this row's lock by every event batch,
    -- so cursors are gap-free and in commit order within a team.
    event_seq    bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX teams_active ON teams (created_at DESC) WHERE status = 'active';

CREATE TABLE agents (
    id               text PRIMARY KEY CHECK (id ~ '^agent_[0-9A-HJKMNP-TV-Z]{26}$'),
    team_id          text NOT NULL REFERENCES teams (id),
    name             text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    role_id          text NOT NULL CHECK (length(role_id) BETWEEN 1 AND 200),
    specialization   text NOT NULL DEFAULT '' CHECK (length(specialization) <= 2000),
    is_lead          boolean NOT NULL DEFAULT false,
    status           text NOT NULL DEFAULT 'idle'
                     CHECK (status IN ('idle', 'queued', 'running', 'error', 'stopped', 'archived')),
    backend          text NOT NULL DEFAULT 'claude' CHECK (backend IN ('claude', 'demo')),
    model            text,
    max_turns        integer CHECK (max_turns IS NULL OR max_turns > 0),
    permission_mode  text,
    allowed_tools    text[],
    disallowed_tools text[],
    budget_usd       numeric(12, 4) CHECK (budget_usd IS NULL OR budget_usd > 0),
    session_id       text,
    workspace_path   text,
    claude_md_hash   text,
    context_tokens   bigint NOT NULL DEFAULT 0,
    context_window   bigint,
    last_active_at   timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_team ON agents (team_id, created_at);
CREATE UNIQUE INDEX agents_one_lead_per_team ON agents (team_id) WHERE is_lead AND status <> 'archived';
CREATE UNIQUE INDEX agents_unique_name_per_team ON agents (team_id, lower(name)) WHERE status <> 'archived';

-- A round is one cycle of delegated work started by a lead run; when all its tasks are settled the lead
-- is woken once to review them.
CREATE TABLE rounds (
    id          text PRIMARY KEY CHECK (id ~ '^round_[0-9A-HJKMNP-TV-Z]{26}$'),
    team_id     text NOT NULL REFERENCES teams (id),
    state       text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'waking', 'closed', 'cancelled')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz
);
CREATE INDEX rounds_team_open ON rounds (team_id) WHERE state IN ('open', 'waking');

CREATE TABLE tasks (
    id           text PRIMARY KEY CHECK (id ~ '^task_[0-9A-HJKMNP-TV-Z]{26}$'),
    team_id      text NOT NULL REFERENCES teams (id),
    round_id     text REFERENCES rounds (id),
    title        text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 100000),
    kind         text NOT NULL DEFAULT 'generic' CHECK (kind IN (
                     'generic', 'backend', 'frontend', 'mobile', 'qa', 'design', 'devops', 'security', 'data',
                     'ml', 'research', 'writing', 'marketing', 'sales', 'support', 'product', 'planning',
                     'review', 'docs')),
    stage        text NOT NULL DEFAULT 'backlog' CHECK (stage IN (
                     'backlog', 'planning', 'in_progress', 'review', 'done', 'failed', 'cancelled')),
    priority     integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN -100 AND 100),
    assigned_to  text REFERENCES agents (id),
    created_by   text REFERENCES agents (id),
    result       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    completed_at timestamptz
);
CREATE INDEX tasks_team_stage ON tasks (team_id, stage);
CREATE INDEX tasks_assignee ON tasks (assigned_to, stage);
CREATE INDEX tasks_round ON tasks (round_id);

CREATE TABLE runs (
    id                  text PRIMARY KEY CHECK (id ~ '^run_[0-9A-HJKMNP-TV-Z]{26}$'),
    team_id             text NOT NULL REFERENCES teams (id),
    agent_id            text NOT NULL REFERENCES agents (id),
    task_id             text REFERENCES tasks (id),
    round_id            text REFERENCES rounds (id),
    reason              text NOT NULL DEFAULT 'task' CHECK (reason IN ('chat', 'task', 'wake', 'message', 'retry')),
    prompt              text NOT NULL,
    backend             text NOT NULL DEFAULT 'claude' CHECK (backend IN ('claude', 'demo')),
    state               text NOT NULL DEFAULT 'queued' CHECK (state IN (
                            'queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted', 'timed_out')),
    attempt             integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts        integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    owner               text,
    lease_until         timestamptz,
    not_before          timestamptz,
    dispatched_at       timestamptz,
    wait_reason         text,
    cancel_requested_at timestamptz,
    token_hash          text,
    session_id          text,
    session_note        text,
    cli_version         text,
    model               text,
    pid                 integer,
    host                text,
    exit_code           integer,
    outcome             text CHECK (outcome IS NULL OR outcome IN (
                            'success', 'max_turns', 'budget_exceeded', 'api_error', 'usage_limit',
                            'unknown_session', 'timeout', 'cli_not_found', 'cli_error', 'cancelled',
                            'lease_lost', 'interrupted', 'config_error', 'no_result')),
    error               text,
    stderr_tail         text,
    result_text         text,
    api_error_status    integer,
    usage               jsonb,
    model_usage         jsonb,
    cost_usd            numeric(14, 6),
    num_turns           integer,
    duration_ms         bigint,
    duration_api_ms     bigint,
    input_tokens        bigint,
    output_tokens       bigint,
    cache_read_tokens   bigint,
    cache_creation_tokens bigint,
    context_tokens      bigint,
    context_window      bigint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    ended_at            timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (state <> 'running' OR (owner IS NOT NULL AND lease_until IS NOT NULL))
);
-- One active run per agent, enforced by the database itself.
CREATE UNIQUE INDEX runs_one_running_per_agent ON runs (agent_id) WHERE state = 'running';
CREATE INDEX runs_agent_queue ON runs (agent_id, created_at, id) WHERE state = 'queued';
CREATE INDEX runs_queued ON runs (created_at, id) WHERE state = 'queued';
CREATE INDEX runs_lease ON runs (lease_until) WHERE state = 'running';
CREATE INDEX runs_team ON runs (team_id, created_at);
CREATE INDEX runs_task ON runs (task_id);
CREATE UNIQUE INDEX runs_token ON runs (token_hash) WHERE token_hash IS NOT NULL;

-- Every line the CLI printed, verbatim, per attempt.
CREATE TABLE run_lines (
    run_id     text NOT NULL REFERENCES runs (id),
    attempt    integer NOT NULL,
    line_no    integer NOT NULL,
    stream     text NOT NULL CHECK (stream IN ('stdout', 'stderr')),
    line       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run_id, attempt, stream, line_no)
);

CREATE TABLE chat_messages (
    id         text PRIMARY KEY CHECK (id ~ '^msg_[0-9A-HJKMNP-TV-Z]{26}$'),
    team_id    text NOT NULL REFERENCES teams (id),
    role       text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    agent_id   text REFERENCES agents (id),
    run_id     text REFERENCES runs (id),
    content    text NOT NULL CHECK (length(content) BETWEEN 1 AND 200000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_team ON chat_messages (team_id, id);

CREATE TABLE agent_messages (
    id         text PRIMARY KEY CHECK (id ~ '^amsg_[0-9A-HJKMNP-TV-Z]{26}$'),
    team_id    text NOT NULL REFERENCES teams (id),
    from_agent text REFERENCES agents (id),
    to_agent   text NOT NULL REFERENCES agents (id),
    content    text NOT NULL CHECK (length(content) BETWEEN 1 AND 100000),
    read_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_messages_inbox ON agent_messages (to_agent, id) WHERE read_at IS NULL;
CREATE INDEX agent_messages_team ON agent_messages (team_id, id);

-- The append-only event log. The cursor is (team_id, seq): seq is handed out from teams.event_seq under
-- the team row's lock inside the inserting transaction, so it is gap-free and commit-ordered per team.
CREATE TABLE events (
    team_id    text NOT NULL REFERENCES teams (id),
    seq        bigint NOT NULL CHECK (seq > 0),
    id         text NOT NULL UNIQUE CHECK (id ~ '^evt_[0-9A-HJKMNP-TV-Z]{26}$'),
    kind       text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$'),
    agent_id   text,
    task_id    text,
    run_id     text,
    payload    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (team_id, seq)
);
CREATE INDEX events_run ON events (run_id, team_id, seq) WHERE run_id IS NOT NULL;
CREATE INDEX events_agent ON events (agent_id, team_id, seq) WHERE agent_id IS NOT NULL;
CREATE INDEX events_task ON events (task_id, team_id, seq) WHERE task_id IS NOT NULL;

CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- Live worker processes, for health and for the reaper.
CREATE TABLE workers (
    id           text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    threads      integer NOT NULL,
    busy         integer NOT NULL DEFAULT 0,
    version      text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);
CREATE INDEX workers_alive ON workers (heartbeat_at) WHERE stopped_at IS NULL;
