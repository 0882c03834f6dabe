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

import argparse
import json
import multiprocessing as mp
import os
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

from bench.events import _pct, machine  # noqa: E402
from tests.support.databases import scratch_database  # noqa: E402
from tests.support.processes import start_web  # noqa: E402
from tests.support.workers import start_worker  # noqa: E402
from workers.demo_agent import BENCH_STAMP  # noqa: E402

RESULTS = REPO / "bench" / "results"
CONFIG = {"runs": 3, "lines": 300, "rate": 20.0, "viewers": 5}
TARGETS = {"p50_ms": 10, "p99_ms": 50}
WATCH_TIMEOUT = 180.0


# -- viewers (threads of one process of their own) ----------------------------------------------------------


def _watch(url: str, agent_id: str, ready: threading.Barrier, out: dict[str, Any]) -> None:
    """Follow the team's stream from the cursor in `url` until the agent's (one) run has finished."""
    ws = websocket.create_connection(url, timeout=WATCH_TIMEOUT, skip_utf8_validation=True)
    latencies: list[float] = []
    cursor, seen, in_order, finished = None, 0, True, False
    try:
        while True:
            frame = json.loads(ws.recv())
            if frame["type"] == "hello":
                cursor = frame["after"]
            if frame["type"] == "live":
                break
        ready.wait()
        while not finished:
            data = ws.recv()
            now = time.time()
            frame = json.loads(data)
            if frame["type"] != "events":
                continue
            for event in frame["events"]:
                in_order = in_order and event["cursor"] == cursor + 1
                cursor = event["cursor"]
                seen += 1
                if event["kind"] == "agent.text" and event["agent_id"] == agent_id:
                    stamp = BENCH_STAMP.search(event["payload"].get("text", ""))
                    if stamp:
                        latencies.append((now - float(stamp.group(1))) * 1000)
                finished = finished or (event["kind"] == "run.finished" and event["agent_id"] == agent_id)
    except Exception as error:  # report it: the parent decides
        out["error"] = repr(error)
    finally:
        ws.close()
    out.update(latencies=latencies, seen=seen, in_order=in_order and finished, last_cursor=cursor)


def viewer_process(urls: list[str], agent_id: str, ready: Any, results: Any) -> None:
    barrier = threading.Barrier(len(urls) + 1)
    outs: list[dict[str, Any]] = [{} for _ in urls]
    threads = [threading.Thread(target=_watch, args=(u, agent_id, barrier, o)) for u, o in zip(urls, outs, strict=True)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    ready.put(True)
    for thread in threads:
        thread.join()
    results.put(outs)


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
        ctx = mp.get_context("spawn")
        ready, results = ctx.Queue(), ctx.Queue()
        proc = ctx.Process(target=viewer_process, args=([url] * cfg["viewers"], member["id"], ready, results),
                           daemon=True)
        proc.start()
        try:
            ready.get(timeout=120)
            started = time.monotonic()
            _enqueue(database_url, team["id"], member["id"])
            seen = results.get(timeout=WATCH_TIMEOUT + 30)
            seconds = time.monotonic() - started
        finally:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
    samples = sorted(ms for v in seen for ms in v.get("latencies", []))
    lines_each = [len(v.get("latencies", [])) for v in seen]
    return {
        "viewers": len(seen),
        "lines_per_viewer": lines_each,
        "samples": len(samples),
        "p50_ms": round(_pct(samples, 50), 1),
        "p95_ms": round(_pct(samples, 95), 1),
        "p99_ms": round(_pct(samples, 99), 1),
        "max_ms": round(samples[-1], 1) if samples else None,
        "events_per_viewer": [v.get("seen", 0) for v in seen],
        "viewers_complete_in_order": (len(seen) == cfg["viewers"] and all(v.get("in_order") for v in seen)
                                      and all(n == cfg["lines"] for n in lines_each)
                                      and len({v.get("seen") for v in seen}) == 1),
        "run_seconds": round(seconds, 1),
        "errors": [v["error"] for v in seen if "error" in v],
    }


# -- driver -------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=CONFIG["runs"])
    parser.add_argument("--lines", type=int, default=CONFIG["lines"])
    parser.add_argument("--rate", type=float, default=CONFIG["rate"])
    args = parser.parse_args()
    cfg = {**CONFIG, "runs": args.runs, "lines": args.lines, "rate": args.rate}
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    with scratch_database("gamma_bench_cli", os.environ.get("GAMMA_BENCH_DATABASE_URL")) as url:
        with psycopg.connect(url) as conn:
            info = machine(conn.info.server_version)
        for n in range(cfg["runs"]):
            run = one_run(url, cfg)
            runs.append(run)
            print(f"run {n + 1}: p50/p95/p99 {run['p50_ms']}/{run['p95_ms']}/{run['p99_ms']} ms, "
                  f"complete {run['viewers_complete_in_order']} {run['errors']}", flush=True)
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    median = {key: statistics.median(r[key] for r in runs) for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")}
    correct = all(r["viewers_complete_in_order"] for r in runs)
    report = {"benchmark": "cli_stream", "machine": info, "config": cfg, "targets": TARGETS, "median": median,
              "all_viewers_complete_in_order": correct, "runs": runs,
              "seconds": round(time.monotonic() - started, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cli_stream.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "cli_stream.md").write_text(summary(report))
    print(summary(report))
    return 0 if correct else 1


def summary(report: dict[str, Any]) -> str:
    m, med, t, cfg = report["machine"], report["median"], report["targets"], report["config"]

    def verdict(ok: bool) -> str:
        return "meets target" if ok else "MISSES target"

    lines = [
        "# CLI line → browser benchmark",
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), load average {m['load_avg_at_start']} at start and "
        f"{m['load_avg_at_end']} at the end, Python {m['python']}, PostgreSQL {m['postgresql']}. {m['note']}.",
        "",
        f"One real `gamma worker` (Dramatiq) runs one `demo` agent in bench mode: {cfg['lines']} assistant lines at "
        f"{cfg['rate']:g} lines/s, watched by {cfg['viewers']} WebSocket viewers on one gunicorn web (1 gthread "
        "worker). Latency = viewer receive time − the time the agent process wrote the line (stamped in the line), "
        "so it covers the worker reading the pipe, parsing, the BatchWriter, the commit, NOTIFY, the hub and the "
        "WebSocket.",
        "",
        f"Medians of {len(report['runs'])} runs (each on a fresh web and worker):",
        "",
        "| Measure | Median | Target | |",
        "|---|---|---|---|",
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
        lines.append(f"| {n} | {run['samples']} | {run['p50_ms']} | {run['p95_ms']} | {run['p99_ms']} | "
                     f"{run['max_ms']} | {sorted(set(run['events_per_viewer']))} | "
                     f"{run['viewers_complete_in_order']} |")
    lines += ["", f"Total bench time: {report['seconds']} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
