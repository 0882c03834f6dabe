"""A team's budget in a real browser (Debian's Chromium against a real gunicorn): the header shows spend of the
budget, warns from 80 %, says so when the spent budget pauses the team, and raising the budget from the page
resumes the held work; a budget can be set and removed. Then the create-team dialog: a blueprint's roles, one
left out and one added from the role library, give a team with exactly those members, and the browser lands on
its page.

Spend is recorded as a worker records it: a run claimed (tests.support.crew.start) ends with its cost.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from orchestrator.domain import USER
from orchestrator.records import runs
from orchestrator.workflows import delegation, run_lifecycle
from orchestrator.workflows.delegation import TaskSpec
from shared import db
from tests.support.crew import queued, start
from tests.support.processes import Web
from tests.support.ui_fixtures import real_errors

pytest_plugins = ("tests.support.ui_fixtures",)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _team(web: Web, name: str, **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A team with a lead and Ann (a frontend engineer); returns (team, ann)."""
    response = requests.post(f"{web.url}/api/teams", timeout=10, json={
        "name": name, "members": [{"name": "Ann", "role_id": "engineering/frontend-engineer"}], **extra})
    assert response.status_code == 201, response.text
    team = response.json()
    return team, next(m for m in team["members"] if m["name"] == "Ann")


def _spend(run: dict[str, Any], cost: float) -> None:
    """The run ends having cost `cost` (what the worker writes when the CLI reports its usage)."""
    with db.transaction() as conn:
        ended = run_lifecycle.finish(conn, run["id"], run["attempt"], state="succeeded", outcome="success",
                                     fields={"result_text": "ok", "cost_usd": cost})
    assert ended is not None


