"""The vocabulary (shared/vocabulary.py) against what really constrains and emits the words.

- The CHECK constraints of a migrated database allow exactly the vocabulary's values (read back from
  pg_constraint, so a migration that widens a CHECK without the vocabulary, or the other way round, fails).
- Every event kind the code emits (found by parsing the sources of orchestrator/, workers/, web/, shared/) is
  in EVENT_KINDS, and every kind in EVENT_KINDS is emitted somewhere.
- The task state machine names only known stages.
- Migration 012 gives existing chat lines their kind, and new lines must say theirs.
- `GET /api/vocabulary` serves it, cacheably.
"""

from __future__ import annotations

import ast
import os
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from shared import vocabulary
from shared.ids import new_id
from shared.migrate import available
from tests.support.databases import REPO, admin_url
from tests.support.orchestrator import app_client

# -------------------------------------------------------------------------------------- the CHECK constraints

# (table, column) → the vocabulary's values. agents.permission_mode has no CHECK (NULL means the setting).
CONSTRAINED = {
    ("tasks", "stage"): vocabulary.TASK_STAGES,
    ("tasks", "kind"): vocabulary.TASK_KINDS,
    ("runs", "state"): vocabulary.RUN_STATES,
    ("runs", "reason"): vocabulary.RUN_REASONS,
    ("runs", "outcome"): vocabulary.RUN_OUTCOMES,
    ("agents", "status"): vocabulary.AGENT_STATUSES,
    ("teams", "status"): vocabulary.TEAM_STATUSES,
    ("rounds", "state"): vocabulary.ROUND_STATES,
    ("chat_messages", "kind"): vocabulary.CHAT_KINDS,
    ("chat_messages", "role"): vocabulary.CHAT_ROLES,
    ("task_reviews", "step"): vocabulary.REVIEW_STEPS,
    ("merge_checks", "state"): vocabulary.MERGE_CHECK_STATES,
}
UNCONSTRAINED = {("agents", "permission_mode"): vocabulary.PERMISSION_MODES}
# How PostgreSQL prints `col IN ('a', …)`: `col = ANY (ARRAY['a'::text, …])`, or `col = 'a'::text` for one value.
_ANY_ARRAY = re.compile(r"\(?(\w+)\)? = (?:ANY \(ARRAY\[(.*?)\]\)|('(?:[^']|'')*'::text))")
_LITERAL = re.compile(r"'((?:[^']|'')*)'")


def allowed_values(conn: psycopg.Connection, table: str, column: str) -> list[list[str]]:
    """The value lists of every CHECK constraint on `table` that limits `column` (and only it) to a set."""
    rows = conn.execute(
        """
        SELECT pg_get_constraintdef(c.oid) AS def
        FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
        WHERE c.contype = 'c' AND c.conrelid = %s::regclass AND a.attname = %s AND cardinality(c.conkey) = 1
        ORDER BY c.conname
        """,
        (table, column),
    ).fetchall()
    return [[value.replace("''", "'") for value in _LITERAL.findall(items or single)]
            for row in rows for name, items, single in _ANY_ARRAY.findall(row["def"]) if name == column]


@pytest.mark.parametrize(("table", "column"), sorted(CONSTRAINED), ids=lambda v: v)
def test_check_constraint_allows_exactly_the_vocabulary(conn, table, column):
    lists = allowed_values(conn, f"public.{table}", column)
    assert len(lists) == 1, f"{table}.{column}: expected one CHECK listing its values, found {lists}"
    expected = CONSTRAINED[(table, column)]
    assert sorted(lists[0]) == sorted(expected), f"{table}.{column}: database {lists[0]} ≠ vocabulary {expected}"
    assert len(set(expected)) == len(expected), f"{table}.{column}: the vocabulary repeats a value"


@pytest.mark.parametrize(("table", "column"), sorted(UNCONSTRAINED), ids=lambda v: v)
def test_unconstrained_columns_stay_unconstrained(conn, table, column):
    """If a CHECK is ever added for these, this test says to add it to CONSTRAINED (and compare it)."""
    assert allowed_values(conn, f"public.{table}", column) == []


