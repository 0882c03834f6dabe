"""Team blueprints: the shipped files, validation on load, expansion into agents, and the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.library.blueprints import AgentSpec, BlueprintError, expand_blueprint
from orchestrator.library.roles import REPO_ROLES_DIR, RoleLibrary, load_library
from tests.support.roles_api import roles_client
from web.api import roles as roles_api
from web.errors import ApiError, status_for

REQUIRED = ("web-app", "api-service", "data-pipeline", "research-report", "content-campaign", "bug-triage",
            "mobile-app", "security-review")
BLUEPRINT_FILES = sorted((REPO_ROLES_DIR / "blueprints").glob("*.y*ml"))

ROLE = """---
name: {name}
description: A test role.
emoji: "🧪"
color: blue
vibe: Tests.
lead: {lead}
---

# {name}

Persona.
"""


@pytest.fixture
def client():
    """This module's own client (a global plugin fixture would replace tests.support.orchestrator's)."""
    return roles_client()


@pytest.fixture(scope="module")
def library() -> RoleLibrary:
    return load_library([REPO_ROLES_DIR])


def _pack(root: Path, blueprints: dict[str, str]) -> Path:
    for slug, name, lead in (("boss", "Boss", "true"), ("worker", "Worker", "false")):
        path = root / "team" / f"{slug}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ROLE.format(name=name, lead=lead), encoding="utf-8")
    (root / "blueprints").mkdir(exist_ok=True)
    for stem, text in blueprints.items():
        (root / "blueprints" / f"{stem}.yaml").write_text(text, encoding="utf-8")
    return root


# --- the shipped blueprints ---------------------------------------------------------------------------------


def test_every_blueprint_file_is_valid_and_references_existing_roles(library):
    blueprint_errors = [e for e in library.errors if "/blueprints/" in e.path]
    assert not blueprint_errors, "\n".join(str(e) for e in blueprint_errors)
    assert len(library.blueprints) == len(BLUEPRINT_FILES) >= 8
    for blueprint in library.blueprints:
        for slot in (blueprint.lead, *blueprint.members):
            assert library.get(slot.role) is not None, f"{blueprint.id}: unknown role {slot.role}"


def test_the_common_goals_are_covered(library):
    ids = {b.id for b in library.blueprints}
    assert set(REQUIRED) <= ids, set(REQUIRED) - ids


def test_blueprint_leads_are_lead_roles_and_teams_are_reasonable(library):
    for blueprint in library.blueprints:
        assert library.get(blueprint.lead.role).lead, f"{blueprint.id}: {blueprint.lead.role} is not a lead role"
        assert 3 <= blueprint.size <= 12, f"{blueprint.id}: {blueprint.size} agents"
        assert blueprint.description and blueprint.name


def test_expand_every_blueprint(library):
    for blueprint in library.blueprints:
        specs = expand_blueprint(blueprint.id, team_name="Acme", library=library)
        assert all(isinstance(s, AgentSpec) for s in specs)
        assert len(specs) == blueprint.size
        assert specs[0].is_lead and not any(s.is_lead for s in specs[1:])
        assert specs[0].role_id == blueprint.lead.role and "Acme" in specs[0].specialization
        names = [s.name.lower() for s in specs]
        assert len(set(names)) == len(names), f"{blueprint.id}: duplicate names {names}"
        assert all(1 <= len(s.name) <= 100 and len(s.specialization) <= 2000 for s in specs)
        assert all(library.get(s.role_id) is not None for s in specs)


def test_counts_become_numbered_names(library):
    specs = expand_blueprint("api-service", library=library)
    backend = [s for s in specs if s.role_id == "engineering/python-services-engineer"]
    assert [s.name for s in backend] == ["Backend Engineer 1", "Backend Engineer 2"]
    assert all(s.specialization for s in backend)


def test_expand_unknown_blueprint():
    with pytest.raises(BlueprintError) as caught:
        expand_blueprint("no-such-blueprint")
    assert status_for(caught.value) == 404 and "no-such-blueprint" in caught.value.message
    with pytest.raises(ApiError) as api_error:
        roles_api.expand_or_error("no-such-blueprint")
    assert api_error.value.status == 404


# --- validation on load -------------------------------------------------------------------------------------


def test_blueprint_fields_and_shorthands(tmp_path):
    root = _pack(tmp_path, {
        "small": "name: Small\ndescription: A small team.\nlead: team/boss\nmembers:\n  - team/worker\n"
                 "  - role: team/worker\n    count: 2\n    name: Helper\n    focus: Helps.\n",
    })
    library = load_library([root])
    assert not library.errors, [str(e) for e in library.errors]
    blueprint = library.get_blueprint("small")
    assert blueprint.lead.role == "team/boss" and blueprint.size == 4
    specs = expand_blueprint("small", library=library)
    assert [(s.name, s.role_id, s.is_lead) for s in specs] == [
        ("Boss", "team/boss", True), ("Worker", "team/worker", False),
        ("Helper 1", "team/worker", False), ("Helper 2", "team/worker", False),
    ]
    assert specs[2].specialization == "Helps." and specs[1].specialization == ""


def test_name_collisions_get_a_number(tmp_path):
    root = _pack(tmp_path, {
        "clash": "name: Clash\ndescription: Same names.\nlead: {role: team/boss, name: Sam}\nmembers:\n"
                 "  - {role: team/worker, name: sam}\n  - {role: team/worker, name: Sam 2}\n  - team/worker\n"
                 "  - team/worker\n",
    })
    names = [s.name for s in expand_blueprint("clash", library=load_library([root]))]
    assert names == ["Sam", "sam 2", "Sam 2 2", "Worker", "Worker 2"]
    assert len({n.lower() for n in names}) == len(names)


def test_bad_blueprints_are_reported_by_file_and_reason(tmp_path):
    good = "name: Good\ndescription: Fine.\nlead: team/boss\nmembers: [team/worker]\n"
    bad = {
        "unknown-role": ("name: U\ndescription: D\nlead: team/boss\nmembers: [team/ghost]\n",
                         "members.0: unknown role 'team/ghost'"),
        "unknown-lead": ("name: U\ndescription: D\nlead: team/nobody\nmembers: [team/worker]\n",
                         "lead: unknown role 'team/nobody'"),
        "broken-yaml": ("name: [\n", "invalid YAML in the blueprint"),
        "no-members": ("name: N\ndescription: D\nlead: team/boss\nmembers: []\n", "members"),
        "zero-count": ("name: Z\ndescription: D\nlead: team/boss\nmembers:\n  - {role: team/worker, count: 0}\n",
                       "count"),
        "typo-field": (good + "membres: []\n", "membres"),
        "wrong-id": ("id: other\n" + good, "does not match the file name"),
        "not-a-role-id": ("name: N\ndescription: D\nlead: boss\nmembers: [team/worker]\n", "lead.role"),
        "a-list": ("- a\n- b\n", "must be a YAML mapping"),
    }
    root = _pack(tmp_path, {"good": good, **{k: v for k, (v, _) in bad.items()}})
    library = load_library([root])
    assert [b.id for b in library.blueprints] == ["good"]
    reported = {Path(e.path).stem: e.reason for e in library.errors}
    assert set(reported) == set(bad)
    for stem, (_, reason) in bad.items():
        assert reason in reported[stem], (stem, reported[stem])


def test_later_dirs_override_blueprints_by_id(tmp_path):
    first = _pack(tmp_path / "a", {"team": "name: First\ndescription: D\nlead: team/boss\nmembers: [team/worker]\n"})
    second = _pack(tmp_path / "b", {"team": "name: Second\ndescription: D\nlead: team/boss\nmembers: [team/boss]\n"})
    assert load_library([first, second]).get_blueprint("team").name == "Second"
    assert load_library([second, first]).get_blueprint("team").name == "First"


# --- API ----------------------------------------------------------------------------------------------------


def test_api_lists_blueprints(client, library):
    data = client.get("/api/blueprints").get_json()
    ids = [b["id"] for b in data["blueprints"]]
    assert set(REQUIRED) <= set(ids)
    web_app = next(b for b in data["blueprints"] if b["id"] == "web-app")
    assert web_app["lead"]["role"] == "engineering/tech-lead" and web_app["lead"]["role_name"] == "Tech Lead"
    assert web_app["size"] == len(web_app["agents"])
    assert web_app["agents"][0]["is_lead"] is True
    assert all({"role", "count", "role_name", "emoji"} <= set(m) for m in web_app["members"])


def test_api_one_blueprint_and_404(client):
    response = client.get("/api/blueprints/bug-triage")
    assert response.status_code == 200
    data = response.get_json()
    assert data["id"] == "bug-triage" and data["agents"][0]["role_id"] == data["lead"]["role"]
    missing = client.get("/api/blueprints/nope")
    assert missing.status_code == 404 and "nope" in missing.get_json()["message"]
