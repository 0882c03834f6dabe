"""A run whose worker is SIGKILLed after its agent created a task resumes on attempt 2, is told what it already did,
and repeats the same `gamma-agent task create` without creating a second task. Real gunicorn, real Dramatiq
workers, the real pinned `claude` CLI (model double) and the real `gamma-agent` inside the run's sandbox."""

from __future__ import annotations

import json
import signal

import pytest

from tests.support.stack import Stack

pytestmark = [pytest.mark.slow, pytest.mark.cli]
pytest_plugins = ("tests.support.stack_fixtures",)

# The command creates the task, then waits for a file GO in the agent's workspace (the test writes it once the
# first attempt is dead) and removes it, so a later run of the same session waits instead of going on.
WAIT_FOR_GO = 'python3 -c "import os, time\nwhile not os.path.exists(\\"GO\\"): time.sleep(0.2)" && rm GO'
COMMAND = f"gamma-agent task create --title Once --description first && {WAIT_FOR_GO}"


def test_a_resumed_run_repeating_its_task_create_makes_one_task(stack: Stack):
    team = stack.create_team()
    lead = next(m for m in team["members"] if m["is_lead"])
    go = stack.home / "workspaces" / team["id"] / "agents" / lead["id"] / "GO"
    try:
        with stack.worker() as doomed:
            run_id = stack.say(team["id"], f"[[brain:write_file path=notes/done.txt cmd='{COMMAND}']] Plan once.")
            created = stack.wait_event(team["id"], "task.created", timeout=90, run_id=run_id)
            with stack.worker():  # it takes the run over once the reaper sees the dead worker
                doomed.signal_group(signal.SIGKILL)
                stack.wait_run(run_id, lambda r: r["attempt"] >= 2 and r["state"] == "running", timeout=90)
                go.write_text("go")
                run = stack.wait_run(run_id, timeout=120)
        assert (run["state"], run["attempt"]) == ("succeeded", 2), (run["error"], run["outcome"])

        events = stack.events(team["id"], run_id=run_id)
        assert [e["task_id"] for e in events if e["kind"] == "task.created"] == [created["task_id"]], \
            "one task, though the command ran in both attempts"
        results = [json.dumps(e["payload"]) for e in events if e["kind"] == "agent.tool_result"]
        assert any("already ran in this run" in r and created["task_id"] in r for r in results), \
            "attempt 2 ran the command again and got the first answer"
        prompts = [json.dumps(r.body) for r in stack.double.messages_requests()]
        assert any("[RESUMED]" in p and f'created task {created["task_id"]}' in p for p in prompts), \
            "attempt 2's prompt said what the run had already done"
    finally:
        stack.api("POST", f"/api/teams/{team['id']}/stop")
