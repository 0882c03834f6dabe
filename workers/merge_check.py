"""Run a team's check command on a task's merged result, on a worker (never in the web process).

The merge was computed when the task was accepted (`work_product.accept`): a commit whose parents are the main
line and the task's branch. Here it is checked out in a detached worktree of its own (`<team>/checks/<id>/`), the
command runs there in a shell — in the agents' sandbox when there is one, in a process group of its own, killed
at GAMMA_CHECK_TIMEOUT —, the worktree is removed, and `delegation.check_finished` moves the main line (passed)
or sends the task back with the output (failed). A worker on another host than the web's fetches the merged result
into its clone first and reports the outcome to the web, which moves the main line there (workers/repo_sync.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
from pathlib import Path

from orchestrator.records import repos, teams, workspaces
from orchestrator.workflows import delegation, work_product
from shared import db, git
from shared.config import Settings, get_settings
from workers import repo_sync, sandbox
from workers.runtime import WorkerRuntime
from workers.runtime_types import LaunchError, LaunchSpec

log = logging.getLogger(__name__)
OUTPUT_LIMIT = 64_000


def run_check(check_id: str, runtime: WorkerRuntime) -> None:
    with db.transaction() as conn:
        check, token = work_product.run_of_check(conn, check_id, runtime.worker_id)
        team = teams.get(conn, check["team_id"]) if check is not None else None
    if check is None or team is None or token is None:
        return  # taken by another worker, or cancelled
    settings = get_settings()
    team_id = check["team_id"]
    home = repo_sync.is_home(team)  # else this host keeps a clone: the merged result is fetched from the web
    directory = repos.check_dir(team_id, check_id)
    try:
        with repos.locked(team_id, make=home) as repo:
            _clear(repo, directory)  # what a worker that died while checking left (a check holds no work)
            if not home:
                repo_sync.bring_commit(team_id, work_product.check_ref(check_id), token)
            git.add_detached_worktree(repo, directory, check["merge_commit"])
        exit_code, output = _run(check["command"], directory, team_id, settings)
    except (git.GitError, OSError, LaunchError) as error:
        exit_code, output = None, f"the check could not run: {error}"
    finally:
        try:
            with repos.locked(team_id, make=home) as repo:
                if git.is_repository(repo):
                    _clear(repo, directory)
        except (git.GitError, OSError) as error:
            log.warning("could not remove the check worktree %s: %s", directory, error)
    if not home:  # the web's host moves the main line
        try:
            repo_sync.report_check(check_id, token, passed=exit_code == 0, exit_code=exit_code, output=output)
            return
        except OSError as error:  # the web is away: the check fails here, saying why, rather than hang as running
            log.error("could not report merge check %s to the web: %s", check_id, error)
            exit_code, output = None, f"{output}\n[gamma] the outcome could not be reported to the web: {error}"
    with db.transaction() as conn:
        delegation.check_finished(conn, check_id, passed=exit_code == 0, exit_code=exit_code, output=output)


def _clear(repo: Path, directory: Path) -> None:
    try:
        git.remove_worktree(repo, directory)
    except git.GitError:  # not (or no longer) a worktree git knows: a plain directory
        shutil.rmtree(directory, ignore_errors=True)
        git.git(repo, "worktree", "prune")


def _run(command: str, directory: Path, team_id: str, settings: Settings) -> tuple[int | None, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GAMMA_", "DATABASE_", "PG"))}
    env["HOME"] = str(directory)
    spec = LaunchSpec(argv=["bash", "-c", command], env=env, cwd=directory)
    spec, _warning = sandbox.wrap(spec, settings, team_dir=workspaces.team_dir(team_id), tools_dir=None)
    process = subprocess.Popen(spec.argv, cwd=spec.cwd, env=spec.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=settings.check_timeout)
        code: int | None = process.returncode
        note = ""
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        code, note = None, f"\n[gamma] the check was stopped after {settings.check_timeout:.0f} s"
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # what it left running in its group
        except ProcessLookupError:
            pass
    return code, out.decode(errors="replace")[-OUTPUT_LIMIT:] + note
