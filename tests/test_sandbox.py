"""The agent sandbox, tried as an agent would: from inside a real run of the real CLI (model double brain
`write_file`, whose Bash call runs a probe script), with a real worker.

Without the sandbox the same probe finds the worker's DATABASE_URL, Gamma's home and another team's files —
so a passing sandboxed probe shows the boundary, not a probe that cannot see anything.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import psycopg
import pytest

from shared.config import Settings
from tests.support.stack import Stack
from workers.runtime_types import LaunchSpec
from workers.sandbox import Mounts, plan

pytestmark = pytest.mark.slow
pytest_plugins = ("tests.support.stack_fixtures",)

PROBE = """\
echo "env_database_url=${{DATABASE_URL:-unset}}"
echo "uid=$(id -u)"
echo "environ_hits=$(cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c '^DATABASE_URL=')"
echo "parent_hits=$(tr '\\0' '\\n' < /proc/$PPID/environ 2>/dev/null | grep -c '^DATABASE_URL=')"
test -e "{home}/pg-secret.txt" && echo gamma_home=visible || echo gamma_home=hidden
test -e "{other}" && echo other_team=visible || echo other_team=hidden
test -e "{own}" && echo own_team=visible || echo own_team=hidden
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print('db_socket=open')" \\
    "{socket}" 2>/dev/null || echo db_socket=refused
echo probe-written > "{own}/probe-output.txt" && echo own_team_writable=yes
"""


def _probe(stack: Stack, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    with stack.worker(extra_env):
        team = stack.create_team()
        other = stack.create_team()
        own_dir = stack.home / "workspaces" / team["id"]
        (stack.home / "pg-secret.txt").write_text("not for agents\n")
        socket_dir = psycopg.conninfo.conninfo_to_dict(stack.database_url)["host"]
        script = PROBE.format(home=stack.home, other=stack.home / "workspaces" / other["id"], own=own_dir,
                              socket=Path(socket_dir) / ".s.PGSQL.5432")
        (own_dir / "project" / "probe.sh").write_text(script)
        run_id = stack.say(team["id"], "[[brain:write_file cmd='sh ../../project/probe.sh' path=done.txt]] probe")
        run = stack.wait_run(run_id)
        assert run["state"] == "succeeded", run
        results = [e["payload"]["content"] for e in stack.events(team["id"], run_id=run_id)
                   if e["kind"] == "agent.tool_result" and "environ_hits" in e["payload"]["content"]]
        assert results, "the probe ran"
        found = dict(re.findall(r"^(\w+)=(.*)$", results[0], re.MULTILINE))
        started = stack.wait_event(team["id"], "run.started", run_id=run_id)["payload"]
        found["sandboxed"] = str(started["sandboxed"])
        return found


def test_an_agent_cannot_reach_the_workers_secrets_gamma_home_other_teams_or_the_database(stack: Stack):
    found = _probe(stack)
    assert found["sandboxed"] == "True"
    assert found["env_database_url"] == "unset"
    assert found["environ_hits"] == "0", "no process the agent can see holds DATABASE_URL"
    assert found["parent_hits"] == "0"
    assert found["gamma_home"] == "hidden"
    assert found["other_team"] == "hidden"
    assert found["db_socket"] == "refused"
    assert (found["own_team"], found["own_team_writable"]) == ("visible", "yes"), "its own workspace works"
    # Never root inside, even under a root worker (so a CLI's own sandbox can nest: see the codex e2e test).
    assert found["uid"] != "0" and (os.geteuid() == 0 or found["uid"] == str(os.geteuid())), found["uid"]
    if os.geteuid() == 0:
        assert (stack.home / "workspaces").stat().st_uid == 0 and all(
            p.stat().st_uid == 0 for p in (stack.home / "workspaces").rglob("probe-output.txt")), \
            "what the agent writes belongs to the worker's user outside"


def test_without_the_sandbox_the_same_probe_finds_everything(stack: Stack):
    found = _probe(stack, {"GAMMA_SANDBOX": "off"})
    assert found["sandboxed"] == "False"
    assert found["uid"] == str(os.geteuid())
    assert int(found["environ_hits"]) > 0, "the worker's environment is readable next door"
    assert found["gamma_home"] == "visible" and found["other_team"] == "visible"
    assert found["db_socket"] == "open"


def test_mounts_hide_gamma_home_but_show_the_team_and_the_tools(tmp_path: Path):
    home = tmp_path / "gamma"
    team = home / "workspaces" / "team_x"
    tools = home / "bin"
    user_home = tmp_path / "user"
    for directory in (team, tools, user_home):
        directory.mkdir(parents=True)
    spec = LaunchSpec(argv=["sh"], env={"HOME": str(user_home), "PATH": "/usr/bin"}, cwd=team)
    mounts = plan(spec, Settings(GAMMA_HOME=str(home), DATABASE_URL="postgresql:///x?host=/nonexistent"),
                  team_dir=team, tools_dir=tools)
    assert home.resolve() in mounts.hidden and team.resolve() in mounts.writable
    assert tools.resolve() in mounts.readable and user_home.resolve() in mounts.writable
    args = mounts.arguments()
    assert args.index(str(home.resolve())) < args.index(str(team.resolve())), "the team is mounted on top"


def test_a_cli_installed_with_npm_under_a_hidden_place_is_visible_with_its_whole_package_tree(tmp_path: Path):
    """Found on a clone under /tmp: bwrap could not exec `.tools/codex-…/node_modules/.bin/codex` (its link
    directory and the package it points into were both under the private /tmp)."""
    modules = tmp_path / "tools" / "node_modules"
    package_bin = modules / "@openai" / "codex" / "bin"
    package_bin.mkdir(parents=True)
    (package_bin / "codex.js").write_text("#!/bin/sh\n")
    (package_bin / "codex.js").chmod(0o755)
    (modules / ".bin").mkdir()
    (modules / ".bin" / "codex").symlink_to("../@openai/codex/bin/codex.js")
    team = tmp_path / "team"
    team.mkdir()
    spec = LaunchSpec(argv=[str(modules / ".bin" / "codex")], env={"HOME": str(tmp_path), "PATH": "/usr/bin"},
                      cwd=team)
    mounts = plan(spec, Settings(GAMMA_HOME=str(tmp_path / "gamma"), DATABASE_URL="postgresql:///x?host=/none"),
                  team_dir=team, tools_dir=None)
    assert modules.resolve() in mounts.readable, mounts.readable


def test_mount_arguments_put_parents_before_children():
    mounts = Mounts(writable={Path("/a/b/c")}, hidden={Path("/a/b")}, readable={Path("/a/b/d")},
                    masked_files={Path("/a/.env")})
    assert mounts.arguments() == ["--tmpfs", "/a/b", "--ro-bind", "/dev/null", "/a/.env", "--bind", "/a/b/c",
                                  "/a/b/c", "--ro-bind", "/a/b/d", "/a/b/d"]
