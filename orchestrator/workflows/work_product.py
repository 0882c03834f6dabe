"""The team's work product in git: where each run works, what it changed, and how a task's branch reaches the main
line.

- Each team's `project/` is a repository on `main`, the main line; the lead's runs work there. A task's runs work
  in the task's own worktree (`worktrees/<task>/`) on its branch (`tasks.branch`, named after the task), made
  from the main line when its first run starts. Members' runs without a task see the main line read-only.
- Whenever a run ends (and before a report, a merge or a worktree's removal) what it changed is committed on
  its branch, the agent as author, task and run in the message (`commit_run`); an attempt that finds changes
  left by one that died commits them first. `changes` measures a task by git (files added, modified, deleted,
  with line counts, and the commits) against the main line; what an agent reports is kept only as its claim.
- Accepting a task (done) merges its branch (`accept`): the merge is computed without a working tree
  (`git merge-tree`); a clean one moves the main line, or — when the team names a check command — first runs
  it on the merged result on a worker (a merge check) and moves the main line only if it passes. A conflict
  moves nothing: delegation.py sends the task back to its assignee with the conflicting files.
- Worktrees of final tasks are removed once nothing of theirs runs, after their changes are committed (`tidy`).

Why a task with dependencies starts from the main line after they merged, not from their branches merged
together: a task is done only once its branch is in the main line, so when its last dependency is done the main
line holds exactly the accepted work it builds on — what the user sees — and a conflict between two
dependencies was already resolved at their own merge, by their own assignees, instead of landing on the task
that builds on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from orchestrator.domain import Actor, Forbidden, Invalid, NotFound, Outbox
from orchestrator.records import agents, merge_checks, repos, tasks, teams
from shared import git, run_queue
from shared.vocabulary import TERMINAL_TASK_STAGES

MAIN = git.MAIN
FILE_TEXT_LIMIT = 1_000_000  # bytes of a file shown as text; larger ones (and binary ones) are downloads


def author_of(agent: dict[str, Any] | None) -> tuple[str, str]:
    if agent is None:
        return git.SYSTEM_AUTHOR
    return agent["name"], f"{agent['id'].lower()}@agents.gamma.localhost"


# ----------------------------------------------------------------------------------------- where a run works


@dataclass(frozen=True)
class RunPlace:
    """Where a run works on the project, and what of the repository it may write."""

    project: Path
    branch: str
    task_id: str | None
    writable: tuple[Path, ...] = ()  # inside the team's folder, besides the agent's own directory
    read_only: tuple[Path, ...] = field(default_factory=tuple)


def place_of(team_id: str, task: dict[str, Any] | None, *, is_lead: bool) -> RunPlace:
    """The run's place (computed, nothing made): a task's worktree; else the main line (read-only for members)."""
    main_line = repos.project_dir(team_id)
    others = main_line.parent / "worktrees"
    if task is not None:
        worktree = repos.worktree_dir(team_id, task["id"])
        # the task's worktree and the repository's objects and refs (its commits) — nothing else of the project
        return RunPlace(worktree, task["branch"], task["id"], writable=(worktree, main_line / ".git"),
                        read_only=(main_line, others))
    if is_lead:
        return RunPlace(main_line, MAIN, None, writable=(main_line,), read_only=(others,))
    return RunPlace(main_line, MAIN, None, read_only=(main_line, others))


def prepare(conn: psycopg.Connection, run: dict[str, Any], agent: dict[str, Any]) -> RunPlace:
    """Before a run's CLI starts: its task's worktree exists (made from the main line on the first run, the same
    branch again after that), and what an earlier attempt left uncommitted is committed first."""
    task = tasks.get(conn, run["task_id"], lock=True) if run.get("task_id") else None
    place = place_of(run["team_id"], task, is_lead=bool(agent["is_lead"]))
    if task is None:  # the main line, which nothing here changes: no wait behind another run's commit for it
        if not git.is_repository(place.project):
            repos.create(run["team_id"])  # made on first use (a team from before Gamma kept it in git)
        return place
    with repos.locked(run["team_id"]) as repo:
        if not place.project.exists():
            base = task["base_commit"] or git.head(repo, MAIN)
            assert base is not None
            git.add_worktree(repo, place.project, task["branch"], base)
            if task["base_commit"] is None:
                tasks.set_work(conn, task["id"], base_commit=base)
        elif git.is_dirty(place.project):
            git.commit_all(place.project, _message(task, run, "left uncommitted by an interrupted attempt"),
                           author=author_of(agent))
    return place


# ------------------------------------------------------------------------------------------------- commits


def commit_run(conn: psycopg.Connection, run: dict[str, Any], box: Outbox, *, how: str) -> str | None:
    """Commit what the run changed where it worked (its task's branch, or the main line for the lead); the
    task's changes are measured again. `how` says how the run ended. Returns the new commit, if any."""
    agent = agents.get(conn, run["agent_id"])
    task = tasks.get(conn, run["task_id"], lock=True) if run.get("task_id") else None
    place = place_of(run["team_id"], task, is_lead=bool(agent["is_lead"]))
    if place.branch == MAIN and not agent["is_lead"]:
        return None  # read-only for members
    if not place.project.exists():
        return None  # never prepared (cancelled before it started), or already removed
    with repos.locked(run["team_id"]) as repo:
        sha = git.commit_all(place.project, _message(task, run, how), author=author_of(agent))
        git.pack_loose(repo)  # what agents write stays quick to serve to other hosts
    if sha is not None:
        box.add("task.committed", run["team_id"],
                {"commit": sha, "branch": place.branch, "how": how},
                agent_id=run["agent_id"], task_id=run.get("task_id"), run_id=run["id"])
    if task is not None:
        measure(conn, task)
    return sha


def commit_for_report(conn: psycopg.Connection, task: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """A report (done, review) comes while the run may still be writing: commit what is there now, measure."""
    if task["base_commit"] is None:
        return task
    worktree = repos.worktree_dir(task["team_id"], task["id"])
    if worktree.exists():
        assignee = agents.get(conn, task["assigned_to"]) if task["assigned_to"] else None
        with repos.locked(task["team_id"]):
            git.commit_all(worktree, _message(task, {"id": actor.run_id}, "reported"), author=author_of(assignee))
    return measure(conn, task)


def _message(task: dict[str, Any] | None, run: dict[str, Any], how: str) -> str:
    title = task["title"] if task else "Work on the main line"
    lines = [title[:72], ""]
    if task:
        lines.append(f"Task: {task['id']}")
    if run.get("id"):
        attempt = f" (attempt {run['attempt']})" if run.get("attempt") else ""
        lines.append(f"Run: {run['id']}{attempt}")
    lines.append(f"Committed by Gamma: {how}.")
    return "\n".join(lines)


def measure(conn: psycopg.Connection, task: dict[str, Any]) -> dict[str, Any]:
    """The task's changes as git sees them: its branch against the main line (kept as they were once merged)."""
    if task["base_commit"] is None or (task.get("merge") or {}).get("state") == "merged":
        return task
    repo = repos.project_dir(task["team_id"])
    found = changes(repo, task["branch"])
    return tasks.set_work(conn, task["id"], changes=found)


def changes(repo: Path, branch: str) -> dict[str, Any]:
    head = git.head(repo, f"refs/heads/{branch}")
    if head is None:
        return {"branch": branch, "head": None, "files": [], "commits": [], "added": 0, "deleted": 0}
    files = [f.as_dict() for f in git.changed_files(repo, MAIN, head)]
    commits = [{k: c[k] for k in ("sha", "author", "date", "subject")}
               for c in git.commits_between(repo, MAIN, head)]
    return {"branch": branch, "head": head, "files": files, "commits": commits, **_totals(files)}


def _totals(files: list[dict[str, Any]]) -> dict[str, int]:
    """Lines added and deleted over all files (a binary file counts none)."""
    return {"added": sum(int(f["added"] or 0) for f in files), "deleted": sum(int(f["deleted"] or 0) for f in files)}


# ----------------------------------------------------------------------------------------------- accepting


@dataclass(frozen=True)
class Acceptance:
    """What accepting a task did: `merged` (the main line has it; `commit` is the merge, or None when the task
    changed nothing), `checking` (a merge check runs first), or `conflict` (nothing moved; `conflicts` lists the
    files)."""

    state: str
    merge: dict[str, Any]
    conflicts: tuple[str, ...] = ()


def accept(conn: psycopg.Connection, task: dict[str, Any], actor: Actor) -> Acceptance:
    """Merge the task's branch into the main line (or start its merge check). Call with the task row locked."""
    task = commit_for_report(conn, task, actor)
    team = teams.get(conn, task["team_id"])
    with repos.locked(task["team_id"]) as repo:
        branch_head = git.head(repo, f"refs/heads/{task['branch']}") if task["base_commit"] else None
        main = commit_main_checkout(repo)
        if branch_head is None or git.is_ancestor(repo, branch_head, main):
            merge = {"state": "merged", "commit": None, "main": main, "by": actor.name,
                     "note": "nothing to merge: the task changed no file" if branch_head is None
                     else "its commits were already in the main line"}
            tasks.set_work(conn, task["id"], merge=merge)
            return Acceptance("merged", merge)
        result = git.merge_tree(repo, main, branch_head)
        if not result.clean:
            merge = {"state": "conflict", "files": list(result.conflicts), "main": main, "head": branch_head,
                     "by": actor.name}
            tasks.set_work(conn, task["id"], merge=merge)
            return Acceptance("conflict", merge, result.conflicts)
        merged = git.commit_tree(repo, result.tree, [main, branch_head],
                                 f"Merge {task['branch']}: {task['title'][:60]}\n\nTask: {task['id']}\n"
                                 f"Accepted by {actor.name}.", author=author_of(None))
        if team.get("check_command"):
            check = merge_checks.insert(conn, team_id=task["team_id"], task_id=task["id"],
                                        command=team["check_command"], base_commit=main, merge_commit=merged,
                                        approved_by=actor.name)
            git.update_ref(repo, check_ref(check["id"]), merged)
            run_queue.send_check(conn, check["id"])
            merge = {"state": "checking", "check_id": check["id"], "commit": merged, "main": main,
                     "command": team["check_command"], "by": actor.name}
            tasks.set_work(conn, task["id"], merge=merge)
            return Acceptance("checking", merge)
        advance_main(repo, merged)
    merge = {"state": "merged", "commit": merged, "main": main, "by": actor.name}
    tasks.set_work(conn, task["id"], merge=merge)
    return Acceptance("merged", merge)


def commit_main_checkout(repo: Path) -> str:
    """The main line's head, after committing what was left uncommitted in its checkout (the lead's edits)."""
    git.commit_all(repo, "Changes left uncommitted in the main line's checkout\n\nCommitted by Gamma before a merge.")
    head = git.head(repo, MAIN)
    assert head is not None
    return head


def advance_main(repo: Path, commit: str) -> None:
    """Move the main line (and its checkout's files) to `commit`, a descendant of it."""
    commit_main_checkout(repo)
    git.fast_forward(repo, commit)


def finish_check(conn: psycopg.Connection, check_id: str, *, passed: bool, exit_code: int | None,
                 output: str) -> tuple[dict[str, Any], Acceptance | None]:
    """A merge check ended. Passed and the main line still where the merge was made: it moves to the merged
    result (`merged`). Passed but the main line moved meanwhile: the merge is made again on the new main line
    (and checked again). Failed: nothing moves (None; delegation sends the task back)."""
    check = merge_checks.finish(conn, check_id, "passed" if passed else "failed", exit_code, output)
    if check is None:
        return merge_checks.get(conn, check_id), None
    with repos.locked(check["team_id"]) as repo:
        git.delete_refs(repo, check_ref(check_id))  # fetched by a worker of another host, if one ran it
    task = tasks.get(conn, check["task_id"], lock=True)
    if not passed:
        tasks.set_work(conn, task["id"], merge={**(task["merge"] or {}), "state": "check_failed",
                                                "check_id": check_id, "exit_code": exit_code})
        return check, None
    with repos.locked(task["team_id"]) as repo:
        main = git.head(repo, MAIN)
        if main == check["base_commit"] and not git.is_dirty(repo):
            advance_main(repo, check["merge_commit"])
            merge = {**(task["merge"] or {}), "state": "merged", "commit": check["merge_commit"],
                     "check_id": check_id}
            tasks.set_work(conn, task["id"], merge=merge)
            return check, Acceptance("merged", merge)
    again = accept(conn, task, Actor(team_id=task["team_id"], name=check["approved_by"]))
    return check, again


def revive_checks(conn: psycopg.Connection) -> list[str]:
    """Merge checks lost with their worker (or their message) are queued again; a worker's maintenance calls it."""
    revived = merge_checks.requeue_orphaned(conn)
    for check_id in revived:
        run_queue.send_check(conn, check_id)
    return revived


def cancel_checks(conn: psycopg.Connection, task_id: str) -> None:
    for check in merge_checks.of_task(conn, task_id):
        if check["state"] in ("queued", "running"):
            merge_checks.finish(conn, check["id"], "cancelled", None, check["output"] or "")


# ------------------------------------------------------------------------------------------------- tidying


def tidy(conn: psycopg.Connection, team_id: str) -> list[str]:
    """Remove the worktrees of final tasks nothing of which runs any more, committing what they hold first.
    Their branches stay. Returns the tasks whose worktree was removed."""
    removed = []
    for task in tasks.with_worktrees(conn, team_id):
        worktree = repos.worktree_dir(team_id, task["id"])
        if task["stage"] not in TERMINAL_TASK_STAGES or task["has_active_run"] or not worktree.exists():
            continue
        if (task.get("merge") or {}).get("state") == "checking":
            continue
        assignee = agents.get(conn, task["assigned_to"]) if task["assigned_to"] else None
        with repos.locked(team_id) as repo:
            git.commit_all(worktree, _message(task, {}, f"what its worktree held when the task was {task['stage']}"),
                           author=author_of(assignee))
            git.remove_worktree(repo, worktree)
        removed.append(task["id"])
    return removed


# ---------------------------------------------------------------------------------------------------- reads


def resolve_ref(conn: psycopg.Connection, team_id: str, ref: str | None) -> tuple[str, str]:
    """A ref the API accepts — `main`, a task's branch or id, a commit's hex — as (name, commit)."""
    teams.get(conn, team_id)
    name = (ref or MAIN).strip()
    repo = repository_path(team_id)
    if name == MAIN:
        branch = MAIN
    elif name.startswith("task_"):
        task = tasks.get(conn, name)
        if task["team_id"] != team_id:
            raise NotFound(f"task {name} not found in this team")
        branch = task["branch"]
    elif name.startswith("task/"):
        if tasks.by_branch(conn, team_id, name) is None:
            raise NotFound(f"branch {name!r} not found: no task of this team has it")
        branch = name
    elif git.is_commit_hex(name):
        commit = git.head(repo, name)
        if commit is None:
            raise NotFound(f"commit {name} not found in the team's repository")
        return name, commit
    else:
        raise Invalid(f"ref {name!r} is not main, a task's branch (task/…) or id, or a commit (hex)")
    commit = git.head(repo, f"refs/heads/{branch}")
    if commit is None:
        raise NotFound(f"branch {branch!r} has no commits yet: its task has not started")
    return branch, commit


def repository_path(team_id: str) -> Path:
    repo = repos.project_dir(team_id)
    if not git.is_repository(repo):
        with repos.locked(team_id) as made:
            return made
    return repo


def clean_path(path: str | None) -> str:
    """A path inside the repository as the API takes it: relative, without `..`; '' is the top."""
    raw = path or ""
    if "\0" in raw:
        raise Invalid("the path contains a NUL character")
    if raw.startswith("/") or raw.startswith("\\") or (len(raw) > 1 and raw[1] == ":"):
        raise Invalid(f"absolute paths are refused: {raw!r}; give a path relative to the repository")
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Invalid(f"'..' is refused in a path: {raw!r}")
    if any(p == ".git" for p in parts):
        raise Forbidden("git's own files are not served")
    return "/".join(parts)


def lookup(conn: psycopg.Connection, team_id: str, ref: str | None, path: str | None) -> dict[str, Any]:
    """What `path` is at `ref` (symlinks inside the repository followed; one that leads out is refused)."""
    name, commit = resolve_ref(conn, team_id, ref)
    clean = clean_path(path)
    found = git.lookup(repository_path(team_id), commit, clean)
    if found.kind == "outside":
        raise Forbidden(f"{clean!r} is a symlink that leads out of the repository; it is not followed")
    if found.kind in ("missing", "dangling", "notdir"):
        raise NotFound(f"{clean or '/'!r} not found at {name}")
    if found.kind == "loop":
        raise Invalid(f"{clean!r} is a symlink loop")
    return {"ref": name, "commit": commit, "path": clean, "type": found.kind, "sha": found.sha, "size": found.size}


def tree(conn: psycopg.Connection, team_id: str, ref: str | None, path: str | None) -> dict[str, Any]:
    found = lookup(conn, team_id, ref, path)
    if found["type"] != "tree":
        raise Invalid(f"{found['path']!r} is a file, not a directory; read it with /repo/file")
    entries = git.tree(repository_path(team_id), found["sha"])
    return {**found, "entries": [{"name": e.name, "path": f"{found['path']}/{e.name}".lstrip("/"),
                                  "type": e.type, "mode": e.mode, "size": e.size,
                                  "symlink": e.mode == "120000"} for e in entries]}


def file(conn: psycopg.Connection, team_id: str, ref: str | None, path: str | None) -> dict[str, Any]:
    """A text file's content (up to FILE_TEXT_LIMIT bytes), or, for a binary or larger one, where to download it."""
    found = lookup(conn, team_id, ref, path)
    if found["type"] != "blob":
        raise Invalid(f"{found['path'] or '/'!r} is a directory; list it with /repo/tree")
    data = git.blob(repository_path(team_id), found["sha"], limit=FILE_TEXT_LIMIT + 1)
    binary = b"\0" in data[:8000]
    too_big = found["size"] > FILE_TEXT_LIMIT
    text = None
    if not binary and not too_big:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            binary = True
    return {**found, "binary": binary, "too_large": too_big, "text": text, "limit": FILE_TEXT_LIMIT}


def blob_chunks(team_id: str, sha: str) -> Iterator[bytes]:
    return git.blob_chunks(repository_path(team_id), sha)


def archive(conn: psycopg.Connection, team_id: str, ref: str | None) -> tuple[str, Iterator[bytes]]:
    """The ref's name and the project at it as a .tar.gz, in chunks as `git archive` writes them."""
    name, commit = resolve_ref(conn, team_id, ref)
    return name, git.chunks(repository_path(team_id), "archive", "--format=tar.gz", "--prefix=project/", commit)


def history(conn: psycopg.Connection, team_id: str, ref: str | None, limit: int) -> dict[str, Any]:
    name, commit = resolve_ref(conn, team_id, ref)
    return {"ref": name, "commit": commit, "commits": git.log(repository_path(team_id), commit, limit=limit)}


def task_diff(conn: psycopg.Connection, task_id: str, actor: Actor | None = None) -> dict[str, Any]:
    """A task's change against the main line: per-file stats and the unified diff (as merged, once it is)."""
    task = tasks.get(conn, task_id)
    if actor is not None and not actor.is_user and actor.team_id != task["team_id"]:
        raise Forbidden(f"task {task_id} belongs to another team")
    repo = repository_path(task["team_id"])
    merge = task.get("merge") or {}
    head = git.head(repo, f"refs/heads/{task['branch']}") if task["base_commit"] else None
    if head is None:
        return {"task_id": task_id, "team_id": task["team_id"], "branch": task["branch"], "started": False,
                "files": [], "commits": [],
                "added": 0, "deleted": 0, "diff": "", "merge": merge or None}
    if merge.get("state") == "merged" and merge.get("commit"):
        base, tip = merge["main"], merge["commit"]  # what the merge brought into the main line
        files = [f.as_dict() for f in git.changed_files(repo, base, tip)]
        text = git.diff(repo, base, tip)
        commits = task["changes"]["commits"] if task.get("changes") else []
    else:
        found = changes(repo, task["branch"])
        files, commits = found["files"], found["commits"]
        text = git.diff(repo, MAIN, head)
    return {"task_id": task_id, "team_id": task["team_id"], "branch": task["branch"], "started": True, "head": head,
            "files": files,
            "commits": commits, **_totals(files), "diff": text, "merge": merge or None}


def repository(conn: psycopg.Connection, team_id: str) -> dict[str, Any]:
    """The team's repository: the main line, the tasks' branches and worktrees, and its disk use."""
    repo = repository_path(team_id)
    team_dir = repo.parent
    branches = []
    for task in tasks.with_worktrees(conn, team_id):
        worktree = repos.worktree_dir(team_id, task["id"])
        branches.append({"task_id": task["id"], "title": task["title"], "stage": task["stage"],
                         "branch": task["branch"], "head": git.head(repo, f"refs/heads/{task['branch']}"),
                         "merge_state": (task.get("merge") or {}).get("state"),
                         "worktree": str(worktree) if worktree.exists() else None})
    worktrees_bytes = repos.disk_bytes(team_dir / "worktrees")
    project_bytes = repos.disk_bytes(repo)
    return {"team_id": team_id, "path": str(repo), "main": git.head(repo, MAIN), "branches": branches,
            "disk": {"project_bytes": project_bytes, "worktrees_bytes": worktrees_bytes,
                     "total_bytes": repos.disk_bytes(team_dir)}}


def check_of(conn: psycopg.Connection, check_id: str) -> dict[str, Any]:
    return merge_checks.get(conn, check_id)


def checks_of(conn: psycopg.Connection, task_id: str) -> list[dict[str, Any]]:
    return merge_checks.of_task(conn, task_id)


def run_of_check(conn: psycopg.Connection, check_id: str, worker: str) -> tuple[dict[str, Any] | None, str | None]:
    """Claim a queued merge check for a worker: the check and its token (None, None when another took it or it
    was cancelled)."""
    return merge_checks.claim(conn, check_id, worker)


def check_ref(check_id: str) -> str:
    """Where the merged result a check runs on is kept while it is checked: a worker on another host fetches it."""
    return f"refs/gamma/checks/{check_id}"

