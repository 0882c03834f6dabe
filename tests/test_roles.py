"""The role library: the files shipped in roles/, the loader, GAMMA_ROLES_PATH, community packs, and the API."""

from __future__ import annotations

import random
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.library.role_files import BLUEPRINTS_DIR
from orchestrator.library.roles import REPO_ROLES_DIR, RoleLibrary, get_library, load_library, reload_library
from shared.config import get_settings, reset_settings_cache
from tests.support.roles_api import roles_client
from tests.support.similarity import SHINGLE_WORDS, all_pairs, compare, paragraphs, shingles
from web.api import roles as roles_api

FIXTURES = Path(__file__).resolve().parent / "fixtures"
COMMUNITY_PACK = FIXTURES / "community-pack"
SECTIONS = ("## Mission", "## What you own", "## How you work", "## What you deliver", "## Reporting back")
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

# Near-duplicate thresholds (5-word shingles, see tests/support/similarity.py). Distinct roles written for this
# library score at most ~0.05 Jaccard / ~0.10 containment (the closest pair is the accessibility engineer and
# the accessibility auditor, which share WCAG vocabulary). A copy of a role with one word in five changed still
# scores ~0.20 Jaccard (a shingle survives with probability 0.8^5 = 0.33, J = s / (2 - s)); one in eight
# changed scores ~0.34. So 0.15 flags any derived copy with fewer than ~24% of its words changed, with a 3x
# margin over the most similar honest pair. Containment 0.25 flags a body a quarter of whose phrases sit inside
# another body. Shared boilerplate paragraphs are caught separately, exactly (test below).
MAX_JACCARD = 0.15
MAX_CONTAINMENT = 0.25


@pytest.fixture
def client():
    """This module's own client (a global plugin fixture would replace tests.support.orchestrator's)."""
    return roles_client()


@pytest.fixture(scope="module")
def library() -> RoleLibrary:
    return load_library([REPO_ROLES_DIR])


def _role_files() -> list[Path]:
    return sorted(p for p in REPO_ROLES_DIR.glob("*/**/*.md") if p.relative_to(REPO_ROLES_DIR).parts[0]
                  != BLUEPRINTS_DIR)


# --- the shipped library ------------------------------------------------------------------------------------


def test_every_role_file_is_valid(library):
    assert not library.errors, "invalid role files:\n" + "\n".join(str(e) for e in library.errors)
    assert len(library) == len(_role_files()), "some role files were skipped by the loader"


def test_ids_slugs_and_names_are_unique_and_well_formed(library):
    roles = library.all()
    assert len({r.id for r in roles}) == len(roles)
    assert len({r.id.lower() for r in roles}) == len(roles), "ids differing only by case"
    bad = [r.id for r in roles if not (SLUG.match(r.category) and SLUG.match(r.slug))]
    assert not bad, f"ids must be lowercase-hyphen slugs (roles/FORMAT.md): {bad}"
    names = Counter(r.name.lower() for r in roles)
    assert not [n for n, c in names.items() if c > 1], "two roles with the same name"


def test_library_size_categories_and_leads(library):
    roles = library.all()
    assert len(roles) >= 160, f"only {len(roles)} roles"
    assert len(library.categories()) >= 12, library.categories()
    assert len(library.leads()) >= 12, [r.id for r in library.leads()]
    per_category = Counter(r.category for r in roles)
    assert min(per_category.values()) >= 3, per_category


def test_every_body_is_long_enough_and_follows_the_format(library):
    lengths = {r.id: len(r.body) for r in library.all()}
    short = {k: v for k, v in lengths.items() if v < 1500}
    assert not short, f"bodies under 1,500 characters: {short}"
    print(f"\nbody length: min {min(lengths.values())}, median {statistics.median(lengths.values())}, "
          f"max {max(lengths.values())}")
    for role in library.all():
        missing = [s for s in SECTIONS if not re.search(rf"^{re.escape(s)}", role.body, re.MULTILINE)]
        assert not missing, f"{role.id}: missing sections {missing}"
        assert "gamma-agent" in role.body, f"{role.id}: says nothing about reporting through gamma-agent"
        assert role.task_kinds, f"{role.id}: no task_kinds"


LEAD_DUTIES = {
    "plans tasks": r"gamma-agent (task create|plan)",
    "delegates": r"delegat|assign|owner|split|decompos|hand (it |them )?(off|over)",
    "reviews results": r"review",
    "answers the user": r"answer|the user|final (summary|report)",
}


def test_lead_roles_describe_planning_delegation_review_and_answer(library):
    for role in library.leads():
        missing = [duty for duty, pattern in LEAD_DUTIES.items() if not re.search(pattern, role.body, re.IGNORECASE)]
        assert not missing, f"{role.id}: a lead's body must say how it {', '.join(missing)}"


