"""A worker on another host than the web: its clone of the team's repository, brought up to date before a run and
sent back after it, over git's smart HTTP (web/api/git_http.py), authenticated by the run's agent token.

A team's repository lives in the storage of the host that made it (`teams.repo_storage`, the web's). A worker whose
GAMMA_HOME is that storage works in it directly (`is_home`) and none of this runs. Any other keeps a clone at the
same place in its own GAMMA_HOME (`workspaces/<team>/project`, worktrees beside it), so everything else — where a
run works, its commits, the sandbox — is the same on every host:

- `bring`, before the run: fetch the web's branches (as `refs/remotes/web/*`); the main line becomes the web's;
  the run's task branch too, unless this host holds commits of it the web lacks (an attempt that died here after
  committing), which are kept and sent at the end;
- `send`, after the run's commit: push the branch it writes to the run's incoming ref; the web moves the branch
  (workflows/repo_transfer.py) and measures the task;
- `send_from_agent`: the same from inside a run (`gamma-agent task done|review`), so a report made while the CLI
  runs is judged on the work as it is.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.records import repos, workspaces
from shared import git
from shared.config import get_settings

log = logging.getLogger(__name__)

REMOTE = "refs/remotes/web"
REPORT_TIMEOUT = 60  # seconds for the web to apply a merge check's outcome (it may merge)
MAIN = git.MAIN
# what a run started on another host gets in its environment, for gamma-agent's `send_from_agent`
URL_VARIABLE = "GAMMA_GIT_URL"
BRANCH_VARIABLE = "GAMMA_GIT_BRANCH"


@dataclass(frozen=True)
class Remote:
    """Where a run's branch goes back to: the web's repository of its team, the branch, the run's token."""

    url: str
    branch: str | None  # None: the run writes no branch (a member between tasks)
    token: str
    run_id: str


def is_home(team: dict[str, Any]) -> bool:
    """This host's storage holds the team's repository (or the team predates recording where it is)."""
    return team.get("repo_storage") is None or team["repo_storage"] == workspaces.storage_id()


def url_of(team_id: str) -> str:
    return f"{get_settings().agent_api_url}/agent/git/{team_id}/project"


def branch_written(task: dict[str, Any] | None, *, is_lead: bool) -> str | None:
    """The branch a run writes: its task's, else the main line for the lead, else none."""
    if task is not None:
        return str(task["branch"])
    return MAIN if is_lead else None


def bring(team_id: str, run_id: str, task: dict[str, Any] | None, *, is_lead: bool, token: str) -> Remote:
    """Bring the web's main line and the run's task branch into this host's clone (made on first use)."""
    remote = Remote(url_of(team_id), branch_written(task, is_lead=is_lead), token, run_id)
    with repos.locked(team_id, make=False) as repo:
        _made(repo)
        git.fetch(repo, remote.url, token, f"+refs/heads/*:{REMOTE}/*")
        web_main = git.head(repo, f"{REMOTE}/{MAIN}")
        if web_main is not None:
            _follow_main(repo, web_main, writes_main=remote.branch == MAIN)
        if task is not None:
            _follow_branch(repo, repos.worktree_dir(team_id, task["id"]), str(task["branch"]))
    return remote


def bring_commit(team_id: str, ref: str, token: str) -> Path:
    """Fetch one ref of the web's repository (a merge check's merged result) into this host's clone, made on first
    use; returns the clone. The caller holds the repository lock."""
    repo = _made(repos.project_dir(team_id))
    git.fetch(repo, url_of(team_id), token, f"+{ref}:{ref}")
    return repo


def _made(repo: Path) -> Path:
    """This host's clone, made empty on first use (its first fetch fills it)."""
    if not git.is_repository(repo):
        if repo.exists() and any(repo.iterdir()):
            raise git.GitError(["clone"], 1, f"{repo} holds files but is no clone of the team's repository")
        git.init_empty(repo)
    return repo


