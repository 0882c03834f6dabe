"""The browser UI end to end: a real gunicorn, the real APIs and WebSocket streams, Debian's Chromium.

The flow a person follows: create a team in the dialog, find it on the dashboard, open it, talk to the lead,
and watch the team's event log update live (events written straight into the log by this test, as a worker
would, reach the page over the WebSocket without a reload). In CI (CI=true) a missing Chromium fails the test.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests

from shared import events
from shared.events import NewEvent
from tests.support.processes import Web
from tests.support.ui_fixtures import TIMEOUT_MS, real_errors

pytest_plugins = ("tests.support.ui_fixtures",)

pytestmark = [pytest.mark.browser, pytest.mark.slow]



def test_create_team_chat_and_live_log(web: Web, page: tuple[Any, list[str]]) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team_name = f"UI test team {int(time.time() * 1000) % 100000}"

    # --- dashboard: create a team through the dialog (lead chosen with the role picker's search) ----------
    p.goto(web.url + "/")
    expect(p.locator("#conn")).to_have_attribute("data-state", "live")
    p.click("#new-team")
    dialog = p.locator("dialog[open]")
    expect(dialog).to_be_visible()
    expect(p.locator("#nt-name")).to_be_focused()
    p.fill("#nt-name", team_name)
    p.fill("#nt-desc", "Created by the browser test.")
    dialog.locator("label[for=nt-mode-role]").click()
    search = dialog.locator("input[type=search]")
    search.fill("architect")
    first_role = dialog.locator(".role-row").first
    expect(first_role).to_be_visible()
    first_role.click()
    expect(first_role).to_have_class(re.compile(r"\bselected\b"))
    expect(p.locator("#nt-lead-name")).not_to_have_value("")
    dialog.locator("button[type=submit]").click()
    expect(p.locator("dialog[open]")).to_have_count(0)

    card = p.locator(".team-card", has_text=team_name)
    expect(card).to_be_visible()
    expect(card).to_contain_text("1 agent")
    team_id = card.get_attribute("data-team-id")
    assert team_id and team_id.startswith("team_")

    # The server agrees: the team exists with exactly one member, its lead.
    team = requests.get(f"{web.url}/api/teams/{team_id}", timeout=10).json()
    assert team["name"] == team_name
    assert [m["is_lead"] for m in team["members"]] == [True]
    lead = team["members"][0]

    # --- team page -------------------------------------------------------------------------------------------
    card.locator("a").click()
    p.wait_for_url(f"**/teams/{team_id}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    expect(p.locator("#conn")).to_have_attribute("data-state", "live")
    expect(p.locator(".team-name")).to_contain_text(team_name)
    expect(p.locator(f'.agent-node[data-agent-id="{lead["id"]}"]')).to_contain_text(lead["name"])
    p.evaluate("window.__noReload = 'still here'")

    # `/` focuses the chat; Enter sends; the message is confirmed by the server (a real msg_ id).
    p.locator("body").press("/")
    expect(p.locator("#chat-input")).to_be_focused()
    p.keyboard.type("Please build a **tiny** landing page.")
    p.keyboard.press("Enter")
    sent = p.locator(".msg-user", has_text="Please build a tiny landing page.")
    expect(sent).to_have_count(1)
    expect(sent).to_have_attribute("data-id", re.compile(r"^msg_"))
    expect(sent.locator("strong")).to_have_text("tiny")  # Markdown rendered, as elements
    expect(p.locator("#chat-input")).to_have_value("")

    # The lead's run is queued (no worker runs in this test) and shows in the run queue.
    p.click("#tab-runs")
    expect(p.locator(".run-queued")).to_have_count(1)
    expect(p.locator(".run-queued")).to_contain_text(lead["name"])

    # --- live event log: events appended to the log by this process reach the page over the WebSocket --------
    p.click("#tab-log")
    expect(p.locator("#panel-log")).to_be_visible()
    expect(p.locator(".ev[data-kind='chat.message']")).to_have_count(1)  # the message sent above
    marker = f"live event {time.monotonic_ns()}"
    events.emit([
        NewEvent("agent.text", team_id, {"text": marker}, agent_id=lead["id"]),
        NewEvent("agent.tool_use", team_id, {"tool_use_id": "toolu_ui_1", "name": "Bash",
                                             "input": {"command": "ls -la"}}, agent_id=lead["id"]),
        NewEvent("agent.tool_result", team_id, {"tool_use_id": "toolu_ui_1", "name": "Bash",
                                                "content": "total 0", "is_error": False}, agent_id=lead["id"]),
    ])
    expect(p.locator(".ev[data-kind='agent.text']", has_text=marker)).to_be_visible()
    tool_row = p.locator(".ev[data-kind='agent.tool_use']")
    expect(tool_row).to_have_count(1)
    expect(p.locator(".ev[data-kind='agent.tool_result']")).to_have_count(0)  # paired into the call's row
    expect(tool_row.locator(".ev-tool-state")).to_have_text("✓")
    tool_row.locator("summary").click()
    expect(tool_row.locator(".ev-result-slot")).to_contain_text("total 0")

    # Filtering by kind hides the rest.
    p.select_option("#log-kind", "group:tools")
    expect(p.locator(".ev[data-kind='agent.text']")).to_be_hidden()
    expect(tool_row).to_be_visible()

    assert p.evaluate("window.__noReload") == "still here", "the page reloaded"

    # --- agent panel: opens from the map, Esc closes it and returns focus --------------------------------------
    node = p.locator(f'.agent-node[data-agent-id="{lead["id"]}"]')
    node.click()
    panel = p.locator("#agent-panel")
    expect(panel).to_be_visible()
    expect(panel.locator(".ap-title")).to_contain_text(lead["name"])
    expect(panel.locator(".ap-trace .ev[data-kind='agent.text']", has_text=marker)).to_be_visible()
    p.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(node).to_be_focused()

    # --- tasks: add one by hand, see it cancelled live, retry it from the board ---------------------------------
    p.click("#tab-tasks")
    p.get_by_role("button", name="+ Task").click()
    p.fill("#nt-title", "UI test task")
    p.locator("dialog[open] button[type=submit]").click()
    expect(p.locator("dialog[open]")).to_have_count(0)
    expect(p.locator(".task-card", has_text="UI test task")).to_have_count(1)
    task = next(t for t in requests.get(f"{web.url}/api/teams/{team_id}/tasks", timeout=10).json()["tasks"]
                if t["title"] == "UI test task")
    assert requests.post(f"{web.url}/api/tasks/{task['id']}/cancel", json={}, timeout=10).status_code == 200
    expect(p.locator(".task-section[data-section=cancelled] .count")).to_have_text("1")
    p.locator(".task-section[data-section=cancelled] > summary").click()
    cancelled = p.locator(".task-card.stage-cancelled", has_text="UI test task")
    cancelled.get_by_role("button", name=re.compile("Retry")).click()
    expect(p.locator(".task-card", has_text="UI test task")).to_have_count(2)
    retried = [t for t in requests.get(f"{web.url}/api/teams/{team_id}/tasks", timeout=10).json()["tasks"]
               if t["title"] == "UI test task" and t["id"] != task["id"]]
    assert len(retried) == 1 and retried[0]["stage"] not in ("cancelled", "failed")

    # --- run queue: a queued run (the lead's reply to the chat message) is cancelled from the panel --------------
    p.click("#tab-runs")
    runs = requests.get(f"{web.url}/api/teams/{team_id}/runs?state=queued", timeout=10).json()["runs"]
    chat_run = next(r for r in runs if r["reason"] == "chat")
    run_id = chat_run["id"]
    row = p.locator(f'.run-queued[data-run-id="{run_id}"]')
    expect(row).to_contain_text(lead["name"])
    row.get_by_role("button", name=re.compile("Cancel")).click()
    expect(row).to_have_count(0)
    ended = requests.get(f"{web.url}/api/runs/{run_id}", timeout=10).json()
    assert ended["state"] == "cancelled"

    assert real_errors(errors) == [], errors


def test_unknown_team_and_page(web: Web, page: tuple[Any, list[str]]) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, _errors = page
    response = p.goto(web.url + "/teams/not-a-team")
    assert response is not None and response.status == 404
    expect(p.locator("h1")).to_have_text("Not found")
    p.goto(web.url + "/teams/team_01JAAAAAAAAAAAAAAAAAAAAAAA")
    expect(p.locator(".not-found h1")).to_have_text("Team not found")
    # The API keeps answering JSON for unknown paths.
    api = requests.get(web.url + "/api/nope", timeout=10)
    assert api.status_code == 404 and api.json()["error"] == "not_found"


MARKDOWN_PROBE = r"""
async () => {
  const { renderMarkdown } = await import('/static/js/markdown.js');
  const source = [
    '# Plan',
    'Some **bold**, *em*, `code` and a [link](https://example.com) and [bad](javascript:alert(1)).',
    '<img src=x onerror="window.pwned = 1"><script>window.pwned = 2</script>',
    '',
    '- one',
    '- two',
    '  - nested',
    '',
    '| a | b |',
    '|---|--:|',
    '| 1 | 2 |',
    '',
    '```python',
    'print("<b>hi</b>")',
    '```',
  ].join('\n');
  const root = renderMarkdown(source);
  document.body.append(root);
  await new Promise((r) => setTimeout(r, 50));
  return {
    pwned: window.pwned || null,
    scripts: root.querySelectorAll('script, img, iframe').length,
    text: root.textContent,
    heading: root.querySelector('h3') && root.querySelector('h3').textContent,
    strong: root.querySelector('p strong') && root.querySelector('p strong').textContent,
    links: Array.from(root.querySelectorAll('a')).map((a) => [a.textContent, a.getAttribute('href'), a.rel]),
    nested: root.querySelectorAll('ul ul li').length,
    cells: Array.from(root.querySelectorAll('td')).map((td) => td.textContent),
    code: root.querySelector('pre code') && root.querySelector('pre code').textContent,
    lang: root.querySelector('.md-lang') && root.querySelector('.md-lang').textContent,
  };
}
"""


def test_markdown_renderer_builds_elements_and_never_runs_text(web: Web, page: tuple[Any, list[str]]) -> None:
    p, errors = page
    p.goto(web.url + "/")  # any page of the app: the module is imported from its origin
    result = p.evaluate(MARKDOWN_PROBE)
    assert result["pwned"] is None and result["scripts"] == 0
    assert '<img src=x onerror="window.pwned = 1"><script>' in result["text"]  # shown as text
    assert "[bad](javascript:alert(1))" not in result["text"] and "bad." in result["text"]  # text only, no link
    assert result["heading"] == "Plan"
    assert result["strong"] == "bold"
    assert result["links"] == [["link", "https://example.com", "noopener noreferrer nofollow"]]
    assert result["nested"] == 1
    assert result["cells"] == ["1", "2"]
    assert result["code"] == 'print("<b>hi</b>")' and result["lang"] == "python"
    assert real_errors(errors) == [], errors


def test_pages_send_a_strict_content_security_policy(web: Web) -> None:
    response = requests.get(web.url + "/", timeout=10)
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_the_dashboard_says_plainly_when_agents_run_without_a_sandbox(web: Web, page: tuple[Any, list[str]],
                                                                      conn) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    worker_id = f"test-host:1:{time.monotonic_ns()}"
    conn.execute("INSERT INTO workers (id, host, pid, threads, sandbox) VALUES (%s, 'test-host', 1, 1, %s)",
                 (worker_id, "NONE: bubblewrap (bwrap) is not installed"))
    try:
        p.goto(web.url + "/")
        expect(p.locator("#health")).to_contain_text("run without a sandbox", timeout=TIMEOUT_MS)
    finally:
        conn.execute("DELETE FROM workers WHERE id = %s", (worker_id,))
    assert real_errors(errors) == []


def test_the_add_agent_dialog_chooses_the_backend(web: Web, page: tuple[Any, list[str]]) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    created = requests.post(f"{web.url}/api/teams", timeout=10, json={
        "name": f"Mixed team {int(time.time() * 1000) % 100000}", "lead": {"role_id": "engineering/tech-lead"}})
    assert created.status_code == 201, created.text
    team_id, lead_backend = created.json()["id"], created.json()["members"][0]["backend"]
    p.goto(f"{web.url}/teams/{team_id}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    p.click("#add-agent")
    dialog = p.locator("dialog[open]")
    dialog.locator("input[type=search]").fill("frontend")
    dialog.locator(".role-row").first.click()
    backend = dialog.locator("#aa-backend")
    assert backend.locator("option").all_inner_texts()[1:] == [
        "Claude Code (claude CLI)", "Codex (OpenAI codex CLI)", "Demo (scripted, calls no model)"]
    backend.select_option("codex")
    dialog.locator("button[type=submit]").click()
    expect(p.locator("dialog[open]")).to_have_count(0)

    members = requests.get(f"{web.url}/api/teams/{team_id}", timeout=10).json()["members"]
    assert sorted((m["is_lead"], m["backend"]) for m in members) == [(False, "codex"), (True, lead_backend)]
    assert real_errors(errors) == []
