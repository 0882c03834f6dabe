"""Rounds as a user lives them, with the real CLI and the model double (issue 10, point 11): a plan in stages
that builds a tiny static site, a failing member, a busy member given two tasks, a user message during a lead
run, a review round with rework, and a budget that pauses and resumes. (Stopping everything and killing the
whole stack mid-round are in tests/test_round_faults_e2e.py.)

Every scenario also checks that no agent ever had two live runs (tests/support/round_checks.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import polling
from tests.support.round_checks import index_of, overlapping_runs, wakes_per_round
from tests.support.stack import Stack, running_stack

pytestmark = [pytest.mark.slow, pytest.mark.cli]

FRONTEND, QA = "engineering/frontend-engineer", "testing/qa-lead"


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(database_url, tmp_path_factory.mktemp("rounds")) as running, running.worker(threads=4):
        yield running


def wait_for(check, what: polling.Description, timeout: float = 240):
    return polling.wait_for(check, timeout=timeout, interval=0.2, what=what)


def team_of(stack: Stack, *members: tuple[str, str], **extra) -> dict:
    return stack.create_team(members=[{"name": name, "role_id": role} for name, role in members], **extra)


def tasks_of(stack: Stack, team_id: str) -> dict[str, dict]:
    listed = stack.api("GET", f"/api/teams/{team_id}/tasks").json()["tasks"]
    return {t["title"]: t for t in listed}


def task(stack: Stack, task_id: str) -> dict:
    return stack.api("GET", f"/api/tasks/{task_id}").json()


def chat(stack: Stack, team_id: str) -> list[dict]:
    return stack.api("GET", f"/api/teams/{team_id}/messages").json()["messages"]


def team_state(stack: Stack, team_id: str) -> str:
    """The team's runs, tasks and last events, for a wait that timed out to say what stopped moving."""
    with stack.connect() as conn:
        found = conn.execute(
            "SELECT r.id, a.name, r.reason, r.state, r.outcome, r.attempt, r.task_id FROM runs r"
            " JOIN agents a ON a.id = r.agent_id WHERE r.team_id = %s ORDER BY r.created_at, r.id", (team_id,)
        ).fetchall()
        listed = conn.execute("SELECT id, title, stage, blocked_reason, round_id FROM tasks WHERE team_id = %s"
                              " ORDER BY created_at, id", (team_id,)).fetchall()
        rounds = conn.execute("SELECT id, state, wake_run_id FROM rounds WHERE team_id = %s ORDER BY created_at",
                              (team_id,)).fetchall()
        last = conn.execute("SELECT seq, kind, run_id, task_id FROM events WHERE team_id = %s ORDER BY seq DESC"
                            " LIMIT 20", (team_id,)).fetchall()
    return (f"\nruns: {[tuple(r.values()) for r in found]}\ntasks: {[tuple(t.values()) for t in listed]}"
            f"\nrounds: {[tuple(r.values()) for r in rounds]}\nlast events: {[tuple(e.values()) for e in last]}")


def wake_runs(stack: Stack, team_id: str, count: int) -> list[dict]:
    """The team's first `count` wake runs, once each has ended."""
    def ended():
        with stack.connect() as conn:
            found = conn.execute("SELECT id FROM runs WHERE team_id = %s AND reason = 'wake' ORDER BY created_at, id",
                                 (team_id,)).fetchall()
        return found if len(found) >= count else None
    waited = wait_for(ended, lambda: f"{count} wake run(s); the team now: {team_state(stack, team_id)}")
    return [stack.wait_run(r["id"], timeout=240) for r in waited[:count]]


def settled_log(stack: Stack, team_id: str, wakes: int) -> list[dict]:
    """The log once the team is quiet: `wakes` wake runs ended, no run left queued or running."""
    wake_runs(stack, team_id, wakes)

    def quiet():
        with stack.connect() as conn:
            active = conn.execute("SELECT count(*) AS n FROM runs WHERE team_id = %s"
                                  " AND state IN ('queued', 'running')", (team_id,)).fetchone()["n"]
        return active == 0
    wait_for(quiet, lambda: f"the team to be quiet; the team now: {team_state(stack, team_id)}")
    return stack.events(team_id)


