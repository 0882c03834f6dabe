"""Watching the attempts of runs: which have a live process, sampled often enough to catch two at once."""

from __future__ import annotations

import threading
from collections import defaultdict

from tests.support.stack import agent_processes


class Sampler(threading.Thread):
    """Records, every 20 ms, the attempts of each run that have a live process."""

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.run_ids = run_ids
        self.overlaps: list[tuple[str, set[int]]] = []
        self.seen: dict[str, set[int]] = defaultdict(set)
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.02):
            for run_id in self.run_ids:
                attempts = set(agent_processes(run_id).values())
                self.seen[run_id] |= attempts
                if len(attempts) > 1:
                    self.overlaps.append((run_id, attempts))
            self.samples += 1

    def stop(self) -> None:
        self._halt.set()
        self.join(10)
