"""How many WebSockets this web process holds open: each holds one gthread thread for its whole life, so
without a cap a few hundred idle sockets take every thread and HTTP (and new handshakes) stall.

A stream is admitted under two caps, and refused beyond them with a JSON 503 before the upgrade:
- GAMMA_WS_MAX_PER_PROCESS, which never exceeds three quarters of the process's threads (at least 2 threads
  stay for HTTP, whatever the setting says);
- GAMMA_WS_MAX_PER_CLIENT, per client address.
"""

from __future__ import annotations

import threading
from collections import Counter

from shared.config import Settings
from web import binding
from web.errors import ApiError


def process_cap(configured: int, threads: int | None) -> int:
    """The per-process cap in force: the setting, bounded by the threads the process has (when known)."""
    if threads is None:
        return configured
    return max(1, min(configured, threads - max(2, threads // 4)))


class StreamSlots:
    def __init__(self, per_process: int, per_client: int) -> None:
        self.per_process = per_process
        self.per_client = per_client
        self._lock = threading.Lock()
        self._by_client: Counter[str] = Counter()

    def acquire(self, client: str) -> None:
        """Take a slot for `client`, or raise a 503 naming the cap that is full."""
        bound = binding.current()
        cap = process_cap(self.per_process, bound.threads if bound else None)
        with self._lock:
            if self.open() >= cap:
                raise ApiError(503, f"this server holds its maximum of {cap} open streams per process "
                                    "(GAMMA_WS_MAX_PER_PROCESS): try again later")
            if self._by_client[client] >= self.per_client:
                raise ApiError(503, f"your address already holds {self.per_client} open streams "
                                    "(GAMMA_WS_MAX_PER_CLIENT): close one, or try again later")
            self._by_client[client] += 1

    def release(self, client: str) -> None:
        with self._lock:
            self._by_client[client] -= 1
            if self._by_client[client] <= 0:
                del self._by_client[client]

    def open(self) -> int:
        return sum(self._by_client.values())


def for_settings(settings: Settings) -> StreamSlots:
    return StreamSlots(settings.ws_max_per_process, settings.ws_max_per_client)
