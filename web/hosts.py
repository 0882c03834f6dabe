"""Which `Host` names the web answers to: a defence against DNS rebinding.

A page on evil.example can make its own name resolve to 127.0.0.1; the browser then sends `Host: evil.example`
and an `Origin` of the same name, so comparing the two proves nothing. The Host must instead be a name this
server is known by, else the request is refused with 421 before anything else runs:

- the loopback names 127.0.0.1, localhost and [::1], with a port this process is bound to — or with no port at
  all (a client on this machine going through something local on port 80; rebinding needs a foreign name);
- the host of GAMMA_API_URL, with its port;
- the bound address itself, when it is a specific address rather than a wildcard (0.0.0.0, ::);
- every entry of GAMMA_ALLOWED_HOSTS (`name` for any port, `name:port` for one).

The bound ports are the listeners gunicorn gave this process (web.binding), else the port the connection
arrived at, else GAMMA_PORT.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request

from shared.config import LOOPBACK_NAMES, Settings, split_host_port
from web import binding
from web.errors import ApiError

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
AnyPort = None


def allowed_hosts(settings: Settings, local: binding.Listener | None) -> set[tuple[str, int | None]]:
    """(name, port) pairs this request may name in its Host; a port of None allows any port."""
    bound = binding.current()
    listeners = bound.listeners if bound and bound.listeners else ()
    ports = {listener.port for listener in listeners}
    if local is not None:
        ports.add(local.port)
    ports = ports or {settings.port}
    allowed: set[tuple[str, int | None]] = {(name, port) for name in LOOPBACK_NAMES for port in ports}
    allowed.update(settings.allowed_host_entries)
    if settings.api_url:
        parts = urlsplit(settings.api_url)
        entry = split_host_port(parts.hostname or "")
        if entry is not None:
            allowed.add((entry[0], parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)))
    specific = [(lnr.host, lnr.port) for lnr in listeners if not lnr.is_wildcard] if listeners else (
        [] if settings.host in ("0.0.0.0", "::", "") else [(settings.host, settings.port)])
    for host, port in specific:
        entry = split_host_port(host)
        if entry is not None:
            allowed.add((entry[0], port))
    return allowed


def host_is_allowed(host: str, scheme: str, settings: Settings, local: binding.Listener | None) -> bool:
    entry = split_host_port(host)
    if entry is None:
        return False
    name, port = entry
    allowed = allowed_hosts(settings, local)
    if (name, AnyPort) in allowed:
        return True
    if port is None:
        return name in LOOPBACK_NAMES or (name, _DEFAULT_PORTS.get(scheme, 80)) in allowed
    return (name, port) in allowed


def check_host(settings: Settings) -> None:
    """Refuse (421) a request whose Host is not one of this server's names."""
    host = request.headers.get("Host", "")
    if host_is_allowed(host, request.scheme, settings, binding.local_address(request.environ)):
        return
    shown = host if len(host) <= 100 else host[:100] + "…"
    raise ApiError(421, f"Host {shown!r} is not a name this server answers to (a DNS rebinding attempt, or a "
                        "name Gamma does not know): reach it as 127.0.0.1 or localhost, or add the name to "
                        "GAMMA_ALLOWED_HOSTS")
