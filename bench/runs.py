"""Run dispatch benchmark: a real web, a real Dramatiq worker, demo-backend agents (no Claude account needed).

    .venv/bin/python bench/runs.py            (`make bench`)

- dispatch latency: runs queued one at a time on idle agents (free capacity); latency = the run row's
  `created_at` (the enqueue transaction) → the `run.started` event (written right after the agent process was
  spawned), both stamped by PostgreSQL. Target p50 ≤ 50 ms, p99 ≤ 250 ms.
- capacity: CONCURRENT demo agents each given a long run at once (one worker process with that many threads);
  we sample how many are `running` at the same time, and the worker process's RSS before and at the peak
  (memory per running run). Target ≥ 50 concurrent runs. Each demo agent is a Python process of its own; its
  RSS is reported separately (the real `claude` CLI would take that place).

Database: a scratch database on $GAMMA_BENCH_DATABASE_URL (an admin URL), else the embedded test server under
.gamma-test/pg; dropped at the end. Results: bench/results/runs.json and runs.md. Medians of RUNS repetitions.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
import psycopg  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from tests.support.databases import scratch_database  # noqa: E402
from tests.support.processes import start_web  # noqa: E402
from tests.support.workers import start_worker  # noqa: E402

RUNS = 3
DISPATCH_SAMPLES = 40
CONCURRENT = 60
RESULTS = REPO / "bench" / "results"
TARGETS = {"dispatch_p50_ms": 50, "dispatch_p99_ms": 250, "concurrent_runs": 50}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


TEAM_SIZE = 30  # teams hold at most 40 agents: the capacity round spreads its agents over several teams


def _teams(web_url: str, members: int) -> list[dict[str, Any]]:
    import requests

    teams = []
    for first in range(0, members, TEAM_SIZE):
        body = {"name": f"bench {time.monotonic_ns()}", "lead": {"name": "Lead", "backend": "demo"},
                "members": [{"name": f"Agent {i}", "role_id": "engineering/backend-architect", "backend": "demo"}
                            for i in range(first, min(first + TEAM_SIZE, members))]}
        response = requests.post(web_url + "/api/teams", json=body, timeout=60)
        response.raise_for_status()
        teams.append(response.json())
    return teams


def _members(teams: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(team id, agent id) of every non-lead agent."""
    return [(t["id"], m["id"]) for t in teams for m in t["members"] if not m["is_lead"]]


def _enqueue(conn: psycopg.Connection, team_id: str, agent_id: str) -> str:
    from orchestrator.records import runs  # noqa: PLC0415

    with conn.transaction():
        return runs.enqueue_run(conn, team_id=team_id, agent_id=agent_id, prompt="bench", reason="chat")["id"]


