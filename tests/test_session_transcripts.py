"""Sessions move too (issue 13, point 3): after each attempt the CLI's session transcript is stored in the
database, and before a resume on a host that lacks it, it is written where that host's CLI looks for it.

- The CLI's project directory names: the rule (`-` for every non-alphanumeric UTF-16 unit, over 200 characters
  cut and hashed) against fixed names the pinned CLI made, and against the real CLI itself for a long cwd.
- `SessionTransfer` on real files and the real database: store, restore elsewhere, an older copy replaced, a
  newer one kept, a superseded attempt storing nothing, names that would leave their place refused.
- End to end (real web, real workers, the real pinned claude and codex CLIs, the model double): an agent's run on
  host A, its next on host B (another GAMMA_HOME and an empty CLI state directory) resumes the same session with
  its context; back on A, A's older copy is replaced. Without a stored transcript the run starts a fresh session
  and says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.records import runs
from shared import db
from shared.config import get_settings
from shared.host_checks import sandbox_availability
from shared.ids import new_id
from tests.support import factories
from tests.support.claude import ClaudeSetup
from tests.support.codex import codex_home, scratch_codex_home
from tests.support.stack import Stack
from workers import sandbox, session_transfer
from workers.backends.claude import ClaudeBackend, project_dir_name, sanitized_path
from workers.backends.codex import CodexBackend
from workers.backends.demo import DemoBackend
from workers.runtime_types import LaunchSpec, TranscriptPlace
from workers.session_transfer import SessionTransfer

pytest_plugins = ("tests.support.stack_fixtures", "tests.support.claude_fixtures")

# Made by claude 2.1.332 (its transcript directory for this cwd), >200 characters once sanitized.
LONG_CWD = "/work/tmp-exp/run1/A/" + "x" * 120 + "/workspaces/agent_" + "y" * 100
LONG_CWD_NAME = ("-work-tmp-exp-run1-A-" + "x" * 120 + "-workspaces-agent-" + "y" * 41 + "-rqkh44")


# ------------------------------------------------------------------------------------- the CLI's naming rule


def test_project_dir_names_follow_the_clis_rule() -> None:
    assert sanitized_path("/home/dev/project") == "-home-dev-project"
    assert sanitized_path("/a/b_c.d/é") == "-a-b-c-d--"
    assert sanitized_path("/a/😀") == "-a---"  # a character beyond the BMP is two UTF-16 units: two dashes
    assert len(LONG_CWD_NAME) == 207 and sanitized_path(LONG_CWD) == LONG_CWD_NAME
    exactly = "/" + "a" * 199
    assert sanitized_path(exactly) == "-" + "a" * 199  # 200 characters: not cut


def test_the_project_dir_name_is_the_real_cwd_unless_the_cli_is_told_another(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert project_dir_name(tmp_path / "link") == sanitized_path(str(real))
    config = {"CLAUDE_CONFIG_DIR": str(tmp_path / "config")}
    assert project_dir_name(real, {**config, "CLAUDE_CODE_PROJECT_DIR_NAME": "agent-7"}) == "agent-7"
    for ignored in ({"CLAUDE_CODE_PROJECT_DIR_NAME": "agent-7"},  # only with CLAUDE_CONFIG_DIR
                    {**config, "CLAUDE_CODE_PROJECT_DIR_NAME": "../x"},
                    {**config, "CLAUDE_CODE_PROJECT_DIR_NAME": "nul"}):
        assert project_dir_name(real, ignored) == sanitized_path(str(real))


@pytest.mark.cli
def test_the_real_cli_files_a_long_cwds_session_where_the_backend_says(claude_setup: ClaudeSetup) -> None:
    workspace = claude_setup.workspace / ("deep-" * 30) / "😀-agent"
    workspace.mkdir(parents=True)
    assert len(sanitized_path(str(workspace))) > 200
    run = claude_setup.run("[[brain:echo text=filed]] hello", workspace=workspace)
    assert run.outcome.outcome == "success", run.outcome
    session = run.summary.session_id
    written = sorted(claude_setup.config_dir.glob("projects/*/*.jsonl"))
    place = claude_setup.backend.transcript_place(session, run.spec)
    assert place is not None and session_transfer.find(place) == written[0] and len(written) == 1, written


def test_each_backend_says_where_its_transcripts_live(tmp_path: Path) -> None:
    spec = LaunchSpec(argv=["x"], env={"CLAUDE_CONFIG_DIR": str(tmp_path / "c"), "CODEX_HOME": str(tmp_path / "x"),
                                       "HOME": str(tmp_path / "h")}, cwd=tmp_path)
    session = "3afa980a-9999-460b-9d38-cff4481c63f3"
    claude = ClaudeBackend().transcript_place(session, spec)
    assert claude == TranscriptPlace(tmp_path / "c" / "projects" / sanitized_path(str(tmp_path)), f"{session}.jsonl")
    codex = CodexBackend().transcript_place(session, spec)
    assert codex == TranscriptPlace(tmp_path / "x" / "sessions", f"**/rollout-*-{session}.jsonl")
    home_only = LaunchSpec(argv=["x"], env={"HOME": str(tmp_path / "h")}, cwd=tmp_path)
    assert ClaudeBackend().transcript_place(session, home_only).root.parent == tmp_path / "h" / ".claude" / "projects"
    assert CodexBackend().transcript_place(session, home_only).root == tmp_path / "h" / ".codex" / "sessions"
    assert DemoBackend().transcript_place(session, spec) is None
    for unsafe in ("../etc/passwd", "a/b", "", "-flag"):
        assert ClaudeBackend().transcript_place(unsafe, spec) is None
        assert CodexBackend().transcript_place(unsafe, spec) is None


# ------------------------------------------------------------------------ moving a transcript, on real files


@pytest.fixture
def agent_run(database_url: str) -> dict[str, Any]:
    team = factories.create_team()
    agent = factories.create_agent(team["id"], backend="claude")
    with db.transaction() as conn:
        queued = conn.execute("INSERT INTO runs (id, team_id, agent_id, prompt, backend) VALUES (%s, %s, %s, 'p',"
                              " 'claude') RETURNING id", (new_id("run"), team["id"], agent["id"])).fetchone()
        run, _ = runs.claim(conn, queued["id"], owner="test", host="A", lease_seconds=600)
    assert run is not None and run["attempt"] == 1
    return run


def host(tmp_path: Path, name: str) -> LaunchSpec:
    """A claude launch on a "host" of its own: its own workspace (cwd) and config directory."""
    workspace = tmp_path / name / "workspaces" / "agent"
    workspace.mkdir(parents=True)
    return LaunchSpec(argv=["claude"], env={"CLAUDE_CONFIG_DIR": str(tmp_path / name / "claude")}, cwd=workspace)


def transcript(spec: LaunchSpec, session: str) -> Path:
    place = ClaudeBackend().transcript_place(session, spec)
    assert place is not None
    return place.root / f"{session}.jsonl"


def stored(agent_id: str) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        return conn.execute("SELECT * FROM session_transcripts WHERE agent_id = %s", (agent_id,)).fetchall()


def restored_events(run_id: str) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        return [row["payload"] for row in conn.execute(
            "SELECT payload FROM events WHERE run_id = %s AND kind = 'run.session_restored' ORDER BY seq",
            (run_id,))]


def test_a_transcript_is_stored_compressed_and_restored_on_another_host(agent_run: dict, tmp_path: Path) -> None:
    session = "11111111-2222-4333-8444-555555555555"
    a, b = host(tmp_path, "A"), host(tmp_path, "B")
    lines = b"".join(json.dumps({"type": "user", "n": i, "cwd": str(a.cwd)}).encode() + b"\n" for i in range(2000))
    transcript(a, session).parent.mkdir(parents=True)
    transcript(a, session).write_bytes(lines)

    on_a, on_b = (SessionTransfer(ClaudeBackend(), spec, agent_run, 1, name) for spec, name in ((a, "A"), (b, "B")))
    assert on_a.store(session) is True
    assert on_a.store(session) is False, "unchanged: not stored again"
    [row] = stored(agent_run["agent_id"])
    assert (row["size"], row["sha256"], row["name"], row["host"]) == (
        len(lines), hashlib.sha256(lines).hexdigest(), f"{session}.jsonl", "A")
    assert zlib.decompress(row["content"]) == lines and len(row["content"]) < len(lines) / 5

    assert not Path(b.env["CLAUDE_CONFIG_DIR"]).exists()
    restored = on_b.restore(session)
    assert restored is not None and restored.path == transcript(b, session) and not restored.replaced
    assert transcript(b, session).read_bytes() == lines
    assert transcript(b, session).stat().st_mode & 0o777 == 0o600
    [event] = restored_events(agent_run["id"])
    assert event["session_id"] == session and event["stored_by_host"] == "A" and event["bytes"] == len(lines)
    assert on_b.restore(session) is None, "already here: nothing to do"
    # restored before the sandbox is planned: B's config directory now exists, so the sandboxed CLI gets it bound
    mounts = sandbox.plan(b, get_settings(), team_dir=b.cwd.parent, tools_dir=None)
    assert Path(b.env["CLAUDE_CONFIG_DIR"]).resolve() in mounts.writable

    # B carried on; back on A the older copy is replaced, and a later state of it is kept.
    transcript(b, session).write_bytes(lines + b'{"type": "assistant", "on": "B"}\n')
    assert on_b.store(session) is True
    replaced = on_a.restore(session)
    assert replaced is not None and replaced.replaced and transcript(a, session).read_bytes().endswith(b'"B"}\n')
    transcript(a, session).write_bytes(transcript(a, session).read_bytes() + b'{"type": "user", "on": "A"}\n')
    assert on_a.restore(session) is None, "a continuation of the stored copy is newer: kept"
    assert transcript(a, session).read_bytes().endswith(b'"A"}\n')


def test_an_unknown_session_restores_nothing_and_a_superseded_attempt_stores_nothing(agent_run: dict,
                                                                                  tmp_path: Path) -> None:
    session = "11111111-2222-4333-8444-666666666666"
    a = host(tmp_path, "A")
    on_a = SessionTransfer(ClaudeBackend(), a, agent_run, 1, "A")
    assert on_a.restore(session) is None and not transcript(a, session).exists()
    assert on_a.store(session) is False, "no file: nothing to store"
    transcript(a, session).parent.mkdir(parents=True)
    transcript(a, session).write_text('{"type": "user"}\n')
    with db.transaction() as conn:
        conn.execute("UPDATE runs SET attempt = 2 WHERE id = %s", (agent_run["id"],))
    assert on_a.store(session) is False and stored(agent_run["agent_id"]) == []
    assert SessionTransfer(ClaudeBackend(), a, agent_run, 2, "A").store(session) is True


def test_a_stored_name_never_leaves_its_place(tmp_path: Path) -> None:
    place = TranscriptPlace(tmp_path / "sessions", "**/rollout-*-abc.jsonl")
    assert session_transfer.target_of(place, "2026/12/03/rollout-2026-abc.jsonl") == (
        tmp_path / "sessions" / "2026" / "12" / "03" / "rollout-2026-abc.jsonl")
    for bad in ("../rollout-x-abc.jsonl", "/etc/rollout-x-abc.jsonl", "2026/other.jsonl", ""):
        assert session_transfer.target_of(place, bad) is None, bad


# --------------------------------------------------------------------------------------------- end to end


def _user_and_assistant_text(body: dict[str, Any]) -> tuple[str, str]:
    """The text a request carries from the user and from the assistant (Messages `messages`, Responses `input`)."""
    said: dict[str, list[str]] = {"user": [], "assistant": []}
    for item in body.get("messages") or body.get("input") or []:
        if isinstance(item, dict) and item.get("role") in said:
            said[item["role"]].append(json.dumps(item.get("content")))
    return "\n".join(said["user"]), "\n".join(said["assistant"])


@contextlib.contextmanager
def host_env(stack: Stack, base: Path, backend: str) -> Iterator[dict[str, str]]:
    """A worker's environment as on a host of its own: its GAMMA_HOME and an empty CLI state directory."""
    base.mkdir(parents=True)
    env = {"GAMMA_HOME": str(base / "home")}
    if backend == "claude":
        (base / "claude").mkdir()
        yield {**env, "CLAUDE_CONFIG_DIR": str(base / "claude"), "HOME": str(base / "claude")}
    else:
        with scratch_codex_home() as codex_dir:  # outside the temp directories, as codex wants
            yield {**env, **codex_home(stack.double.url, codex_dir)}


