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

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
import websocket  # noqa: E402

from bench.events import _pct, machine  # noqa: E402
from shared.config import Settings  # noqa: E402
from tests.support import factories  # noqa: E402
from tests.support.databases import scratch_database  # noqa: E402
from tests.support.processes import running, start_web  # noqa: E402
from tests.support.streams import wait_exit, writer_command  # noqa: E402

RESULTS = REPO / "bench" / "results"
CONFIG = {"runs": 3, "viewers": 300, "viewer_processes": 6, "threads": 400, "rate": 100, "seconds": 20, "pad": 300}
DEFAULTS = {"GAMMA_WEB_THREADS": Settings.model_fields["web_threads"].default,  # shared.config's defaults
            "GAMMA_WS_MAX_PER_PROCESS": Settings.model_fields["ws_max_per_process"].default}
TARGETS = {"p99_ms": 250}
MB = 2**20


# -- viewers (threads in processes of their own) ------------------------------------------------------------


def _connect(url: str, port: int, source: str, timeout: float) -> websocket.WebSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
    return websocket.create_connection(url, timeout=timeout, socket=sock, skip_utf8_validation=True)


def _view(url: str, port: int, source: str, total: int, ready: threading.Barrier, out: dict[str, Any]) -> None:
    latencies: list[float] = []
    cursor, seen, in_order = 0, 0, True
    try:
        ws = _connect(url, port, source, 120)
    except Exception as error:
        out.update(error=repr(error), refused=True, latencies=[], seen=0, in_order=False)
        with contextlib.suppress(threading.BrokenBarrierError):
            ready.wait()
        return
    try:
        while json.loads(ws.recv())["type"] != "live":  # a fresh team: nothing to replay
            pass
        ready.wait()
        while cursor < total:
            data = ws.recv()
            now = time.time()
            frame = json.loads(data)
            if frame["type"] != "events":
                continue
            for event in frame["events"]:
                in_order = in_order and event["cursor"] == cursor + 1
                cursor = event["cursor"]
                seen += 1
                latencies.append((now - event["payload"]["t"]) * 1000)
    except Exception as error:  # report it: the parent decides
        out["error"] = repr(error)
    finally:
        ws.close()
    out.update(latencies=latencies, seen=seen, in_order=in_order and seen == total)


def viewer_process(url: str, port: int, source: str, count: int, total: int, ready: Any, results: Any) -> None:
    barrier = threading.Barrier(count + 1)
    outs: list[dict[str, Any]] = [{} for _ in range(count)]
    threads = [threading.Thread(target=_view, args=(url, port, source, total, barrier, o), daemon=True)
               for o in outs]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=300)
    ready.put(True)
    for thread in threads:
        thread.join()
    results.put(outs)


