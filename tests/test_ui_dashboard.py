"""The dashboard in a real browser (Debian's Chromium against a real gunicorn): each team card says what each of
its agents does now and follows the live stream; archived teams come last, labelled so; "Stop everything", after
its confirmation, stops only the teams that had work — an idle team keeps its state and its chat — and the
stopped team's chat says so in a plain sentence.

Runs start as a worker would start them (tests.support.crew.start); no worker runs here, so queued runs stay
queued until a test takes them.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from orchestrator.domain import USER
from orchestrator.workflows import delegation
from orchestrator.workflows.delegation import TaskSpec
from shared import db
from tests.support.crew import finish, start
from tests.support.processes import Web
from tests.support.ui_fixtures import real_errors

pytest_plugins = ("tests.support.ui_fixtures",)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _team(web: Web, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A team with a lead and Ann; returns (team, ann)."""
    response = requests.post(f"{web.url}/api/teams", timeout=10, json={
        "name": name, "members": [{"name": "Ann", "role_id": "engineering/frontend-engineer"}]})
    assert response.status_code == 201, response.text
    team = response.json()
    return team, next(m for m in team["members"] if m["name"] == "Ann")


def _api(web: Web, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{web.url}{path}", timeout=10, **kwargs)
    assert response.status_code in (200, 201, 202), response.text
    return response.json()


def _open_dashboard(p: Any, web: Web) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p.goto(f"{web.url}/")
    expect(p.locator("#conn")).to_have_attribute("data-state", "live")


def test_a_card_says_what_each_agent_does_now_live_and_archived_teams_come_last_labelled(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team, ann = _team(web, "Card work")
    with db.transaction() as conn:
        delegation.create(conn, team["id"], [TaskSpec("Build the page", assignee="Ann"),
                                             TaskSpec("Write the docs", assignee="Ann")], USER)
    gone = _api(web, "POST", "/api/teams", json={"name": "Card gone"})
    _api(web, "DELETE", f"/api/teams/{gone['id']}")
    _open_dashboard(p, web)
    card = p.locator(f"article.team-card[data-team-id='{team['id']}']")
    line = card.locator(f".tc-doing li[data-agent-id='{ann['id']}']")
    expect(line.locator(".tc-doing-text")).to_have_text("Ann — queued: Build the page")
    expect(line).to_have_attribute("data-doing", "queued")

    run, _ = start(ann["id"])  # live: the stream says so, the card follows
    expect(line.locator(".tc-doing-text")).to_have_text("Ann — running: Build the page")
    expect(card.locator(".tc-working")).to_contain_text("1 agent working")
    _api(web, "POST", f"/api/agents/{ann['id']}/stop")  # the queued run is cancelled, the running one asked to
    expect(line.locator(".tc-doing-text")).to_have_text("Ann — stopping: Build the page")
    finish(run, "cancelled")  # its worker ended the CLI: nothing left to say about Ann
    expect(line).to_have_count(0)
    assert _api(web, "GET", f"/api/runs/{run['id']}")["state"] == "cancelled"
    _api(web, "POST", f"/api/teams/{team['id']}/stop")  # the lead, woken by the cancelled tasks, is stopped too
    expect(card.locator(".tc-quiet")).to_have_text("Stopped: the agents wait for your next message")

    expect(p.locator(f"article.team-card[data-team-id='{gone['id']}']")).to_have_count(0)
    p.locator("#show-archived").check()
    archived = p.locator(f"article.team-card[data-team-id='{gone['id']}']")
    expect(archived.locator(".tc-head .badge")).to_have_text("Archived")
    expect(archived.locator(".archived-label")).to_contain_text("Archived")
    states = p.locator("article.team-card").evaluate_all(
        "cards => cards.map(c => c.classList.contains('is-archived'))")
    assert states == sorted(states) and states[-1], f"archived cards after every active one: {states}"
    assert real_errors(errors) == [], errors


def test_stop_everything_stops_only_the_team_with_work_and_its_chat_says_so(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    busy, _ = _team(web, "Busy team")
    idle, _ = _team(web, "Idle team")
    lead = next(m for m in busy["members"] if m["is_lead"])
    _api(web, "POST", f"/api/teams/{busy['id']}/messages", json={"message": "Build a landing page"})
    idle_before = _api(web, "GET", f"/api/teams/{idle['id']}")
    idle_chat = _api(web, "GET", f"/api/teams/{idle['id']}/messages")["messages"]
    idle_events = _api(web, "GET", f"/api/teams/{idle['id']}/events")["events"]

    _open_dashboard(p, web)
    busy_card = p.locator(f"article.team-card[data-team-id='{busy['id']}']")
    idle_card = p.locator(f"article.team-card[data-team-id='{idle['id']}']")
    expect(busy_card.locator(f".tc-doing li[data-agent-id='{lead['id']}'] .tc-doing-text")).to_have_text(
        f"{lead['name']} — queued: answering you")
    expect(idle_card.locator(".tc-quiet")).to_have_text("All idle")

    p.locator("#stop-all").click()
    confirm = p.locator("dialog[open]")
    expect(confirm).to_contain_text("Busy team")
    expect(confirm).not_to_contain_text("Idle team")
    confirm.get_by_role("button", name="Cancel").click()  # asked first: nothing happens without a yes
    expect(p.locator("dialog[open]")).to_have_count(0)
    assert _api(web, "GET", f"/api/teams/{busy['id']}/runs?state=queued,running")["runs"], "still queued after Cancel"

    p.locator("#stop-all").click()
    p.locator("dialog[open] [data-confirm]").click()
    expect(p.locator(".toast-success")).to_contain_text("Stopped")
    expect(busy_card.locator(".tc-quiet")).to_have_text("Stopped: the agents wait for your next message")

    after = _api(web, "GET", f"/api/teams/{busy['id']}")
    assert {m["status"] for m in after["members"]} == {"stopped"}
    active = _api(web, "GET", f"/api/teams/{busy['id']}/runs?state=queued,running")["runs"]
    assert active == [], "its queued run was cancelled"
    idle_after = _api(web, "GET", f"/api/teams/{idle['id']}")
    assert [m["status"] for m in idle_after["members"]] == [m["status"] for m in idle_before["members"]]
    assert idle_after["updated_at"] == idle_before["updated_at"]
    assert _api(web, "GET", f"/api/teams/{idle['id']}/messages")["messages"] == idle_chat, "its chat untouched"
    assert _api(web, "GET", f"/api/teams/{idle['id']}/events")["events"] == idle_events, "nothing happened to it"
    expect(idle_card.locator(".tc-quiet")).to_have_text("All idle")

    busy_card.locator("a").click()
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    notice = p.locator("#chat .msg", has_text="The team was stopped")
    expect(notice).to_contain_text("1 run was cancelled")
    expect(notice).to_contain_text("until you send a message")
    assert "process" not in notice.inner_text().lower(), "a plain sentence, no jargon"
    assert real_errors(errors) == [], errors


def test_a_card_with_long_unbroken_words_keeps_to_its_column(web: Web, page) -> None:
    """Names, descriptions and task titles are the users' and the agents' own words: one without a space (a path,
    a URL) wraps or is cut inside its card, and never widens the page (seen in CI: a dashboard 642 px too wide)."""
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    word = "/work/a-very-long-path/" + "without-any-space-" * 12
    response = requests.post(f"{web.url}/api/teams", timeout=10, json={
        "name": f"Team{word[:90]}", "description": f"Builds{word}",
        "members": [{"name": "Ann", "role_id": "engineering/frontend-engineer"}]})
    assert response.status_code == 201, response.text
    team = response.json()
    _api(web, "POST", f"/api/teams/{team['id']}/tasks", json={"title": f"Fix{word[:190]}", "assignee": "Ann"})
    p.set_viewport_size({"width": 1024, "height": 768})
    _open_dashboard(p, web)
    card = p.locator(f'.team-card[data-team-id="{team["id"]}"]')
    expect(card.locator('[data-doing="queued"]')).to_contain_text("Fix/work")
    overflow = p.evaluate("document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the window"
    box, grid = card.bounding_box(), p.locator("#team-grid").bounding_box()
    assert box is not None and grid is not None and box["x"] + box["width"] <= grid["x"] + grid["width"] + 1
    assert real_errors(errors) == [], errors


def test_a_slower_earlier_load_of_the_teams_never_draws_over_a_later_one(web: Web, page) -> None:
    """Showing archived teams reloads the list; a load still in flight for the other filter (or a reconnect's
    reload) is aborted, so its answer, however late, cannot replace the list the user asked for last. Here every
    load without archived teams is held back by the browser's router while the filter is switched off and on."""
    from playwright.sync_api import expect  # noqa: PLC0415

    opened, errors = page
    old = _api(web, "POST", "/api/teams", json={"name": "Archived behind a slow load"})
    _api(web, "DELETE", f"/api/teams/{old['id']}")
    opened.goto(f"{web.url}/")
    expect(opened.locator("#team-grid")).to_have_attribute("aria-busy", "false")
    held: list[Any] = []

    def hold_unarchived(route: Any) -> None:
        if "include_archived=true" in route.request.url:
            route.continue_()
        else:
            held.append(route)  # never answered: only an abort by the page ends it

    opened.route("**/api/teams*", hold_unarchived)
    box = opened.locator("#show-archived")
    box.check()
    card = opened.locator(f"article.team-card[data-team-id='{old['id']}']")
    expect(card).to_contain_text("Archived")
    with opened.expect_event("requestfailed", lambda request: "include_archived" not in request.url):
        box.uncheck()  # a load without archived teams, held
        expect(opened.locator("#show-archived")).not_to_be_checked()
        box.check()  # the later load: it aborts the held one
    expect(card).to_contain_text("Archived")
    expect(opened.locator("#dash-summary")).to_contain_text("archived")
    assert len(held) == 1
    opened.unroute("**/api/teams*")
    assert real_errors(errors) == [], errors