def _requests(stack: Stack, backend: str) -> list[Any]:
    return stack.double.messages_requests() if backend == "claude" else stack.double.responses_requests()


@pytest.mark.cli
@pytest.mark.parametrize("backend", ["claude", "codex"])
def test_a_run_on_another_host_resumes_its_session_with_its_context(stack: Stack, tmp_path: Path,
                                                                     backend: str) -> None:
    team = stack.create_team(backend=backend)
    lead = next(m for m in team["members"] if m["is_lead"])
    with host_env(stack, tmp_path / "A", backend) as on_a, host_env(stack, tmp_path / "B", backend) as on_b:
        with stack.worker(on_a, threads=1):
            first = stack.wait_run(stack.say(team["id"], "[[brain:echo text=ANSWER-ON-A]] remember: pelican"))
        assert (first["state"], first["outcome"]) == ("succeeded", "success"), first["error"]
        asked_before = len(_requests(stack, backend))

        with stack.worker(on_b, threads=1):  # another host: its GAMMA_HOME, an empty CLI state directory
            second = stack.wait_run(stack.say(team["id"], "[[brain:echo text=ANSWER-ON-B]] what was the word?"))
        assert (second["state"], second["outcome"], second["attempt"]) == ("succeeded", "success", 1), second
        assert second["session_id"] == first["session_id"] and second["session_note"] is None
        restored = stack.wait_event(team["id"], "run.session_restored", run_id=second["id"])["payload"]
        assert restored["session_id"] == first["session_id"] and not restored["replaced"]
        state_dir = on_b["CLAUDE_CONFIG_DIR" if backend == "claude" else "CODEX_HOME"]
        assert restored["path"].startswith(state_dir + "/"), restored  # where B's CLI looks for it
        started = stack.wait_event(team["id"], "run.started", run_id=second["id"])["payload"]
        assert started["resume_session"] == first["session_id"]
        assert started["sandboxed"] == sandbox_availability().usable  # where bubblewrap works, the CLI ran in it
        users, assistant = _user_and_assistant_text(_requests(stack, backend)[-1].body)
        assert len(_requests(stack, backend)) > asked_before
        assert "pelican" in users and "ANSWER-ON-A" in assistant, "the CLI on B had the conversation from A"

        with stack.worker(on_a, threads=1):  # back on A, whose copy is older than B's
            third = stack.wait_run(stack.say(team["id"], "[[brain:echo text=ANSWER-AGAIN-ON-A]] and now?"))
        assert (third["state"], third["session_id"]) == ("succeeded", first["session_id"]), third
        again = stack.wait_event(team["id"], "run.session_restored", run_id=third["id"])["payload"]
        assert again["replaced"] and again["stored_by_host"] == restored["host"]
        _, assistant = _user_and_assistant_text(_requests(stack, backend)[-1].body)
        assert "ANSWER-ON-A" in assistant and "ANSWER-ON-B" in assistant, "A resumed with what B added"
    with db.transaction() as conn:
        rows = conn.execute("SELECT session_id, backend, run_id FROM session_transcripts WHERE agent_id = %s",
                            (lead["id"],)).fetchall()
    assert rows == [{"session_id": first["session_id"], "backend": backend, "run_id": third["id"]}]


