"""The `demo` backend: runs `workers/demo_agent.py`, a scripted agent printing the CLI's stream-json.

It lets a new user watch a team work without a Claude account, and it serves the load benchmarks
(GAMMA_DEMO_BENCH_LINES / GAMMA_DEMO_BENCH_RATE in the worker's settings: no API calls, N lines at rate R).
Its output goes through the same parser and outcome rules as the real CLI's.

The agent needs to know whether it leads and why it runs (a lead reviews when woken). RunContext does not carry
that, so it is read from the run's row (`agents.is_lead`, `runs.reason`) unless the context has `is_lead` /
`reason` attributes.
"""

from __future__ import annotations

import os
import sys

from orchestrator.records import runs
from shared import db
from shared.config import get_settings
from workers.backends.launch import agent_env, check_launchable
from workers.outcome import CLAUDE_RULES
from workers.runtime_types import LaunchError, LaunchSpec, RunContext, TranscriptPlace
from workers.stream_format import DEMO_VERSION
from workers.stream_parser import ClaudeStreamParser


def role_and_reason(ctx: RunContext) -> tuple[str, str]:
    is_lead, reason = getattr(ctx, "is_lead", None), getattr(ctx, "reason", None)
    if is_lead is None or reason is None:
        with db.transaction() as conn:
            row = runs.role_and_reason(conn, ctx.run_id)
        if row is None:
            raise LaunchError("config_error", f"demo backend: run {ctx.run_id} was not found")
        is_lead = row["is_lead"] if is_lead is None else is_lead
        reason = row["reason"] if reason is None else reason
    return ("lead" if is_lead else "member"), str(reason)


class DemoBackend:
    name = "demo"
    label = "Demo (scripted)"
    outcome_rules = CLAUDE_RULES  # it prints claude's stream-json

    def launch_spec(self, ctx: RunContext) -> LaunchSpec:
        check_launchable(ctx)
        role, reason = role_and_reason(ctx)
        argv = [sys.executable, "-m", "workers.demo_agent", "--role", role, "--reason", reason]
        if ctx.session_id:
            argv.append(f"--resume={ctx.session_id}")
        env = agent_env(dict(os.environ), ctx)
        env["PYTHONUNBUFFERED"] = "1"
        # The agent's own environment is all it reads: the worker's validated settings (a .env included) go there.
        settings = get_settings()
        env.update(GAMMA_DEMO_PACE=str(settings.demo_pace), GAMMA_DEMO_BENCH_LINES=str(settings.demo_bench_lines),
                   GAMMA_DEMO_BENCH_RATE=str(settings.demo_bench_rate))
        return LaunchSpec(argv=argv, env=env, cwd=ctx.workspace, stdin_text=ctx.prompt)

    def new_parser(self) -> ClaudeStreamParser:
        return ClaudeStreamParser()

    def version(self) -> str | None:
        return DEMO_VERSION

    def transcript_place(self, session_id: str, spec: LaunchSpec) -> TranscriptPlace | None:
        return None  # the scripted agent keeps no transcript: its "resume" is only a flag


BACKEND = DemoBackend
