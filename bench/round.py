"""A whole round benchmark: the user's goal → the lead's answer, with the real claude CLI and the model double.

    nice -n 19 .venv/bin/python bench/round.py                  (3 runs of 5 rounds; `make bench` style)
    nice -n 19 .venv/bin/python bench/round.py --runs 1 --rounds 1   (a quick check)

Each run starts a fresh stack as the end-to-end tests do (tests/support/stack.py): the model double, a real
gunicorn web, one real `gamma worker` process (Dramatiq on the PostgreSQL broker), the pinned claude CLI. Each
round is a new team (a lead and two members, Alice and Bob) given the goal `[[brain:lead members=Alice,Bob]] …`:
the lead creates one task per member with `gamma-agent task create` and ends its turn, each member writes a file
and reports `gamma-agent task done`, the round settles and wakes the lead once, the lead lists the tasks and
answers (tests/model_double/brains.py). The double answers at once, so nearly all of the CLI time is the CLI's
own (node start-up, its tool calls, `gamma-agent`).

Timestamps. The CLI is started through a small relay (`perl`, written to a scratch directory and set as
GAMMA_CLAUDE_BIN): it starts the real CLI, passes its stdout on line by line and logs, per run attempt, when it
spawned the CLI, when each stdout line arrived and when the CLI exited, plus the CPU time of the CLI and all it
ran. Everything else comes from what Gamma stores: `events.created_at` (clock_timestamp() inside the inserting
transaction). The goal's time is taken by this script right before its POST. One clock: all on this host.

The critical path of a round, walked back from the answer:

    goal posted ─[1]→ lead CLI spawned ══ lead CLI ══ task k created (gamma-agent, inside the lead's CLI)
        ─[2]→ member k's CLI spawned ══ member CLI ══ task k done (gamma-agent task done, inside its CLI)
        ─[3]→ lead's wake CLI spawned ══ wake CLI ══ the stdout line with the answer's last text
        ─[4]→ the chat holds the whole answer (the first chat.message/chat.updated event of the lead's
              answer whose text contains the final answer: streamed, the message holds all the run's texts;
              made final at the run's end, only the last one, the CLI's result)

k is the member whose `done` came last. [3] starts at that `done` — or, if the lead's first run had not yet
ended then (an agent runs one run at a time), at its CLI's exit, and the path goes through the lead's CLI
instead of the members'. Wall = [4]'s end − the goal's POST. CLI time = the ══ segments (the CLI running: its
own work, its model requests and its `gamma-agent` calls). Overhead = wall − CLI time = [1]+[2]+[3]+[4]: the
time the round waited on Gamma alone (the web, the queue, claims, worktrees, CLAUDE.md, the sandbox, the
answer's transaction). Targets: overhead ≤ 0.15 s; [4] ≤ 20 ms.

Also reported: the answer made final (after the CLI exits, `run_lifecycle.finish`) measured from the same line
and from the CLI's exit; the sub-steps of [1]-[3] (run.queued, run.started, round.waking); and the backend's CPU
per round: user+system CPU seconds of the web's and the worker's process trees (their reaped children — git,
bubblewrap — included) from just before the goal to the team being quiet, minus what the relay measured for the
CLIs (the CLI and everything it ran). PostgreSQL's CPU is not included (its server is shared with other work).

Database: a scratch database on $GAMMA_BENCH_DATABASE_URL (an admin URL), else the embedded test server, dropped
at the end. Results: bench/results/round.json and round.md (a run with fewer runs or rounds only prints them).
The worker runs with Gamma's default lease and reaper intervals (not the tests' fast ones). The first round of
each run also pays the new worker's first-use costs (the sandbox probe, the CLI's version, cold caches).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from bench import common  # noqa: E402
from shared.config import Settings  # noqa: E402
from tests.support.claude import claude_bin  # noqa: E402
from tests.support.polling import wait_for  # noqa: E402
from tests.support.stack import Stack, running_stack  # noqa: E402

RUNS, ROUNDS = 3, 5
GOAL = "[[brain:lead members=Alice,Bob]] Build a tiny landing page"
NOTE = ("shared machine: other work may run at the same time; the CLIs, the model double, the web, the worker and "
        "PostgreSQL all share these CPUs")
MEMBERS = [{"name": "Alice", "role_id": "engineering/backend-architect"},
           {"name": "Bob", "role_id": "engineering/frontend-engineer"}]
TARGETS = {"overhead_s": 0.15, "answer_line_to_stored_ms": 20}
ROUND_TIMEOUT = 240
# The tests' worker renews leases every 2 s and reaps every second (tests/support/workers.py FAST_RECOVERY): the
# bench's worker runs with Gamma's defaults instead, so its CPU is what a real worker spends.
DEFAULT_RECOVERY = {name: f"{Settings.model_fields[field].default:g}" for name, field in (
    ("GAMMA_LEASE_SECONDS", "lease_seconds"), ("GAMMA_REAPER_INTERVAL", "reaper_interval"),
    ("GAMMA_KILL_GRACE", "kill_grace"), ("GAMMA_RESULT_GRACE", "result_grace"))}

# The relay: the real CLI's stdout passed on line by line, with when each line came, and the CLI's lifetime.
RELAY = r"""#!/usr/bin/perl
use strict; use warnings;
use Time::HiRes qw(time);
use IO::Handle;
my $real = $ENV{GAMMA_BENCH_REAL_CLAUDE} or die "GAMMA_BENCH_REAL_CLAUDE is not set\n";
my ($run, $attempt, $dir) = @ENV{qw(GAMMA_RUN_ID GAMMA_RUN_ATTEMPT GAMMA_BENCH_CLI_LOG)};
exec($real, @ARGV) or die "exec $real: $!\n" unless $run && $dir;
open(my $log, '>', "$dir/$run.$attempt") or exec($real, @ARGV) or die "exec $real: $!\n";
STDOUT->autoflush(1);
my $spawned = time;
my $pid = open(my $cli, '-|') // die "fork: $!\n";
if ($pid == 0) { exec($real, @ARGV) or die "exec $real: $!\n" }
my @lines;
while (my $line = <$cli>) { push @lines, time; print STDOUT $line; }
close $cli;
my ($exited, $status) = (time, $?);
my ($user, $system, $cuser, $csystem) = times;
printf $log "spawn %.6f\n", $spawned;
printf $log "line %d %.6f\n", $_ + 1, $lines[$_] for 0 .. $#lines;
printf $log "exit %.6f %d\n", $exited, $status;
printf $log "cpu %.4f\n", $user + $system + $cuser + $csystem;
close $log;
exit($status & 127 ? 128 + ($status & 127) : $status >> 8);
"""


# -- what the relay logged ----------------------------------------------------------------------------------


@dataclass
class CliLife:
    spawned: float
    exited: float
    cpu_s: float
    lines: dict[int, float] = field(default_factory=dict)


def read_relay_log(path: Path) -> CliLife:
    spawned = exited = cpu = 0.0
    lines: dict[int, float] = {}
    for entry in path.read_text().splitlines():
        word, *rest = entry.split()
        if word == "spawn":
            spawned = float(rest[0])
        elif word == "line":
            lines[int(rest[0])] = float(rest[1])
        elif word == "exit":
            exited = float(rest[0])
        elif word == "cpu":
            cpu = float(rest[0])
    return CliLife(spawned, exited, cpu, lines)


@contextlib.contextmanager
def relay(config_dir: Path) -> Iterator[dict[str, str]]:
    """The worker environment that starts every claude through the relay (its log in the CLI's writable HOME)."""
    with tempfile.TemporaryDirectory(prefix="gamma-bench-relay-") as scratch:
        script = Path(scratch) / "claude"
        script.write_text(RELAY)
        script.chmod(0o755)
        logs = config_dir / "bench-cli-times"
        logs.mkdir(parents=True, exist_ok=True)
        logs.chmod(0o777)  # the sandbox may run the CLI as another uid
        yield {"GAMMA_CLAUDE_BIN": str(script), "GAMMA_BENCH_REAL_CLAUDE": claude_bin(),
               "GAMMA_BENCH_CLI_LOG": str(logs)}


# -- the backend's CPU ----------------------------------------------------------------------------------------


def tree_cpu(pid: int) -> float:
    """User+system CPU seconds of a process and its descendants, the reaped ones included."""
    total = 0.0
    root = psutil.Process(pid)
    for process in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            t = process.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


# -- one round ------------------------------------------------------------------------------------------------


def play_round(stack: Stack, worker_pid: int, logs: Path) -> dict[str, Any]:
    team = stack.create_team(members=MEMBERS)
    team_id = team["id"]
    cpu_before = tree_cpu(stack.web.proc.pid) + tree_cpu(worker_pid)
    posted = time.time()
    stack.say(team_id, GOAL)
    wait_for(lambda: _answered_and_quiet(stack, team_id), timeout=ROUND_TIMEOUT, interval=0.1,
             what=f"round of team {team_id} to be answered and quiet")
    backend_cpu = tree_cpu(stack.web.proc.pid) + tree_cpu(worker_pid) - cpu_before
    measured = measure(stack, team_id, posted, logs)
    lives = measured.pop("_lives")
    cli_cpu = sum(life.cpu_s for life in lives.values())
    if os.environ.get("GAMMA_BENCH_DEBUG"):
        for entry in measured.pop("_log"):
            print("   ", *entry)
        for run_id, life in lives.items():
            print("    cli", run_id[-5:], round(life.spawned - posted, 3), round(life.exited - posted, 3),
                  {n: round(t - posted, 3) for n, t in life.lines.items()})
    measured.pop("_log", None)
    measured["cpu"] = {"backend_s": round(backend_cpu - cli_cpu, 3), "clis_s": round(cli_cpu, 3)}
    return measured


class RoundFailed(RuntimeError):
    pass


def _answered_and_quiet(stack: Stack, team_id: str) -> bool:
    """The wake run ended and nothing of the team is left to run; a round whose runs all ended without a wake
    cannot go on (the lead created no tasks, a member failed…): it fails at once, saying what the lead said."""
    with stack.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE state IN ('queued', 'running')) AS active,"
            " count(*) FILTER (WHERE reason = 'wake') AS wakes,"
            " count(*) FILTER (WHERE reason = 'wake' AND state NOT IN ('queued', 'running')) AS woken"
            " FROM runs WHERE team_id = %s", (team_id,)).fetchone()
        if row["active"] == 0 and row["wakes"] == 0:
            said = conn.execute("SELECT string_agg(content, ' | ' ORDER BY seq) AS said FROM chat_messages"
                                " WHERE team_id = %s", (team_id,)).fetchone()["said"]
            raise RoundFailed(f"team {team_id}: every run ended and the lead was never woken; the chat: "
                              f"{(said or '')[:1500]}")
    return row["active"] == 0 and row["woken"] >= 1


