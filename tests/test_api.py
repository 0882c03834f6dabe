"""The public REST API through the Flask test client: happy paths, and every bad input answered 4xx, never 500."""

from __future__ import annotations

import pytest

from shared import db
from tests.support.crew import finish, queued, row, start

# Fixed ids that exist nowhere: test ids must be the same in every process that collects them (pytest-xdist).
MISSING_TEAM = "team_01J0000000000000000000000T"


def missing(kind: str) -> str:
    return f"{kind}_01J0000000000000000000000X"


pytest_plugins = ("tests.support.orchestrator",)


def ok(response, status=200):
    assert response.status_code == status, response.get_json()
    return response.get_json()


def refused(response, status):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert body and body["message"], body
    return body["message"]


# ------------------------------------------------------------------------------------------------------- teams


def test_create_a_team_with_a_default_lead_then_rename_and_archive_it(client):
    team = ok(client.post("/api/teams", json={"name": "  Shop  ", "description": "an online shop"}), 201)
    assert team["name"] == "Shop" and team["status"] == "active"
    (lead,) = team["members"]
    assert lead["is_lead"] and lead["name"] == "Lead" and lead["role_id"] == "engineering/tech-lead"
    assert lead["workspace_path"].endswith(lead["id"]) and lead["emoji"] and lead["role_name"] == "Tech Lead"
    assert "claude_md_hash" not in lead
    renamed = ok(client.patch(f"/api/teams/{team['id']}", json={"name": "Shop 2"}))
    assert renamed["name"] == "Shop 2"
    budgeted = ok(client.patch(f"/api/teams/{team['id']}", json={"budget_usd": 2.5}))
    assert float(budgeted["budget_usd"]) == 2.5
    client.post(f"/api/teams/{team['id']}/tasks", json={"title": "First task"})
    listed = {t["id"]: t for t in ok(client.get("/api/teams"))["teams"]}
    assert listed[team["id"]]["task_counts"] == {"backlog": 1}, "the dashboard gets counts without N requests"
    assert listed[team["id"]]["cost_usd"] == 0.0
    archived = ok(client.delete(f"/api/teams/{team['id']}"))
    assert archived["team"]["status"] == "archived"
    assert all(m["status"] == "archived" for m in archived["team"]["members"])
    assert team["id"] not in [t["id"] for t in ok(client.get("/api/teams"))["teams"]]
    assert team["id"] in [t["id"] for t in ok(client.get("/api/teams?include_archived=true"))["teams"]]
    refused(client.patch(f"/api/teams/{team['id']}", json={"name": "zombie"}), 409)
    refused(client.post(f"/api/teams/{team['id']}/agents", json={"name": "X", "role_id": "engineering/tech-lead"}),
            409)


def test_create_a_team_with_members_or_from_a_blueprint(client):
    team = ok(client.post("/api/teams", json={
        "name": "Squad", "lead": {"name": "Boss", "role_id": "engineering/software-architect"},
        "members": [{"name": "Dev", "role_id": "engineering/backend-architect", "model": "sonnet",
                     "allowed_tools": ["Read", "Write"]}]}), 201)
    assert [m["name"] for m in team["members"]] == ["Boss", "Dev"]
    dev = team["members"][1]
    assert dev["model"] == "sonnet" and dev["allowed_tools"] == ["Read", "Write", "Bash"]  # gamma-agent needs Bash
    built = ok(client.post("/api/teams", json={"name": "From blueprint", "blueprint_id": "api-service"}), 201)
    assert built["blueprint_id"] == "api-service" and built["members"][0]["is_lead"]
    assert len(built["members"]) > 1


