"""Idempotent agent actions against real PostgreSQL, through the real app: a repeated `Idempotency-Key` in one run
(any attempt) gets the first answer and changes nothing; a key reused for another request is a 422; a resumed
attempt re-reporting a task already where it asks for is a no-op; a resumed attempt's prompt lists what the run
already did."""

from __future__ import annotations

import threading

import pytest

from orchestrator.workflows import agent_actions, delegation, run_lifecycle
from orchestrator.workflows import conversation as messages
from shared import db
from tests.support.crew import actor_of, bearer, event_kinds, finish, queued, row, start

pytest_plugins = ("tests.support.orchestrator",)


def ok(response, status=200):
    assert response.status_code == status, response.get_json()
    return response.get_json()


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def count(sql: str, *params) -> int:
    with db.transaction() as conn:
        return conn.execute(f"SELECT count(*) AS n FROM {sql}", params).fetchone()["n"]


def titled(team_id: str, title: str) -> int:
    return count("tasks WHERE team_id = %s AND title = %s", team_id, title)


@pytest.fixture
def lead(crew):
    with db.transaction() as conn:
        messages.post_user_message(conn, crew.team_id, "Ship it")
    run, token = start(crew.lead["id"])
    return {"run": run, "headers": bearer(token)}


def lose_the_worker(run: dict) -> tuple[dict, dict[str, str]]:
    """The worker of `run` died: the reaper takes the run back and a new worker claims its next attempt."""
    dead = f"dead-worker-{run['id']}"  # the test stand-in's owner is shared by every run of the database
    with db.transaction() as conn:
        conn.execute("UPDATE runs SET owner = %s WHERE id = %s", (dead, run["id"]))
        # Only this run: a margin no lease reaches leaves other tests' expired runs alone (the database is shared).
        (taken,) = run_lifecycle.reap(conn, dead_workers=[dead], margin=10**6)
    assert taken["state"] == "queued", taken
    resumed, token = start(run["agent_id"])
    assert resumed["id"] == run["id"] and resumed["attempt"] == run["attempt"] + 1
    return resumed, bearer(token)


# ------------------------------------------------------------------------------------------------ the key


def test_the_same_key_twice_creates_one_task_and_answers_the_same(client, crew, lead):
    body = {"title": "Build the API", "assignee": "Alice", "description": "REST"}
    first = client.post("/agent/v1/tasks", json=body, headers=keyed(lead["headers"], "k-create"))
    again = client.post("/agent/v1/tasks", json=body, headers=keyed(lead["headers"], "k-create"))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json() and again.data == first.data, "the first answer, as it was sent"
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert titled(crew.team_id, "Build the API") == 1
    assert len(queued(crew.alice["id"])) == 1, "one run for the one task"
    assert event_kinds(crew.team_id).count("task.created") == 1


def test_a_key_reused_with_other_arguments_is_a_422_naming_it(client, crew, lead):
    ok(client.post("/agent/v1/tasks", json={"title": "One"}, headers=keyed(lead["headers"], "k-reused")), 201)
    refused = client.post("/agent/v1/tasks", json={"title": "Two"}, headers=keyed(lead["headers"], "k-reused"))
    assert refused.status_code == 422, refused.get_json()
    assert "k-reused" in refused.get_json()["message"] and "different request" in refused.get_json()["message"]
    other_action = client.post("/agent/v1/messages", json={"to": "Bob", "message": "One"},
                               headers=keyed(lead["headers"], "k-reused"))
    assert other_action.status_code == 422, other_action.get_json()
    assert titled(crew.team_id, "Two") == 0 and count("agent_messages WHERE to_agent = %s", crew.bob["id"]) == 0


def test_a_repeated_plan_creates_no_duplicates(client, crew, lead):
    plan = {"tasks": [{"title": "API", "assignee": "Alice"}, {"title": "UI", "assignee": "Bob"}]}
    first = ok(client.post("/agent/v1/plan", json=plan, headers=keyed(lead["headers"], "k-plan")), 201)
    again = ok(client.post("/agent/v1/plan", json=plan, headers=keyed(lead["headers"], "k-plan")), 201)
    assert again == first
    assert count("tasks WHERE team_id = %s", crew.team_id) == 2
    assert len(queued(crew.alice["id"])) == 1 and len(queued(crew.bob["id"])) == 1


def test_messages_broadcasts_and_reports_are_sent_once_per_key(client, crew, lead):
    for _ in range(2):
        ok(client.post("/agent/v1/messages", json={"to": "Bob", "message": "hi"},
                       headers=keyed(lead["headers"], "k-msg")), 201)
        ok(client.post("/agent/v1/broadcast", json={"message": "all hands"},
                       headers=keyed(lead["headers"], "k-all")), 201)
        ok(client.post("/agent/v1/status", json={"status": "planning", "blocker": "none"},
                       headers=keyed(lead["headers"], "k-status")))
        ok(client.post("/agent/v1/goal-done", json={"summary": "shipped"}, headers=keyed(lead["headers"], "k-done")))
    assert count("agent_messages WHERE to_agent = %s", crew.bob["id"]) == 2, "one message, one broadcast"
    assert count("agent_messages WHERE to_agent = %s", crew.alice["id"]) == 1
    kinds = event_kinds(crew.team_id)
    assert (kinds.count("message.sent"), kinds.count("message.broadcast")) == (1, 1)
    assert (kinds.count("agent.status_report"), kinds.count("team.goal_done")) == (1, 1)


