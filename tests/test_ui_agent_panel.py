"""The agent panel in a real browser (Debian's Chromium against a real gunicorn): its settings are edited and saved
(only what changed is sent; empty optional fields go back to the defaults), refusals — the form's own and the
server's — show next to the field they concern and save nothing, the agent's runs are listed newest first with a
link to each run's page and follow new runs live, its CLAUDE.md is shown, and all of it works from the keyboard.

Each save is checked against GET /api/agents/<id> afterwards. Runs are queued by posting tasks assigned to the
agent; tests.support.crew stands in for the worker that would run one.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.support.crew import finish, start
from tests.support.processes import Web
from tests.support.ui_fixtures import real_errors

pytest_plugins = ("tests.support.ui_fixtures",)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _team(web: Web, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A team with Ann and Ben (and the default lead); returns (team, Ann)."""
    response = requests.post(f"{web.url}/api/teams", timeout=10, json={"name": name, "members": [
        {"name": "Ann", "role_id": "engineering/frontend-engineer"},
        {"name": "Ben", "role_id": "engineering/backend-architect"}]})
    assert response.status_code == 201, response.text
    team = response.json()
    return team, next(m for m in team["members"] if m["name"] == "Ann")


def _agent(web: Web, agent_id: str) -> dict[str, Any]:
    response = requests.get(f"{web.url}/api/agents/{agent_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _open_panel(p: Any, web: Web, team_id: str, name: str) -> Any:
    from playwright.sync_api import expect  # noqa: PLC0415

    p.goto(f"{web.url}/teams/{team_id}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    expect(p.locator("#conn")).to_have_attribute("data-state", "live")
    p.locator(".agent-node", has_text=name).click()
    panel = p.locator("#agent-panel")
    expect(panel.locator(".ap-title")).to_contain_text(name)
    return panel


def _patches(p: Any) -> list[Any]:
    """The bodies of the PATCH /api/agents/… requests the page sends, as they are sent."""
    sent: list[Any] = []
    p.on("request", lambda r: sent.append(r.post_data_json)
         if r.method == "PATCH" and "/api/agents/" in r.url else None)
    return sent


SETTINGS = ("name", "specialization", "backend", "model", "max_turns", "permission_mode", "allowed_tools",
            "disallowed_tools", "budget_usd")


def test_each_setting_is_edited_saved_and_shown_live_and_only_changes_are_sent(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team, ann = _team(web, "Panel settings")
    sent = _patches(p)
    panel = _open_panel(p, web, team["id"], "Ann")
    settings = panel.locator("details.ap-settings")
    expect(settings).not_to_have_attribute("open", "")
    settings.locator("summary").click()

    # The form shows what the agent has; the permission modes are the server's list.
    expect(p.locator("#ae-name")).to_have_value("Ann")
    expect(p.locator("#ae-backend")).to_have_value(ann["backend"])
    expect(p.locator("#ae-max-turns")).to_have_value("")
    modes = requests.get(f"{web.url}/api/vocabulary", timeout=10).json()["permission_modes"]
    options = p.locator("#ae-permission option").evaluate_all("els => els.map((e) => e.value)")
    assert options == ["", *modes], options

    p.fill("#ae-name", "Annie")
    p.fill("#ae-spec", "owns the landing page")
    p.select_option("#ae-backend", "claude")
    p.fill("#ae-model", "sonnet")
    p.fill("#ae-max-turns", "40")
    p.select_option("#ae-permission", "plan")
    p.fill("#ae-allowed-tools", "Read\nEdit\nBash(git log:*)")
    p.fill("#ae-disallowed-tools", "WebFetch")
    p.fill("#ae-budget", "2.5")
    p.locator("#ae-save").click()
    expect(p.locator("#ae-status")).to_have_text("Saved.")

    saved = _agent(web, ann["id"])
    assert {k: saved[k] for k in SETTINGS} == {
        "name": "Annie", "specialization": "owns the landing page", "backend": "claude", "model": "sonnet",
        "max_turns": 40, "permission_mode": "plan", "allowed_tools": ["Read", "Edit", "Bash(git log:*)"],
        "disallowed_tools": ["WebFetch"], "budget_usd": 2.5}, saved
    assert sent[-1] == {"name": "Annie", "specialization": "owns the landing page", "backend": "claude",
                        "model": "sonnet", "max_turns": 40, "permission_mode": "plan",
                        "allowed_tools": ["Read", "Edit", "Bash(git log:*)"], "disallowed_tools": ["WebFetch"],
                        "budget_usd": 2.5}, sent

    # The panel and the team map follow at once; the form now shows what the server keeps.
    expect(panel.locator(".ap-title")).to_contain_text("Annie")
    expect(panel.locator(".ap-spec")).to_have_text("owns the landing page")
    expect(p.locator(f'.agent-node[data-agent-id="{ann["id"]}"] .node-name')).to_have_text("Annie")
    expect(p.locator("#ae-name")).to_have_value("Annie")

    # One change sends one field; saving with nothing changed sends nothing.
    p.fill("#ae-spec", "owns the landing page and its copy")
    p.locator("#ae-save").click()
    expect(p.locator("#ae-status")).to_have_text("Saved.")
    assert sent[-1] == {"specialization": "owns the landing page and its copy"}, sent
    count = len(sent)
    p.locator("#ae-save").click()
    expect(p.locator("#ae-status")).to_have_text("Nothing to save: no setting changed.")
    assert len(sent) == count

    # Emptied optional fields go back to the defaults (null); Bash stays among the allowed tools.
    p.fill("#ae-model", "")
    p.fill("#ae-max-turns", "")
    p.select_option("#ae-permission", "")
    p.fill("#ae-allowed-tools", "Read")
    p.fill("#ae-disallowed-tools", "")
    p.fill("#ae-budget", "")
    p.locator("#ae-save").click()
    expect(p.locator("#ae-status")).to_have_text("Saved.")
    assert sent[-1] == {"model": None, "max_turns": None, "permission_mode": None, "allowed_tools": ["Read"],
                        "disallowed_tools": None, "budget_usd": None}, sent
    cleared = _agent(web, ann["id"])
    assert {k: cleared[k] for k in ("model", "max_turns", "permission_mode", "disallowed_tools", "budget_usd")} == {
        "model": None, "max_turns": None, "permission_mode": None, "disallowed_tools": None, "budget_usd": None}
    assert cleared["allowed_tools"] == ["Read", "Bash"], cleared
    expect(p.locator("#ae-allowed-tools")).to_have_value("Read\nBash")

    # A change made elsewhere reaches the open form (agent.updated), without touching what the user is typing.
    p.fill("#ae-model", "opus")
    response = requests.patch(f"{web.url}/api/agents/{ann['id']}", timeout=10, json={"max_turns": 12})
    assert response.status_code == 200, response.text
    expect(p.locator("#ae-max-turns")).to_have_value("12")
    expect(p.locator("#ae-model")).to_have_value("opus")
    p.locator("#ae-undo").click()
    expect(p.locator("#ae-model")).to_have_value("")
    assert real_errors(errors) == [], errors


def test_refusals_show_next_to_their_field_and_save_nothing(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team, ann = _team(web, "Panel refusals")
    sent = _patches(p)
    panel = _open_panel(p, web, team["id"], "Ann")
    panel.locator("details.ap-settings summary").click()
    before = _agent(web, ann["id"])

    def refused(control: str, message: str) -> None:
        """The message is in the field's own error line (the control is described by it and marked invalid)."""
        error = p.locator(f"#{control}-err")
        expect(error).to_be_visible()
        expect(error).to_contain_text(message)
        expect(p.locator(f"#{control}")).to_have_attribute("aria-invalid", "true")
        assert f"{control}-err" in (p.locator(f"#{control}").get_attribute("aria-describedby") or "")
        field = p.locator(".ap-edit-form .field", has=p.locator(f"#{control}"))
        expect(field.locator(".field-error")).to_contain_text(message)

    # The form's own checks: nothing is sent.
    p.fill("#ae-name", "  ")
    p.fill("#ae-max-turns", "0")
    p.fill("#ae-budget", "-1")
    p.locator("#ae-save").click()
    refused("ae-name", "Give the agent a name.")
    refused("ae-max-turns", "A whole number of turns, 1 or more")
    refused("ae-budget", "An amount in USD, 0 or more")
    expect(p.locator("#ae-name")).to_be_focused()
    p.fill("#ae-max-turns", "2.5")
    p.locator("#ae-save").click()
    refused("ae-max-turns", "A whole number of turns")
    assert sent == [], sent

    # The server's refusals, each next to the field it names.
    p.fill("#ae-name", "ben")  # Ben's name, in other letters
    p.fill("#ae-max-turns", "")
    p.fill("#ae-budget", "")
    p.locator("#ae-save").click()
    refused("ae-name", "the team already has an agent named 'ben'")
    expect(p.locator("#ae-max-turns-err")).to_be_hidden()
    p.fill("#ae-name", "Ann")
    p.fill("#ae-max-turns", "20000")
    p.locator("#ae-save").click()
    refused("ae-max-turns", "less than or equal to 10000")
    p.fill("#ae-max-turns", "")
    p.fill("#ae-allowed-tools", "Read\nnot a tool!")
    p.fill("#ae-budget", "0")
    p.locator("#ae-save").click()
    refused("ae-allowed-tools", "Line 2: String should match pattern")
    refused("ae-budget", "greater than or equal to 0.0001")
    expect(p.locator("#ae-error")).to_be_hidden()  # every part of the refusal found its field
    assert [list(body) for body in sent] == [["name"], ["max_turns"], ["allowed_tools", "budget_usd"]], sent
    assert _agent(web, ann["id"]) == before

    # Fixed, it saves, and the errors go.
    p.fill("#ae-allowed-tools", "Read")
    p.fill("#ae-budget", "3")
    p.locator("#ae-save").click()
    expect(p.locator("#ae-status")).to_have_text("Saved.")
    expect(panel.locator(".ap-edit-form .field-error:visible")).to_have_count(0)
    assert _agent(web, ann["id"])["budget_usd"] == 3
    # The browser reports each refused request in the console; nothing else may be there.
    refusals = [e for e in real_errors(errors)
                if "Failed to load resource: the server responded with a status of 4" in e]
    assert len(refusals) == 3, errors
    assert [e for e in real_errors(errors) if e not in refusals] == [], errors


def test_the_runs_list_links_to_each_run_and_follows_new_ones_and_claude_md_is_shown(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team, ann = _team(web, "Panel runs")
    first = requests.post(f"{web.url}/api/teams/{team['id']}/tasks", timeout=10,
                          json={"title": "Sketch the hero section", "assignee": "Ann"})
    assert first.status_code == 201, first.text
    run, _ = start(ann["id"])
    finish(run)
    other = requests.post(f"{web.url}/api/teams/{team['id']}/tasks", timeout=10,
                          json={"title": "Ben's own work", "assignee": "Ben"})
    assert other.status_code == 201, other.text

    panel = _open_panel(p, web, team["id"], "Ann")
    rows = panel.locator(".ap-run-list .ap-run")
    expect(rows).to_have_count(1)  # Ann's run only, not Ben's
    expect(rows.first).to_have_attribute("data-state", "succeeded")
    expect(rows.first).to_contain_text("Sketch the hero section")
    expect(rows.first).to_have_attribute("href", f"/runs/{run['id']}")

    # A new task queues a run: it appears on top while the panel is open.
    second = requests.post(f"{web.url}/api/teams/{team['id']}/tasks", timeout=10,
                           json={"title": "Write the hero copy", "assignee": "Ann"})
    assert second.status_code == 201, second.text
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-state", "queued")
    expect(rows.first).to_contain_text("Write the hero copy")
    expect(rows.nth(1)).to_contain_text("Sketch the hero section")

    # CLAUDE.md: folded until asked for, then the file the agent's next run gets.
    claude_md = panel.locator("details.ap-claude-md")
    expect(claude_md).not_to_have_attribute("open", "")
    claude_md.locator("summary").click()
    text = claude_md.locator("pre.ap-claude-md-text")
    expect(text).to_contain_text("You are **Ann**, Frontend Engineer")
    expected = requests.get(f"{web.url}/api/agents/{ann['id']}/claude-md", timeout=10).json()["content"]
    assert text.text_content() == expected

    rows.nth(1).click()
    expect(p).to_have_url(f"{web.url}/runs/{run['id']}")
    expect(p.locator("#run-page")).to_have_attribute("data-run-id", run["id"])
    expect(p.locator("#run-title")).to_contain_text("Ann")
    assert real_errors(errors) == [], errors


def test_the_panel_works_from_the_keyboard_and_escape_closes_it(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team, ann = _team(web, "Panel keyboard")
    p.goto(f"{web.url}/teams/{team['id']}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    node = p.locator(f'.agent-node[data-agent-id="{ann["id"]}"]')
    node.focus()
    p.keyboard.press("Enter")
    panel = p.locator("#agent-panel")
    expect(panel.locator(".ap-title")).to_be_focused()

    # Tab reaches the settings (a bounded walk through the panel's controls, in document order).
    summary = panel.locator("details.ap-settings > summary")
    for _ in range(40):
        if summary.evaluate("el => el === document.activeElement"):
            break
        p.keyboard.press("Tab")
    expect(summary).to_be_focused()
    p.keyboard.press("Enter")
    expect(panel.locator("details.ap-settings")).to_have_attribute("open", "")
    p.keyboard.press("Tab")
    expect(p.locator("#ae-name")).to_be_focused()
    p.keyboard.press("ControlOrMeta+a")
    p.keyboard.type("Anna")
    p.keyboard.press("Enter")  # Enter in a field submits the form
    expect(p.locator("#ae-status")).to_have_text("Saved.")
    assert _agent(web, ann["id"])["name"] == "Anna"

    # A refusal moves the focus to its field.
    p.locator("#ae-max-turns").focus()
    p.keyboard.type("none")
    p.keyboard.press("Enter")
    expect(p.locator("#ae-max-turns-err")).to_be_visible()
    expect(p.locator("#ae-max-turns")).to_be_focused()

    # Escape closes the panel (even from a field) and gives the focus back to the agent's node.
    p.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(node).to_be_focused()
    expect(node).to_contain_text("Anna")
    assert real_errors(errors) == [], errors


def test_a_live_update_of_the_agent_keeps_the_focus_where_the_user_has_it(web: Web, page) -> None:
    """The panel redraws its head and facts on every update of the agent (a WebSocket event, or the fresh copy
    the panel fetches on opening): the focused title or button keeps the focus through the redraw. In CI the
    fetched copy had landed just after the title took the focus, which fell to the page's body."""
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team, ann = _team(web, "Panel focus")
    p.goto(f"{web.url}/teams/{team['id']}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    expect(p.locator("#conn")).to_have_attribute("data-state", "live")
    node = p.locator(f'.agent-node[data-agent-id="{ann["id"]}"]')
    node.focus()
    p.keyboard.press("Enter")
    panel = p.locator("#agent-panel")
    title = panel.locator(".ap-title")
    expect(title).to_be_focused()

    response = requests.patch(f"{web.url}/api/agents/{ann['id']}", timeout=10,
                              json={"specialization": "Hero sections"})
    assert response.status_code == 200, response.text
    expect(panel.locator(".ap-spec")).to_have_text("Hero sections")
    expect(title).to_be_focused()

    archive = panel.locator(".ap-actions button", has_text="Archive agent")
    archive.focus()
    response = requests.patch(f"{web.url}/api/agents/{ann['id']}", timeout=10,
                              json={"specialization": "Hero sections and forms"})
    assert response.status_code == 200, response.text
    expect(panel.locator(".ap-spec")).to_have_text("Hero sections and forms")
    expect(archive).to_be_focused()
    assert real_errors(errors) == [], errors


def test_older_runs_come_a_page_at_a_time(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team, _ann = _team(web, "Panel many runs")
    for n in range(12):
        response = requests.post(f"{web.url}/api/teams/{team['id']}/tasks", timeout=10,
                                 json={"title": f"Chore {n + 1}", "assignee": "Ann"})
        assert response.status_code == 201, response.text
    panel = _open_panel(p, web, team["id"], "Ann")
    rows = panel.locator(".ap-run-list .ap-run")
    expect(rows).to_have_count(10)  # a page, newest first
    expect(rows.first.locator(".ap-run-what")).to_have_text("Chore 12")
    older = panel.get_by_role("button", name="Show older runs")
    older.click()
    expect(rows).to_have_count(12)
    expect(rows.last.locator(".ap-run-what")).to_have_text("Chore 1")
    expect(older).to_have_count(0)
    assert real_errors(errors) == [], errors