def test_agents_can_be_added_edited_reset_stopped_and_archived(client, crew):
    agent = ok(client.post(f"/api/teams/{crew.team_id}/agents",
                           json={"name": "Carol", "role_id": "testing/qa-lead", "specialization": "e2e"}), 201)
    assert agent["team_id"] == crew.team_id and not agent["is_lead"] and agent["status"] == "idle"
    edited = ok(client.patch(f"/api/agents/{agent['id']}", json={"specialization": "load tests", "max_turns": 50}))
    assert edited["specialization"] == "load tests" and edited["max_turns"] == 50
    assert ok(client.get(f"/api/agents/{agent['id']}"))["name"] == "Carol"
    assert "You are **Carol**" in ok(client.get(f"/api/agents/{agent['id']}/claude-md"))["content"]
    assert ok(client.post(f"/api/agents/{agent['id']}/reset-session"))["session_id"] is None
    stopped = ok(client.post(f"/api/agents/{agent['id']}/stop"))
    assert stopped["agent"]["status"] == "stopped"
    archived = ok(client.delete(f"/api/agents/{agent['id']}"))
    assert archived["agent"]["status"] == "archived"
    refused(client.patch(f"/api/agents/{agent['id']}", json={"name": "Back"}), 409)


def test_an_agents_turns_and_budget_are_refused_naming_them_when_the_database_could_not_keep_them(client, crew):
    bob = crew.bob["id"]
    assert refused(client.patch(f"/api/agents/{bob}", json={"max_turns": True}), 422).startswith("max_turns")
    # Budgets are kept to 4 decimals: a smaller one would round to 0 and be refused by the database, unnamed.
    assert refused(client.patch(f"/api/agents/{bob}", json={"budget_usd": 0.00001}), 422).startswith("budget_usd")
    assert refused(client.patch(f"/api/teams/{crew.team_id}", json={"budget_usd": 1e-9}), 422).startswith(
        "budget_usd")
    assert float(ok(client.patch(f"/api/agents/{bob}", json={"budget_usd": 0.0001}))["budget_usd"]) == 0.0001
    taken = client.patch(f"/api/agents/{bob}", json={"name": crew.alice["name"]})
    assert taken.status_code == 409 and taken.get_json()["field"] == "name", taken.get_json()  # the form places it


def test_each_agent_chooses_its_backend_and_runs_record_it(client, crew, conn):
    codex = ok(client.post(f"/api/teams/{crew.team_id}/agents",
                           json={"name": "Cody", "role_id": "engineering/frontend-engineer", "backend": "codex"}), 201)
    assert codex["backend"] == "codex"
    assert ok(client.patch(f"/api/agents/{codex['id']}", json={"backend": "claude"}))["backend"] == "claude"
    assert ok(client.patch(f"/api/agents/{codex['id']}", json={"backend": "codex"}))["backend"] == "codex"
    task = ok(client.post(f"/api/teams/{crew.team_id}/tasks", json={"title": "Style it", "assignee": "Cody"}), 201)
    runs = conn.execute("SELECT backend FROM runs WHERE task_id = %s", (task["id"],)).fetchall()
    assert [r["backend"] for r in runs] == ["codex"], "migration 090 lets runs use codex"
    ok(client.post(f"/api/tasks/{task['id']}/cancel"))


def test_reset_session_is_refused_while_the_agent_runs(client, crew):
    ok(client.post(f"/api/teams/{crew.team_id}/messages", json={"message": "hi"}), 202)
    run, _ = start(crew.lead["id"])
    assert "stop it first" in refused(client.post(f"/api/agents/{crew.lead['id']}/reset-session"), 409)
    finish(run)
    ok(client.post(f"/api/agents/{crew.lead['id']}/reset-session"))


# -------------------------------------------------------------------------------------------- chat and tasks


def test_posting_a_message_answers_202_at_once_with_the_run(client, crew):
    posted = ok(client.post(f"/api/teams/{crew.team_id}/messages", json={"message": "Build a todo app"}), 202)
    assert posted["message"]["content"] == "Build a todo app" and posted["run_id"].startswith("run_")
    assert queued(crew.lead["id"])[0]["id"] == posted["run_id"]
    page = ok(client.get(f"/api/teams/{crew.team_id}/messages?limit=10"))
    assert [m["content"] for m in page["messages"]] == ["Build a todo app"] and page["has_more"] is False
    assert page["messages"][0]["created_at"].count("T") == 1  # ISO timestamps


