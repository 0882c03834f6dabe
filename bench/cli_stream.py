"""CLI line → browser benchmark: a real Dramatiq worker runs a `demo` agent in its bench mode, 5 WebSocket viewers
watch the run on a real gunicorn web.

    .venv/bin/python bench/cli_stream.py [--runs N] [--lines N] [--rate R]

Each run: a fresh web and `gamma worker` (one process) sharing a GAMMA_HOME, a team made through the API (a demo lead
and one demo member), 5 viewers (threads in one process) live on `/ws/teams/<id>` before the member's run is queued.
The demo agent (GAMMA_DEMO_BENCH_LINES / GAMMA_DEMO_BENCH_RATE, workers/demo_agent.py) prints LINES assistant lines
at RATE a second, each ending with `written at <time.time()>` taken just before the line is written to its stdout.
The worker reads the line, parses it, writes it as an `agent.text` event (BatchWriter), PostgreSQL NOTIFYs, the hub
fans it out and the viewer receives it: latency = viewer receive time − the line's write time (one clock: one
machine). Every viewer must receive every event of the run once, in cursor order, up to its `run.finished`.

Target (issue 14, point 1): p50 ≤ 10 ms and p99 ≤ 50 ms at light load (one run streaming, 5 viewers).

Database: a scratch database on $GAMMA_BENCH_DATABASE_URL (an admin URL), else the embedded test server under
.gamma-test/pg; dropped at the end. Results: bench/results/cli_stream.json and cli_stream.md (medians of the runs).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
import requests  # noqa: E402
import websocket  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from bench import common  # noqa: E402
from tests.support.processes import start_web  # noqa: E402
from tests.support.workers import start_worker  # noqa: E402
from workers.demo_agent import BENCH_STAMP  # noqa: E402

CONFIG = {"runs": 3, "lines": 300, "rate": 20.0, "viewers": 5}
TARGETS = {"p50_ms": 10, "p99_ms": 50}
WATCH_TIMEOUT = 180.0


# -- viewers (threads of one process of their own) ----------------------------------------------------------


def _watch(url: str, agent_id: str, ready: threading.Barrier, out: dict[str, Any]) -> None:
    """Follow the team's stream from the cursor in `url` until the agent's (one) run has finished."""
    ws = websocket.create_connection(url, timeout=WATCH_TIMEOUT, skip_utf8_validation=True)
    feed = common.TeamFeed(ws)
    latencies: list[float] = []
    finished = False

    def take(now: float, batch: list[dict[str, Any]]) -> bool:
        nonlocal finished
        for event in batch:
            if event["kind"] == "agent.text" and event["agent_id"] == agent_id:
                stamp = BENCH_STAMP.search(event["payload"].get("text", ""))
                if stamp:
                    latencies.append((now - float(stamp.group(1))) * 1000)
            finished = finished or (event["kind"] == "run.finished" and event["agent_id"] == agent_id)
        return finished

    feed.follow(ready, out, take)
    out.update(latencies=latencies, seen=feed.seen, in_order=feed.in_order and finished, last_cursor=feed.cursor)


# -- one run ------------------------------------------------------------------------------------------------


def _team(web_url: str) -> dict[str, Any]:
    body = {"name": f"bench cli {time.monotonic_ns()}", "lead": {"name": "Lead", "backend": "demo"},
            "members": [{"name": "Streamer", "role_id": "engineering/backend-architect", "backend": "demo"}]}
    response = requests.post(web_url + "/api/teams", json=body, timeout=60)
    response.raise_for_status()
    return response.json()


def _enqueue(database_url: str, team_id: str, agent_id: str) -> str:
    from orchestrator.records import runs  # noqa: PLC0415

    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn, conn.transaction():
        return runs.enqueue_run(conn, team_id=team_id, agent_id=agent_id, prompt="bench", reason="chat")["id"]


def one_run(database_url: str, cfg: dict[str, Any]) -> dict[str, Any]:
    home = tempfile.mkdtemp(prefix="gamma-bench-home-")
    env = {"GAMMA_HOME": home, "GAMMA_DEMO_BENCH_LINES": str(cfg["lines"]),
           "GAMMA_DEMO_BENCH_RATE": str(cfg["rate"]), "GAMMA_LOG_LEVEL": "WARNING"}
    with start_web(database_url, extra_env={"GAMMA_HOME": home}) as web, \
            start_worker(database_url, env, threads=4):
        team = _team(web.url)
        member = next(m for m in team["members"] if not m["is_lead"])
        head = requests.get(f"{web.url}/api/teams/{team['id']}/events?limit=1", timeout=30).json()["head"]
        url = f"{web.ws_url}/ws/teams/{team['id']}?after={head}"
        with common.Viewers(_watch, [[(url, member["id"])] * cfg["viewers"]]) as watching:
            started = time.monotonic()
            _enqueue(database_url, team["id"], member["id"])
            seen = watching.collect(WATCH_TIMEOUT + 30)
            seconds = time.monotonic() - started
    samples = sorted(ms for v in seen for ms in v.get("latencies", []))
    lines_each = [len(v.get("latencies", [])) for v in seen]
    return {
        "viewers": len(seen),
        "lines_per_viewer": lines_each,
        "samples": len(samples),
        **common.latency_ms(samples),
        "events_per_viewer": [v.get("seen", 0) for v in seen],
        "viewers_complete_in_order": (len(seen) == cfg["viewers"] and all(v.get("in_order") for v in seen)
                                      and all(n == cfg["lines"] for n in lines_each)
                                      and len({v.get("seen") for v in seen}) == 1),
        "run_seconds": round(seconds, 1),
        "errors": [v["error"] for v in seen if "error" in v],
    }


# -- driver -------------------------------------------------------------------------------------------------


def main() -> int:
    cfg, results = common.parse_config(__doc__, CONFIG, ("runs", "lines", "rate"))
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    with common.bench_database("gamma_bench_cli") as url:
        info = common.machine_of(url)
        for n in range(cfg["runs"]):
            run = one_run(url, cfg)
            runs.append(run)
            print(f"run {n + 1}: p50/p95/p99 {run['p50_ms']}/{run['p95_ms']}/{run['p99_ms']} ms, "
                  f"complete {run['viewers_complete_in_order']} {run['errors']}", flush=True)
    info["load_avg_at_end"] = common.load_average()
    median = {key: statistics.median(r[key] for r in runs) for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")}
    correct = all(r["viewers_complete_in_order"] for r in runs)
    report = {"benchmark": "cli_stream", "machine": info, "config": cfg, "targets": TARGETS, "median": median,
              "all_viewers_complete_in_order": correct, "runs": runs,
              "seconds": round(time.monotonic() - started, 1)}
    common.write_results(results, "cli_stream", report, summary(report))
    print(summary(report))
    return 0 if correct else 1


def summary(report: dict[str, Any]) -> str:
    m, med, t, cfg = report["machine"], report["median"], report["targets"], report["config"]
    verdict = common.verdict
    lines = [
        "# CLI line → browser benchmark",
        "",
        common.machine_line(m),
        "",
        f"One real `gamma worker` (Dramatiq) runs one `demo` agent in bench mode: {cfg['lines']} assistant lines at "
        f"{cfg['rate']:g} lines/s, watched by {cfg['viewers']} WebSocket viewers on one gunicorn web (1 gthread "
        "worker). Latency = viewer receive time − the time the agent process wrote the line (stamped in the line), "
        "so it covers the worker reading the pipe, parsing, the BatchWriter, the commit, NOTIFY, the hub and the "
        "WebSocket.",
        "",
        f"Medians of {len(report['runs'])} runs (each on a fresh web and worker):",
        "",
        *common.MEDIANS_TABLE,
        f"| CLI line → browser p50 | {med['p50_ms']} ms | ≤ {t['p50_ms']} ms | "
        f"{verdict(med['p50_ms'] <= t['p50_ms'])} |",
        f"| … p95 | {med['p95_ms']} ms | | |",
        f"| … p99 | {med['p99_ms']} ms | ≤ {t['p99_ms']} ms | {verdict(med['p99_ms'] <= t['p99_ms'])} |",
        f"| … max | {med['max_ms']} ms | | |",
        "",
        f"Every viewer received every event of the run exactly once, in cursor order, every bench line included: "
        f"{report['all_viewers_complete_in_order']}.",
        "",
        "| Run | samples | p50 ms | p95 ms | p99 ms | max ms | events per viewer | complete |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, run in enumerate(report["runs"], 1):
        lines.append(f"| {n} | {run['samples']} | {common.latency_cells(run)} | "
                     f"{sorted(set(run['events_per_viewer']))} | "
                     f"{run['viewers_complete_in_order']} |")
    return common.finish_summary(lines, report)


if __name__ == "__main__":
    sys.exit(main())