def test_calls_without_a_key_are_performed_each_time(client, crew, lead):
    for _ in range(2):
        ok(client.post("/agent/v1/tasks", json={"title": "Twice"}, headers=lead["headers"]), 201)
    assert titled(crew.team_id, "Twice") == 2


def test_keys_belong_to_their_run(client, crew, lead):
    ok(client.post("/agent/v1/tasks", json={"title": "Mine", "assignee": "Alice"},
                   headers=keyed(lead["headers"], "k-shared")), 201)
    alice_run, alice_token = start(crew.alice["id"])
    ok(client.post("/agent/v1/tasks", json={"title": "Mine"}, headers=keyed(bearer(alice_token), "k-shared")), 201)
    assert titled(crew.team_id, "Mine") == 2, "the same key in another run is another call"


@pytest.mark.parametrize("key", ["", "has space", "x" * 201, "naïve"])
def test_a_malformed_key_is_a_400(client, crew, lead, key):
    refused = client.post("/agent/v1/tasks", json={"title": "t"}, headers=keyed(lead["headers"], key))
    assert refused.status_code == 400, refused.get_json()
    assert "Idempotency-Key" in refused.get_json()["message"]
    assert titled(crew.team_id, "t") == 0


def test_a_refused_call_is_not_recorded_and_can_be_repeated(client, crew, lead):
    body = {"title": "For a stranger", "assignee": "Nobody"}
    for _ in range(2):
        assert client.post("/agent/v1/tasks", json=body, headers=keyed(lead["headers"], "k-404")).status_code == 404
    assert count("agent_actions WHERE run_id = %s", lead["run"]["id"]) == 0


# ------------------------------------------------------------------------------------------- resumed attempts


def test_a_resumed_attempt_repeating_a_call_gets_the_first_answer(client, crew, lead):
    body = {"title": "Exactly once", "assignee": "Alice"}
    first = ok(client.post("/agent/v1/tasks", json=body, headers=keyed(lead["headers"], "k-resume")), 201)
    _, headers = lose_the_worker(lead["run"])
    again = client.post("/agent/v1/tasks", json=body, headers=keyed(headers, "k-resume"))
    assert again.status_code == 201 and again.get_json() == first
    assert titled(crew.team_id, "Exactly once") == 1


def test_a_resumed_member_re_reporting_its_task_does_not_fail(client, crew, lead):
    task = ok(client.post("/agent/v1/tasks", json={"title": "Report me", "assignee": "Alice"},
                          headers=lead["headers"]), 201)
    run, token = start(crew.alice["id"])
    submitted = ok(client.post(f"/agent/v1/tasks/{task['id']}/review", json={"summary": "Built it"},
                               headers=bearer(token)))
    assert submitted["stage"] == "review"
    before = event_kinds(crew.team_id)
    lead_inbox = count("agent_messages WHERE to_agent = %s", crew.lead["id"])
    _, headers = lose_the_worker(run)
    # other words, so another key: the resumed session says it again
    again = ok(client.post(f"/agent/v1/tasks/{task['id']}/status",
                           json={"status": "done", "summary": "Built it, as said"},
                           headers=keyed(headers, "k-other-words")))
    assert again["stage"] == "review" and again["unchanged"] is True and "already review" in again["note"]
    assert again["result"]["summary"] == "Built it", "nothing was written"
    for path, payload in ((f"/agent/v1/tasks/{task['id']}/review", {}),
                          (f"/agent/v1/tasks/{task['id']}/block", {"reason": "stuck"})):
        assert ok(client.post(path, json=payload, headers=headers))["unchanged"] is True
    assert event_kinds(crew.team_id)[:len(before)] == before
    assert event_kinds(crew.team_id).count("task.updated") == before.count("task.updated")
    assert count("agent_messages WHERE to_agent = %s", crew.lead["id"]) == lead_inbox, "the lead is not told twice"

    ok(client.post(f"/agent/v1/tasks/{task['id']}/status", json={"status": "done"}, headers=lead["headers"]))
    approved = ok(client.post(f"/agent/v1/tasks/{task['id']}/status",
                              json={"status": "done", "summary": "once more"}, headers=headers))
    assert approved["stage"] == "done" and approved["unchanged"] is True, "approved since: still what it asked for"
    refused = client.post(f"/agent/v1/tasks/{task['id']}/status", json={"status": "cancelled"}, headers=headers)
    assert refused.status_code == 403, "what a member may not ask stays refused on a resumed attempt"