def measure(stack: Stack, team_id: str, posted: float, logs: Path) -> dict[str, Any]:
    with stack.connect() as conn:
        runs = conn.execute("SELECT id, attempt, reason, state, task_id, agent_id FROM runs WHERE team_id = %s"
                            " ORDER BY created_at, id", (team_id,)).fetchall()
        log = conn.execute("SELECT kind, run_id, task_id, payload, extract(epoch FROM created_at)::float8 AS t"
                           " FROM events WHERE team_id = %s ORDER BY seq", (team_id,)).fetchall()
        wake = next(r for r in runs if r["reason"] == "wake")
        stdout = conn.execute("SELECT line_no, line FROM run_lines WHERE run_id = %s AND attempt = %s"
                              " AND stream = 'stdout' ORDER BY line_no", (wake["id"], wake["attempt"])).fetchall()
    lives = {r["id"]: read_relay_log(logs / f"{r['id']}.{r['attempt']}") for r in runs}
    lead = next(r for r in runs if r["reason"] == "chat")
    members = [r for r in runs if r["reason"] == "task"]
    ok = (all(r["state"] == "succeeded" and r["attempt"] == 1 for r in runs) and len(members) == 2
          and sum(1 for r in runs if r["reason"] == "wake") == 1)

    def first(kind: str, **match: Any) -> float:
        return next(e["t"] for e in log if e["kind"] == kind
                    and all(e.get(k, e["payload"].get(k)) == v for k, v in match.items()))

    created = {m["task_id"]: first("task.created", task_id=m["task_id"]) for m in members}
    done = {m["task_id"]: first("task.updated", task_id=m["task_id"], to="done") for m in members}
    last = max(members, key=lambda m: done[m["task_id"]])
    lead_free = first("run.finished", run_id=lead["id"])
    answer_line = _answer_line(stdout)
    answer = [e for e in log if e["kind"] in ("chat.message", "chat.updated") and e["run_id"] == wake["id"]
              and e["payload"]["kind"] == "answer"]
    final_text = next(e["payload"]["content"] for e in reversed(answer) if e["payload"]["final"])
    # streamed, the message holds every text of the run; made final, only the last one (the CLI's result)
    stored = next(e["t"] for e in answer if final_text in e["payload"]["content"])
    final = next(e["t"] for e in answer if e["payload"]["final"])
    line_at = lives[wake["id"]].lines[answer_line]
    lead_life, member_life, wake_life = lives[lead["id"]], lives[last["id"]], lives[wake["id"]]

    through_members = done[last["task_id"]] >= lead_free
    steps = {"goal_to_lead_cli_s": lead_life.spawned - posted}
    if through_members:
        cli = ((created[last["task_id"]] - lead_life.spawned) + (done[last["task_id"]] - member_life.spawned)
               + (line_at - wake_life.spawned))
        steps["delegation_to_member_cli_s"] = member_life.spawned - created[last["task_id"]]
        steps["last_done_to_lead_woken_s"] = wake_life.spawned - done[last["task_id"]]
    else:  # the lead's first run was still on: the wake waited for it
        cli = (lead_life.exited - lead_life.spawned) + (line_at - wake_life.spawned)
        steps["delegation_to_member_cli_s"] = 0.0
        steps["last_done_to_lead_woken_s"] = wake_life.spawned - lead_life.exited
    steps["last_line_to_answer_stored_s"] = stored - line_at
    wall = stored - posted
    return {
        "team_id": team_id, "ok": ok, "path": "members" if through_members else "lead",
        "wall_s": round(wall, 3), "cli_s": round(cli, 3), "overhead_s": round(wall - cli, 4),
        "steps_ms": {k.removesuffix("_s") + "_ms": round(v * 1000, 1) for k, v in steps.items()},
        "detail_ms": _details(log, lives, lead, members, wake, posted, created, done, line_at, final),
        "_lives": lives,
        "_log": [(round(e["t"] - posted, 3), e["kind"], (e["run_id"] or "")[-5:], _brief(e["payload"])) for e in log],
    }


