"""Health facts shared by `GET /api/health` and `gamma doctor`.

`clis` (the agent CLIs: found, version inside the tested range, logged in) is informational: it never makes the
report not ok, since a Gamma that only uses claude needs no codex. It is cached for a minute (workers/cli_status.py).
"""

from __future__ import annotations

from typing import Any

from shared import db, migrate

WORKER_ALIVE_SECONDS = 30


def check() -> dict[str, Any]:
    from workers import cli_status  # noqa: PLC0415 - asks the installed CLIs, only when a report is wanted

    report: dict[str, Any] = {"ok": False, "database": {"ok": False}, "migrations": {}, "workers": {},
                              "clis": [status.as_dict() for status in cli_status.statuses()]}
    try:
        with db.pool().connection() as conn:
            conn.execute("SELECT 1")
            report["database"] = {"ok": True}
            pending = [m.name for m in migrate.pending(conn)]
            report["migrations"] = {"ok": not pending, "pending": pending}
            broker = conn.execute("SELECT to_regclass('dramatiq.queue') IS NOT NULL AS ok").fetchone()
            report["broker"] = {"ok": bool(broker["ok"])}
            workers = conn.execute(
                "SELECT id, host, pid, threads, busy, sandbox, heartbeat_at FROM workers"
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
                "list": [{**w, "heartbeat_at": w["heartbeat_at"].isoformat()} for w in workers],
            }
    except Exception as error:  # the point of a health check is to report, not to raise
        report["database"] = {"ok": False, "error": str(error)}
        return report
    report["ok"] = report["database"]["ok"] and report["migrations"]["ok"] and report["broker"]["ok"]
    return report
