"""Health facts shared by `GET /api/health` and `gamma doctor`.

`host` is the web host's own: git (the team repositories live there) and the free disk under GAMMA_HOME.
`clis` (the agent CLIs: found, version inside the tested range, logged in, per host) is what each live worker
found on its host when it started (workers/cli_status.py): the CLIs matter where the agents run. It is
informational: it never makes the report not ok, since a Gamma that only uses claude needs no codex.
"""

from __future__ import annotations

import shutil
from typing import Any

from shared import db, host_checks, migrate
from shared.config import get_settings

WORKER_ALIVE_SECONDS = 30


LOW_DISK_BYTES = 1024**3  # below 1 GiB free where the workspaces live, the doctor warns


def host() -> dict[str, Any]:
    """This host's facts (the web's): git for the team repositories, and the disk that holds the workspaces."""
    git_ok, git_detail = host_checks.git_status()
    home = get_settings().home.expanduser()
    probe = home if home.exists() else home.parent
    usage = shutil.disk_usage(probe)
    return {"git": {"ok": git_ok, "detail": git_detail},
            "disk": {"ok": usage.free >= LOW_DISK_BYTES, "path": str(home), "free_bytes": usage.free,
                     "total_bytes": usage.total}}


def check() -> dict[str, Any]:
    report: dict[str, Any] = {"ok": False, "database": {"ok": False}, "migrations": {}, "workers": {}, "clis": [],
                              "host": host()}
    try:
        with db.pool().connection() as conn:
            conn.execute("SELECT 1")
            report["database"] = {"ok": True}
            pending = [m.name for m in migrate.pending(conn)]
            report["migrations"] = {"ok": not pending, "pending": pending}
            broker = conn.execute("SELECT to_regclass('dramatiq.queue') IS NOT NULL AS ok").fetchone()
            report["broker"] = {"ok": bool(broker["ok"])}
            workers = conn.execute(
                "SELECT id, host, pid, threads, busy, sandbox, heartbeat_at, clis, worker_labels FROM workers"
                " WHERE stopped_at IS NULL AND heartbeat_at > now() - make_interval(secs => %s)"
                " ORDER BY started_at",
                (WORKER_ALIVE_SECONDS,),
            ).fetchall()
            report["workers"] = {
                "ok": bool(workers),
                "alive": len(workers),
                "threads": sum(w["threads"] for w in workers),
                "busy": sum(w["busy"] for w in workers),
                "unsandboxed": [w["id"] for w in workers if (w["sandbox"] or "NONE").startswith("NONE")],
                "list": [{**{k: v for k, v in w.items() if k != "clis"},
                          "heartbeat_at": w["heartbeat_at"].isoformat()} for w in workers],
            }
            report["clis"] = clis_by_host(workers)
    except Exception as error:  # the point of a health check is to report, not to raise
        report["database"] = {"ok": False, "error": str(error)}
        return report
    report["ok"] = report["database"]["ok"] and report["migrations"]["ok"] and report["broker"]["ok"]
    return report


def clis_by_host(workers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each host's CLI facts once, as its newest worker found them (a CLI installed or upgraded since an older
    worker started shows as it is now), the host named in each entry. `workers` come oldest first."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for worker in reversed(workers):
        for status in worker["clis"] or []:
            seen.setdefault((worker["host"], status["backend"]),
                            {**status, "host": worker["host"], "worker_id": worker["id"]})
    return [seen[key] for key in sorted(seen)]