def _wait(conn: psycopg.Connection, sql: str, params: tuple, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(sql, params).fetchone()
        if row:
            return row
        time.sleep(0.01)
    raise TimeoutError(sql)


def measure_capacity(conn: psycopg.Connection, teams: list[dict[str, Any]], worker_pid: int) -> dict[str, Any]:
    agents = _members(teams)[:CONCURRENT]
    worker = _worker_process(worker_pid)
    rss_idle = worker.memory_info().rss
    run_ids = [_enqueue(conn, team_id, agent_id) for team_id, agent_id in agents]
    peak, peak_rss, agent_rss = 0, rss_idle, 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        running = conn.execute("SELECT count(*) AS n FROM runs WHERE id = ANY(%s) AND state = 'running'",
                               (run_ids,)).fetchone()["n"]
        if running >= peak:
            peak, peak_rss = running, worker.memory_info().rss
            agent_rss = sum(c.memory_info().rss for c in worker.children(recursive=True) if _alive(c))
        if peak == len(run_ids):
            break
        time.sleep(0.2)
    from orchestrator.workflows import run_lifecycle  # noqa: PLC0415

    with conn.transaction():
        for team in teams:
            run_lifecycle.cancel(conn, "team", team["id"])
    _wait(conn, "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM runs WHERE id = ANY(%s) AND state = 'running')",
          (run_ids,), timeout=60)
    return {
        "offered": len(run_ids),
        "peak_concurrent": peak,
        "worker_rss_idle_mb": rss_idle / 2**20,
        "worker_rss_peak_mb": peak_rss / 2**20,
        "worker_mb_per_run": (peak_rss - rss_idle) / 2**20 / max(peak, 1),
        "demo_agent_mb_each": agent_rss / 2**20 / max(peak, 1),
    }


def _worker_process(supervisor_pid: int) -> psutil.Process:
    master = psutil.Process(supervisor_pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # `gamma worker` execs its supervisor; the worker process (workers.main) is its child.
        children = [p for p in master.children() if "workers.main" in " ".join(p.cmdline())]
        if children:
            return children[0]
        time.sleep(0.1)
    return master


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def one_round(database_url: str) -> dict[str, Any]:
    home = tempfile.mkdtemp(prefix="gamma-bench-home-")
    env = {"GAMMA_HOME": home, "GAMMA_DEMO_BENCH_LINES": "600", "GAMMA_DEMO_BENCH_RATE": "20",
           "GAMMA_LOG_LEVEL": "WARNING"}
    with start_web(database_url, extra_env={"GAMMA_HOME": home}) as web, \
            start_worker(database_url, env, threads=CONCURRENT + 4) as worker, \
            psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        teams = _teams(web.url, CONCURRENT)
        dispatch = measure_dispatch(conn, teams)
        capacity = measure_capacity(conn, teams, worker.pid)
    return {"dispatch_ms": dispatch, "capacity": capacity}


def measure_dispatch(conn: psycopg.Connection, teams: list[dict[str, Any]]) -> list[float]:
    """Dispatch samples; each run is cancelled as soon as it has started so the next one finds free capacity."""
    from orchestrator.workflows import run_lifecycle  # noqa: PLC0415

    agents = _members(teams)
    latencies = []
    for i in range(DISPATCH_SAMPLES):
        team_id, agent_id = agents[i % len(agents)]
        run_id = _enqueue(conn, team_id, agent_id)
        row = _wait(conn, "SELECT extract(epoch FROM e.created_at - r.created_at) * 1000 AS ms FROM runs r"
                          " JOIN events e ON e.run_id = r.id AND e.kind = 'run.started' WHERE r.id = %s", (run_id,))
        latencies.append(float(row["ms"]))
        with conn.transaction():
            run_lifecycle.cancel(conn, "run", run_id)
        _wait(conn, "SELECT 1 FROM runs WHERE id = %s AND state NOT IN ('queued', 'running')", (run_id,))
        time.sleep(0.05)
    return latencies


def main() -> None:
    started = time.monotonic()
    load = os.getloadavg()
    rounds = []
    with scratch_database("gamma_bench", os.environ.get("GAMMA_BENCH_DATABASE_URL")) as url:
        for i in range(RUNS):
            result = one_round(url)
            d = result["dispatch_ms"]
            print(f"round {i + 1}: dispatch p50 {statistics.median(d):.1f} ms p99 {_percentile(d, 99):.1f} ms; "
                  f"peak concurrent {result['capacity']['peak_concurrent']}", flush=True)
            rounds.append(result)
    summary = {
        "dispatch_p50_ms": statistics.median(statistics.median(r["dispatch_ms"]) for r in rounds),
        "dispatch_p95_ms": statistics.median(_percentile(r["dispatch_ms"], 95) for r in rounds),
        "dispatch_p99_ms": statistics.median(_percentile(r["dispatch_ms"], 99) for r in rounds),
        "peak_concurrent_runs": statistics.median(r["capacity"]["peak_concurrent"] for r in rounds),
        "worker_mb_per_run": statistics.median(r["capacity"]["worker_mb_per_run"] for r in rounds),
        "worker_rss_idle_mb": statistics.median(r["capacity"]["worker_rss_idle_mb"] for r in rounds),
        "demo_agent_mb_each": statistics.median(r["capacity"]["demo_agent_mb_each"] for r in rounds),
    }
    machine = {"cpus": os.cpu_count(), "load_at_start": [round(x, 2) for x in load],
               "python": platform.python_version(), "platform": platform.platform()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "runs.json").write_text(json.dumps(
        {"machine": machine, "targets": TARGETS, "summary": summary, "rounds": rounds,
         "seconds": time.monotonic() - started}, indent=2, default=str))
    (RESULTS / "runs.md").write_text(_markdown(machine, summary, rounds))
    print((RESULTS / "runs.md").read_text())


def _markdown(machine: dict[str, Any], s: dict[str, Any], rounds: list[dict[str, Any]]) -> str:
    def verdict(ok: bool) -> str:
        return "meets target" if ok else "MISSES target"

    rows = "\n".join(
        f"| {i + 1} | {statistics.median(r['dispatch_ms']):.1f} | {_percentile(r['dispatch_ms'], 99):.1f} | "
        f"{r['capacity']['peak_concurrent']} / {r['capacity']['offered']} | {r['capacity']['worker_mb_per_run']:.2f} |"
        for i, r in enumerate(rounds))
    p50, p99, peak = s["dispatch_p50_ms"], s["dispatch_p99_ms"], s["peak_concurrent_runs"]
    return f"""# Run dispatch benchmark

Machine: {machine['cpus']} CPUs, load average at start {machine['load_at_start']}, Python {machine['python']}.
Shared machine: the web, one worker process, PostgreSQL and every demo agent run on these CPUs.
One worker process with {CONCURRENT + 4} threads; demo backend (`GAMMA_DEMO_BENCH_LINES`, no API calls).

Medians of {len(rounds)} rounds ({DISPATCH_SAMPLES} dispatch samples each):

| Measure | Median | Target | |
|---|---|---|---|
| Dispatch p50 (queued → agent process started) | {p50:.1f} ms | ≤ 50 ms | {verdict(p50 <= 50)} |
| … p95 | {s['dispatch_p95_ms']:.1f} ms | | |
| … p99 | {p99:.1f} ms | ≤ 250 ms | {verdict(p99 <= 250)} |
| Concurrent demo runs held | {peak:.0f} of {CONCURRENT} | ≥ 50 | {verdict(peak >= 50)} |
| Worker RSS per running run | {s['worker_mb_per_run']:.2f} MB (idle {s['worker_rss_idle_mb']:.0f} MB) | | |
| Each demo agent process | {s['demo_agent_mb_each']:.1f} MB | | |

| Round | dispatch p50 ms | p99 ms | concurrent | worker MB/run |
|---|---|---|---|---|
{rows}
"""


if __name__ == "__main__":
    main()
