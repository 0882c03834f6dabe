"""The team's repository over git's smart HTTP (web/api/git_http.py, issue 13 point 1), against a real gunicorn
and the real git client: a running run's token reaches its own team's repository and no other; a push writes
only the run's incoming refs, from which the web moves the one branch the run may write (its task's, or the main
line for the lead) — fast-forward for a task branch, merged for the main line — and refuses the rest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from orchestrator.domain import USER
from orchestrator.records import merge_checks, repos
from orchestrator.workflows import conversation, delegation, work_product
from orchestrator.workflows.delegation import TaskSpec
from shared import db, git
from tests.support.crew import make_crew, start
from tests.support.processes import Web, start_web

pytestmark = pytest.mark.slow

TOKEN_HEADER = "Authorization"


@pytest.fixture(scope="module")
def web(database_url: str) -> Iterator[Web]:
    with start_web(database_url) as server:
        yield server


def url(web: Web, team_id: str) -> str:
    return f"{web.url}/agent/git/{team_id}/project"


def clone(web: Web, team_id: str, token: str, where: Path) -> Path:
    git.init_empty(where)
    git.fetch(where, url(web, team_id), token, "+refs/heads/*:refs/remotes/web/*")
    main = git.head(where, "refs/remotes/web/main")
    assert main is not None
    git.reset_hard(where, main)
    return where


def member_task(crew, title: str = "Write the API"):
    with db.transaction() as conn:
        (task,) = delegation.create(conn, crew.team_id, [TaskSpec(title, assignee="Alice")], USER)
    return task


def push(where: Path, web: Web, team_id: str, token: str, refspec: str) -> git.GitError | None:
    try:
        git.push(where, url(web, team_id), token, refspec)
    except git.GitError as error:
        return error
    return None


def test_a_token_reaches_its_own_teams_repository_and_no_other(web: Web, database_url: str, tmp_path: Path):
    ours, theirs = make_crew("Ours"), make_crew("Theirs")
    member_task(ours)
    _run, token = start(ours.alice["id"])
    here = clone(web, ours.team_id, token, tmp_path / "ours")
    assert git.head(here, "main") == git.head(repos.project_dir(ours.team_id), "main")

    refs = f"{url(web, theirs.team_id)}/info/refs?service=git-upload-pack"
    other = requests.get(refs, headers={TOKEN_HEADER: f"Bearer {token}"}, timeout=10)
    assert other.status_code == 404, other.text
    assert "its own team's only" in other.json()["message"]
    for headers in ({}, {TOKEN_HEADER: "Bearer not-a-token"}):
        refused = requests.get(f"{url(web, ours.team_id)}/info/refs?service=git-upload-pack", headers=headers,
                               timeout=10)
        assert refused.status_code == 401, refused.text
    dumb = requests.get(f"{url(web, ours.team_id)}/info/refs", headers={TOKEN_HEADER: f"Bearer {token}"}, timeout=10)
    assert dumb.status_code == 400 and "smart HTTP" in dumb.json()["message"]
    with pytest.raises(git.GitError):
        clone(web, theirs.team_id, token, tmp_path / "theirs")


def test_a_push_moves_only_the_runs_own_branch(web: Web, database_url: str, tmp_path: Path):
    crew = make_crew("Pushes")
    task = member_task(crew)
    run, token = start(crew.alice["id"])
    home = repos.project_dir(crew.team_id)
    main_before = git.head(home, "main")
    here = clone(web, crew.team_id, token, tmp_path / "clone")
    branch = task["branch"]
    git.git(here, "checkout", "-q", "-b", branch)
    (here / "api.py").write_text("def get():\n    return 1\n")
    sha = git.commit_all(here, "The API", author=("Alice", "alice@agents.gamma.localhost"))
    assert sha is not None

    # hidden and refused: the main line, another branch, another run's incoming ref
    for refspec in (f"{sha}:refs/heads/main", f"{sha}:refs/heads/elsewhere",
                    f"{sha}:{git.incoming_ref('run_01J00000000000000000000000', branch)}"):
        assert push(here, web, crew.team_id, token, refspec) is not None, refspec
    assert git.head(home, "main") == main_before
    assert git.head(home, "refs/heads/elsewhere") is None
    # the run's incoming ref for another branch than its task's: refused by the web (403), nothing moves
    refused = push(here, web, crew.team_id, token, f"{sha}:{git.incoming_ref(run['id'], 'main')}")
    assert refused is not None and "403" in str(refused)
    assert git.head(home, "main") == main_before

    # its own task's branch: moved, and the task measured from it; nothing is left in the incoming refs
    assert push(here, web, crew.team_id, token, f"{sha}:{git.incoming_ref(run['id'], branch)}") is None
    assert git.head(home, f"refs/heads/{branch}") == sha
    worktree = repos.worktree_dir(crew.team_id, task["id"])
    assert (worktree / "api.py").read_text().startswith("def get()"), "its worktree here follows the branch"
    assert git.refs(home, "refs/gamma/") == {}
    with db.transaction() as conn:
        measured = conn.execute("SELECT changes FROM tasks WHERE id = %s", (task["id"],)).fetchone()["changes"]
    assert [f["path"] for f in measured["files"]] == ["api.py"]

    # a push that does not build on the branch's head: refused (409), the branch stays
    git.git(here, "reset", "-q", "--hard", main_before)
    (here / "other.py").write_text("x = 1\n")
    stray = git.commit_all(here, "Unrelated")
    refused = push(here, web, crew.team_id, token, f"{stray}:{git.incoming_ref(run['id'], branch)}")
    assert refused is not None and "409" in str(refused)
    assert git.head(home, f"refs/heads/{branch}") == sha


def test_the_leads_push_of_the_main_line_is_merged_with_what_reached_it_meanwhile(web: Web, database_url: str,
                                                                                   tmp_path: Path):
    crew = make_crew("Lead pushes")
    with db.transaction() as conn:
        conversation.post_user_message(conn, crew.team_id, "Plan the work")
    run, token = start(crew.lead["id"])
    home = repos.project_dir(crew.team_id)
    here = clone(web, crew.team_id, token, tmp_path / "lead")
    (here / "PLAN.md").write_text("# Plan\n")
    mine = git.commit_all(here, "The plan")
    # meanwhile the main line moves on the web's host (a merge, say)
    (home / "README.md").write_text("# Project\n")
    theirs = git.commit_all(home, "Readme")
    assert push(here, web, crew.team_id, token, f"{mine}:{git.incoming_ref(run['id'], 'main')}") is None
    main = git.head(home, "main")
    assert git.is_ancestor(home, mine, main) and git.is_ancestor(home, theirs, main)
    assert sorted(git.text(home, "ls-tree", "--name-only", "main").split()) == ["PLAN.md", "README.md"]
    assert (home / "PLAN.md").exists(), "the main line's checkout follows"


def test_a_merge_checks_token_fetches_its_merge_reports_once_and_pushes_nothing(web: Web, database_url: str,
                                                                                 tmp_path: Path):
    crew = make_crew("Checks")
    task = member_task(crew)
    home = repos.project_dir(crew.team_id)
    main = git.head(home, "main")
    assert main is not None
    with db.transaction() as conn:
        check = merge_checks.insert(conn, team_id=crew.team_id, task_id=task["id"], command="true", base_commit=main,
                                    merge_commit=main, approved_by="Lead")
        claimed, token = merge_checks.claim(conn, check["id"], "a-worker-elsewhere")
    assert claimed is not None and token is not None
    git.update_ref(home, work_product.check_ref(check["id"]), main)

    here = tmp_path / "checker"
    git.init_empty(here)
    git.fetch(here, url(web, crew.team_id), token, f"+{work_product.check_ref(check['id'])}:refs/check")
    assert git.head(here, "refs/check") == main
    assert push(here, web, crew.team_id, token, f"{main}:refs/heads/anything") is not None
    refs = requests.get(f"{url(web, crew.team_id)}/info/refs?service=git-receive-pack",
                        headers={TOKEN_HEADER: f"Bearer {token}"}, timeout=10)
    assert refs.status_code == 403 and "fetches only" in refs.json()["message"]

    result = f"{web.url}/agent/checks/{check['id']}/result"
    auth = {TOKEN_HEADER: f"Bearer {token}"}
    assert requests.post(result, json={"passed": True}, timeout=10).status_code == 401
    bad = requests.post(result, json={"passed": "perhaps"}, headers=auth, timeout=10)
    assert bad.status_code == 422 and bad.json()["message"].startswith("passed:"), bad.text
    other = requests.post(f"{web.url}/agent/checks/chk_01J00000000000000000000000/result", json={"passed": True},
                          headers=auth, timeout=10)
    assert other.status_code == 404, other.text
    done = requests.post(result, json={"passed": False, "exit_code": 1, "output": "1 test failed"}, headers=auth,
                         timeout=10)
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["exit_code"]) == ("failed", 1)
    assert git.head(home, "main") == main and git.refs(home, "refs/gamma/") == {}
    again = requests.post(result, json={"passed": True}, headers=auth, timeout=10)
    assert again.status_code == 401, "the token ended with its check"
