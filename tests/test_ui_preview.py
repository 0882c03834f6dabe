"""The app preview in a real browser (Debian's Chromium against a real gunicorn): the project's page runs its own
scripts, served with their types, but sits in an opaque origin — it cannot read or change anything through
Gamma's API, with or without the user's cookies."""

from __future__ import annotations

import json

import pytest
import requests

from orchestrator.records import repos
from shared import git
from tests.support.processes import Web
from tests.support.ui_fixtures import real_errors

pytest_plugins = ("tests.support.ui_fixtures",)

PROBE = """<!doctype html><meta charset="utf-8"><title>probe</title>
<script src="probe.js"></script>
"""
PROBE_JS = """
const results = {script: "ran"};
async function attempt(name, call) {
  try { const response = await call(); results[name] = `status ${response.status}: ${await response.text()}`; }
  catch (error) { results[name] = `blocked: ${error.name}`; }
}
(async () => {
  try { results.cookie = document.cookie; } catch (error) { results.cookie = `blocked: ${error.name}`; }
  results.origin = self.origin;
  await attempt("read", () => fetch("/api/teams"));
  await attempt("read_no_cors", () => fetch("/api/teams", {mode: "no-cors"}));
  await attempt("write", () => fetch("/api/teams", {method: "POST", headers: {"Content-Type": "application/json"},
                                                     body: JSON.stringify({name: "made by the preview"})}));
  await attempt("write_no_cors", () => fetch("/api/teams", {method: "POST", mode: "no-cors",
                                                            body: JSON.stringify({name: "made by the preview"})}));
  document.body.dataset.results = JSON.stringify(results);
})();
"""


def test_a_page_in_the_preview_cannot_call_the_api(web: Web, page) -> None:
    opened, _errors = page
    team = requests.post(f"{web.url}/api/teams", json={"name": "Preview"}, timeout=10).json()
    main = repos.project_dir(team["id"])  # the web shares this process's GAMMA_HOME
    (main / "index.html").write_text(PROBE)
    (main / "probe.js").write_text(PROBE_JS)
    git.commit_all(main, "a page that tries the API")
    opened.goto(f"{web.url}/")  # the user's own session on Gamma first (same origin: it may use the API)
    opened.goto(f"{web.url}/preview/{team['id']}/main/")
    opened.wait_for_function("document.body && document.body.dataset.results")
    results = json.loads(opened.evaluate("document.body.dataset.results"))
    assert results["script"] == "ran", "the project's own script runs (allow-scripts, served as JavaScript)"
    assert results["origin"] == "null", "the preview runs in an opaque origin"
    assert results["cookie"].startswith("blocked"), "no access to cookies"
    for attempt in ("read", "write"):
        assert results[attempt].startswith("blocked"), (attempt, results[attempt])
    # no-cors requests do leave the page (their answers are opaque to it): the server refuses them itself
    names = [t["name"] for t in requests.get(f"{web.url}/api/teams", timeout=10).json()["teams"]]
    assert "made by the preview" not in names, results