def _brief(payload: dict[str, Any]) -> str:
    return " ".join(f"{k}={str(payload[k])[:40]!r}" for k in ("to", "kind", "final", "content", "text") if k in payload)


def _answer_line(stdout: list[dict[str, Any]]) -> int:
    """The number of the wake run's last stdout line that carries text of the lead's answer."""
    found = 0
    for row in stdout:
        with contextlib.suppress(ValueError):
            data = json.loads(row["line"])
            content = (data.get("message") or {}).get("content") or [] if data.get("type") == "assistant" else []
            if any(block.get("type") == "text" and str(block.get("text") or "").strip() for block in content):
                found = row["line_no"]
    assert found, "the wake run printed no text"
    return found


def _details(log: list[dict[str, Any]], lives: dict[str, CliLife], lead: dict[str, Any], members: list[dict[str, Any]],
             wake: dict[str, Any], posted: float, created: dict[str, float], done: dict[str, float],
             line_at: float, final: float) -> dict[str, Any]:
    """Where the time of each step goes, from the events around it (ms)."""
    def at(kind: str, run: dict[str, Any]) -> float:
        return next(e["t"] for e in log if e["kind"] == kind and e["run_id"] == run["id"])

    def ms(seconds: float) -> float:
        return round(seconds * 1000, 1)

    waking = next(e["t"] for e in log if e["kind"] == "round.waking")
    last_done = max(done.values())
    return {
        "goal_to_lead_queued": ms(at("run.queued", lead) - posted),
        "lead_queued_to_cli": ms(lives[lead["id"]].spawned - at("run.queued", lead)),
        "member_created_to_queued": [ms(at("run.queued", m) - created[m["task_id"]]) for m in members],
        "member_queued_to_cli": [ms(lives[m["id"]].spawned - at("run.queued", m)) for m in members],
        "member_created_to_cli": [ms(lives[m["id"]].spawned - created[m["task_id"]]) for m in members],
        "last_done_to_waking": ms(waking - last_done),
        "wake_queued_to_cli": ms(lives[wake["id"]].spawned - at("run.queued", wake)),
        "lead_first_cli_exit_to_finished": ms(at("run.finished", lead) - lives[lead["id"]].exited),
        "lead_first_finished_minus_last_done": ms(at("run.finished", lead) - last_done),
        # the executor records run.started right after it spawned the supervisor, which starts the sandbox, which
        # starts the relay, which starts the CLI
        "queued_to_run_started": [ms(at("run.started", r) - at("run.queued", r)) for r in (lead, *members, wake)],
        "run_started_to_cli": [ms(lives[r["id"]].spawned - at("run.started", r)) for r in (lead, *members, wake)],
        "answer_line_to_final": ms(final - line_at),
        "wake_cli_exit_to_final": ms(final - lives[wake["id"]].exited),
        "cli_lifetimes_s": {name: round(lives[r["id"]].exited - lives[r["id"]].spawned, 3)
                            for name, r in (("lead", lead), ("member_1", members[0]), ("member_2", members[1]),
                                            ("wake", wake))},
    }


