"""Placement of runs on worker hosts by labels (GAMMA_WORKER_LABELS; teams' and agents' `worker_labels`).

Real PostgreSQL throughout; the last tests start real `gamma worker` processes (demo backend, bench mode: no
model, no API calls) and prove that a pinned agent's runs go only to a worker with its labels, wait with a reason
while none is online, and run once one starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from orchestrator.records import runs
from shared import db, run_queue, worker_labels
from shared.config import ConfigError, load_settings
from shared.ids import new_id
from tests.support import factories
from tests.support.polling import wait_for
from tests.support.stack import Stack

pytest_plugins = ("tests.support.orchestrator", "tests.support.stack_fixtures")

# A run of the demo agent that makes no API calls and ends at once (workers/demo_agent.py: bench mode).
QUICK_DEMO = {"GAMMA_DEMO_BENCH_LINES": "3", "GAMMA_DEMO_BENCH_RATE": "1000"}


@pytest.fixture
def client(database_url):
    from tests.support.orchestrator import app_client  # noqa: PLC0415 - a plugin module: imported by pytest first

    return app_client()


# ------------------------------------------------------------------------------------- the label vocabulary

SAMPLES: list[list[Any]] = [
    [], ["gpu"], ["gpu", "licence"], ["0"], ["a-b"], ["a" * 16], ["a", "b", "c", "d"],
    ["a", "b", "c", "d", "e"], ["a" * 17], ["GPU"], ["-gpu"], [""], ["gpu", "gpu"], ["g pu"], ["gpu_1"],
    ["é"], ["gpu\n"], ["gpu,licence"], ["gpu+licence"], ["~x"],
]


@pytest.mark.parametrize("labels", SAMPLES, ids=repr)
def test_the_check_accepts_exactly_what_the_vocabulary_accepts(conn, labels):
    in_database = conn.execute("SELECT gamma_worker_labels_ok(%s::text[]) AS ok", (labels,)).fetchone()["ok"]
    assert in_database is (worker_labels.problem(labels) is None), labels


def test_the_check_refuses_null_elements_and_nested_arrays(conn):
    assert conn.execute("SELECT gamma_worker_labels_ok(ARRAY['gpu', NULL]) AS ok").fetchone()["ok"] is False
    assert conn.execute("SELECT gamma_worker_labels_ok(ARRAY[['a'], ['b']]) AS ok").fetchone()["ok"] is False


def test_the_check_spells_the_vocabulary_and_guards_every_table(conn):
    definition = conn.execute("SELECT pg_get_functiondef('gamma_worker_labels_ok'::regproc) AS d").fetchone()["d"]
    assert f"'^{worker_labels.LABEL_PATTERN}$'" in definition
    assert f"cardinality(labels) <= {worker_labels.MAX_LABELS}" in definition
    guarded = {row["table"] for row in conn.execute(
        "SELECT conrelid::regclass::text AS table FROM pg_constraint WHERE contype = 'c'"
        " AND pg_get_constraintdef(oid) = 'CHECK (gamma_worker_labels_ok(worker_labels))'")}
    assert guarded == {"teams", "agents", "runs", "workers"}


# ---------------------------------------------------------------------------------------------- the settings


def test_the_setting_is_parsed_sorted_without_repeats(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("GAMMA_WORKER_LABELS", " licence, gpu ,gpu,")
    settings = load_settings()
    assert settings.worker_labels == "gpu,licence" and settings.worker_label_list == ["gpu", "licence"]
    monkeypatch.setenv("GAMMA_WORKER_LABELS", "")
    assert load_settings().worker_label_list == []


@pytest.mark.parametrize(("value", "says"), [
    ("GPU", "not a label: 'GPU'"),
    ("gpu,has space", "not a label: 'has space'"),
    ("a" * 17, "not a label"),
    ("a,b,c,d,e", "at most 4 labels (got 5)"),
])
def test_a_bad_setting_stops_the_start_naming_the_variable(monkeypatch, tmp_path, value, says):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GAMMA_WORKER_LABELS", value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert "GAMMA_WORKER_LABELS: " in str(refused.value) and says in str(refused.value)


# ------------------------------------------------------------------------------------------------ the queues


def test_a_worker_without_labels_consumes_the_one_queue_of_today():
    assert run_queue.queues_of_worker([]) == [run_queue.QUEUE_NAME] == [run_queue.queue_for([])]


def test_a_worker_consumes_the_queue_of_every_subset_of_its_labels():
    longest = ["a" * 16, "b" * 16, "c" * 16, "d" * 16]
    queues = run_queue.queues_of_worker(longest)
    assert len(queues) == len(set(queues)) == 16  # gamma_runs + 2^4 - 1 subsets
    assert all(len(name) <= run_queue.MAX_QUEUE_NAME for name in queues)
    assert run_queue.queue_for(["licence", "gpu"]) == "gamma_runs@gpu+licence"
    for needed in (["gpu"], ["gpu", "licence"], ["licence"]):
        assert run_queue.queue_for(needed) in run_queue.queues_of_worker(["gpu", "licence", "x"])
    assert run_queue.queue_for(["gpu"]) not in run_queue.queues_of_worker(["licence"])


# ------------------------------------------------------------------------------------------------- the API


def test_labels_are_set_shown_and_refused_naming_the_field(client):
    created = client.post("/api/teams", json={"name": "Pinned", "worker_labels": ["licence"]})
    assert created.status_code == 201, created.get_json()
    team = created.get_json()
    assert team["worker_labels"] == ["licence"]
    lead = team["members"][0]
    assert lead["worker_labels"] == []

    changed = client.patch(f"/api/agents/{lead['id']}", json={"worker_labels": ["licence", "gpu"]})
    assert changed.status_code == 200 and changed.get_json()["worker_labels"] == ["gpu", "licence"]
    assert client.get(f"/api/agents/{lead['id']}").get_json()["worker_labels"] == ["gpu", "licence"]
    assert client.patch(f"/api/teams/{team['id']}", json={"worker_labels": ["licence", "cuda"]}).status_code == 200
    assert client.get(f"/api/teams/{team['id']}").get_json()["worker_labels"] == ["cuda", "licence"]

    for path in (f"/api/teams/{team['id']}", f"/api/agents/{lead['id']}"):
        for bad in (["GPU"], ["gpu", "gpu"], "gpu", [1], None, ["a", "b", "c", "d", "e"], ["x" * 17]):
            refused = client.patch(path, json={"worker_labels": bad})
            body = refused.get_json()
            assert 400 <= refused.status_code < 500, (path, bad, body)
            assert body["message"].startswith("worker_labels"), (path, bad, body)
    refused = client.post("/api/teams", json={"name": "Bad", "worker_labels": ["Bad!"]})
    assert refused.status_code == 422 and refused.get_json()["message"].startswith("worker_labels")

    # The team's labels and the agent's together: a worker has at most 4, so neither may a run.
    too_many = client.patch(f"/api/teams/{team['id']}", json={"worker_labels": ["a", "b", "c"]})
    assert too_many.status_code == 422, too_many.get_json()
    assert too_many.get_json()["message"].startswith("worker_labels: the runs of Lead would need 5 labels")
    assert client.get(f"/api/teams/{team['id']}").get_json()["worker_labels"] == ["cuda", "licence"]


def test_the_openapi_document_describes_the_labels(client):
    document = client.get("/api/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert "worker_labels" in schemas["TeamPatch"]["properties"]
    assert "worker_labels" in schemas["AgentPatch"]["properties"]
    assert "queued after" in document["paths"]["/api/teams/{team_id}"]["patch"]["description"]
    assert "worker_labels" in schemas["Agent"]["properties"]


# ------------------------------------------------------------------------------------------ runs and queues


@pytest.fixture
def labelled_workers() -> Iterator[list[str]]:
    """Worker rows (no process) registered by a test; stopped afterwards so no other test sees them alive."""
    ids: list[str] = []
    yield ids
    with db.transaction() as conn:
        conn.execute("UPDATE workers SET stopped_at = now() WHERE id = ANY(%s)", (ids,))


def register_worker(ids: list[str], labels: list[str]) -> str:
    worker_id = f"test:{new_id('run')[-8:]}"
    with db.transaction() as conn:
        conn.execute("INSERT INTO workers (id, host, pid, threads, worker_labels) VALUES (%s, 'test', 1, 1, %s)",
                     (worker_id, labels))
    ids.append(worker_id)
    return worker_id


def pinned_agent(team_labels: list[str], agent_labels: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    team = factories.create_team("Placement")
    agent = factories.create_agent(team["id"])
    with db.transaction() as conn:
        conn.execute("UPDATE teams SET worker_labels = %s WHERE id = %s", (team_labels, team["id"]))
        conn.execute("UPDATE agents SET worker_labels = %s WHERE id = %s", (agent_labels, agent["id"]))
    return team, agent


def enqueue(team: dict[str, Any], agent: dict[str, Any]) -> dict[str, Any]:
    with db.transaction() as conn:
        return runs.enqueue_run(conn, team_id=team["id"], agent_id=agent["id"], prompt="go", reason="chat")


def queue_of(conn: psycopg.Connection, run_id: str) -> list[str]:
    return [r["queue_name"] for r in conn.execute(
        "SELECT queue_name FROM dramatiq.queue WHERE message->'args'->>0 = %s ORDER BY queue_name", (run_id,))]


def test_a_run_needs_its_teams_and_its_agents_labels_and_waits_saying_so(conn, labelled_workers):
    team, agent = pinned_agent(["unit-licence"], ["unit-gpu", "unit-licence"])
    run = enqueue(team, agent)
    assert run["worker_labels"] == ["unit-gpu", "unit-licence"]
    assert queue_of(conn, run["id"]) == ["gamma_runs@unit-gpu+unit-licence"]
    waiting = conn.execute("SELECT wait_reason FROM runs WHERE id = %s", (run["id"],)).fetchone()
    assert waiting["wait_reason"] == "waits for a worker with the labels unit-gpu, unit-licence: none is online"
    pending = conn.execute(f"SELECT {run_queue.has_pending_message('%s::text')} AS p", (run["id"],)).fetchone()
    assert pending["p"], "the labelled queue is one of the run queues"

    # No message piles up for a run no worker can take; a worker with only one of the labels cannot.
    register_worker(labelled_workers, ["unit-gpu"])
    with db.transaction() as tx:
        tx.execute("UPDATE runs SET dispatched_at = now() - interval '1 hour' WHERE id = %s", (run["id"],))
        assert run["id"] not in runs.redispatch_stale(tx)
        assert runs.note_placement(tx) == []  # still unplaced: nothing changes

    # A worker with both (and more) comes: the reason goes; one that goes again brings it back.
    both = register_worker(labelled_workers, ["unit-gpu", "unit-licence", "unit-x"])
    with db.transaction() as tx:
        assert runs.note_placement(tx) == [run["id"]]
    assert conn.execute("SELECT wait_reason FROM runs WHERE id = %s", (run["id"],)).fetchone()["wait_reason"] is None
    with db.transaction() as tx:
        tx.execute("UPDATE workers SET stopped_at = now() WHERE id = %s", (both,))
        assert runs.note_placement(tx) == [run["id"]]
    assert "none is online" in conn.execute("SELECT wait_reason FROM runs WHERE id = %s",
                                            (run["id"],)).fetchone()["wait_reason"]
    with db.transaction() as tx:
        runs.cancel(tx, "run", run["id"])


def test_a_label_change_applies_to_runs_queued_after_it(conn):
    team, agent = pinned_agent([], [])
    before = enqueue(team, agent)
    with db.transaction() as tx:
        tx.execute("UPDATE agents SET worker_labels = '{unit-gpu}' WHERE id = %s", (agent["id"],))
    after = enqueue(team, agent)
    assert (before["worker_labels"], after["worker_labels"]) == ([], ["unit-gpu"])
    assert queue_of(conn, before["id"]) == ["gamma_runs"] and queue_of(conn, after["id"]) == ["gamma_runs@unit-gpu"]
    unpinned = conn.execute("SELECT wait_reason FROM runs WHERE id = %s", (before["id"],)).fetchone()
    assert unpinned["wait_reason"] is None
    with db.transaction() as tx:
        runs.cancel(tx, "agent", agent["id"])


def test_a_pinned_teams_merge_checks_go_to_its_labels(conn):
    team, agent = pinned_agent(["unit-gpu"], [])
    free_team, _ = pinned_agent([], [])
    with db.transaction() as tx:
        for owner in (team, free_team):
            task_id = new_id("task")
            tx.execute("INSERT INTO tasks (id, team_id, title) VALUES (%s, %s, 'x')",
                       (task_id, owner["id"]))
            check_id = new_id("chk")
            tx.execute("INSERT INTO merge_checks (id, team_id, task_id, command, base_commit, merge_commit,"
                       " approved_by) VALUES (%s, %s, %s, 'true', 'a', 'b', 'Lead')", (check_id, owner["id"], task_id))
            message_id = run_queue.send_check(tx, check_id)
            queue = tx.execute("SELECT queue_name FROM dramatiq.queue WHERE message_id = %s",
                               (message_id,)).fetchone()["queue_name"]
            assert queue == ("gamma_runs@unit-gpu" if owner is team else "gamma_runs")
            tx.execute("DELETE FROM dramatiq.queue WHERE message_id = %s", (message_id,))


# ------------------------------------------------------------------------------------ real worker processes


def live_worker(stack: Stack, labels: list[str]) -> str:
    """The id of the live worker process registered with exactly `labels`."""
    def found() -> str | None:
        with stack.connect() as conn:
            row = conn.execute("SELECT id FROM workers WHERE stopped_at IS NULL AND worker_labels = %s"
                               " ORDER BY started_at DESC LIMIT 1", (labels,)).fetchone()
        return row["id"] if row else None

    return wait_for(found, timeout=60, interval=0.1, what=f"a live worker with labels {labels}")


def pinned_team(stack: Stack, labels: list[str]) -> tuple[str, str]:
    """A demo team whose lead is pinned to `labels` (through the API); returns (team id, lead id)."""
    team = stack.create_team(backend="demo")
    lead = team["members"][0]
    if labels:
        changed = stack.api("PATCH", f"/api/agents/{lead['id']}", json={"worker_labels": labels})
        assert changed.status_code == 200 and changed.json()["worker_labels"] == labels, changed.text
    return team["id"], lead["id"]


def test_a_pinned_run_waits_for_a_worker_with_its_labels_then_runs_only_there(stack: Stack):
    gpu_team, _ = pinned_team(stack, ["gpu"])
    free_team, _ = pinned_team(stack, [])
    with stack.worker({**QUICK_DEMO, "GAMMA_WORKER_LABELS": ""}):
        plain = live_worker(stack, [])
        waiting = stack.say(gpu_team, "needs the gpu")
        free = stack.say(free_team, "runs anywhere")
        assert stack.wait_run(free)["state"] == "succeeded"

        # The plain worker ran the other run and made maintenance passes since: the pinned one still waits, and
        # the run queue says why.
        queued_at = stack.run(waiting)["created_at"]
        began = wait_for(lambda: (beat := _heartbeat(stack, plain)) > queued_at and beat, timeout=60, interval=0.1,
                         what="a maintenance pass of the plain worker")
        wait_for(lambda: _heartbeat(stack, plain) > began, timeout=60, interval=0.1,
                 what="the next one (the one begun after the run was queued has ended)")
        shown = stack.api("GET", f"/api/runs/{waiting}").json()
        assert shown["state"] == "queued", shown
        assert shown["wait_reason"] == "waits for a worker with the label gpu: none is online", shown
        listed = stack.api("GET", f"/api/teams/{gpu_team}/runs", params={"state": "queued"}).json()
        assert [r["wait_reason"] for r in listed["runs"] if r["id"] == waiting] == [shown["wait_reason"]]

        with stack.worker({**QUICK_DEMO, "GAMMA_WORKER_LABELS": "gpu"}):
            gpu = live_worker(stack, ["gpu"])
            done = stack.wait_run(waiting)
            assert done["state"] == "succeeded" and done["owner"] == gpu, done
            assert done["wait_reason"] is None
            started = stack.wait_event(gpu_team, "run.started", run_id=waiting)
            assert started["payload"]["worker"] == gpu

            # Both workers online: the pinned agent's runs go to the gpu worker only; the others to either.
            for turn in range(3):
                pinned_run = stack.say(gpu_team, f"again {turn}")
                free_run = stack.say(free_team, f"again {turn}")
                assert stack.wait_run(pinned_run)["owner"] == gpu
                finished = stack.wait_run(free_run)
                assert finished["state"] == "succeeded" and finished["owner"] in {plain, gpu}, finished


def _heartbeat(stack: Stack, worker_id: str) -> Any:
    with stack.connect() as conn:
        return conn.execute("SELECT heartbeat_at FROM workers WHERE id = %s", (worker_id,)).fetchone()["heartbeat_at"]
