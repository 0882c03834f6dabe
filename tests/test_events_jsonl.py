"""GET /api/teams/<id>/events.jsonl against a REAL gunicorn web: the whole log of a team with 100,000 events
arrives complete and in order, and the web process's memory does not grow with the log's length (the rows come
through a server-side cursor in batches and leave as a generator's chunks).
"""

from __future__ import annotations

import json

import psutil
import pytest
import requests

from shared import db
from tests.support import factories
from tests.support.processes import start_web

SMALL, LARGE = 10_000, 100_000
MAX_GROWTH_MB = 50
PAYLOAD_TEXT = "x" * 300  # ~400 bytes a line: 100,000 events are ~40 MB of JSON, far more if held as dicts


def fill(team_id: str, count: int, tag: str) -> None:
    """`count` events for the team, straight into the table (ids unique to `tag`), kinds alternating."""
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO events (team_id, seq, id, kind, payload)"
            " SELECT %(team)s, g, 'evt_Z' || %(tag)s || lpad(upper(to_hex(g)), 24, '0'),"
            "        CASE WHEN g %% 2 = 0 THEN 'run.started' ELSE 'task.updated' END,"
            "        jsonb_build_object('n', g, 'text', %(text)s::text)"
            " FROM generate_series(1, %(count)s) AS g",
            {"team": team_id, "tag": tag, "count": count, "text": PAYLOAD_TEXT},
        )
        conn.execute("UPDATE teams SET event_seq = %s WHERE id = %s", (count, team_id))


def web_rss(pid: int) -> int:
    """Resident memory of the web: gunicorn's master and its worker(s)."""
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


def stream(url: str, pid: int, **params) -> tuple[list[int], int]:
    """(the cursors of every line, in order; the web's peak RSS sampled while reading)."""
    cursors: list[int] = []
    peak = web_rss(pid)
    with requests.get(url, params=params, stream=True, timeout=120) as response:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("application/jsonl")
        for line in response.iter_lines():
            event = json.loads(line)
            cursors.append(event["cursor"])
            if len(cursors) % 2000 == 0:
                peak = max(peak, web_rss(pid))
    return cursors, max(peak, web_rss(pid))


@pytest.mark.slow
def test_the_whole_log_streams_in_order_in_flat_memory(database_url):
    small, large = factories.create_team("Small log"), factories.create_team("Large log")
    fill(small["id"], SMALL, "1")
    fill(large["id"], LARGE, "2")
    with start_web(database_url) as web:
        pid = web.proc.pid
        url = f"{web.url}/api/teams/{{}}/events.jsonl"
        stream(url.format(small["id"]), pid)  # warm up: imports, the pool, the first batch's buffers
        small_cursors, small_peak = stream(url.format(small["id"]), pid)
        large_cursors, large_peak = stream(url.format(large["id"]), pid)
        growth_mb = (large_peak - small_peak) / 2**20
        print(f"web RSS peak: {small_peak / 2**20:.1f} MB streaming {SMALL:,} events, "
              f"{large_peak / 2**20:.1f} MB streaming {LARGE:,} ({growth_mb:+.1f} MB)")
        assert small_cursors == list(range(1, SMALL + 1))
        assert large_cursors == list(range(1, LARGE + 1)), "every event, once, in cursor order"
        assert growth_mb < MAX_GROWTH_MB, f"the web grew {growth_mb:.1f} MB for 10x the events"

        filtered, _ = stream(url.format(large["id"]), pid, kind="task.", after=LARGE - 10)
        assert filtered == [LARGE - 9, LARGE - 7, LARGE - 5, LARGE - 3, LARGE - 1]
        refused = requests.get(url.format(large["id"]), params={"limit": 5}, timeout=30)
        assert refused.status_code == 400 and "'limit'" in refused.json()["message"]
        assert web.proc.alive()
