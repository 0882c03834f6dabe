"""The agent API: the caller is its run token and nothing else; team boundaries and lead-only actions hold."""

from __future__ import annotations

import pytest

from orchestrator.workflows import conversation as messages
from orchestrator.workflows import stopping
from shared import db
from tests.support.crew import bearer, finish, make_crew, queued, row, start

pytest_plugins = ("tests.support.orchestrator",)


def ok(response, status=200):
    assert response.status_code == status, response.get_json()
    return response.get_json()


def refused(response, status, match=""):
    assert response.status_code == status, (response.status_code, response.get_json())
    message = response.get_json()["message"]
    assert match in message, message
    return message


@pytest.fixture
def lead(crew):
    """The lead's token, from its running chat run."""
    with db.transaction() as conn:
        messages.post_user_message(conn, crew.team_id, "Ship it")
    run, token = start(crew.lead["id"])
    return {"run": run, "headers": bearer(token)}


def member_with_task(client, crew, lead, name="Alice"):
    task = ok(client.post("/agent/v1/tasks", json={"title": f"{name}'s task", "assignee": name},
                          headers=lead["headers"]), 201)
    agent = crew.alice if name == "Alice" else crew.bob
    run, token = start(agent["id"])
    assert run["task_id"] == task["id"]
    return task, run, bearer(token)


# ---------------------------------------------------------------------------------------------------- tokens


@pytest.mark.parametrize(("headers", "match"), [
    ({}, "missing agent token"),
    ({"Authorization": "Basic abc"}, "malformed"),
    ({"Authorization": "Bearer "}, "malformed"),
    ({"Authorization": "Bearer forged-token-that-matches-nothing"}, "invalid or expired"),
])
def test_requests_without_a_valid_token_are_refused(client, crew, headers, match):
    refused(client.get("/agent/v1/me", headers=headers), 401, match)
    refused(client.post("/agent/v1/tasks", json={"title": "x"}, headers=headers), 401)


def test_a_token_expires_when_its_run_ends(client, crew, lead):
    me = ok(client.get("/agent/v1/me", headers=lead["headers"]))
    assert me["agent"]["name"] == "Lead" and me["agent"]["is_lead"] and me["run_id"] == lead["run"]["id"]
    assert me["workspace"]["project"].endswith("/project")
    finish(lead["run"], text="bye")
    refused(client.get("/agent/v1/me", headers=lead["headers"]), 401, "invalid or expired")


def test_the_public_api_token_is_not_an_agent_token(client, crew):
    refused(client.get("/agent/v1/team", headers=bearer("the-user-token")), 401)


def test_an_archived_agent_is_refused_even_while_its_run_winds_down(client, crew, lead):
    _, _, alice = member_with_task(client, crew, lead)
    with db.transaction() as conn:
        stopping.archive_agent(conn, crew.alice["id"])
    refused(client.get("/agent/v1/me", headers=alice), 403, "archived")


def test_ids_in_the_body_never_change_who_the_caller_is(client, crew, lead):
    task, _, alice = member_with_task(client, crew, lead)
    refused(client.post(f"/agent/v1/tasks/{task['id']}/status",
                        json={"status": "done", "summary": "x", "agent_id": crew.lead["id"]}, headers=alice),
            422, "agent_id")
    sent = ok(client.post("/agent/v1/messages", json={"to": "Bob", "message": "hi"}, headers=alice), 201)
    assert sent["from_agent"] == crew.alice["id"]


# ----------------------------------------------------------------------------------------------- team borders


def test_agents_cannot_reach_into_another_team(client, crew, lead):
    other = make_crew("Other")
    with db.transaction() as conn:
        from orchestrator.workflows import delegation as tasks
        from orchestrator.workflows.delegation import TaskSpec

        (foreign,) = tasks.create(conn, other.team_id, [TaskSpec("secret", assignee="Alice")])
    refused(client.get(f"/agent/v1/tasks/{foreign['id']}", headers=lead["headers"]), 403, "another team")
    refused(client.post(f"/agent/v1/tasks/{foreign['id']}/status", json={"status": "cancelled", "reason": "x"},
                        headers=lead["headers"]), 403, "another team")
    refused(client.post("/agent/v1/messages", json={"to": other.bob["id"], "message": "psst"},
                        headers=lead["headers"]), 403, "not in this team")
    refused(client.post("/agent/v1/tasks", json={"title": "x", "assignee": other.bob["id"]},
                        headers=lead["headers"]), 403)
    refused(client.post("/agent/v1/status", json={"status": "x", "task_id": foreign["id"]},
                        headers=lead["headers"]), 403)
    listed = ok(client.get("/agent/v1/tasks", headers=lead["headers"]))["tasks"]
    assert foreign["id"] not in [t["id"] for t in listed]


