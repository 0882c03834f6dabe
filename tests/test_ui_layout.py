"""Layout and themes in a real browser (Debian's Chromium against a real gunicorn), at 1024×768, 1280×800 and
1920×1080: every page fits its width; the team page never scrolls as a whole — the chat scrolls inside its
area with its input in view —; side panels fold and resize (pointer and keyboard) and are remembered; the agent
panel takes the work panel's place, never the chat's; the theme follows the system until the user picks one.

Each page is photographed at each width (under pytest's temporary directory); with GAMMA_SCREENSHOT_DIR set, the
team page at 1280 px is written there as screenshot.png — the README's (`make screenshot` writes docs/).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests

from orchestrator.domain import Outbox
from orchestrator.workflows import conversation
from shared import db
from tests.support.processes import Web
from tests.support.ui_fixtures import real_errors

pytest_plugins = ("tests.support.ui_fixtures",)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZES = [(1024, 768), (1280, 800), (1920, 1080)]
ANSWER = """Plan for round {n}:

| task | who | waits for |
|---|---|---|
| Design the landing page | Ann | — |
| Serve the landing page | Ben | the design |

Ann starts now; Ben picks up as soon as the design is merged. I will review both."""
LAST = "Plan for round 6"


@pytest.fixture(scope="module")
def busy_team(web: Web) -> dict[str, Any]:
    """A team with members, tasks and a conversation longer than any screen."""
    team = requests.post(f"{web.url}/api/teams", timeout=10, json={
        "name": "Layout studio", "description": "A team with enough on its plate to fill every panel",
        "members": [{"name": "Ann", "role_id": "engineering/frontend-engineer"},
                    {"name": "Ben", "role_id": "engineering/backend-architect"}]}).json()
    first = requests.post(f"{web.url}/api/teams/{team['id']}/tasks", timeout=10,
                          json={"title": "Design the landing page", "assignee": "Ann"}).json()
    requests.post(f"{web.url}/api/teams/{team['id']}/tasks", timeout=10,
                  json={"title": "Serve the landing page", "assignee": "Ben", "depends_on": [first["id"]]})
    lead = next(m for m in team["members"] if m["is_lead"])
    with db.transaction() as conn:
        box = Outbox()
        for n in range(6):
            question = f"Round {n + 1}: what is the plan for the landing page?"
            conversation.add_chat(conn, team["id"], "user", question, box)
            conversation.add_chat(conn, team["id"], "answer", ANSWER.format(n=n + 1), box, agent_id=lead["id"])
        box.flush(conn)
    return team


# The elements that reach past the window's right edge, outermost first: what a failure names.
_WIDE = """() => {
  const edge = document.scrollingElement.clientWidth;
  return Array.from(document.querySelectorAll('body *'))
    .filter((el) => el.getBoundingClientRect().right > edge + 0.5)
    .slice(0, 8)
    .map((el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${[...el.classList].join('.')}`
      + ` right=${Math.round(el.getBoundingClientRect().right)} "${(el.textContent || '').trim().slice(0, 80)}"`);
}"""


def _fits_its_width(p: Any) -> None:
    overflow = p.evaluate("document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the window: {p.evaluate(_WIDE)}"


def _shoot(p: Any, name: str, tmp_path_factory: Any) -> Path:
    target = tmp_path_factory.getbasetemp() / "screenshots" / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(target))
    assert target.stat().st_size > 10_000, "a screenshot of a drawn page"
    return target


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_every_page_fits_and_the_team_page_keeps_the_chat_input_in_view(
        web: Web, page, busy_team: dict[str, Any], width: int, height: int, tmp_path_factory: Any) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    p.set_viewport_size({"width": width, "height": height})
    p.goto(f"{web.url}/teams/{busy_team['id']}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    expect(p.locator(".msg", has_text=LAST)).to_be_in_viewport()
    _fits_its_width(p)
    page_scroll = p.evaluate("document.scrollingElement.scrollHeight - document.scrollingElement.clientHeight")
    assert page_scroll <= 0, f"the team page scrolls as a whole by {page_scroll}px"
    box = p.locator("#chat-input").bounding_box()
    assert box is not None and box["y"] + box["height"] <= height, f"the chat input is out of view: {box}"
    scroller = p.locator(".chat-scroll")
    assert scroller.evaluate("el => el.scrollHeight > el.clientHeight"), "the conversation scrolls inside the chat"
    chat = p.locator("#chat").bounding_box()
    assert chat is not None and chat["width"] >= 420, f"the chat keeps room: {chat}"
    for tab in ("tasks", "runs", "log", "files"):  # every tab of the work panel shows whole
        expect(p.locator(f"#tab-{tab}")).to_be_in_viewport(ratio=1)
    # Below 1280 px the team map starts folded to a strip (its button unfolds it); above, it shows.
    folded = width < 1280
    expect(p.locator("#team-panel")).to_have_attribute("data-folded", str(folded).lower())
    expect(p.locator("#fold-left")).to_have_attribute("aria-expanded", str(not folded).lower())
    shot = _shoot(p, f"team-{width}", tmp_path_factory)
    if width == 1280 and os.environ.get("GAMMA_SCREENSHOT_DIR"):
        shutil.copyfile(shot, Path(os.environ["GAMMA_SCREENSHOT_DIR"]) / "screenshot.png")

    run_id = requests.get(f"{web.url}/api/teams/{busy_team['id']}/runs", timeout=10).json()["runs"][0]["id"]
    for path, ready in (("/", '#team-grid[aria-busy="false"]'), ("/doctor", "#doctor-checks"),
                        (f"/runs/{run_id}", "#run-state"), (f"/trace?team_id={busy_team['id']}", ".ev >> nth=0"),
                        ("/nowhere", "main")):
        p.goto(f"{web.url}{path}")
        expect(p.locator(ready)).to_be_visible()
        _fits_its_width(p)
        _shoot(p, f"{path.strip('/').split('?')[0].split('/')[0] or 'dashboard'}-{width}", tmp_path_factory)
    assert [e for e in real_errors(errors) if "404" not in e] == [], errors


def test_side_panels_fold_and_resize_by_pointer_and_keyboard_and_are_remembered(
        web: Web, page, busy_team: dict[str, Any]) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    p.set_viewport_size({"width": 1280, "height": 800})
    p.goto(f"{web.url}/teams/{busy_team['id']}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    left, right = p.locator("#team-panel"), p.locator("#work-panel")
    width = lambda loc: round(loc.bounding_box()["width"])  # noqa: E731

    # Fold the team panel to a strip: the chat takes the room; unfold it again from the strip.
    chat_before = width(p.locator("#chat"))
    p.locator("#fold-left").click()
    expect(left).to_have_attribute("data-folded", "true")
    assert width(left) == 40 and width(p.locator("#chat")) > chat_before
    expect(p.locator("#team-map")).to_be_hidden()
    p.locator("#fold-left").click()
    expect(p.locator("#team-map")).to_be_visible()

    # The work panel's splitter: the arrows move it 24 px a step; the pointer drags it.
    start = width(right)
    p.locator("#splitter-right").focus()
    p.keyboard.press("ArrowLeft")
    p.keyboard.press("ArrowLeft")
    assert width(right) == start + 48
    expect(p.locator("#splitter-right")).to_have_attribute("aria-valuenow", str(start + 48))
    handle = p.locator("#splitter-right").bounding_box()
    p.mouse.move(handle["x"] + 4, handle["y"] + 200)
    p.mouse.down()
    p.mouse.move(handle["x"] - 96, handle["y"] + 200, steps=5)
    p.mouse.up()
    dragged = width(right)
    assert abs(dragged - (start + 48 + 100)) <= 2, (start, dragged)
    p.keyboard.press("Home")  # the splitter keeps focus after the drag? it was focused before: Home = narrowest
    narrowest = width(right)
    assert narrowest == 300, narrowest
    p.locator("#splitter-right").press("End")
    assert width(right) > narrowest
    widest = width(right)
    assert width(p.locator("#chat")) >= 420, "the chat keeps its room however wide the panel is asked to be"

    # Fold the team panel with its shortcut; both choices survive a reload.
    p.locator("body").press("[")
    expect(left).to_have_attribute("data-folded", "true")
    p.reload()
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    expect(left).to_have_attribute("data-folded", "true")
    assert width(right) == widest
    p.locator("#fold-left").click()
    p.locator("#splitter-right").press("Home")
    assert real_errors(errors) == [], errors


def test_the_agent_panel_takes_the_work_panels_place_not_the_chats(web: Web, page, busy_team: dict[str, Any]) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    p.set_viewport_size({"width": 1024, "height": 768})
    p.goto(f"{web.url}/teams/{busy_team['id']}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    p.locator("#fold-right").click()  # even folded, the work panel makes room for the agent panel
    expect(p.locator("#work-panel")).to_have_attribute("data-folded", "true")
    p.locator("#fold-left").click()
    p.locator(".agent-node", has_text="Ann").click()
    agent_panel = p.locator("#agent-panel")
    expect(agent_panel).to_be_visible()
    panel_box, chat_box = agent_panel.bounding_box(), p.locator("#chat").bounding_box()
    send = p.locator(".chat-send").bounding_box()
    assert panel_box["width"] >= 300, panel_box
    assert panel_box["x"] >= chat_box["x"] + chat_box["width"] - 1, (panel_box, chat_box)
    assert send["x"] + send["width"] <= panel_box["x"], "the send button stays uncovered"
    p.keyboard.press("Escape")
    expect(agent_panel).to_be_hidden()
    p.locator("#fold-right").click()
    assert real_errors(errors) == [], errors


def test_names_that_share_a_prefix_are_never_cut_to_the_same_text(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    names = ["Full-Stack Engineer for the checkout 1", "Full-Stack Engineer for the checkout 2"]
    team = requests.post(f"{web.url}/api/teams", timeout=10, json={"name": "Long names", "members": [
        {"name": name, "role_id": "engineering/frontend-engineer"} for name in names]}).json()
    for name in names:
        requests.post(f"{web.url}/api/teams/{team['id']}/tasks", timeout=10, json={"title": f"For {name}",
                                                                                  "assignee": name})
    p.set_viewport_size({"width": 1280, "height": 800})
    p.goto(f"{web.url}/teams/{team['id']}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    for where in ("#team-map .node-name", "#panel-tasks .chip-name"):
        shown = p.locator(where).filter(has_text="Full-Stack")
        expect(shown).to_have_count(2)
        for element in shown.all():  # all of it drawn: nothing clipped behind an ellipsis
            assert element.evaluate("el => el.scrollWidth <= el.clientWidth"), element.inner_text()
        assert sorted(shown.all_inner_texts()) == names
    assert real_errors(errors) == [], errors


def test_the_theme_follows_the_system_until_the_user_picks_one(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    background = "getComputedStyle(document.body).backgroundColor"
    p.emulate_media(color_scheme="dark")
    p.goto(f"{web.url}/")
    root = p.locator("html")
    expect(root).to_have_attribute("data-theme", "dark")
    dark = p.evaluate(background)
    p.emulate_media(color_scheme="light")  # the system changes: the page follows, live
    expect(root).to_have_attribute("data-theme", "light")
    light = p.evaluate(background)
    assert dark != light, (dark, light)

    switch = p.locator("#theme-btn")
    expect(switch).to_have_attribute("aria-label", "Theme: follows the system (light now). Change the theme")
    switch.click()  # system → light
    expect(switch).to_have_attribute("data-choice", "light")
    switch.click()  # light → dark, although the system is light
    expect(switch).to_have_attribute("data-choice", "dark")
    expect(root).to_have_attribute("data-theme", "dark")
    assert p.evaluate(background) == dark

    # The choice is kept, drawn from the first paint of the next page (theme-boot.js runs before the body).
    p.goto(f"{web.url}/doctor", wait_until="commit")
    p.wait_for_selector("body")
    assert p.evaluate("document.documentElement.dataset.theme") == "dark"
    expect(p.locator("#doctor-checks")).to_be_visible()
    assert p.evaluate(background) == dark
    p.locator("body").press("t")  # dark → system (light here)
    expect(root).to_have_attribute("data-theme", "light")
    expect(root).to_have_attribute("data-theme-choice", "system")
    assert p.evaluate("localStorage.getItem('gamma-theme')") is None
    assert real_errors(errors) == [], errors
