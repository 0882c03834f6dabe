"""The task board in a real browser (Debian's Chromium against a real gunicorn): widened into columns, cards that
show what they wait for and what they changed, moved by drag and drop and by the keyboard along the transitions
the server allows, edited, reassigned and cancelled — each move checked against the API afterwards.

Tasks reach review as a member's run would take them there (tests.support.crew stands in for the worker).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from orchestrator.records import repos
from tests.support.crew import handed_in_for_review
from tests.support.processes import Web
from tests.support.ui_fixtures import real_errors

pytest_plugins = ("tests.support.ui_fixtures",)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _team_with_work(web: Web, name: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A team with Ann and Ben; "Write the notes" in review (it changed notes.md), "Check the notes" waiting for
    it, "Spare work" in the backlog."""
    team = requests.post(f"{web.url}/api/teams", timeout=10, json={"name": name, "members": [
        {"name": "Ann", "role_id": "engineering/frontend-engineer"},
        {"name": "Ben", "role_id": "engineering/backend-architect"}]}).json()
    ann = next(m for m in team["members"] if m["name"] == "Ann")
    notes, _run = handed_in_for_review(team["id"], ann, "Write the notes", {"notes.md": "# Notes\none\ntwo\n"},
                                       "wrote the notes")
    check = requests.post(f"{web.url}/api/teams/{team['id']}/tasks", timeout=10, json={
        "title": "Check the notes", "assignee": "Ben", "depends_on": [notes["id"]]})
    assert check.status_code == 201 and check.json()["stage"] == "blocked", check.text
    spare = requests.post(f"{web.url}/api/teams/{team['id']}/tasks", timeout=10, json={"title": "Spare work"})
    assert spare.status_code == 201, spare.text
    return team, {"notes": notes, "check": check.json(), "spare": spare.json()}


def _task(web: Web, task_id: str) -> dict[str, Any]:
    return requests.get(f"{web.url}/api/tasks/{task_id}", timeout=10).json()


