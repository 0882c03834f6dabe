"""The repository API (web/api/repository.py) on a real team repository: tree, file, raw, archive, log, a task's
diff, the preview — and each path that tries to leave the repository refused with a 4xx."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from orchestrator.domain import USER
from orchestrator.records import repos
from orchestrator.workflows import delegation
from orchestrator.workflows.delegation import TaskSpec
from shared import db, git
from tests.support.crew import actor_of, finish, start

pytest_plugins = ("tests.support.orchestrator",)


@pytest.fixture
def project(crew):
    """The main line with text, a binary, a subdirectory and symlinks in and out; and a task in review."""
    main = repos.project_dir(crew.team_id)
    (main / "docs").mkdir()
    (main / "index.html").write_text("<!doctype html><title>App</title><script src='app.js'></script>\n")
    (main / "app.js").write_text("document.title = 'ran';\n")
    (main / "docs" / "guide.md").write_text("# Guide\n")
    (main / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0binary")
    (main / "big.txt").write_bytes(b"a" * 1_000_001)
    os.symlink("docs/guide.md", main / "inside")
    os.symlink("/etc/passwd", main / "absolute-link")
    os.symlink("../../../../etc/passwd", main / "escape")
    os.symlink("docs/../../outside", main / "docs-escape")
    git.commit_all(main, "the lead's files")
    (task,) = _create(crew)
    run, _ = start(crew.alice["id"])
    (repos.worktree_dir(crew.team_id, task["id"]) / "feature.txt").write_text("one\ntwo\n")
    with db.transaction() as conn:
        delegation.update_status(conn, actor_of(run), task["id"], "review", summary="feature")
    finish(run)
    return {"team": crew.team_id, "task": task, "main": main}


def _create(crew):
    with db.transaction() as conn:
        return delegation.create(conn, crew.team_id, [TaskSpec("Feature", assignee="Alice")], USER)


def ok(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_json()


def refused(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert body and body.get("message"), "a 4xx names the problem"
    return body["message"]


def test_the_tree_at_main_and_at_a_tasks_branch(client, project):
    team = project["team"]
    top = ok(client.get(f"/api/teams/{team}/repo/tree"))
    names = [e["name"] for e in top["entries"]]
    assert names[0] == "docs" and "index.html" in names and "feature.txt" not in names
    assert top["ref"] == "main" and top["commit"] == git.head(project["main"], "main")
    sub = ok(client.get(f"/api/teams/{team}/repo/tree", query_string={"path": "docs"}))
    assert [e["path"] for e in sub["entries"]] == ["docs/guide.md"]
    task = project["task"]
    for ref in (task["id"], task["branch"]):
        on_branch = ok(client.get(f"/api/teams/{team}/repo/tree", query_string={"ref": ref}))
        assert "feature.txt" in [e["name"] for e in on_branch["entries"]]


def test_a_file_is_text_up_to_the_limit_and_a_download_beyond(client, project):
    team = project["team"]
    page = ok(client.get(f"/api/teams/{team}/repo/file", query_string={"path": "index.html"}))
    assert page["text"].startswith("<!doctype html>") and not page["binary"]
    logo = ok(client.get(f"/api/teams/{team}/repo/file", query_string={"path": "logo.png"}))
    assert logo["binary"] and logo["text"] is None
    raw = client.get(logo["download"])
    assert raw.status_code == 200 and raw.data.startswith(b"\x89PNG") and raw.mimetype == "image/png"
    assert raw.headers["Content-Disposition"].startswith("attachment;")
    assert raw.headers["X-Content-Type-Options"] == "nosniff"
    big = ok(client.get(f"/api/teams/{team}/repo/file", query_string={"path": "big.txt"}))
    assert big["too_large"] and big["text"] is None and big["size"] == 1_000_001
    followed = ok(client.get(f"/api/teams/{team}/repo/file", query_string={"path": "inside"}))
    assert followed["text"] == "# Guide\n", "a symlink inside the repository is followed"


@pytest.mark.parametrize("path, status, says", [
    ("../../etc/passwd", 422, "'..' is refused"),
    ("docs/../../x", 422, "'..' is refused"),
    ("/etc/passwd", 422, "absolute paths are refused"),
    ("absolute-link", 403, "leads out of the repository"),
    ("escape", 403, "leads out of the repository"),
    ("docs-escape", 403, "leads out of the repository"),
    (".git/config", 403, "git's own files"),
    ("no/such/file", 404, "not found"),
])
@pytest.mark.parametrize("endpoint", ["file", "raw", "tree"])
def test_paths_that_leave_the_repository_are_refused(client, project, endpoint, path, status, says):
    response = client.get(f"/api/teams/{project['team']}/repo/{endpoint}", query_string={"path": path})
    assert says in refused(response, status)


@pytest.mark.parametrize("path", ["escape", "absolute-link", "../etc/passwd"])
def test_the_preview_refuses_them_too(client, project, path):
    response = client.get(f"/preview/{project['team']}/main/{path}")
    assert 400 <= response.status_code < 500 and b"root:" not in response.data


@pytest.mark.parametrize("ref, status", [("nope", 422), ("task/none-00000000", 404), ("deadbeef", 404),
                                         ("--output=/tmp/x", 422), ("main~1", 422)])
def test_unknown_or_odd_refs_are_refused(client, project, ref, status):
    refused(client.get(f"/api/teams/{project['team']}/repo/tree", query_string={"ref": ref}), status)


def test_the_archive_streams_the_whole_project(client, project):
    response = client.get(f"/api/teams/{project['team']}/repo/archive")
    assert response.status_code == 200 and response.mimetype == "application/gzip"
    assert response.is_streamed
    with tarfile.open(fileobj=io.BytesIO(response.data), mode="r:gz") as archive:
        names = archive.getnames()
        assert "project/index.html" in names and "project/docs/guide.md" in names
        assert archive.extractfile("project/docs/guide.md").read() == b"# Guide\n"
    on_branch = client.get(f"/api/teams/{project['team']}/repo/archive", query_string={"ref": project["task"]["id"]})
    with tarfile.open(fileobj=io.BytesIO(on_branch.data), mode="r:gz") as archive:
        assert "project/feature.txt" in archive.getnames()


def test_the_log_and_a_tasks_diff(client, project):
    team, task = project["team"], project["task"]
    log = ok(client.get(f"/api/teams/{team}/repo/log"))
    assert [c["subject"] for c in log["commits"]] == ["the lead's files", repos.FIRST_COMMIT]
    diff = ok(client.get(f"/api/tasks/{task['id']}/diff"))
    assert diff["files"] == [{"path": "feature.txt", "status": "added", "added": 2, "deleted": 0, "binary": False}]
    assert "+one\n+two" in diff["diff"] and diff["branch"] == task["branch"] and diff["added"] == 2
    assert len(diff["commits"]) == 1
    stat = ok(client.get(f"/api/tasks/{task['id']}/diff", query_string={"stat": "true"}))
    assert "diff" not in stat and stat["files"] == diff["files"]


def test_the_repository_summary_reports_disk_use(client, project):
    found = ok(client.get(f"/api/teams/{project['team']}/repo"))
    assert found["main"] == git.head(project["main"], "main")
    assert found["disk"]["project_bytes"] > 1_000_000 and found["branches"][0]["task_id"] == project["task"]["id"]


def test_the_preview_serves_files_with_their_types_in_a_sandbox(client, project):
    team = project["team"]
    page = client.get(f"/preview/{team}/main/")
    assert page.status_code == 200 and page.mimetype == "text/html" and b"<title>App</title>" in page.data
    policy = page.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox allow-scripts") and "allow-same-origin" not in policy
    script = client.get(f"/preview/{team}/main/app.js")
    assert script.mimetype in ("text/javascript", "application/javascript")
    assert script.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"/preview/{team}/main/docs").status_code == 308
    assert client.get(f"/preview/{team}/{project['task']['id']}/feature.txt").data == b"one\ntwo\n"


def test_the_api_refuses_an_opaque_origin_even_for_reads(client, project):
    assert "opaque origin" in refused(client.get("/api/teams", headers={"Origin": "null"}), 403)
    assert client.get("/api/teams").status_code == 200


TOKEN = "s3cret-token-for-tests-0123456789abcdef"


def test_with_a_token_the_preview_opens_under_its_own_key_and_nothing_else_does(project):
    from shared.config import Settings
    from web.app import create_app
    guarded = create_app(Settings(GAMMA_API_TOKEN=TOKEN)).test_client()
    team, task = project["team"], project["task"]
    assert guarded.get(f"/preview/{team}/main/").status_code == 401, "no token, no key: refused"
    summary = ok(guarded.get(f"/api/teams/{team}/repo", headers={"Authorization": f"Bearer {TOKEN}"}))
    url = summary["preview_url"]
    assert url.startswith("/preview/k/") and TOKEN not in url
    # the preview's own requests carry no cookie (opaque origin): its key is enough, for the page and its assets
    assert b"<title>App</title>" in guarded.get(url).data
    assert guarded.get(url + "app.js").status_code == 200
    key = url.split("/")[3]
    assert guarded.get(f"/preview/k/{key}/{team}/{task['id']}/feature.txt").status_code == 401, "one ref per key"
    assert guarded.get(f"/preview/k/{'0' * 32}/{team}/main/").status_code == 401
    assert guarded.get(f"/api/teams?x=/preview/k/{key}/{team}/main/").status_code == 401, "the API still needs it"
    diff = ok(guarded.get(f"/api/tasks/{task['id']}/diff", headers={"Authorization": f"Bearer {TOKEN}"}))
    assert guarded.get(diff["preview_url"] + "feature.txt").data == b"one\ntwo\n"
