"""A run from its start to its end, and everything its end sets off.

The records (orchestrator/records/runs.py) write the run row; this module decides what follows, explicitly:

- start: the agent is running, its task in progress, its CLAUDE.md regenerated with both; the team's budget
  caps the run (a spent budget refuses it); an attempt after the first is told it was interrupted and what
  the run already did (`attempt_prompt`);
- end (finished, cancelled before it started, taken back from a dead worker): the agent's status follows its
  remaining runs; a lead's final text becomes its chat reply; a task the agent did not settle itself is
  settled for it (review with the final text on success — never a silent done —, failed with the reason, or
  cancelled); a wake run closes its round; a round whose last task just settled wakes the lead once; then the
  agent's next queued run is dispatched and `run.finished`/`run.requeued` is appended.

A caller that settles some of these itself (a team stop must not wake the lead, an archive cancels the tasks
itself) names them in `leave`: the ids of agents, tasks or the team whose follow-ups it takes care of.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from orchestrator.domain import Outbox
from orchestrator.records import agents, runs, teams
from orchestrator.workflows import agent_actions, agent_context, agent_status, budgets, conversation, task_moves, wake

FAILED_STATES = ("failed", "timed_out", "interrupted")
# What the chat says when the lead's run ends without an answer: what happened, then what the user can do. The
# run's own error is quoted only where it helps (a failure); a stop's or a time limit's is the user's own doing or
# said already.
_LEAD_NOTES = {
    "failed": ("⚠️ The lead's run failed{detail}. Send a message to try again; the run's page shows what it did.",
               True),
    "timed_out": ("⏱️ The lead's run went past its time limit and was stopped. Send a message to let it go on.",
                  False),
    "interrupted": ("⚠️ The lead's run was interrupted{detail}. Send a message to let it go on.", True),
    "cancelled": ("⏹️ The lead was stopped before it answered. Send a message to start it again.", False),
}
DETAIL_CHARS = 300


# ------------------------------------------------------------------------------------------------------ start


@dataclass(frozen=True)
class Launch:
    """What a claimed run starts with: its agent (as it was) and the attempt's prompt (the run's prompt and the
    messages its agent has been sent)."""

    agent: dict[str, Any]
    prompt: str
    refused: str | None = None  # the budget is spent: the run goes back to the queue, where it waits


def start(conn: psycopg.Connection, run: dict[str, Any]) -> Launch:
    """The claimed run is about to launch (or, its budget spent, is refused before anything happens)."""
    agent = agents.get(conn, run["agent_id"])
    spent_note = _budget_spent(conn, run["team_id"], agent)
    box = Outbox()
    if spent_note is not None:  # spent since it was queued: pause (and say so), leave the run to wait
        budgets.review(conn, run["team_id"], agent["id"], box)
        box.flush(conn)
        return Launch(agent=agent, prompt=run["prompt"], refused=spent_note)
    current = agents.get(conn, run["agent_id"], lock=True)
    if current["status"] not in ("stopped", "archived"):  # a stop racing the start wins: the run is being killed
        agents.set_status(conn, run["agent_id"], "running", box)
    if run.get("task_id"):
        task_moves.start_for_run(conn, run, box)
    # Written again after the moves above, so the file shows this run's task in progress and the agent running.
    agent_context.write_claude_md(conn, run["agent_id"], run.get("task_id"))
    box.flush(conn)
    prompt = attempt_prompt(conn, run) + conversation.messages_for_run(conn, run)
    return Launch(agent=agent, prompt=prompt)


def attempt_prompt(conn: psycopg.Connection, run: dict[str, Any]) -> str:
    """The prompt this attempt sends. An attempt after the first resumes the session of one that was cut off: it
    starts by saying so and listing what the run already did (agent_actions), so the agent does not redo it."""
    if run["attempt"] <= 1:
        return run["prompt"]
    # the claim leaves the previous attempt's outcome in place until this attempt records its own end
    return agent_actions.resume_note(conn, run["id"], run["attempt"], run.get("outcome")) + "\n" + run["prompt"]


def _budget_spent(conn: psycopg.Connection, team_id: str, agent: dict[str, Any]) -> str | None:
    """Why the run must not start: the team's budget or the agent's is spent. A run that starts is not capped by
    what is left — running work finishes (the team pauses once it has ended)."""
    for whose, budget, spent in (("the team's", *teams.budget(conn, team_id)),
                                 (f"{agent['name']}'s", _float(agent["budget_usd"]),
                                  runs.spent_by_agent(conn, agent["id"]))):
        if budget is not None and spent >= budget:
            return (f"{whose} budget of ${budget:.2f} is spent (${spent:.4f} used); the run waits until it is "
                    "raised or removed")
    return None


def record_session(conn: psycopg.Connection, run_id: str, attempt: int, session_id: str) -> bool:
    """As soon as the CLI names its session: if this attempt dies, the next one resumes it."""
    agent_id = runs.record_session(conn, run_id, attempt, session_id)
    if agent_id is None:
        return False
    agents.set_session(conn, agent_id, session_id)
    return True


# -------------------------------------------------------------------------------------------------------- end


def finish(conn: psycopg.Connection, run_id: str, attempt: int, *, state: str, outcome: str,
           error: str | None = None, not_before: datetime | None = None, fresh_session: bool = False,
           fields: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Record the end of an attempt (fenced) and what follows. None when the attempt was superseded."""
    run = runs.finish_attempt(conn, run_id, attempt, state=state, outcome=outcome, error=error,
                              not_before=not_before, fields=fields)
    if run is None:
        return None
    if fresh_session:
        agents.clear_session(conn, run["agent_id"], context=False)
    else:
        agents.after_attempt(conn, run)
    box = Outbox()
    budgets.review(conn, run["team_id"], run["agent_id"], box)  # before the next run is dispatched
    box.flush(conn)
    ended(conn, run)
    return run