# -- driver ---------------------------------------------------------------------------------------------------


def play_run(database_url: str, rounds: int) -> list[dict[str, Any]]:
    played = []
    with tempfile.TemporaryDirectory(prefix="gamma-bench-round-") as scratch:
        tmp = Path(scratch)
        with running_stack(database_url, tmp) as stack, relay(tmp / "claude-config") as relay_env, \
                stack.worker(extra_env={**DEFAULT_RECOVERY, **relay_env}) as worker:
            logs = Path(relay_env["GAMMA_BENCH_CLI_LOG"])
            for n in range(rounds):
                measured = play_round(stack, worker.pid, logs)
                played.append(measured)
                print(f"  round {n + 1}: wall {measured['wall_s']} s, CLI {measured['cli_s']} s, overhead "
                      f"{measured['overhead_s'] * 1000:.0f} ms {measured['steps_ms']}, backend CPU "
                      f"{measured['cpu']['backend_s']} s, ok={measured['ok']}", flush=True)
    return played


def medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    def med(values: list[float]) -> float:
        return round(statistics.median(values), 4)

    return {
        "wall_s": med([r["wall_s"] for r in rounds]),
        "cli_s": med([r["cli_s"] for r in rounds]),
        "overhead_s": med([r["overhead_s"] for r in rounds]),
        "steps_ms": {k: med([r["steps_ms"][k] for r in rounds]) for k in rounds[0]["steps_ms"]},
        "backend_cpu_s": med([r["cpu"]["backend_s"] for r in rounds]),
        "cli_cpu_s": med([r["cpu"]["clis_s"] for r in rounds]),
        "answer_line_to_final_ms": med([r["detail_ms"]["answer_line_to_final"] for r in rounds]),
        "wake_cli_exit_to_final_ms": med([r["detail_ms"]["wake_cli_exit_to_final"] for r in rounds]),
    }