def _get(web: Web, path: str) -> dict[str, Any]:
    response = requests.get(f"{web.url}{path}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _open_team(p: Any, web: Web, team_id: str) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p.goto(f"{web.url}/teams/{team_id}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    expect(p.locator("#conn")).to_have_attribute("data-state", "live")


def test_the_header_warns_at_80_percent_pauses_when_spent_and_raising_the_budget_resumes(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team, ann = _team(web, "Budgeted", budget_usd=5)
    with db.transaction() as conn:
        delegation.create(conn, team["id"], [TaskSpec(title, assignee="Ann") for title in
                                             ("Build the page", "Style the page", "Test the page")], USER)
    _open_team(p, web, team["id"])
    fact = p.locator(".team-head .budget-fact")
    expect(fact).to_have_attribute("data-budget", "ok")
    expect(fact).to_contain_text("$0.00 of $5.00")
    banner = p.locator("#budget-banner")
    expect(banner).to_be_hidden()

    first, _ = start(ann["id"])
    _spend(first, 4.2)  # 84 %: the warning
    expect(fact).to_contain_text("$4.20 of $5.00")
    expect(fact).to_have_attribute("data-budget", "warned")
    expect(fact).to_have_class(re.compile(r"\bbudget-warned\b"))
    expect(banner).to_be_hidden()

    second, _ = start(ann["id"])
    _spend(second, 1.0)  # running work finishes, and spends past the budget: paused
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Paused: the budget is spent")
    expect(banner).to_contain_text("$5.20 of $5.00")
    expect(fact).to_have_attribute("data-budget", "paused")
    (held,) = queued(ann["id"])
    assert _get(web, f"/api/teams/{team['id']}")["budget_state"] == "paused"
    with db.transaction() as conn:
        claimed, why = runs.claim(conn, held["id"], owner="test-worker", host="test", lease_seconds=300)
    assert claimed is None and "budget is spent" in why, "the queued run is held"

    banner.get_by_role("button", name="Raise the budget…").click()
    dialog = p.locator("dialog[open]")
    amount = dialog.locator("#budget-amount")
    expect(amount).to_be_focused()
    amount.fill("5")  # no more than was spent: said inline, nothing sent
    dialog.get_by_role("button", name="Save budget").click()
    expect(dialog.locator(".field-error")).to_contain_text("already spent $5.20")
    assert _get(web, f"/api/teams/{team['id']}")["budget_usd"] == 5
    amount.fill("20")
    dialog.get_by_role("button", name="Save budget").click()
    expect(p.locator("dialog[open]")).to_have_count(0)
    expect(banner).to_be_hidden()
    expect(fact).to_have_attribute("data-budget", "ok")
    expect(fact).to_contain_text("$5.20 of $20.00")

    after = _get(web, f"/api/teams/{team['id']}")
    assert after["budget_usd"] == 20 and after["budget_state"] == "ok"
    resumed, _ = start(ann["id"])  # claims the next queued run: no longer held
    assert resumed["id"] == held["id"]
    _spend(resumed, 0.0)  # leave nothing running (the database is shared by the session)
    assert real_errors(errors) == [], errors


def test_a_budget_can_be_set_and_removed_from_the_header_and_errors_stay_in_the_dialog(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team, _ = _team(web, "No budget yet")
    _open_team(p, web, team["id"])
    fact = p.locator(".team-head .budget-fact")
    expect(fact).to_have_attribute("data-budget", "none")
    fact.get_by_role("button", name="Set budget").click()
    dialog = p.locator("dialog[open]")
    expect(dialog.locator("[data-remove-budget]")).to_have_count(0)  # nothing to remove yet

    def refuse(route):
        if route.request.method == "PATCH":
            route.fulfill(status=503, content_type="application/json",
                          body='{"error": "unavailable", "message": "the database is not reachable right now"}')
        else:
            route.continue_()

    p.route(f"**/api/teams/{team['id']}", refuse)
    dialog.locator("#budget-amount").fill("10")
    dialog.get_by_role("button", name="Set budget").click()
    expect(dialog.locator(".form-error")).to_contain_text("the database is not reachable right now")
    expect(dialog).to_be_visible()
    p.unroute(f"**/api/teams/{team['id']}")
    dialog.get_by_role("button", name="Set budget").click()
    expect(p.locator("dialog[open]")).to_have_count(0)
    expect(fact).to_contain_text("$0.00 of $10.00")
    assert _get(web, f"/api/teams/{team['id']}")["budget_usd"] == 10

    fact.get_by_role("button", name="Budget…").click()
    p.locator("dialog[open] [data-remove-budget]").click()
    expect(p.locator("dialog[open]")).to_have_count(0)
    expect(fact).to_have_attribute("data-budget", "none")
    assert _get(web, f"/api/teams/{team['id']}")["budget_usd"] is None
    assert [e for e in real_errors(errors) if "503" not in e] == [], errors  # the refused PATCH, logged


def test_the_create_team_dialog_takes_a_blueprints_roles_as_picked_and_opens_the_team(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    blueprint = _get(web, "/api/blueprints/web-app")
    brought = [(a["name"], a["role_id"]) for a in blueprint["agents"]]
    left_out = next((n, r) for n, r in brought if r == "design/ui-designer")
    renamed_from = next((n, r) for n, r in brought if r == "engineering/frontend-engineer")

    p.goto(f"{web.url}/")
    expect(p.locator("#conn")).to_have_attribute("data-state", "live")
    p.locator("#new-team").click()
    dialog = p.locator("dialog[open]")
    dialog.locator("#nt-name").fill("Picked crew")
    dialog.locator(".bp-card[data-blueprint-id='web-app']").click()
    rows = dialog.locator("#nt-roster-list li")
    expect(rows).to_have_count(len(brought))
    for (name, role_id), shown in zip(brought, rows.all(), strict=True):  # lead first, as the blueprint says
        expect(shown).to_have_attribute("data-role-id", role_id)
        expect(shown.locator("input[type=text]")).to_have_value(name)
    lead_row = rows.first
    expect(lead_row).to_contain_text("Lead")
    expect(lead_row.locator("input[type=checkbox]")).to_be_disabled()  # a team always has its lead

    dialog.locator(f"#nt-roster-list li[data-role-id='{left_out[1]}'] input[type=checkbox]").uncheck()
    dialog.locator(f"#nt-roster-list li[data-role-id='{renamed_from[1]}'] input[type=text]").fill("Fran")
    dialog.locator("#nt-adder > summary").click()
    dialog.locator("#nt-roster input[type=search]").fill("backend architect")
    dialog.locator("#nt-roster .role-row[data-role-id='engineering/backend-architect']").click()
    expect(dialog.locator("#nt-member-name")).to_have_value("Backend Architect")
    dialog.locator("#nt-member-add").click()
    expect(rows).to_have_count(len(brought) + 1)
    expect(rows.last).to_have_attribute("data-origin", "added")
    dialog.locator("#nt-budget").fill("12.5")
    dialog.locator("#nt-create-open").click()

    p.wait_for_url(re.compile(r"/teams/team_[0-9A-Z]+$"))
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    team_id = p.locator("#team-page").get_attribute("data-team-id")
    team = _get(web, f"/api/teams/{team_id}")
    expected = {("Fran" if (n, r) == renamed_from else n, r) for n, r in brought if (n, r) != left_out}
    expected.add(("Backend Architect", "engineering/backend-architect"))
    assert {(m["name"], m["role_id"]) for m in team["members"]} == expected
    assert len(team["members"]) == len(expected)
    assert [m["role_id"] for m in team["members"] if m["is_lead"]] == [brought[0][1]]
    assert team["name"] == "Picked crew" and team["budget_usd"] == 12.5
    expect(p.locator(".team-name")).to_contain_text("Picked crew")
    expect(p.locator(".team-head .budget-fact")).to_contain_text("$0.00 of $12.50")
    assert real_errors(errors) == [], errors
