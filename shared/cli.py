"""The `gamma` command: up, web, worker, db serve|migrate|url, doctor."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from shared import host_checks
from shared.config import ConfigError, Settings, load_settings
from shared.launcher import exec_lean, up_arguments
from shared.logging import configure_logging
from shared.process_env import RESTARTED_BY_UP

DB_STOP_EXTRA_SECONDS = 15  # beyond the kill grace: how long the database waits for workers to hand back


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        print(f"gamma: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _database_url(settings: Settings) -> str:
    from shared import db
    from shared.embedded_pg import EmbeddedPostgresUnavailable

    try:
        return db.database_url()
    except EmbeddedPostgresUnavailable as error:
        print(f"gamma: {error}", file=sys.stderr)
        raise SystemExit(3) from None


def _migrate(settings: Settings) -> list[str]:
    from shared.migrate import migrate

    return migrate(_database_url(settings))


def _bin(name: str) -> str:
    """A console script of this environment (next to the running python), else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def cmd_db_serve(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.database_url:
        _tell("gamma db serve: DATABASE_URL is set; the embedded server is not needed. Idling.")
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return 0
    from shared import embedded_pg

    url = _database_url(settings)
    _tell(f"embedded PostgreSQL running: {url}")
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    # Under `gamma up` everything is told to stop at once; workers need the database to hand their runs back.
    left = embedded_pg.wait_for_clients_to_leave(url, timeout=settings.kill_grace + DB_STOP_EXTRA_SECONDS)
    if left:
        _tell(f"stopping embedded PostgreSQL with {left} client(s) still connected")
    else:
        _tell("stopping embedded PostgreSQL")
    embedded_pg.stop(settings.pg_data_dir)
    return 0


def _tell(message: str) -> None:
    """Print, also when whoever read our output is gone (`gamma up` killed): stopping must go on regardless."""
    try:
        print(message, flush=True)
    except OSError:
        pass


def cmd_db_migrate(args: argparse.Namespace) -> int:
    applied = _migrate(_settings())
    print("applied: " + ", ".join(applied) if applied else "migrations are current")
    return 0


def cmd_db_url(args: argparse.Namespace) -> int:
    print(_database_url(_settings()))
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    settings = _settings()
    if not settings.binds_loopback and not settings.api_token:
        print(f"gamma web: GAMMA_HOST={settings.host} is not a loopback address; set GAMMA_API_TOKEN to a long "
              "random secret before exposing Gamma to the network.", file=sys.stderr)
        return 2
    _migrate(settings)
    argv = [
        _bin("gunicorn"),
        "--config", "python:web.gunicorn_conf",
        "--bind", f"{settings.host}:{settings.port}",
        "--workers", str(settings.web_workers),
        "--threads", str(settings.web_threads),
        "web.wsgi:app",
    ]
    os.execvp(argv[0], argv)
    return 0  # not reached


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.database_url is None and not host_checks.is_loopback_url(settings.agent_api_url):
        # The web is on another host, so this is a worker host: an embedded database of its own would be one no
        # run ever reaches, and the worker would wait on it for ever.
        print("gamma worker: GAMMA_API_URL names another host's web but DATABASE_URL is unset: set DATABASE_URL to "
              "the database the web uses (docs/multi-host.md)", file=sys.stderr)
        return 2
    _migrate(settings)
    env = dict(os.environ)
    # Prefetch = threads: a busy process must not hoard runs another process could start.
    env.setdefault("dramatiq_queue_prefetch", str(settings.worker_threads))
    argv = [
        sys.executable, "-m", "workers.main",
        "--threads", str(settings.worker_threads),
        "--shutdown-timeout", f"{settings.kill_grace + 5:g}",
    ]
    copies = args.processes or settings.worker_processes
    if copies == 1 and env.pop(RESTARTED_BY_UP, None):
        # `gamma up` starts it again when it dies: this process becomes the worker process (same pid).
        sys.stdout.flush()
        os.execve(sys.executable, argv, env)
    # Each worker process is started again when it dies, by a lean supervisor (this process, replaced), so the web
    # stays up meanwhile.
    exec_lean(["supervise", "--name=the worker process", f"--copies={copies}", f"--log-level={settings.log_level}",
               "--", *argv], env)


def cmd_up(args: argparse.Namespace) -> int:
    settings = _settings()
    processes = ["web", "worker"] if settings.database_url else ["db", "web", "worker"]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    # The embedded server is started here, once, and only `gamma db serve` (which stops it last) manages it: the
    # web and the workers get its URL, so none of them can start a server of its own — for instance while
    # everything is stopping and the database is already gone, which left a postgres behind `gamma up`.
    cleared: dict[str, list[str]] = {}
    if not settings.database_url:
        env["DATABASE_URL"] = _database_url(settings)  # start (or fail clearly) before the others race for it
        cleared = {"db": ["DATABASE_URL"]}
    _migrate(settings)
    env.setdefault("PYTHONUNBUFFERED", "1")
    stop_timeout = settings.kill_grace + DB_STOP_EXTRA_SECONDS + 10
    exec_lean(up_arguments(processes, stop_timeout=stop_timeout, host=settings.host, port=settings.port,
                           cleared=cleared, restart=["worker"]), env)


def cmd_doctor(args: argparse.Namespace) -> int:
    settings = _settings()
    checks: list[tuple[str, bool | None, str]] = []
    # The web as this host's agents (and, on another host than the web's, its git transfers) reach it.
    web: tuple[str, bool | None, str] = (
        "web reachable", *host_checks.web_status(settings.agent_api_url, configured=settings.api_url is not None))
    try:
        url = _database_url(settings)
        checks.append(("database reachable", True, _redact(url)))
    except SystemExit:
        checks.append(("database reachable", False, "see the error above"))
        return _report([*checks, web], args.json)
    if settings.database_url is None and not host_checks.is_loopback_url(settings.agent_api_url):
        # Web and workers on several hosts, yet this host uses its own embedded server, which only it reaches (a
        # Unix socket): on a worker host that is a private database no run ever reaches.
        checks.append(("database shared with other hosts", None,
                       "DATABASE_URL is unset, so this host uses the embedded PostgreSQL, which only this host "
                       "reaches; with workers on other hosts set DATABASE_URL to a server every host reaches, the "
                       "same on all of them (docs/multi-host.md)"))
    from shared import health

    report = health.check()
    db_ok = report["database"]["ok"]
    checks.append(("database answers", db_ok, report["database"].get("error", "")))
    if db_ok:
        pending = report["migrations"]["pending"]
        checks.append(("migrations current", not pending, f"pending: {', '.join(pending)}" if pending else ""))
        checks.append(("broker schema present", report["broker"]["ok"], "dramatiq.queue"))
        workers = report["workers"]
        checks.append(
            ("workers alive", workers["ok"], f"{workers['alive']} process(es), {workers['threads']} threads")
        )
    checks.append(web)
    for status in _local_clis():
        checks += _cli_checks(status, needed=status["backend"] == settings.backend)
    sandboxed, sandbox_note = host_checks.sandbox_status(settings)
    checks.append(("agent sandbox", sandboxed, sandbox_note))
    checks.append(("git", *host_checks.git_status()))
    return _report(checks, args.json)


def _local_clis() -> list[dict]:
    """This host's agent CLIs, as a worker here sees them (asked in a child process: the CLIs belong to the
    workers' side, which this launcher only starts)."""
    done = subprocess.run([sys.executable, "-m", "workers.cli_status"], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"gamma doctor: could not ask the agent CLIs: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def _cli_checks(status: dict, *, needed: bool) -> list[tuple[str, bool | None, str]]:
    """found / version tested / logged in, for one agent CLI. A CLI that is not the default backend's is optional:
    its problems are warnings (None), not failures."""
    name = status["backend"]
    bad: bool | None = False if needed else None
    if not status["found"]:
        return [(f"{name} CLI found", bad, status["path_or_error"] + ("" if needed else " (optional)"))]
    oldest, newest = status["tested_range"]
    tested = status["version_tested"]
    checks: list[tuple[str, bool | None, str]] = [
        (f"{name} CLI found", True, f"{status['path_or_error']}: {status['version'] or 'version unknown'}"),
        (f"{name} CLI version tested", True if tested else None,
         f"{status['version']} within {oldest} … {newest}" if tested else
         status["version_warning"] or f"version unknown; tested {oldest} … {newest}"),
    ]
    logged_in = status["logged_in"]
    checks.append((f"{name} CLI logged in", True if logged_in else (bad if logged_in is False else None),
                   status["auth"]))
    return checks


def _report(checks: list[tuple[str, bool | None, str]], as_json: bool) -> int:
    """ok (True), WARN (None: reported, not failing) or FAIL (False); the exit code is 1 when anything failed."""
    if as_json:
        print(json.dumps([{"check": c, "ok": ok is not False, "warning": ok is None, "detail": d}
                          for c, ok, d in checks], indent=2))
    else:
        for check, ok, detail in checks:
            word = {True: "ok  ", None: "WARN", False: "FAIL"}[ok]
            print(f"  {word}  {check}" + (f"  ({detail})" if detail else ""))
    return 0 if all(ok is not False for _, ok, _ in checks) else 1


def _redact(url: str) -> str:
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(url)
    if info.get("password"):
        info["password"] = "***"
    return psycopg.conninfo.make_conninfo(**info)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gamma", description="Run a team of AI coding agents.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start PostgreSQL (if needed), web and workers").set_defaults(func=cmd_up)
    sub.add_parser("web", help="run the web server (gunicorn)").set_defaults(func=cmd_web)
    worker = sub.add_parser("worker", help="run agent workers (dramatiq)")
    worker.add_argument("--processes", type=int, default=None)
    worker.set_defaults(func=cmd_worker)
    dbp = sub.add_parser("db", help="database commands").add_subparsers(dest="db_command", required=True)
    dbp.add_parser("serve", help="run the embedded PostgreSQL in the foreground").set_defaults(func=cmd_db_serve)
    dbp.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_db_migrate)
    dbp.add_parser("url", help="print the database URL").set_defaults(func=cmd_db_url)
    doctor = sub.add_parser("doctor", help="report what works and what does not")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(_settings().log_level)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
