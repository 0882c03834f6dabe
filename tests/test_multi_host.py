"""Workers on two "hosts" that share nothing but PostgreSQL and the web (issue 13, point 5): each its own
GAMMA_HOME and its own CLI config directory, with the real claude CLI and the model double.

- One team's tasks run on both (each member pinned to one host's label): a builder on one, a QA task that
  depends on it on the other, which reads the builder's merged file; the repositories go between the hosts only
  through the web (git's smart HTTP).
- A worker SIGKILLed mid-run (after its member reported, while it still works) has its run resumed on the other
  host: the same branch (what was reported is there), the same session (its transcript brought from the
  database), never two live CLIs; the lead then approves and the work reaches the main line.
"""

from __future__ import annotations

import signal
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared import git
from tests.support import polling
from tests.support.attempts import Sampler
from tests.support.claude import cli_env
from tests.support.stack import Stack, running_stack
from tests.support.team_checks import quiet, tasks_of
from tests.support.workers import FAST_RECOVERY

pytestmark = [pytest.mark.slow, pytest.mark.cli]

FRONTEND = "engineering/frontend-engineer"


@dataclass(frozen=True)
class Host:
    label: str
    home: Path  # its GAMMA_HOME
    config: Path  # its claude config directory
    env: dict[str, str]

    def clone(self, team_id: str) -> Path:
        return self.home / "workspaces" / team_id / "project"


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(database_url, tmp_path_factory.mktemp("multi")) as running:
        yield running


@pytest.fixture
def hosts(stack: Stack, tmp_path: Path) -> tuple[Host, Host]:
    made = []
    for label in ("east", "west"):
        config = tmp_path / label / "claude"
        config.mkdir(parents=True)
        home = tmp_path / label / "home"
        env = {**stack.worker_env, **cli_env(stack.double.url, config), "GAMMA_HOME": str(home),
               "GAMMA_WORKER_LABELS": label, "GAMMA_API_URL": stack.web.url}
        made.append(Host(label, home, config, env))
    return made[0], made[1]


def host_of(stack: Stack, worker_id: str) -> str:
    with stack.connect() as conn:
        row = conn.execute("SELECT worker_labels FROM workers WHERE id = %s", (worker_id,)).fetchone()
    assert row is not None, worker_id
    (label,) = row["worker_labels"]
    return label


def stored_transcript(stack: Stack, agent_id: str, session_id: str) -> str:
    """The transcript the database holds for the session ('' if none): what another host would resume from."""
    with stack.connect() as conn:
        row = conn.execute("SELECT content FROM session_transcripts WHERE agent_id = %s AND session_id = %s",
                           (agent_id, session_id)).fetchone()
    return zlib.decompress(bytes(row["content"])).decode() if row else ""


def attempts_of(stack: Stack, run_id: str) -> list[dict]:
    return [e for e in stack.events(stack.run(run_id)["team_id"], run_id=run_id) if e["kind"] == "run.started"]


@pytest.mark.parametrize("builder_on", ["east", "west"])
def test_one_teams_tasks_run_on_both_hosts_and_each_sees_the_others_merged_work(stack: Stack, hosts, builder_on):
    """The builder on one host, the QA task that depends on it on the other — both ways round."""
    by_label = {host.label: host for host in hosts}
    builder = by_label[builder_on]
    checker = next(host for host in hosts if host is not builder)
    team = stack.create_team(members=[{"name": "Ann", "role_id": FRONTEND, "worker_labels": [builder.label]},
                                      {"name": "Ben", "role_id": FRONTEND, "worker_labels": [checker.label]}])
    team_id = team["id"]
    with stack.worker(builder.env, threads=2), stack.worker(checker.env, threads=2):
        first = stack.wait_run(stack.say(team_id, "[[brain:lead members=Ann qa=Ben files=site.md]] Build the site"),
                               timeout=120)
        assert first["state"] == "succeeded", first["error"]
        quiet(stack, team_id, wakes=1)
    found = tasks_of(stack, team_id)
    build, check = found["Ann"], found["Ben"]
    assert (build["stage"], build["merge"]["state"]) == ("done", "merged"), build.get("merge")
    assert check["stage"] == "done", (check["result"], [stack.run(r["id"])["error"] for r in check["runs"]])
    assert "read 1 file(s) (site.md)" in check["result"]["summary"], "QA on the other host read the merged file"

    runs = {task["assignee"]["name"]: [stack.run(r["id"]) for r in task["runs"]] for task in (build, check)}
    assert {host_of(stack, r["owner"]) for r in runs["Ann"]} == {builder.label}
    assert {host_of(stack, r["owner"]) for r in runs["Ben"]} == {checker.label}

    # The web's repository has the work; each host's clone has the main line as the web had it for its run.
    web_repo = stack.home / "workspaces" / team_id / "project"
    web_site = git.text(web_repo, "show", "main:site.md")
    assert build["id"] in web_site
    assert git.text(builder.clone(team_id), "show", f"refs/heads/{build['branch']}:site.md") == web_site
    assert git.text(checker.clone(team_id), "show", "main:site.md") == web_site, "it saw the other's merged work"
    assert not (checker.clone(team_id) / ".." / "worktrees" / build["id"]).exists(), "it never worked on it"
    commits = build["changes"]["commits"]
    assert [c["author"] for c in commits] == ["Ann"], "measured on the web from what the builder's host pushed"


