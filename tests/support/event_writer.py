"""Append numbered events through `shared.events.BatchWriter` from one OS process, with several writer threads.

    python -m tests.support.event_writer --team team_… --writers 4 --count 300 --rate 200 --tag p1

Each writer thread owns one BatchWriter (as a run's single writer does) and appends `count` events of kind
`test.line` with payload {"w": "<tag>-<thread>", "i": <0..count-1>, "t": <time.time() at add>}, optionally
padded, paced at `rate` events/s (0: as fast as it can). Needs DATABASE_URL. Prints one JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from shared import events
from shared.events import NewEvent


def write(team_id: str, writer: str, count: int, rate: float, pad: int, interval: float, start: float) -> int:
    batch = events.BatchWriter(interval=interval)
    padding = {"pad": "x" * pad} if pad else {}
    try:
        for i in range(count):
            if rate > 0:
                delay = start + i / rate - time.time()
                if delay > 0:
                    time.sleep(delay)
            batch.add(NewEvent("test.line", team_id, {"w": writer, "i": i, "t": time.time(), **padding}))
    finally:
        batch.close(timeout=120)
    return batch.written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--team", required=True, action="append", help="team id (repeat: writers round-robin)")
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--count", type=int, default=100, help="events per writer")
    parser.add_argument("--rate", type=float, default=0.0, help="events/s per writer (0: unpaced)")
    parser.add_argument("--pad", type=int, default=0, help="bytes of padding per payload")
    parser.add_argument("--interval", type=float, default=0.05, help="BatchWriter interval (s)")
    parser.add_argument("--tag", default="p")
    parser.add_argument("--start-at", type=float, default=0.0, help="epoch time to start at (synchronizes processes)")
    args = parser.parse_args(argv)

    if args.start_at:
        time.sleep(max(0.0, args.start_at - time.time()))
    start = time.time()
    written = [0] * args.writers

    def run(n: int) -> None:
        team = args.team[n % len(args.team)]
        written[n] = write(team, f"{args.tag}-{n}", args.count, args.rate, args.pad, args.interval, start)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(args.writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.time() - start
    print(json.dumps({"tag": args.tag, "written": sum(written), "seconds": round(elapsed, 3)}), flush=True)
    return 0 if sum(written) == args.writers * args.count else 1


if __name__ == "__main__":
    sys.exit(main())
