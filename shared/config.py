"""Gamma configuration: environment variables and an optional `.env` file.

Every setting has a default that works on a laptop. Invalid values are refused at start with a message
that names the variable (see `load_settings`).
"""

from __future__ import annotations

import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.backends import BACKEND_NAMES
from shared.worker_labels import parse as parse_worker_labels


class ConfigError(SystemExit):
    """Raised (as a clean exit with a message) when the configuration is invalid."""


MIN_API_TOKEN_LENGTH = 32
MAKE_A_TOKEN = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_HOST_PORT = re.compile(r"(?P<name>[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?")
SECRET_FIELDS = frozenset({"api_token"})  # never echoed back in a configuration error


def split_host_port(value: str) -> tuple[str, int | None] | None:
    """`name`, `name:port`, `[v6]`, `[v6]:port` (case-insensitive) → (name, port or None); None if malformed.

    A bare IPv6 address is put in brackets, as it appears in a Host header."""
    value = value.strip().lower()
    try:
        if ipaddress.ip_address(value).version == 6:
            value = f"[{value}]"
    except ValueError:
        pass
    match = _HOST_PORT.fullmatch(value)
    if match is None:
        return None
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 1 <= port <= 65535:
        return None
    return match["name"], port


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True,
        hide_input_in_errors=True,  # a bad GAMMA_API_TOKEN must not be echoed (describe_validation_error too)
    )

    database_url: str | None = Field(
        default=None,
        alias="DATABASE_URL",
        description="PostgreSQL URL. Unset: an embedded server under $GAMMA_HOME/pg.",
    )
    home: Path = Field(
        default=Path("~/.gamma"), alias="GAMMA_HOME", description="Where Gamma keeps data and workspaces."
    )
    host: str = Field(default="127.0.0.1", alias="GAMMA_HOST", description="Address the web binds to.")
    port: int = Field(default=8700, alias="GAMMA_PORT", ge=1, le=65535, description="Web port.")
    api_token: str | None = Field(
        default=None,
        alias="GAMMA_API_TOKEN",
        description="Required on every API/WebSocket request; mandatory when GAMMA_HOST is not loopback.",
    )
    allowed_hosts: str = Field(
        default="",
        alias="GAMMA_ALLOWED_HOSTS",
        description="Extra Host names the web answers to (comma-separated `name` or `name:port`).",
    )
    ws_max_per_process: int = Field(default=300, alias="GAMMA_WS_MAX_PER_PROCESS", ge=1, le=10_000)
    ws_max_per_client: int = Field(default=50, alias="GAMMA_WS_MAX_PER_CLIENT", ge=1, le=10_000)
    ws_max_pending: int = Field(
        default=10_000, alias="GAMMA_WS_MAX_PENDING", ge=1, le=10_000_000,
        description="Undelivered events a WebSocket subscriber may hold before it is closed (1013).",
    )
    ws_heartbeat: float = Field(
        default=15.0, alias="GAMMA_WS_HEARTBEAT", gt=0, le=3600,
        description="Seconds of silence on an event stream before a heartbeat frame.",
    )
    ws_send_timeout: float = Field(
        default=20.0, alias="GAMMA_WS_SEND_TIMEOUT", gt=0, le=3600,
        description="Seconds a WebSocket client may accept no bytes before it is cut off.",
    )
    db_pool_size: int = Field(
        default=16, alias="GAMMA_DB_POOL_SIZE", ge=1, le=1000,
        description="Most pooled database connections per process.",
    )
    api_url: str | None = Field(
        default=None,
        alias="GAMMA_API_URL",
        description="URL agents use to reach the web (default http://<host>:<port>).",
    )
    web_workers: int = Field(
        default=1, alias="GAMMA_WEB_WORKERS", ge=1, le=64,
        description="gunicorn worker processes (each with GAMMA_WEB_THREADS threads); one serves a laptop.",
    )
    web_threads: int = Field(default=400, alias="GAMMA_WEB_THREADS", ge=4, le=2000)
    worker_processes: int = Field(default=1, alias="GAMMA_WORKER_PROCESSES", ge=1, le=64)
    worker_threads: int = Field(default=8, alias="GAMMA_WORKER_THREADS", ge=1, le=512)
    worker_labels: str = Field(
        default="", alias="GAMMA_WORKER_LABELS",
        description="What this worker host offers (comma-separated, at most 4, e.g. gpu,licence): it also takes "
                    "the runs of teams and agents pinned to those labels.",
    )
    backend: str = Field(default="claude", alias="GAMMA_BACKEND", description="Default backend for new agents.")
    claude_bin: str = Field(default="claude", alias="GAMMA_CLAUDE_BIN", description="Path or name of `claude`.")
    codex_bin: str = Field(default="codex", alias="GAMMA_CODEX_BIN", description="Path or name of `codex`.")
    allow_root_bypass: bool = Field(
        default=False,
        alias="GAMMA_ALLOW_ROOT_BYPASS",
        description="As root, set IS_SANDBOX=1 so the CLI accepts bypassPermissions (only in a sandbox!).",
    )
    permission_mode: Literal["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"] = Field(
        default="bypassPermissions", alias="GAMMA_PERMISSION_MODE"
    )
    model: str | None = Field(default=None, alias="GAMMA_MODEL", description="Default --model for agents.")
    max_turns: int = Field(default=200, alias="GAMMA_MAX_TURNS", ge=1, le=10_000)
    run_timeout: float = Field(default=3600.0, alias="GAMMA_RUN_TIMEOUT", gt=0, description="Seconds.")
    check_timeout: float = Field(default=1800.0, alias="GAMMA_CHECK_TIMEOUT", gt=0,
                                 description="Seconds a team's check command may run on a merged result.")
    lease_seconds: float = Field(default=30.0, alias="GAMMA_LEASE_SECONDS", ge=2, le=3600)
    reaper_interval: float = Field(default=5.0, alias="GAMMA_REAPER_INTERVAL", gt=0, le=300)
    session_checkpoint_seconds: float = Field(
        default=30.0, alias="GAMMA_SESSION_CHECKPOINT_SECONDS", ge=1, le=3600,
        description="While a CLI runs, how often its session transcript is stored if it changed (another host "
                    "resumes a run whose worker died from the last one).",
    )
    agent_retry_seconds: float = Field(
        default=60.0, alias="GAMMA_AGENT_RETRY_SECONDS", ge=0, le=3600,
        description="How long gamma-agent retries a refused connection or a 502/503/504 (a web restart).",
    )
    kill_grace: float = Field(default=5.0, alias="GAMMA_KILL_GRACE", ge=0, le=120)
    result_grace: float = Field(default=5.0, alias="GAMMA_RESULT_GRACE", ge=0, le=300)
    sandbox: Literal["auto", "bwrap", "off"] = Field(
        default="auto", alias="GAMMA_SANDBOX",
        description="Agent sandbox: bubblewrap when it works (auto), always (bwrap, else runs fail), or off.",
    )
    roles_path: str = Field(default="", alias="GAMMA_ROLES_PATH", description="Extra role dirs, ':'-separated.")
    # The demo backend's scripted agent (workers/demo_agent.py); the backend passes them in the agent's environment.
    demo_pace: float = Field(
        default=0.6, alias="GAMMA_DEMO_PACE", ge=0, le=60, description="Seconds between the demo agent's steps."
    )
    demo_bench_lines: int = Field(
        default=0, alias="GAMMA_DEMO_BENCH_LINES", ge=0, le=10_000_000,
        description="Above 0: the demo agent prints this many lines and makes no API calls (load benchmarks).",
    )
    demo_bench_rate: float = Field(
        default=50.0, alias="GAMMA_DEMO_BENCH_RATE", gt=0, le=1_000_000,
        description="Lines a second in the demo agent's bench mode.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", alias="GAMMA_LOG_LEVEL", description="The one log level of every Gamma process."
    )

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("backend", mode="after")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKEND_NAMES:
            raise ValueError(f"must be one of {', '.join(BACKEND_NAMES)}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("database_url", "api_token", "api_url", "model", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("api_token", mode="after")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < MIN_API_TOKEN_LENGTH:
            raise ValueError(f"must be at least {MIN_API_TOKEN_LENGTH} characters (got {len(value)}); make one "
                             f"with: {MAKE_A_TOKEN}")
        return value

    @field_validator("allowed_hosts", mode="after")
    @classmethod
    def _host_list(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        bad = [entry for entry in entries if split_host_port(entry) is None]
        if bad:
            raise ValueError(f"not a host name or name:port: {', '.join(repr(b) for b in bad)}")
        return ",".join(entries)

    @field_validator("worker_labels", mode="after")
    @classmethod
    def _label_list(cls, value: str) -> str:
        return ",".join(parse_worker_labels(value))  # the normalized spelling: sorted, no repeats

    @field_validator("database_url", mode="after")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "://" in value:
            if not value.startswith(("postgresql://", "postgres://")):
                raise ValueError("must be a PostgreSQL URL (postgresql://…) or a libpq key=value string")
        else:
            from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

            try:
                conninfo_to_dict(value)
            except Exception as error:
                raise ValueError(f"not a valid connection string: {error}") from None
        return value

    @property
    def binds_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def heartbeat_timeout(self) -> float:
        """Seconds an attempt's supervisor waits for its worker's heartbeat before it ends the attempt. A frozen
        worker's lease expires at least two thirds of a lease after its last renewal, so this is well before."""
        return max(2.0, self.lease_seconds / 3)

    @property
    def takeover_margin(self) -> float:
        """Seconds past a lease's expiry before the reaper gives the run to a new attempt: by then the old
        attempt's supervisor has ended every process of it, even when its worker is frozen."""
        return self.heartbeat_timeout + 2.0

    @property
    def allowed_host_entries(self) -> list[tuple[str, int | None]]:
        """GAMMA_ALLOWED_HOSTS as (name, port) pairs; a port of None allows any port."""
        return [entry for entry in map(split_host_port, self.allowed_hosts.split(",")) if entry is not None]

    @property
    def worker_label_list(self) -> list[str]:
        """GAMMA_WORKER_LABELS as a sorted list (empty: a worker that takes only unpinned runs)."""
        return self.worker_labels.split(",") if self.worker_labels else []

    @property
    def agent_api_url(self) -> str:
        if self.api_url:
            return self.api_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def workspaces_dir(self) -> Path:
        return self.home / "workspaces"

    @property
    def pg_data_dir(self) -> Path:
        return self.home / "pg"

    def extra_roles_dirs(self) -> list[Path]:
        return [Path(p).expanduser() for p in self.roles_path.split(os.pathsep) if p.strip()]


# Set by Gamma in the environment of every agent process (workers/backends/launch.py, workers/executor.py),
# not configured by the user: the agent's credentials and the markers that find every process of an attempt.
# (GAMMA_API_URL and GAMMA_AGENT_RETRY_SECONDS are passed on too, from the settings above.)
AGENT_RUN_ENV = {
    "GAMMA_AGENT_TOKEN": "the run's agent API token (valid while the run is running)",
    "GAMMA_RUN_ID": "the run",
    "GAMMA_RUN_ATTEMPT": "the attempt of the run",
    "GAMMA_WORKER_ID": "the worker process that runs the attempt",
    "GAMMA_PROJECT_DIR": "where the run works on the project: its task's worktree, else the main line",
    "GAMMA_GIT_URL": "on another host than the web's: the team's repository on the web (workers/repo_sync.py)",
    "GAMMA_GIT_BRANCH": "on another host than the web's: the branch the run writes, sent before a report",
}


def env_names() -> frozenset[str]:
    """Every variable the settings read, as the user spells it."""
    return frozenset(field.alias or name for name, field in Settings.model_fields.items())


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad variable, naming the variable as the user spells it."""
    fields = Settings.model_fields
    lines = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else "?"
        field = fields.get(name)
        env_name = field.alias if field and field.alias else name
        secret = name in SECRET_FIELDS or env_name in {Settings.model_fields[f].alias for f in SECRET_FIELDS}
        got = "" if secret else f" (got {item.get('input')!r})"
        lines.append(f"{env_name}: {item['msg']}{got}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