def main() -> int:
    parser = common.options(__doc__)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per run")
    args = parser.parse_args()
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    with common.bench_database("gamma_bench_round") as url:
        info = common.machine_of(url, NOTE)
        for n in range(args.runs):
            print(f"run {n + 1}:", flush=True)
            rounds = play_run(url, args.rounds)
            runs.append({"rounds": rounds, "median": medians(rounds)})
    info["load_avg_at_end"] = common.load_average()
    all_rounds = [r for run in runs for r in run["rounds"]]
    report = {
        "benchmark": "round", "machine": info, "config": {"runs": args.runs, "rounds_per_run": args.rounds,
                                                          "goal": GOAL, "members": [m["name"] for m in MEMBERS]},
        "targets": TARGETS,
        # the median over runs of each run's median
        "median": {key: (round(statistics.median(r["median"][key] for r in runs), 4) if key != "steps_ms" else
                         {k: round(statistics.median(r["median"]["steps_ms"][k] for r in runs), 1)
                          for k in runs[0]["median"]["steps_ms"]})
                   for key in runs[0]["median"]},
        "all_rounds_ok": all(r["ok"] for r in all_rounds),
        "critical_path_through": sorted({r["path"] for r in all_rounds}),
        "runs": runs, "seconds": round(time.monotonic() - started, 1),
    }
    if args.runs >= RUNS and args.rounds >= ROUNDS:  # a smaller check only prints its figures
        common.write_results(args.results, "round", report, summary(report))
    print(summary(report))
    return 0 if report["all_rounds_ok"] else 1


