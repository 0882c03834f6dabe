"""The team's repository for workers on other hosts: what the web serves over git's smart HTTP, and what a run's
push may change.

The repository on the web's host is the team's one true repository; a worker on another host keeps a clone
(workers/repo_sync.py), brings the run's branch before the run and pushes its commits after it. A run pushes to
`refs/gamma/incoming/<run>/heads/<branch>` only — the web shows a pusher no other ref and refuses any other
update (git's `receive.hideRefs`) — and `receive` then moves the real branch, here, under the team's repository
lock, if the run may write it:

- a task's run, its task's branch: fast-forward only (a worktree of that branch on this host is moved with it);
- the lead's run without a task, the main line: fast-forward, or merged with what reached the main line while
  the lead worked (a merge with conflicts moves nothing and is refused).

Anything else is refused, and the incoming refs are removed either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from orchestrator.domain import Actor, Conflict, Forbidden, NotFound
from orchestrator.records import merge_checks, repos, tasks
from orchestrator.workflows import agent_requests, delegation, work_product
from orchestrator.workflows.agent_requests import Unauthenticated
from shared import git

MAIN = git.MAIN


def served_root(team_id: str) -> Path:
    """The folder `git http-backend` serves for a team: the team's folder, whose `project/` is the repository
    (made now if the team has none yet)."""
    return work_product.repository_path(team_id).parent


def caller(conn: psycopg.Connection, authorization: str) -> Actor:
    """Who calls the git endpoint: a running run's agent (fetch and push), or a running merge check of another
    host (fetch only: an actor without a run)."""
    try:
        return agent_requests.caller(conn, authorization)
    except Unauthenticated:
        check = merge_checks.authenticate(conn, agent_requests.bearer_token(authorization))
        if check is None:
            raise
        return Actor(team_id=check["team_id"], name=f"merge check {check['id']}")


def report_check(conn: psycopg.Connection, authorization: str, check_id: str, *, passed: bool,
                 exit_code: int | None, output: str) -> dict[str, object]:
    """A merge check that ran on another host reports its outcome with its token: the web moves the main line (or
    sends the task back) as it would for a check on its own host."""
    check = merge_checks.authenticate(conn, agent_requests.bearer_token(authorization))
    if check is None:
        raise Unauthenticated("invalid or expired check token: it belongs to no running merge check")
    if check["id"] != check_id:
        raise NotFound(f"merge check {check_id} not found for this token")
    return delegation.check_finished(conn, check_id, passed=passed, exit_code=exit_code, output=output)


def push_config(actor: Actor) -> tuple[str, ...]:
    """git settings for a run's push: receive-pack on, every ref hidden (so not updatable) but the run's own
    incoming ones, and the objects checked as they arrive."""
    assert actor.run_id is not None
    return ("http.receivepack=true", "receive.fsckObjects=true", "receive.hideRefs=refs/",
            f"receive.hideRefs=!{git.incoming_prefix(actor.run_id)}", "receive.denyNonFastForwards=false")


def receive(conn: psycopg.Connection, actor: Actor) -> list[str]:
    """Apply what the run `actor` pushed to its incoming refs; returns the branches moved. Raises Forbidden for a
    ref the run may not write, Conflict for a branch that cannot move to what was pushed."""
    assert actor.run_id is not None and actor.team_id is not None
    team_id = actor.team_id
    task = tasks.get(conn, actor.task_id, lock=True) if actor.task_id else None
    allowed = task["branch"] if task is not None else (MAIN if actor.is_lead else None)
    prefix = git.incoming_prefix(actor.run_id)
    moved: list[str] = []
    with repos.locked(team_id) as repo:
        pushed = git.refs(repo, prefix)
        try:
            for ref, commit in pushed.items():
                branch = ref.removeprefix(prefix).removeprefix("heads/")
                if branch != allowed or not ref.startswith(f"{prefix}heads/"):
                    raise Forbidden(f"run {actor.run_id} may not write {branch!r}"
                                    + (f": only {allowed!r}" if allowed else ": it writes no branch"))
                if branch == MAIN:
                    _receive_main(repo, commit, actor)
                else:
                    assert task is not None  # `allowed` is a task's branch
                    _receive_branch(repo, team_id, task, commit)
                moved.append(branch)
        finally:
            git.delete_refs(repo, prefix)
        git.pack_loose(repo)  # a small push arrives as loose objects (git's receive.unpackLimit)
    if task is not None and moved:  # its base_commit was recorded by the run's prepare, on whichever host
        work_product.measure(conn, task)
    return moved


def _receive_branch(repo: Path, team_id: str, task: dict[str, Any], commit: str) -> None:
    branch = str(task["branch"])
    current = git.head(repo, f"refs/heads/{branch}")
    if current is not None and not git.is_ancestor(repo, current, commit):
        raise Conflict(f"branch {branch!r} is at {current[:12]}, which the push does not contain: fetch it, "
                       "build on it and push again")
    worktree = repos.worktree_dir(team_id, str(task["id"]))
    if worktree.exists():  # an earlier run's worktree on this host: its files follow its branch
        git.commit_all(worktree, f"{task['title']}\n\nCommitted by Gamma before a push from another host.")
        if git.head(worktree) != current:
            raise Conflict(f"branch {branch!r} had uncommitted work on the web's host; push again")
        git.fast_forward(worktree, commit)
    else:
        git.update_ref(repo, f"refs/heads/{branch}", commit)


def _receive_main(repo: Path, commit: str, actor: Actor) -> None:
    main = work_product.commit_main_checkout(repo)
    if git.is_ancestor(repo, main, commit):
        work_product.advance_main(repo, commit)
        return
    if git.is_ancestor(repo, commit, main):
        return  # already in the main line
    merged = git.merge_tree(repo, main, commit)
    if not merged.clean:
        raise Conflict(f"the lead's work conflicts with the main line in {', '.join(merged.conflicts)}: "
                       "fetch the main line, resolve and push again")
    result = git.commit_tree(repo, merged.tree, [main, commit],
                             f"Merge the work of {actor.name} on another host\n\nRun: {actor.run_id}",
                             author=git.SYSTEM_AUTHOR)
    work_product.advance_main(repo, result)
