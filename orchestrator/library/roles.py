"""The role library: every role and blueprint Gamma knows, loaded once and cached.

Search path: the repository's `roles/` first, then each directory of `GAMMA_ROLES_PATH` in order; a later
directory overrides an earlier one by id (role id `<category>/<slug>`, blueprint id = file stem).

    role = get_library().get("engineering/backend-architect")   # Role | None
    role.body, role.tools, role.model                           # persona, CLI settings
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.library.role_files import scan_dir
from orchestrator.library.role_models import TASK_KINDS, Blueprint, LoadError, Role
from shared.config import get_settings

__all__ = [
    "TASK_KINDS", "Blueprint", "LoadError", "Role", "RoleGroup", "RoleLibrary", "REPO_ROLES_DIR",
    "category_display_name", "default_dirs", "get_library", "load_library", "reload_library",
]

log = logging.getLogger(__name__)

REPO_ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"
LEADERSHIP = "leadership"

_DISPLAY_NAMES = {
    LEADERSHIP: "Leadership",
    "engineering": "Engineering",
    "design": "Design",
    "product": "Product",
    "project-management": "Project Management",
    "testing": "Testing & QA",
    "data-ai": "Data & AI",
    "devops": "DevOps & Infrastructure",
    "security": "Security",
    "research": "Research",
    "writing-content": "Writing & Content",
    "marketing": "Marketing",
    "sales-support": "Sales & Support",
    "specialized": "Specialized",
    # Categories of the community pack, so dropped-in packs read well too.
    "academic": "Academic",
    "game-development": "Game Development",
    "job-hunting": "Job Hunting",
    "paid-media": "Paid Media",
    "sales": "Sales",
    "spatial-computing": "Spatial Computing",
    "support": "Support",
}
_UPPER_WORDS = {"ai", "ml", "qa", "ui", "ux", "api", "seo", "it", "hr", "xr", "vr", "ar"}


def category_display_name(category: str) -> str:
    if category in _DISPLAY_NAMES:
        return _DISPLAY_NAMES[category]
    words = category.replace("_", "-").split("-")
    return " ".join(w.upper() if w.lower() in _UPPER_WORDS else w.capitalize() for w in words if w)


@dataclass(frozen=True)
class RoleGroup:
    id: str
    name: str
    roles: list[Role]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "count": len(self.roles), "roles": [r.summary() for r in self.roles]}


class RoleLibrary:
    def __init__(self, roles: dict[str, Role], blueprints: dict[str, Blueprint], errors: list[LoadError],
                 dirs: Sequence[Path] = ()) -> None:
        self._roles = roles
        self._blueprints = blueprints
        self.errors: list[LoadError] = errors
        self.dirs: list[Path] = list(dirs)

    def __len__(self) -> int:
        return len(self._roles)

    def get(self, role_id: str) -> Role | None:
        if not isinstance(role_id, str):
            return None
        return self._roles.get(role_id.strip().strip("/"))

    def all(self) -> list[Role]:
        """Every role, ordered by category then name."""
        return sorted(self._roles.values(), key=lambda r: (r.category, r.name.lower(), r.id))

    def leads(self) -> list[Role]:
        return [role for role in self.all() if role.lead]

    def categories(self) -> list[str]:
        return sorted({role.category for role in self._roles.values()})

    def grouped(self, roles: Iterable[Role] | None = None) -> list[RoleGroup]:
        """Roles by category (sorted by display name, roles by name), with a virtual Leadership group first."""
        chosen = list(self._roles.values()) if roles is None else list(roles)
        by_category: dict[str, list[Role]] = {}
        for role in chosen:
            by_category.setdefault(role.category, []).append(role)
        groups = [
            RoleGroup(category, category_display_name(category), _by_name(members))
            for category, members in by_category.items()
        ]
        groups.sort(key=lambda g: (g.name.lower(), g.id))
        leads = [role for role in chosen if role.lead]
        if leads:
            groups.insert(0, RoleGroup(LEADERSHIP, _DISPLAY_NAMES[LEADERSHIP], _by_name(leads)))
        return groups

    def search(self, query: str | None) -> list[Role]:
        """Roles whose name, description or vibe contain every word of the query (case-insensitive).

        Roles whose name contains the whole query come first, then by name.
        """
        text = (query or "").strip().lower()
        if not text:
            return _by_name(self._roles.values())
        terms = text.split()
        hits = []
        for role in self._roles.values():
            haystack = f"{role.name}\n{role.description}\n{role.vibe}".lower()
            if all(term in haystack for term in terms):
                hits.append(role)
        return sorted(hits, key=lambda r: (text not in r.name.lower(), r.name.lower(), r.id))

    @property
    def blueprints(self) -> list[Blueprint]:
        return sorted(self._blueprints.values(), key=lambda b: (b.name.lower(), b.id))

    def get_blueprint(self, blueprint_id: str) -> Blueprint | None:
        if not isinstance(blueprint_id, str):
            return None
        return self._blueprints.get(blueprint_id.strip())


def _by_name(roles: Iterable[Role]) -> list[Role]:
    return sorted(roles, key=lambda r: (r.name.lower(), r.id))


def _unknown_roles(blueprint: Blueprint, roles: dict[str, Role]) -> list[str]:
    problems = []
    if blueprint.lead.role not in roles:
        problems.append(f"lead: unknown role {blueprint.lead.role!r}")
    for index, member in enumerate(blueprint.members):
        if member.role not in roles:
            problems.append(f"members.{index}: unknown role {member.role!r}")
    return problems


def default_dirs() -> list[Path]:
    return [REPO_ROLES_DIR, *get_settings().extra_roles_dirs()]


def load_library(dirs: Sequence[Path] | None = None) -> RoleLibrary:
    """Load every directory in order (later ones override earlier ones by id); never raises for a bad file."""
    dirs = list(default_dirs() if dirs is None else dirs)
    roles: dict[str, Role] = {}
    blueprints: dict[str, Blueprint] = {}
    errors: list[LoadError] = []
    for directory in dirs:
        result = scan_dir(Path(directory))
        errors.extend(result.errors)
        roles.update((role.id, role) for role in result.roles)
        blueprints.update((bp.id, bp) for bp in result.blueprints)
    for blueprint_id, blueprint in list(blueprints.items()):
        problems = _unknown_roles(blueprint, roles)
        if problems:
            errors.append(LoadError(str(blueprint.path), "; ".join(problems)))
            del blueprints[blueprint_id]
    for error in errors:
        log.warning("role library: %s", error)
    return RoleLibrary(roles, blueprints, errors, dirs)


_lock = threading.Lock()
_library: RoleLibrary | None = None


def get_library() -> RoleLibrary:
    """The cached library (loaded on first use)."""
    global _library
    library = _library
    if library is None:
        with _lock:
            if _library is None:
                _library = load_library()
            library = _library
    return library


def reload_library() -> RoleLibrary:
    """Drop the cache and load again (after GAMMA_ROLES_PATH or the files changed; used by tests)."""
    global _library
    with _lock:
        _library = load_library()
        return _library