def test_a_resumed_lead_re_reporting_done_does_not_fail(client, crew, lead):
    # (A task reaches done only through a run: here a member's, sent for review, which the lead approves.)
    task = ok(client.post("/agent/v1/tasks", json={"title": "Approve me", "assignee": "Alice"},
                          headers=lead["headers"]), 201)
    member_run, member_token = start(crew.alice["id"])
    ok(client.post(f"/agent/v1/tasks/{task['id']}/review", json={"summary": "did it"},
                   headers=bearer(member_token)))
    finish(member_run)
    ok(client.post(f"/agent/v1/tasks/{task['id']}/status", json={"status": "done"}, headers=lead["headers"]))
    _, headers = lose_the_worker(lead["run"])
    again = ok(client.post(f"/agent/v1/tasks/{task['id']}/status", json={"status": "done", "summary": "did it!"},
                           headers=headers))
    assert again["stage"] == "done" and again["unchanged"] is True
    still = client.post(f"/agent/v1/tasks/{task['id']}/status", json={"status": "failed", "reason": "no"},
                        headers=headers)
    assert still.status_code == 409, "a different change to a final task is still refused"


def test_a_first_attempt_re_reporting_is_refused_as_before(client, crew, lead):
    task = ok(client.post("/agent/v1/tasks", json={"title": "Twice", "assignee": "Alice"},
                          headers=lead["headers"]), 201)
    _, token = start(crew.alice["id"])
    ok(client.post(f"/agent/v1/tasks/{task['id']}/review", json={}, headers=bearer(token)))
    assert client.post(f"/agent/v1/tasks/{task['id']}/review", json={}, headers=bearer(token)).status_code == 409


# -------------------------------------------------------------------------------------------- the prompt


def test_a_resumed_attempts_prompt_lists_what_the_run_already_did(client, crew, lead):
    run = lead["run"]
    with db.transaction() as conn:
        assert run_lifecycle.attempt_prompt(conn, run) == run["prompt"] == "Ship it", "a first attempt: as asked"
    task = ok(client.post("/agent/v1/tasks", json={"title": "API", "assignee": "Alice"},
                          headers=keyed(lead["headers"], "a")), 201)
    ok(client.post("/agent/v1/messages", json={"to": "Bob", "message": "look at the UI"}, headers=lead["headers"]),
       201)
    ok(client.post(f"/agent/v1/tasks/{task['id']}/status", json={"status": "cancelled", "reason": "not needed"},
                   headers=lead["headers"]))
    resumed, _ = lose_the_worker(run)
    with db.transaction() as conn:
        prompt = run_lifecycle.attempt_prompt(conn, resumed)
    assert prompt.startswith("[RESUMED]") and "attempt 2" in prompt and prompt.endswith("\nShip it")
    assert "(its worker was lost)" in prompt, "and why"
    listed = [line.strip() for line in prompt.splitlines() if line.strip()[:2] in ("1.", "2.", "3.")]
    assert listed == [f'1. created task {task["id"]} "API" for Alice',
                      '2. sent a message to Bob: "look at the UI"',
                      f'3. reported task {task["id"]} "API" cancelled (it is now cancelled): "not needed"'], prompt
    assert "do NOT do any of it again" in prompt


def test_a_resumed_attempt_that_did_nothing_yet_is_told_so(crew, lead):
    resumed, _ = lose_the_worker(lead["run"])
    with db.transaction() as conn:
        prompt = run_lifecycle.attempt_prompt(conn, resumed)
    assert prompt.startswith("[RESUMED]") and "Nothing you did in this run was recorded" in prompt
    assert row("runs", resumed["id"])["prompt"] == "Ship it", "the run's own prompt is left as it was"


def test_a_repeat_made_while_the_first_call_is_still_open_waits_for_it(crew, lead):
    """A retry sent while the first call's transaction is still open (gamma-agent retries a 502 or a timeout)
    waits for it, then answers with its result: one task."""
    actor = actor_of(lead["run"])
    request = {"title": "Raced", "description": "", "assignee": None, "kind": "generic", "priority": 0}

    def create(conn):
        return agent_actions.once(
            conn, actor, action=agent_actions.TASK_CREATE, key="k-race", target=None, request=request, status=201,
            perform=lambda: delegation.create(conn, crew.team_id, [delegation.TaskSpec("Raced")], actor)[0]["id"])

    answers = []
    with db.connect() as first, first.transaction():
        first_answer = create(first)
        second = threading.Thread(target=lambda: answers.append(_in_transaction(create)))
        second.start()
        pid = first.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
        with db.connect(autocommit=True) as watcher:  # the repeat is held until our transaction ends
            while not watcher.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE %s = ANY"
                                      " (pg_blocking_pids(pid))", (pid,)).fetchone()["n"]:
                second.join(0.05)
                assert second.is_alive(), f"the repeat did not wait for the first call: {answers}"
    second.join()
    assert not first_answer.replayed and answers[0].replayed and answers[0].body == first_answer.body
    assert titled(crew.team_id, "Raced") == 1


def _in_transaction(work):
    with db.transaction() as conn:
        return work(conn)
