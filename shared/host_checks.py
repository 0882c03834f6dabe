"""Facts about this host that decide what Gamma can do here, for the worker, `gamma doctor` and the health API.

- `sandbox_availability()`: whether bubblewrap runs here with the namespaces the agent sandbox uses
  (workers/sandbox.py explains the sandbox itself);
- `sandbox_status(settings)`: that, as one sentence, with what it means under GAMMA_SANDBOX;
- `machine_id()`: which running kernel this is (processes on the same one can check each other's pids);
- `git_status()`: whether git is here and new enough for the team repositories (orchestrator/workflows/
  work_product.py merges with `git merge-tree --write-tree`, git 2.38 and newer).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

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
