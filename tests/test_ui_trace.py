"""The trace page (/trace) in a real browser (Debian's Chromium against a real gunicorn): every team's events in one
list; each filter (team, agent, task, run, kind, time, text) narrows it, lands in the URL and survives a reload;
pages load as the list scrolls until 10,000+ events are reached; the live tail shows new events, and buffers them
while paused; the export downloads the filtered trace as JSON Lines.

Events are appended as a worker would (shared.events.emit), straight into the web's database.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared import db, events
from shared.events import NewEvent
from shared.ids import new_id
from tests.support import factories
from tests.support.processes import Web
from tests.support.ui_fixtures import real_errors

pytest_plugins = ("tests.support.ui_fixtures",)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROWS = "#trace-list li.ev"
# The browser's own zone decides what a datetime-local field means: format the instant there.
LOCAL_INPUT = """iso => {
  const d = new Date(iso), p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`
    + `:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}"""


def db_now() -> datetime:
    with db.transaction() as conn:
        return conn.execute("SELECT clock_timestamp() AS now").fetchone()["now"]


def stored(event_id: str) -> dict[str, Any]:
    """An event as the database keeps it (its created_at is the row's, not the one emit() reported)."""
    with db.transaction() as conn:
        return conn.execute("SELECT created_at FROM events WHERE id = %s", (event_id,)).fetchone()


def query_of(opened) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(opened.url).query).items()}


def shown_ids(opened, expected: list[str]) -> None:
    """Once the list has loaded for the current URL, it holds exactly `expected` (in that order)."""
    from playwright.sync_api import expect  # noqa: PLC0415

    expect(opened.locator("#trace-list")).to_have_attribute("data-exhausted", "true")
    expect(opened.locator(ROWS)).to_have_count(len(expected))
    assert opened.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.id)") == expected


def reload_keeps(opened, control: str, value: str, expected: list[str], *, instant: bool = False) -> None:
    """After a reload the URL, the control and the list are as before. `instant`: the control is a datetime-local
    input, whose value the browser gives in its shortest form (`…:42.98` for `…:42.980`): the same moment is
    compared, not the same text (a CI run failed on a boundary whose milliseconds ended in 0)."""
    from playwright.sync_api import expect  # noqa: PLC0415

    url = opened.url
    opened.reload()
    assert opened.url == url
    if instant:
        expect(opened.locator(control)).not_to_have_value("")
        assert datetime.fromisoformat(opened.locator(control).input_value()) == datetime.fromisoformat(value)
    else:
        expect(opened.locator(control)).to_have_value(value)
    shown_ids(opened, expected)


def clear(opened) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    opened.locator("#tf-clear").click()
    expect(opened).to_have_url(re.compile(r"/trace$"))


