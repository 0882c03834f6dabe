"""What the benchmark scripts share: the machine they ran on, the scratch database, percentiles, the verdict on a
target, writing bench/results/<name>.json and .md, the web worker's memory, and viewer processes that watch
WebSockets in threads.

The scripts put the repository on sys.path before they import this module (they run as `python bench/<x>.py`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg

from tests.support.databases import scratch_database

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
SHARED_MACHINE = ("shared machine: other test suites may run at the same time; viewers, writers, PostgreSQL and the "
                  "web all share these CPUs")
MB = 2**20
# The head of a summary's table of medians against targets.
MEDIANS_TABLE = ["| Measure | Median | Target | |", "|---|---|---|---|"]


# -- the machine ----------------------------------------------------------------------------------------------


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        return next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), "")
    return ""


def postgresql_version(server_version: int) -> str:
    return f"{server_version // 10000}.{server_version % 10000}"


def machine(server_version: int, note: str = SHARED_MACHINE) -> dict[str, Any]:
    """The machine and the load average at the start; the caller adds `load_avg_at_end` when done."""
    return {
        "cpus": os.cpu_count(), "cpu_model": cpu_model(), "load_avg_at_start": load_average(),
        "python": platform.python_version(), "postgresql": postgresql_version(server_version),
        "platform": platform.platform(), "note": note,
    }


def machine_of(database_url: str, note: str = SHARED_MACHINE) -> dict[str, Any]:
    with psycopg.connect(database_url) as conn:
        return machine(conn.info.server_version, note)


def machine_line(m: dict[str, Any]) -> str:
    """The summary's sentence about the machine (from `machine`, with `load_avg_at_end`)."""
    return (f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), load average {m['load_avg_at_start']} at start and "
            f"{m['load_avg_at_end']} at the end, Python {m['python']}, PostgreSQL {m['postgresql']}. {m['note']}.")


# -- the database and the results -----------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(name: str) -> Iterator[str]:
    """A scratch database on $GAMMA_BENCH_DATABASE_URL (an admin URL), else the embedded test server; dropped after."""
    with scratch_database(name, os.environ.get("GAMMA_BENCH_DATABASE_URL")) as url:
        yield url


def options(doc: str, config: dict[str, Any] | None = None, names: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """A parser with `--results DIR` and, for each of `names`, `--<name>` defaulting to (and typed as) config's."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name in names:
        default = (config or {})[name]
        parser.add_argument(f"--{name}", type=type(default), default=default)
    parser.add_argument("--results", type=Path, default=RESULTS, metavar="DIR",
                        help="the folder the results are written to (default bench/results)")
    return parser


def parse_config(doc: str, config: dict[str, Any], names: tuple[str, ...]) -> tuple[dict[str, Any], Path]:
    """`config` with the command line's values for `names` (see `options`), and the results' folder."""
    args = options(doc, config, names).parse_args()
    return {**config, **{name: getattr(args, name) for name in names}}, args.results


def write_results(directory: Path, name: str, report: dict[str, Any], markdown: str,
                  json_default: Callable[[Any], Any] | None = None) -> None:
    """`<name>.json` (the report) and `<name>.md` (its summary) in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(report, indent=2, default=json_default) + "\n")
    (directory / f"{name}.md").write_text(markdown)


def finish_summary(lines: list[str], report: dict[str, Any]) -> str:
    """A summary's markdown: its lines, then the total bench time."""
    return "\n".join([*lines, "", f"Total bench time: {report['seconds']} s.", ""])


# -- figures --------------------------------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile of sorted `samples` (nearest rank, no interpolation); NaN when there are none."""
    if not samples:
        return float("nan")
    return samples[min(len(samples) - 1, int(len(samples) * p / 100))]


