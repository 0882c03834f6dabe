"""Cost as the work grows: a team with 100,000 events and a team with 200 tasks, against a real gunicorn web.

    .venv/bin/python bench/scale.py [--runs N] [--events N] [--tasks N]

Seeding (once): a team made through the API (a demo lead and 3 members) gets EVENTS events through the product's
own writer (`shared.events.append`, the executemany the BatchWriter uses, 2,000 a transaction), shaped as runs
write them: per run `run.started`, `agent.init`, then turns of `agent.thinking`, `agent.text`, `agent.tool_use`
(a Bash command) and `agent.tool_result` (~1.5 KB of output), and `run.finished`. A second team gets TASKS tasks
through `POST /api/teams/<id>/tasks` (each queues a run for its assignee; no worker runs them).

Measured, each on a fresh web (one gunicorn gthread worker; its RSS sampled every 50 ms):
- replay: a WebSocket client on `/ws/teams/<id>?after=0` until the `live` frame — time, events, web RSS growth;
- trace: the trace page's first page, `GET /api/events?order=newest&limit=500` (its default), and the team log's
  `GET /api/teams/<id>/events?limit=500` — median time of TRACE_REQUESTS;
- export: `GET /api/teams/<id>/events.jsonl` and the trace's `GET /api/events.jsonl` read to the end — time,
  bytes, web RSS peak growth (it must stream, not hold the log);
- board: `GET /api/teams/<id>/tasks` of the 200-task team — median of BOARD_REQUESTS (target ≤ 100 ms).

Database: a scratch database on $GAMMA_BENCH_DATABASE_URL (an admin URL), else the embedded test server under
.gamma-test/pg; dropped at the end. Results: bench/results/scale.json and scale.md (medians of the runs).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
import requests  # noqa: E402
import websocket  # noqa: E402

from bench import common  # noqa: E402
from shared import db, events  # noqa: E402
from shared.events import NewEvent  # noqa: E402
from shared.ids import new_id  # noqa: E402
from tests.support.processes import Web, start_web  # noqa: E402

CONFIG = {"runs": 3, "events": 100_000, "tasks": 200, "events_per_run": 100, "seed_batch": 2000}
TRACE_REQUESTS = 10
BOARD_REQUESTS = 50
TARGETS = {"board_ms": 100}
MB = common.MB
OUTPUT = "".join(f"{n:>6}  src/module_{n % 37}.py: ok, {n * 7 % 1000} lines checked\n" for n in range(30))


# -- seeding ------------------------------------------------------------------------------------------------


def _team(web: Web, name: str, members: int) -> dict[str, Any]:
    body = {"name": name, "lead": {"name": "Lead", "backend": "demo"},
            "members": [{"name": f"Agent {i}", "role_id": "engineering/backend-architect", "backend": "demo"}
                        for i in range(members)]}
    response = requests.post(web.url + "/api/teams", json=body, timeout=60)
    response.raise_for_status()
    return response.json()


def _run_events(team_id: str, agent_id: str, count: int) -> Iterator[NewEvent]:
    """One run's events, as the executor and the stream parser write them."""
    run_id = new_id("run")

    def event(kind: str, payload: dict[str, Any]) -> NewEvent:
        return NewEvent(kind, team_id, payload, agent_id=agent_id, run_id=run_id)

    yield event("run.started", {"attempt": 1, "backend": "demo", "pid": 4242, "cli_version": "2.1.332"})
    yield event("agent.init", {"session_id": new_id("evt"), "model": "claude-sonnet", "tools": ["Bash", "Write"],
                               "cwd": "/work/project", "permission_mode": "bypassPermissions"})
    for turn in range((count - 3) // 4):
        tool = f"toolu_01{turn:022d}"
        yield event("agent.thinking", {"text": f"Turn {turn}: the failing check is in module {turn % 37}; "
                                               "look at its imports and the test that covers it first. " * 2})
        yield event("agent.text", {"text": f"I'll run the checks for module {turn % 37} and read what fails. "
                                           "Then I fix the smallest thing that makes it pass, and run them again."})
        yield event("agent.tool_use", {"tool_use_id": tool, "name": "Bash", "input": {
            "command": f"cd project && python -m pytest tests/test_module_{turn % 37}.py -x -q",
            "description": "Run the module's tests"}})
        yield event("agent.tool_result", {"tool_use_id": tool, "name": "Bash", "content": OUTPUT, "is_error": False})
    yield event("run.finished", {"state": "succeeded", "outcome": "success", "exit_code": 0, "duration_ms": 81234,
                                 "usage": {"input_tokens": 51234, "output_tokens": 4321}, "cost_usd": 0.4211})


def seed_events(team: dict[str, Any], total: int, per_run: int, batch: int) -> float:
    agents = [m["id"] for m in team["members"]]
    started = time.monotonic()
    pending: list[NewEvent] = []
    written, run = 0, 0
    while written < total:
        for ev in _run_events(team["id"], agents[run % len(agents)], min(per_run, total - written)):
            pending.append(ev)
            if len(pending) >= batch or written + len(pending) >= total:
                with db.transaction() as conn:
                    events.append(conn, pending)
                written += len(pending)
                pending = []
            if written >= total:
                break
        run += 1
    return time.monotonic() - started


def seed_tasks(web: Web, team: dict[str, Any], count: int) -> float:
    names = [m["name"] for m in team["members"] if not m["is_lead"]]
    started = time.monotonic()
    for n in range(count):
        body = {"title": f"Task {n}: part {n % 17} of the goal", "assignee": names[n % len(names)],
                "description": f"Build part {n % 17}; see the plan. " * 5, "priority": n % 5}
        requests.post(f"{web.url}/api/teams/{team['id']}/tasks", json=body, timeout=60).raise_for_status()
    return time.monotonic() - started


# -- measures -----------------------------------------------------------------------------------------------


def _with_rss(web: Web, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    worker = common.web_worker(web.proc.pid)
    requests.get(f"{web.url}/api/health", timeout=30)
    before = worker.memory_info().rss
    with common.RssPeak(worker, interval=0.05) as rss:
        started = time.monotonic()
        result = action()
        seconds = time.monotonic() - started
    return {**result, "seconds": round(seconds, 3), "rss_before_mb": round(before / MB, 1),
            "rss_peak_mb": round(rss.peak / MB, 1), "rss_growth_mb": round((rss.peak - before) / MB, 1)}


def replay(web: Web, team_id: str) -> dict[str, Any]:
    def action() -> dict[str, Any]:
        ws = websocket.create_connection(f"{web.ws_url}/ws/teams/{team_id}?after=0", timeout=120,
                                         skip_utf8_validation=True)
        received, cursor, in_order, first_ms = 0, 0, True, None
        started = time.monotonic()
        try:
            while True:
                frame = json.loads(ws.recv())
                if frame["type"] == "live":
                    break
                if frame["type"] == "events":
                    if first_ms is None:
                        first_ms = (time.monotonic() - started) * 1000
                    for event in frame["events"]:
                        in_order = in_order and event["cursor"] == cursor + 1
                        cursor = event["cursor"]
                        received += 1
        finally:
            ws.close()
        return {"events": received, "in_order": in_order, "first_frame_ms": round(first_ms or 0, 1)}

    return _with_rss(web, action)


def timed_gets(url: str, count: int) -> dict[str, Any]:
    times, size = [], 0
    with requests.Session() as session:
        for _ in range(count):
            started = time.monotonic()
            response = session.get(url, timeout=60)
            times.append((time.monotonic() - started) * 1000)
            response.raise_for_status()
            size = len(response.content)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1), "bytes": size,
            "requests": count}


