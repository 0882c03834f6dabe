"""What this web process really serves on: the listening sockets and thread count gunicorn gave it (recorded by
web.gunicorn_conf when a worker starts), and the local address each connection arrived at.

GAMMA_HOST and GAMMA_PORT say what `gamma web` asks gunicorn for; a plain `gunicorn -b …` may bind anything
else, so the safety rules (web.security, web.hosts) look here first and fall back to the settings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The raw connection in the WSGI environ: gunicorn's, or werkzeug's development server's.
_SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket")


@dataclass(frozen=True)
class Listener:
    host: str  # as getsockname() gives it: "0.0.0.0", "::", "127.0.0.1", "192.0.2.7", …
    port: int

    @property
    def is_wildcard(self) -> bool:
        return self.host in ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class Binding:
    listeners: tuple[Listener, ...]
    threads: int | None


_binding: Binding | None = None


def record(sockets: Iterable[Any], threads: int | None) -> None:
    """Remember this process's listening sockets (gunicorn's `worker.sockets`) and its thread count."""
    global _binding
    _binding = Binding(tuple(filter(None, (listener_of(s) for s in sockets))), threads)


def current() -> Binding | None:
    return _binding


def listener_of(sock: Any) -> Listener | None:
    """A TCP listener's address; None for a UNIX socket."""
    try:
        address = sock.getsockname()
    except OSError:
        return None
    if isinstance(address, tuple) and len(address) >= 2:
        return Listener(str(address[0]), int(address[1]))
    return None


def local_address(environ: Mapping[str, Any]) -> Listener | None:
    """Where this request's connection arrived (address and port on this machine), when the server says."""
    for key in _SOCKET_KEYS:
        sock = environ.get(key)
        if hasattr(sock, "getsockname"):
            return listener_of(sock)
    return None


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1, and IPv4-mapped loopback (`::ffff:127.0.0.1`, as a dual-stack `::` listener sees it)."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)
