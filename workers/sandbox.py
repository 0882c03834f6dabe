"""The boundary between an agent and Gamma: each agent command runs inside bubblewrap (`bwrap`).

Why bubblewrap rather than a separate user for agents: a process of the same user can read a parent's
`/proc/<pid>/environ` (DATABASE_URL) and every file of that user, and a second user per team would still need
root to set up and would share everything world-readable. bubblewrap (Debian's `bubblewrap` package, no daemon,
no root needed where unprivileged user namespaces are allowed) gives each attempt:

- its own PID namespace: the agent sees only its own processes — not the worker's environment — and when the
  sandbox's first process dies the kernel ends every process inside, setsid or not;
- its own view of the files: the machine read-only, its own `/tmp`, its home directory writable (the CLI keeps
  its login and sessions there), Gamma's home replaced by an empty directory except this team's workspace and
  the `gamma-agent` tools, the database's socket directories hidden, `.env` files masked;
- no capabilities, and never uid 0: a root worker's agents run as an ordinary uid in a user namespace of
  their own (shared/host_checks.py says why).

The network is shared (agents call the model's API and Gamma's agent API over it), so a database that accepts
TCP connections without a password stays reachable: give PostgreSQL a password (DATABASE_URL keeps it out of
agents' reach) or keep it on a Unix socket, as the embedded server does.

GAMMA_SANDBOX: `auto` (default) uses bubblewrap when it works here and otherwise runs agents without the
boundary, saying so on every run and in `gamma doctor`; `bwrap` requires it (runs fail when it is missing);
`off` runs agents without it.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from shared.config import Settings
from shared.host_checks import sandbox_availability, sandbox_base_args
from workers.runtime_types import LaunchError, LaunchSpec

log = logging.getLogger(__name__)

SYSTEM_SOCKET_DIRS = (Path("/run/postgresql"), Path("/var/run/postgresql"))
CLI_STATE_VARIABLES = ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME")


@dataclass
class Mounts:
    """What the agent sees beyond the read-only machine, applied parents first (a path's depth orders them)."""

    writable: set[Path] = field(default_factory=set)
    readable: set[Path] = field(default_factory=set)
    hidden: set[Path] = field(default_factory=set)  # an empty tmpfs instead
    masked_files: set[Path] = field(default_factory=set)  # /dev/null instead

    def arguments(self) -> list[str]:
        entries: list[tuple[int, int, list[str]]] = []
        for order, (paths, make) in enumerate((
            (self.writable, lambda p: ["--bind", p, p]),
            (self.hidden, lambda p: ["--tmpfs", p]),
            (self.readable, lambda p: ["--ro-bind", p, p]),
            (self.masked_files, lambda p: ["--ro-bind", "/dev/null", p]),
        )):
            for path in paths:
                entries.append((len(path.parts), order, make(str(path))))
        return [arg for _, _, args in sorted(entries, key=lambda e: (e[0], e[1], e[2])) for arg in args]


def wrap(spec: LaunchSpec, settings: Settings, *, team_dir: Path, tools_dir: Path | None,
         read_only: tuple[Path, ...] = (), writable: tuple[Path, ...] = ()) -> tuple[LaunchSpec, str | None]:
    """`read_only`: parts of the team's folder this run must not change (other tasks' worktrees, the main line for
    a task's run); `writable`: parts inside those that it may (its own worktree, the repository's objects)."""
    """The spec to run inside the sandbox, and a warning when it runs without one."""
    chosen = settings.sandbox
    if chosen == "off":
        return spec, "this run has no sandbox (GAMMA_SANDBOX=off)"
    found = sandbox_availability()
    if not found.usable:
        if chosen == "bwrap":
            raise LaunchError("config_error", f"GAMMA_SANDBOX=bwrap, but {found.detail}")
        return spec, f"this run has no sandbox: {found.detail}"
    mounts = plan(spec, settings, team_dir=team_dir, tools_dir=tools_dir)
    for path in read_only:
        path.mkdir(parents=True, exist_ok=True)
        mounts.readable.add(path.resolve())
    for path in writable:
        if path.exists():
            mounts.writable.add(path.resolve())
    argv = [shutil.which("bwrap") or "bwrap", *sandbox_base_args(), *mounts.arguments(), "--chdir", str(spec.cwd), "--",
            *spec.argv]
    return LaunchSpec(argv=argv, env=spec.env, cwd=spec.cwd, stdin_text=spec.stdin_text), None


def plan(spec: LaunchSpec, settings: Settings, *, team_dir: Path, tools_dir: Path | None) -> Mounts:
    mounts = Mounts()
    home = spec.env.get("HOME")
    for candidate in (home, *(spec.env.get(name) for name in CLI_STATE_VARIABLES)):
        if candidate:
            path = _existing_dir(candidate)
            if path is not None and path != Path("/"):
                mounts.writable.add(path)
    gamma_home = _existing_dir(str(settings.home))
    if gamma_home is not None:
        mounts.hidden.add(gamma_home)
    mounts.writable.add(team_dir.resolve())
    if tools_dir is not None and (tools := _existing_dir(str(tools_dir))) is not None:
        mounts.readable.add(tools)
    command = shutil.which(spec.argv[0], path=spec.env.get("PATH"))
    if command is not None:  # visible even where it lies in a hidden place (a private /tmp, Gamma's home)
        mounts.readable.update(_installation_of(Path(command)))
    mounts.hidden.update(_database_socket_dirs(settings))
    mounts.hidden.update(p for p in (_existing_dir(str(d)) for d in SYSTEM_SOCKET_DIRS) if p is not None)
    for env_file in (Path.cwd() / ".env", Path(__file__).resolve().parent.parent / ".env"):
        if env_file.is_file():
            mounts.masked_files.add(env_file.resolve())
    # A hidden directory must not cover what the agent needs to see (its workspace inside Gamma's home does
    # not count: it is mounted again on top).
    mounts.hidden -= mounts.writable
    return mounts


def _installation_of(command: Path) -> set[Path]:
    """What running `command` needs to see: for an npm install (`…/node_modules/.bin/codex`, a link into the
    package, which starts further binaries of its own dependencies) the whole `node_modules` tree of the link and
    of its target; otherwise the directories of the command as named and of the file it resolves to."""
    found = set()
    for path in (command.absolute(), command.resolve()):
        tree = next((parent for parent in path.parents if parent.name == "node_modules"), None)
        found.add((tree or path.parent).resolve())
    return found


def _database_socket_dirs(settings: Settings) -> set[Path]:
    """Directories holding the database's Unix sockets (the embedded server's is its data directory)."""
    found = {settings.pg_data_dir}
    url = settings.database_url or os.environ.get("DATABASE_URL")
    if url:
        try:
            hosts = conninfo_to_dict(url).get("host") or ""
        except Exception:  # an unparsable URL fails the worker's own connection first
            hosts = ""
        found.update(Path(h) for h in str(hosts).split(",") if h.startswith("/"))
    return {p for p in (_existing_dir(str(d)) for d in found) if p is not None}


def _existing_dir(value: str) -> Path | None:
    path = Path(value).expanduser()
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return resolved if resolved.is_dir() else None
