"""The one settings object (shared.config): every GAMMA_* variable of the code is in it (or set by Gamma for agent
runs) and in the README's table, and a bad value stops `gamma web` / `gamma worker` with the variable's name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import annotated_types
import pytest

from shared.config import AGENT_RUN_ENV, ConfigError, Settings, env_names, load_settings
from shared.process_env import PROCESS_ENV
from workers import agent_cli, demo_agent

REPO = Path(__file__).resolve().parents[1]
CODE_PACKAGES = ("shared", "web", "workers", "orchestrator")  # what Gamma runs; tests/ and bench/ are tools
GAMMA = Path(sys.executable).parent / "gamma"
_NAME = re.compile(r"\bGAMMA_[A-Z0-9_]*[A-Z0-9]\b")
_README_ROW = re.compile(r"^\| `(?P<name>[A-Z][A-Z0-9_]*)` \| (?P<default>[^|]*) \|", re.MULTILINE)
_DIRECT_READ = re.compile(r"""(?:environ(?:\.get)?\s*[(\[]|getenv\s*\()\s*["']GAMMA_""")
# GAMMA_* strings in the code that are not environment variables.
NOT_VARIABLES = {"GAMMA_SETTINGS": "the Flask app.config key holding the settings (web/app.py)"}
# The modules allowed to read GAMMA_* variables themselves: they run in the agent's environment, without Gamma's
# settings (see their docstrings); their bounds are checked against the settings' below.
OWN_READERS = {"workers/agent_cli.py", "workers/demo_agent.py"}
UNREACHABLE_DATABASE = "postgresql://gamma@127.0.0.1:1/gamma"  # a start that gets past the settings fails here


def _code_files() -> list[Path]:
    return sorted(path for package in CODE_PACKAGES for path in (REPO / package).rglob("*.py"))


def _names_in_code() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in _code_files():
        for name in _NAME.findall(path.read_text()):
            # GAMMA_TEST_*: read by the tests only (the code merely keeps them from agents)
            if name not in NOT_VARIABLES and not name.startswith("GAMMA_TEST_"):
                found.setdefault(name, []).append(str(path.relative_to(REPO)))
    return found


def _readme_table() -> dict[str, str]:
    section = (REPO / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return {match["name"]: match["default"].strip() for match in _README_ROW.finditer(section)}


def test_the_code_finds_gamma_variables_at_all() -> None:
    names = _names_in_code()  # guards the scan below against a broken pattern or path
    assert {"GAMMA_WS_HEARTBEAT", "GAMMA_RUN_ID", "GAMMA_DB_POOL_SIZE"} <= set(names)


def test_every_gamma_variable_of_the_code_is_a_setting_or_set_by_gamma_for_agent_runs() -> None:
    known = env_names() | set(AGENT_RUN_ENV) | set(PROCESS_ENV)
    unknown = {name: files for name, files in _names_in_code().items() if name not in known}
    assert unknown == {}, ("add these to shared.config.Settings (or AGENT_RUN_ENV if Gamma sets them for agents, "
                           "PROCESS_ENV if it sets them between its own processes)")


def test_every_variable_is_in_the_readme_table() -> None:
    table = _readme_table()
    missing = sorted((env_names() | set(AGENT_RUN_ENV) | set(PROCESS_ENV) | set(_names_in_code())) - set(table))
    assert missing == [], "add these to the Configuration table in README.md"
    stale = sorted(set(table) - env_names() - set(AGENT_RUN_ENV) - set(PROCESS_ENV))
    assert stale == [], "the README lists variables nothing reads"


def _readme_default(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_the_readme_states_each_default() -> None:
    table = _readme_table()
    wrong = {}
    for field in Settings.model_fields.values():
        if field.default in (None, ""):  # described in words: *(unset)*, *(empty)*, http://<host>:<port>
            continue
        expected = f"`{_readme_default(field.default)}`"
        if table.get(field.alias) != expected:
            wrong[field.alias] = (table.get(field.alias), expected)
    assert wrong == {}


@pytest.mark.parametrize("line", ['float(os.environ.get("GAMMA_WS_HEARTBEAT", "15"))', "os.environ['GAMMA_X']",
                                  'os.getenv("GAMMA_X")', 'environ.get( "GAMMA_X")'])
def test_the_direct_read_pattern_sees_direct_reads(line: str) -> None:
    assert _DIRECT_READ.search(line)


def test_no_module_reads_a_gamma_variable_itself() -> None:
    readers = {str(path.relative_to(REPO)) for path in _code_files() if _DIRECT_READ.search(path.read_text())}
    assert readers <= OWN_READERS


def test_gamma_agent_bounds_match_the_settings() -> None:
    field = Settings.model_fields["agent_retry_seconds"]
    bounds = {type(item): item for item in field.metadata}
    assert field.alias == agent_cli.RETRY_VARIABLE
    assert field.default == agent_cli.DEFAULT_RETRY_SECONDS
    assert bounds[annotated_types.Ge].ge == 0
    assert bounds[annotated_types.Le].le == agent_cli.MAX_RETRY_SECONDS


@pytest.mark.parametrize("reader", [demo_agent.PACE, demo_agent.BENCH_LINES, demo_agent.BENCH_RATE])
def test_demo_agent_bounds_match_the_settings(reader: tuple) -> None:
    name, kind, default, low, high, low_allowed = reader
    field = next(field for field in Settings.model_fields.values() if field.alias == name)
    bounds = {type(item): item for item in field.metadata}
    assert field.annotation is kind and field.default == default
    assert bounds[annotated_types.Le].le == high
    if low_allowed:
        assert bounds[annotated_types.Ge].ge == low
    else:
        assert bounds[annotated_types.Gt].gt == low


@pytest.mark.slow  # a subprocess (conftest.py: real processes are slow)
@pytest.mark.parametrize(("name", "value", "message"), [
    ("GAMMA_DEMO_PACE", "slow", "GAMMA_DEMO_PACE must be a number from 0 to 60 (got 'slow')"),
    ("GAMMA_DEMO_BENCH_LINES", "-3", "GAMMA_DEMO_BENCH_LINES must be an integer from 0 to 10000000 (got '-3')"),
    ("GAMMA_DEMO_BENCH_RATE", "0", "GAMMA_DEMO_BENCH_RATE must be a number greater than 0 and at most 1000000"),
])
def test_demo_agent_names_a_bad_value(tmp_path: Path, name: str, value: str, message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "workers.demo_agent"], cwd=REPO, input="",
                          env=_clean_env(tmp_path, **{name: value}), capture_output=True, text=True, check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"demo agent: {message}")


@pytest.mark.parametrize(("name", "value", "says"), [
    ("GAMMA_WS_HEARTBEAT", "abc", "valid number"),
    ("GAMMA_WS_HEARTBEAT", "0", "greater than 0"),
    ("GAMMA_WS_SEND_TIMEOUT", "-1", "greater than 0"),
    ("GAMMA_WS_MAX_PENDING", "0", "greater than or equal to 1"),
    ("GAMMA_DB_POOL_SIZE", "0", "greater than or equal to 1"),
    ("GAMMA_DB_POOL_SIZE", "many", "valid integer"),
    ("GAMMA_DEMO_PACE", "-0.5", "greater than or equal to 0"),
    ("GAMMA_DEMO_BENCH_LINES", "1.5", "valid integer"),
    ("GAMMA_DEMO_BENCH_RATE", "0", "greater than 0"),
    ("GAMMA_LOG_LEVEL", "LOUD", "DEBUG"),
])
def test_a_bad_value_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str,
                                                    value: str, says: str) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert f"{name}: " in str(refused.value) and says in str(refused.value)


def test_new_settings_read_their_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in {"GAMMA_WS_HEARTBEAT": "2.5", "GAMMA_WS_SEND_TIMEOUT": "7", "GAMMA_WS_MAX_PENDING": "200",
                        "GAMMA_DB_POOL_SIZE": "4", "GAMMA_DEMO_PACE": "0", "GAMMA_DEMO_BENCH_LINES": "40",
                        "GAMMA_DEMO_BENCH_RATE": "400", "GAMMA_LOG_LEVEL": "debug"}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert (settings.ws_heartbeat, settings.ws_send_timeout, settings.ws_max_pending) == (2.5, 7.0, 200)
    assert (settings.db_pool_size, settings.demo_pace, settings.demo_bench_lines, settings.demo_bench_rate) == \
        (4, 0.0, 40, 400.0)
    assert settings.log_level == "DEBUG"


# ------------------------------------------------------------------------------- real processes


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This environment without the developer's Gamma configuration, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMMA_") and k != "DATABASE_URL"}
    return {**env, "GAMMA_HOME": str(tmp_path / "home"), "DATABASE_URL": UNREACHABLE_DATABASE, **extra}


def _gamma(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # cwd: a directory without a .env. Should a bad value pass, the start fails at the unreachable database.
    return subprocess.run([str(GAMMA), *args], cwd=tmp_path, env=_clean_env(tmp_path, **env), capture_output=True,
                          text=True, check=False)


@pytest.mark.slow  # a subprocess (conftest.py: real processes are slow)
@pytest.mark.parametrize(("command", "name", "value"), [
    ("web", "GAMMA_WS_HEARTBEAT", "abc"),
    ("web", "GAMMA_WS_SEND_TIMEOUT", "0"),
    ("web", "GAMMA_WS_MAX_PENDING", "-5"),
    ("web", "GAMMA_DB_POOL_SIZE", "0"),
    ("worker", "GAMMA_DB_POOL_SIZE", "0"),
    ("worker", "GAMMA_DEMO_BENCH_RATE", "fast"),
    ("worker", "GAMMA_LOG_LEVEL", "LOUD"),
])
def test_gamma_start_stops_at_a_bad_value_naming_it(tmp_path: Path, command: str, name: str, value: str) -> None:
    done = _gamma(tmp_path, command, **{name: value})
    assert done.returncode == 2, done.stderr
    assert "invalid configuration" in done.stderr and f"{name}: " in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow  # a subprocess (conftest.py: real processes are slow)
@pytest.mark.parametrize("command", ["web", "worker"])
def test_gamma_start_gets_past_the_settings_with_good_values(tmp_path: Path, command: str) -> None:
    """The counterpart of the test above: the same start with good values reaches the (unreachable) database."""
    done = _gamma(tmp_path, command, GAMMA_WS_HEARTBEAT="3", GAMMA_DB_POOL_SIZE="2", GAMMA_LOG_LEVEL="warning")
    assert done.returncode != 0
    assert "invalid configuration" not in done.stderr
    assert '"127.0.0.1", port 1 failed' in done.stderr  # the database it could not reach


@pytest.mark.slow  # a subprocess (conftest.py: real processes are slow)
@pytest.mark.parametrize(("level", "expected"), [(None, "INFO"), ("debug", "DEBUG"), ("ERROR", "ERROR")])
def test_one_log_level_with_one_default(tmp_path: Path, level: str | None, expected: str) -> None:
    code = ("import logging; from shared.logging import configure_logging; configure_logging(); "
            "print(logging.getLevelName(logging.getLogger().level))")
    env = _clean_env(tmp_path, **({"GAMMA_LOG_LEVEL": level} if level else {}), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == expected


@pytest.mark.slow  # a subprocess (conftest.py: real processes are slow)
@pytest.mark.parametrize("value", ["abc", "-1", "nan", "7200"])
def test_gamma_agent_names_a_bad_retry_value(tmp_path: Path, value: str) -> None:
    env = _clean_env(tmp_path, GAMMA_API_URL="http://127.0.0.1:1", GAMMA_AGENT_TOKEN="token",
                     GAMMA_AGENT_RETRY_SECONDS=value)
    done = subprocess.run([sys.executable, str(REPO / "workers" / "agent_cli.py"), "whoami"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("gamma-agent: GAMMA_AGENT_RETRY_SECONDS must be a number of seconds")
    assert repr(value) in done.stderr
