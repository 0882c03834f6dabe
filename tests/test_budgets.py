"""Budgets pause, not fail (issue 10): 80 % spent warns once; 100 % pauses the team — running work finishes,
nothing new starts, queued runs wait (not failed, nor their tasks), the chat says so; raising or removing the
budget resumes the queued work in order. The same for an agent's budget."""

from __future__ import annotations

from orchestrator.records import runs
from orchestrator.workflows import conversation, run_lifecycle, team_setup
from orchestrator.workflows import delegation as tasks
from orchestrator.workflows.delegation import TaskSpec
from shared import db
from tests.support.crew import event_kinds, queued, row, start

pytest_plugins = ("tests.support.orchestrator",)


def spend(run: dict, cost: float) -> dict:
    with db.transaction() as conn:
        ended = run_lifecycle.finish(conn, run["id"], run["attempt"], state="succeeded", outcome="success",
                                     fields={"result_text": "ok", "cost_usd": cost})
    assert ended is not None
    return ended


def claim(run_id: str):
    """Claim a run as a worker would, and start it if it was claimed (as the executor does)."""
    with db.transaction() as conn:
        run, why = runs.claim(conn, run_id, owner="test-worker", host="test", lease_seconds=300)
    if run is not None:
        with db.transaction() as conn:
            assert run_lifecycle.start(conn, run).refused is None
    return run, why


def chat_lines(team_id: str) -> list[str]:
    with db.transaction() as conn:
        return [m["content"] for m in conversation.chat_page(conn, team_id, limit=200)["messages"]]


def test_a_team_budget_warns_at_80_percent_pauses_at_100_and_resumes_when_raised(crew):
    with db.transaction() as conn:
        team_setup.update_team(conn, crew.team_id, {"budget_usd": 1.0})
        tasks.create(conn, crew.team_id, [TaskSpec("one", assignee="Alice"), TaskSpec("two", assignee="Alice"),
                                          TaskSpec("three", assignee="Bob")])
    first, _ = start(crew.alice["id"])
    spend(first, 0.85)
    assert row("teams", crew.team_id)["budget_state"] == "warned"
    assert event_kinds(crew.team_id).count("team.budget_warning") == 1
    bob_run, _ = start(crew.bob["id"])  # still within the budget: starts
    spend(bob_run, 0.30)  # running work finishes, and spends past the budget
    assert row("teams", crew.team_id)["budget_state"] == "paused"
    assert "team.budget_paused" in event_kinds(crew.team_id)
    assert any("budget of $1.00 is spent" in line for line in chat_lines(crew.team_id))
    (waiting,) = queued(crew.alice["id"])
    claimed, why = claim(waiting["id"])
    assert claimed is None and "budget is spent" in why, "nothing new starts"
    assert row("runs", waiting["id"])["state"] == "queued", "queued work waits, not failed"
    with db.transaction() as conn:
        two = conn.execute("SELECT stage FROM tasks WHERE id = %s", (waiting["task_id"],)).fetchone()
    assert two["stage"] == "backlog", "nor its task"

    with db.transaction() as conn:
        team_setup.update_team(conn, crew.team_id, {"budget_usd": 5.0})
    assert row("teams", crew.team_id)["budget_state"] == "ok"
    kinds = event_kinds(crew.team_id)
    assert "team.budget_resumed" in kinds and kinds.count("team.budget_warning") == 1
    assert any("queued work goes on" in line for line in chat_lines(crew.team_id))
    resumed, _ = claim(waiting["id"])
    assert resumed is not None and resumed["id"] == waiting["id"], "the queued run goes on, in order"
    spend(resumed, 0.0)  # a test leaves no run running (the database is shared)


def test_removing_the_budget_resumes_too(crew):
    with db.transaction() as conn:
        team_setup.update_team(conn, crew.team_id, {"budget_usd": 0.5})
        tasks.create(conn, crew.team_id, [TaskSpec("a", assignee="Alice"), TaskSpec("b", assignee="Alice")])
    run, _ = start(crew.alice["id"])
    spend(run, 0.6)
    assert row("teams", crew.team_id)["budget_state"] == "paused"
    with db.transaction() as conn:
        team_setup.update_team(conn, crew.team_id, {"budget_usd": None})
    assert row("teams", crew.team_id)["budget_state"] == "ok"
    (waiting,) = queued(crew.alice["id"])
    resumed, _ = claim(waiting["id"])
    assert resumed is not None
    spend(resumed, 0.0)


def test_an_agents_own_budget_pauses_only_that_agent(crew):
    with db.transaction() as conn:
        team_setup.update_agent(conn, crew.alice["id"], {"budget_usd": 0.2})
        tasks.create(conn, crew.team_id, [TaskSpec("a1", assignee="Alice"), TaskSpec("a2", assignee="Alice"),
                                          TaskSpec("b1", assignee="Bob")])
    run, _ = start(crew.alice["id"])
    spend(run, 0.25)
    assert row("agents", crew.alice["id"])["budget_state"] == "paused"
    assert row("teams", crew.team_id)["budget_state"] == "ok"
    (alice_waiting,) = queued(crew.alice["id"])
    assert claim(alice_waiting["id"])[0] is None
    (bob_waiting,) = queued(crew.bob["id"])
    bob_run, _ = claim(bob_waiting["id"])
    assert bob_run is not None, "the rest of the team goes on"
    spend(bob_run, 0.0)
    with db.transaction() as conn:
        team_setup.update_agent(conn, crew.alice["id"], {"budget_usd": 1.0})
    assert "agent.budget_resumed" in event_kinds(crew.team_id)
    alice_run, _ = claim(alice_waiting["id"])
    assert alice_run is not None
    spend(alice_run, 0.0)