def test_tasks_can_be_created_read_cancelled_and_retried(client, crew):
    task = ok(client.post(f"/api/teams/{crew.team_id}/tasks",
                          json={"title": "Fix login", "assignee": "Alice", "kind": "backend", "priority": 5}), 201)
    assert task["assignee"]["name"] == "Alice" and task["stage"] == "backlog"
    got = ok(client.get(f"/api/tasks/{task['id']}"))
    assert [r["state"] for r in got["runs"]] == ["queued"]
    listed = ok(client.get(f"/api/teams/{crew.team_id}/tasks?stage=backlog,in_progress&assignee={crew.alice['id']}"))
    assert [t["id"] for t in listed["tasks"]] == [task["id"]]
    cancelled = ok(client.post(f"/api/tasks/{task['id']}/cancel", json={"reason": "duplicate"}))
    assert cancelled["stage"] == "cancelled" and cancelled["runs"][0]["state"] == "cancelled"
    again = ok(client.post(f"/api/teams/{crew.team_id}/tasks", json={"retry_of": task["id"], "priority": 9}), 201)
    assert again["retry_of"] == task["id"] and again["title"] == "Fix login" and again["priority"] == 9
    assert "final state" in refused(client.post(f"/api/tasks/{task['id']}/cancel", json={}), 409)


# ------------------------------------------------------------------------------------------ runs, stop, usage


def test_runs_show_queue_position_and_wait_reason_and_can_be_cancelled(client, crew):
    first = ok(client.post(f"/api/teams/{crew.team_id}/tasks", json={"title": "one", "assignee": "Alice"}), 201)
    ok(client.post(f"/api/teams/{crew.team_id}/tasks", json={"title": "two", "assignee": "Alice"}), 201)
    run, _ = start(crew.alice["id"])
    listed = ok(client.get(f"/api/teams/{crew.team_id}/runs"))["runs"]
    waiting = [r for r in listed if r["state"] == "queued"]
    assert len(waiting) == 1 and waiting[0]["position"] == 1
    detail = ok(client.get(f"/api/runs/{waiting[0]['id']}"))
    assert detail["prompt"].startswith("[TASK]") and "token_hash" not in detail
    assert ok(client.get(f"/api/runs/{run['id']}"))["task_id"] == first["id"]
    cancelled = ok(client.post(f"/api/runs/{waiting[0]['id']}/cancel"))
    assert cancelled["run"]["state"] == "cancelled"
    assert "already ended" in refused(client.post(f"/api/runs/{waiting[0]['id']}/cancel"), 409)
    only_running = ok(client.get(f"/api/teams/{crew.team_id}/runs?state=running"))["runs"]
    assert [r["id"] for r in only_running] == [run["id"]]


def test_raw_lines_and_usage(client, crew):
    ok(client.post(f"/api/teams/{crew.team_id}/messages", json={"message": "hi"}), 202)
    run, _ = start(crew.lead["id"])
    with db.transaction() as conn:
        for n, line in enumerate(['{"type":"system"}', '{"type":"result"}'], start=1):
            conn.execute("INSERT INTO run_lines (run_id, attempt, line_no, stream, line) VALUES (%s, 1, %s,"
                         " 'stdout', %s)", (run["id"], n, line))
        conn.execute("UPDATE runs SET cost_usd = 0.25, input_tokens = 100, output_tokens = 20, num_turns = 3,"
                     " duration_ms = 1500 WHERE id = %s", (run["id"],))
    lines = ok(client.get(f"/api/runs/{run['id']}/lines?after=1"))
    assert [entry["line"] for entry in lines["lines"]] == ['{"type":"result"}'] and lines["next_after"] == 2
    usage = ok(client.get(f"/api/teams/{crew.team_id}/usage"))
    assert usage["total"]["cost_usd"] == 0.25 and usage["total"]["num_turns"] == 3
    by_agent = {a["name"]: a for a in usage["agents"]}
    assert by_agent["Lead"]["runs"] == 1 and by_agent["Lead"]["output_tokens"] == 20
    assert by_agent["Alice"]["runs"] == 0 and by_agent["Alice"]["cost_usd"] == 0