@pytest.fixture
def two_teams() -> dict[str, Any]:
    """Team A (Ann: a task, a run, a zebra) and team B (Bob, a chat message), then later one more A event."""
    token = new_id("evt")[-8:].lower()
    a, b = factories.create_team(f"Alpha {token}"), factories.create_team(f"Bravo {token}")
    ann = factories.create_agent(a["id"], "Ann")
    bob = factories.create_agent(b["id"], "Bob")
    task, run = new_id("task"), new_id("run")
    early = events.emit([
        NewEvent("task.created", a["id"], {"title": "Paint the fence"}, task_id=task),
        NewEvent("run.started", a["id"], {"attempt": 1}, agent_id=ann["id"], task_id=task, run_id=run),
        NewEvent("agent.text", a["id"], {"text": f"the quick zebra{token} jumps"}, agent_id=ann["id"],
                 task_id=task, run_id=run),
        NewEvent("chat.message", b["id"], {"role": "user", "content": "hello from bravo"}),
        NewEvent("agent.text", b["id"], {"text": "Bob writes"}, agent_id=bob["id"]),
    ])
    # A boundary strictly between the early events and the late one, to the millisecond (what the time fields
    # hold): the late event is appended once the database's clock has passed it.
    last_early = max(stored(e["id"])["created_at"] for e in early)
    boundary = last_early.replace(microsecond=last_early.microsecond // 1000 * 1000) + timedelta(milliseconds=1)
    if boundary.microsecond // 1000 == 0:
        boundary += timedelta(milliseconds=1)  # a datetime-local value never ends in .000 (the browser drops it)
    while db_now() <= boundary:
        pass
    (late,) = events.emit([NewEvent("agent.text", a["id"], {"text": "a late note"}, agent_id=ann["id"])])
    ids = {e["payload"].get("title") or e["payload"].get("text") or e["payload"].get("content"): e["id"]
           for e in [*early, late]}
    return {"a": a, "b": b, "ann": ann, "bob": bob, "task": task, "run": run, "token": token, "boundary": boundary,
            "fence": ids["Paint the fence"], "started": early[1]["id"], "zebra": ids[f"the quick zebra{token} jumps"],
            "hello": ids["hello from bravo"], "bob_text": ids["Bob writes"], "late": ids["a late note"]}


def test_every_teams_events_show_and_each_filter_narrows_the_list_lands_in_the_url_and_survives_a_reload(
        web: Web, page, two_teams) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    opened, errors = page
    t = two_teams
    a_events = [t["late"], t["zebra"], t["started"], t["fence"]]  # newest first, the default order

    opened.goto(f"{web.url}/")
    opened.locator("#trace-link").click()
    expect(opened).to_have_url(f"{web.url}/trace")
    expect(opened.locator("#trace-list")).to_have_attribute("data-loaded", re.compile(r"[1-9]"))
    for team in (t["a"], t["b"]):
        expect(opened.locator(f'{ROWS}[data-team-id="{team["id"]}"]').first).to_be_visible()
    expect(opened.locator(f'{ROWS}[data-id="{t["hello"]}"]')).to_contain_text(t["b"]["name"])

    # Team
    opened.locator("#tf-team").select_option(t["a"]["id"])
    expect(opened).to_have_url(re.compile(rf"team_id={t['a']['id']}"))
    shown_ids(opened, a_events)
    reload_keeps(opened, "#tf-team", t["a"]["id"], a_events)

    # Agent (within the team)
    opened.locator("#tf-agent").select_option(t["ann"]["id"])
    expect(opened).to_have_url(re.compile(rf"agent_id={t['ann']['id']}"))
    assert query_of(opened)["team_id"] == t["a"]["id"]
    shown_ids(opened, [t["late"], t["zebra"], t["started"]])
    reload_keeps(opened, "#tf-agent", t["ann"]["id"], [t["late"], t["zebra"], t["started"]])

    # Task
    clear(opened)
    opened.locator("#tf-task").fill(t["task"])
    opened.locator("#tf-task").press("Enter")
    expect(opened).to_have_url(re.compile(rf"task_id={t['task']}"))
    shown_ids(opened, [t["zebra"], t["started"], t["fence"]])
    reload_keeps(opened, "#tf-task", t["task"], [t["zebra"], t["started"], t["fence"]])

    # Run
    clear(opened)
    opened.locator("#tf-run").fill(t["run"])
    opened.locator("#tf-run").press("Enter")
    expect(opened).to_have_url(re.compile(rf"run_id={t['run']}"))
    shown_ids(opened, [t["zebra"], t["started"]])
    reload_keeps(opened, "#tf-run", t["run"], [t["zebra"], t["started"]])

    # Kind (the server's vocabulary), here with team B
    clear(opened)
    opened.locator("#tf-team").select_option(t["b"]["id"])
    shown_ids(opened, [t["bob_text"], t["hello"]])
    opened.locator("#tf-kind").select_option("chat.message")
    expect(opened).to_have_url(re.compile(r"kind=chat\.message"))
    shown_ids(opened, [t["hello"]])
    reload_keeps(opened, "#tf-kind", "chat.message", [t["hello"]])
    opened.locator("#tf-kind").select_option("agent.")  # a family: every agent.* event
    expect(opened).to_have_url(re.compile(r"kind=agent\.(&|$)"))
    shown_ids(opened, [t["bob_text"]])

    # Time: from the boundary on, then before it (team A)
    clear(opened)
    opened.locator("#tf-team").select_option(t["a"]["id"])
    shown_ids(opened, a_events)
    boundary_iso = t["boundary"].isoformat()
    local = opened.evaluate(LOCAL_INPUT, boundary_iso)
    opened.locator("#tf-since").fill(local)
    expect(opened).to_have_url(re.compile(r"since="))
    assert datetime.fromisoformat(query_of(opened)["since"].replace("Z", "+00:00")) == t["boundary"]
    shown_ids(opened, [t["late"]])
    reload_keeps(opened, "#tf-since", local, [t["late"]], instant=True)
    opened.locator("#tf-since").fill("")
    opened.locator("#tf-until").fill(local)
    expect(opened).to_have_url(re.compile(r"until="))
    assert "since" not in query_of(opened)
    shown_ids(opened, [t["zebra"], t["started"], t["fence"]])
    reload_keeps(opened, "#tf-until", local, [t["zebra"], t["started"], t["fence"]], instant=True)

    # Text search, over every team (the "/" key goes to the search field)
    clear(opened)
    opened.locator("#trace-list").focus()
    opened.keyboard.press("/")
    expect(opened.locator("#tf-q")).to_be_focused()
    opened.keyboard.type(f"ZEBRA{t['token']}")
    expect(opened).to_have_url(re.compile(rf"q=ZEBRA{t['token']}"))
    shown_ids(opened, [t["zebra"]])
    reload_keeps(opened, "#tf-q", f"ZEBRA{t['token']}", [t["zebra"]])

    assert real_errors(errors) == [], errors

    # A bad value in a shared URL: the server's message, naming the parameter (the browser logs the 400)
    opened.goto(f"{web.url}/trace?task_id=nonsense")
    expect(opened.locator("#trace-error")).to_contain_text("task_id")
    assert [e for e in real_errors(errors) if "status of 400" not in e] == [], errors


def test_the_export_downloads_the_filtered_trace_as_json_lines(web: Web, page, two_teams) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    opened, errors = page
    t = two_teams
    opened.goto(f"{web.url}/trace?team_id={t['a']['id']}")
    opened.locator("#tf-kind").select_option("agent.text")
    shown_ids(opened, [t["late"], t["zebra"]])
    expect(opened.locator("#trace-export")).to_have_attribute("href", re.compile(r"^/api/events\.jsonl\?"))
    with opened.expect_download() as download:
        opened.locator("#trace-export").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    assert [e["id"] for e in lines] == [t["late"], t["zebra"]], "the page's filters and order, every page"
    assert {(e["team_id"], e["kind"]) for e in lines} == {(t["a"]["id"], "agent.text")}
    assert all(e["global_cursor"] for e in lines)
    assert real_errors(errors) == [], errors


def test_paging_reaches_every_one_of_ten_thousand_events(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    opened, errors = page
    team = factories.create_team("Busy")
    total, batch = 10_500, 3_500
    first_ids: list[str] = []
    for start in range(0, total, batch):
        emitted = events.emit([NewEvent("agent.text", team["id"], {"text": f"line {n}"})
                               for n in range(start, start + batch)])
        first_ids = first_ids or [emitted[0]["id"]]
    opened.goto(f"{web.url}/trace?team_id={team['id']}")
    scroller = opened.locator("#trace-list")
    expect(scroller).to_have_attribute("data-loaded", "500")  # one page, not everything at once
    for _ in range(total // 500 + 2):
        if scroller.get_attribute("data-exhausted") == "true":
            break
        loaded = scroller.get_attribute("data-loaded")
        scroller.evaluate("el => { el.scrollTop = el.scrollHeight; }")  # the pager comes into view
        opened.wait_for_function("""loaded => {
          const el = document.getElementById('trace-list');
          return el.dataset.loaded !== loaded || el.dataset.exhausted === 'true';
        }""", arg=loaded)
    expect(scroller).to_have_attribute("data-exhausted", "true")
    expect(scroller).to_have_attribute("data-loaded", str(total))
    expect(opened.locator(ROWS)).to_have_count(total)
    assert opened.locator(f"{ROWS}:last-child").get_attribute("data-id") == first_ids[0], "down to the oldest"
    expect(opened.locator("#trace-count")).to_contain_text(f"{total} events · all loaded")
    assert real_errors(errors) == [], errors


def test_the_live_tail_shows_new_events_and_buffers_them_while_paused(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    opened, errors = page
    team, other = factories.create_team("Live"), factories.create_team("Elsewhere")
    opened.goto(f"{web.url}/trace?team_id={team['id']}")
    expect(opened.locator("#conn")).to_have_attribute("data-state", "live")
    expect(opened.locator("#trace-list")).to_have_attribute("data-exhausted", "true")
    expect(opened.locator("#trace-list .empty")).to_be_visible()

    events.emit([NewEvent("agent.text", other["id"], {"text": "not this team"})])
    (first,) = events.emit([NewEvent("agent.text", team["id"], {"text": "first live line"})])
    expect(opened.locator(f'{ROWS}[data-id="{first["id"]}"]')).to_contain_text("first live line")
    expect(opened.locator(ROWS)).to_have_count(1)  # the other team's event, sent before, stayed out

    opened.locator("#trace-pause").click()
    expect(opened.locator("#trace-pause")).to_have_attribute("aria-pressed", "true")
    (held,) = events.emit([NewEvent("agent.text", team["id"], {"text": "said while paused"})])
    resume = opened.locator("#trace-resume")
    expect(resume).to_have_text("1 new — resume")
    expect(opened.locator(f'{ROWS}[data-id="{held["id"]}"]')).to_have_count(0)
    resume.click()
    expect(resume).to_be_hidden()
    expect(opened.locator("#trace-pause")).to_have_attribute("aria-pressed", "false")
    shown_ids(opened, [held["id"], first["id"]])  # newest on top
    assert real_errors(errors) == [], errors
