"""Idle footprint of `gamma up`: memory of every backend process and the database connections they hold.

    nice -n 19 .venv/bin/python bench/footprint.py                (3 starts, measured 10 s after ready)
    nice -n 19 .venv/bin/python bench/footprint.py --late 120     (and again 2 minutes later: the steady idle)
    nice -n 19 .venv/bin/python bench/footprint.py --runs 1 --idle 3    (a quick check)

Each start runs `.venv/bin/gamma up` as a user would (defaults for everything but DATABASE_URL, GAMMA_HOME and
GAMMA_PORT; no `.env`), on a fresh scratch database on $GAMMA_BENCH_DATABASE_URL (an admin URL; else the
embedded test server under .gamma-test/pg) and a fresh GAMMA_HOME. Once `/api/health` answers with a live
worker, nothing touches the stack for `--idle` seconds; then it is measured:

- every process of `gamma up`'s tree (PostgreSQL excluded: with DATABASE_URL set there is none in it), with
  psutil: RSS, USS and PSS. RSS counts every shared page (the interpreter, libraries, and what a forked
  process still shares with its parent) once per process, so their sum overstates what the stack costs; PSS
  splits each shared page among its sharers and sums to the real cost; USS is what a process alone holds.
  The issue's target is on the RSS sum, so that is what is judged; PSS is reported beside it.
- every connection to the scratch database in pg_stat_activity (all of them come from the stack; the bench's
  own is excluded), with its state and application_name, and the process holding its client socket;
- the CPU time the tree spent meanwhile (user+system, PostgreSQL excluded), as % of one core.

Medians of the starts; results: bench/results/footprint.json and footprint.md.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from bench import common  # noqa: E402
from tests.support.databases import scratch_database  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

GAMMA = REPO / ".venv" / "bin" / "gamma"
TARGETS = {"rss_mb": 150, "idle_connections": 5}
READY_TIMEOUT = 180
BENCH_APPLICATION = "gamma-footprint-bench"
MB = 1024 * 1024


# -- starting and stopping `gamma up` ---------------------------------------------------------------------


def user_env(database_url: str, home: Path, port: int) -> dict[str, str]:
    """The environment of a user who set only these three: no other Gamma setting leaks in from ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMMA_") and k != "DATABASE_URL"}
    env.update(DATABASE_URL=database_url, GAMMA_HOME=str(home), GAMMA_PORT=str(port))
    return env


