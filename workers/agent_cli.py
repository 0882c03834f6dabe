"""gamma-agent — how an agent talks to Gamma from its shell (a thin client of the agent API, /agent/v1).

The commands (`gamma-agent --help` lists them) are defined once, in shared/agent_commands.py, which also
generates CLAUDE.md's commands section, the prompts' hints and the README's block; this module only adds what
each command does (HANDLERS).

`plan` takes a JSON list of tasks ({"title", "assignee", "description", "kind", "priority"}), or {"tasks": [...]},
from FILE or from stdin (`-`). A text value given as `-` (TEXT, --summary, --description, --reason, --message,
--blocker) is read from stdin. TEXT may also be several words without quotes.

Environment: GAMMA_API_URL and GAMMA_AGENT_TOKEN, set by Gamma in every agent run (and GAMMA_AGENT_RETRY_SECONDS,
how long a refused connection or a 502/503/504 is retried; a bad value is a usage error naming it).

Idempotency: an action (task create, plan, task done/fail/update/cancel/review/block, msg send, msg broadcast,
status, done) carries an `Idempotency-Key` derived from GAMMA_RUN_ID (set in every run) and a hash of the request
— the command with its arguments, values read from stdin included. Running the exact same command again in the
same run (a retry after a lost answer, or a resumed attempt repeating itself) does nothing again: the server
answers with the first result, and this command says so on stderr. To really do something twice, say it
differently. Without GAMMA_RUN_ID no key is sent and every call is performed.
Output: the API's JSON answer on stdout. Exit status: 0 done; 1 the API refused (its message on stderr) or could
not be reached for a minute (connection errors and 502/503/504 are retried with backoff, said on stderr); 2 a
usage error (what was wrong on stderr).

Only the standard library is used, so the command starts fast.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

_DEFINITION_NAME = "gamma_agent_commands"


def _load_definition() -> ModuleType:
    """The command definition, shared/agent_commands.py (standard library only), loaded from its file.

    Importing it as `shared.agent_commands` would import the `shared` package, the server side's (settings,
    database); gamma-agent keeps to the standard library so it starts fast (tests/test_agent_cli.py checks). In a
    process that has imported it already (the server, the tests), that module is used."""
    loaded = sys.modules.get("shared.agent_commands") or sys.modules.get(_DEFINITION_NAME)
    if loaded is not None:
        return loaded
    path = Path(__file__).resolve().parent.parent / "shared" / "agent_commands.py"
    spec = importlib.util.spec_from_file_location(_DEFINITION_NAME, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[_DEFINITION_NAME] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


definition = _load_definition()

PROG = definition.PROG
API_PREFIX = "/agent/v1"
TIMEOUT_SECONDS = 60
# Connection errors and 502/503/504 are retried this long (a web restart takes seconds); the worker passes
# GAMMA_AGENT_RETRY_SECONDS from its settings. This command runs in the agent's environment, without Gamma's
# settings, so it reads that one variable itself — within the same bounds as the settings' (tests/test_settings.py).
RETRY_VARIABLE = "GAMMA_AGENT_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 60.0
MAX_RETRY_SECONDS = 3600.0
RETRIED_STATUSES = (502, 503, 504)
FIRST_RETRY_DELAY = 0.25
MAX_RETRY_DELAY = 8.0
TASK_KINDS = definition.TASK_KINDS
STATUSES = definition.STATUSES
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


class UsageError(Exception):
    """Bad command line (exit 2)."""


class ApiFailure(Exception):
    """The API refused or could not be reached (exit 1)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}\nusage: {self.format_usage().removeprefix('usage: ').strip()}")


# ---------------------------------------------------------------------------------------------------- transport


def _env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise UsageError(f"{name} is not set: gamma-agent works inside a Gamma agent run, which sets "
                         "GAMMA_API_URL and GAMMA_AGENT_TOKEN")
    return value


def idempotency_key(method: str, path: str, body: dict[str, Any] | None) -> str | None:
    """The run's id and a hash of the request: the same command with the same arguments in the same run (any
    attempt) has the same key. None outside a run (no GAMMA_RUN_ID)."""
    run_id = os.environ.get("GAMMA_RUN_ID", "").strip()
    if not run_id:
        return None
    request = json.dumps([method, path, body], sort_keys=True, ensure_ascii=False)
    return f"{run_id}.{hashlib.sha256(request.encode()).hexdigest()[:48]}"


