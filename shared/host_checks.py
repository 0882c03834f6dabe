"""Facts about this host that decide what Gamma can do here, for the worker, `gamma doctor` and the health API.

- `sandbox_availability()`: whether bubblewrap runs here with the namespaces the agent sandbox uses
  (workers/sandbox.py explains the sandbox itself);
- `sandbox_status(settings)`: that, as one sentence, with what it means under GAMMA_SANDBOX;
- `machine_id()`: which running kernel this is (processes on the same one can check each other's pids);
- `git_status()`: whether git is here and new enough for the team repositories (orchestrator/workflows/
  work_product.py merges with `git merge-tree --write-tree`, git 2.38 and newer);
- `web_status(url)`: whether this host reaches the web at GAMMA_API_URL, where its agents call the agent API and
  where a worker on another host than the web's fetches and pushes the team's repository (docs/multi-host.md).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shared.config import Settings

# The namespaces and base mounts of every sandbox (workers/sandbox.py adds the per-run mounts).
SANDBOX_BASE_ARGS = ("--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                     "--unshare-cgroup-try", "--cap-drop", "ALL", "--ro-bind", "/", "/", "--dev", "/dev",
                     "--proc", "/proc", "--tmpfs", "/tmp")
# Agents of a worker running as root are not root either: they get this uid in a user namespace of their own,
# mapped to root outside (their files still belong to the worker's user). A tool that sandboxes itself can then
# nest its own bubblewrap (codex does, for workspace-write), which uid 0 without capabilities cannot: its uid map
# is refused.
AGENT_UID_UNDER_ROOT = 1000


def sandbox_base_args() -> tuple[str, ...]:
    """SANDBOX_BASE_ARGS plus the agent's identity (a non-root uid when the worker is root)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        uid = str(AGENT_UID_UNDER_ROOT)
        return ("--unshare-user", "--uid", uid, "--gid", uid, *SANDBOX_BASE_ARGS)
    return SANDBOX_BASE_ARGS


