"""Many viewers benchmark: 300 real WebSocket viewers on one gunicorn web process, a writer at 100 events/s.

    .venv/bin/python bench/viewers.py [--runs N] [--viewers N] [--seconds S]

- admitted with `gamma up`'s defaults: one web process configured as `gamma web` configures each of its processes
  (web.gunicorn_conf, the default GAMMA_WEB_THREADS and GAMMA_WS_MAX_PER_PROCESS): how many of the viewers it admits.
- fan-out (each run, on a fresh web): one web process with GAMMA_WEB_THREADS=THREADS and
  GAMMA_WS_MAX_PER_PROCESS=VIEWERS (each open stream holds one gthread thread), VIEWERS viewers in
  VIEWER_PROCESSES client processes (threads), each process from a loopback address of its own (127.0.0.11, .12, …:
  a client address may hold GAMMA_WS_MAX_PER_CLIENT=50 streams). One writer process appends RATE events/s
  (BatchWriter, ~400-byte payloads) for SECONDS; each payload carries time.time() taken at `BatchWriter.add()`, each
  viewer records receive time − that. Every viewer must receive every event once, in cursor order.
  The web's RSS (its gunicorn worker) is sampled before any viewer, with the viewers connected, and while streaming.

Target (issue 14, point 2): p99 ≤ 250 ms; the web's memory reported.

Database: a scratch database on $GAMMA_BENCH_DATABASE_URL (an admin URL), else the embedded test server under
.gamma-test/pg; dropped at the end. Results: bench/results/viewers.json and viewers.md (medians of the runs).
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
import websocket  # noqa: E402

from bench import common  # noqa: E402
from shared.config import Settings  # noqa: E402
from tests.support import factories  # noqa: E402
from tests.support.processes import running, start_web  # noqa: E402
from tests.support.streams import wait_exit, writer_command  # noqa: E402

CONFIG = {"runs": 3, "viewers": 300, "viewer_processes": 6, "threads": 400, "rate": 100, "seconds": 20, "pad": 300}
DEFAULTS = {"GAMMA_WEB_THREADS": Settings.model_fields["web_threads"].default,  # shared.config's defaults
            "GAMMA_WS_MAX_PER_PROCESS": Settings.model_fields["ws_max_per_process"].default}
TARGETS = {"p99_ms": 250}
MB = common.MB


# -- viewers (threads in processes of their own) ------------------------------------------------------------


def _connect(url: str, port: int, source: str, timeout: float) -> websocket.WebSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
    return websocket.create_connection(url, timeout=timeout, socket=sock, skip_utf8_validation=True)


def _view(url: str, port: int, source: str, total: int, ready: threading.Barrier, out: dict[str, Any]) -> None:
    latencies: list[float] = []
    try:
        ws = _connect(url, port, source, 120)
    except Exception as error:
        out.update(error=repr(error), refused=True, latencies=[], seen=0, in_order=False)
        with contextlib.suppress(threading.BrokenBarrierError):
            ready.wait()
        return
    feed = common.TeamFeed(ws)  # a fresh team: nothing to replay

    def take(now: float, batch: list[dict[str, Any]]) -> bool:
        latencies.extend((now - event["payload"]["t"]) * 1000 for event in batch)
        return feed.cursor >= total

    feed.follow(ready, out, take)
    out.update(latencies=latencies, seen=feed.seen, in_order=feed.in_order and feed.seen == total)


def viewers(url: str, port: int, cfg: dict[str, Any], total: int) -> common.Viewers:
    """cfg's VIEWERS WebSockets in VIEWER_PROCESSES processes, each from its own 127.0.0.x."""
    viewers, processes = cfg["viewers"], cfg["viewer_processes"]
    split = [viewers // processes + (1 if p < viewers % processes else 0) for p in range(processes)]
    return common.Viewers(_view, [[(url, port, f"127.0.0.{11 + p}", total)] * n for p, n in enumerate(split)],
                          ready_timeout=300, barrier_timeout=300, daemon_threads=True)


# -- phases -------------------------------------------------------------------------------------------------


def admitted_with_defaults(database_url: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Open the viewers against one web process with the default settings; count those admitted."""
    team = factories.create_team("bench viewers defaults")["id"]
    env = {"GAMMA_WS_MAX_PER_PROCESS": str(DEFAULTS["GAMMA_WS_MAX_PER_PROCESS"])}
    admitted, refused, status = [], 0, None
    with start_web(database_url, threads=DEFAULTS["GAMMA_WEB_THREADS"], extra_env=env) as web:
        url = f"{web.ws_url}/ws/teams/{team}?after=0"
        try:
            for n in range(cfg["viewers"]):
                try:
                    ws = _connect(url, web.port, f"127.0.0.{11 + n % cfg['viewer_processes']}", 30)
                except websocket.WebSocketBadStatusException as error:
                    refused += 1
                    status = error.status_code
                    continue
                admitted.append(ws)
            http_ok = requests.get(f"{web.url}/api/teams", timeout=30).status_code == 200
        finally:
            for ws in admitted:
                ws.close()
    return {"offered": cfg["viewers"], "admitted": len(admitted), "refused": refused,
            "refusal_status": status, "http_answers_meanwhile": http_ok}


def fan_out(database_url: str, cfg: dict[str, Any]) -> dict[str, Any]:
    team = factories.create_team("bench viewers")["id"]
    total = cfg["rate"] * cfg["seconds"]
    env = {"GAMMA_WS_MAX_PER_PROCESS": str(cfg["viewers"])}
    with start_web(database_url, threads=cfg["threads"], extra_env=env) as web:
        worker = common.web_worker(web.proc.pid)
        requests.get(f"{web.url}/api/teams/{team}/events?limit=1", timeout=30).raise_for_status()
        rss_before = worker.memory_info().rss
        url = f"{web.ws_url}/ws/teams/{team}?after=0"
        connect_started = time.monotonic()
        with viewers(url, web.port, cfg, total) as watching:
            connect_seconds = time.monotonic() - connect_started
            rss_connected = worker.memory_info().rss
            stats = requests.get(f"{web.url}/ws/stats", timeout=30).json()
            with common.RssPeak(worker) as rss:
                start_at = time.time() + 1.0
                with running(writer_command(team, 1, total, rate=cfg["rate"], tag="v", pad=cfg["pad"],
                                            start_at=start_at), env={"DATABASE_URL": database_url}) as writer:
                    wait_exit([writer], timeout=cfg["seconds"] * 10 + 60)
                seen = watching.collect(300)
            cpu = worker.cpu_times()
            hub = requests.get(f"{web.url}/ws/stats", timeout=30).json()["hub"]
    samples = sorted(ms for v in seen for ms in v.get("latencies", []))
    return {
        "viewers": len(seen),
        "refused": sum(1 for v in seen if v.get("refused")),
        "events": total,
        "samples": len(samples),
        **common.latency_ms(samples),
        "viewers_complete_in_order": len(seen) == cfg["viewers"] and all(v.get("in_order") for v in seen),
        "connect_seconds": round(connect_seconds, 1),
        "web_rss_before_mb": round(rss_before / MB, 1),
        "web_rss_connected_mb": round(rss_connected / MB, 1),
        "web_rss_peak_mb": round(rss.peak / MB, 1),
        "web_threads_connected": stats["threads"],
        "web_streams_connected": stats["streams"],
        "web_cpu_seconds": round(cpu.user + cpu.system, 1),
        "hub_pages_written": hub["pages_written_by_hub"],
        "hub_pages_queued": hub["pages_queued_for_writers"],
        "errors": sorted({v["error"] for v in seen if "error" in v})[:5],
    }


# -- driver -------------------------------------------------------------------------------------------------


def main() -> int:
    cfg, results = common.parse_config(__doc__, CONFIG, ("runs", "viewers", "seconds"))
    cfg["threads"] = max(CONFIG["threads"], cfg["viewers"] + 100)
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    with common.bench_database("gamma_bench_viewers") as url:
        info = common.machine_of(url)
        defaults = admitted_with_defaults(url, cfg)
        print(f"defaults: {defaults}", flush=True)
        for n in range(cfg["runs"]):
            run = fan_out(url, cfg)
            runs.append(run)
            print(f"run {n + 1}: p50/p95/p99 {run['p50_ms']}/{run['p95_ms']}/{run['p99_ms']} ms, rss "
                  f"{run['web_rss_before_mb']}/{run['web_rss_connected_mb']}/{run['web_rss_peak_mb']} MB, "
                  f"complete {run['viewers_complete_in_order']} {run['errors']}", flush=True)
    info["load_avg_at_end"] = common.load_average()
    keys = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "web_rss_before_mb", "web_rss_connected_mb", "web_rss_peak_mb",
            "connect_seconds", "web_cpu_seconds")
    median = {key: statistics.median(r[key] for r in runs) for key in keys}
    correct = all(r["viewers_complete_in_order"] for r in runs)
    report = {"benchmark": "viewers", "machine": info, "config": cfg, "targets": TARGETS, "defaults": defaults,
              "median": median, "all_viewers_complete_in_order": correct, "runs": runs,
              "seconds": round(time.monotonic() - started, 1)}
    common.write_results(results, "viewers", report, summary(report))
    print(summary(report))
    return 0 if correct else 1


def summary(report: dict[str, Any]) -> str:
    m, med, t, cfg, d = report["machine"], report["median"], report["targets"], report["config"], report["defaults"]
    lines = [
        "# Many viewers benchmark",
        "",
        common.machine_line(m),
        "",
        f"With `gamma up`'s defaults (GAMMA_WEB_THREADS={DEFAULTS['GAMMA_WEB_THREADS']}, "
        f"GAMMA_WS_MAX_PER_PROCESS={DEFAULTS['GAMMA_WS_MAX_PER_PROCESS']}) one web process admitted "
        f"{d['admitted']} of {d['offered']} viewers"
        + (f"; the others got HTTP {d['refusal_status']} (try again later)" if d['admitted'] < d['offered'] else "")
        + f", and HTTP kept answering: {d['http_answers_meanwhile']}. Each open stream holds one gthread thread, so "
        f"{cfg['viewers']} viewers on one process need GAMMA_WEB_THREADS ≥ {cfg['viewers'] + 100} and "
        f"GAMMA_WS_MAX_PER_PROCESS={cfg['viewers']} (or more web processes: GAMMA_WEB_WORKERS).",
        "",
        f"Fan-out: one gunicorn web process (web.gunicorn_conf, {cfg['threads']} threads, "
        f"GAMMA_WS_MAX_PER_PROCESS={cfg['viewers']}), {cfg['viewers']} viewers in {cfg['viewer_processes']} client "
        f"processes (each from its own 127.0.0.x), one writer at {cfg['rate']} events/s for {cfg['seconds']} s "
        f"(~{cfg['pad'] + 100}-byte events). Latency = viewer receive − `BatchWriter.add()` in the writer.",
        "",
        f"Medians of {len(report['runs'])} runs (each on a fresh web):",
        "",
        *common.MEDIANS_TABLE,
        f"| Write → browser p50, {cfg['viewers']} viewers | {med['p50_ms']} ms | | |",
        f"| … p95 | {med['p95_ms']} ms | | |",
        f"| … p99 | {med['p99_ms']} ms | ≤ {t['p99_ms']} ms | {common.verdict(med['p99_ms'] <= t['p99_ms'])} |",
        f"| … max | {med['max_ms']} ms | | |",
        f"| Web RSS before any viewer | {med['web_rss_before_mb']} MB | | |",
        f"| … with {cfg['viewers']} viewers connected | {med['web_rss_connected_mb']} MB | | |",
        f"| … peak while streaming | {med['web_rss_peak_mb']} MB | | |",
        f"| Web CPU (user + system) over the run | {med['web_cpu_seconds']} s | | |",
        f"| Time to connect every viewer | {med['connect_seconds']} s | | |",
        "",
        f"Every viewer received every event exactly once, in cursor order: {report['all_viewers_complete_in_order']}.",
        "",
        "The hub frames each page of events once and writes it to every viewer whose stream writer is idle, "
        "without blocking (web.hub); a viewer that does not take it at once gets it through its own writer thread. "
        "Pages: per viewer and page, how each was delivered.",
        "",
        "| Run | samples | p50 ms | p95 ms | p99 ms | max ms | RSS before / connected / peak MB | threads | "
        "pages written by the hub / queued for writers | complete |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(report["runs"], 1):
        lines.append(f"| {n} | {r['samples']} | {common.latency_cells(r)} | "
                     f"{r['web_rss_before_mb']} / {r['web_rss_connected_mb']} / {r['web_rss_peak_mb']} | "
                     f"{r['web_threads_connected']} | {r.get('hub_pages_written')} / {r.get('hub_pages_queued')} | "
                     f"{r['viewers_complete_in_order']} |")
    return common.finish_summary(lines, report)


if __name__ == "__main__":
    sys.exit(main())