def test_the_constraint_reader_reads_what_a_check_allows(conn):
    """The reader itself, on a table of its own: quotes, NULL-or-list, several columns, one constraint each."""
    table = f"vocab_probe_{secrets.token_hex(3)}"
    conn.execute(f"CREATE TABLE {table} (a text CHECK (a IN ('x', 'o''dd')), b text CHECK (b IS NULL OR b IN ('y'))"
                 ", CHECK (a <> 'x' OR b IN ('z')))")
    try:
        assert allowed_values(conn, table, "a") == [["x", "o'dd"]]
        assert allowed_values(conn, table, "b") == [["y"]]
    finally:
        conn.execute(f"DROP TABLE {table}")


# ------------------------------------------------------------------------------------------- the event kinds

SOURCE_DIRS = ("orchestrator", "workers", "web", "shared")
# The calls that append events: Outbox.add (receivers named box/outbox), NewEvent(...), ParsedEvent(...).
_EMIT_FUNCTIONS = {"NewEvent", "ParsedEvent"}
_OUTBOX_NAMES = {"box", "outbox"}
_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")  # the events.kind CHECK of 001_core.sql


def _sources() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in (REPO / d).rglob("*.py") if ".venv" not in p.parts)


def _module_constants(trees: dict[Path, ast.Module]) -> dict[str, str]:
    """Module-level `NAME = "a.b"` across the sources (e.g. shared/events.py UNSTORABLE_WARNING)."""
    found: dict[str, str] = {}
    for tree in trees.values():
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, str) and _KIND.match(node.value.value):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = node.value.value
    return found


def _strings(node: ast.AST) -> list[str] | None:
    """The literal values an expression can take: a constant, or a conditional choosing between constants."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _strings(node.body), _strings(node.orelse)
        return None if body is None or orelse is None else body + orelse
    return None


def _emit_calls(tree: ast.Module) -> Iterator[tuple[ast.Call, ast.AST | None]]:
    """(call, enclosing function) for every emit call in a module."""
    def walk(node: ast.AST, function: ast.AST | None) -> Iterator[tuple[ast.Call, ast.AST | None]]:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.Call) and child.args:
                func = child.func
                if (isinstance(func, ast.Name) and func.id in _EMIT_FUNCTIONS) or (
                        isinstance(func, ast.Attribute) and func.attr == "add"
                        and isinstance(func.value, ast.Name) and func.value.id in _OUTBOX_NAMES):
                    yield child, function
            yield from walk(child, inner)
    yield from walk(tree, None)


def emitted_kinds() -> tuple[dict[str, list[str]], list[str]]:
    """Every event kind the sources emit (kind → where), and the emit calls whose kind could not be resolved."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in _sources()}
    constants = _module_constants(trees)
    kinds: dict[str, list[str]] = {}
    unresolved: list[str] = []
    for path, tree in trees.items():
        for call, function in _emit_calls(tree):
            where = f"{path.relative_to(REPO)}:{call.lineno}"
            arg = call.args[0]
            values = _strings(arg)
            if values is None and isinstance(arg, ast.Name):
                params = {a.arg for a in function.args.args + function.args.kwonlyargs} if function else set()
                if arg.id in params:
                    continue  # a pass-through (Outbox.add's own `kind`): its callers are scanned
                values = _local_strings(function, arg.id) or ([constants[arg.id]] if arg.id in constants else None)
            if values is None and isinstance(arg, ast.Attribute):
                if arg.attr == "kind":
                    continue  # a ParsedEvent's kind passed on (workers/executor.py): the parsers are scanned
                values = [constants[arg.attr]] if arg.attr in constants else None
            if values is None:
                unresolved.append(f"{where}: {ast.unparse(arg)}")
                continue
            for value in values:
                kinds.setdefault(value, []).append(where)
    return kinds, unresolved


def _local_strings(function: ast.AST | None, name: str) -> list[str] | None:
    if function is None:
        return None
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return _strings(node.value)
    return None


def test_every_emitted_event_kind_is_in_the_vocabulary():
    kinds, unresolved = emitted_kinds()
    assert not unresolved, "emit calls whose kind the scan cannot tell (use a literal or a module constant):\n" \
        + "\n".join(unresolved)
    unknown = {kind: where for kind, where in kinds.items() if kind not in vocabulary.EVENT_KINDS}
    assert not unknown, f"event kinds emitted but missing from shared/vocabulary.py EVENT_KINDS: {unknown}"


