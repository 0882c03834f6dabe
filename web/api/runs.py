"""Runs, stopping and usage (the event log is web/api/events.py).

GET  /api/teams/<id>/runs?state=a,b&agent_id=&task_id=&before=&limit=   newest first, queued ones with position
GET  /api/runs/<id>                  one run (its prompt, outcome, usage; position and wait reason when queued)
GET  /api/runs/<id>/lines?attempt=&stream=stdout|stderr&after=&limit=   raw CLI lines
POST /api/runs/<id>/cancel           cancel one run
POST /api/stop                       stop everything: every team's runs; agents stay stopped
GET  /api/teams/<id>/usage           cost, tokens, turns, time per agent and for the team
"""

from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.workflows import stopping, views
from shared.vocabulary import ACTIVE_RUN_STATES, TERMINAL_RUN_STATES
from web.api._helpers import Limit, csv_list, for_team, id_of, in_transaction, reply
from web.errors import ApiError
from web.validation import path_id, query

bp = Blueprint("runs", __name__)

RUN_STATES = (*ACTIVE_RUN_STATES, *TERMINAL_RUN_STATES)


class RunQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: str | None = Field(default=None, max_length=200)
    agent_id: id_of("agent") | None = None
    task_id: id_of("task") | None = None
    before: id_of("run") | None = None
    limit: Limit = 100


class LinesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempt: int | None = Field(default=None, ge=1, le=1000)
    stream: Literal["stdout", "stderr"] = "stdout"
    after: int = Field(default=0, ge=0)
    limit: int = Field(default=1000, ge=1, le=views.LINES_MAX)


@bp.get("/api/teams/<team_id>/runs")
def list_runs(team_id: str):
    path_id(team_id, "team")
    params = query(RunQuery)
    states = csv_list(params.state)
    unknown = [s for s in states or [] if s not in RUN_STATES]
    if unknown:
        raise ApiError(400, f"state: unknown {', '.join(unknown)}; one of {', '.join(RUN_STATES)}")

    return reply({"runs": for_team(team_id, lambda c: views.run_list(
        c, team_id, states=states, agent_id=params.agent_id, task_id=params.task_id, before=params.before,
        limit=params.limit))})


@bp.get("/api/runs/<run_id>")
def get_run(run_id: str):
    path_id(run_id, "run")
    return reply(in_transaction(lambda c: views.run(c, run_id)))


@bp.get("/api/runs/<run_id>/lines")
def run_lines(run_id: str):
    path_id(run_id, "run")
    p = query(LinesQuery)
    return reply(in_transaction(lambda c: views.run_lines(c, run_id, attempt=p.attempt, stream=p.stream,
                                                              after=p.after, limit=p.limit)))


@bp.post("/api/runs/<run_id>/cancel")
def cancel_run(run_id: str):
    path_id(run_id, "run")
    return reply(in_transaction(lambda c: stopping.cancel_run(c, run_id)))


@bp.post("/api/stop")
def stop_everything():
    return reply(in_transaction(stopping.stop_all))


@bp.get("/api/teams/<team_id>/usage")
def team_usage(team_id: str):
    path_id(team_id, "team")
    return reply(for_team(team_id, lambda c: views.usage(c, team_id)))
