"""Accessibility of every page, checked by axe-core (vendored, web/static/vendor/axe-core-4.14.1) in a real
browser (Debian's Chromium against a real gunicorn), in the dark and the light theme: no violation of WCAG 2.1
A/AA rated serious or critical — contrast, names of controls, labels, roles, landmarks, keyboard traps.

Each page is checked as a user sees it with content: a team with members, tasks of every kind of card, a
conversation; dialogs are checked open, since they are where forms live.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.support.crew import handed_in_for_review
from tests.support.processes import Web
from tests.support.ui_fixtures import real_errors

pytest_plugins = ("tests.support.ui_fixtures",)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE = "/static/vendor/axe-core-4.14.1/axe.min.js"
SERIOUS = ("serious", "critical")
RUN_AXE = """async () => {
  const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  const where = (n) => `${n.target.join(' ')}: ${n.failureSummary.split('\\n').slice(1).join(' ')}`;
  return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                        nodes: v.nodes.slice(0, 5).map(where)}));
}"""


@pytest.fixture(scope="module")
def team(web: Web) -> dict[str, Any]:
    """A team with work on its board (one task in review with a change, one blocked) and a conversation."""
    created = requests.post(f"{web.url}/api/teams", timeout=10, json={
        "name": "Accessible team", "description": "Checked by axe",
        "members": [{"name": "Ann", "role_id": "engineering/frontend-engineer"}]}).json()
    ann = next(m for m in created["members"] if m["name"] == "Ann")
    task, run = handed_in_for_review(created["id"], ann, "Write the page", {"page.md": "# Page\n"}, "wrote the page")
    created["review_task"] = task
    created["run_id"] = run["id"]
    requests.post(f"{web.url}/api/teams/{created['id']}/tasks", timeout=10,
                  json={"title": "Check the page", "depends_on": [task["id"]]})
    requests.post(f"{web.url}/api/teams/{created['id']}/messages", timeout=10,
                  json={"message": "Please build **the page**, with a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |"})
    return created


def _serious_violations(p: Any) -> list[dict[str, Any]]:
    if not p.evaluate("typeof window.axe !== 'undefined'"):
        p.add_script_tag(url=AXE)
    return [v for v in p.evaluate(RUN_AXE) if v["impact"] in SERIOUS]


def _check(p: Any, where: str, found: dict[str, list[dict[str, Any]]]) -> None:
    violations = _serious_violations(p)
    if violations:
        found[where] = violations


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_every_page_has_no_serious_accessibility_violation(web: Web, page, team: dict[str, Any], theme: str) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    p.emulate_media(color_scheme=theme, reduced_motion="reduce")
    found: dict[str, list[dict[str, Any]]] = {}

    p.goto(f"{web.url}/")
    expect(p.locator(".team-card", has_text="Accessible team")).to_be_visible()
    expect(p.locator("html")).to_have_attribute("data-theme", theme)
    _check(p, "dashboard", found)
    p.locator("#new-team").click()
    expect(p.locator("dialog[open]")).to_be_visible()
    _check(p, "dashboard: new team dialog", found)
    p.keyboard.press("Escape")

    p.goto(f"{web.url}/teams/{team['id']}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    expect(p.locator(f"[data-card-task='{team['review_task']['id']}']")).to_be_visible()
    expect(p.locator(".msg", has_text="Please build")).to_be_visible()
    _check(p, "team page", found)
    p.locator(f"[data-task-id='{team['review_task']['id']}']").click()
    expect(p.locator("#task-diff code.language-diff")).to_be_visible()
    _check(p, "team page: task detail", found)
    p.keyboard.press("Escape")
    p.locator(".agent-node", has_text="Ann").click()
    expect(p.locator("#agent-panel")).to_be_visible()
    _check(p, "team page: agent panel", found)
    p.keyboard.press("Escape")
    p.locator("#board-toggle").click()
    _check(p, "team page: wide board", found)
    p.locator("#board-toggle").click()
    for tab in ("runs", "log", "files"):
        p.locator(f"#tab-{tab}").click()
        expect(p.locator(f"#panel-{tab}")).to_be_visible()
        _check(p, f"team page: {tab} tab", found)

    p.goto(f"{web.url}/runs/{team['run_id']}")
    expect(p.locator(".run-trace .ev").first).to_be_visible()
    _check(p, "run page", found)

    p.goto(f"{web.url}/trace?team_id={team['id']}")
    expect(p.locator(".ev").first).to_be_visible()
    _check(p, "trace", found)

    p.goto(f"{web.url}/doctor")
    expect(p.locator("#doctor-checks")).to_have_attribute("aria-busy", "false")
    _check(p, "doctor", found)

    p.goto(f"{web.url}/no/such/page")
    _check(p, "not found", found)

    p.goto(f"{web.url}/api/docs")
    expect(p.locator("#api-operations")).to_have_attribute("aria-busy", "false")
    _check(p, "API docs", found)

    assert found == {}, "\n".join(
        f"{where}: [{v['impact']}] {v['id']} — {v['help']}\n    " + "\n    ".join(v["nodes"])
        for where, violations in found.items() for v in violations)
    assert [e for e in real_errors(errors) if "404" not in e] == [], errors