def test_every_vocabulary_event_kind_is_emitted():
    kinds, _ = emitted_kinds()
    stale = [kind for kind in vocabulary.EVENT_KINDS if kind not in kinds]
    assert not stale, f"EVENT_KINDS lists kinds no code emits: {stale}"
    assert len(set(vocabulary.EVENT_KINDS)) == len(vocabulary.EVENT_KINDS)
    assert all(_KIND.match(kind) for kind in vocabulary.EVENT_KINDS)


def test_the_scan_finds_each_form_of_emit_call(tmp_path, monkeypatch):
    """The scanner on a tiny tree: literal, conditional, local variable, module constant, unresolvable."""
    root = tmp_path / "repo"
    (root / "shared").mkdir(parents=True)
    (root / "shared" / "a.py").write_text(
        'WARN = "x.warn"\n'
        "def f(box, outbox, flag, text):\n"
        '    box.add("x.one", "t")\n'
        '    outbox.add("x.two" if flag else "x.three", "t")\n'
        '    kind = "x.four"\n'
        "    outbox.add(kind, \"t\")\n"
        '    NewEvent(WARN, "t")\n'
        '    ParsedEvent(text.upper(), {})\n'
        "    seen = set()\n"
        "    seen.add(text)\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "REPO", root)
    kinds, unresolved = emitted_kinds()
    assert sorted(kinds) == ["x.four", "x.one", "x.three", "x.two", "x.warn"]
    assert unresolved == ["shared/a.py:8: text.upper()"]


# ------------------------------------------------------------------------------------- the task state machine


def test_transitions_name_only_known_stages():
    stages = set(vocabulary.TASK_STAGES)
    assert len(stages) == len(vocabulary.TASK_STAGES)
    for source, targets in vocabulary.TASK_TRANSITIONS.items():
        assert source in stages, f"unknown stage {source!r} in TASK_TRANSITIONS"
        unknown = set(targets) - stages
        assert not unknown, f"{source} → unknown stages {unknown}"
        assert source not in targets, f"{source} moves to itself"
    # Final stages are final; every other stage can be left.
    assert set(vocabulary.TASK_TRANSITIONS) == stages - set(vocabulary.TERMINAL_TASK_STAGES)


def test_stage_groups_partition_the_stages():
    stages = set(vocabulary.TASK_STAGES)
    open_, terminal, settled = (set(vocabulary.OPEN_TASK_STAGES), set(vocabulary.TERMINAL_TASK_STAGES),
                                set(vocabulary.SETTLED_TASK_STAGES))
    assert open_ | terminal | {"review"} == stages and not open_ & terminal
    assert settled == stages - open_
    assert set(vocabulary.ACTIVE_RUN_STATES) | set(vocabulary.TERMINAL_RUN_STATES) == set(vocabulary.RUN_STATES)
    assert not set(vocabulary.ACTIVE_RUN_STATES) & set(vocabulary.TERMINAL_RUN_STATES)


def test_permission_modes_match_the_settings_and_the_api():
    """The two places that validate permission modes today (the setting and the API's Literal)."""
    from typing import get_args  # noqa: PLC0415

    from shared.config import Settings  # noqa: PLC0415
    from web.api._helpers import PermissionMode  # noqa: PLC0415

    assert get_args(PermissionMode) == vocabulary.PERMISSION_MODES
    assert get_args(Settings.model_fields["permission_mode"].annotation) == vocabulary.PERMISSION_MODES


# ---------------------------------------------------------------------------------- migration 012 (chat kind)


@pytest.fixture
def before_012() -> Iterator[psycopg.Connection]:
    """A database of its own with the migrations an installation had before 012 (everything earlier, and 090)."""
    admin = admin_url(os.environ.get("GAMMA_TEST_DATABASE_URL"))
    name = f"gamma_vocab_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as server:
        server.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(psycopg.conninfo.make_conninfo(admin, dbname=name), autocommit=True,
                             row_factory=dict_row) as conn:
            for migration in available():
                if migration.version < 12 or migration.version == 90:
                    with conn.transaction():
                        migration.apply(conn)
            yield conn
    finally:
        with psycopg.connect(admin, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migration_012_backfills_the_chat_kind(before_012):
    conn = before_012
    team, lead = new_id("team"), new_id("agent")
    conn.execute("INSERT INTO teams (id, name) VALUES (%s, 'T')", (team,))
    conn.execute("INSERT INTO agents (id, team_id, name, role_id, is_lead) VALUES (%s, %s, 'Lead', 'a/b', true)",
                 (lead, team))
    runs = {}
    for reason in ("chat", "wake"):
        runs[reason] = new_id("run")
        conn.execute("INSERT INTO runs (id, team_id, agent_id, reason, prompt) VALUES (%s, %s, %s, %s, 'p')",
                     (runs[reason], team, lead, reason))
    lines = {  # expected kind → (role, agent, run)
        "user": ("user", None, runs["chat"]),
        "answer": ("assistant", lead, runs["chat"]),
        "wake": ("system", None, runs["wake"]),
        "notice:wake-run-failed": ("system", lead, runs["wake"]),  # the lead's note about its failed wake run
        "notice:chat-run-failed": ("system", lead, runs["chat"]),
        "notice:goal-done": ("system", None, None),
    }
    ids = {}
    for label, (role, agent, run) in lines.items():
        ids[label] = new_id("msg")
        conn.execute("INSERT INTO chat_messages (id, team_id, role, agent_id, run_id, content)"
                     " VALUES (%s, %s, %s, %s, %s, 'c')", (ids[label], team, role, agent, run))

    with conn.transaction():
        next(m for m in available() if m.version == 12).apply(conn)

    kinds = {r["id"]: r["kind"] for r in conn.execute("SELECT id, kind FROM chat_messages").fetchall()}
    assert {label: kinds[ids[label]] for label in lines} == {label: label.split(":")[0] for label in lines}
    column = conn.execute("SELECT is_nullable, column_default FROM information_schema.columns"
                          " WHERE table_name = 'chat_messages' AND column_name = 'kind'").fetchone()
    assert column == {"is_nullable": "NO", "column_default": None}


def test_a_chat_line_must_say_its_kind(conn, team):
    base = "INSERT INTO chat_messages (id, team_id, seq, role, content{}) VALUES (%s, %s, %s, 'user', 'hi'{})"
    with pytest.raises(psycopg.errors.NotNullViolation, match="kind"):
        conn.execute(base.format("", ""), (new_id("msg"), team["id"], 1))
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(base.format(", kind", ", 'shout'"), (new_id("msg"), team["id"], 2))
    conn.execute(base.format(", kind", ", 'user'"), (new_id("msg"), team["id"], 3))


# ---------------------------------------------------------------------------------------- GET /api/vocabulary


@pytest.fixture
def client(database_url):
    return app_client()


def test_api_serves_the_vocabulary(client):
    response = client.get("/api/vocabulary")
    assert response.status_code == 200
    body = response.get_json()
    assert body == vocabulary.as_json()
    for key in ("task_stages", "run_states", "agent_states", "task_kinds", "event_kinds", "chat_kinds",
                "permission_modes", "round_states", "team_statuses"):
        assert isinstance(body[key], list) and body[key], key
    assert body["task_stages"] == list(vocabulary.TASK_STAGES)  # display order kept
    assert body["task_transitions"]["review"] == ["in_progress", "done", "failed", "cancelled"]
    assert "max-age=" in response.headers["Cache-Control"]

    etag = response.headers["ETag"]
    again = client.get("/api/vocabulary", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    other = client.get("/api/vocabulary", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.get_json() == body


def test_api_vocabulary_is_behind_the_token_like_the_other_routes(database_url, monkeypatch):
    from shared.config import reset_settings_cache  # noqa: PLC0415

    monkeypatch.setenv("GAMMA_API_TOKEN", "t" * 32)
    reset_settings_cache()
    try:
        client = app_client()
        assert client.get("/api/vocabulary").status_code == 401
        assert client.get("/api/roles").status_code == 401
        ok = client.get("/api/vocabulary", headers={"Authorization": "Bearer " + "t" * 32})
        assert ok.status_code == 200 and ok.get_json() == vocabulary.as_json()
    finally:
        monkeypatch.delenv("GAMMA_API_TOKEN")
        reset_settings_cache()