def test_stop_team_and_stop_everything(client, crew):
    ok(client.post(f"/api/teams/{crew.team_id}/messages", json={"message": "go"}), 202)
    stopped = ok(client.post(f"/api/teams/{crew.team_id}/stop"))
    assert len(stopped["cancelled_runs"]) == 1
    assert {m["status"] for m in stopped["team"]["members"]} == {"stopped"}
    ok(client.post(f"/api/teams/{crew.team_id}/messages", json={"message": "go again"}), 202)
    idle = ok(client.post("/api/teams", json={"name": "Nothing going on"}), 201)
    everything = ok(client.post("/api/stop"))
    assert crew.team_id in everything["stopped_teams"] and len(everything["cancelled_runs"]) >= 1
    assert row("agents", crew.lead["id"])["status"] == "stopped"
    assert idle["id"] not in everything["stopped_teams"], "a team with nothing going on is left alone"
    assert {m["status"] for m in ok(client.get(f"/api/teams/{idle['id']}"))["members"]} == {"idle"}
    said = [m["content"] for m in ok(client.get(f"/api/teams/{crew.team_id}/messages"))["messages"]
            if m["kind"] == "notice"]
    assert said[-1].startswith("⏹️ The team was stopped: 1 run was cancelled") and "send a message" in said[-1]


def test_each_member_says_what_it_does_now(client, crew):
    for title in ("Build the page", "Write the tests"):
        ok(client.post(f"/api/teams/{crew.team_id}/tasks", json={"title": title, "assignee": "Alice"}), 201)
    run, _ = start(crew.alice["id"])

    def doing() -> dict:
        listed = next(t for t in ok(client.get("/api/teams"))["teams"] if t["id"] == crew.team_id)
        one = ok(client.get(f"/api/teams/{crew.team_id}"))
        by_name = {m["name"]: m["doing"] for m in one["members"]}
        assert by_name == {m["name"]: m["doing"] for m in listed["members"]}, "the list and the team agree"
        return by_name

    now = doing()
    assert now["Alice"]["state"] == "running" and now["Alice"]["run_id"] == run["id"]
    assert now["Alice"]["task_title"] == "Build the page", "the running run, not the queued one"
    assert now["Bob"] is None and now["Lead"] is None
    finish(run)
    after = doing()["Alice"]
    assert after["state"] == "queued" and after["task_title"] == "Write the tests"
    ok(client.post(f"/api/runs/{after['run_id']}/cancel"))
    assert doing()["Alice"] is None


def test_stop_everything_leaves_an_idle_team_and_its_chat_alone(client, crew):
    ok(client.post(f"/api/teams/{crew.team_id}/messages", json={"message": "go"}), 202)
    idle = ok(client.post("/api/teams", json={"name": "Idle one"}), 201)
    ok(client.post(f"/api/teams/{idle['id']}/messages", json={"message": "hello"}), 202)
    (waiting,) = queued(idle["members"][0]["id"])
    ok(client.post(f"/api/runs/{waiting['id']}/cancel"))  # it had work once; nothing goes on now
    before = ok(client.get(f"/api/teams/{idle['id']}"))
    chat_before = ok(client.get(f"/api/teams/{idle['id']}/messages"))["messages"]
    everything = ok(client.post("/api/stop"))
    assert crew.team_id in everything["stopped_teams"] and idle["id"] not in everything["stopped_teams"]
    after = ok(client.get(f"/api/teams/{idle['id']}"))
    assert [m["status"] for m in after["members"]] == [m["status"] for m in before["members"]]
    assert after["updated_at"] == before["updated_at"]
    assert ok(client.get(f"/api/teams/{idle['id']}/messages"))["messages"] == chat_before, "its chat untouched"
    kinds = [e["kind"] for e in ok(client.get(f"/api/teams/{idle['id']}/events"))["events"]]
    assert "team.stopped" not in kinds
    said = [m["content"] for m in ok(client.get(f"/api/teams/{crew.team_id}/messages"))["messages"]]
    assert "send a message" in said[-1] and "process" not in said[-1].lower()


