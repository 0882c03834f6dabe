"""Workspaces on disk, outside the source tree: `$GAMMA_HOME/workspaces/<team>/`.

    <team>/project/          shared work of the whole team
    <team>/plans/            plans and reviews
    <team>/shared/           team knowledge
    <team>/agents/<agent>/   the agent's cwd: its CLAUDE.md and notes/

Directories are named by id (validated ULIDs), never by user-chosen names, so nothing can escape the root.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from shared.config import get_settings
from shared.ids import is_id

TEAM_DIRS = ("project", "plans", "shared", "agents")
TEAM_FROM_AGENT_DIR = "../.."  # the team's folder from an agent's own directory (its cwd), on every host
STORAGE_FILE = ".gamma-storage"  # names this storage: a host whose workspaces hold a team's repository has it


def root() -> Path:
    return get_settings().workspaces_dir


def team_dir(team_id: str) -> Path:
    if not is_id(team_id, "team"):
        raise ValueError(f"not a team id: {team_id!r}")
    return root() / team_id


def agent_dir(team_id: str, agent_id: str) -> Path:
    if not is_id(agent_id, "agent"):
        raise ValueError(f"not an agent id: {agent_id!r}")
    return team_dir(team_id) / "agents" / agent_id


def ensure_team_workspace(team_id: str) -> Path:
    base = team_dir(team_id)
    for name in TEAM_DIRS:
        (base / name).mkdir(parents=True, exist_ok=True)
    return base


def ensure_agent_workspace(team_id: str, agent_id: str) -> Path:
    ensure_team_workspace(team_id)
    path = agent_dir(team_id, agent_id)
    (path / "notes").mkdir(parents=True, exist_ok=True)
    return path


def paths(team_id: str, agent_id: str | None = None) -> dict[str, str]:
    """Absolute paths an agent is told about (as strings, for JSON and CLAUDE.md)."""
    base = team_dir(team_id)
    found = {name: str(base / name) for name in ("project", "plans", "shared")}
    if agent_id is not None:
        found["home"] = str(agent_dir(team_id, agent_id))
        found["notes"] = str(agent_dir(team_id, agent_id) / "notes")
    return found


def storage_id(*, create: bool = False) -> str | None:
    """The id of this host's workspaces (a random name kept in a file at their root), made now if `create` and
    there is none. Two processes share their repositories exactly when they see the same id."""
    path = root() / STORAGE_FILE
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        if not create:
            return None
    path.parent.mkdir(parents=True, exist_ok=True)
    made = path.with_name(f"{STORAGE_FILE}.{os.getpid()}.tmp")
    made.write_text(secrets.token_hex(16) + "\n")
    try:
        os.link(made, path)  # the first of two racing processes wins; the other reads its id
    except FileExistsError:
        pass
    finally:
        made.unlink()
    return path.read_text().strip()
