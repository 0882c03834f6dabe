"""A user's whole journey in a real browser, with everything real behind it: Debian's Chromium, a real gunicorn,
real Dramatiq workers and the real `claude` CLI talking to the model double.

Create a team from the dialog; give the lead a goal; watch the answer stream into the chat and the tasks appear
— the QA task waiting for the builder's —, start and reach review; read the diff and approve it; watch the QA task
start and reach done; open a run's page and the trace; reload while an answer streams and find it whole and
once; stop the team mid-run and read why in the chat.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support import polling
from tests.support.processes import Web
from tests.support.stack import Stack, running_stack
from tests.support.ui_fixtures import real_errors

pytest_plugins = ("tests.support.ui_fixtures",)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.cli]

CLI_MS = 180_000  # how long the page may wait for work the real CLI does (an upper bound, not a measurement)
GOAL = ("[[brain:lead members=Ann qa=Ben files=index.html member_report=review review=user]] "
        "Build a tiny landing page")

# Every state each answer message of the chat was drawn in, by message id (a MutationObserver in the page).
WATCH_ANSWERS = """() => {
  window.answerStates = {};
  const note = (el) => {
    if (!el.matches || !el.matches('.msg-agent[data-kind=answer]')) return;
    const seen = window.answerStates[el.dataset.id] || (window.answerStates[el.dataset.id] = []);
    if (seen[seen.length - 1] !== el.dataset.final) seen.push(el.dataset.final);
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes') note(r.target);
      for (const n of r.addedNodes || []) {
        note(n);
        if (n.querySelectorAll) n.querySelectorAll('.msg-agent').forEach(note);
      }
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-final']});
}"""


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(database_url, tmp_path_factory.mktemp("journey")) as running, running.worker():
        yield running


@pytest.fixture(scope="module")
def web(stack: Stack) -> Web:
    """The browser fixtures' server: the stack's web (its workers run what the page asks for)."""
    return stack.web


def _create_team_from_the_dialog(p: Any, web: Web) -> str:
    from playwright.sync_api import expect  # noqa: PLC0415

    p.goto(f"{web.url}/")
    expect(p.locator("#conn")).to_have_attribute("data-state", "live")
    p.locator("#new-team").click()
    dialog = p.locator("dialog[open]")
    dialog.locator("#nt-name").fill("Journey")
    dialog.locator("label[for=nt-mode-role]").click()
    dialog.locator("#nt-pane-role input[type=search]").fill("tech lead")
    dialog.locator("#nt-pane-role .role-row[data-role-id='engineering/tech-lead']").click()
    for added, (name, query, role) in enumerate((("Ann", "frontend engineer", "engineering/frontend-engineer"),
                                                 ("Ben", "qa", "testing/qa-lead")), start=1):
        adder = dialog.locator("#nt-adder")
        if adder.get_attribute("open") is None:
            adder.locator("summary").click()
        dialog.locator("#nt-roster input[type=search]").fill(query)
        dialog.locator(f"#nt-roster .role-row[data-role-id='{role}']").click()
        dialog.locator("#nt-member-name").fill(name)
        dialog.locator("#nt-member-add").click()
        rows = dialog.locator("#nt-roster-list li[data-origin=added]")
        expect(rows).to_have_count(added)
        expect(rows.last.locator("input[type=text]")).to_have_value(name)
    dialog.locator("#nt-create-open").click()
    p.wait_for_url(re.compile(r"/teams/team_[0-9A-Z]+$"))
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    expect(p.locator("#conn")).to_have_attribute("data-state", "live")
    return str(p.locator("#team-page").get_attribute("data-team-id"))


def _say(p: Any, text: str) -> None:
    p.locator("#chat-input").fill(text)
    p.locator("#chat-input").press("Enter")


def _runs(stack: Stack, team_id: str) -> list[dict[str, Any]]:
    return stack.api("GET", f"/api/teams/{team_id}/runs", params={"state": ",".join(
        ["queued", "running", "succeeded", "failed", "cancelled", "interrupted", "timed_out"])}).json()["runs"]


def test_a_goal_from_the_browser_to_reviewed_work_with_streaming_reload_and_stop(stack: Stack, web: Web,
                                                                                  page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    p.set_default_timeout(CLI_MS)
    team_id = _create_team_from_the_dialog(p, web)
    team = stack.api("GET", f"/api/teams/{team_id}").json()
    assert sorted((m["name"], m["role_id"], m["backend"]) for m in team["members"] if not m["is_lead"]) == [
        ("Ann", "engineering/frontend-engineer", "claude"), ("Ben", "testing/qa-lead", "claude")]
    p.evaluate(WATCH_ANSWERS)

    # --- the goal: the lead answers (streamed), the builder's task runs, the QA task waits for it ------------
    _say(p, GOAL)
    def card(title: str, within: Any = p) -> Any:  # by its own title (the QA card names the builder's too)
        return within.locator(".task-card").filter(has=p.get_by_role("button", name=title, exact=True))

    build, qa = card("Build index.html"), card("QA the site")
    expect(qa.locator(".task-deps")).to_have_text("Waits for “Build index.html”", timeout=CLI_MS)
    in_review = card("Build index.html", p.locator(".task-section[data-section=review]"))
    expect(in_review).to_have_count(1, timeout=CLI_MS)
    review_asked = p.locator(".msg-agent[data-kind=answer][data-final=true]", has_text="wait for your review")
    expect(review_asked).to_be_visible(timeout=CLI_MS)
    streamed = p.evaluate("window.answerStates")
    assert ["false", "true"] in streamed.values(), f"an answer was drawn while written, then final: {streamed}"
    expect(p.locator(".msg-wake")).to_contain_text("the lead is reviewing")

    # --- review: the diff, then approve; the QA task starts and reaches done ---------------------------------
    build.locator(".task-open").click()
    diff = p.locator("#task-diff")
    expect(diff).to_contain_text("Changes against main: 1 file")
    expect(diff.locator("code.language-diff")).to_contain_text("+# ")
    run_link = p.locator("dialog[open] .run-link").first
    build_run_href = run_link.get_attribute("href")
    p.locator("#td-approve").click()
    expect(p.locator("dialog[open]")).to_have_count(0)
    done = p.locator(".task-section[data-section=done]")
    expect(card("Build index.html", done)).to_have_count(1)
    expect(card("QA the site", done)).to_have_count(1, timeout=CLI_MS)
    tasks = {t["title"]: t for t in stack.api("GET", f"/api/teams/{team_id}/tasks").json()["tasks"]}
    assert tasks["Build index.html"]["merge"]["state"] == "merged"
    assert tasks["QA the site"]["result"]["summary"].startswith("QA passed: read 1 file(s) (index.html)")
    assert (stack.home / "workspaces" / team_id / "project" / "index.html").exists(), "merged into the main line"
    expect(p.locator("#task-progress-text")).to_have_text("2 of 2 done")

    # --- a run's page and the trace ------------------------------------------------------------------------
    assert build_run_href and build_run_href.startswith("/runs/run_")
    p.goto(f"{web.url}{build_run_href}")
    expect(p.locator("#run-state")).to_have_attribute("data-state", "succeeded")
    expect(p.locator("#run-facts")).to_contain_text("CLI version")
    expect(p.locator("#run-trace .ev[data-kind='agent.tool_use']").first).to_be_visible()
    p.goto(f"{web.url}/trace?team_id={team_id}")
    expect(p.locator(".ev[data-kind='task.created']").first).to_be_visible()

    # The QA task's end woke the lead again (its round): let that answer be written before the next message.
    polling.wait_for(lambda: not [r for r in _runs(stack, team_id) if r["state"] in ("queued", "running")],
                     timeout=180, what="the team's runs to end")

    # --- reload while an answer streams: it comes back whole, once -----------------------------------------
    p.goto(f"{web.url}/teams/{team_id}")
    expect(p.locator("#conn")).to_have_attribute("data-state", "live")
    # The slow brain writes a line, then runs a command for 8 s: its answer is being written all that while.
    _say(p, "[[brain:slow seconds=8]] Tell me how it went")
    # Watched at every frame (the window is seconds long, but a poll every few hundred ms is not needed).
    p.wait_for_function("() => document.querySelector('.msg-agent[data-kind=answer][data-final=false]')",
                        polling="raf", timeout=CLI_MS)
    message_id = p.locator(".msg-agent[data-kind=answer][data-final=false]").get_attribute("data-id")
    reloaded_at = datetime.now(UTC)
    p.reload()
    expect(p.locator("#conn")).to_have_attribute("data-state", "live")
    answer = p.locator(f".msg-agent[data-id='{message_id}']")
    expect(answer).to_have_count(1)
    expect(answer).to_have_attribute("data-final", "true", timeout=CLI_MS)
    expect(answer).to_have_count(1)
    stored = next(m for m in stack.api("GET", f"/api/teams/{team_id}/messages").json()["messages"]
                  if m["id"] == message_id)
    assert stored["final"] is True
    assert stack.run(stored["run_id"])["ended_at"] > reloaded_at, "the page was reloaded while the run wrote"
    shown = answer.locator(".msg-bubble").inner_text()
    assert " ".join(shown.split()) == " ".join(stored["content"].split()), "nothing missing, nothing doubled"
    streamed_then_reloaded = shown
    p.reload()  # the same message drawn from the history alone
    fresh = p.locator(f".msg-agent[data-id='{message_id}'][data-final=true] .msg-bubble")
    expect(fresh).to_be_visible()
    assert " ".join(fresh.inner_text().split()) == " ".join(streamed_then_reloaded.split())
    p.locator("#tab-log").click()
    cursors = [int(c) for c in p.locator("#panel-log .ev").evaluate_all("els => els.map((e) => e.dataset.cursor)")]
    assert cursors and len(cursors) == len(set(cursors)), "each event of the log once"

    # --- stop the team mid-run ----------------------------------------------------------------------------
    _say(p, "[[brain:slow seconds=600]] Take your time")
    lead = next(m for m in team["members"] if m["is_lead"])
    running = polling.wait_for(lambda: next((r for r in _runs(stack, team_id) if r["agent_id"] == lead["id"]
                                             and r["state"] == "running"), None), timeout=120, what="the lead runs")
    stop = p.get_by_role("button", name="Stop team")
    expect(stop).to_be_enabled()
    stop.click()  # at once: a stop loses nothing (a message starts the lead again)
    expect(p.locator(".msg-system[data-kind=notice]", has_text="The team was stopped")).to_contain_text(
        "1 run was cancelled", timeout=CLI_MS)
    assert stack.wait_run(running["id"])["state"] == "cancelled"
    expect(p.locator(".agent-node", has_text="Ann")).to_contain_text("Stopped")
    assert real_errors(errors) == [], errors