def summary(report: dict[str, Any]) -> str:
    m, med, t, cfg = report["machine"], report["median"], report["targets"], report["config"]
    steps = med["steps_ms"]
    verdict = common.verdict
    lines = [
        "# A whole round: goal → answer",
        "",
        common.machine_line(m),
        "",
        f"{cfg['runs']} run(s) of {cfg['rounds_per_run']} rounds, each run on a fresh stack (model double, gunicorn "
        "web, one `gamma worker` process, the pinned claude CLI); each round a new team of a lead and two members. "
        "Figures: the median over the runs of each run's median. Definitions: see `bench/round.py`'s docstring "
        "(overhead = wall − the CLIs' time on the critical path = steps 1-4).",
        "",
        *common.MEDIANS_TABLE,
        f"| Goal → answer stored (wall) | {med['wall_s']:.3f} s | | |",
        f"| CLI time on the critical path | {med['cli_s']:.3f} s | | |",
        f"| **Overhead** (wall − CLI time) | {med['overhead_s'] * 1000:.0f} ms | ≤ {t['overhead_s'] * 1000:.0f} ms | "
        f"{verdict(med['overhead_s'] <= t['overhead_s'])} |",
        f"| 1. goal posted → lead CLI spawned | {steps['goal_to_lead_cli_ms']} ms | | |",
        f"| 2. task created (delegation) → member CLI spawned | {steps['delegation_to_member_cli_ms']} ms | | |",
        f"| 3. last task done → lead's wake CLI spawned | {steps['last_done_to_lead_woken_ms']} ms | | |",
        f"| 4. lead's last answer line → answer stored | {steps['last_line_to_answer_stored_ms']} ms | "
        f"≤ {t['answer_line_to_stored_ms']} ms | "
        f"{verdict(steps['last_line_to_answer_stored_ms'] <= t['answer_line_to_stored_ms'])} |",
        f"| … that line → answer final (after the CLI exits) | {med['answer_line_to_final_ms']} ms | | |",
        f"| … the wake CLI's exit → answer final | {med['wake_cli_exit_to_final_ms']} ms | | |",
        f"| Backend CPU per round (web + worker, not the CLIs) | {med['backend_cpu_s']:.3f} s | | |",
        f"| CLIs' CPU per round (for comparison) | {med['cli_cpu_s']:.3f} s | | |",
        "",
        f"Every round succeeded (every run on its first attempt, one wake): {report['all_rounds_ok']}. Critical "
        f"path through: {', '.join(report['critical_path_through'])}.",
        "",
        "| Run | Round | wall s | CLI s | overhead ms | 1 ms | 2 ms | 3 ms | 4 ms | line→final ms | backend CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, run in enumerate(report["runs"], 1):
        for k, r in enumerate(run["rounds"], 1):
            s = r["steps_ms"]
            lines.append(
                f"| {n} | {k} | {r['wall_s']} | {r['cli_s']} | {r['overhead_s'] * 1000:.0f} "
                f"| {s['goal_to_lead_cli_ms']} | {s['delegation_to_member_cli_ms']} "
                f"| {s['last_done_to_lead_woken_ms']} | {s['last_line_to_answer_stored_ms']} "
                f"| {r['detail_ms']['answer_line_to_final']} | {r['cpu']['backend_s']} |")
    lines += ["", "Where the steps' time goes (medians over all rounds, ms):", ""]
    lines += _detail_lines([r for run in report["runs"] for r in run["rounds"]])
    lines += ["", "Steps 1-3 each end with a CLI being started, so each is: the queue handing the run to a worker "
              "thread and its claim; `run_lifecycle.start` and `work_product.prepare` (CLAUDE.md, the task's "
              "worktree on a member's first run, in one transaction); handing the command to the attempt "
              "supervisor (a Python process: one started ahead and waiting — workers/spare_supervisors.py — once "
              "the worker is busy, else started then), which starts bubblewrap, which starts the CLI (here through "
              "the bench's perl relay, a few ms). The CLIs' own start (node, about a second) is CLI time. Step 4 "
              "is the worker reading the line, parsing it and one transaction (`conversation.stream_answer`); "
              "the answer is made final only after the CLI exits and the run's end is recorded (session stored, "
              "changes committed)."]
    return common.finish_summary(lines, report)


def _detail_lines(rounds: list[dict[str, Any]]) -> list[str]:
    def med(values: list[float]) -> float:
        return round(statistics.median(values), 1)

    d = [r["detail_ms"] for r in rounds]
    flat = {
        "1a. goal POST → run.queued (web, one transaction)": [x["goal_to_lead_queued"] for x in d],
        "1b. run.queued → lead CLI spawned (queue, claim, prepare, sandbox)": [x["lead_queued_to_cli"] for x in d],
        "2a. task.created → member run.queued": [v for x in d for v in x["member_created_to_queued"]],
        "2b. member run.queued → CLI spawned (queue, claim, worktree, sandbox)":
            [v for x in d for v in x["member_queued_to_cli"]],
        "3a. last task done → round.waking": [x["last_done_to_waking"] for x in d],
        "3b. wake run.queued → CLI spawned": [x["wake_queued_to_cli"] for x in d],
        "lead's first run: CLI exit → run.finished": [x["lead_first_cli_exit_to_finished"] for x in d],
        "lead's first run.finished − last task done (< 0: the lead was free first)":
            [x["lead_first_finished_minus_last_done"] for x in d],
        "every run: run.queued → run.started (queue, claim, start, prepare, spawn of the supervisor)":
            [v for x in d for v in x["queued_to_run_started"]],
        "every run: run.started → CLI spawned (supervisor, bubblewrap, the bench's relay)":
            [v for x in d for v in x["run_started_to_cli"]],
        "members only: run.queued → run.started": [v for x in d for v in x["queued_to_run_started"][1:3]],
        "members only: run.started → CLI spawned": [v for x in d for v in x["run_started_to_cli"][1:3]],
    }
    out = [f"- {label}: {med(values)}" for label, values in flat.items()]
    for name in ("lead", "member_1", "member_2", "wake"):
        out.append(f"- CLI lifetime, {name}: {med([x['cli_lifetimes_s'][name] for x in d])} s")
    return out


if __name__ == "__main__":
    sys.exit(main())