class Viewers:
    """VIEWERS WebSockets in several processes, each from its own 127.0.0.x; entered once every one is live."""

    def __init__(self, url: str, port: int, viewers: int, processes: int, total: int) -> None:
        ctx = mp.get_context("spawn")
        self._ready, self._results = ctx.Queue(), ctx.Queue()
        split = [viewers // processes + (1 if p < viewers % processes else 0) for p in range(processes)]
        self._procs = [ctx.Process(target=viewer_process,
                                   args=(url, port, f"127.0.0.{11 + p}", n, total, self._ready, self._results),
                                   daemon=True) for p, n in enumerate(split)]

    def __enter__(self) -> Viewers:
        for proc in self._procs:
            proc.start()
        for _ in self._procs:
            self._ready.get(timeout=300)
        return self

    def collect(self, timeout: float) -> list[dict[str, Any]]:
        return [view for _ in self._procs for view in self._results.get(timeout=timeout)]

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


# -- the web's memory ---------------------------------------------------------------------------------------


def web_worker(master_pid: int) -> psutil.Process:
    """The gunicorn worker (the process holding the streams) under the master."""
    master = psutil.Process(master_pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = master.children()
        if children:
            return children[0]
        time.sleep(0.1)
    raise RuntimeError("no gunicorn worker")


class RssPeak:
    """Samples a process's RSS every `interval` seconds in a thread; `peak` is the highest seen."""

    def __init__(self, proc: psutil.Process, interval: float = 0.1) -> None:
        self._proc, self._interval = proc, interval
        self.peak = proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


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
        worker = web_worker(web.proc.pid)
        requests.get(f"{web.url}/api/teams/{team}/events?limit=1", timeout=30).raise_for_status()
        rss_before = worker.memory_info().rss
        url = f"{web.ws_url}/ws/teams/{team}?after=0"
        connect_started = time.monotonic()
        with Viewers(url, web.port, cfg["viewers"], cfg["viewer_processes"], total) as watching:
            connect_seconds = time.monotonic() - connect_started
            rss_connected = worker.memory_info().rss
            stats = requests.get(f"{web.url}/ws/stats", timeout=30).json()
            with RssPeak(worker) as rss:
                start_at = time.time() + 1.0
                with running(writer_command(team, 1, total, rate=cfg["rate"], tag="v", pad=cfg["pad"],
                                            start_at=start_at), env={"DATABASE_URL": database_url}) as writer:
                    wait_exit([writer], timeout=cfg["seconds"] * 10 + 60)
                seen = watching.collect(300)
            cpu = worker.cpu_times()
    samples = sorted(ms for v in seen for ms in v.get("latencies", []))
    return {
        "viewers": len(seen),
        "refused": sum(1 for v in seen if v.get("refused")),
        "events": total,
        "samples": len(samples),
        "p50_ms": round(_pct(samples, 50), 1),
        "p95_ms": round(_pct(samples, 95), 1),
        "p99_ms": round(_pct(samples, 99), 1),
        "max_ms": round(samples[-1], 1) if samples else None,
        "viewers_complete_in_order": len(seen) == cfg["viewers"] and all(v.get("in_order") for v in seen),
        "connect_seconds": round(connect_seconds, 1),
        "web_rss_before_mb": round(rss_before / MB, 1),
        "web_rss_connected_mb": round(rss_connected / MB, 1),
        "web_rss_peak_mb": round(rss.peak / MB, 1),
        "web_threads_connected": stats["threads"],
        "web_streams_connected": stats["streams"],
        "web_cpu_seconds": round(cpu.user + cpu.system, 1),
        "errors": sorted({v["error"] for v in seen if "error" in v})[:5],
    }


# -- driver -------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=CONFIG["runs"])
    parser.add_argument("--viewers", type=int, default=CONFIG["viewers"])
    parser.add_argument("--seconds", type=int, default=CONFIG["seconds"])
    args = parser.parse_args()
    cfg = {**CONFIG, "runs": args.runs, "viewers": args.viewers, "seconds": args.seconds,
           "threads": max(CONFIG["threads"], args.viewers + 100)}
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    with scratch_database("gamma_bench_viewers", os.environ.get("GAMMA_BENCH_DATABASE_URL")) as url:
        with psycopg.connect(url) as conn:
            info = machine(conn.info.server_version)
        defaults = admitted_with_defaults(url, cfg)
        print(f"defaults: {defaults}", flush=True)
        for n in range(cfg["runs"]):
            run = fan_out(url, cfg)
            runs.append(run)
            print(f"run {n + 1}: p50/p95/p99 {run['p50_ms']}/{run['p95_ms']}/{run['p99_ms']} ms, rss "
                  f"{run['web_rss_before_mb']}/{run['web_rss_connected_mb']}/{run['web_rss_peak_mb']} MB, "
                  f"complete {run['viewers_complete_in_order']} {run['errors']}", flush=True)
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    keys = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "web_rss_before_mb", "web_rss_connected_mb", "web_rss_peak_mb",
            "connect_seconds", "web_cpu_seconds")
    median = {key: statistics.median(r[key] for r in runs) for key in keys}
    correct = all(r["viewers_complete_in_order"] for r in runs)
    report = {"benchmark": "viewers", "machine": info, "config": cfg, "targets": TARGETS, "defaults": defaults,
              "median": median, "all_viewers_complete_in_order": correct, "runs": runs,
              "seconds": round(time.monotonic() - started, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "viewers.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "viewers.md").write_text(summary(report))
    print(summary(report))
    return 0 if correct else 1


def summary(report: dict[str, Any]) -> str:
    m, med, t, cfg, d = report["machine"], report["median"], report["targets"], report["config"], report["defaults"]

    def verdict(ok: bool) -> str:
        return "meets target" if ok else "MISSES target"

    lines = [
        "# Many viewers benchmark",
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), load average {m['load_avg_at_start']} at start and "
        f"{m['load_avg_at_end']} at the end, Python {m['python']}, PostgreSQL {m['postgresql']}. {m['note']}.",
        "",
        f"With `gamma up`'s defaults (GAMMA_WEB_THREADS={DEFAULTS['GAMMA_WEB_THREADS']}, "
        f"GAMMA_WS_MAX_PER_PROCESS={DEFAULTS['GAMMA_WS_MAX_PER_PROCESS']}) one web process admitted "
        f"{d['admitted']} of {d['offered']} viewers; the others got HTTP {d['refusal_status']} (try again later), "
        f"and HTTP kept answering: {d['http_answers_meanwhile']}. Each open stream holds one gthread thread, so "
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
        "| Measure | Median | Target | |",
        "|---|---|---|---|",
        f"| Write → browser p50, {cfg['viewers']} viewers | {med['p50_ms']} ms | | |",
        f"| … p95 | {med['p95_ms']} ms | | |",
        f"| … p99 | {med['p99_ms']} ms | ≤ {t['p99_ms']} ms | {verdict(med['p99_ms'] <= t['p99_ms'])} |",
        f"| … max | {med['max_ms']} ms | | |",
        f"| Web RSS before any viewer | {med['web_rss_before_mb']} MB | | |",
        f"| … with {cfg['viewers']} viewers connected | {med['web_rss_connected_mb']} MB | | |",
        f"| … peak while streaming | {med['web_rss_peak_mb']} MB | | |",
        f"| Web CPU (user + system) over the run | {med['web_cpu_seconds']} s | | |",
        f"| Time to connect every viewer | {med['connect_seconds']} s | | |",
        "",
        f"Every viewer received every event exactly once, in cursor order: {report['all_viewers_complete_in_order']}.",
        "",
        "| Run | samples | p50 ms | p95 ms | p99 ms | max ms | RSS before / connected / peak MB | threads | "
        "complete |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(report["runs"], 1):
        lines.append(f"| {n} | {r['samples']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['max_ms']} | "
                     f"{r['web_rss_before_mb']} / {r['web_rss_connected_mb']} / {r['web_rss_peak_mb']} | "
                     f"{r['web_threads_connected']} | {r['viewers_complete_in_order']} |")
    lines += ["", f"Total bench time: {report['seconds']} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
