"""Checks on a team's event log that the round scenarios share (tests/test_round_scenarios_e2e.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

RUN_ENDS = ("run.finished", "run.requeued")  # an attempt is over: the run ended, or went back to the queue


def overlapping_runs(log: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(agent, live run, run that started meanwhile) for every moment an agent had two live attempts.

    The team's log is totally ordered: an attempt is live from its `run.started` to its run's `run.finished`
    (or `run.requeued`, when its worker was lost and the run waits for another attempt)."""
    live: dict[str, str] = {}
    found = []
    for event in log:
        agent, run = event.get("agent_id"), event.get("run_id")
        if event["kind"] == "run.started" and agent:
            if agent in live and live[agent] != run:
                found.append((agent, live[agent], run))
            live[agent] = run
        elif event["kind"] in RUN_ENDS and agent and live.get(agent) == run:
            del live[agent]
    return found


def index_of(log: list[dict[str, Any]], kind: str, **match: Any) -> int:
    """Position of the first event of `kind` whose fields (or payload fields) match."""
    for i, event in enumerate(log):
        if event["kind"] == kind and all(event.get(k, event["payload"].get(k)) == v for k, v in match.items()):
            return i
    raise AssertionError(f"no {kind} event with {match} in the log")


def wakes_per_round(log: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["payload"]["round_id"] for e in log if e["kind"] == "round.waking")
