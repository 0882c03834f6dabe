"""Idempotent agent actions, and what a resumed attempt is told it already did.

Every action an agent takes through the agent API (a task created, a plan, a message, a broadcast, a task result,
a status report, the goal done) goes through `once`, in the action's own transaction:

- the call is recorded for its run (action, a fingerprint of what was asked, the answer, a one-line summary);
- a call with an idempotency key (`Idempotency-Key`, which `gamma-agent` derives from the run and the command
  with its arguments) that the run already made — in this attempt or an earlier one — is not performed again:
  the first answer is returned as it was (same status, same body) and nothing changes;
- the same key with a different request is refused (Invalid → 422), naming the key.

Only answers that succeeded are recorded: a refused call rolls back with everything else in its transaction, so
repeating it simply tries again. A call without a key (curl) is performed each time, and recorded.

`resume_note` turns a run's recorded actions into the paragraph a resumed attempt's prompt starts with
(run_lifecycle.attempt_prompt).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from orchestrator.domain import Actor, Invalid, preview
from orchestrator.records import agent_actions
from shared import agent_commands as cmd

KEY_MAX = 200
# The actions, by the `gamma-agent` command that takes them (the summaries below describe each one's answer).
TASK_CREATE = "task create"
PLAN = "plan"
TASK_STATUS = "task status"
TASK_REVIEW = "task review"
TASK_BLOCK = "task block"
MSG_SEND = "msg send"
MSG_BROADCAST = "msg broadcast"
STATUS = "status"
GOAL_DONE = "done"
ACTIONS = (TASK_CREATE, PLAN, TASK_STATUS, TASK_REVIEW, TASK_BLOCK, MSG_SEND, MSG_BROADCAST, STATUS, GOAL_DONE)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    replayed: bool  # True: the first answer to this key, returned again; nothing was done


def fingerprint(action: str, target: str | None, request: dict[str, Any]) -> str:
    """What was asked, canonically: the action, what it acts on (a task id) and the parsed request body."""
    text = json.dumps([action, target, request], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def once(conn: psycopg.Connection, actor: Actor, *, action: str, key: str | None, target: str | None,
         request: dict[str, Any], status: int, perform: Callable[[], Any]) -> Answer:
    """Perform `perform` (it returns the JSON-ready answer body) unless this run already did this keyed call."""
    assert action in ACTIONS, action
    if actor.run_id is None:  # only agents act through here; a caller without a run has nothing to record in
        return Answer(status, perform(), replayed=False)
    asked = fingerprint(action, target, request)
    action_id = agent_actions.claim(conn, actor.run_id, key, action, asked)
    if action_id is None:
        assert key is not None  # only a keyed call can find its key taken
        first = agent_actions.keyed(conn, actor.run_id, key)
        assert first is not None and first["status"] is not None, "a committed claim is always complete"
        if first["fingerprint"] != asked or first["action"] != action:
            raise Invalid(f"Idempotency-Key {key!r} was already used in this run for a different request "
                          f"({first['action']} with other arguments); use a new key for a new request",
                          idempotency_key=key)
        return Answer(first["status"], first["response"], replayed=True)
    body = perform()
    agent_actions.complete(conn, action_id, status=status, response=body,
                           summary=summarize(action, target, request, body))
    return Answer(status, body, replayed=False)


# ------------------------------------------------------------------------------------------------ summaries


def summarize(action: str, target: str | None, request: dict[str, Any], body: Any) -> str:
    """One line saying what the action did, for a resumed attempt's prompt."""
    answer = body if isinstance(body, dict) else {}
    if action == TASK_CREATE:
        return f"created task {_task(answer)}"
    if action == PLAN:
        tasks = answer.get("tasks") or []
        return f"planned {len(tasks)} task(s): " + "; ".join(_task(t) for t in tasks)
    if action in (TASK_STATUS, TASK_REVIEW, TASK_BLOCK):
        asked = {TASK_REVIEW: "review", TASK_BLOCK: "blocked"}.get(action) or str(request.get("status"))
        said = request.get("summary") or request.get("reason") or request.get("message")
        line = f"reported task {_task(answer, assignee=False)} {asked} (it is now {answer.get('stage')})"
        if answer.get("unchanged"):
            line += ", which it already was"
        return line + (f': "{preview(said, 160)}"' if said else "")
    if action == MSG_SEND:
        return f'sent a message to {answer.get("to_name")}: "{preview(request.get("message"), 160)}"'
    if action == MSG_BROADCAST:
        return (f"broadcast to {', '.join(answer.get('recipients') or []) or 'nobody'}: "
                f'"{preview(request.get("message"), 160)}"')
    if action == STATUS:
        line = f'reported status "{preview(request.get("status"), 160)}"'
        return line + (f' with blocker "{preview(request.get("blocker"), 160)}"' if request.get("blocker") else "")
    return f'declared the goal done: "{preview(request.get("summary"), 160)}"'


def _task(task: dict[str, Any], *, assignee: bool = True) -> str:
    text = f'{task.get("id")} "{preview(task.get("title"), 120)}"'
    who = (task.get("assignee") or {}).get("name") if isinstance(task.get("assignee"), dict) else None
    return text + (f" for {who}" if assignee and who else "")


# ---------------------------------------------------------------------------------------------- resuming


# How the attempt before ended, by its outcome. Never its error text: an agent may echo its prompt, and the
# outcome rules read the final text (an echoed "No conversation found" would look like an unknown session).
_ENDED = {
    "lease_lost": "its worker was lost",
    "interrupted": "its worker shut down",
    "unknown_session": "its session could not be resumed, so this attempt starts a fresh one",
    "usage_limit": "it waited for the model's limits to reset",
    "api_error": "the model's API failed",
}


def resume_note(conn: psycopg.Connection, run_id: str, attempt: int, outcome: str | None = None) -> str:
    """What a resumed attempt is told before its prompt: it was interrupted (`outcome`: how the attempt before it
    ended), and what the run already did."""
    done = agent_actions.of_run(conn, run_id)
    why = _ENDED.get(outcome or "")
    lines = [f"[RESUMED] This run was interrupted before it finished ({why or 'its attempt ended early'}); "
             f"this is attempt {attempt}. Do not start over."]
    if done:
        lines += ["What you already did in this run is recorded — do NOT do any of it again:"]
        lines += [f"  {number}. {row['summary']}" for number, row in enumerate(done, start=1)]
    else:
        lines += ["Nothing you did in this run was recorded through gamma-agent (no task, plan, message or "
                  "result) before the interruption."]
    lines += [f"Check what is already there if you need to ({cmd.example('tasks')}, {cmd.example('msg read')}), "
              "then carry on with what is left. Making exactly the same call again in this run "
              "returns its first answer and changes nothing.", "",
              "The request you were working on, for reference:", ""]
    return "\n".join(lines)
