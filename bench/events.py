"""Event pipeline benchmark: writer processes → PostgreSQL → one gunicorn web → real WebSocket viewers.

    .venv/bin/python bench/events.py            (`make bench`)

Three phases, each repeated RUNS times against a fresh gunicorn; medians are reported:
- ingest: 8 BatchWriters in 4 processes append to 4 teams at an offered 8,000 events/s for a few seconds; the
  rate is committed events / (last commit - start). One viewer per team checks everything is delivered.
- latency: 4 BatchWriters in 2 processes append 1,000 events/s to one team watched by 20 viewers (2 processes).
  Each payload carries time.time() taken when the writer hands the event to its BatchWriter; each viewer
  records receive time minus that, so the figure includes any batching (the writer gathers up to 50 ms only
  under load), the commit, NOTIFY, the hub and the WebSocket.
- light: one writer at 20 events/s (one run streaming) watched by 5 viewers, measured the same way.

Database: a scratch database on $GAMMA_BENCH_DATABASE_URL (an admin URL), else the embedded test server under
.gamma-test/pg; it is dropped at the end. Results: bench/results/events.json and events.md.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
import websocket  # noqa: E402

from shared import db  # noqa: E402
from tests.support import factories  # noqa: E402
from tests.support.databases import scratch_database  # noqa: E402
from tests.support.processes import running, start_web  # noqa: E402
from tests.support.streams import wait_exit, writer_command  # noqa: E402

RUNS = 3
RESULTS = REPO / "bench" / "results"
INGEST = {"processes": 4, "writers_per_process": 2, "teams": 4, "rate_per_writer": 1000, "seconds": 4}
LATENCY = {"processes": 2, "writers_per_process": 2, "rate_per_writer": 250, "seconds": 8, "viewers": 20,
           "viewer_processes": 2}
# Light load: one run streaming (a CLI writes a few tens of lines a second), five people watching.
LIGHT = {"processes": 1, "writers_per_process": 1, "rate_per_writer": 20, "seconds": 10, "viewers": 5,
         "viewer_processes": 1}
TARGETS = {"ingest_events_per_s": 5000, "latency_p99_ms": 100, "light_p50_ms": 10, "light_p99_ms": 50}


# -- viewers (run in their own processes) -----------------------------------------------------------------


def _view(url: str, total: int, ready: threading.Barrier, out: dict[str, Any]) -> None:
    ws = websocket.create_connection(url, timeout=60, skip_utf8_validation=True)  # browsers validate in C
    latencies: list[float] = []
    fanout: list[float] = []
    cursor, seen, ok = 0, 0, True
    try:
        while True:  # replay is empty (fresh team): wait for the "live" marker
            if json.loads(ws.recv())["type"] == "live":
                break
        ready.wait()
        while cursor < total:
            data = ws.recv()
            now = time.time()
            frame = json.loads(data)
            if frame["type"] != "events":
                continue
            for event in frame["events"]:
                ok = ok and event["cursor"] == cursor + 1
                cursor = event["cursor"]
                seen += 1
                latencies.append((now - event["payload"]["t"]) * 1000)
                fanout.append((now - datetime.fromisoformat(event["created_at"]).timestamp()) * 1000)
    except Exception as error:  # report it: the parent decides
        out["error"] = repr(error)
    finally:
        ws.close()
    out.update(latencies=latencies, fanout=fanout, seen=seen, in_order=ok and seen == total)


def viewer_process(urls: list[str], total: int, ready: Any, results: Any) -> None:
    barrier = threading.Barrier(len(urls) + 1)
    outs: list[dict[str, Any]] = [{} for _ in urls]
    threads = [threading.Thread(target=_view, args=(u, total, barrier, o)) for u, o in zip(urls, outs, strict=True)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    ready.put(True)
    for thread in threads:
        thread.join()
    results.put(outs)


class Viewers:
    """Viewer processes, each holding some WebSockets in threads; ready once every socket is live."""

    def __init__(self, urls_per_process: list[list[str]], total: int) -> None:
        ctx = mp.get_context("spawn")
        self._ready, self._results = ctx.Queue(), ctx.Queue()
        self._procs = [ctx.Process(target=viewer_process, args=(urls, total, self._ready, self._results),
                                   daemon=True) for urls in urls_per_process]

    def __enter__(self) -> Viewers:
        for proc in self._procs:
            proc.start()
        for _ in self._procs:
            self._ready.get(timeout=120)
        return self

    def collect(self, timeout: float) -> list[dict[str, Any]]:
        return [view for _ in self._procs for view in self._results.get(timeout=timeout)]

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


# -- phases -----------------------------------------------------------------------------------------------


def ingest_phase(database_url: str, web_ws: str) -> dict[str, Any]:
    cfg = INGEST
    teams = [factories.create_team(f"bench ingest {n}")["id"] for n in range(cfg["teams"])]
    per_writer = cfg["rate_per_writer"] * cfg["seconds"]
    writers = cfg["processes"] * cfg["writers_per_process"]
    total = writers * per_writer
    per_team = total // cfg["teams"]
    urls = [[f"{web_ws}/ws/teams/{team}?after=0" for team in teams]]
    env = {"DATABASE_URL": database_url}
    with Viewers(urls, per_team) as watching:
        start_at = time.time() + 1.5
        with contextlib.ExitStack() as stack:
            procs = []
            for p in range(cfg["processes"]):
                # Each process's writers cover every team in turn, so each team has several writers.
                mine = [teams[(p * cfg["writers_per_process"] + w) % len(teams)]
                        for w in range(cfg["writers_per_process"])]
                args = writer_command(mine[0], cfg["writers_per_process"], per_writer,
                                      rate=cfg["rate_per_writer"], tag=f"i{p}", start_at=start_at)
                for team in mine[1:]:
                    args += ["--team", team]
                procs.append(stack.enter_context(running(args, env=env)))
            wait_exit(procs, timeout=300)
        with db.transaction() as conn:
            row = conn.execute(
                "SELECT count(*) AS n, extract(epoch FROM max(created_at)) AS last FROM events"
                " WHERE team_id = ANY(%s)", (teams,),
            ).fetchone()
        seen = watching.collect(120)
    committed, seconds = row["n"], float(row["last"]) - start_at
    return {
        "offered_events_per_s": writers * cfg["rate_per_writer"],
        "committed": committed,
        "seconds": round(seconds, 3),
        "events_per_s": round(committed / seconds),
        "delivered_to_viewers": sum(v.get("seen", 0) for v in seen),
        "viewers_complete_in_order": all(v.get("in_order") for v in seen),
    }


def latency_phase(database_url: str, web_ws: str, cfg: dict[str, Any] = LATENCY) -> dict[str, Any]:
    team = factories.create_team("bench latency")["id"]
    per_writer = cfg["rate_per_writer"] * cfg["seconds"]
    total = cfg["processes"] * cfg["writers_per_process"] * per_writer
    url = f"{web_ws}/ws/teams/{team}?after=0"
    split = cfg["viewers"] // cfg["viewer_processes"]
    env = {"DATABASE_URL": database_url}
    with Viewers([[url] * split for _ in range(cfg["viewer_processes"])], total) as watching:
        start_at = time.time() + 1.5
        with contextlib.ExitStack() as stack:
            procs = [
                stack.enter_context(running(
                    writer_command(team, cfg["writers_per_process"], per_writer, rate=cfg["rate_per_writer"],
                                   tag=f"l{p}", start_at=start_at),
                    env=env,
                ))
                for p in range(cfg["processes"])
            ]
            wait_exit(procs, timeout=300)
        seen = watching.collect(120)
    samples = sorted(ms for v in seen for ms in v.get("latencies", []))
    fanout = sorted(ms for v in seen for ms in v.get("fanout", []))
    return {
        "events_per_s": cfg["processes"] * cfg["writers_per_process"] * cfg["rate_per_writer"],
        "viewers": len(seen),
        "samples": len(samples),
        "p50_ms": round(_pct(samples, 50), 1),
        "p95_ms": round(_pct(samples, 95), 1),
        "p99_ms": round(_pct(samples, 99), 1),
        "max_ms": round(samples[-1], 1) if samples else None,
        # From the row's insert (created_at, inside the writer's transaction) to the viewer: commit, NOTIFY,
        # hub and WebSocket, without the batching window.
        "insert_to_viewer_p50_ms": round(_pct(fanout, 50), 1),
        "insert_to_viewer_p99_ms": round(_pct(fanout, 99), 1),
        "viewers_complete_in_order": all(v.get("in_order") for v in seen) and len(seen) == cfg["viewers"],
        "errors": [v["error"] for v in seen if "error" in v],
    }


def _pct(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    return samples[min(len(samples) - 1, int(len(samples) * p / 100))]


# -- driver -----------------------------------------------------------------------------------------------


def machine(server_version: int) -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    return {
        "cpus": os.cpu_count(), "cpu_model": model, "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "postgresql": f"{server_version // 10000}.{server_version % 10000}", "platform": platform.platform(),
        "note": "shared machine: other test suites may run at the same time; viewers, writers, PostgreSQL and "
                "the web all share these CPUs",
    }


def main() -> int:
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    with scratch_database("gamma_bench", os.environ.get("GAMMA_BENCH_DATABASE_URL")) as url:
        with psycopg.connect(url) as conn:
            info = machine(conn.info.server_version)
        for n in range(RUNS):
            with start_web(url) as web:
                run = {"ingest": ingest_phase(url, web.ws_url), "latency": latency_phase(url, web.ws_url),
                       "light": latency_phase(url, web.ws_url, LIGHT)}
            runs.append(run)
            print(f"run {n + 1}: ingest {run['ingest']['events_per_s']}/s, latency p50/p95/p99 "
                  f"{run['latency']['p50_ms']}/{run['latency']['p95_ms']}/{run['latency']['p99_ms']} ms", flush=True)
    median = {
        "ingest_events_per_s": statistics.median(r["ingest"]["events_per_s"] for r in runs),
        "latency_p50_ms": statistics.median(r["latency"]["p50_ms"] for r in runs),
        "latency_p95_ms": statistics.median(r["latency"]["p95_ms"] for r in runs),
        "latency_p99_ms": statistics.median(r["latency"]["p99_ms"] for r in runs),
        "insert_to_viewer_p50_ms": statistics.median(r["latency"]["insert_to_viewer_p50_ms"] for r in runs),
        "insert_to_viewer_p99_ms": statistics.median(r["latency"]["insert_to_viewer_p99_ms"] for r in runs),
        "light_p50_ms": statistics.median(r["light"]["p50_ms"] for r in runs),
        "light_p99_ms": statistics.median(r["light"]["p99_ms"] for r in runs),
    }
    correct = all(r["ingest"]["viewers_complete_in_order"] and r["latency"]["viewers_complete_in_order"]
                  and r["light"]["viewers_complete_in_order"] for r in runs)
    report = {
        "benchmark": "events", "machine": info,
        "config": {"ingest": INGEST, "latency": LATENCY, "light": LIGHT, "runs": RUNS},
        "targets": TARGETS, "median": median, "all_viewers_complete_in_order": correct, "runs": runs,
        "seconds": round(time.monotonic() - started, 1),
    }
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    (RESULTS / "events.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "events.md").write_text(summary(report))
    print(summary(report))
    return 0 if correct else 1


def summary(report: dict[str, Any]) -> str:
    m, med, t = report["machine"], report["median"], report["targets"]
    ing, lat, light = report["config"]["ingest"], report["config"]["latency"], report["config"]["light"]

    def verdict(ok: bool) -> str:
        return "meets target" if ok else "MISSES target"

    ing_writers = ing["processes"] * ing["writers_per_process"]
    lines = [
        "# Event pipeline benchmark",
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), load average {m['load_avg_at_start']} at start and "
        f"{m['load_avg_at_end']} at the end, "
        f"Python {m['python']}, PostgreSQL {m['postgresql']}. {m['note']}.",
        "",
        f"Medians of {report['config']['runs']} runs (each on a fresh gunicorn web, 1 gthread worker):",
        "",
        "| Measure | Median | Target | |",
        "|---|---|---|---|",
        f"| Sustained ingest ({ing_writers} BatchWriters in {ing['processes']} processes, {ing['teams']} teams, "
        f"offered {ing_writers * ing['rate_per_writer']}/s) | {med['ingest_events_per_s']:.0f} events/s "
        f"| ≥ {t['ingest_events_per_s']} | {verdict(med['ingest_events_per_s'] >= t['ingest_events_per_s'])} |",
        f"| Write→browser latency p50, {lat['processes'] * lat['writers_per_process'] * lat['rate_per_writer']} "
        f"events/s, {lat['viewers']} viewers | {med['latency_p50_ms']} ms | | |",
        f"| … p95 | {med['latency_p95_ms']} ms | | |",
        f"| … p99 | {med['latency_p99_ms']} ms | ≤ {t['latency_p99_ms']} ms | "
        f"{verdict(med['latency_p99_ms'] <= t['latency_p99_ms'])} |",
        f"| Insert→browser p50 / p99 (without the batching window) | {med['insert_to_viewer_p50_ms']} / "
        f"{med['insert_to_viewer_p99_ms']} ms | | |",
        f"| Light load: write→browser p50, {light['rate_per_writer']} events/s, {light['viewers']} viewers "
        f"| {med['light_p50_ms']} ms | ≤ {t['light_p50_ms']} ms | "
        f"{verdict(med['light_p50_ms'] <= t['light_p50_ms'])} |",
        f"| … p99 | {med['light_p99_ms']} ms | ≤ {t['light_p99_ms']} ms | "
        f"{verdict(med['light_p99_ms'] <= t['light_p99_ms'])} |",
        "",
        f"Every viewer received every event exactly once, in cursor order: {report['all_viewers_complete_in_order']}.",
        "Latency is measured from the writer's `BatchWriter.add()` (timestamp in the payload) to the viewer's "
        "receive, so it includes any batching: the writer writes at once when idle and gathers a batch for up to "
        "50 ms only while events keep arriving during a write.",
        "",
        "| Run | ingest/s | p50 ms | p95 ms | p99 ms | max ms | insert→browser p50/p99 ms | light p50/p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, run in enumerate(report["runs"], 1):
        i, la = run["ingest"], run["latency"]
        lines.append(
            f"| {n} | {i['events_per_s']} | {la['p50_ms']} | {la['p95_ms']} | {la['p99_ms']} | {la['max_ms']} "
            f"| {la['insert_to_viewer_p50_ms']} / {la['insert_to_viewer_p99_ms']} "
            f"| {run['light']['p50_ms']} / {run['light']['p99_ms']} |"
        )
    lines += ["", f"Total bench time: {report['seconds']} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
