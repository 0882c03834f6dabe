"""A test host of our own: a network namespace joined to this one by a veth pair, so a server can be bound to a
non-loopback address and reached over it without sending anything beyond this machine.

    with netns_host() as host:
        start_web(..., host=host.address, prefix=host.exec_prefix)   # gunicorn inside, on host.address
        requests.get(f"http://{host.address}:{port}/…")               # from here, across the veth

Needs root and iproute2 (`ip netns`), as on the development machines and CI. Addresses come from 198.18.0.0/15,
the range reserved for network tests, one random /30 per host so parallel test sessions do not collide.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class NetnsHost:
    namespace: str
    address: str  # inside the namespace: where a server there listens
    peer: str  # this namespace's end of the veth

    @property
    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.namespace]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@contextmanager
def netns_host() -> Iterator[NetnsHost]:
    tag = secrets.token_hex(3)
    namespace, outside, inside = f"gamma-test-{tag}", f"gto{tag}", f"gti{tag}"
    block = secrets.randbelow(2 * 256 * 64) * 4  # a /30 inside 198.18.0.0/15
    base = (198 << 24) | (18 << 16) | block
    peer, address = (f"{base + n >> 24 & 255}.{base + n >> 16 & 255}.{base + n >> 8 & 255}.{base + n & 255}"
                     for n in (1, 2))
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", namespace)
        _ip("addr", "add", f"{peer}/30", "dev", outside)
        _ip("link", "set", outside, "up")
        _ip("-n", namespace, "addr", "add", f"{address}/30", "dev", inside)
        _ip("-n", namespace, "link", "set", inside, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        yield NetnsHost(namespace, address, peer)
    finally:
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)  # takes the veth along
        subprocess.run(["ip", "link", "del", outside], capture_output=True, timeout=30)
