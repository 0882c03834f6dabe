"""The work product in git, against real PostgreSQL and real git (the worker stand-in of tests/support/crew.py
prepares and commits exactly as the executor does): a repository per team, a worktree and a branch per task,
commits whenever a run ends, changes measured by git, merge on accept, conflicts sent back, merge checks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.domain import USER, Actor
from orchestrator.records import repos, workspaces
from orchestrator.workflows import delegation, team_setup, work_product
from orchestrator.workflows.delegation import TaskSpec
from shared import db, git
from tests.support.crew import actor_of, event_kinds, finish, queued, row, start
from workers import merge_check

pytest_plugins = ("tests.support.orchestrator",)


def create(crew, *specs: TaskSpec):
    with db.transaction() as conn:
        return delegation.create(conn, crew.team_id, list(specs), USER)


def worktree(crew, task) -> Path:
    return repos.worktree_dir(crew.team_id, task["id"])


def main_line(crew) -> Path:
    return repos.project_dir(crew.team_id)


def show(repo: Path, spec: str) -> str:
    return git.text(repo, "show", spec)


def files_at(repo: Path, ref: str) -> list[str]:
    return git.text(repo, "ls-tree", "-r", "--name-only", ref).split()


def report(run, task, status="done", summary="Did it", files=None):
    with db.transaction() as conn:
        return delegation.update_status(conn, actor_of(run), task["id"], status, summary=summary, files=files)


def approve(crew, task):
    with db.transaction() as conn:
        return delegation.update_status(conn, _lead(crew), task["id"], "done")


def _lead(crew) -> Actor:
    return Actor(team_id=crew.team_id, agent_id=crew.lead["id"], name="Lead", is_lead=True)


# ------------------------------------------------------------------------------------------- the repository


def test_a_new_team_has_a_repository_on_main_with_a_first_commit(crew):
    repo = main_line(crew)
    assert git.text(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    (first,) = git.log(repo, "main")
    assert first["subject"] == repos.FIRST_COMMIT


def test_an_existing_teams_files_become_its_first_commit(database_url):
    with db.transaction() as conn:
        team = team_setup.create_team(conn, name="Old")
    repo = main_line(type("C", (), {"team_id": team["id"]})())
    subprocess.run(["rm", "-rf", str(repo / ".git")], check=True)  # as a team made before git was kept
    (repo / "index.html").write_text("<h1>old</h1>\n")
    assert repos.create(team["id"]) == repo
    (first,) = git.log(repo, "main")
    assert first["subject"] == repos.MIGRATED_COMMIT and files_at(repo, "main") == ["index.html"]


# ------------------------------------------------------------------------------------ worktrees and commits


def test_each_task_works_in_its_own_worktree_on_a_branch_named_after_it(crew):
    a, b = create(crew, TaskSpec("Write the API", assignee="Alice"), TaskSpec("Write the UI", assignee="Bob"))
    run_a, _ = start(crew.alice["id"])
    run_b, _ = start(crew.bob["id"])
    assert row("tasks", a["id"])["branch"].startswith("task/write-the-api-")
    for task in (a, b):
        path = worktree(crew, task)
        branch = git.text(path, "rev-parse", "--abbrev-ref", "HEAD").strip()
        assert branch == row("tasks", task["id"])["branch"]
        assert row("tasks", task["id"])["base_commit"] == git.head(main_line(crew), "main")
    assert worktree(crew, a) != worktree(crew, b) and not worktree(crew, a).is_relative_to(worktree(crew, b))
    place = work_product.place_of(crew.team_id, None, is_lead=True)
    assert place.project == main_line(crew) and place.branch == "main", "the lead works on the main line"
    member_place = work_product.place_of(crew.team_id, None, is_lead=False)
    assert member_place.writable == () and main_line(crew) in member_place.read_only
    named = f"../../worktrees/{a['id']}"
    assert f"Worktree: `{named}` from your directory, also in $GAMMA_PROJECT_DIR" in run_a["prompt"]
    agent_dir = workspaces.agent_dir(crew.team_id, crew.alice["id"])
    assert (agent_dir / named).resolve() == worktree(crew, a).resolve(), "it leads from the agent's cwd there"


def test_a_run_end_commits_its_changes_with_the_agent_as_author_and_git_measures_them(crew):
    (task,) = create(crew, TaskSpec("Write the API", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    (worktree(crew, task) / "api.py").write_text("def get():\n    return 1\n")
    (worktree(crew, task) / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0binary")
    report(run, task, "review", files=["project/what-the-agent-claims.py"])
    finish(run)
    stored = row("tasks", task["id"])
    files = {f["path"]: f for f in stored["changes"]["files"]}
    assert files["api.py"] == {"path": "api.py", "status": "added", "added": 2, "deleted": 0, "binary": False}
    assert files["logo.png"]["binary"] and files["logo.png"]["added"] is None
    assert "project/what-the-agent-claims.py" not in files, "what the agent reports is not trusted"
    assert stored["result"]["reported_files"] == ["project/what-the-agent-claims.py"]
    (commit,) = stored["changes"]["commits"]
    assert commit["author"] == "Alice"
    body = git.text(main_line(crew), "log", "-1", "--format=%B", stored["branch"])
    assert f"Task: {task['id']}" in body and f"Run: {run['id']}" in body
    # a change, then a deletion, on the same branch
    with db.transaction() as conn:
        delegation.update_status(conn, _lead(crew), task["id"], "in_progress", message="drop the logo")
    rework, _ = start(crew.alice["id"])
    (worktree(crew, task) / "api.py").write_text("def get():\n    return 2\n")
    (worktree(crew, task) / "logo.png").unlink()
    finish(rework)
    files = {f["path"]: f for f in row("tasks", task["id"])["changes"]["files"]}
    assert set(files) == {"api.py"} and files["api.py"]["added"] == 2, "measured against the main line"
    assert len(row("tasks", task["id"])["changes"]["commits"]) == 2


def test_a_run_that_leaves_many_loose_objects_has_them_packed(crew, monkeypatch):
    """What agents commit is packed past a threshold (git's own gc is off), so the web serves it quickly to other
    hosts; nothing is lost by it."""
    monkeypatch.setattr(git, "LOOSE_OBJECTS_TO_PACK", 20)
    (task,) = create(crew, TaskSpec("Write many files", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    for n in range(30):
        (worktree(crew, task) / f"f{n}.txt").write_text(f"file {n}\n")
    finish(run)
    repo = main_line(crew)
    assert git.loose_objects(repo) < 20
    assert git.text(repo, "show", f"{row('tasks', task['id'])['branch']}:f29.txt") == "file 29\n"
    assert not git.pack_loose(repo), "below the threshold nothing is done"


def test_a_cancelled_run_keeps_what_it_wrote_on_its_branch(crew):
    (task,) = create(crew, TaskSpec("Long job", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    (worktree(crew, task) / "half.txt").write_text("half of the work\n")
    with db.transaction() as conn:
        delegation.cancel(conn, USER, task["id"], "changed my mind")
    finish(run, "cancelled")
    branch = row("tasks", task["id"])["branch"]
    assert show(main_line(crew), f"{branch}:half.txt") == "half of the work\n"
    assert not worktree(crew, task).exists(), "the worktree goes once its changes are committed"
    assert git.branch_exists(main_line(crew), branch), "the branch stays"


def test_an_attempt_that_died_leaves_its_files_to_the_next_attempt_on_the_same_branch(crew):
    from orchestrator.records import runs
    (task,) = create(crew, TaskSpec("Resumable", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    (worktree(crew, task) / "part1.txt").write_text("written before the worker died\n")
    with db.transaction() as conn:  # the reaper takes the run back: the worker is gone, nothing was committed
        conn.execute("UPDATE runs SET lease_until = now() - interval '1 hour' WHERE id = %s", (run["id"],))
        # (runs other tests of the session left running may be taken back too: they are not this test's)
        assert run["id"] in [r["id"] for r in runs.reap_expired(conn, margin=0)]
    again, _ = start(crew.alice["id"])
    assert again["id"] == run["id"] and again["attempt"] == 2
    branch = row("tasks", task["id"])["branch"]
    assert show(main_line(crew), f"{branch}:part1.txt") == "written before the worker died\n"
    assert "interrupted attempt" in git.text(main_line(crew), "log", "-1", "--format=%B", branch)


# ----------------------------------------------------------------------------------------------- merging


def test_accepting_merges_into_the_main_line_and_removes_the_worktree(crew):
    (task,) = create(crew, TaskSpec("Page", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    (worktree(crew, task) / "index.html").write_text("<h1>hi</h1>\n")
    done = report(run, task, "done")
    assert done["stage"] == "done" and done["merge"]["state"] == "merged"
    assert (main_line(crew) / "index.html").read_text() == "<h1>hi</h1>\n", "the main line's checkout moved"
    assert "index.html" in files_at(main_line(crew), "main")
    assert worktree(crew, task).exists(), "its run still runs: the worktree stays until the run ends"
    finish(run)
    assert not worktree(crew, task).exists()
    assert [r["step"] for r in done["reviews"]] == ["merged"]
    assert "task.merged" in event_kinds(crew.team_id, task_id=task["id"])


def two_reported(crew, alice_writes: dict[str, str], bob_writes: dict[str, str], status: str = "review"):
    """Alice's and Bob's tasks, worked on at the same time, each writing its files and reporting `status`."""
    a, b = create(crew, TaskSpec("A", assignee="Alice"), TaskSpec("B", assignee="Bob"))
    run_a, _ = start(crew.alice["id"])
    run_b, _ = start(crew.bob["id"])
    for task, run, writes in ((a, run_a, alice_writes), (b, run_b, bob_writes)):
        for name, text in writes.items():
            (worktree(crew, task) / name).write_text(text)
        report(run, task, status)
    finish(run_a)
    finish(run_b)
    return a, b


def test_two_tasks_on_different_files_both_reach_the_main_line(crew):
    a, b = two_reported(crew, {"a.txt": "a\n"}, {"b.txt": "b\n"})
    assert approve(crew, a)["stage"] == "done" and approve(crew, b)["stage"] == "done"
    assert sorted(files_at(main_line(crew), "main")) == ["a.txt", "b.txt"]


def test_a_conflict_sends_the_task_back_with_its_files_and_loses_nothing(crew):
    a, b = two_reported(crew, {"same.txt": "Alice's line\n"}, {"same.txt": "Bob's line\n"})
    main_before = git.head(main_line(crew), "main")
    assert approve(crew, a)["stage"] == "done"
    main_after_a = git.head(main_line(crew), "main")
    assert main_after_a != main_before
    back = approve(crew, b)
    assert back["stage"] == "in_progress" and back["merge"]["state"] == "conflict"
    assert back["merge"]["files"] == ["same.txt"] and "not merged" in back["note"]
    assert git.head(main_line(crew), "main") == main_after_a, "a conflict moves nothing"
    assert show(main_line(crew), f"{row('tasks', b['id'])['branch']}:same.txt") == "Bob's line\n"
    assert [r["step"] for r in back["reviews"]] == ["requested", "approved", "merge_conflict"]
    (rework,) = queued(crew.bob["id"])
    assert "[MERGE CONFLICT] files: same.txt" in rework["prompt"] and "git merge main" in rework["prompt"]
    # Bob resolves it in his worktree as the prompt says, and reports again; the lead approves
    run, _ = start(crew.bob["id"])
    path = worktree(crew, b)
    assert git.git(path, "merge", "main", ok=(0, 1)).returncode == 1
    (path / "same.txt").write_text("Alice's line\nBob's line\n")
    report(run, b, "review", summary="merged main and kept both lines")
    finish(run)
    merged = approve(crew, b)
    assert merged["stage"] == "done", merged.get("note")
    assert (main_line(crew) / "same.txt").read_text() == "Alice's line\nBob's line\n"
    files = {f["path"]: f for f in merged["changes"]["files"]}
    assert files["same.txt"]["status"] == "modified", "the diff is against the main line it merged"


def test_requesting_changes_keeps_the_branch(crew):
    (task,) = create(crew, TaskSpec("Draft", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    (worktree(crew, task) / "draft.md").write_text("v1\n")
    report(run, task, "review")
    finish(run)
    with db.transaction() as conn:
        delegation.update_status(conn, _lead(crew), task["id"], "in_progress", message="more detail")
    rework, _ = start(crew.alice["id"])
    assert (worktree(crew, task) / "draft.md").read_text() == "v1\n", "the rework continues on the same branch"
    finish(rework)


def test_a_dependent_task_starts_from_the_main_line_with_what_it_depends_on(crew):
    with db.transaction() as conn:
        api, ui = delegation.create(conn, crew.team_id, [
            TaskSpec("API", assignee="Alice", key="api"),
            TaskSpec("UI", assignee="Bob", key="ui", depends_on=["api"])], _lead(crew), plan=True)
    run, _ = start(crew.alice["id"])
    (worktree(crew, api) / "api.py").write_text("x = 1\n")
    report(run, api, "done")
    finish(run)
    ui_run, _ = start(crew.bob["id"])
    assert (worktree(crew, ui) / "api.py").read_text() == "x = 1\n"
    assert "Files (in the main line): api.py" in ui_run["prompt"]
    finish(ui_run)


def test_the_repository_reports_branches_worktrees_and_disk_use(crew):
    (task,) = create(crew, TaskSpec("Big", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    (worktree(crew, task) / "data.bin").write_bytes(b"x" * 200_000)
    with db.transaction() as conn:
        found = work_product.repository(conn, crew.team_id)
    assert found["main"] == git.head(main_line(crew), "main")
    (branch,) = found["branches"]
    assert branch["task_id"] == task["id"] and branch["worktree"] == str(worktree(crew, task))
    assert found["disk"]["worktrees_bytes"] >= 200_000
    assert found["disk"]["total_bytes"] >= found["disk"]["worktrees_bytes"] + found["disk"]["project_bytes"]
    finish(run)


# ---------------------------------------------------------------------------------------------- merge checks


class _Runtime:
    worker_id = "test-worker:checks"


def _set_check(crew, command: str | None) -> None:
    with db.transaction() as conn:
        team_setup.update_team(conn, crew.team_id, {"check_command": command})


def _queued_check(crew, task) -> dict:
    with db.transaction() as conn:
        (check,) = work_product.checks_of(conn, task["id"])
    return check


@pytest.mark.parametrize("passes", [True, False])
def test_a_merge_check_runs_on_the_merged_result_and_decides_whether_main_moves(crew, passes):
    _set_check(crew, "test -f ok.txt && echo 'all tests pass'" if passes else "echo '2 tests failed' >&2; exit 3")
    (task,) = create(crew, TaskSpec("Feature", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    (worktree(crew, task) / "ok.txt").write_text("ok\n")
    waiting = report(run, task, "done")
    finish(run)
    assert waiting["stage"] == "review" and waiting["merge"]["state"] == "checking", "main waits for the check"
    main_before = git.head(main_line(crew), "main")
    check = _queued_check(crew, task)
    assert check["state"] == "queued" and check["base_commit"] == main_before
    merge_check.run_check(check["id"], _Runtime())  # the worker's own code, on this host
    check = _queued_check(crew, task)
    stored = row("tasks", task["id"])
    assert not repos.check_dir(crew.team_id, check["id"]).exists(), "its worktree is removed"
    if passes:
        assert check["state"] == "passed" and check["exit_code"] == 0 and "all tests pass" in check["output"]
        assert stored["stage"] == "done" and git.head(main_line(crew), "main") == check["merge_commit"]
    else:
        assert check["state"] == "failed" and check["exit_code"] == 3 and "2 tests failed" in check["output"]
        assert git.head(main_line(crew), "main") == main_before, "a failing check keeps the main line"
        assert stored["stage"] == "in_progress" and stored["merge"]["state"] == "check_failed"
        (rework,) = queued(crew.alice["id"])
        assert "[CHECK FAILED]" in rework["prompt"] and "2 tests failed" in rework["prompt"]


def test_a_check_that_finds_the_main_line_moved_merges_again(crew):
    _set_check(crew, "true")
    a, b = two_reported(crew, {"a.txt": "a\n"}, {"b.txt": "b\n"}, "done")
    merge_check.run_check(_queued_check(crew, a)["id"], _Runtime())
    first_b = _queued_check(crew, b)
    merge_check.run_check(first_b["id"], _Runtime())  # made on the main line before A merged: checked again
    with db.transaction() as conn:
        checks = work_product.checks_of(conn, b["id"])
    assert [c["state"] for c in checks] == ["passed", "queued"]
    merge_check.run_check(checks[1]["id"], _Runtime())
    assert row("tasks", b["id"])["stage"] == "done"
    assert sorted(files_at(main_line(crew), "main")) == ["a.txt", "b.txt"]


def test_a_check_whose_worker_died_is_queued_again_and_then_runs(crew):
    _set_check(crew, "true")
    (task,) = create(crew, TaskSpec("Feature", assignee="Alice"))
    run, _ = start(crew.alice["id"])
    (worktree(crew, task) / "f.txt").write_text("f\n")
    report(run, task, "done")
    finish(run)
    check = _queued_check(crew, task)
    with db.transaction() as conn:  # a worker took it and died (no live worker row names it)
        conn.execute("UPDATE merge_checks SET state = 'running', worker = 'gone:1:x', started_at = now()"
                     " WHERE id = %s", (check["id"],))
        repos.check_dir(crew.team_id, check["id"]).mkdir(parents=True)  # and left its directory
    with db.transaction() as conn:
        assert work_product.revive_checks(conn) == [check["id"]]
        messages = conn.execute("SELECT count(*) AS n FROM dramatiq.queue WHERE message->'args'->>0 = %s",
                                (check["id"],)).fetchone()["n"]
    assert _queued_check(crew, task)["state"] == "queued" and messages == 2, "queued again, with a new message"
    with db.transaction() as conn:
        assert work_product.revive_checks(conn) == [], "a queued check with its message waiting is left alone"
    merge_check.run_check(check["id"], _Runtime())
    assert _queued_check(crew, task)["state"] == "passed" and row("tasks", task["id"])["stage"] == "done"