def test_a_worker_killed_mid_run_is_resumed_on_the_other_host_with_its_branch_and_session(stack: Stack, hosts):
    east, west = hosts
    team = stack.create_team(members=[{"name": "Cy", "role_id": FRONTEND}])
    team_id = team["id"]
    slow_member = "member report=review linger=600"
    with stack.worker({**east.env, **FAST_RECOVERY, "GAMMA_SESSION_CHECKPOINT_SECONDS": "1"}, threads=1) as doomed:
        stack.wait_run(stack.say(team_id, f"[[brain:lead members=Cy member_brain='{slow_member}']] Write the notes"),
                       timeout=120)
        task = polling.wait_for(lambda: next(iter(tasks_of(stack, team_id).values()), None), timeout=60,
                                what="Cy's task")

        def lingering():  # reported (its work is on the web), and still running its last long job
            current = stack.api("GET", f"/api/tasks/{task['id']}").json()
            run = stack.run(current["runs"][-1]["id"]) if current["runs"] else None
            linger = [e for e in stack.events(team_id, run_id=run["id"]) if e["kind"] == "agent.tool_use"
                      and e["payload"].get("input", {}).get("description") == "Linger"] if run else []
            return run if current["stage"] == "review" and run["state"] == "running" and linger else None
        first = polling.wait_for(lingering, timeout=120, what="Cy's run reported and lingering")
        reported_head = git.head(stack.home / "workspaces" / team_id / "project", f"refs/heads/{task['branch']}")
        assert reported_head is not None, "the report sent the work to the web first"
        sampler = Sampler([first["id"]])
        sampler.start()
        polling.wait_for(lambda: "Linger" in stored_transcript(stack, first["agent_id"], first["session_id"]),
                         timeout=60, what="the session checkpointed with the report and the long job in it")
        doomed.signal_group(signal.SIGKILL)
    try:
        with stack.worker({**west.env, **FAST_RECOVERY}, threads=2):
            resumed = stack.wait_run(first["id"], lambda r: r["attempt"] > first["attempt"]
                                     and r["state"] not in ("queued", "running"), timeout=180)
            quiet(stack, team_id, wakes=1)
    finally:
        sampler.stop()
    assert sampler.overlaps == [], "never two live CLIs of the run"
    assert resumed["state"] == "succeeded", resumed["error"]
    started = attempts_of(stack, first["id"])
    assert [host_of(stack, e["payload"]["worker"]) for e in started] == ["east", "west"]
    assert started[-1]["payload"]["resume_session"] == first["session_id"], "resumed in the same session"
    assert resumed["session_id"] == first["session_id"] and not resumed.get("session_note"), resumed
    # the same branch: west built on what east had reported, and the work reached the main line once approved
    (done,) = tasks_of(stack, team_id).values()
    assert (done["stage"], done["merge"]["state"]) == ("done", "merged"), done.get("merge")
    web_repo = stack.home / "workspaces" / team_id / "project"
    assert git.is_ancestor(web_repo, reported_head, "main")
    assert git.head(west.clone(team_id), f"refs/heads/{task['branch']}") == reported_head
    assert f"{task['id']}.md" in git.text(web_repo, "ls-tree", "--name-only", "main")


def test_a_merge_check_runs_on_another_host_and_the_web_moves_the_main_line(stack: Stack, hosts):
    east, _west = hosts
    check = "test -s site.md && echo 'site.md is there'"
    team = stack.create_team(members=[{"name": "Dee", "role_id": FRONTEND}], check_command=check)
    team_id = team["id"]
    with stack.worker(east.env, threads=2):
        first = stack.wait_run(stack.say(team_id, "[[brain:lead members=Dee member_brain='member file=site.md']] "
                                                  "Write the site"), timeout=120)
        assert first["state"] == "succeeded", first["error"]
        quiet(stack, team_id, wakes=1)
    (task,) = tasks_of(stack, team_id).values()
    (passed,) = task["checks"]
    assert (passed["state"], passed["exit_code"]) == ("passed", 0), passed
    assert "site.md is there" in passed["output"]
    assert host_of(stack, passed["worker"]) == "east", "checked on the other host, from the fetched merge"
    web_repo = stack.home / "workspaces" / team_id / "project"
    assert (task["stage"], task["merge"]["state"]) == ("done", "merged")
    assert git.head(web_repo, "main") == passed["merge_commit"], "the web moved its main line to the checked merge"
    assert git.refs(web_repo, "refs/gamma/") == {}, "the check's ref is gone once it is over"


def test_a_worker_on_the_webs_host_works_in_the_repository_itself(stack: Stack):
    team = stack.create_team(members=[{"name": "Eve", "role_id": FRONTEND}])
    team_id = team["id"]
    with stack.worker(threads=2):  # the web's own GAMMA_HOME
        first = stack.wait_run(stack.say(team_id, "[[brain:lead members=Eve]] Write the notes"), timeout=120)
        assert first["state"] == "succeeded", first["error"]
        quiet(stack, team_id, wakes=1)
    (task,) = tasks_of(stack, team_id).values()
    assert (task["stage"], task["merge"]["state"]) == ("done", "merged")
    web_repo = stack.home / "workspaces" / team_id / "project"
    assert git.refs(web_repo, "refs/remotes/") == {}, "nothing was fetched: no copy of the repository was made"
    (run,) = [stack.run(r["id"]) for r in task["runs"]]
    assert f"Worktree: `../../worktrees/{task['id']}`" in run["prompt"]
    with stack.connect() as conn:
        storage = conn.execute("SELECT repo_storage FROM teams WHERE id = %s", (team_id,)).fetchone()["repo_storage"]
    assert storage == (stack.home / "workspaces" / ".gamma-storage").read_text().strip()
