"""The app preview in a real browser (Debian's Chromium against a real gunicorn): the project's page runs its own
scripts, served with their types, but sits in an opaque origin — it cannot read or change anything through
Gamma's API, with or without the user's cookies."""

from __future__ import annotations

import json

import requests

from orchestrator.records import repos
from shared import git
from tests.support.processes import Web

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
