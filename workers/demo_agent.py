"""The demo agent: a scripted stand-in for `claude -p` that needs no Claude account.

    python -m workers.demo_agent --role lead|member [--reason wake] [--resume=SESSION] < prompt

It prints stream-json exactly in the CLI's format (init, one assistant line per block, tool results, a result
with zero usage and cost) and works through the agent API like a real agent: it runs `gamma-agent` commands
(the ones in `workers/agent_commands.py`) as processes, with the run's GAMMA_* variables.

- lead: asks for its teammates, plans 2–3 tasks for them, and ends its turn; woken (`--reason wake`), it reads
  the tasks and summarises their results.
- member: finds its task (the id in the prompt, else `gamma-agent tasks`), writes a small file into its
  task's worktree (GAMMA_PROJECT_DIR), pauses to look alive, and reports the task done with a summary.

Everything it says is marked as a demo. `--pace S` (seconds between steps, default 0.6) sets its speed.

Load benchmarks: `--bench-lines N --bench-rate R` prints init, N assistant lines at R lines a second, and a
result — no API calls. Each line ends with the moment it was written (`written at <Unix time>`, BENCH_STAMP), so a
benchmark can measure agent stdout → browser.

Like `gamma-agent` it runs in the agent's environment, without Gamma's settings: the demo backend puts the worker's
GAMMA_DEMO_PACE, GAMMA_DEMO_BENCH_LINES and GAMMA_DEMO_BENCH_RATE (shared.config) there, and this reads them
(the defaults of the flags above) within the same bounds, naming the variable when a value is bad.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workers import agent_commands as cmd
from workers.stream_format import StreamWriter

TAG = "[demo]"
BENCH_STAMP = re.compile(r"written at (\d+\.\d+)$")
TOOLS = ["Bash", "Write"]
PLAN = ("Research and outline", "Build a first version", "Review and polish")
COMMAND_TIMEOUT = 60


@dataclass
class DemoSession:
    writer: StreamWriter
    cwd: Path
    pace: float
    turns: int = 0
    errors: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.writer.text(f"{TAG} {text}")

    def think(self, text: str) -> None:
        self.writer.thinking(f"{TAG} {text}")

    def pause(self, factor: float = 1.0) -> None:
        if self.pace > 0:
            time.sleep(self.pace * factor)

    def run(self, argv: list[str], description: str) -> tuple[bool, str]:
        """Run a command as a Bash tool call: print the call, run it, print its result."""
        tool_use_id = self.writer.tool_use("Bash", {"command": cmd.shell(argv), "description": description})
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, cwd=self.cwd,
                                  stdin=subprocess.DEVNULL, check=False)
            ok, stdout, stderr = done.returncode == 0, done.stdout, done.stderr
            if not ok:
                stderr = f"{stderr}\nexit code {done.returncode}".strip()
        except (OSError, subprocess.SubprocessError) as error:
            ok, stdout, stderr = False, "", f"{argv[0]}: {error}"
        output = "\n".join(part for part in (stdout.strip(), stderr.strip()) if part)
        self.writer.tool_result(tool_use_id, output or "(no output)", is_error=not ok, structured={
            "stdout": stdout, "stderr": stderr, "interrupted": False, "isImage": False, "noOutputExpected": False})
        self.turns += 1
        self.pause()
        return ok, stdout

    def write(self, path: Path, content: str) -> None:
        tool_use_id = self.writer.tool_use("Write", {"file_path": str(path), "content": content})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        except OSError as error:
            self.writer.tool_result(tool_use_id, f"Error: {error}", is_error=True)
            self.errors.append(f"could not write {path}: {error}")
        else:
            self.writer.tool_result(tool_use_id, f"File created successfully at: {path}", structured={
                "type": "create", "filePath": str(path), "content": content, "structuredPatch": [],
                "originalFile": None})
        self.turns += 1
        self.pause()


# ---------------------------------------------------------------------------------------------- behaviours


def _goal(prompt: str) -> str:
    return " ".join(prompt.split())[:200] or "the goal"


def lead_plan(session: DemoSession, prompt: str) -> str:
    goal = _goal(prompt)
    session.think("A scripted plan: split the goal into a few parts and hand them to my teammates.")
    session.say(f"I'm the demo lead (a scripted stand-in, not a real model). Goal: {goal}. "
                "Let me see who is on the team.")
    ok, output = session.run(cmd.list_teammates(), "List teammates")
    names = cmd.teammate_names(output) if ok else []
    if not names:
        text = "No teammates to delegate to, so I stop here."
        session.say(text)
        return f"{TAG} {text}"
    parts = PLAN[:min(len(PLAN), max(2, len(names)))]
    delegated_to: list[str] = []
    for index, part in enumerate(parts):
        assignee = names[index % len(names)]
        ok, _ = session.run(cmd.task_create(f"{part}: {goal[:60]}", assignee,
                                            f"{TAG} {part} for the goal: {goal}"), f"Create a task for {assignee}")
        if ok:
            delegated_to.append(assignee)
    created = len(delegated_to)
    text = (f"I delegated {created} task(s) to {', '.join(sorted(set(delegated_to)))} and will review the results when "
            "they report back.")
    session.say(text)
    return f"{TAG} {text}"


def lead_review(session: DemoSession, prompt: str) -> str:
    session.say("My teammates reported back; let me read their results.")
    ok, output = session.run(cmd.list_tasks(), "List the team's tasks")
    to_approve = cmd.task_ids_in_stage(output, "review")
    for task_id in to_approve:
        session.run(cmd.approve(task_id), f"Approve {task_id}")
    if to_approve:
        ok, output = session.run(cmd.list_tasks(), "List the team's tasks again")
    lines = []
    for record in cmd.records(output):
        if cmd.TASK_ID_RE.fullmatch(str(record.get("id", ""))):
            result = record.get("result") or record.get("summary") or ""
            if isinstance(result, dict):
                result = result.get("summary", "")
            status = record.get("status") or record.get("stage") or "?"
            lines.append(f"- {record.get('title', record['id'])}: {status}" + (f" — {result}" if result else ""))
    body = "\n".join(lines) if lines else ("(the task list was empty)" if ok else "(could not read the tasks)")
    text = f"Review of the team's work:\n{body}"
    session.say(text)
    return f"{TAG} {text}"


def member_work(session: DemoSession, prompt: str) -> str:
    ids = cmd.task_ids(prompt)
    if not ids:
        ok, output = session.run(cmd.list_tasks(), "List my tasks")
        ids = cmd.open_task_ids(output) if ok else []
    if not ids:
        text = "I have no open task."
        session.say(text)
        return f"{TAG} {text}"
    task_id = ids[0]
    session.say(f"I'm a demo teammate (scripted, not a real model). Working on {task_id}.")
    session.think("Pretending to work: a small file in the project folder, then report.")
    session.pause(2)
    path = project_dir(session.cwd) / f"{task_id}-demo.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    session.write(path, f"# {task_id}\n\n{TAG} Work done by a scripted demo agent.\n\nTask: {_goal(prompt)}\n")
    summary = f"{TAG} Wrote {path.name} in the project folder."
    ok, _ = session.run(cmd.task_done(task_id, summary), "Report the task as done")
    if not ok:
        session.errors.append(f"could not report {task_id} as done")
    text = f"Finished {task_id}: wrote {path} and reported it." if ok else f"Could not report {task_id} as done."
    session.say(text)
    return f"{TAG} {text}"


def project_dir(cwd: Path) -> Path:
    """Where the run works on the project (GAMMA_PROJECT_DIR: its task's worktree), else the team's main line next
    to the agent's directory (workspaces are `<team>/agents/<agent>/` beside `<team>/project/`)."""
    if os.environ.get("GAMMA_PROJECT_DIR"):
        return Path(os.environ["GAMMA_PROJECT_DIR"])
    if cwd.parent.name == "agents":
        return cwd.parent.parent / "project"
    return cwd / "project"


BEHAVIOURS: dict[tuple[str, bool], Callable[[DemoSession, str], str]] = {
    ("lead", False): lead_plan,
    ("lead", True): lead_review,
    ("member", False): member_work,
    ("member", True): member_work,
}


# ---------------------------------------------------------------------------------------------- benchmark


def bench(writer: StreamWriter, cwd: Path, lines: int, rate: float) -> None:
    started = time.monotonic()
    writer.init(str(cwd), TOOLS, "bypassPermissions")
    interval = 1.0 / rate if rate > 0 else 0.0
    for index in range(lines):
        delay = started + index * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        writer.text(f"{TAG} benchmark line {index + 1} of {lines} written at {time.time():.6f}")
    writer.result(f"{TAG} benchmark finished: {lines} lines", num_turns=1,
                  duration_ms=int((time.monotonic() - started) * 1000))


# ---------------------------------------------------------------------------------------------- main


# (variable, type, default, lowest, highest, lowest allowed itself) — the bounds of shared.config's fields
# (tests/test_settings.py holds them together).
PACE = ("GAMMA_DEMO_PACE", float, 0.6, 0.0, 60.0, True)
BENCH_LINES = ("GAMMA_DEMO_BENCH_LINES", int, 0, 0, 10_000_000, True)
BENCH_RATE = ("GAMMA_DEMO_BENCH_RATE", float, 50.0, 0.0, 1_000_000.0, False)


def _from_env(name: str, kind: type, default: float, low: float, high: float, low_allowed: bool) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = math.nan
    if not (low <= value <= high and (low_allowed or value != low)):  # NaN fails this too
        lowest = f"from {low:.15g} to" if low_allowed else f"greater than {low:.15g} and at most"
        raise SystemExit(f"demo agent: {name} must be {'an integer' if kind is int else 'a number'} {lowest} "
                         f"{high:.15g} (got {raw!r})")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m workers.demo_agent", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=("lead", "member"), default="member")
    parser.add_argument("--reason", default="task", help="why the run exists (a lead reviews on 'wake')")
    parser.add_argument("--resume", default=None, help="the session to continue (kept as the session id)")
    parser.add_argument("--bench-lines", type=int, default=_from_env(*BENCH_LINES))
    parser.add_argument("--bench-rate", type=float, default=_from_env(*BENCH_RATE))
    parser.add_argument("--pace", type=float, default=_from_env(*PACE))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prompt = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    writer = StreamWriter(args.resume or str(uuid.uuid4()))
    cwd = Path.cwd()
    if args.bench_lines > 0:
        bench(writer, cwd, args.bench_lines, args.bench_rate)
        return 0
    started = time.monotonic()
    session = DemoSession(writer, cwd, max(0.0, args.pace))
    writer.init(str(cwd), TOOLS, "bypassPermissions")
    final = BEHAVIOURS[(args.role, args.reason == "wake")](session, prompt)
    writer.new_message()
    writer.result(final, num_turns=session.turns + 1, duration_ms=int((time.monotonic() - started) * 1000),
                  errors=session.errors or None)
    return 1 if session.errors else 0


if __name__ == "__main__":
    sys.exit(main())
