"""Tasks against real PostgreSQL: creation and assignment rules, the state machine, run-end settling, queues."""

from __future__ import annotations

import pytest

from orchestrator.domain import USER, Conflict, Forbidden, Invalid, NotFound
from orchestrator.workflows import conversation as messages
from orchestrator.workflows import delegation as tasks
from orchestrator.workflows import stopping
from orchestrator.workflows.delegation import TaskSpec
from shared import db
from tests.support.crew import actor_of, event_kinds, finish, queued, row, start

pytest_plugins = ("tests.support.orchestrator",)


def create(crew, *specs: TaskSpec, actor=USER):
    with db.transaction() as conn:
        return tasks.create(conn, crew.team_id, list(specs), actor)


def lead_actor(crew):
    """The lead, as its running chat run authenticates."""
    from orchestrator.workflows import conversation as messages

    with db.transaction() as conn:
        messages.post_user_message(conn, crew.team_id, "Build the thing")
    run, _ = start(crew.lead["id"])
    return actor_of(run), run


def test_a_task_is_assigned_queued_and_announced(crew):
    (task,) = create(crew, TaskSpec("Write the API", "REST endpoints", assignee="alice", kind="backend"))
    assert task["stage"] == "backlog" and task["assigned_to"] == crew.alice["id"]
    assert task["assignee"]["name"] == "Alice" and task["round_id"]
    (run,) = queued(crew.alice["id"])
    assert run["task_id"] == task["id"] and run["reason"] == "task" and run["round_id"] == task["round_id"]
    assert run["prompt"].startswith(f"[TASK] {task['id']}: Write the API")
    assert f"gamma-agent task done {task['id']} --summary" in run["prompt"]
    assert row("agents", crew.alice["id"])["status"] == "queued"
    kinds = event_kinds(crew.team_id, task_id=task["id"])
    assert kinds[:2] == ["task.created", "run.queued"]


def test_assignees_match_exact_names_or_ids_only(crew):
    (by_id,) = create(crew, TaskSpec("By id", assignee=crew.bob["id"]))
    assert by_id["assigned_to"] == crew.bob["id"]
    for wrong in ("Ali", "backend", "engineering/backend-architect", "Alice Smith"):
        with pytest.raises(NotFound, match="no teammate named"):
            create(crew, TaskSpec("Nope", assignee=wrong))
    (default,) = create(crew, TaskSpec("No assignee from the user goes to the lead"))
    assert default["assigned_to"] == crew.lead["id"]


def test_agents_of_another_team_cannot_be_assigned(crew):
    from tests.support.crew import make_crew

    other = make_crew("Other")
    with pytest.raises(Forbidden, match="not in this team"):
        create(crew, TaskSpec("Foreign", assignee=other.alice["id"]))