@pytest.mark.cli
def test_without_a_stored_transcript_a_run_on_another_host_starts_fresh_and_says_so(stack: Stack,
                                                                                   tmp_path: Path) -> None:
    team = stack.create_team()
    lead = next(m for m in team["members"] if m["is_lead"])
    with host_env(stack, tmp_path / "A", "claude") as on_a, host_env(stack, tmp_path / "B", "claude") as on_b:
        with stack.worker(on_a, threads=1):
            first = stack.wait_run(stack.say(team["id"], "[[brain:echo]] one"))
        assert first["state"] == "succeeded", first["error"]
        with db.transaction() as conn:  # as if it had never been stored (a worker from before this feature)
            assert conn.execute("DELETE FROM session_transcripts WHERE agent_id = %s", (lead["id"],)).rowcount == 1
        with stack.worker(on_b, threads=1):
            second = stack.wait_run(stack.say(team["id"], "[[brain:echo]] two"))
    assert (second["state"], second["attempt"]) == ("succeeded", 2), second
    assert first["session_id"] in second["session_note"] and "could not be resumed" in second["session_note"]
    assert second["session_id"] and second["session_id"] != first["session_id"]
    requeued = stack.wait_event(team["id"], "run.requeued", run_id=second["id"])
    assert requeued["payload"]["outcome"] == "unknown_session"
    kinds = [e["kind"] for e in stack.events(team["id"], run_id=second["id"])]
    assert "run.session_restored" not in kinds