# ---------------------------------------------------------------------------------------- a tiny static site


def test_a_tiny_static_site_is_planned_in_stages_built_checked_and_answered_after_one_wake(stack: Stack):
    team = team_of(stack, ("Ann", FRONTEND), ("Ben", FRONTEND), ("Quinn", QA))
    team_id = team["id"]
    project = stack.home / "workspaces" / team_id / "project"
    first = stack.wait_run(stack.say(
        team_id, "[[brain:lead members=Ann,Ben files=index.html,style.css qa=Quinn]] Build a tiny static site"))
    assert first["state"] == "succeeded", first["error"]

    log = settled_log(stack, team_id, wakes=1)
    tasks = tasks_of(stack, team_id)
    html, css, qa = tasks["Build index.html"], tasks["Build style.css"], tasks["QA the site"]
    assert {t["stage"] for t in tasks.values()} == {"done"} and len(tasks) == 3
    assert (html["assignee"]["name"], css["assignee"]["name"], qa["assignee"]["name"]) == ("Ann", "Ben", "Quinn")
    assert sorted(qa["depends_on"]) == sorted([html["id"], css["id"]])
    for built, name in ((html, "index.html"), (css, "style.css")):
        written = (project / name).read_text()
        assert written.startswith(f"# {built['id']}") and "member brain" in written, "written by a real tool call"
        assert built["result"]["reported_files"] == [name]
        assert [f["path"] for f in built["changes"]["files"]] == [name], "what git measured on its branch"

    # The plan was one call: all three tasks exist before any run starts; QA was created blocked.
    created = [e for e in log if e["kind"] == "task.created"]
    assert len(created) == 3 and max(log.index(e) for e in created) < index_of(log, "run.started", task_id=html["id"])
    assert next(e for e in created if e["task_id"] == qa["id"])["payload"]["stage"] == "blocked"
    # QA's run started only after both builders were done, and read what they wrote.
    both_done = max(index_of(log, "task.updated", task_id=t["id"], to="done") for t in (html, css))
    assert index_of(log, "task.updated", task_id=qa["id"], to="backlog") > both_done
    assert index_of(log, "run.started", task_id=qa["id"]) > both_done
    (qa_run,) = [stack.run(r["id"]) for r in task(stack, qa["id"])["runs"]]
    assert html["id"] in qa_run["prompt"] and "Files (in the main line): index.html" in qa_run["prompt"], \
        "the results it builds on, with the files git says they changed"
    read = [e["payload"]["content"] for e in stack.events(team_id, run_id=qa_run["id"])
            if e["kind"] == "agent.tool_result" and f"# {html['id']}" in str(e["payload"]["content"])]
    assert read and f"# {css['id']}" in read[0], "QA read both builders' files"
    assert qa["result"]["summary"].startswith("QA passed: read 2 file(s)")

    # One wake, after the last task was done, listing all three; the lead read the results and answered.
    assert list(wakes_per_round(log).values()) == [1]
    (wake,) = wake_runs(stack, team_id, 1)
    assert wake["state"] == "succeeded" and index_of(log, "round.waking") > index_of(log, "task.updated",
                                                                                    task_id=qa["id"], to="done")
    for t in (html, css, qa):
        assert f'- {t["id"]} — "{t["title"]}" by {t["assignee"]["name"]} [done]' in wake["prompt"]
    messages = chat(stack, team_id)
    assert [m["kind"] for m in messages] == ["user", "answer", "wake", "answer"] or \
        [m["kind"] for m in messages] == ["user", "wake", "answer", "answer"]
    assert messages[-1]["content"].startswith("Review done.") and qa["id"] in messages[-1]["content"]
    assert messages[-1]["run_id"] == wake["id"]
    assert overlapping_runs(log) == []


# ---------------------------------------------------------------------------------------- a member fails