def test_members_create_tasks_only_for_themselves(crew):
    create(crew, TaskSpec("Alice's work", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    alice = actor_of(run)
    (own,) = create(crew, TaskSpec("A follow-up for me"), actor=alice)
    assert own["assigned_to"] == crew.alice["id"] and own["created_by"] == crew.alice["id"]
    with pytest.raises(Forbidden, match="only the team lead can assign"):
        create(crew, TaskSpec("Bob, do this", assignee="Bob"), actor=alice)


def test_a_plan_is_all_or_nothing(crew):
    lead, _ = lead_actor(crew)
    with pytest.raises(NotFound):
        create(crew, TaskSpec("ok", assignee="Alice"), TaskSpec("bad", assignee="Nobody"), actor=lead)
    with db.transaction() as conn:
        assert tasks.list_tasks(conn, crew.team_id) == []
    plan = create(crew, TaskSpec("one", assignee="Alice"), TaskSpec("two", assignee="Bob"),
                  TaskSpec("three", assignee="Alice"), actor=lead)
    assert len({t["round_id"] for t in plan}) == 1
    assert [r["task_id"] for r in queued(crew.alice["id"])] == [plan[0]["id"], plan[2]["id"]]


def test_a_busy_agent_runs_its_tasks_one_after_another(crew):
    first, second = create(crew, TaskSpec("first", assignee="Alice"), TaskSpec("second", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    assert run["task_id"] == first["id"]
    assert row("tasks", first["id"])["stage"] == "in_progress"
    assert row("tasks", second["id"])["stage"] == "backlog"
    assert row("agents", crew.alice["id"])["status"] == "running"
    finish(run, text="first result")
    assert row("agents", crew.alice["id"])["status"] == "queued"
    run2, _ = start(crew.alice["id"])
    assert run2["task_id"] == second["id"]


# ----------------------------------------------------------------------------------------------- state machine


@pytest.mark.parametrize(("frm", "to", "ok"), [
    # A task reaches review or done only through a run (in_progress); `planning` is gone; `blocked` waits for
    # dependencies and goes to backlog when they are done.
    ("backlog", "in_progress", True), ("backlog", "done", False), ("backlog", "review", False),
    ("backlog", "backlog", False), ("backlog", "blocked", True), ("blocked", "backlog", True),
    ("blocked", "in_progress", False), ("blocked", "done", False),
    ("in_progress", "review", True), ("in_progress", "backlog", False),
    ("review", "in_progress", True), ("review", "done", True), ("review", "backlog", False),
    ("done", "in_progress", False), ("done", "failed", False), ("failed", "done", False),
    ("cancelled", "backlog", False), ("failed", "in_progress", False),
])
def test_transitions_are_enforced(frm, to, ok):
    task = {"id": "task_x", "stage": frm}
    if ok:
        tasks.check_transition(task, to)
    else:
        with pytest.raises((Conflict, Invalid)):
            tasks.check_transition(task, to)


def test_unknown_status_is_invalid():
    with pytest.raises(Invalid, match="unknown status"):
        tasks.check_transition({"id": "task_x", "stage": "backlog"}, "finished")


def test_final_states_are_immutable(crew):
    (task,) = create(crew, TaskSpec("t", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    alice = actor_of(run)
    with db.transaction() as conn:
        submitted = tasks.update_status(conn, alice, task["id"], "done", summary="Built it: api.py", files=["api.py"])
    assert submitted["stage"] == "done", "a member's done finishes the task"
    assert submitted["result"] == {"summary": "Built it: api.py", "reported_files": ["api.py"]}
    assert submitted["completed_at"] is not None
    for who in (alice, lead_actor(crew)[0]):
        for status in ("in_progress", "failed", "review"):
            with pytest.raises(Conflict, match="final state"), db.transaction() as conn:
                tasks.update_status(conn, who, task["id"], status, reason="again", summary="x")
    events = event_kinds(crew.team_id, task_id=task["id"])
    assert events.count("task.updated") == 2  # backlog → in_progress (run start) → done (the member)


def test_members_cannot_approve_their_own_work_or_plan(crew):
    (task,) = create(crew, TaskSpec("t", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    alice = actor_of(run)
    with db.transaction() as conn:
        tasks.update_status(conn, alice, task["id"], "review", summary="please look")
    with pytest.raises(Forbidden, match="only the lead approves"), db.transaction() as conn:
        tasks.update_status(conn, alice, task["id"], "done", summary="approving myself")
    with pytest.raises(Forbidden, match="only the team lead plans"), db.transaction() as conn:
        tasks.create(conn, crew.team_id, [TaskSpec("mine")], alice, plan=True)
    assert row("tasks", task["id"])["stage"] == "review"


def test_members_change_only_their_own_tasks_and_need_real_content(crew):
    mine, bobs = create(crew, TaskSpec("mine", assignee="Alice"), TaskSpec("bob's", assignee="Bob"))
    run, _ = start(crew.alice["id"])
    alice = actor_of(run)
    with pytest.raises(Forbidden, match="not yours"), db.transaction() as conn:
        tasks.update_status(conn, alice, bobs["id"], "done", summary="stolen")
    with pytest.raises(Invalid, match="summary is required"), db.transaction() as conn:
        tasks.update_status(conn, alice, mine["id"], "done")
    with pytest.raises(Invalid, match="reason is required"), db.transaction() as conn:
        tasks.update_status(conn, alice, mine["id"], "failed")
    with pytest.raises(Forbidden, match="lead"), db.transaction() as conn:
        tasks.update_status(conn, alice, mine["id"], "cancelled", reason="meh")


# ------------------------------------------------------------------------------------------ settling at run end


def test_a_run_that_ends_without_reporting_puts_the_task_in_review_never_done(crew):
    (task,) = create(crew, TaskSpec("t", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    finish(run, text="Here is what I found: 42.")
    settled = row("tasks", task["id"])
    assert settled["stage"] == "review"
    assert settled["result"]["summary"] == "Here is what I found: 42." and settled["result"]["auto"] is True
    assert row("agents", crew.alice["id"])["status"] == "idle"


@pytest.mark.parametrize("state", ["failed", "timed_out", "interrupted"])
def test_a_failed_run_fails_its_task_with_the_reason(crew, state):
    (task,) = create(crew, TaskSpec("t", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    finish(run, state, text=None, error="API error 529: overloaded")
    settled = row("tasks", task["id"])
    assert settled["stage"] == "failed" and "overloaded" in settled["result"]["reason"]
    assert row("agents", crew.alice["id"])["status"] == "error"


def test_a_task_the_agent_settled_itself_is_left_alone(crew):
    (task,) = create(crew, TaskSpec("t", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    with db.transaction() as conn:
        tasks.update_status(conn, actor_of(run), task["id"], "done", summary="real summary")
    finish(run, "failed", text="crashed afterwards", error="exit 1")
    settled = row("tasks", task["id"])
    assert settled["stage"] == "done" and settled["result"]["summary"] == "real summary"


def test_a_task_that_has_not_started_cannot_be_reported_done(crew):
    """One strict state machine: review and done only through the task's own run (issue 10); its run stays."""
    first, second = create(crew, TaskSpec("first", assignee="Alice"), TaskSpec("second", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    with db.transaction() as conn, pytest.raises(Conflict, match="cannot go from backlog to done"):
        tasks.update_status(conn, actor_of(run), second["id"], "done", summary="did both in one go")
    assert [r["task_id"] for r in queued(crew.alice["id"])] == [second["id"]]
    assert row("tasks", second["id"])["stage"] == "backlog"


def test_cancel_cancels_the_runs_and_settles_the_task(crew):
    (task,) = create(crew, TaskSpec("t", assignee="Alice"))
    with db.transaction() as conn:
        cancelled = tasks.cancel(conn, USER, task["id"], "not needed")
    assert cancelled["stage"] == "cancelled" and cancelled["result"]["reason"] == "not needed"
    assert queued(crew.alice["id"]) == []
    assert row("agents", crew.alice["id"])["status"] == "idle"


def test_reassign_moves_the_waiting_run(crew):
    lead, _ = lead_actor(crew)
    (task,) = create(crew, TaskSpec("t", assignee="Alice"), actor=lead)
    with db.transaction() as conn:
        moved = tasks.assign(conn, lead, task["id"], "bob")
    assert moved["assigned_to"] == crew.bob["id"] and moved["stage"] == "backlog"
    assert queued(crew.alice["id"]) == [] and [r["task_id"] for r in queued(crew.bob["id"])] == [task["id"]]
    assert "task.assigned" in event_kinds(crew.team_id, task_id=task["id"])


def test_retry_creates_a_new_task_linked_to_the_failed_one(crew):
    (task,) = create(crew, TaskSpec("flaky", "do it", assignee="Alice", kind="qa", priority=3))
    run, _ = start(crew.alice["id"])
    finish(run, "failed", error="boom")
    with db.transaction() as conn:
        again = tasks.retry(conn, crew.team_id, task["id"])
        with pytest.raises(Conflict, match="only a failed or cancelled"):
            tasks.retry(conn, crew.team_id, again["id"])
    assert again["retry_of"] == task["id"] and again["title"] == "flaky" and again["kind"] == "qa"
    assert again["priority"] == 3 and again["assigned_to"] == crew.alice["id"]
    assert queued(crew.alice["id"])[0]["reason"] == "retry"


def test_stopped_agents_take_no_work_from_agents(crew):
    lead, _ = lead_actor(crew)
    with db.transaction() as conn:
        stopping.stop_agent(conn, crew.bob["id"])
    with pytest.raises(Conflict, match="stopped by the user"):
        create(crew, TaskSpec("t", assignee="Bob"), actor=lead)
    (task,) = create(crew, TaskSpec("the user may", assignee="Bob"))
    assert row("agents", crew.bob["id"])["status"] == "queued" and task["assigned_to"] == crew.bob["id"]


def test_a_member_sending_its_task_to_review_tells_the_lead(crew):
    (task,) = create(crew, TaskSpec("t", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    with db.transaction() as conn:
        reviewed = tasks.update_status(conn, actor_of(run), task["id"], "review", summary="draft in project/a.md",
                                       message="is the tone right?")
        inbox = messages.read_inbox(conn, crew.lead["id"])
    assert reviewed["stage"] == "review" and reviewed["result"]["summary"] == "draft in project/a.md"
    assert reviewed["result"]["review_message"] == "is the tone right?"
    assert [m["from"] for m in inbox["messages"]] == ["Alice"]
    assert "is the tone right?" in inbox["messages"][0]["content"]
