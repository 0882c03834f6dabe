"""Turning a team blueprint (`roles/blueprints/<id>.yaml`) into the agents to create.

    specs = expand_blueprint("web-app", team_name="Shop")   # [AgentSpec(...lead...), AgentSpec(...), ...]

The lead comes first. Names are unique within the team (case-insensitive, as the database requires): a member
with `count: 3` becomes "Backend Engineer 1", "Backend Engineer 2", "Backend Engineer 3".
"""

from __future__ import annotations

from orchestrator.domain import AgentSpec, DomainError, Invalid, NotFound
from orchestrator.library.role_models import Blueprint, BlueprintLead
from orchestrator.library.roles import RoleLibrary, get_library

MAX_NAME = 100
MAX_SPECIALIZATION = 2000


class BlueprintError(DomainError):
    """A blueprint that cannot be expanded."""


class UnknownBlueprint(BlueprintError, NotFound):
    pass


class BrokenBlueprint(BlueprintError, Invalid):
    """The blueprint names a role the library does not have."""


class _Names:
    def __init__(self) -> None:
        self._taken: set[str] = set()

    def claim(self, wanted: str) -> str:
        base = wanted.strip()[:MAX_NAME].strip()
        name, n = base, 1
        while name.lower() in self._taken:
            n += 1
            suffix = f" {n}"
            name = base[: MAX_NAME - len(suffix)].rstrip() + suffix
        self._taken.add(name.lower())
        return name


def _role_name(library: RoleLibrary, slot: BlueprintLead) -> str:
    if slot.name:
        return slot.name
    role = library.get(slot.role)
    if role is None:
        raise BrokenBlueprint(f"blueprint refers to unknown role {slot.role!r}")
    return role.name


def _lead_specialization(blueprint: Blueprint, team_name: str | None) -> str:
    team = f"You lead the team {team_name!r}, " if team_name else "You lead a team "
    text = f"{team}built from the {blueprint.name!r} blueprint: {blueprint.description}"
    if blueprint.lead.focus:
        text += f"\n{blueprint.lead.focus}"
    return text[:MAX_SPECIALIZATION]


def expand_blueprint(blueprint_id: str, *, team_name: str | None = None,
                     library: RoleLibrary | None = None) -> list[AgentSpec]:
    """The agents of a blueprint, lead first. Raises `UnknownBlueprint` for an unknown id."""
    library = library or get_library()
    blueprint = library.get_blueprint(blueprint_id)
    if blueprint is None:
        known = ", ".join(b.id for b in library.blueprints) or "none"
        raise UnknownBlueprint(f"blueprint {blueprint_id!r} not found (known: {known})", blueprint_id=blueprint_id)
    names = _Names()
    specs = [
        AgentSpec(
            name=names.claim(_role_name(library, blueprint.lead)),
            role_id=blueprint.lead.role,
            is_lead=True,
            specialization=_lead_specialization(blueprint, team_name),
        )
    ]
    for member in blueprint.members:
        base = _role_name(library, member)
        for index in range(1, member.count + 1):
            wanted = f"{base} {index}" if member.count > 1 else base
            specs.append(AgentSpec(
                name=names.claim(wanted),
                role_id=member.role,
                is_lead=False,
                specialization=member.focus[:MAX_SPECIALIZATION],
            ))
    return specs
