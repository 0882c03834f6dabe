"""The team page reads the server's own shapes: a run's cost from the agent.result event, chat messages by their
`kind`, and the board and filters from GET /api/vocabulary (degrading to built-in lists without it).

A real gunicorn and Debian's Chromium; events are appended to the log by this process, as a worker would, and
reach the page over the WebSocket.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from shared import events, vocabulary
from shared.events import NewEvent
from shared.ids import new_id
from tests.support.processes import Web
from tests.support.ui_fixtures import real_errors
from workers.stream_parser import ClaudeStreamParser

pytest_plugins = ("tests.support.ui_fixtures",)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SAMPLE = Path(__file__).parent / "fixtures" / "claude-stream-json" / "01-simple-success.stdout.jsonl"


def _team(web: Web) -> tuple[str, str]:
    created = requests.post(f"{web.url}/api/teams", timeout=10, json={
        "name": f"Team page {time.monotonic_ns() % 10**9}", "lead": {"role_id": "engineering/tech-lead"}})
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["members"][0]["id"]


def _open(p: Any, web: Web, team_id: str) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p.goto(f"{web.url}/teams/{team_id}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    expect(p.locator("#conn")).to_have_attribute("data-state", "live")


def test_the_log_shows_a_runs_cost_from_its_result_event(web: Web, page: tuple[Any, list[str]]) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team_id, lead_id = _team(web)
    _open(p, web, team_id)
    # The payload is what the worker's parser makes of a real CLI result line (its price changed to tell apart).
    result_line = next(line for line in SAMPLE.read_text().splitlines() if '"type":"result"' in line)
    data = json.loads(result_line)
    data["total_cost_usd"] = 0.4321
    parsed = [e for e in ClaudeStreamParser().feed(json.dumps(data)) if e.kind == "agent.result"]
    assert len(parsed) == 1 and parsed[0].payload["total_cost_usd"] == 0.4321
    events.emit([NewEvent("agent.result", team_id, parsed[0].payload, agent_id=lead_id)])

    p.click("#tab-log")
    row = p.locator(".ev[data-kind='agent.result']")
    expect(row).to_have_count(1)
    expect(row.locator(".ev-result-facts")).to_have_text(" · 1 turns · $0.43 · 221 ms")
    assert real_errors(errors) == [], errors


def _chat_event(team_id: str, agent_id: str | None, role: str, kind: str | None, content: str) -> NewEvent:
    payload: dict[str, Any] = {"id": new_id("msg"), "role": role, "agent_id": agent_id, "run_id": None,
                               "content": content, "created_at": datetime.now(UTC).isoformat()}
    if kind is not None:
        payload["kind"] = kind
    return NewEvent("chat.message", team_id, payload, agent_id=agent_id)


def test_chat_messages_are_shown_by_their_kind(web: Web, page: tuple[Any, list[str]]) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team_id, lead_id = _team(web)
    _open(p, web, team_id)
    events.emit([
        # A wake-up prompt, whatever its text says: the kind decides, and it stays collapsed.
        _chat_event(team_id, None, "user", "wake", "All tasks of this round are settled.\n\nReview them now."),
        _chat_event(team_id, lead_id, "assistant", "answer", "The **plan** is ready."),
        _chat_event(team_id, None, "system", "notice", "Budget at 80%."),
        # No kind (an older server): read by role. Text that looks like a wake-up is not guessed to be one.
        _chat_event(team_id, None, "system", None, "[ORCHESTRATOR] wake-up: round completed"),
    ])
    wake = p.locator(".msg[data-kind=wake]")
    expect(wake).to_have_count(1)
    expect(wake).to_have_js_property("tagName", "DETAILS")
    expect(wake).not_to_have_attribute("open", "")
    expect(wake.locator("summary")).to_contain_text("All tasks of this round are settled.")
    expect(wake.locator(".msg-body")).to_be_hidden()
    wake.locator("summary").click()
    expect(wake.locator(".msg-body")).to_contain_text("Review them now.")

    expect(p.locator(".msg-agent[data-kind=answer] strong")).to_have_text("plan")
    notices = p.locator(".msg-system[data-kind=notice]")
    expect(notices).to_have_count(2)
    expect(notices.last).to_have_text("[ORCHESTRATOR] wake-up: round completed")
    assert real_errors(errors) == [], errors


def test_the_board_and_the_new_task_dialog_follow_the_vocabulary(web: Web, page: tuple[Any, list[str]]) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    served = vocabulary.as_json()
    served["task_stages"] = ["review", "in_progress", "backlog", "blocked", "done", "failed", "cancelled"]
    served["task_kinds"] = ["generic", "docs", "qa"]
    served["event_kinds"] = ["chat.message", "agent.text", "task.created"]
    p.route("**/api/vocabulary", lambda route: route.fulfill(status=200, json=served))
    team_id, _lead = _team(web)
    created = requests.post(f"{web.url}/api/teams/{team_id}/tasks", json={"title": "Vocabulary task"}, timeout=10)
    assert created.status_code == 201, created.text
    _open(p, web, team_id)

    p.click("#tab-tasks")
    expect(p.locator(".task-card", has_text="Vocabulary task")).to_have_count(1)
    sections = p.locator(".task-section")
    expect(sections).to_have_count(7)
    assert [s.get_attribute("data-section") for s in sections.all()] == served["task_stages"]
    expect(p.locator(".task-section[data-section=blocked] .sec-label")).to_have_text("Blocked")

    p.get_by_role("button", name="+ Task").click()
    assert p.locator("#nt-kind option").all_inner_texts() == ["generic", "docs", "qa"]
    p.keyboard.press("Escape")
    expect(p.locator("dialog[open]")).to_have_count(0)

    p.click("#tab-log")
    exact = p.locator("#log-kind optgroup option")
    expect(exact.first).to_have_text("chat.message")
    assert exact.all_inner_texts()[:3] == served["event_kinds"]
    assert real_errors(errors) == [], errors


def test_without_the_vocabulary_endpoint_the_team_page_still_works(web: Web, page: tuple[Any, list[str]]) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    p.route("**/api/vocabulary", lambda route: route.fulfill(status=404, json={"error": "not_found"}))
    warnings: list[str] = []
    p.on("console", lambda msg: warnings.append(msg.text) if msg.type == "warning" else None)
    team_id, _lead = _team(web)
    requests.post(f"{web.url}/api/teams/{team_id}/tasks", json={"title": "Fallback task"}, timeout=10)
    _open(p, web, team_id)

    p.click("#tab-tasks")
    expect(p.locator(".task-card", has_text="Fallback task")).to_have_count(1)
    assert [s.get_attribute("data-section") for s in p.locator(".task-section").all()] == [
        "backlog", "blocked", "in_progress", "review", "done", "failed", "cancelled"]
    p.get_by_role("button", name="+ Task").click()
    assert "docs" in p.locator("#nt-kind option").all_inner_texts()
    p.keyboard.press("Escape")
    # The chat still works.
    p.locator("#chat-input").fill("Still here?")
    p.keyboard.press("Enter")
    expect(p.locator(".msg-user[data-kind=user]", has_text="Still here?")).to_have_attribute(
        "data-id", re.compile(r"^msg_"))
    assert any("/api/vocabulary unavailable (404)" in w for w in warnings), warnings
    # The one console error is the browser reporting the 404 itself.
    assert [e for e in real_errors(errors) if "404" not in e] == [], errors
    assert len(real_errors(errors)) == 1, errors


def test_a_blocked_task_shows_why_and_links_the_tasks_it_depends_on(web: Web, page: tuple[Any, list[str]]) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team_id, _lead = _team(web)
    first = requests.post(f"{web.url}/api/teams/{team_id}/tasks", json={"title": "Build the page"}, timeout=10)
    assert first.status_code == 201, first.text
    second = requests.post(f"{web.url}/api/teams/{team_id}/tasks", timeout=10,
                           json={"title": "Check the page", "depends_on": [first.json()["id"]]})
    assert second.status_code == 201 and second.json()["stage"] == "blocked", second.text
    _open(p, web, team_id)

    p.click("#tab-tasks")
    blocked = p.locator(".task-section[data-section=blocked] .task-card", has_text="Check the page")
    expect(blocked).to_have_count(1)
    blocked.locator(".task-open").click()
    dialog = p.locator("dialog[open]")
    expect(dialog.locator(".task-blocked")).to_contain_text(f"waiting for {first.json()['id']}")
    expect(dialog.locator(".task-links li")).to_have_count(1)
    dialog.locator(".task-links button", has_text="Build the page").click()
    expect(p.locator("dialog[open]")).to_contain_text("Needed by (1)")
    expect(p.locator("dialog[open] .task-links")).to_contain_text("Check the page")
    assert real_errors(errors) == [], errors