# ---------------------------------------------------------------------------------------------------- the lead


def test_lead_only_actions_are_refused_to_members(client, crew, lead):
    task, _, alice = member_with_task(client, crew, lead)
    refused(client.post("/agent/v1/tasks", json={"title": "for bob", "assignee": "Bob"}, headers=alice), 403,
            "only the team lead")
    refused(client.post("/agent/v1/plan", json={"tasks": [{"title": "a", "assignee": "Bob"}]}, headers=alice), 403)
    refused(client.post("/agent/v1/plan", json={"tasks": [{"title": "for me"}]}, headers=alice), 403,
            "only the team lead plans")
    refused(client.post("/agent/v1/broadcast", json={"message": "hey all"}, headers=alice), 403, "only the team lead")
    refused(client.post("/agent/v1/goal-done", json={"summary": "done!"}, headers=alice), 403, "only the team lead")
    refused(client.post(f"/agent/v1/tasks/{task['id']}/assign", json={"assignee": "Bob"}, headers=alice), 403)
    refused(client.post(f"/agent/v1/tasks/{task['id']}/status", json={"status": "cancelled", "reason": "x"},
                        headers=alice), 403)
    own = ok(client.post("/agent/v1/tasks", json={"title": "note to self"}, headers=alice), 201)
    assert own["assigned_to"] == crew.alice["id"]


def test_the_lead_plans_delegates_and_reviews(client, crew, lead):
    plan = ok(client.post("/agent/v1/plan", json={"tasks": [
        {"title": "API", "assignee": "Alice", "kind": "backend", "priority": 2, "description": "REST"},
        {"title": "UI", "assignee": "bob", "kind": "frontend"}]}, headers=lead["headers"]), 201)["tasks"]
    assert [t["assignee"]["name"] for t in plan] == ["Alice", "Bob"]
    assert plan[0]["created_by"] == crew.lead["id"] and plan[0]["created_by_name"] == "Lead"
    assert [r["task_id"] for r in queued(crew.alice["id"])] == [plan[0]["id"]]
    listed = ok(client.get("/agent/v1/tasks?status=backlog", headers=lead["headers"]))["tasks"]
    assert [t["title"] for t in listed] == ["API", "UI"]  # priority first
    cancelled = ok(client.post(f"/agent/v1/tasks/{plan[1]['id']}/status",
                               json={"status": "cancelled", "reason": "scope cut"}, headers=lead["headers"]))
    assert cancelled["stage"] == "cancelled" and queued(crew.bob["id"]) == []
    sent = ok(client.post("/agent/v1/broadcast", json={"message": "kick-off"}, headers=lead["headers"]), 201)
    assert sent["recipients"] == ["Alice", "Bob"]


def test_goal_done_lists_open_tasks_and_completes_none(client, crew, lead):
    task, _, _ = member_with_task(client, crew, lead)
    done = ok(client.post("/agent/v1/goal-done", json={"summary": "Shipped v1"}, headers=lead["headers"]))
    assert [t["id"] for t in done["open_tasks"]] == [task["id"]] and "still open" in done["note"]
    assert row("tasks", task["id"])["stage"] == "in_progress"


# --------------------------------------------------------------------------------------------------- members


def test_a_member_reports_with_real_content(client, crew, lead):
    task, _, alice = member_with_task(client, crew, lead)
    me = ok(client.get("/agent/v1/me", headers=alice))
    assert me["task"]["id"] == task["id"] and not me["agent"]["is_lead"]
    mine = ok(client.get("/agent/v1/tasks?mine=true", headers=alice))["tasks"]
    assert [t["id"] for t in mine] == [task["id"]]
    refused(client.post(f"/agent/v1/tasks/{task['id']}/status", json={"status": "done"}, headers=alice), 422,
            "summary is required")
    done = ok(client.post(f"/agent/v1/tasks/{task['id']}/status",
                          json={"status": "done", "summary": "Endpoints in project/api.py; 12 tests pass",
                                "files": ["project/api.py"]}, headers=alice))
    assert done["stage"] == "done" and done["result"]["reported_files"] == ["project/api.py"], \
        "a member's done finishes it"
    assert ok(client.get(f"/agent/v1/tasks/{task['id']}", headers=lead["headers"]))["reviews"] == []
    refused(client.post(f"/agent/v1/tasks/{task['id']}/status", json={"status": "in_progress"}, headers=alice), 409,
            "final state")
    refused(client.post(f"/agent/v1/tasks/{task['id']}/status", json={"status": "in_progress"},
                        headers=lead["headers"]), 409, "final state")