def _open_board(p: Any, web: Web, team_id: str) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p.goto(f"{web.url}/teams/{team_id}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    expect(p.locator("#conn")).to_have_attribute("data-state", "live")
    p.locator("#tab-tasks").click()
    p.locator("#board-toggle").click()
    expect(p.locator("#team-page")).to_have_attribute("data-board", "wide")


def test_the_wide_board_shows_columns_and_cards_with_deps_diff_stats_and_results(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team, tasks = _team_with_work(web, "Board cards")
    _open_board(p, web, team["id"])
    expect(p.locator("#board-toggle")).to_have_attribute("aria-pressed", "true")
    expect(p.locator(".col-chat")).to_be_hidden()  # the chat steps aside while the board is wide
    columns = p.locator(".task-sections.board-columns .task-section")
    expect(columns).to_have_count(7)
    boxes = [c.bounding_box() for c in columns.all()[:4]]
    assert all(b is not None for b in boxes)
    lefts = [b["x"] for b in boxes if b]
    assert lefts == sorted(lefts) and len(set(lefts)) == 4, f"columns side by side: {lefts}"
    for section in ("backlog", "blocked", "in_progress", "review"):  # always open on the wide board
        expect(p.locator(f".task-section[data-section={section}]")).to_have_attribute("open", "")

    review = p.locator(".task-section[data-section=review] .task-card", has_text="Write the notes")
    expect(review.locator(".task-diffstat")).to_have_text("1 file · +3 −0")
    expect(review.locator(".task-summary")).to_have_text("wrote the notes")
    expect(review).to_contain_text("Ann")
    blocked = p.locator(".task-section[data-section=blocked] .task-card", has_text="Check the notes")
    expect(blocked.locator(".task-deps")).to_have_text("Waits for “Write the notes”")
    expect(blocked.locator(".task-deps")).to_have_attribute("data-waiting", "1")

    # Done folds on the wide board; the state survives a reload; "b" narrows it back.
    p.locator(".task-section[data-section=done] summary").click()
    expect(p.locator(".task-section[data-section=done]")).to_have_attribute("open", "")
    p.reload()
    expect(p.locator("#team-page")).to_have_attribute("data-board", "wide")
    p.locator("body").press("b")
    expect(p.locator("#team-page")).not_to_have_attribute("data-board", "wide")
    expect(p.locator(".col-chat")).to_be_visible()
    assert tasks["spare"]["stage"] == "backlog"
    assert real_errors(errors) == [], errors


def test_dragging_a_card_to_done_approves_and_merges_it_and_only_allowed_columns_take_it(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team, tasks = _team_with_work(web, "Board drag")
    _open_board(p, web, team["id"])
    card = p.locator(f"[data-card-task='{tasks['notes']['id']}']")
    expect(card).to_be_visible()

    # While dragged, the columns it may go to say so, the others refuse it.
    card.dispatch_event("dragstart", {"dataTransfer": p.evaluate_handle("new DataTransfer()")})
    marks = {s.get_attribute("data-section"): s.get_attribute("data-drop") for s in p.locator(".task-section").all()}
    assert marks == {"backlog": "no", "blocked": "no", "in_progress": "yes", "review": "no", "done": "yes",
                     "failed": "yes", "cancelled": "yes"}, marks
    card.dispatch_event("dragend")
    expect(p.locator(".task-section[data-drop]")).to_have_count(0)

    # A drop on a column that refuses it changes nothing.
    card.drag_to(p.locator(".task-section[data-section=backlog]"))
    assert _task(web, tasks["notes"]["id"])["stage"] == "review"

    card.drag_to(p.locator(".task-section[data-section=done]"))
    expect(p.locator(f".task-section[data-section=done] [data-card-task='{tasks['notes']['id']}']")).to_have_count(1)
    shown = _task(web, tasks["notes"]["id"])
    assert shown["stage"] == "done" and shown["merge"]["state"] == "merged", shown
    assert (repos.project_dir(team["id"]) / "notes.md").read_text() == "# Notes\none\ntwo\n"
    # The task that waited for it no longer does (the server unblocked it; the card says so live).
    check = p.locator(f"[data-card-task='{tasks['check']['id']}']")
    expect(check.locator(".task-deps")).to_have_attribute("data-waiting", "0")
    expect(check.locator(".task-deps")).to_have_text("After “Write the notes” (done)")
    assert _task(web, tasks["check"]["id"])["stage"] != "blocked"
    assert real_errors(errors) == [], errors


def test_the_keyboard_moves_edits_reassigns_and_cancels_through_the_actions_dialog(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    team, tasks = _team_with_work(web, "Board keys")
    _open_board(p, web, team["id"])

    # Request changes from the keyboard: the actions button, the move, the required feedback.
    more = p.get_by_role("button", name="Actions for “Write the notes”")
    more.focus()
    p.keyboard.press("Enter")
    dialog = p.locator("dialog[open]")
    assert sorted(b.get_attribute("data-move") for b in dialog.locator("[data-move]").all()) == [
        "cancelled", "done", "failed", "in_progress"]
    dialog.locator("[data-move=in_progress]").focus()
    p.keyboard.press("Enter")
    expect(p.locator("#move-text")).to_be_focused()
    p.keyboard.press("Tab")
    p.keyboard.press("Tab")
    expect(p.locator("#move-confirm")).to_be_focused()
    p.keyboard.press("Enter")
    expect(p.locator("#move-text")).to_have_attribute("aria-invalid", "true")  # feedback is required
    p.locator("#move-text").fill("Add a third line")
    p.locator("#move-confirm").press("Enter")
    in_progress = p.locator(".task-section[data-section=in_progress]")
    expect(in_progress.locator(f"[data-card-task='{tasks['notes']['id']}']")).to_have_count(1)
    shown = _task(web, tasks["notes"]["id"])
    assert shown["stage"] == "in_progress"
    assert (shown["reviews"][-1]["step"], shown["reviews"][-1]["feedback"]) == ("changes_requested", "Add a third line")

    # Edit and reassign: only what changed is sent; a bad priority is refused inline.
    p.get_by_role("button", name="Actions for “Spare work”").click()
    p.locator("dialog[open] [data-action=edit]").click()
    p.locator("#et-title").fill("Spare work, renamed")
    p.locator("#et-priority").fill("500")
    p.locator("#et-save").click()
    expect(p.locator("#et-priority")).to_have_attribute("aria-invalid", "true")
    p.locator("#et-priority").fill("7")
    p.locator("#et-assignee").select_option(label="Ben")
    p.locator("#et-save").click()
    expect(p.locator("dialog[open]")).to_have_count(0)
    expect(p.locator(f"[data-card-task='{tasks['spare']['id']}'] .task-title")).to_have_text("Spare work, renamed")
    shown = _task(web, tasks["spare"]["id"])
    ben = next(m for m in team["members"] if m["name"] == "Ben")
    assert (shown["title"], shown["priority"], shown["assigned_to"]) == ("Spare work, renamed", 7, ben["id"]), shown

    # Cancel with a reason, from the task's detail.
    p.locator(f"[data-card-task='{tasks['spare']['id']}'] .task-open").click()
    p.locator("#td-cancel").click()
    p.locator("#move-text").fill("not needed after all")
    p.locator("#move-confirm").click()
    cancelled = p.locator(".task-section[data-section=cancelled]")
    expect(cancelled.locator(f"[data-card-task='{tasks['spare']['id']}']")).to_have_count(1)
    shown = _task(web, tasks["spare"]["id"])
    assert shown["stage"] == "cancelled" and "not needed after all" in str(shown["result"]), shown

    # A cancelled task offers no move, but a retry (its column starts folded).
    expect(cancelled).not_to_have_attribute("open", "")
    cancelled.locator("summary").click()
    p.get_by_role("button", name="Actions for “Spare work, renamed”").click()
    expect(p.locator("dialog[open] [data-move]")).to_have_count(0)
    expect(p.locator("dialog[open] [data-action=retry]")).to_be_visible()
    p.keyboard.press("Escape")
    assert real_errors(errors) == [], errors
