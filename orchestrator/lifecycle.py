"""The hooks the run executor calls: when a run starts and when it ends (inside the transaction that records it).

On the start: the agent is running, its task in progress, and its CLAUDE.md regenerated with both.
On the end of a run: the agent's status follows its remaining runs; a lead's final text becomes its chat reply;
a task the agent did not settle itself is settled for it (review with the final text on success — never a
silent done — failed with the reason, or cancelled); a wake run closes its round; a round whose last task just
settled wakes the lead once.
"""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator import agents, claude_md, messages, rounds, tasks
from orchestrator.common import Outbox, is_handled_by_caller

FAILED_STATES = ("failed", "timed_out", "interrupted")
_LEAD_NOTES = {
    "failed": "⚠️ The lead's run failed",
    "timed_out": "⏱️ The lead's run timed out",
    "interrupted": "⚠️ The lead's run was interrupted",
    "cancelled": "⏹️ The lead was stopped",
}


def on_run_started(conn: psycopg.Connection, run: dict[str, Any]) -> None:
    box = Outbox()
    agent = agents.get(conn, run["agent_id"], lock=True)
    if agent["status"] not in ("stopped", "archived"):  # a stop racing the start wins: the run is being killed
        agents.set_status(conn, run["agent_id"], "running", box)
    if run.get("task_id"):
        tasks.start_for_run(conn, run, box)
    # Written again after the moves above, so the file shows this run's task in progress and the agent running.
    claude_md.write_claude_md(conn, run["agent_id"])
    box.flush(conn)


def on_run_finished(conn: psycopg.Connection, run: dict[str, Any]) -> None:
    box = Outbox()
    if not is_handled_by_caller(run["agent_id"]):
        agents.sync_status(conn, run["agent_id"], box, failed=run["state"] in FAILED_STATES)
    agent = conn.execute("SELECT is_lead FROM agents WHERE id = %s", (run["agent_id"],)).fetchone()
    if agent is not None and agent["is_lead"]:
        _post_lead_reply(conn, run, box)
    settled = None
    if run.get("task_id") and not is_handled_by_caller(run["task_id"]):
        settled = tasks.settle_after_run(conn, run, box)
    rounds.finish_wake(conn, run, box)
    if settled is not None and settled["stage"] in rounds.SETTLED:
        rounds.maybe_wake(conn, settled["round_id"], box)
    box.flush(conn)


def _post_lead_reply(conn: psycopg.Connection, run: dict[str, Any], box: Outbox) -> None:
    text = (run.get("result_text") or "").strip()
    if text:
        messages.add_chat(conn, run["team_id"], "assistant", text, box, agent_id=run["agent_id"], run_id=run["id"])
    note = _LEAD_NOTES.get(run["state"])
    # A run cancelled before it started has nothing to report.
    if note is not None and run.get("started_at") is not None:
        detail = run.get("error") or run.get("outcome")
        messages.add_chat(conn, run["team_id"], "system", f"{note}: {detail}." if detail else f"{note}.", box,
                          agent_id=run["agent_id"], run_id=run["id"])
