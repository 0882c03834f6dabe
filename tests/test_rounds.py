"""Rounds and the lead's wake: exactly one wake per settled round, never lost, never early, never after a stop."""

from __future__ import annotations

import threading

import pytest

from orchestrator.workflows import conversation as messages
from orchestrator.workflows import delegation as tasks
from orchestrator.workflows import stopping
from orchestrator.workflows.delegation import TaskSpec
from orchestrator.workflows.wake import WAKE_PREFIX
from shared import db
from tests.support.crew import actor_of, event_kinds, finish, queued, row, start

pytest_plugins = ("tests.support.orchestrator",)


def goal(crew, text="Build a landing page"):
    with db.transaction() as conn:
        return messages.post_user_message(conn, crew.team_id, text)


def delegate(crew, *specs: TaskSpec):
    """The lead's chat run creates tasks; returns (lead run, tasks)."""
    goal(crew)
    run, _ = start(crew.lead["id"])
    with db.transaction() as conn:
        created = tasks.create(conn, crew.team_id, list(specs), actor_of(run))
    return run, created


def wake_runs(crew):
    with db.transaction() as conn:
        return conn.execute("SELECT * FROM runs WHERE agent_id = %s AND reason = 'wake' ORDER BY created_at",
                            (crew.lead["id"],)).fetchall()


def work(agent_id, text="result"):
    run, _ = start(agent_id)
    return finish(run, text=text)


def test_the_lead_is_woken_once_when_every_task_is_settled(crew):
    lead_run, (a, b) = delegate(crew, TaskSpec("API", assignee="Alice"), TaskSpec("UI", assignee="Bob"))
    finish(lead_run, text="Delegated API to Alice and UI to Bob.")
    work(crew.alice["id"], "API in project/api.py")
    assert wake_runs(crew) == []  # Bob's task is still open
    work(crew.bob["id"], "UI in project/ui.html")
    (wake,) = wake_runs(crew)
    assert wake["state"] == "queued" and wake["round_id"] == a["round_id"]
    prompt = wake["prompt"]
    assert prompt.startswith(WAKE_PREFIX)
    for task, owner, text in ((a, "Alice", "API in project/api.py"), (b, "Bob", "UI in project/ui.html")):
        assert f'- {task["id"]} — "{task["title"]}" by {owner} [review]:' in prompt
        assert text in prompt
    assert row("rounds", a["round_id"])["state"] == "waking"
    assert row("rounds", a["round_id"])["wake_run_id"] == wake["id"]
    with db.transaction() as conn:
        chat = messages.chat_page(conn, crew.team_id)["messages"]
    assert [m["role"] for m in chat] == ["user", "assistant", "system"]
    assert chat[1]["content"] == "Delegated API to Alice and UI to Bob." and chat[1]["agent_id"] == crew.lead["id"]
    # The user reads a plain sentence of what happened, then what the lead was told; it is not a user message.
    assert chat[2]["content"] == ("All 2 tasks of this round ended (2 review): the lead is reviewing them and will "
                                  f"answer here.\n\n{prompt}")

    run, _ = start(crew.lead["id"])
    assert run["id"] == wake["id"]
    finish(run, text="Here is your landing page.")
    assert row("rounds", a["round_id"])["state"] == "closed"
    assert len(wake_runs(crew)) == 1


def test_no_wake_is_lost_when_the_lead_is_still_running(crew):
    lead_run, (task,) = delegate(crew, TaskSpec("quick", assignee="Alice"))
    work(crew.alice["id"])  # finishes while the lead's run is still going
    (wake,) = wake_runs(crew)
    assert wake["state"] == "queued"
    finish(lead_run, text="delegated")
    run, _ = start(crew.lead["id"])
    assert run["id"] == wake["id"]


def test_queued_work_keeps_the_round_open(crew):
    _, (first, second) = delegate(crew, TaskSpec("one", assignee="Alice"), TaskSpec("two", assignee="Alice"))
    work(crew.alice["id"])
    assert row("tasks", second["id"])["stage"] == "backlog"
    assert wake_runs(crew) == []  # the original woke here: it counted only in_progress tasks
    work(crew.alice["id"])
    assert len(wake_runs(crew)) == 1