def test_a_failed_member_task_leaves_its_dependents_blocked_and_the_wake_says_so(stack: Stack):
    team = team_of(stack, ("Ann", FRONTEND), ("Ben", FRONTEND), ("Quinn", QA))
    team_id = team["id"]
    stack.wait_run(stack.say(team_id, "[[brain:lead members=Ann,Ben files=index.html,style.css qa=Quinn fail=Ann]]"
                                      " Build a tiny static site"))
    log = settled_log(stack, team_id, wakes=1)
    tasks = tasks_of(stack, team_id)
    html, css, qa = tasks["Build index.html"], tasks["Build style.css"], tasks["QA the site"]
    assert (html["stage"], css["stage"], qa["stage"]) == ("failed", "done", "blocked")
    assert "report=fail" in html["result"]["reason"]
    assert html["id"] in qa["blocked_reason"] and "failed" in qa["blocked_reason"]
    assert not task(stack, qa["id"])["runs"], "a task blocked behind a failed one never runs"
    (wake,) = wake_runs(stack, team_id, 1)
    assert f'"QA the site" by Quinn [blocked]: BLOCKED: dependency {html["id"]}' in wake["prompt"]
    assert '"Build index.html" by Ann [failed]: FAILED:' in wake["prompt"]
    with stack.connect() as conn:
        told = conn.execute("SELECT content FROM agent_messages WHERE to_agent = %s AND content LIKE %s",
                            (team["members"][0]["id"], f"%{html['id']}%stay blocked%")).fetchall()
    assert len(told) == 1 and qa["id"] in told[0]["content"], "the lead is told once"
    assert list(wakes_per_round(log).values()) == [1]
    assert overlapping_runs(log) == []


# ---------------------------------------------------------------------------------------- a busy member


def test_two_tasks_for_one_busy_member_run_one_after_the_other(stack: Stack):
    team = team_of(stack, ("Ann", FRONTEND))
    team_id = team["id"]
    ann = team["members"][1]["id"]

    def give(title: str, brain: str) -> str:
        response = stack.api("POST", f"/api/teams/{team_id}/tasks",
                             json={"title": title, "assignee": "Ann", "description": f"[[brain:{brain}]]"})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    first = give("Slow part", "member wait=3")
    first_run = wait_for(lambda: [r for r in task(stack, first)["runs"] if r["state"] == "running"], "Ann to be busy")
    second = give("Second part", "member")
    (second_run,) = task(stack, second)["runs"]
    assert second_run["state"] == "queued", "a busy member's next task waits its turn"
    log = settled_log(stack, team_id, wakes=1)
    assert task(stack, first)["stage"] == "done" and task(stack, second)["stage"] == "done"
    assert index_of(log, "run.started", run_id=second_run["id"]) > index_of(log, "run.finished",
                                                                             run_id=first_run[0]["id"])
    assert [e["agent_id"] for e in log if e["kind"] == "run.started"].count(ann) == 2
    assert overlapping_runs(log) == []


# ---------------------------------------------------------------------------------------- the user, meanwhile


def test_a_user_message_during_a_lead_run_is_queued_and_answered_after_it(stack: Stack):
    team = team_of(stack)
    team_id = team["id"]
    first = stack.say(team_id, "[[brain:slow seconds=3]] Think about it for a while")
    stack.wait_run(first, lambda r: r["state"] == "running")
    wait_for(lambda: [m for m in chat(stack, team_id) if m["kind"] == "answer"], "the first answer to start")
    second = stack.say(team_id, "[[brain:echo text='Second answer']] And another thing")
    assert stack.run(second)["state"] == "queued", "the lead is busy: the message waits"
    ended = stack.wait_run(second, timeout=120)
    assert ended["state"] == "succeeded"
    assert stack.run(first)["state"] == "succeeded"
    log = stack.events(team_id)
    assert index_of(log, "run.started", run_id=second) > index_of(log, "run.finished", run_id=first)
    messages = chat(stack, team_id)
    kinds = [(m["kind"], m["run_id"]) for m in messages]
    assert kinds == [("user", first), ("answer", first), ("user", second), ("answer", second)]
    assert messages[1]["content"].endswith("Finished waiting.") and messages[1]["final"]
    assert messages[-1]["content"] == "Second answer"
    assert overlapping_runs(log) == []