def test_no_two_roles_are_near_duplicates(library):
    started = time.monotonic()
    pairs = all_pairs({r.id: r.body for r in library.all()})
    elapsed = time.monotonic() - started
    top, most_contained = pairs[0], max(pairs, key=lambda p: p.containment)
    print(f"\n{len(pairs)} pairs in {elapsed:.2f}s; max Jaccard {top.jaccard:.3f} ({top.a} ~ {top.b}); "
          f"max containment {most_contained.containment:.3f} ({most_contained.a} ~ {most_contained.b})")
    too_close = [p for p in pairs if p.jaccard > MAX_JACCARD or p.containment > MAX_CONTAINMENT]
    assert not too_close, f"near-duplicate roles: {too_close[:10]}"


def test_similarity_measure_flags_an_edited_copy(library):
    """The threshold is meaningful: a role copied with one word in five changed is caught; honest pairs are not."""
    body = library.all()[0].body
    tokens = body.split()
    rng = random.Random(4)
    edited = " ".join(f"x{i}" if rng.random() < 0.2 else t for i, t in enumerate(tokens))
    jaccard, containment = compare(shingles(body), shingles(edited))
    assert jaccard > MAX_JACCARD and containment > MAX_CONTAINMENT, (jaccard, containment, SHINGLE_WORDS)
    half = " ".join(tokens[: len(tokens) // 2]) + " " + library.all()[1].body
    assert compare(shingles(body), shingles(half))[1] > MAX_CONTAINMENT


def test_no_boilerplate_paragraph_is_shared_between_roles(library):
    seen: dict[str, list[str]] = defaultdict(list)
    for role in library.all():
        for paragraph in paragraphs(role.body):
            seen[paragraph].append(role.id)
    shared = {p[:80]: ids for p, ids in seen.items() if len(ids) > 1}
    assert not shared, f"paragraphs repeated across roles: {shared}"


# --- the loader ---------------------------------------------------------------------------------------------

GOOD = """---
name: {name}
description: "Does things: well."
emoji: "🧪"
color: blue
vibe: Careful.
task_kinds: [qa, review]
lead: true
tools: [Read, Grep, "Bash(git log:*)"]
model: sonnet
---

# {name}

The persona.
"""


def _write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_loader_parses_every_field(tmp_path):
    _write(tmp_path, "testing/checker.md", GOOD.format(name="Checker"))
    library = load_library([tmp_path])
    assert not library.errors
    role = library.get("testing/checker")
    assert role is not None
    assert (role.id, role.category, role.slug, role.name) == ("testing/checker", "testing", "checker", "Checker")
    assert role.description == "Does things: well."
    assert (role.emoji, role.color, role.vibe) == ("🧪", "blue", "Careful.")
    assert role.tools == ["Read", "Grep", "Bash(git log:*)"] and role.disallowed_tools is None
    assert role.model == "sonnet" and role.task_kinds == ["qa", "review"] and role.lead is True
    assert role.body == "# Checker\n\nThe persona."
    assert role.path == tmp_path / "testing" / "checker.md"


def test_loader_reports_each_bad_file_by_name_and_reason_and_keeps_going(tmp_path):
    _write(tmp_path, "good/alpha.md", GOOD.format(name="Alpha"))
    _write(tmp_path, "good/omega.md", GOOD.format(name="Omega"))
    bad = {
        "bad/no-front-matter.md": ("# Just Markdown\n", "no YAML front matter"),
        "bad/broken-yaml.md": ("---\nname: [unclosed\ndescription: x\n---\nbody\n", "invalid YAML"),
        "bad/missing-vibe.md": (GOOD.format(name="X").replace("vibe: Careful.\n", ""), "vibe: Field required"),
        "bad/unknown-kind.md": (GOOD.format(name="X").replace("[qa, review]", "[qa, cooking]"), "task_kinds.1"),
        "bad/bad-tool.md": (GOOD.format(name="X").replace("[Read, ", "['--dangerous', "), "not a tool name"),
        "bad/not-a-mapping.md": ("---\n- a\n- b\n---\nbody\n", "must be a YAML mapping"),
        "bad/empty-body.md": ("---\nname: A\ndescription: B\nemoji: C\ncolor: D\nvibe: E\n---\n\n", "no Markdown body"),
        "bad/lead-not-bool.md": (GOOD.format(name="X").replace("lead: true", "lead: maybe"), "lead:"),
        "bad/latin1.md": (None, "not UTF-8"),
        "bad/Bad Name.md": (GOOD.format(name="X"), "not usable in a role id"),
        "bad/unknown-backend.md": (GOOD.format(name="X").replace("lead: true", "lead: true\nbackend: gpt"),
                                   "unknown backend 'gpt'"),
    }
    for relative, (text, _) in bad.items():
        if text is None:
            (tmp_path / relative).write_bytes("---\nname: caf\xe9\n---\n".encode("latin-1"))
        else:
            _write(tmp_path, relative, text)
    library = load_library([tmp_path])
    assert sorted(r.id for r in library.all()) == ["good/alpha", "good/omega"]
    reported = {Path(e.path).relative_to(tmp_path).as_posix(): e.reason for e in library.errors}
    assert set(reported) == set(bad)
    for relative, (_, reason) in bad.items():
        assert reason in reported[relative], (relative, reported[relative])
        assert relative in str(next(e for e in library.errors if e.path.endswith(relative)))


def test_yaml_error_names_the_line(tmp_path):
    _write(tmp_path, "x/y.md", "---\nname: A\ndescription: B\nemoji: [\n---\nbody\n")
    (error,) = load_library([tmp_path]).errors
    assert "line" in error.reason and error.path.endswith("y.md")


def test_missing_directory_is_reported_not_fatal(tmp_path):
    _write(tmp_path, "a/b.md", GOOD.format(name="B"))
    library = load_library([tmp_path / "nope", tmp_path])
    assert library.get("a/b") is not None
    assert [e.reason for e in library.errors] == ["roles directory not found"]


def test_tools_as_string_or_list_and_model_inherit(tmp_path):
    text = GOOD.format(name="T").replace('tools: [Read, Grep, "Bash(git log:*)"]', "tools: WebFetch, WebSearch, Read")
    text = text.replace("model: sonnet", "model: inherit\ndisallowed_tools: Bash, Write")
    _write(tmp_path, "c/t.md", text)
    role = load_library([tmp_path]).get("c/t")
    assert role.tools == ["WebFetch", "WebSearch", "Read"]
    assert role.disallowed_tools == ["Bash", "Write"]
    assert role.model is None


def test_community_pack_loads_as_is():
    library = load_library([COMMUNITY_PACK])
    assert not library.errors, [str(e) for e in library.errors]
    assert sorted(r.id for r in library.all()) == [
        "engineering/engineering-frontend-developer",
        "game-development/unity/unity-architect",
        "paid-media/paid-media-tracking-specialist",
        "specialized/agents-orchestrator",
    ]
    nested = library.get("game-development/unity/unity-architect")
    assert (nested.category, nested.slug, nested.emoji) == ("game-development", "unity/unity-architect", "🏛️")
    orchestrator = library.get("specialized/agents-orchestrator")
    assert orchestrator.tools == ["WebFetch", "WebSearch", "Read"]
    assert orchestrator.color == "#00FFFF" and orchestrator.lead is False and orchestrator.task_kinds == []
    tracking = library.get("paid-media/paid-media-tracking-specialist")
    assert tracking.tools == ["WebFetch", "WebSearch", "Read", "Write", "Edit", "Bash"]
    groups = {g.id: g.name for g in library.grouped()}
    assert groups["game-development"] == "Game Development" and "leadership" not in groups


@pytest.fixture
def roles_path(monkeypatch) -> Iterator[Callable[..., RoleLibrary]]:
    def use(*dirs: Path) -> RoleLibrary:
        monkeypatch.setenv("GAMMA_ROLES_PATH", ":".join(str(d) for d in dirs))
        reset_settings_cache()
        return reload_library()

    yield use
    monkeypatch.delenv("GAMMA_ROLES_PATH", raising=False)
    reset_settings_cache()
    reload_library()


def test_gamma_roles_path_adds_dirs_and_later_ones_override_by_id(tmp_path, roles_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _write(first, "engineering/software-architect.md", GOOD.format(name="First Architect"))
    _write(first, "extra/only-first.md", GOOD.format(name="Only First"))
    _write(second, "engineering/software-architect.md", GOOD.format(name="Second Architect"))
    library = roles_path(first, second)
    assert library is get_library()
    assert library.get("engineering/software-architect").name == "Second Architect"
    assert library.get("extra/only-first").name == "Only First"
    assert library.get("engineering/tech-lead") is not None, "the repository's roles are still there"
    assert library.dirs == [REPO_ROLES_DIR, first, second]
    library = roles_path(second, first)
    assert library.get("engineering/software-architect").name == "First Architect"


def test_a_role_can_choose_the_backend_its_agents_run_on(tmp_path, roles_path):
    from orchestrator.domain import AgentSpec  # noqa: PLC0415
    from orchestrator.workflows.team_setup import with_role_defaults as _with_role_defaults  # noqa: PLC0415

    _write(tmp_path, "engineering/codex-dev.md", GOOD.format(name="Codex Dev").replace("lead: true", "backend: codex"))
    library = roles_path(tmp_path)
    assert library.get("engineering/codex-dev").detail()["backend"] == "codex"
    assert library.get("engineering/tech-lead").backend is None
    from_role = _with_role_defaults(AgentSpec(name="C", role_id="engineering/codex-dev"))
    chosen = _with_role_defaults(AgentSpec(name="C", role_id="engineering/codex-dev", backend="claude"))
    default = _with_role_defaults(AgentSpec(name="L", role_id="engineering/tech-lead"))
    assert (from_role["backend"], chosen["backend"]) == ("codex", "claude")
    assert default["backend"] == get_settings().backend


def test_gamma_roles_path_loads_the_community_pack(roles_path):
    library = roles_path(COMMUNITY_PACK)
    assert library.get("game-development/unity/unity-architect") is not None
    assert library.get("engineering/tech-lead") is not None
    assert not library.errors


# --- grouping and search ------------------------------------------------------------------------------------


def test_grouped_puts_leadership_first_then_categories_by_display_name(library):
    groups = library.grouped()
    assert groups[0].id == "leadership" and groups[0].name == "Leadership"
    assert {r.id for r in groups[0].roles} == {r.id for r in library.leads()}
    rest = groups[1:]
    assert [g.name for g in rest] == sorted((g.name for g in rest), key=str.lower)
    assert sum(len(g.roles) for g in rest) == len(library)
    for group in rest:
        assert [r.name.lower() for r in group.roles] == sorted(r.name.lower() for r in group.roles)
        assert all(r.category == group.id for r in group.roles)
    names = {g.id: g.name for g in rest}
    assert names.get("data-ai") == "Data & AI" and names.get("devops") == "DevOps & Infrastructure"


def test_search_is_case_insensitive_over_name_description_and_vibe(tmp_path):
    _write(tmp_path, "a/one.md", GOOD.format(name="Kubernetes Pilot"))
    _write(tmp_path, "a/two.md", GOOD.format(name="Two").replace("vibe: Careful.", "vibe: Loves KUBERNETES."))
    _write(tmp_path, "b/three.md", GOOD.format(name="Three").replace("Does things: well.", "Helm charts"))
    _write(tmp_path, "b/four.md", GOOD.format(name="Four") + "\nkubernetes only in the body\n")
    library = load_library([tmp_path])
    assert [r.id for r in library.search("kubernetes")] == ["a/one", "a/two"]
    assert [r.id for r in library.search("HELM")] == ["b/three"]
    assert [r.id for r in library.search("does well")] == ["b/four", "a/one", "a/two"]
    assert library.search("nothing-like-this") == []
    assert len(library.search("")) == 4


def test_get_unknown_role_is_none(library):
    assert library.get("engineering/no-such-role") is None
    assert library.get("") is None


# --- API ----------------------------------------------------------------------------------------------------


def test_api_lists_roles_grouped(client):
    response = client.get("/api/roles")
    assert response.status_code == 200
    data = response.get_json()
    assert data["count"] == len(get_library())
    assert data["groups"][0]["id"] == "leadership"
    role = data["groups"][1]["roles"][0]
    assert set(role) >= {"id", "name", "description", "emoji", "color", "vibe", "lead", "task_kinds"}
    assert "body" not in role


def test_api_search(client):
    data = client.get("/api/roles", query_string={"q": "KUBERNETES"}).get_json()
    ids = [r["id"] for g in data["groups"] for r in g["roles"]]
    assert "devops/kubernetes-specialist" in ids
    expected = {r.id for r in get_library().search("kubernetes")}
    assert set(ids) == expected and data["count"] == len(expected)
    empty = client.get("/api/roles?q=zzzz-no-such-thing").get_json()
    assert empty["count"] == 0 and empty["groups"] == []
    assert client.get("/api/roles", query_string={"q": "x" * 201}).status_code == 400


def test_api_one_role_with_full_text(client):
    response = client.get("/api/roles/engineering/tech-lead")
    assert response.status_code == 200
    data = response.get_json()
    assert data["id"] == "engineering/tech-lead" and data["lead"] is True
    assert data["body"] == get_library().get("engineering/tech-lead").body
    assert {"tools", "disallowed_tools", "model"} <= set(data)


def test_api_unknown_role_is_404_with_a_message(client):
    response = client.get("/api/roles/engineering/no-such-role")
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"] == "not_found" and "engineering/no-such-role" in body["message"]


def test_roles_blueprint_is_auto_registered():
    from web.app import discover_blueprints

    assert roles_api.bp in discover_blueprints()
