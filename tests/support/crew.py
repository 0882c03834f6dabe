"""Helpers for the domain and API tests: a team with a lead and two members, and a stand-in for the worker
(claim, start, finish through the real `runs` functions and lifecycle hooks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.domain import Actor, AgentSpec, Outbox
from orchestrator.records import runs
from orchestrator.workflows import run_lifecycle, team_setup, work_product
from shared import db


@dataclass
class Crew:
    team: dict[str, Any]
    lead: dict[str, Any]
    alice: dict[str, Any]
    bob: dict[str, Any]

    @property
    def team_id(self) -> str:
        return self.team["id"]


def make_crew(name: str = "Crew") -> Crew:
    members = [
        AgentSpec(name="Lead", role_id="engineering/tech-lead", is_lead=True, backend="demo"),
        AgentSpec(name="Alice", role_id="engineering/backend-architect", backend="demo"),
        AgentSpec(name="Bob", role_id="engineering/frontend-engineer", backend="demo"),
    ]
    with db.transaction() as conn:
        team = team_setup.create_team(conn, name=name, members=members)
    by_name = {m["name"]: m for m in team["members"]}
    return Crew(team=team, lead=by_name["Lead"], alice=by_name["Alice"], bob=by_name["Bob"])


# ------------------------------------------------------------------------------------------ a worker stand-in


def queued(agent_id: str) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        return conn.execute("SELECT * FROM runs WHERE agent_id = %s AND state = 'queued' ORDER BY created_at, id",
                            (agent_id,)).fetchall()


def start(agent_id: str) -> tuple[dict[str, Any], str]:
    """Claim the agent's next queued run as a worker would and fire the start hook. Returns (run, token)."""
    waiting = queued(agent_id)
    assert waiting, f"agent {agent_id} has no queued run"
    with db.transaction() as conn:
        run, token = runs.claim(conn, waiting[0]["id"], owner="test-worker", host="test", lease_seconds=300)
    assert run is not None, token
    with db.transaction() as conn:
        launch = run_lifecycle.start(conn, run)
        work_product.prepare(conn, run, launch.agent)  # its task's worktree, as the executor makes it
    return run, token


def finish(run: dict[str, Any], state: str = "succeeded", *, text: str | None = "All done.",
           error: str | None = None) -> dict[str, Any]:
    outcome = {"succeeded": "success", "failed": "cli_error", "timed_out": "timeout", "cancelled": "cancelled",
               "interrupted": "interrupted"}[state]
    with db.transaction() as conn:  # what the run wrote is committed first, as the executor does
        box = Outbox()
        work_product.commit_run(conn, run, box, how=f"the run ended ({state})")
        box.flush(conn)
    with db.transaction() as conn:
        ended = run_lifecycle.finish(conn, run["id"], run["attempt"], state=state, outcome=outcome, error=error,
                            fields={"result_text": text})
    assert ended is not None
    with db.transaction() as conn:
        work_product.tidy(conn, run["team_id"])
    return ended


def actor_of(run: dict[str, Any]) -> Actor:
    with db.transaction() as conn:
        agent = conn.execute("SELECT * FROM agents WHERE id = %s", (run["agent_id"],)).fetchone()
    return Actor(team_id=agent["team_id"], agent_id=agent["id"], name=agent["name"], is_lead=agent["is_lead"],
                 run_id=run["id"], task_id=run["task_id"])


def handed_in_for_review(team_id: str, assignee: dict[str, Any], title: str, files: dict[str, str],
                         summary: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A task for `assignee` that its run worked on — `files` (path → text) written in the task's worktree — and
    handed in for review, as a member's run would. Returns (task, run)."""
    from orchestrator.domain import USER  # noqa: PLC0415
    from orchestrator.records import repos  # noqa: PLC0415
    from orchestrator.workflows import delegation  # noqa: PLC0415

    with db.transaction() as conn:
        (task,) = delegation.create(conn, team_id, [delegation.TaskSpec(title, assignee=assignee["name"])], USER)
    run, _ = start(assignee["id"])
    for path, text in files.items():
        (repos.worktree_dir(team_id, task["id"]) / path).write_text(text)
    with db.transaction() as conn:
        delegation.update_status(conn, actor_of(run), task["id"], "review", summary=summary)
    finish(run)
    return task, run


def row(table: str, ident: str) -> dict[str, Any]:
    assert table in ("teams", "agents", "tasks", "runs", "rounds")
    with db.transaction() as conn:
        return conn.execute(f"SELECT * FROM {table} WHERE id = %s", (ident,)).fetchone()


def event_kinds(team_id: str, **filters: Any) -> list[str]:
    from shared import events  # noqa: PLC0415

    with db.transaction() as conn:
        return [e["kind"] for e in events.read(conn, team_id, limit=5000, **filters)]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