def test_failed_and_blocked_tasks_settle_the_round_and_are_flagged(crew):
    _, (a, b) = delegate(crew, TaskSpec("api", assignee="Alice"), TaskSpec("ui", assignee="Bob"))
    run, _ = start(crew.alice["id"])
    finish(run, "failed", text=None, error="CLI exited with code 1")
    run, _ = start(crew.bob["id"])
    with db.transaction() as conn:
        tasks.block(conn, actor_of(run), b["id"], "need the API spec first")
    (wake,) = wake_runs(crew)
    assert f'{a["id"]} — "api" by Alice [failed]: FAILED: run failed: CLI exited with code 1' in wake["prompt"]
    assert f'{b["id"]} — "ui" by Bob [review]: BLOCKED: need the API spec first' in wake["prompt"]
    assert "You have 1 unread message(s)" in wake["prompt"]  # the blocker also went to the lead's inbox
    finish(run, text="blocked, see task")
    assert len(wake_runs(crew)) == 1
    with db.transaction() as conn:
        said = messages.chat_page(conn, crew.team_id)["messages"][-1]
    assert said["kind"] == "wake" and said["content"].startswith(
        "All 2 tasks of this round ended (1 failed, 1 review): the lead is reviewing them")


@pytest.mark.parametrize(("state", "error", "said"), [
    ("failed", "CLI exited with code 1: not logged in",
     "⚠️ The lead's run failed (CLI exited with code 1: not logged in). Send a message to try again; the run's page "
     "shows what it did."),
    ("cancelled", "Cancelled: the CLI's process group was stopped.",
     "⏹️ The lead was stopped before it answered. Send a message to start it again."),
    ("timed_out", "Timed out after 1800 s",
     "⏱️ The lead's run went past its time limit and was stopped. Send a message to let it go on."),
])
def test_a_lead_run_that_ends_without_an_answer_says_so_plainly_in_the_chat(crew, state, error, said):
    lead_run, _ = delegate(crew, TaskSpec("API", assignee="Alice"))
    finish(lead_run, state, text=None, error=error)
    with db.transaction() as conn:
        notice = messages.chat_page(conn, crew.team_id)["messages"][-1]
    assert (notice["kind"], notice["content"], notice["run_id"]) == ("notice", said, lead_run["id"])