@contextlib.contextmanager
def gamma_up(database_url: str, log_dir: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    home, port = log_dir / "home", free_port()
    home.mkdir()
    log = open(log_dir / "gamma-up.log", "wb")  # noqa: SIM115 - closed below, after the process
    popen = subprocess.Popen([str(GAMMA), "up"], env=user_env(database_url, home, port), cwd=log_dir,
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield popen, f"http://127.0.0.1:{port}"
    finally:
        stop(popen)
        log.close()


def stop(popen: subprocess.Popen) -> None:
    """Ctrl-C as a user would (the workers hand back, then everything exits), SIGKILL to the group if it hangs."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(10)


def wait_ready(popen: subprocess.Popen, url: str, log_path: Path) -> float:
    """Seconds until the web answers and reports a live worker."""
    started = time.monotonic()
    while time.monotonic() - started < READY_TIMEOUT:
        if popen.poll() is not None:
            raise RuntimeError(f"gamma up exited with {popen.returncode}:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException, ValueError, KeyError):
            health = requests.get(url + "/api/health", timeout=5).json()
            if health["ok"] and health["workers"]["alive"] >= 1:
                return time.monotonic() - started
        time.sleep(0.5)
    raise RuntimeError(f"gamma up not ready after {READY_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")


# -- measuring -----------------------------------------------------------------------------------------------


def role_of(process: psutil.Process, root: int) -> str:
    """What a process of the tree is, from its command line and its parent's."""
    cmd = " ".join(process.cmdline())
    parent = process.parent()
    parent_cmd = " ".join(parent.cmdline()) if parent else ""
    if process.pid == root:
        return "gamma up (honcho manager)"
    if cmd == " ".join(psutil.Process(root).cmdline()):
        return "honcho wrapper (fork of gamma up)"
    if "gunicorn" in cmd:
        return "gunicorn worker" if "gunicorn" in parent_cmd else "gunicorn master"
    if "gamma worker" in cmd or "shared.launcher supervise" in cmd:
        return "gamma worker (supervisor)"
    if "workers.main" in cmd:
        return "worker process (Dramatiq's threads)"
    if "gamma db serve" in cmd:
        return "gamma db serve"
    return process.name()


def is_postgres(process: psutil.Process) -> bool:
    return process.name() in ("postgres", "postmaster", "pg_ctl")


def measure_processes(root: int) -> list[dict[str, Any]]:
    top = psutil.Process(root)
    found = []
    for process in [top, *top.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            if is_postgres(process) or process.status() == psutil.STATUS_ZOMBIE:
                continue
            memory = process.memory_full_info()
            found.append({
                "pid": process.pid, "ppid": process.ppid(), "role": role_of(process, root),
                "threads": process.num_threads(), "rss_mb": round(memory.rss / MB, 1),
                "uss_mb": round(memory.uss / MB, 1), "pss_mb": round(memory.pss / MB, 1),
                "client_ports": sorted({c.laddr.port for c in process.net_connections(kind="tcp")
                                        if c.raddr and c.status == psutil.CONN_ESTABLISHED}),
            })
    return found


def measure_connections(database_url: str, processes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The scratch database's connections but ours, each with the process of the tree holding its socket."""
    owner = {port: p for p in processes for port in p["client_ports"]}
    with psycopg.connect(database_url, application_name=BENCH_APPLICATION, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT pid, application_name, state, client_port, backend_type,"
            " left(regexp_replace(query, '\\s+', ' ', 'g'), 80) AS last_query,"
            " extract(epoch FROM now() - state_change) AS state_seconds"
            " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " ORDER BY application_name, client_port",
        ).fetchall()
    found = []
    for row in rows:
        holder = owner.get(row["client_port"])
        found.append({**row, "state_seconds": round(float(row["state_seconds"] or 0), 1),
                      "held_by": f"{holder['role']} (pid {holder['pid']})" if holder else "?"})
    return found


def tree_cpu_seconds(root: int) -> float:
    """User+system CPU seconds of `gamma up`'s tree so far (PostgreSQL excluded, as for the memory)."""
    total = 0.0
    top = psutil.Process(root)
    for process in (top, *top.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            if not is_postgres(process):
                times = process.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
    return total


def sample(root: int, database_url: str) -> dict[str, Any]:
    processes = measure_processes(root)
    connections = measure_connections(database_url, processes)
    return {
        "processes": len(processes),
        "rss_mb": round(sum(p["rss_mb"] for p in processes), 1),
        "pss_mb": round(sum(p["pss_mb"] for p in processes), 1),
        "uss_mb": round(sum(p["uss_mb"] for p in processes), 1),
        "threads": sum(p["threads"] for p in processes),
        "connections": len(connections),
        "idle_connections": sum(c["state"] == "idle" for c in connections),
        "process_list": processes,
        "connection_list": connections,
    }


def one_start(admin: str | None, idle: float, late: float) -> dict[str, Any]:
    with scratch_database("gamma_footprint", admin) as url, \
            tempfile.TemporaryDirectory(prefix="gamma-footprint-") as tmp:
        log_dir = Path(tmp)
        with gamma_up(url, log_dir) as (popen, web):
            ready = wait_ready(popen, web, log_dir / "gamma-up.log")
            cpu = tree_cpu_seconds(popen.pid)
            time.sleep(idle)
            # CPU while idle, in % of one core: what an idle stack costs the laptop it runs on (a consumer that
            # polls instead of waiting shows here first).
            spent = tree_cpu_seconds(popen.pid) - cpu
            run = {"ready_seconds": round(ready, 1), **sample(popen.pid, url),
                   "idle_cpu_percent": round(100 * spent / idle, 2)}
            if late:
                cpu = tree_cpu_seconds(popen.pid)
                time.sleep(late)  # the pools close what stayed unused for a whole period (shared/db.py)
                run["late"] = {**sample(popen.pid, url),
                               "idle_cpu_percent": round(100 * (tree_cpu_seconds(popen.pid) - cpu) / late, 2)}
    return run


# -- reporting -----------------------------------------------------------------------------------------------


def machine(admin: str | None) -> dict[str, Any]:
    from tests.support.databases import admin_url  # noqa: PLC0415

    with psycopg.connect(admin_url(admin)) as conn:
        version = conn.info.server_version
    return {
        "cpus": os.cpu_count(), "cpu_model": common.cpu_model(), "memory_mb": round(psutil.virtual_memory().total / MB),
        "load_avg_at_start": common.load_average(), "python": platform.python_version(),
        "postgresql": common.postgresql_version(version), "platform": platform.platform(),
    }


def summary(report: dict[str, Any]) -> str:
    m, med, t = report["machine"], report["median"], report["targets"]
    verdict = common.verdict
    last = report["runs"][-1]
    lines = [
        "# Idle footprint of `gamma up`",
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_mb']} MB, load average {m['load_avg_at_start']} "
        f"at start and {m['load_avg_at_end']} at the end, Python {m['python']}, PostgreSQL {m['postgresql']} "
        "(outside the stack: DATABASE_URL set).",
        "",
        f"`gamma up` with default settings, measured {report['config']['idle_seconds']} s after it was ready (web "
        f"answering, a worker alive); medians of {report['config']['runs']} starts:",
        "",
        *common.MEDIANS_TABLE,
        f"| RSS, all backend processes | {med['rss_mb']} MB | ≤ {t['rss_mb']} MB | "
        f"{verdict(med['rss_mb'] <= t['rss_mb'])} |",
        f"| PSS (shared pages split among sharers) | {med['pss_mb']} MB | | |",
        f"| USS (private to each process) | {med['uss_mb']} MB | | |",
        f"| Processes | {med['processes']} | | |",
        f"| Idle database connections | {med['idle_connections']} | ≤ {t['idle_connections']} | "
        f"{verdict(med['idle_connections'] <= t['idle_connections'])} |",
        f"| All database connections | {med['connections']} | | |",
        f"| CPU while idle (the first {report['config']['idle_seconds']:g} s after ready) | "
        f"{med['idle_cpu_percent']} % of a core | | |",
        f"| Seconds to ready | {med['ready_seconds']} | | |",
    ]
    if "late" in med:
        late, after = med["late"], report["config"]["idle_seconds"] + report["config"]["late_seconds"]
        lines += [
            f"| {after:.0f} s after ready: RSS / PSS | {late['rss_mb']} / {late['pss_mb']} MB | ≤ {t['rss_mb']} MB "
            f"(RSS) | {verdict(late['rss_mb'] <= t['rss_mb'])} |",
            f"| {after:.0f} s after ready: idle database connections | {late['idle_connections']} | "
            f"≤ {t['idle_connections']} | {verdict(late['idle_connections'] <= t['idle_connections'])} |",
            f"| CPU while idle, the {report['config']['late_seconds']:.0f} s before | {late['idle_cpu_percent']} % "
            "of a core | | |",
        ]
    lines += [
        "",
        "RSS counts a shared page once per process that maps it (the interpreter, and some 35 MB of libraries in "
        "each process that talks to the database: libpq, libssl and the drivers), so the sum overstates the cost; "
        "PSS is the honest sum. The target is on RSS, as the issue states it.",
        "",
        "| Start | RSS MB | PSS MB | USS MB | processes | threads | connections (idle) | ready s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, run in enumerate(report["runs"], 1):
        lines.append(f"| {n} | {run['rss_mb']} | {run['pss_mb']} | {run['uss_mb']} | {run['processes']} | "
                     f"{run['threads']} | {run['connections']} ({run['idle_connections']}) | {run['ready_seconds']} |")
    lines += ["", f"Processes of the last start (settings: {report['config']['settings']}):", "",
              "| pid | parent | role | threads | RSS MB | PSS MB | USS MB |", "|---|---|---|---|---|---|---|"]
    for p in last["process_list"]:
        lines.append(f"| {p['pid']} | {p['ppid']} | {p['role']} | {p['threads']} | {p['rss_mb']} | {p['pss_mb']} "
                     f"| {p['uss_mb']} |")
    samples = [("", last)] + ([(f" {report['config']['late_seconds']:.0f} s later", last["late"])]
                              if "late" in last else [])
    for when, taken in samples:
        lines += ["", f"Database connections of the last start{when}:", "",
                  "| application_name | state | held by | last query |", "|---|---|---|---|"]
        for c in taken["connection_list"]:
            query = (c["last_query"] or "").replace("|", "\\|")
            lines.append(f"| {c['application_name'] or '(none)'} | {c['state']} | {c['held_by']} | `{query}` |")
    return common.finish_summary(lines, report)


def effective_settings() -> dict[str, Any]:
    """The defaults `gamma up` ran with (what sizes the footprint)."""
    from shared.config import Settings  # noqa: PLC0415

    fields = ("web_workers", "web_threads", "worker_processes", "worker_threads", "db_pool_size")
    return {name: Settings.model_fields[name].default for name in fields}


def main() -> int:
    parser = common.options(__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds idle after ready, before measuring")
    parser.add_argument("--late", type=float, default=0.0,
                        help="then measure again after this many more seconds (0: not), the steady idle state")
    args = parser.parse_args()
    started = time.monotonic()
    admin = os.environ.get("GAMMA_BENCH_DATABASE_URL")
    info = machine(admin)
    runs = []
    for n in range(args.runs):
        run = one_start(admin, args.idle, args.late)
        runs.append(run)
        print(f"start {n + 1}: RSS {run['rss_mb']} MB, PSS {run['pss_mb']} MB, {run['processes']} processes, "
              f"{run['idle_connections']} idle of {run['connections']} connections", flush=True)
    keys = ("rss_mb", "pss_mb", "uss_mb", "processes", "threads", "connections", "idle_connections",
            "idle_cpu_percent", "ready_seconds")
    median = {key: statistics.median(run[key] for run in runs) for key in keys}
    if args.late:
        median["late"] = {key: statistics.median(run["late"][key] for run in runs) for key in keys[:-1]}
    info["load_avg_at_end"] = common.load_average()
    report = {
        "benchmark": "footprint", "machine": info,
        "config": {"runs": args.runs, "idle_seconds": args.idle, "late_seconds": args.late,
                   "settings": effective_settings()},
        "targets": TARGETS, "median": median,
        "meets_targets": {"rss_mb": median["rss_mb"] <= TARGETS["rss_mb"],
                          "idle_connections": median["idle_connections"] <= TARGETS["idle_connections"]},
        "runs": runs, "seconds": round(time.monotonic() - started, 1),
    }
    common.write_results(args.results, "footprint", report, summary(report), json_default=str)
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