def act(method: str, path: str, body: dict[str, Any]) -> Any:
    """An action: performed once per run for the same command and arguments (see the module docstring)."""
    return call(method, path, body, key=idempotency_key(method, path, body))


def call(method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, Any] | None = None, *,
         key: str | None = None) -> Any:
    base = _env("GAMMA_API_URL").rstrip("/")
    token = _env("GAMMA_AGENT_TOKEN")
    query = {k: v for k, v in (params or {}).items() if v not in (None, False, "")}
    url = f"{base}{API_PREFIX}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Accept": "application/json",
        **({"Content-Type": "application/json"} if data is not None else {}),
        **({IDEMPOTENCY_HEADER: key} if key else {})})
    # Gamma's API is local to the agent: never route it through an HTTP proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + _retry_seconds()
    delay = FIRST_RETRY_DELAY
    while True:
        try:
            with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                if response.headers.get(REPLAYED_HEADER) == "true":
                    print(f"{PROG}: this exact command already ran in this run: its first answer is shown and "
                          "nothing was done again", file=sys.stderr, flush=True)
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            if error.code not in RETRIED_STATUSES or time.monotonic() + delay > deadline:
                raise ApiFailure(f"{error.code}: {_message(error)}") from None
            why = f"Gamma answered {error.code}"
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            if time.monotonic() + delay > deadline:
                raise ApiFailure(f"cannot reach Gamma at {base}: {reason}") from None
            why = f"cannot reach Gamma at {base} ({reason})"
        # The web may be restarting; every action is safe to repeat (the server keeps them idempotent).
        print(f"{PROG}: {why}; retrying in {delay:.1f} s", file=sys.stderr, flush=True)
        time.sleep(delay)
        delay = min(delay * 2, MAX_RETRY_DELAY)


