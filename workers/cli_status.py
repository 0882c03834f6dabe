"""What `gamma doctor` and `GET /api/health` say about each agent CLI: found, version, inside the tested range,
logged in. Nothing here spends tokens (`--version` and the CLIs' local auth status only).

The tested range of a CLI runs from the version the test suite pins (`tests/<cli>-cli-version`, which `make test`
installs) to the newest version this Gamma was verified with (`NEWEST_VERIFIED` below, raised whenever
`make test-cli-latest` passes on a newer release). Those two are the only places the range is written.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workers.backend_registry import AGENT_CLIS, get_backend
from workers.runtime_types import AgentCli, LaunchError

PINS = Path(__file__).resolve().parent.parent / "tests"
NEWEST_VERIFIED = {"claude": "2.1.332", "codex": "0.171.0"}
CACHE_SECONDS = 60.0


def version_key(version: str) -> tuple[int, ...]:
    """"2.1.332" → (2, 1, 332); trailing text (a pre-release tag) is ignored."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-", 1)[0])[:3])


def tested_range(cli: str) -> tuple[str, str]:
    newest = NEWEST_VERIFIED[cli]
    pin = PINS / f"{cli}-cli-version"
    oldest = pin.read_text().strip() if pin.is_file() else newest
    return oldest, newest


@dataclass(frozen=True)
class CliStatus:
    backend: str
    found: bool
    path_or_error: str
    version: str | None
    tested_range: tuple[str, str]
    version_tested: bool | None  # None: the version is unknown
    logged_in: bool | None  # None: cannot be told
    auth: str

    @property
    def version_warning(self) -> str | None:
        if self.version_tested is not False:
            return None
        oldest, newest = self.tested_range
        return (f"{self.backend} {self.version} is outside the versions Gamma was tested with "
                f"({oldest} … {newest}); runs may misbehave")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tested_range": list(self.tested_range), "version_warning": self.version_warning}


def status_of(cli: str) -> CliStatus:
    backend: AgentCli = get_backend(cli)  # type: ignore[assignment] # AGENT_CLIS are real CLIs
    try:
        path, found = backend.binary(), True
    except LaunchError as error:
        path, found = error.message, False
    version = backend.version() if found else None
    oldest, newest = tested_range(cli)
    tested = None if version is None else version_key(oldest) <= version_key(version) <= version_key(newest)
    login = backend.login_status() if found else None
    return CliStatus(cli, found, path, version, (oldest, newest), tested,
                     login.logged_in if login else None, login.detail if login else "")


_cache: tuple[float, list[CliStatus]] | None = None
_lock = threading.Lock()


def statuses(max_age: float = CACHE_SECONDS) -> list[CliStatus]:
    """Every agent CLI's status, cached for `max_age` seconds (the health endpoint is polled)."""
    global _cache
    with _lock:
        if _cache is None or time.monotonic() - _cache[0] > max_age:
            _cache = (time.monotonic(), [status_of(cli) for cli in AGENT_CLIS])
        return _cache[1]


def main() -> None:
    """`python -m workers.cli_status`: this host's CLI facts as JSON (what `gamma doctor` shows)."""
    print(json.dumps([status.as_dict() for status in statuses()]))


if __name__ == "__main__":
    main()