def cancel(conn: psycopg.Connection, scope: str, key: str | None = None, *,
           leave: Collection[str] = ()) -> list[str]:
    """Cancel a run, an agent's runs, a team's or all (`scope` run|agent|team|all). Returns the run ids."""
    queued, running = runs.cancel(conn, scope, key)
    for run in queued:
        ended(conn, run, leave=leave)
    return [r["id"] for r in queued] + [r["id"] for r in running]


def reap(conn: psycopg.Connection, *, dead_workers: list[str], margin: float) -> list[dict[str, Any]]:
    """Take back the runs of dead worker processes and of leases expired `margin` seconds ago."""
    taken = runs.reap_owned_by(conn, dead_workers) + runs.reap_expired(conn, margin=margin)
    for run in taken:
        ended(conn, run)
    return taken


def ended(conn: psycopg.Connection, run: dict[str, Any], *, leave: Collection[str] = ()) -> None:
    """The follow-ups of a run that ended or went back to the queue (see the module docstring)."""
    if run["state"] in runs.TERMINAL_STATES:
        _follow_up(conn, run, leave)
    runs.dispatch_next(conn, run["agent_id"])
    runs.append_ended_event(conn, run)


def _follow_up(conn: psycopg.Connection, run: dict[str, Any], leave: Collection[str]) -> None:
    box = Outbox()
    if run["agent_id"] not in leave:
        agent_status.sync(conn, run["agent_id"], box, failed=run["state"] in FAILED_STATES)
    settled = None
    if run.get("task_id") and run["task_id"] not in leave:
        settled = task_moves.settle_after_run(conn, run, box)
    wake.finish_wake(conn, run, box)
    if settled is not None and settled["stage"] in wake.SETTLED and run["team_id"] not in leave:
        wake.maybe_wake(conn, settled["round_id"], box)
    # Last: a chat message takes the team's lock (see domain.py). A run that answered teammates' messages spoke
    # to them, not to the user.
    if agents.is_lead(conn, run["agent_id"]) and run["reason"] != "message":
        _post_lead_reply(conn, run, box)
    box.flush(conn)


def _post_lead_reply(conn: psycopg.Connection, run: dict[str, Any], box: Outbox) -> None:
    conversation.finish_answer(conn, run, (run.get("result_text") or "").strip(), box)
    note = _LEAD_NOTES.get(run["state"])
    # A run cancelled before it started has nothing to report.
    if note is not None and run.get("started_at") is not None:
        sentence, quotes_error = note
        error = " ".join((run.get("error") or "").split()).rstrip(".")
        if len(error) > DETAIL_CHARS:
            error = error[:DETAIL_CHARS - 1] + "…"
        detail = f" ({error})" if quotes_error and error else ""
        conversation.add_chat(conn, run["team_id"], "notice", sentence.format(detail=detail), box,
                              agent_id=run["agent_id"], run_id=run["id"])


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None