def _retry_seconds() -> float:
    raw = os.environ.get(RETRY_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_RETRY_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_RETRY_SECONDS:  # NaN fails this too
        raise UsageError(f"{RETRY_VARIABLE} must be a number of seconds from 0 to {MAX_RETRY_SECONDS:g} "
                         f"(got {raw!r})")
    return seconds


def _message(error: urllib.error.HTTPError) -> str:
    raw = error.read().decode("utf-8", "replace")
    try:
        return str(json.loads(raw).get("message") or raw)
    except (ValueError, AttributeError):
        return raw.strip() or error.reason


# ------------------------------------------------------------------------------------------------------ inputs


class Stdin:
    """`-` means "read this value from stdin" — allowed once per command."""

    def __init__(self) -> None:
        self.used = False

    def text(self, value: str | None) -> str | None:
        if value != "-":
            return value
        if self.used:
            raise UsageError("only one value can be read from stdin ('-')")
        self.used = True
        return sys.stdin.read().strip()


def _words(words: Sequence[str], stdin: Stdin) -> str:
    text = stdin.text(" ".join(words)) or ""
    if not text.strip():
        raise UsageError("the text is empty")
    return text


def _comma_list(value: str | None) -> list[str] | None:
    """`a, b,c` → ["a", "b", "c"] (files, dependency ids); None when not given."""
    return [f.strip() for f in value.split(",") if f.strip()] if value else None


def _plan(source: str, stdin: Stdin) -> dict[str, Any]:
    try:
        raw = stdin.text("-") if source == "-" else open(source, encoding="utf-8").read()  # noqa: SIM115
    except OSError as error:
        raise UsageError(f"cannot read plan file {source}: {error.strerror}") from None
    try:
        data = json.loads(raw or "")
    except ValueError as error:
        raise UsageError(f"the plan is not valid JSON: {error}") from None
    tasks = data.get("tasks") if isinstance(data, dict) else data
    if not isinstance(tasks, list) or not tasks:
        raise UsageError('the plan must be a non-empty JSON list of tasks (or {"tasks": [...]})')
    return {"tasks": tasks}


# ---------------------------------------------------------------------------------------------------- commands


def _present(**fields: Any) -> dict[str, Any]:
    """The body fields that were given (an absent option is left out, not sent as null)."""
    return {k: v for k, v in fields.items() if v is not None}


def _task_body(args: argparse.Namespace, stdin: Stdin) -> dict[str, Any]:
    return _present(title=args.title, assignee=args.assignee, description=stdin.text(args.description),
                    kind=args.kind, priority=args.priority, depends_on=_comma_list(args.depends_on))


def _status(task_id: str, status: str, **fields: Any) -> Any:
    return act("POST", f"/tasks/{_quote(task_id)}/status", {"status": status, **_present(**fields)})


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


HANDLERS: dict[str, Callable[[argparse.Namespace, Stdin], Any]] = {
    "whoami": lambda a, s: call("GET", "/me"),
    "task create": lambda a, s: act("POST", "/tasks", _task_body(a, s)),
    "plan": lambda a, s: act("POST", "/plan", _plan(a.file, s)),
    "task done": lambda a, s: _status(a.task_id, "done", summary=s.text(a.summary), files=_comma_list(a.files)),
    "task fail": lambda a, s: _status(a.task_id, "failed", reason=s.text(a.reason)),
    "task update": lambda a, s: _status(a.task_id, a.status, summary=s.text(a.summary), reason=s.text(a.reason),
                                        message=s.text(a.message), files=_comma_list(a.files)),
    "task review": lambda a, s: act("POST", f"/tasks/{_quote(a.task_id)}/review", _present(
        message=s.text(a.message), summary=s.text(a.summary), files=_comma_list(a.files))),
    "task block": lambda a, s: act("POST", f"/tasks/{_quote(a.task_id)}/block", {"reason": s.text(a.reason)}),
    "task assign": lambda a, s: call("POST", f"/tasks/{_quote(a.task_id)}/assign", {"assignee": a.name}),
    "task cancel": lambda a, s: _status(a.task_id, "cancelled", reason=s.text(a.reason)),
    "task get": lambda a, s: call("GET", f"/tasks/{_quote(a.task_id)}"),
    "task diff": lambda a, s: call("GET", f"/tasks/{_quote(a.task_id)}/diff",
                                   params={"stat": "true" if a.stat else None}),
    "tasks": lambda a, s: call("GET", "/tasks", params={"mine": "true" if a.mine else None, "status": a.status,
                                                        "assignee": a.assignee}),
    "msg send": lambda a, s: act("POST", "/messages", {"to": a.name, "message": _words(a.text, s),
                                                       **({"ask": True} if a.ask else {})}),
    "msg read": lambda a, s: call("POST", "/inbox/read", {"limit": a.limit}),
    "msg broadcast": lambda a, s: act("POST", "/broadcast", {"message": _words(a.text, s)}),
    "team": lambda a, s: call("GET", "/team"),
    "teammates": lambda a, s: call("GET", "/team"),
    "context": lambda a, s: call("GET", "/context"),
    "status": lambda a, s: act("POST", "/status", {k: v for k, v in {
        "status": _words(a.text, s), "blocker": s.text(a.blocker), "task_id": a.task}.items() if v is not None}),
    "done": lambda a, s: act("POST", "/goal-done", {"summary": s.text(a.summary)}),
}


def build_parser() -> Parser:
    return definition.build_parser(  # type: ignore[return-value]
        Parser, description="Talk to Gamma from an agent run (prints JSON).",
        epilog="A text value '-' is read from stdin. Exit: 0 ok, 1 API error, 2 usage error.")


def run(argv: Sequence[str]) -> Any:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        raise UsageError(f"a command is required\n{parser.format_help()}")
    key = definition.parsed_key(args)
    if key not in HANDLERS:
        raise UsageError(f"'{PROG} {args.command}' needs an action; see '{PROG} {args.command} --help'")
    if key in REPORTS:
        _send_work()
    return HANDLERS[key](args, Stdin())


# A report is judged on the work as it is: on another host than the web's, the run's commits go there first.
REPORTS = frozenset({"task done", "task update", "task review"})


def _send_work() -> None:
    url, branch = os.environ.get("GAMMA_GIT_URL"), os.environ.get("GAMMA_GIT_BRANCH")
    if not url or not branch:
        return  # on the web's host (the web sees the worktree itself), or a run that writes no branch
    # Imported here: only a run on another host needs git and the repository code, and every call pays imports.
    from shared.git import GitError  # noqa: PLC0415
    from workers.repo_sync import send_from_agent  # noqa: PLC0415

    author = (os.environ.get("GIT_AUTHOR_NAME") or "agent", os.environ.get("GIT_AUTHOR_EMAIL") or "agent@gamma")
    try:
        send_from_agent(url=url, branch=branch, worktree=Path(_env("GAMMA_PROJECT_DIR")),
                        token=_env("GAMMA_AGENT_TOKEN"), run_id=_env("GAMMA_RUN_ID"), author=author)
    except GitError as error:
        raise ApiFailure(f"could not send your work to Gamma before the report ({error}); try again") from None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        result = run(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    except ApiFailure as error:
        print(f"{PROG}: error {error}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
