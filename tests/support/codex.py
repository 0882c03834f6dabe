"""Running the real, pinned `codex` CLI against the model double's Responses API.

- `codex_bin()`: $GAMMA_TEST_CODEX_BIN, else the copy `make codex` installs into .tools/.
- `codex_home(url, directory)`: makes `directory` a CODEX_HOME whose config.toml points codex at the double (a
  custom `model_providers` entry with `wire_api = "responses"`, no retries) and returns the environment that
  uses it: CODEX_HOME, HOME and a dummy CODEX_API_KEY (the provider's key variable).
- `scratch_codex_home()`: a fresh directory for that, under .gamma-test/ of the checkout (or of ~/.cache when the
  checkout itself is under a temp directory) — not under /tmp: codex refuses to
  create its helper links (`codex-linux-sandbox`, which its workspace-write sandbox execs inside bubblewrap) in a
  temporary directory, and sandboxed commands then fail with "bwrap: execvp codex-linux-sandbox".
- fixture `codex_setup` (tests/support/codex_fixtures.py): one test's codex world, like `claude_setup`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.model_double import ModelDouble
from tests.support.cli_run import REPO, CliRun, pinned_bin, pinned_version, run_context, run_spec
from workers.backends.codex import CodexBackend
from workers.runtime_types import RunContext

PINNED_VERSION = pinned_version("codex")
API_KEY_ENV = "CODEX_API_KEY"
MODEL = "gpt-double"


def codex_bin() -> str:
    return pinned_bin("codex")


def _outside_temp_dirs(*candidates: Path) -> Path:
    """The first candidate that is not under /tmp or the temp directory: codex does not set up its sandbox helper
    for a CODEX_HOME there, and its sandboxed file edits then report success and write nothing (seen with 0.171.0
    from a checkout under /tmp)."""
    temps = {Path("/tmp").resolve(), Path(tempfile.gettempdir()).resolve()}
    for candidate in candidates:
        resolved = candidate.resolve()
        if not any(resolved == t or t in resolved.parents for t in temps):
            return candidate
    raise RuntimeError(f"no place outside the temp directories for a codex home among {candidates}")


@contextlib.contextmanager
def scratch_codex_home() -> Iterator[Path]:
    parent = _outside_temp_dirs(REPO, Path.home() / ".cache") / ".gamma-test" / "codex-homes"
    parent.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="home-", dir=parent))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def codex_home(url: str, directory: Path) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.toml").write_text(
        f'model = "{MODEL}"\n'
        'model_provider = "double"\n'
        'check_for_update_on_startup = false\n\n'
        "[model_providers.double]\n"
        'name = "Model double"\n'
        f'base_url = "{url}/v1"\n'
        f'env_key = "{API_KEY_ENV}"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )
    return {"CODEX_HOME": str(directory), "HOME": str(directory), API_KEY_ENV: "double-codex-key"}


@dataclass
class CodexSetup:
    double: ModelDouble
    backend: CodexBackend
    workspace: Path
    tools_bin_dir: Path
    home: Path
    monkeypatch: pytest.MonkeyPatch

    def context(self, prompt: str, **fields: object) -> RunContext:
        return run_context(prompt, self.workspace, self.tools_bin_dir, **fields)

    def run(self, prompt: str, *, timeout: float = 60, **fields: object) -> CliRun:
        ctx = self.context(prompt, **fields)
        return run_spec(self.backend.launch_spec(ctx), self.backend, timeout=timeout,
                        resumed=ctx.session_id is not None)
