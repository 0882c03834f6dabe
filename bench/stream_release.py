"""How soon a WebSocket stream's handler is freed once its client goes away (the claim: within ~2 s).

    .venv/bin/python bench/stream_release.py

tests/test_streams.py checks *that* a closed or dropped client's stream slot is given back; how soon is a figure,
measured here: one gunicorn web, ROUNDS times per way of leaving (a close frame; the TCP connection dropped
without one), from the client's action until `/ws/stats` counts one stream fewer (polled every 10 ms). The
handler notices within web.ws.POLL_SECONDS of its next wait, so the figure is about that plus the poll.

Database: a scratch database on $GAMMA_BENCH_DATABASE_URL (an admin URL), else the embedded test server under
.gamma-test/pg; it is dropped at the end. Results: bench/results/stream_release.json and stream_release.md.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from bench import common  # noqa: E402
from tests.support import factories  # noqa: E402
from tests.support.polling import wait_for  # noqa: E402
from tests.support.processes import Web, start_web  # noqa: E402
from tests.support.streams import Stream  # noqa: E402

ROUNDS = 10
CLAIM_SECONDS = 2.0


def open_streams(web: Web) -> int:
    return requests.get(f"{web.url}/ws/stats", timeout=30).json()["streams"]


def one_release(web: Web, team_id: str, how: str) -> float:
    wait_for(lambda: open_streams(web) == 0, what="no stream open")
    stream = Stream(f"{web.ws_url}/ws/teams/{team_id}?after=0")
    stream.read_until(lambda s: s.live, 30)
    wait_for(lambda: open_streams(web) == 1, what="the stream counted")
    started = time.monotonic()
    if how == "close frame":
        stream.close()
    else:
        stream.ws.shutdown()  # the TCP connection goes away without a WebSocket close
    wait_for(lambda: open_streams(web) == 0, interval=0.01, what=f"the handler freed after a {how}")
    return time.monotonic() - started


def main() -> int:
    args = common.options(__doc__).parse_args()
    seconds: dict[str, list[float]] = {"close frame": [], "dropped": []}
    with common.bench_database("gamma_bench") as url:
        os.environ["DATABASE_URL"] = url  # factories write through shared.db
        with start_web(url) as web:
            team = factories.create_team("stream release")
            for _ in range(ROUNDS):
                for how, taken in seconds.items():
                    taken.append(one_release(web, team["id"], how))
    report: dict[str, Any] = {
        "benchmark": "stream_release", "rounds": ROUNDS, "claim_seconds": CLAIM_SECONDS,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg": common.load_average()},
        "seconds": {how: {"median": round(statistics.median(t), 3), "max": round(max(t), 3),
                          "all": [round(x, 3) for x in t]} for how, t in seconds.items()},
    }
    report["meets_claim"] = all(s["max"] <= CLAIM_SECONDS for s in report["seconds"].values())
    lines = ["# Stream handler release benchmark", "",
             f"{ROUNDS} rounds per way of leaving; load average {report['machine']['load_avg']} at the end.", "",
             "| Client leaves by | median s | max s | claim |", "|---|---|---|---|"]
    for how, s in report["seconds"].items():
        lines.append(f"| {how} | {s['median']} | {s['max']} | ≤ {CLAIM_SECONDS} s: "
                     f"{'yes' if s['max'] <= CLAIM_SECONDS else 'NO'} |")
    common.write_results(args.results, "stream_release", report, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if report["meets_claim"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