def export(web: Web, path: str) -> dict[str, Any]:
    def action() -> dict[str, Any]:
        lines, size = 0, 0
        with requests.get(web.url + path, stream=True, timeout=300) as response:
            response.raise_for_status()
            for chunk in response.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
                lines += chunk.count(b"\n")
        return {"lines": lines, "mb": round(size / MB, 1)}

    return _with_rss(web, action)


def one_run(url: str, big: dict[str, Any], board: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with start_web(url) as web:
        result["replay"] = replay(web, big["id"])
    with start_web(url) as web:
        result["trace_first_page"] = _with_rss(web, lambda: timed_gets(
            f"{web.url}/api/events?order=newest&limit=500", TRACE_REQUESTS))
        result["trace_oldest_first_page"] = timed_gets(f"{web.url}/api/events?order=oldest&limit=500", TRACE_REQUESTS)
        result["team_log_first_page"] = timed_gets(f"{web.url}/api/teams/{big['id']}/events?limit=500",
                                                   TRACE_REQUESTS)
    with start_web(url) as web:
        result["team_export"] = export(web, f"/api/teams/{big['id']}/events.jsonl")
    with start_web(url) as web:
        result["trace_export"] = export(web, "/api/events.jsonl")
    with start_web(url) as web:
        result["board"] = timed_gets(f"{web.url}/api/teams/{board['id']}/tasks", BOARD_REQUESTS)
    return result


# -- driver -------------------------------------------------------------------------------------------------


def main() -> int:
    cfg, results = common.parse_config(__doc__, CONFIG, ("runs", "events", "tasks"))
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    with common.bench_database("gamma_bench_scale") as url:
        info = common.machine_of(url)
        with start_web(url) as web:
            big = _team(web, "bench scale events", 3)
            board = _team(web, "bench scale board", 8)
            seeding = {"events_seconds": round(seed_events(big, cfg["events"], cfg["events_per_run"],
                                                           cfg["seed_batch"]), 1),
                       "tasks_seconds": round(seed_tasks(web, board, cfg["tasks"]), 1)}
        with psycopg.connect(url) as conn:
            seeding["events_table_mb"] = round(conn.execute(
                "SELECT pg_total_relation_size('events')").fetchone()[0] / MB, 1)
            # The team's own events (team.created, agent.created, …) come on top of the seeded ones.
            seeding["team_events"] = conn.execute("SELECT count(*) FROM events WHERE team_id = %s",
                                                  (big["id"],)).fetchone()[0]
        print(f"seeded: {seeding}", flush=True)
        for n in range(cfg["runs"]):
            run = one_run(url, big, board)
            runs.append(run)
            print(f"run {n + 1}: replay {run['replay']['seconds']} s, trace page "
                  f"{run['trace_first_page']['median_ms']} ms, export {run['team_export']['seconds']} s "
                  f"(+{run['team_export']['rss_growth_mb']} MB), board {run['board']['median_ms']} ms", flush=True)
    info["load_avg_at_end"] = common.load_average()

    def med(part: str, key: str) -> float:
        return statistics.median(r[part][key] for r in runs)

    median = {
        "replay_seconds": med("replay", "seconds"), "replay_rss_growth_mb": med("replay", "rss_growth_mb"),
        "replay_first_frame_ms": med("replay", "first_frame_ms"),
        "trace_first_page_ms": med("trace_first_page", "median_ms"),
        "trace_oldest_first_page_ms": med("trace_oldest_first_page", "median_ms"),
        "trace_rss_growth_mb": med("trace_first_page", "rss_growth_mb"),
        "team_log_first_page_ms": med("team_log_first_page", "median_ms"),
        "team_export_seconds": med("team_export", "seconds"), "team_export_rss_growth_mb": med("team_export",
                                                                                              "rss_growth_mb"),
        "trace_export_seconds": med("trace_export", "seconds"),
        "trace_export_rss_growth_mb": med("trace_export", "rss_growth_mb"),
        "board_ms": med("board", "median_ms"),
    }
    correct = all(r["replay"]["in_order"] and r["replay"]["events"] == seeding["team_events"]
                  and r["team_export"]["lines"] == seeding["team_events"] for r in runs)
    report = {"benchmark": "scale", "machine": info, "config": cfg, "targets": TARGETS, "seeding": seeding,
              "median": median, "complete": correct, "runs": runs, "seconds": round(time.monotonic() - started, 1)}
    common.write_results(results, "scale", report, summary(report))
    print(summary(report))
    return 0 if correct else 1


def summary(report: dict[str, Any]) -> str:
    m, med, t, cfg, s = report["machine"], report["median"], report["targets"], report["config"], report["seeding"]
    first = report["runs"][0]
    lines = [
        "# Cost as the work grows",
        "",
        common.machine_line(m),
        "",
        f"A team with {cfg['events']:,} events (runs of {cfg['events_per_run']} events: thinking, text, Bash tool use "
        f"and ~1.5 KB results; events table {s['events_table_mb']} MB), seeded through `shared.events.append` in "
        f"{s['events_seconds']} s; a team with {cfg['tasks']} tasks, made through the API in {s['tasks_seconds']} s. "
        "Each measure on a fresh gunicorn web (1 gthread worker); RSS growth = the worker's peak RSS (sampled every "
        "50 ms) − its RSS before.",
        "",
        f"Medians of {len(report['runs'])} runs:",
        "",
        *common.MEDIANS_TABLE,
        f"| WebSocket replay from cursor 0 to live ({first['replay']['events']:,} events) | "
        f"{med['replay_seconds']} s (first frame {med['replay_first_frame_ms']} ms), web RSS +"
        f"{med['replay_rss_growth_mb']} MB | | |",
        f"| Trace's first page (`/api/events?order=newest&limit=500`) | {med['trace_first_page_ms']} ms, web RSS +"
        f"{med['trace_rss_growth_mb']} MB | | |",
        f"| … oldest first (`order=oldest`) | {med['trace_oldest_first_page_ms']} ms | | |",
        f"| Team log's first page (`/api/teams/<id>/events?limit=500`) | {med['team_log_first_page_ms']} ms | | |",
        f"| Team JSON Lines export ({first['team_export']['lines']:,} lines, {first['team_export']['mb']} MB) | "
        f"{med['team_export_seconds']} s, web RSS +{med['team_export_rss_growth_mb']} MB | | |",
        f"| Trace JSON Lines export (`/api/events.jsonl`, {first['trace_export']['lines']:,} lines) | "
        f"{med['trace_export_seconds']} s, web RSS +{med['trace_export_rss_growth_mb']} MB | | |",
        f"| Board API, {cfg['tasks']} tasks (`/api/teams/<id>/tasks`, median of {BOARD_REQUESTS}) | "
        f"{med['board_ms']} ms | ≤ {t['board_ms']} ms | {common.verdict(med['board_ms'] <= t['board_ms'])} |",
        "",
        f"Replay complete and in cursor order, export complete: {report['complete']}.",
        "",
        "| Run | replay s / +MB | trace page ms | team log page ms | team export s / +MB | trace export s / +MB "
        "| board ms (max) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(report["runs"], 1):
        lines.append(
            f"| {n} | {r['replay']['seconds']} / {r['replay']['rss_growth_mb']} | {r['trace_first_page']['median_ms']}"
            f" | {r['team_log_first_page']['median_ms']} | {r['team_export']['seconds']} / "
            f"{r['team_export']['rss_growth_mb']} | {r['trace_export']['seconds']} / "
            f"{r['trace_export']['rss_growth_mb']} | {r['board']['median_ms']} ({r['board']['max_ms']}) |")
    return common.finish_summary(lines, report)


if __name__ == "__main__":
    sys.exit(main())
