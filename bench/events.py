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
import statistics
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import websocket  # noqa: E402

from bench import common  # noqa: E402
from shared import db  # noqa: E402
from tests.support import factories  # noqa: E402
from tests.support.processes import running, start_web  # noqa: E402
from tests.support.streams import wait_exit, writer_command  # noqa: E402

RUNS = 3
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
    feed = common.TeamFeed(ws)  # replay is empty (fresh team)
    latencies: list[float] = []
    fanout: list[float] = []

    def take(now: float, batch: list[dict[str, Any]]) -> bool:
        for event in batch:
            latencies.append((now - event["payload"]["t"]) * 1000)
            fanout.append((now - datetime.fromisoformat(event["created_at"]).timestamp()) * 1000)
        return feed.cursor >= total

    feed.follow(ready, out, take)
    out.update(latencies=latencies, fanout=fanout, seen=feed.seen, in_order=feed.in_order and feed.seen == total)


# -- phases -----------------------------------------------------------------------------------------------


def ingest_phase(database_url: str, web_ws: str) -> dict[str, Any]:
    cfg = INGEST
    teams = [factories.create_team(f"bench ingest {n}")["id"] for n in range(cfg["teams"])]
    per_writer = cfg["rate_per_writer"] * cfg["seconds"]
    writers = cfg["processes"] * cfg["writers_per_process"]
    total = writers * per_writer
    per_team = total // cfg["teams"]
    viewers = [[(f"{web_ws}/ws/teams/{team}?after=0", per_team) for team in teams]]
    env = {"DATABASE_URL": database_url}
    with common.Viewers(_view, viewers) as watching:
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
    with common.Viewers(_view, [[(url, total)] * split for _ in range(cfg["viewer_processes"])]) as watching:
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
        **common.latency_ms(samples),
        # From the row's insert (created_at, inside the writer's transaction) to the viewer: commit, NOTIFY,
        # hub and WebSocket, without the batching window.
        "insert_to_viewer_p50_ms": round(common.percentile(fanout, 50), 1),
        "insert_to_viewer_p99_ms": round(common.percentile(fanout, 99), 1),
        "viewers_complete_in_order": all(v.get("in_order") for v in seen) and len(seen) == cfg["viewers"],
        "errors": [v["error"] for v in seen if "error" in v],
    }


# -- driver -----------------------------------------------------------------------------------------------


def main() -> int:
    parser = common.options(__doc__)
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    with common.bench_database("gamma_bench") as url:
        info = common.machine_of(url)
        for n in range(args.runs):
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
        "config": {"ingest": INGEST, "latency": LATENCY, "light": LIGHT, "runs": args.runs},
        "targets": TARGETS, "median": median, "all_viewers_complete_in_order": correct, "runs": runs,
        "seconds": round(time.monotonic() - started, 1),
    }
    info["load_avg_at_end"] = common.load_average()
    common.write_results(args.results, "events", report, summary(report))
    print(summary(report))
    return 0 if correct else 1


def summary(report: dict[str, Any]) -> str:
    m, med, t = report["machine"], report["median"], report["targets"]
    ing, lat, light = report["config"]["ingest"], report["config"]["latency"], report["config"]["light"]
    ing_writers = ing["processes"] * ing["writers_per_process"]
    lines = [
        "# Event pipeline benchmark",
        "",
        common.machine_line(m),
        "",
        f"Medians of {report['config']['runs']} runs (each on a fresh gunicorn web, 1 gthread worker):",
        "",
        *common.MEDIANS_TABLE,
        f"| Sustained ingest ({ing_writers} BatchWriters in {ing['processes']} processes, {ing['teams']} teams, "
        f"offered {ing_writers * ing['rate_per_writer']}/s) | {med['ingest_events_per_s']:.0f} events/s "
        f"| ≥ {t['ingest_events_per_s']} | {common.verdict(med['ingest_events_per_s'] >= t['ingest_events_per_s'])} |",
        f"| Write→browser latency p50, {lat['processes'] * lat['writers_per_process'] * lat['rate_per_writer']} "
        f"events/s, {lat['viewers']} viewers | {med['latency_p50_ms']} ms | | |",
        f"| … p95 | {med['latency_p95_ms']} ms | | |",
        f"| … p99 | {med['latency_p99_ms']} ms | ≤ {t['latency_p99_ms']} ms | "
        f"{common.verdict(med['latency_p99_ms'] <= t['latency_p99_ms'])} |",
        f"| Insert→browser p50 / p99 (without the batching window) | {med['insert_to_viewer_p50_ms']} / "
        f"{med['insert_to_viewer_p99_ms']} ms | | |",
        f"| Light load: write→browser p50, {light['rate_per_writer']} events/s, {light['viewers']} viewers "
        f"| {med['light_p50_ms']} ms | ≤ {t['light_p50_ms']} ms | "
        f"{common.verdict(med['light_p50_ms'] <= t['light_p50_ms'])} |",
        f"| … p99 | {med['light_p99_ms']} ms | ≤ {t['light_p99_ms']} ms | "
        f"{common.verdict(med['light_p99_ms'] <= t['light_p99_ms'])} |",
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
            f"| {n} | {i['events_per_s']} | {common.latency_cells(la)} "
            f"| {la['insert_to_viewer_p50_ms']} / {la['insert_to_viewer_p99_ms']} "
            f"| {run['light']['p50_ms']} / {run['light']['p99_ms']} |"
        )
    return common.finish_summary(lines, report)


if __name__ == "__main__":
    sys.exit(main())