def test_events_can_be_read_after_a_cursor_and_filtered(client, crew):
    task = ok(client.post(f"/api/teams/{crew.team_id}/tasks", json={"title": "t", "assignee": "Bob"}), 201)
    everything = ok(client.get(f"/api/teams/{crew.team_id}/events"))
    assert everything["head"] == everything["next_after"] and everything["events"][0]["kind"] == "team.created"
    by_task = ok(client.get(f"/api/teams/{crew.team_id}/events?task_id={task['id']}&kind=task.created,run.queued"))
    assert [e["kind"] for e in by_task["events"]] == ["task.created", "run.queued"]
    after = ok(client.get(f"/api/teams/{crew.team_id}/events?after={everything['head']}"))
    assert after["events"] == []


# --------------------------------------------------------------------------------------------- bad input → 4xx

BAD_REQUESTS = [
    ("post", "/api/teams", {}, 422),
    ("post", "/api/teams", {"name": ""}, 422),
    ("post", "/api/teams", {"name": "   "}, 422),
    ("post", "/api/teams", {"name": "x" * 201}, 422),
    ("post", "/api/teams", {"name": "nul\x00"}, 400),
    ("post", "/api/teams", {"name": "x", "colour": "red"}, 422),
    ("post", "/api/teams", {"name": 5}, 422),
    ("post", "/api/teams", {"name": "x", "members": [{"name": "A", "role_id": "nope/unknown"}]}, 422),
    ("post", "/api/teams", {"name": "x", "members": [{"name": "A", "role_id": "../../etc"}]}, 422),
    ("post", "/api/teams", {"name": "x", "lead": {"role_id": "engineering/tech-lead"},
                            "members": [{"name": "lead", "role_id": "engineering/tech-lead"}]}, 409),
    ("post", "/api/teams", {"name": "x", "blueprint_id": "no-such-blueprint"}, 404),
    ("post", "/api/teams", {"name": "x", "blueprint_id": "api-service", "members": [
        {"name": "A", "role_id": "engineering/tech-lead"}]}, 422),
    ("post", "/api/teams", {"name": "x", "budget_usd": -1}, 422),
    ("get", "/api/teams?include_archived=maybe", None, 400),
    ("get", "/api/teams/not-an-id", None, 404),
    ("get", f"/api/teams/{MISSING_TEAM}", None, 404),
    ("patch", "/api/teams/{team}", {}, 422),
    ("patch", "/api/teams/{team}", {"name": None}, 422),
    ("patch", "/api/teams/{team}", {"status": "archived"}, 422),
    ("delete", f"/api/teams/{MISSING_TEAM}", None, 404),
    ("post", "/api/teams/{team}/agents", {"name": "Alice", "role_id": "engineering/tech-lead"}, 409),
    ("post", "/api/teams/{team}/agents", {"name": "Z", "role_id": "engineering/tech-lead", "is_lead": True}, 409),
    ("post", "/api/teams/{team}/agents", {"name": "Z", "role_id": "no/such-role"}, 422),
    ("post", "/api/teams/{team}/agents", {"name": "Z", "role_id": "engineering/tech-lead", "max_turns": 0}, 422),
    ("post", "/api/teams/{team}/agents", {"name": "Z", "role_id": "engineering/tech-lead",
                                          "permission_mode": "yolo"}, 422),
    ("post", "/api/teams/{team}/agents", {"name": "Z", "role_id": "engineering/tech-lead",
                                          "allowed_tools": ["--dangerously"]}, 422),
    ("post", "/api/teams/{team}/agents", {"name": "Z", "role_id": "engineering/tech-lead", "model": "-x"}, 422),
    ("post", "/api/teams/{team}/agents", {"name": "Z", "role_id": "engineering/tech-lead", "backend": "gpt"}, 422),
    ("post", f"/api/teams/{MISSING_TEAM}/agents", {"name": "Z", "role_id": "engineering/tech-lead"}, 404),
    ("get", "/api/agents/agent_nope", None, 404),
    ("get", f"/api/agents/{missing('agent')}", None, 404),
    ("patch", "/api/agents/{alice}", {"name": "Bob"}, 409),
    ("patch", "/api/agents/{alice}", {"is_lead": True}, 422),
    ("patch", "/api/agents/{alice}", {"role_id": "no/such-role"}, 422),
    ("post", f"/api/agents/{missing('agent')}/stop", None, 404),
    ("post", "/api/teams/{team}/messages", {}, 422),
    ("post", "/api/teams/{team}/messages", {"message": ""}, 422),
    ("post", "/api/teams/{team}/messages", {"message": ["a"]}, 422),
    ("post", f"/api/teams/{MISSING_TEAM}/messages", {"message": "hi"}, 404),
    ("get", "/api/teams/{team}/messages?limit=0", None, 400),
    ("get", "/api/teams/{team}/messages?limit=abc", None, 400),
    ("get", "/api/teams/{team}/messages?before=yesterday", None, 400),
    ("get", f"/api/teams/{MISSING_TEAM}/messages", None, 404),
    ("post", "/api/teams/{team}/tasks", {}, 422),
    ("post", "/api/teams/{team}/tasks", {"title": "t", "kind": "cooking"}, 422),
    ("post", "/api/teams/{team}/tasks", {"title": "t", "priority": 1000}, 422),
    ("post", "/api/teams/{team}/tasks", {"title": "t", "assignee": "Nobody"}, 404),
    ("post", "/api/teams/{team}/tasks", {"title": "t", "assignee": "Ali"}, 404),
    ("post", "/api/teams/{team}/tasks", {"retry_of": "task_bad"}, 422),
    ("post", "/api/teams/{team}/tasks", {"retry_of": missing("task")}, 404),
    ("get", "/api/teams/{team}/tasks?stage=finished", None, 400),
    ("get", "/api/teams/{team}/tasks?assignee=alice", None, 400),
    ("get", "/api/teams/{team}/tasks?limit=-5", None, 400),
    ("get", f"/api/tasks/{missing('task')}", None, 404),
    ("post", "/api/tasks/task_nope/cancel", {}, 404),
    ("get", "/api/teams/{team}/runs?state=sleeping", None, 400),
    ("get", "/api/teams/{team}/runs?agent_id=x", None, 400),
    ("get", f"/api/runs/{missing('run')}", None, 404),
    ("get", "/api/runs/run_1/lines", None, 404),
    ("get", f"/api/runs/{missing('run')}/lines?stream=stdin", None, 400),
    ("post", f"/api/runs/{missing('run')}/cancel", None, 404),
    ("get", f"/api/teams/{MISSING_TEAM}/usage", None, 404),
    ("get", "/api/teams/{team}/events?after=-1", None, 400),
    ("get", "/api/teams/{team}/events?limit=0", None, 400),
    ("get", "/api/teams/{team}/events?run_id=abc", None, 400),
    ("get", f"/api/teams/{MISSING_TEAM}/events", None, 404),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), BAD_REQUESTS,
                         ids=[f"{m} {p} {b}"[:90] for m, p, b, _ in BAD_REQUESTS])
def test_bad_input_is_refused_with_a_message(client, crew, method, path, body, status):
    path = path.format(team=crew.team_id, alice=crew.alice["id"])
    kwargs = {"json": body} if body is not None else {}
    refused(getattr(client, method)(path, **kwargs), status)


@pytest.mark.parametrize(("data", "content_type", "status"), [
    ("{not json", "application/json", 400),
    ("[1, 2]", "application/json", 400),
    ("name=x", "application/x-www-form-urlencoded", 415),
    ("name", "text/plain", 415),
])
def test_malformed_bodies_are_refused(client, data, content_type, status):
    refused(client.post("/api/teams", data=data, content_type=content_type), status)
