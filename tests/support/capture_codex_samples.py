"""Capture `codex exec --json` output for tests/fixtures/codex-exec-json/:
`python -m tests.support.capture_codex_samples`.

Each scenario runs the pinned codex CLI (or $GAMMA_TEST_CODEX_BIN) through CodexBackend against the model double
and writes `NN-name.stdout.jsonl` (and `NN-name.stderr.txt` when codex wrote to stderr) with the scratch paths
rewritten to /home/dev/project, as the claude samples are. The parser test reads every file there.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import uuid
from pathlib import Path

from shared.config import Settings
from tests.model_double import ModelDouble
from tests.support.cli_run import REPO, run_context, run_spec
from tests.support.codex import codex_bin, codex_home
from workers.backends.codex import CodexBackend

OUT = REPO / "tests" / "fixtures" / "codex-exec-json"
GAMMA_AGENT = '#!/bin/sh\necho "{\\"tasks\\": [], \\"run\\": \\"$GAMMA_RUN_ID\\"}"\n'
_NOISE = re.compile(r"^\S+Z\s+(ERROR|WARN)\s+codex_core::session: failed to record rollout items.*\n?", re.M)


def scenarios(resets_at: int) -> list[tuple[str, str, str | None]]:
    """(name, prompt, resume: None | "previous" | "unknown")."""
    return [
        ("01-simple-success", "[[brain:echo text=pong]] ping", None),
        ("02-command-patch-reasoning", "[[brain:write_file path=notes.txt content=hello cmd='gamma-agent tasks']] go",
         None),
        ("03-resume-same-thread", "[[brain:echo text=two]] and again", "previous"),
        ("04-resume-unknown-thread", "[[brain:echo]] hello", "unknown"),
        ("05-error-401", "[[brain:error_401]] hi", None),
        ("06-error-429", "[[brain:error_429]] hi", None),
        ("07-error-529", "[[brain:error_529]] hi", None),
        ("08-usage-limit", f"[[brain:usage_limit resets_at={resets_at}]] hi", None),
        ("09-failed-command", "[[brain:write_file path=out.txt cmd='ls /nonexistent-dir']] go", None),
        ("10-long-command-polled", "[[brain:slow seconds=32]] wait", None),
        ("11-missing-credentials", "[[brain:echo]] hi", None),
    ]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    backend = CodexBackend(Settings(codex_bin=codex_bin()))
    with ModelDouble() as double, tempfile.TemporaryDirectory(dir="/var/tmp") as scratch:
        root = Path(scratch)
        workspace, tools = root / "project", root / "bin"
        workspace.mkdir()
        tools.mkdir()
        (tools / "gamma-agent").write_text(GAMMA_AGENT)
        (tools / "gamma-agent").chmod(0o755)
        env = codex_home(double.url, root / "codex-home")
        os.environ.update(env)
        previous = None
        for name, prompt, resume in scenarios(int(time.time()) + 7200):
            if name == "11-missing-credentials":
                os.environ.pop("CODEX_API_KEY", None)
            session = {"previous": previous, "unknown": str(uuid.uuid4()), None: None}[resume]
            ctx = run_context(prompt, workspace, tools, session_id=session)
            run = run_spec(backend.launch_spec(ctx), backend, timeout=120, resumed=session is not None)
            previous = run.summary.session_id or previous
            stdout = "".join(f"{line}\n" for line in run.lines)
            (OUT / f"{name}.stdout.jsonl").write_text(_scrub(stdout, root, double.url))
            stderr = _NOISE.sub("", run.stderr)
            if stderr.strip():
                (OUT / f"{name}.stderr.txt").write_text(_scrub(stderr, root, double.url))
            print(f"{name}: exit {run.exit_code}, {len(run.lines)} lines, outcome {run.outcome.outcome}")


def _scrub(text: str, root: Path, url: str) -> str:
    text = text.replace(str(root / "project"), "/home/dev/project").replace(str(root), "/home/dev")
    return text.replace(url, "http://127.0.0.1:8765")


if __name__ == "__main__":
    main()
