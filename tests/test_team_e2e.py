"""A team end to end with the real CLIs and the model double: the user's goal becomes tasks (created by the lead
through `gamma-agent`), members do them and report, the lead is woken exactly once, reviews and answers. Once with
claude everywhere, once with a claude lead and a codex member in the same team.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import polling
from tests.support.stack import Stack, running_stack

pytestmark = [pytest.mark.slow, pytest.mark.cli]


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(database_url, tmp_path_factory.mktemp("team-stack")) as running, running.worker():
        yield running


def wait_for(check, timeout: float = 180, what: str = "condition"):
    return polling.wait_for(check, timeout=timeout, interval=0.2, what=what)


@pytest.mark.parametrize("bob_backend", ["claude", "codex"])
def test_a_goal_becomes_delegated_work_one_wake_a_review_and_an_answer(stack: Stack, bob_backend: str):
    team = stack.create_team(members=[
        {"name": "Alice", "role_id": "engineering/backend-architect"},
        {"name": "Bob", "role_id": "engineering/frontend-engineer", "backend": bob_backend}])
    team_id = team["id"]
    assert {m["name"]: m["backend"] for m in team["members"]} == {"Lead": "claude", "Alice": "claude",
                                                                  "Bob": bob_backend}
    first = stack.wait_run(stack.say(team_id, "[[brain:lead members=Alice,Bob]] Build a tiny landing page"))
    assert first["state"] == "succeeded", first["error"]

    waking = stack.wait_event(team_id, "round.waking", timeout=180)
    wake = stack.wait_run(waking["run_id"], timeout=180)
    assert (wake["reason"], wake["state"]) == ("wake", "succeeded"), wake["error"]

    tasks = stack.api("GET", f"/api/teams/{team_id}/tasks").json()["tasks"]
    assert sorted(t["assignee"]["name"] for t in tasks) == ["Alice", "Bob"]
    with stack.connect() as conn:
        backends = {r["name"]: r["backend"] for r in conn.execute(
            "SELECT a.name, r.backend FROM runs r JOIN agents a ON a.id = r.agent_id"
            " WHERE r.team_id = %s AND r.state = 'succeeded'", (team_id,))}
    assert backends == {"Lead": "claude", "Alice": "claude", "Bob": bob_backend}, "each ran on its own CLI"
    for task in tasks:
        assert task["stage"] == "done" and task["created_by_name"] == "Lead", "the member reported it done"
        assert task["result"]["summary"].startswith("Wrote ")
        assert (stack.home / "workspaces" / team_id / "project" / f"{task['id']}.md").exists()
        assert f'- {task["id"]} — "{task["title"]}" by {task["assignee"]["name"]} [done]: Wrote ' in wake["prompt"]

    log = stack.events(team_id)
    kinds = [e["kind"] for e in log]
    assert kinds.count("round.waking") == 1 and kinds.count("task.created") == 2
    settling = [e for e in log if e["kind"] == "task.updated" and e["payload"]["to"] in ("review", "done")]
    assert [e["payload"]["to"] for e in settling] == ["done", "done"], "each member's done finished its task"
    assert max(log.index(e) for e in settling) < kinds.index("round.waking"), "woken once both were done"

    chat = wait_for(lambda: _chat_when(stack, team_id, 4), what="the lead's review in the chat")
    # The lead's first reply and the wake notice may land in either order; the review always comes last.
    assert chat[0]["role"] == "user" and sorted(m["role"] for m in chat[1:3]) == ["assistant", "system"]
    replies = {m["role"]: m["content"] for m in chat[1:3]}
    assert replies["assistant"].startswith("I delegated 2 task(s)")
    # The wake says what happened in a sentence, then what the lead was told.
    said, told = replies["system"].split("\n\n", 1)
    assert said == "All 2 tasks of this round ended (2 done): the lead is reviewing them and will answer here."
    assert told.startswith("[SYSTEM] Round completed")
    assert chat[3]["role"] == "assistant" and chat[3]["content"].startswith("Review done.")
    assert all(t["id"] in chat[3]["content"] for t in tasks)

    statuses = {m["name"]: m["status"] for m in stack.api("GET", f"/api/teams/{team_id}").json()["members"]}
    assert statuses == {"Lead": "idle", "Alice": "idle", "Bob": "idle"}
    lead_md = stack.home / "workspaces" / team_id / "agents" / team["members"][0]["id"] / "CLAUDE.md"
    assert "You lead team" in lead_md.read_text()


def _chat_when(stack: Stack, team_id: str, count: int):
    messages = stack.api("GET", f"/api/teams/{team_id}/messages").json()["messages"]
    return messages if len(messages) >= count else None