def test_two_tasks_settling_at_the_same_moment_wake_the_lead_exactly_once(crew):
    _, (a, b) = delegate(crew, TaskSpec("api", assignee="Alice"), TaskSpec("ui", assignee="Bob"))
    runs_ = {crew.alice["id"]: start(crew.alice["id"])[0], crew.bob["id"]: start(crew.bob["id"])[0]}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def settle(run, task_id):
        try:
            with db.transaction() as conn:
                barrier.wait(5)
                tasks.update_status(conn, actor_of(run), task_id, "done", summary=f"did {task_id}")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=settle, args=(runs_[crew.alice["id"]], a["id"])),
               threading.Thread(target=settle, args=(runs_[crew.bob["id"]], b["id"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(wake_runs(crew)) == 1


def test_rework_goes_back_to_the_assignee_and_wakes_the_lead_again(crew):
    lead_run, (task,) = delegate(crew, TaskSpec("api", assignee="Alice"))
    finish(lead_run, text="delegated")
    work(crew.alice["id"], "first try")
    wake, _ = start(crew.lead["id"])
    with db.transaction() as conn:
        reworked = tasks.update_status(conn, actor_of(wake), task["id"], "in_progress",
                                       message="add input validation")
    assert reworked["stage"] == "in_progress" and reworked["round_id"] != task["round_id"]
    (again,) = queued(crew.alice["id"])
    assert again["task_id"] == task["id"] and "[REWORK]" in again["prompt"]
    assert "add input validation" in again["prompt"]
    finish(wake, text="Asked Alice for validation.")
    assert row("rounds", task["round_id"])["state"] == "closed"
    work(crew.alice["id"], "now with validation")
    assert len(wake_runs(crew)) == 2
    assert wake_runs(crew)[1]["round_id"] == reworked["round_id"]


def test_tasks_created_while_a_round_wakes_form_the_next_round(crew):
    lead_run, (first,) = delegate(crew, TaskSpec("one", assignee="Alice"))
    work(crew.alice["id"])
    assert row("rounds", first["round_id"])["state"] == "waking"
    with db.transaction() as conn:
        (late,) = tasks.create(conn, crew.team_id, [TaskSpec("late", assignee="Bob")], actor_of(lead_run))
    assert late["round_id"] != first["round_id"]
    assert row("rounds", late["round_id"])["state"] == "open"


def test_a_stopped_team_is_not_woken_and_nothing_restarts(crew):
    lead_run, (a, b) = delegate(crew, TaskSpec("api", assignee="Alice"), TaskSpec("ui", assignee="Bob"))
    alice_run, _ = start(crew.alice["id"])
    with db.transaction() as conn:
        stopped = stopping.stop_team(conn, crew.team_id)
    assert set(stopped["cancelled_runs"]) >= {lead_run["id"], alice_run["id"]}
    assert row("tasks", b["id"])["stage"] == "cancelled"  # its run never started
    # The workers notice the cancel requests and record the ends.
    finish(alice_run, "cancelled", text=None, error="cancelled")
    finish(lead_run, "cancelled", text=None, error="cancelled")
    assert row("tasks", a["id"])["stage"] == "cancelled"
    assert wake_runs(crew) == []
    for agent in (crew.lead, crew.alice, crew.bob):
        assert row("agents", agent["id"])["status"] == "stopped"
        assert queued(agent["id"]) == []
    assert row("rounds", a["round_id"])["state"] == "cancelled"
    assert "team.stopped" in event_kinds(crew.team_id)
    goal(crew, "start again")  # the user speaks: the team works again
    assert row("agents", crew.lead["id"])["status"] == "queued"
    assert row("agents", crew.alice["id"])["status"] == "idle"


def test_an_archived_team_never_resurrects(crew):
    lead_run, (task,) = delegate(crew, TaskSpec("api", assignee="Alice"))
    alice_run, _ = start(crew.alice["id"])
    with db.transaction() as conn:
        archived = stopping.archive_team(conn, crew.team_id)
    assert archived["team"]["status"] == "archived"
    assert row("tasks", task["id"])["stage"] == "cancelled"
    # A run that was still going ends later: nothing comes back.
    finish(alice_run, "succeeded", text="finished anyway")
    finish(lead_run, "cancelled", text=None)
    for agent in (crew.lead, crew.alice, crew.bob):
        assert row("agents", agent["id"])["status"] == "archived"
    assert row("tasks", task["id"])["stage"] == "cancelled"
    assert wake_runs(crew) == []
    with db.transaction() as conn:
        assert conn.execute("SELECT count(*) AS n FROM runs WHERE team_id = %s AND state IN ('queued', 'running')",
                            (crew.team_id,)).fetchone()["n"] == 0
    from orchestrator.domain import Conflict

    with pytest.raises(Conflict, match="archived"), db.transaction() as conn:
        messages.post_user_message(conn, crew.team_id, "hello?")
    with pytest.raises(Conflict, match="archived"), db.transaction() as conn:
        tasks.create(conn, crew.team_id, [TaskSpec("x")])


def test_archiving_a_member_cancels_its_work_and_wakes_the_lead_for_the_rest(crew):
    lead_run, (a, b) = delegate(crew, TaskSpec("api", assignee="Alice"), TaskSpec("ui", assignee="Bob"))
    finish(lead_run, text="delegated")
    work(crew.bob["id"], "ui done")
    with db.transaction() as conn:
        result = stopping.archive_agent(conn, crew.alice["id"])
    assert result["cancelled_tasks"] == [a["id"]]
    assert row("agents", crew.alice["id"])["status"] == "archived"
    (wake,) = wake_runs(crew)
    assert "its assignee Alice was archived" in wake["prompt"]


def test_a_cancelled_wake_run_closes_its_round_without_a_new_wake(crew):
    lead_run, (task,) = delegate(crew, TaskSpec("api", assignee="Alice"))
    finish(lead_run, text="delegated")
    work(crew.alice["id"])
    (wake,) = wake_runs(crew)

    with db.transaction() as conn:
        stopping.cancel_run(conn, wake["id"])
    assert row("rounds", task["round_id"])["state"] == "cancelled"
    assert len(wake_runs(crew)) == 1