def test_the_files_tab_shows_the_tree_a_highlighted_file_a_branchs_diff_and_the_preview(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    from tests.support.crew import handed_in_for_review  # noqa: PLC0415

    opened, errors = page
    team = requests.post(f"{web.url}/api/teams", json={
        "name": "Files", "members": [{"name": "Ann", "role_id": "engineering/frontend-engineer"}]}, timeout=10).json()
    main = repos.project_dir(team["id"])
    (main / "docs").mkdir()
    (main / "docs" / "guide.md").write_text("# Guide\n")
    (main / "index.html").write_text("<!doctype html><title>t</title><h1 id='hi'>Hello from the app</h1>"
                                     "<script src='app.js'></script>\n")
    (main / "app.js").write_text("function greet(name) {\n  return `hi ${name}`;\n}\n"
                                 "document.getElementById('hi').dataset.ran = 'yes';\n")
    git.commit_all(main, "the app")
    ann = next(m for m in team["members"] if m["name"] == "Ann")
    task, _run = handed_in_for_review(team["id"], ann, "Feature", {"feature.txt": "one\ntwo\n"}, "a feature")

    opened.goto(f"{web.url}/teams/{team['id']}")
    expect(opened.locator("#team-page")).to_have_attribute("data-ready", "true")
    opened.locator("#tab-files").click()
    tree = opened.locator("#files-tree")
    expect(tree.get_by_role("button", name="docs/")).to_be_visible()
    expect(tree.get_by_role("button", name="index.html")).to_be_visible()
    tree.get_by_role("button", name="app.js").click()
    viewer = opened.locator("#files-viewer")
    expect(viewer.locator("code.language-js")).to_contain_text("function greet(name)")
    expect(viewer.locator("code .hljs-keyword").first).to_be_visible()  # highlighted, not plain text
    expect(viewer.get_by_role("link", name="Download")).to_have_attribute("href", f"/api/teams/{team['id']}/repo/raw"
                                                                           "?ref=main&path=app.js")
    tree.get_by_role("button", name="docs/").click()
    expect(tree.get_by_role("button", name="guide.md")).to_be_visible()
    opened.locator("#files-ref").select_option(task["id"])
    expect(viewer).to_contain_text("Changes against main: 1 file")
    expect(viewer.locator("code.language-diff")).to_contain_text("+one")
    expect(tree.get_by_role("button", name="feature.txt")).to_be_visible()
    opened.locator("#files-ref").select_option("main")
    opened.locator("#files-preview-toggle").click()
    frame = opened.frame_locator("iframe.preview-frame")
    expect(frame.locator("#hi")).to_have_text("Hello from the app")
    expect(frame.locator("#hi")).to_have_attribute("data-ran", "yes")  # its own script ran, in the sandbox
    new_tab = opened.get_by_role("link", name="Open in a new tab")
    expect(new_tab).to_have_attribute("href", f"/preview/{team['id']}/main/")
    assert real_errors(errors) == [], errors


def test_a_task_in_review_is_read_by_its_diff_approved_and_merged_or_sent_back(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    from tests.support.crew import handed_in_for_review  # noqa: PLC0415

    opened, errors = page
    team = requests.post(f"{web.url}/api/teams", json={
        "name": "Review", "members": [{"name": "Ann", "role_id": "engineering/frontend-engineer"}]}, timeout=10).json()
    ann = next(m for m in team["members"] if m["name"] == "Ann")
    reviewed = {}
    for title, name in (("Add the notes", "notes.md"), ("Add the todo", "todo.md")):
        reviewed[name], _run = handed_in_for_review(team["id"], ann, title, {name: f"# {title}\nfirst line\n"},
                                                    f"wrote {name}")

    opened.goto(f"{web.url}/teams/{team['id']}")
    expect(opened.locator("#team-page")).to_have_attribute("data-ready", "true")
    opened.locator(f"[data-task-id='{reviewed['notes.md']['id']}']").click()
    diff = opened.locator("#task-diff")
    expect(diff).to_contain_text("Changes against main: 1 file")
    expect(diff.locator("code.language-diff")).to_contain_text("+first line")
    opened.locator("#td-approve").click()
    expect(opened.locator("#task-detail-body")).to_have_count(0)  # the dialog closed on success
    shown = requests.get(f"{web.url}/api/tasks/{reviewed['notes.md']['id']}", timeout=10).json()
    assert shown["stage"] == "done" and shown["merge"]["state"] == "merged"
    assert (repos.project_dir(team["id"]) / "notes.md").read_text() == "# Add the notes\nfirst line\n"

    opened.locator(f"[data-task-id='{reviewed['todo.md']['id']}']").click()
    opened.locator("#td-changes").click()
    expect(opened.locator("#td-feedback")).to_have_attribute("aria-invalid", "true")  # says what is missing
    opened.locator("#td-feedback").fill("Add a second item")
    opened.locator("#td-changes").click()
    expect(opened.locator("#task-detail-body")).to_have_count(0)
    shown = requests.get(f"{web.url}/api/tasks/{reviewed['todo.md']['id']}", timeout=10).json()
    assert shown["stage"] == "in_progress"
    assert [(r["step"], r["feedback"]) for r in shown["reviews"]][-1] == ("changes_requested", "Add a second item")
    assert real_errors(errors) == [], errors


def test_the_doctor_page_lists_each_check_and_says_what_to_do(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    from shared import db  # noqa: PLC0415

    opened, errors = page
    with db.transaction() as conn:  # workers of earlier tests' stacks are gone, whatever their last beat says
        conn.execute("UPDATE workers SET stopped_at = now() WHERE stopped_at IS NULL")
    opened.goto(f"{web.url}/")
    opened.locator("#doctor-link").click()
    checks = opened.locator("#doctor-checks")
    expect(checks).to_have_attribute("aria-busy", "false")
    expect(checks.locator("[data-state='ok']", has_text="Database")).to_be_visible()
    expect(checks.locator("[data-state='ok']", has_text="Migrations")).to_be_visible()
    expect(checks.locator("[data-state='ok']", has_text="git")).to_contain_text("git 2.")
    expect(checks.locator("li", has_text="Disk")).to_contain_text("GiB free")
    # this web has no worker: a problem, with what to do about it
    workers = checks.locator("[data-state='fail']", has_text="Workers")
    expect(workers).to_contain_text("no worker online")
    expect(workers.locator(".doctor-todo")).to_contain_text("gamma worker")
    expect(opened.locator("#doctor-summary")).to_contain_text("to look at")
    assert real_errors(errors) == [], errors


def test_the_run_view_shows_a_whole_run_live_with_its_facts_and_raw_lines(web: Web, page) -> None:
    """A run of 2,600 events (the parsed lines of a real claude tool-use sample, then 2,500 texts): every event is
    shown across the API's pages, a new one arrives live, its end updates the facts, the raw lines are one
    toggle away."""
    from pathlib import Path  # noqa: PLC0415

    from playwright.sync_api import expect  # noqa: PLC0415

    from shared import db, events  # noqa: PLC0415
    from shared.events import NewEvent  # noqa: PLC0415
    from tests.support.crew import finish, start  # noqa: PLC0415
    from workers.stream_parser import ClaudeStreamParser  # noqa: PLC0415

    opened, errors = page
    team = requests.post(f"{web.url}/api/teams", json={"name": "Runs"}, timeout=10).json()
    lead = team["members"][0]
    requests.post(f"{web.url}/api/teams/{team['id']}/messages", json={"message": "hi"}, timeout=10)
    run, _ = start(lead["id"])
    sample = (Path(__file__).parent / "fixtures" / "claude-stream-json" / "02-tool-use-bash-bypass.stdout.jsonl")
    raw = sample.read_text().splitlines()
    parser = ClaudeStreamParser()
    ids = {"agent_id": lead["id"], "run_id": run["id"]}
    parsed = [NewEvent(p.kind, team["id"], p.payload, **ids) for line in raw for p in parser.feed(line)]
    texts = [NewEvent("agent.text", team["id"], {"text": f"step {n} of the long run"}, **ids) for n in range(2500)]
    events.emit(parsed + texts)
    with db.transaction() as conn:
        for number, line in enumerate(raw, start=1):
            conn.execute("INSERT INTO run_lines (run_id, attempt, line_no, stream, line) VALUES (%s, %s, %s,"
                         " 'stdout', %s)", (run["id"], run["attempt"], number, line))

    opened.goto(f"{web.url}/runs/{run['id']}")
    # a wait, not a limit: rendering 2,600 rows takes seconds on a busy machine (the list is not virtual yet)
    expect(opened.locator("#run-page")).to_have_attribute("data-ready", "true", timeout=60_000)
    expect(opened.locator("#run-state")).to_have_text("running")
    trace = opened.locator("#run-trace")
    expect(trace.locator(".ev[data-kind='agent.text']")).to_have_count(2500 + sum(
        1 for e in parsed if e.kind == "agent.text"))
    expect(trace.locator(".ev[data-kind='agent.tool_use']").first).to_contain_text("Bash")
    events.emit([NewEvent("agent.text", team["id"], {"text": "a line that arrives live"}, **ids)])
    expect(trace).to_contain_text("a line that arrives live")
    finish(run)
    expect(opened.locator("#run-state")).to_have_text("succeeded")
    opened.locator("#run-raw-toggle").click()
    expect(opened.locator("#run-raw")).to_contain_text('"type":"system"')
    expect(opened.locator("#run-trace")).to_be_hidden()
    assert real_errors(errors) == [], errors


def test_the_dashboard_counts_every_task_and_lists_archived_teams_last(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    from orchestrator.domain import USER  # noqa: PLC0415
    from orchestrator.workflows import delegation  # noqa: PLC0415
    from orchestrator.workflows.delegation import TaskSpec  # noqa: PLC0415
    from shared import db  # noqa: PLC0415

    opened, errors = page
    old = requests.post(f"{web.url}/api/teams", json={"name": "Old archived team"}, timeout=10).json()
    assert requests.delete(f"{web.url}/api/teams/{old['id']}", timeout=10).status_code == 200
    team = requests.post(f"{web.url}/api/teams", json={"name": "Counted"}, timeout=10).json()
    with db.transaction() as conn:
        made = delegation.create(conn, team["id"], [TaskSpec(f"t{n}") for n in range(4)], USER)
        for task, stage in zip(made, ("done", "cancelled", "failed", "backlog"), strict=True):
            # the stages a stop leaves behind
            conn.execute("UPDATE tasks SET stage = %s WHERE id = %s", (stage, task["id"]))
    opened.goto(f"{web.url}/")
    card = opened.locator(f"[data-team-id='{team['id']}']")
    expect(card.locator("[data-progress]")).to_have_text("1 of 4 done · 1 cancelled · 1 failed")
    opened.locator("#show-archived").check()
    archived = opened.locator(f"article.team-card[data-team-id='{old['id']}']")
    expect(archived).to_contain_text("Archived")
    expect(archived).not_to_contain_text("Active")
    # every archived card after every active one (the session's other tests leave teams of both kinds)
    states = opened.locator("article.team-card").evaluate_all(
        "cards => cards.map(c => c.classList.contains('is-archived'))")
    assert states == sorted(states) and states[-1], states
    assert real_errors(errors) == [], errors


@pytest.mark.parametrize(("tab", "url", "empty", "loaded", "retry"), [
    ("tasks", "/tasks*", "No tasks yet", "div.empty:has-text('No tasks yet')", "#tasks-retry"),
    ("runs", "/runs*", "Nothing running or queued", "text=Nothing running or queued", "#runs-retry"),
    ("log", "/events?*", "No events yet", ".ev[data-kind='team.created']", "#log-retry"),
    ("files", "/repo", "Empty folder", "#files-ref", "#files-retry"),
])
def test_every_panel_that_fails_to_load_says_so_with_a_retry_never_its_empty_state(
        web: Web, page, tab: str, url: str, empty: str, loaded: str, retry: str) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    opened, errors = page
    team = requests.post(f"{web.url}/api/teams", json={"name": f"Flaky {tab}"}, timeout=10).json()
    failing = {"on": True}

    def flaky(route):
        if failing["on"]:
            route.fulfill(status=503, content_type="application/json",
                          body='{"error": "unavailable", "message": "the database is not reachable right now"}')
        else:
            route.continue_()

    opened.route(f"**/api/teams/{team['id']}{url}", flaky)
    opened.goto(f"{web.url}/teams/{team['id']}")
    opened.locator(f"#tab-{tab}").click()
    panel = opened.locator(f"#panel-{tab}")
    expect(panel.get_by_role("alert")).to_contain_text("could not be loaded: the database is not reachable")
    expect(panel).not_to_contain_text(empty, use_inner_text=True)  # what the user reads
    failing["on"] = False
    opened.locator(retry).click()
    expect(panel.locator(loaded)).to_be_visible()
    expect(panel.get_by_role("alert")).to_have_count(0)
    assert [e for e in real_errors(errors) if "503" not in e] == [], errors


def test_the_header_and_the_team_map_read_one_state(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    from shared import db  # noqa: PLC0415

    opened, errors = page
    ann = {"name": "Ann", "role_id": "engineering/frontend-engineer"}
    team = requests.post(f"{web.url}/api/teams", json={"name": "One state", "members": [ann]}, timeout=10).json()
    lead = next(m for m in team["members"] if m["is_lead"])
    with db.transaction() as conn:  # the lead works (as its status says) while the run list has not caught up
        conn.execute("UPDATE agents SET status = 'running' WHERE id = %s", (lead["id"],))
    opened.goto(f"{web.url}/teams/{team['id']}")
    expect(opened.locator("#team-page")).to_have_attribute("data-ready", "true")
    expect(opened.locator(".team-facts")).to_contain_text("1 running")
    expect(opened.locator(".team-facts")).not_to_contain_text("idle")
    assert real_errors(errors) == [], errors


def test_an_activity_pill_is_updated_in_place_never_rebuilt(web: Web, page) -> None:
    """A pill rebuilt on every update restarts its entrance animation and its pulsing dot: a flicker."""
    from playwright.sync_api import expect  # noqa: PLC0415

    from shared import events  # noqa: PLC0415
    from shared.events import NewEvent  # noqa: PLC0415

    opened, errors = page
    team = requests.post(f"{web.url}/api/teams", json={"name": "Pills"}, timeout=10).json()
    lead = team["members"][0]
    opened.goto(f"{web.url}/teams/{team['id']}")
    expect(opened.locator("#conn")).to_have_attribute("data-state", "live")
    events.emit([NewEvent("run.started", team["id"], {"backend": "claude"}, agent_id=lead["id"])])
    pill = opened.locator(f".pill[data-agent-id='{lead['id']}']")
    expect(pill).to_contain_text("Starting")
    opened.evaluate("id => { const p = document.querySelector(`.pill[data-agent-id='${id}']`);"
                    " p.gammaMark = 'first'; p.querySelector('.pill-dot').gammaMark = 'dot'; }", lead["id"])
    for name, command in (("Bash", "ls"), ("Read", None)):
        tool = {"name": name, "input": {"command": command} if command else {"file_path": "/x/notes.md"},
                "tool_use_id": f"t-{name}"}
        events.emit([NewEvent("agent.tool_use", team["id"], tool, agent_id=lead["id"])])
    expect(pill).not_to_contain_text("Starting")
    marks = opened.evaluate("id => { const p = document.querySelector(`.pill[data-agent-id='${id}']`);"
                            " return [p.gammaMark, p.querySelector('.pill-dot').gammaMark]; }", lead["id"])
    assert marks == ["first", "dot"], "the same pill and dot, updated in place"
    assert real_errors(errors) == [], errors


def test_a_message_sent_while_the_lead_works_shows_as_queued_until_its_run_starts(web: Web, page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    from shared import db, events  # noqa: PLC0415
    from shared.events import NewEvent  # noqa: PLC0415

    opened, errors = page
    team = requests.post(f"{web.url}/api/teams", json={"name": "Busy lead"}, timeout=10).json()
    lead = team["members"][0]
    with db.transaction() as conn:  # the lead is at work on something else
        conn.execute("UPDATE agents SET status = 'running' WHERE id = %s", (lead["id"],))
    opened.goto(f"{web.url}/teams/{team['id']}")
    expect(opened.locator("#conn")).to_have_attribute("data-state", "live")
    opened.locator("#chat textarea").fill("Also add a footer")
    opened.locator("#chat textarea").press("Enter")
    sent = opened.locator(".msg-user", has_text="Also add a footer")
    expect(sent.locator(".msg-queued")).to_contain_text("Queued: the lead reads it when its current work ends")
    with db.transaction() as conn:
        run_id = conn.execute("SELECT id FROM runs WHERE agent_id = %s AND state = 'queued'",
                              (lead["id"],)).fetchone()["id"]
    events.emit([NewEvent("run.started", team["id"], {"attempt": 1}, agent_id=lead["id"], run_id=run_id)])
    expect(sent.locator(".msg-queued")).to_have_count(0)
    assert real_errors(errors) == [], errors


def test_the_newest_chat_message_stays_in_view_when_activity_pills_appear(web: Web, page) -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from playwright.sync_api import expect  # noqa: PLC0415

    from shared import events  # noqa: PLC0415
    from shared.events import NewEvent  # noqa: PLC0415
    from shared.ids import new_id  # noqa: PLC0415

    opened, errors = page
    team = requests.post(f"{web.url}/api/teams", json={"name": "Long chat"}, timeout=10).json()
    lead = team["members"][0]
    opened.set_viewport_size({"width": 1280, "height": 700})
    opened.goto(f"{web.url}/teams/{team['id']}")
    expect(opened.locator("#conn")).to_have_attribute("data-state", "live")
    events.emit([NewEvent("chat.message", team["id"], {
        "id": new_id("msg"), "role": "assistant", "kind": "answer", "agent_id": lead["id"], "run_id": None,
        "content": f"answer number {n}\n\nwith a second paragraph", "created_at": datetime.now(UTC).isoformat()},
        agent_id=lead["id"]) for n in range(30)])
    last = opened.locator(".msg", has_text="answer number 29")
    expect(last).to_be_in_viewport()
    events.emit([NewEvent("run.started", team["id"], {"backend": "claude"}, agent_id=lead["id"])])
    expect(opened.locator(".pill")).to_have_count(1)
    expect(last).to_be_in_viewport(ratio=1)
    assert real_errors(errors) == [], errors