def test_a_member_asks_for_review_and_only_the_lead_approves(client, crew, lead):
    task, _, alice = member_with_task(client, crew, lead)
    asked = ok(client.post(f"/agent/v1/tasks/{task['id']}/review",
                           json={"summary": "Endpoints in project/api.py", "files": ["project/api.py"],
                                 "message": "check the error codes"}, headers=alice))
    assert asked["stage"] == "review" and asked["result"]["summary"] == "Endpoints in project/api.py"
    assert asked["result"]["reported_files"] == ["project/api.py"]
    assert [(r["step"], r["by_name"], r["feedback"]) for r in asked["reviews"]] == [
        ("requested", "Alice", "check the error codes")]
    refused(client.post(f"/agent/v1/tasks/{task['id']}/status", json={"status": "done", "summary": "me again"},
                        headers=alice), 403, "only the lead approves")
    approved = ok(client.post(f"/agent/v1/tasks/{task['id']}/status", json={"status": "done"},
                              headers=lead["headers"]))
    assert approved["stage"] == "done" and approved["result"]["summary"] == "Endpoints in project/api.py"
    assert [r["step"] for r in approved["reviews"]] == ["requested", "approved"]


def test_review_block_status_and_the_inbox(client, crew, lead):
    task, _, alice = member_with_task(client, crew, lead)
    reviewed = ok(client.post(f"/agent/v1/tasks/{task['id']}/review", json={"message": "please check"},
                              headers=alice))
    assert reviewed["stage"] == "review" and reviewed["result"]["review_message"] == "please check"
    second = ok(client.post("/agent/v1/tasks", json={"title": "more", "assignee": "Bob"}, headers=lead["headers"]),
                201)
    _, bob_token = start(crew.bob["id"])
    bob = bearer(bob_token)
    blocked = ok(client.post(f"/agent/v1/tasks/{second['id']}/block", json={"reason": "need credentials"},
                             headers=bob))
    assert blocked["stage"] == "review" and blocked["result"]["blocker"] == "need credentials"
    report = ok(client.post("/agent/v1/status", json={"status": "waiting", "blocker": "VPN down"}, headers=bob))
    assert report["lead_notified"] is True
    inbox = ok(client.post("/agent/v1/inbox/read", json={"limit": 2}, headers=lead["headers"]))
    assert [m["from"] for m in inbox["messages"]] == ["Alice", "Bob"] and inbox["remaining"] == 1
    assert "Review requested" in inbox["messages"][0]["content"]
    assert "need credentials" in inbox["messages"][1]["content"]
    rest = ok(client.post("/agent/v1/inbox/read", json={}, headers=lead["headers"]))
    assert "VPN down" in rest["messages"][0]["content"] and rest["remaining"] == 0


def test_team_and_context(client, crew, lead):
    _, _, alice = member_with_task(client, crew, lead)
    members = ok(client.get("/agent/v1/team", headers=alice))["members"]
    assert [(m["name"], m["you"]) for m in members] == [("Lead", False), ("Alice", True), ("Bob", False)]
    assert members[1]["status"] == "running" and members[1]["working_on"] == "Alice's task"
    context = ok(client.get("/agent/v1/context", headers=alice))
    assert context["team"]["name"] == "Crew" and context["task_summary"]["in_progress"] == 1
    assert context["you"]["name"] == "Alice" and context["unread_messages"] == 0


@pytest.mark.parametrize(("path", "body", "match"), [
    ("/agent/v1/tasks", {}, "title"),
    ("/agent/v1/tasks", {"title": "t", "kind": "cooking"}, "kind"),
    ("/agent/v1/tasks", {"title": "t", "assigned_to": "Bob"}, "assigned_to"),
    ("/agent/v1/plan", {"tasks": []}, "tasks"),
    ("/agent/v1/plan", {"tasks": [{"title": f"t{i}"} for i in range(51)]}, "tasks"),
    ("/agent/v1/messages", {"to": "Bob"}, "message"),
    ("/agent/v1/messages", {"to": "Nobody", "message": "hi"}, "no teammate named"),
    ("/agent/v1/broadcast", {"message": ""}, "message"),
    ("/agent/v1/inbox/read", {"limit": 0}, "limit"),
    ("/agent/v1/status", {}, "status"),
    ("/agent/v1/status", {"status": "x", "task_id": "nope"}, "task_id"),
    ("/agent/v1/goal-done", {}, "summary"),
    ("/agent/v1/tasks/task_bogus/status", {"status": "done"}, "not a valid task id"),
])
def test_bad_agent_requests_get_4xx_with_a_message(client, crew, lead, path, body, match):
    response = client.post(path, json=body, headers=lead["headers"])
    assert 400 <= response.status_code < 500, response.get_json()
    assert match in response.get_json()["message"]


def test_unknown_task_status_is_422(client, crew, lead):
    task, _, alice = member_with_task(client, crew, lead)
    refused(client.post(f"/agent/v1/tasks/{task['id']}/status", json={"status": "finished"}, headers=alice), 422,
            "unknown status")
