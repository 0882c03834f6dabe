"""Roles and team blueprints.

GET /api/roles?q=               roles grouped by category (Leadership first), optionally filtered by a search
GET /api/roles/<role_id>        one role with its settings and full persona text
GET /api/blueprints             every team blueprint, with its agents as they would be created
GET /api/blueprints/<id>        one blueprint
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, jsonify
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.domain import AgentSpec
from orchestrator.library.blueprints import BlueprintError, expand_blueprint
from orchestrator.library.role_models import Blueprint as TeamBlueprint
from orchestrator.library.roles import RoleLibrary, get_library
from web.errors import ApiError, from_domain
from web.validation import query

bp = Blueprint("roles", __name__)


class RoleQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(default="", max_length=200)


def expand_or_error(blueprint_id: str, *, team_name: str | None = None) -> list[AgentSpec]:
    """`expand_blueprint` for request handlers: an unknown blueprint becomes an `ApiError`."""
    try:
        return expand_blueprint(blueprint_id, team_name=team_name)
    except BlueprintError as error:
        raise from_domain(error) from None


@bp.get("/api/roles")
def list_roles():
    library = get_library()
    q = query(RoleQuery).q.strip()
    roles = library.search(q) if q else library.all()
    return jsonify({
        "query": q,
        "count": len(roles),
        "groups": [group.to_dict() for group in library.grouped(roles)],
        "errors": [asdict(error) for error in library.errors],
    })


@bp.get("/api/roles/<path:role_id>")
def get_role(role_id: str):
    role = get_library().get(role_id)
    if role is None:
        raise ApiError(404, f"role {role_id!r} not found (list roles with GET /api/roles)")
    return jsonify(role.detail())


def _blueprint_dict(library: RoleLibrary, blueprint: TeamBlueprint) -> dict[str, Any]:
    data = blueprint.to_dict()
    for slot in (data["lead"], *data["members"]):
        role = library.get(slot["role"])
        if role is not None:
            slot["role_name"] = role.name
            slot["emoji"] = role.emoji
    data["agents"] = [asdict(spec) for spec in expand_blueprint(blueprint.id, library=library)]
    return data


@bp.get("/api/blueprints")
def list_blueprints():
    library = get_library()
    return jsonify({"blueprints": [_blueprint_dict(library, b) for b in library.blueprints]})


@bp.get("/api/blueprints/<blueprint_id>")
def get_blueprint(blueprint_id: str):
    library = get_library()
    blueprint = library.get_blueprint(blueprint_id)
    if blueprint is None:
        raise ApiError(404, f"blueprint {blueprint_id!r} not found (list blueprints with GET /api/blueprints)")
    return jsonify(_blueprint_dict(library, blueprint))
