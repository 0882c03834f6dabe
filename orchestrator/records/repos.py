"""Each team's git repository on disk: `<team>/project/` on `main` (the main line, the lead's view), one worktree
per task under `<team>/worktrees/<task>/` on the task's branch, and short-lived worktrees for merge checks under
`<team>/checks/<check>/`.

Everything that changes the repository's refs or its list of worktrees holds the team's repository lock (an
flock on `<team>/repo.lock`), so two workers starting tasks and a merge never race on git's own lock files.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.records import workspaces
from shared import git
from shared.ids import is_id

FIRST_COMMIT = "Team created: the project starts here"
MIGRATED_COMMIT = "The project as it was before Gamma kept it in git"


def project_dir(team_id: str) -> Path:
    return workspaces.team_dir(team_id) / "project"


def worktree_dir(team_id: str, task_id: str) -> Path:
    if not is_id(task_id, "task"):
        raise ValueError(f"not a task id: {task_id!r}")
    return workspaces.team_dir(team_id) / "worktrees" / task_id


def check_dir(team_id: str, check_id: str) -> Path:
    if not is_id(check_id, "chk"):
        raise ValueError(f"not a check id: {check_id!r}")
    return workspaces.team_dir(team_id) / "checks" / check_id


@contextmanager
def locked(team_id: str, *, make: bool = True) -> Iterator[Path]:
    """Hold the team's repository lock (other threads and processes of this host wait); yields the repository,
    made first if `make` (a clone of it on another host is made by its worker instead)."""
    base = workspaces.ensure_team_workspace(team_id)
    with open(base / "repo.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield ensure(team_id) if make else project_dir(team_id)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def create(team_id: str) -> Path:
    """The team's repository, made now if it does not exist yet."""
    with locked(team_id) as repo:
        return repo


def ensure(team_id: str) -> Path:
    """The team's repository, made on first use: a new team's first commit, or an existing team's files
    (a team created before Gamma kept the project in git) as its first commit. Call with the lock held."""
    repo = project_dir(team_id)
    if not git.is_repository(repo):
        existing = repo.exists() and any(repo.iterdir())
        git.init(repo, MIGRATED_COMMIT if existing else FIRST_COMMIT)
        git.pack_loose(repo)
    return repo


def branch_for(task_id: str, title: str) -> str:
    """A branch named after the task: `task/<words of its title>-<the end of its id>`."""
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-") or "work"
    return f"task/{words}-{task_id[-8:].lower()}"


def disk_bytes(path: Path) -> int:
    """Bytes on disk under `path` (blocks allocated, as `du` counts; links are not followed)."""
    total = 0
    for parent, dirs, files in os.walk(path):
        for name in files + dirs:
            try:
                total += os.lstat(os.path.join(parent, name)).st_blocks * 512
            except FileNotFoundError:
                continue
    return total