def report_check(check_id: str, token: str, *, passed: bool, exit_code: int | None, output: str) -> None:
    """Tell the web how a merge check that ran here ended: the web moves the main line, or sends the task back."""
    body = json.dumps({"passed": passed, "exit_code": exit_code, "output": output}).encode()
    request = urllib.request.Request(f"{get_settings().agent_api_url}/agent/checks/{check_id}/result", data=body,
                                     method="POST", headers={"Content-Type": "application/json",
                                                             "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=REPORT_TIMEOUT) as answer:
        answer.read()


def _follow_main(repo: Path, web_main: str, *, writes_main: bool) -> None:
    """The clone's main line (and its checkout) brought to the web's. Never under a lead's run that works here:
    a checkout with changes is left alone unless this run is the lead's (then they are what an interrupted
    attempt of it left: committed, and sent at its end). A main line with commits the web lacks keeps them."""
    local = git.head(repo, MAIN)
    if local is None:
        git.reset_hard(repo, web_main)  # a new clone
        return
    if git.is_dirty(repo):
        if not writes_main:
            return  # the lead works in this checkout now; its run sends what it makes
        git.commit_all(repo, "Left uncommitted on another host by an interrupted attempt")
        local = str(git.head(repo, MAIN))
    if git.is_ancestor(repo, local, web_main):
        git.reset_hard(repo, web_main)
    elif writes_main and not git.is_ancestor(repo, web_main, local):
        # both moved: the lead starts from both (a conflict leaves its own, and the web refuses its push)
        merged = git.git(repo, "merge", "-q", "--no-edit", "--no-verify", web_main, ok=(0, 1))
        if merged.returncode != 0:
            git.git(repo, "merge", "--abort", ok=(0, 128))


def _follow_branch(repo: Path, worktree: Path, branch: str) -> None:
    web_head = git.head(repo, f"{REMOTE}/{branch}")
    if web_head is None:
        return  # the task's first run: the branch starts here, from the main line
    local = git.head(repo, f"refs/heads/{branch}")
    if local is not None and local != web_head and git.is_ancestor(repo, web_head, local):
        return  # this host has more of it (a commit an attempt here made but could not send): sent at the end
    if worktree.exists():
        if git.is_dirty(worktree):  # an attempt here died: its files are committed by the run's prepare
            git.commit_all(worktree, "Left uncommitted on another host by an interrupted attempt")
            if git.is_ancestor(repo, web_head, str(git.head(worktree))):
                return
        git.reset_hard(worktree, web_head)
    else:
        git.update_ref(repo, f"refs/heads/{branch}", web_head)


def send(team_id: str, remote: Remote) -> bool:
    """Push the run's branch to its incoming ref on the web, which applies it. False when there was nothing new."""
    if remote.branch is None:
        return False
    repo = repos.project_dir(team_id)
    head = git.head(repo, f"refs/heads/{remote.branch}")
    if head is None or head == git.head(repo, f"{REMOTE}/{remote.branch}"):
        return False
    git.push(repo, remote.url, remote.token, f"{head}:{git.incoming_ref(remote.run_id, remote.branch)}")
    git.update_ref(repo, f"{REMOTE}/{remote.branch}", head)  # the web has it now
    return True


def run_environment(remote: Remote) -> dict[str, str]:
    """What a run on another host needs in its environment for gamma-agent to send its work before a report."""
    return {URL_VARIABLE: remote.url, BRANCH_VARIABLE: remote.branch or ""}


def send_from_agent(*, url: str, branch: str, worktree: Path, token: str, run_id: str,
                    author: tuple[str, str]) -> None:
    """Inside a run on another host (gamma-agent, before `task done|review`): commit what the run changed where it
    works and push it to the run's incoming ref, as `send` does at the run's end."""
    git.commit_all(worktree, f"Work reported by {author[0]}\n\nRun: {run_id}\nCommitted by Gamma: reported.",
                   author=author)
    head = git.head(worktree)
    assert head is not None
    git.push(worktree, url, token, f"{head}:{git.incoming_ref(run_id, branch)}")