def latency_ms(samples: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max of sorted millisecond `samples`, rounded to 0.1 ms."""
    return {"p50_ms": round(percentile(samples, 50), 1), "p95_ms": round(percentile(samples, 95), 1),
            "p99_ms": round(percentile(samples, 99), 1), "max_ms": round(samples[-1], 1) if samples else None}


def latency_cells(figures: dict[str, Any]) -> str:
    """The p50, p95, p99 and max cells of a per-run table row (from `latency_ms`)."""
    return f"{figures['p50_ms']} | {figures['p95_ms']} | {figures['p99_ms']} | {figures['max_ms']}"


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


# -- the web worker's memory ----------------------------------------------------------------------------------


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


# -- viewers: WebSockets in threads, in processes of their own ------------------------------------------------


class TeamFeed:
    """A viewer's reading of a team stream (`/ws/teams/<id>`): each event must come next in cursor order."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.cursor, self.seen, self.in_order = 0, 0, True

    def wait_live(self) -> None:
        """Read up to the `live` frame; the events start after the cursor the `hello` frame names."""
        while True:
            frame = json.loads(self.ws.recv())
            if frame["type"] == "hello":
                self.cursor = frame["after"]
            if frame["type"] == "live":
                return

    def batches(self) -> Iterator[tuple[float, list[dict[str, Any]]]]:
        """Each `events` frame's events with the time.time() it was received, counted and checked for order."""
        while True:
            data = self.ws.recv()
            now = time.time()
            frame = json.loads(data)
            if frame["type"] != "events":
                continue
            for event in frame["events"]:
                self.in_order = self.in_order and event["cursor"] == self.cursor + 1
                self.cursor = event["cursor"]
                self.seen += 1
            yield now, frame["events"]

    def follow(self, ready: threading.Barrier, out: dict[str, Any],
               take: Callable[[float, list[dict[str, Any]]], bool]) -> None:
        """Wait for live, then on `ready`, then give each batch to `take` until it says it has all; an error goes
        to out["error"] (the parent decides). Closes the socket."""
        try:
            self.wait_live()
            ready.wait()
            for now, batch in self.batches():
                if take(now, batch):
                    break
        except Exception as error:
            out["error"] = repr(error)
        finally:
            self.ws.close()


# A viewer: view(*args, ready, out) connects, waits on `ready` (a barrier) once live, then fills `out`.
View = Callable[..., None]


def watch_in_threads(view: View, args_per_viewer: list[tuple[Any, ...]], barrier_timeout: float,
                     daemon: bool, ready: Any, results: Any) -> None:
    """One viewer process: a thread per viewer; puts True on `ready` once all are live, then their outs on
    `results`."""
    barrier = threading.Barrier(len(args_per_viewer) + 1)
    outs: list[dict[str, Any]] = [{} for _ in args_per_viewer]
    threads = [threading.Thread(target=view, args=(*args, barrier, out), daemon=daemon)
               for args, out in zip(args_per_viewer, outs, strict=True)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=barrier_timeout)
    ready.put(True)
    for thread in threads:
        thread.join()
    results.put(outs)


class Viewers:
    """Viewer processes (spawned), each holding some viewers in threads; entered once every viewer is live.

    `args_per_process[p]` lists the arguments of each of process p's viewers; `view` must be a module-level
    function (it is pickled into the processes)."""

    def __init__(self, view: View, args_per_process: list[list[tuple[Any, ...]]], *, ready_timeout: float = 120,
                 barrier_timeout: float = 60, daemon_threads: bool = False) -> None:
        ctx = mp.get_context("spawn")
        self._ready, self._results = ctx.Queue(), ctx.Queue()
        self._ready_timeout = ready_timeout
        self._procs = [ctx.Process(target=watch_in_threads,
                                   args=(view, args, barrier_timeout, daemon_threads, self._ready, self._results),
                                   daemon=True) for args in args_per_process]

    def __enter__(self) -> Viewers:
        for proc in self._procs:
            proc.start()
        try:
            for _ in self._procs:
                self._ready.get(timeout=self._ready_timeout)
        except BaseException:
            self.__exit__()
            raise
        return self

    def collect(self, timeout: float) -> list[dict[str, Any]]:
        """Every viewer's out, process by process in the order they finish."""
        return [view for _ in self._procs for view in self._results.get(timeout=timeout)]

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