@cache
def machine_id() -> str:
    """The kernel's boot id and this process's PID namespace: equal for two processes exactly when each can see
    the other's pid (containers on one host differ)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return socket.gethostname()
    return f"{boot}/{namespace}"


@dataclass(frozen=True)
class Availability:
    usable: bool
    detail: str  # the bwrap path and version, or why it cannot be used


@cache
def sandbox_availability(binary: str = "bwrap") -> Availability:
    """Whether bubblewrap runs here with the namespaces Gamma asks for (checked once per process)."""
    path = shutil.which(binary)
    if path is None:
        return Availability(False, "bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    try:
        probe = subprocess.run([path, *sandbox_base_args(), "--", "true"], capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL, check=False)
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                                 check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return Availability(False, f"{path} cannot run: {error}")
    if probe.returncode != 0:
        why = probe.stderr.strip() or f"exit code {probe.returncode}"
        return Availability(False, f"{path} cannot create its namespaces here ({why}); allow unprivileged user "
                                   "namespaces (sysctl kernel.unprivileged_userns_clone=1) or run Gamma as root")
    return Availability(True, f"{path} ({version})")


def sandbox_status(settings: Settings) -> tuple[bool, str]:
    """(ok, sentence) for `gamma doctor` and the health API."""
    chosen = settings.sandbox
    if chosen == "off":
        return False, "off (GAMMA_SANDBOX=off): agents can read the worker's environment and Gamma's files"
    found = sandbox_availability()
    if found.usable:
        return True, f"bubblewrap: {found.detail}"
    consequence = ("runs fail until it works" if chosen == "bwrap"
                   else "agents run WITHOUT a boundary: they can read the worker's environment and Gamma's files")
    return False, f"{found.detail}; {consequence}"


GIT_MINIMUM = (2, 38)


def git_status(binary: str = "git") -> tuple[bool, str]:
    """(ok, sentence) for `gamma doctor`: git found and at least GIT_MINIMUM."""
    found = shutil.which(binary)
    if found is None:
        return False, "git is not installed: each team's project is a git repository (install git 2.38 or newer)"
    done = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30, check=False)
    words = done.stdout.split()
    version = words[2] if len(words) >= 3 else "unknown"
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if len(parts) < 2 or parts < GIT_MINIMUM:
        return False, f"{found}: git {version}; Gamma needs {'.'.join(map(str, GIT_MINIMUM))} or newer (merge-tree)"
    return True, f"{found}: git {version}"


WEB_PROBE_TIMEOUT = 5.0  # seconds: a web that takes longer to say it is healthy is not one agents can rely on
SET_API_URL = "set GAMMA_API_URL to the web's URL as this host reaches it"


def web_status(url: str, *, configured: bool, timeout: float = WEB_PROBE_TIMEOUT) -> tuple[bool, str]:
    """(ok, sentence) for `gamma doctor`: whether `url` (GAMMA_API_URL, or its default when not `configured`) is
    Gamma's web as seen from this host, asked with `GET <url>/api/health` (never behind the API token). Not ok
    names the problem and what to do about it."""
    where = url if configured else f"{url} (GAMMA_API_URL is unset: this host's own web)"
    request = urllib.request.Request(f"{url}/api/health", headers={"Accept": "application/json"})
    # As gamma-agent does (workers/agent_cli.py): the web is asked directly, never through a proxy of the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.monotonic()
    try:
        with opener.open(request, timeout=timeout) as response:
            status, body = response.status, response.read(1 << 20)
    except urllib.error.HTTPError as error:  # an answer all the same (421, 503, a proxy's 502 …): judged below
        status, body = error.code, error.read(1 << 20)
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
        return False, f"{where}: {_unreachable(error, url, timeout)}; {SET_API_URL}"
    millis = (time.monotonic() - started) * 1000
    try:
        answer: Any = json.loads(body)
    except ValueError:
        answer = None
    if status == 421:
        name = urlsplit(url).netloc
        return False, (f"{where}: the web does not answer to the name {name} (421): add it to GAMMA_ALLOWED_HOSTS "
                       "on the web's host, or use a name the web answers to")
    if not isinstance(answer, dict):
        return False, f"{where}: HTTP {status}, but not Gamma's health answer (another server?); {SET_API_URL}"
    if "database" not in answer:  # the web's own error shape, {"error", "message"} (a refused connection: 403)
        return False, f"{where}: HTTP {status}: {answer.get('message') or answer.get('error') or 'no health answer'}"
    if not answer.get("ok"):
        return False, (f"{where}: the web answers (HTTP {status}) but is not healthy: {_unhealthy(answer)}; run "
                       "`gamma doctor` on the web's host")
    workers = answer.get("workers") or {}
    return True, (f"{where}: the web answers in {millis:.0f} ms: database ok, {workers.get('alive', 0)} worker "
                  f"process(es) alive")


def _unreachable(error: Exception, url: str, timeout: float) -> str:
    """Why no HTTP answer came, in words that say where to look."""
    reason: object = error.reason if isinstance(error, urllib.error.URLError) else error
    host = urlsplit(url).hostname or url
    if isinstance(reason, ConnectionRefusedError):
        return ("connection refused: nothing listens there (is the web running, and bound with GAMMA_HOST to an "
                "address this host reaches?)")
    if isinstance(reason, socket.gaierror):
        return f"the name {host!r} does not resolve on this host ({reason.strerror or reason})"
    if isinstance(reason, TimeoutError):
        return (f"no answer within {timeout:.0f} s (a firewall dropping the packets, or an address this host "
                "cannot route to)")
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed: {reason}"
    return f"cannot connect: {reason}"


def _unhealthy(answer: dict[str, Any]) -> str:
    if not (answer.get("database") or {}).get("ok"):
        return f"its database: {(answer.get('database') or {}).get('error') or 'not reachable'}"
    pending = (answer.get("migrations") or {}).get("pending")
    if pending:
        return f"migrations pending ({', '.join(pending)})"
    if not (answer.get("broker") or {}).get("ok", True):
        return "the broker schema (dramatiq.queue) is missing"
    return json.dumps(answer)[:300]


def is_loopback_url(url: str) -> bool:
    """Whether `url` names this host itself (localhost or a loopback address)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
