"""Soak: goal after goal for a long time, watching the long-lived processes for growth.

    .venv/bin/python bench/soak.py [--minutes 30] [--teams 3]

A real web (gunicorn, 1 worker process) and a real worker (dramatiq, 8 threads) on a scratch database, and teams
of demo agents (no Claude account needed): each team gets a goal; its lead delegates to two members, they work,
the lead is woken once, reviews, approves and answers; then the team gets its next goal. Every 30 s it samples,
for the web and for the worker (the process trees of `gunicorn` and `gamma worker`, agent processes excluded):
RSS, open file descriptors and threads; and the database connections of each. Results: bench/results/soak.md and
soak.json (the first and last samples, growth per 100 goals, and the samples over time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from tests.support.databases import scratch_database  # noqa: E402
from tests.support.processes import start_web  # noqa: E402
from tests.support.workers import start_worker  # noqa: E402

RESULTS = REPO / "bench" / "results"
SAMPLE_SECONDS = 30
AGENT_MARKER = "GAMMA_RUN_ID"


def _tree(root: psutil.Process) -> list[psutil.Process]:
    """The process and its descendants, without agent processes (they come and go with their runs)."""
    found = []
    for process in [root, *root.children(recursive=True)]:
        try:
            if AGENT_MARKER not in process.environ():
                found.append(process)
        except psutil.Error:
            continue
    return found


def _measure(root: psutil.Process) -> dict[str, float]:
    rss = fds = threads = 0
    for process in _tree(root):
        try:
            rss += process.memory_info().rss
            fds += process.num_fds()
            threads += process.num_threads()
        except psutil.Error:
            continue
    return {"rss_mb": round(rss / 2**20, 1), "fds": fds, "threads": threads}


def _connections(conn: psycopg.Connection, web: psutil.Process, worker: psutil.Process) -> dict[str, int]:
    """The database sessions of the web and of the worker (pools are named `gamma:<pid>`, listeners by role)."""
    web_pids = {p.pid for p in _tree(web)}
    counts = {"web": 0, "worker": 0, "other": 0}
    rows = conn.execute("SELECT application_name, client_port, pid FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
    for row in rows:
        name = row["application_name"] or ""
        if name == "gamma-hub" or (name.startswith("gamma:") and int(name[6:] or 0) in web_pids):
            counts["web"] += 1
        elif name in ("dramatiq-pg", "gamma-control") or name.startswith("gamma:"):
            counts["worker"] += 1
        else:
            counts["other"] += 1
    return counts


class Goals(threading.Thread):
    """One team's goals, one after another, until told to stop."""

    def __init__(self, web_url: str, team_id: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.web_url, self.team_id, self.stop = web_url, team_id, stop
        self.done = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                run_id = requests.post(f"{self.web_url}/api/teams/{self.team_id}/messages",
                                       json={"message": f"Goal {self.done + 1}: a small page"}, timeout=30
                                       ).json()["run_id"]
                self._wait_round(run_id)
                self.done += 1
            except (requests.RequestException, KeyError, TimeoutError) as error:
                self.failures.append(repr(error))
                time.sleep(1)

    def _wait_round(self, first_run: str, timeout: float = 300) -> None:
        """Until the lead has answered after its wake (the team is idle again)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop.is_set():
            runs = requests.get(f"{self.web_url}/api/teams/{self.team_id}/runs",
                                params={"state": "queued,running"}, timeout=30).json()["runs"]
            first = requests.get(f"{self.web_url}/api/runs/{first_run}", timeout=30).json()
            if not runs and first["state"] not in ("queued", "running"):
                return
            time.sleep(0.5)
        if not self.stop.is_set():
            raise TimeoutError(f"team {self.team_id} did not settle")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--teams", type=int, default=3)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    home = tempfile.mkdtemp(prefix="gamma-soak-")
    env = {"GAMMA_HOME": home, "GAMMA_BACKEND": "demo"}
    samples: list[dict[str, Any]] = []
    with scratch_database("gamma_soak", os.environ.get("GAMMA_BENCH_DATABASE_URL")) as url, \
            start_web(url, extra_env=env) as web, \
            start_worker(url, {**env, "GAMMA_API_URL": web.url}, threads=8) as worker, \
            psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        teams = [requests.post(f"{web.url}/api/teams", timeout=60, json={
            "name": f"Soak {i}", "lead": {"name": "Lead", "backend": "demo"},
            "members": [{"name": n, "role_id": "engineering/backend-architect", "backend": "demo"}
                        for n in ("Ada", "Bo")]}).json()["id"] for i in range(args.teams)]
        stop = threading.Event()
        goals = [Goals(web.url, team_id, stop) for team_id in teams]
        for thread in goals:
            thread.start()
        web_root, worker_root = psutil.Process(web.proc.pid), psutil.Process(worker.pid)
        started = time.monotonic()
        end = started + args.minutes * 60
        while True:
            now = time.monotonic()
            running = conn.execute("SELECT count(*) AS n FROM runs WHERE state = 'running'").fetchone()["n"]
            sample = {"minute": round((now - started) / 60, 1), "goals": sum(g.done for g in goals),
                      "running_runs": running,
                      "web": _measure(web_root), "worker": _measure(worker_root),
                      "db_connections": _connections(conn, web_root, worker_root)}
            samples.append(sample)
            print(json.dumps(sample), flush=True)
            if now >= end:
                break
            time.sleep(min(SAMPLE_SECONDS, max(0.0, end - now)))
        stop.set()
        for thread in goals:
            thread.join(60)
        failures = [f for g in goals for f in g.failures]
        runs = conn.execute("SELECT state, count(*) AS n FROM runs GROUP BY state").fetchall()
    report = {"minutes": args.minutes, "teams": args.teams, "load_average_at_start": load,
              "python": platform.python_version(), "cpus": os.cpu_count(), "goals": samples[-1]["goals"],
              "failures": failures, "runs_by_state": {r["state"]: r["n"] for r in runs}, "samples": samples}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "soak.md").write_text(_markdown(report))
    print(_markdown(report))
    return 0 if not failures else 1


def _growth(samples: list[dict[str, Any]], side: str, key: str) -> str:
    """Change from the sample after warm-up (the second) to the last, per 100 goals."""
    base = samples[1] if len(samples) > 2 else samples[0]
    last = samples[-1]
    goals = last["goals"] - base["goals"]
    delta = last[side][key] - base[side][key]
    per_100 = f", {delta * 100 / goals:+.1f} per 100 goals" if goals else ""
    return f"{base[side][key]} → {last[side][key]} ({delta:+.1f}{per_100})"


def _markdown(report: dict[str, Any]) -> str:
    samples = report["samples"]
    lines = [
        "# Soak", "",
        f"Machine: {report['cpus']} CPUs, load average at start {report['load_average_at_start']}, "
        f"Python {report['python']}. {report['minutes']:g} minutes, {report['teams']} teams of demo agents "
        "(a lead and two members each), goal after goal; one web process, one worker process with 8 threads.",
        "",
        f"Goals completed: **{report['goals']}** (each: a lead run, two member runs, a wake, approvals). "
        f"Runs by state: {report['runs_by_state']}. Failures: {len(report['failures'])}.",
        "",
        "From the sample after warm-up to the last (agent processes excluded):",
        "",
        "| | web | worker |",
        "|---|---|---|",
    ]
    for key, label in (("rss_mb", "RSS, MB"), ("fds", "open files"), ("threads", "threads")):
        lines.append(f"| {label} | {_growth(samples, 'web', key)} | {_growth(samples, 'worker', key)} |")
    lines += ["", "Over time (a running run holds a few threads, pipes and a database session of its own):", "",
              "| minute | goals | running runs | web MB | web fds | web threads | worker MB | worker fds |"
              " worker threads | db connections |", "|---|---|---|---|---|---|---|---|---|---|"]
    step = max(1, len(samples) // 15)
    for sample in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
        web, worker = sample["web"], sample["worker"]
        lines.append(f"| {sample['minute']} | {sample['goals']} | {sample['running_runs']} | {web['rss_mb']} | "
                     f"{web['fds']} | "
                     f"{web['threads']} | {worker['rss_mb']} | {worker['fds']} | {worker['threads']} | "
                     f"{sample['db_connections']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