# ---------------------------------------------------------------------------------------- a review round


def test_a_review_round_changes_requested_rework_with_the_feedback_then_approved(stack: Stack):
    team = team_of(stack, ("Ann", FRONTEND))
    team_id = team["id"]
    stack.wait_run(stack.say(team_id, "[[brain:lead members=Ann member_brain='member report=review' "
                                      "changes='Add a footer']] Write the landing page"))
    log = settled_log(stack, team_id, wakes=2)
    (page,) = tasks_of(stack, team_id).values()
    shown = task(stack, page["id"])
    assert shown["stage"] == "done"
    assert [(r["step"], r["by_name"]) for r in shown["reviews"]] == [
        ("requested", "Ann"), ("changes_requested", "Lead"), ("requested", "Ann"), ("approved", "Lead"),
        ("merged", "Lead")]
    assert shown["reviews"][-1]["feedback"] == shown["merge"]["commit"], "approving merged the branch"
    assert shown["reviews"][1]["feedback"] == "Add a footer"
    first, rework = (stack.run(r["id"]) for r in shown["runs"])  # oldest first
    assert "[REWORK]" in rework["prompt"] and "Add a footer" in rework["prompt"]
    assert "[REWORK]" not in first["prompt"]
    assert shown["result"]["summary"].endswith("Reworked as asked: Add a footer")
    assert [shown["reviews"][i]["run_id"] for i in (0, 2)] == [first["id"], rework["id"]]
    wakes = wake_runs(stack, team_id, 2)
    assert [w["state"] for w in wakes] == ["succeeded", "succeeded"]
    assert sorted(wakes_per_round(log).values()) == [1, 1], "one wake per round, two rounds"
    assert chat(stack, team_id)[-1]["content"].startswith("Review done.")
    assert overlapping_runs(log) == []


# ---------------------------------------------------------------------------------------- a budget


def test_a_budget_warns_at_80_percent_pauses_at_100_and_resumes_when_raised(stack: Stack):
    team = team_of(stack)
    team_id = team["id"]
    first = stack.wait_run(stack.say(team_id, "[[brain:echo text=One]] first"))
    cost = float(first["cost_usd"])
    assert first["state"] == "succeeded" and cost > 0, "the CLI priced the double's usage"

    def patch(budget):
        response = stack.api("PATCH", f"/api/teams/{team_id}", json={"budget_usd": budget})
        assert response.status_code == 200, response.text
        return response.json()

    assert patch(round(cost / 0.9, 6))["budget_state"] == "warned", "90 % spent"
    second = stack.wait_run(stack.say(team_id, "[[brain:echo text=Two]] second"))
    assert second["state"] == "succeeded", "a warned team still works"
    shown = stack.api("GET", f"/api/teams/{team_id}").json()
    assert shown["budget_state"] == "paused" and shown["cost_usd"] >= shown["budget_usd"]

    third = stack.say(team_id, "[[brain:echo text=Three]] third")
    waiting = stack.wait_run(third, lambda r: r["wait_reason"] is not None)
    assert waiting["state"] == "queued" and "budget" in waiting["wait_reason"], "it waits, it does not fail"
    assert patch(round(cost * 10, 6))["budget_state"] == "ok"
    resumed = stack.wait_run(third)
    assert resumed["state"] == "succeeded"
    kinds = [e["kind"] for e in stack.events(team_id)]
    assert kinds.count("team.budget_warning") == 1
    assert kinds.index("team.budget_warning") < kinds.index("team.budget_paused") < kinds.index(
        "team.budget_resumed")
    notices = [m["content"] for m in chat(stack, team_id) if m["kind"] == "notice"]
    assert len(notices) == 2 and "is spent" in notices[0] and "queued work goes on" in notices[1], notices
    assert chat(stack, team_id)[-1]["content"] == "Three"
