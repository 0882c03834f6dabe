"""gamma-agent — how an agent talks to Gamma from its shell (a thin client of the agent API, /agent/v1).

The commands (`gamma-agent --help` lists them) are defined once, in shared/agent_commands.py, which also
generates CLAUDE.md's commands section, the prompts' hints and the README's block; this module only adds what
each command does (HANDLERS).

`plan` takes a JSON list of tasks ({"title", "assignee", "description", "kind", "priority"}), or {"tasks": [...]},
from FILE or from stdin (`-`). A text value given as `-` (TEXT, --summary, --description, --reason, --message,
--blocker) is read from stdin. TEXT may also be several words without quotes.

Environment: GAMMA_API_URL and GAMMA_AGENT_TOKEN, set by Gamma in every agent run (and GAMMA_AGENT_RETRY_SECONDS,
how long a refused connection or a 502/503/504 is retried; a bad value is a usage error naming it, as is a
GAMMA_API_URL that is not http:// or https://). Each call is one HTTP/1.1 request (the standard library's
http.client) on a connection of its own, never through a proxy from the environment; a read follows redirections
(not to another scheme), an action is not sent elsewhere (a redirection is its error).

Idempotency: an action (task create, plan, task done/fail/update/cancel/review/block, msg send, msg broadcast,
status, done) carries an `Idempotency-Key` derived from GAMMA_RUN_ID (set in every run) and a hash of the request
— the command with its arguments, values read from stdin included. Running the exact same command again in the
same run (a retry after a lost answer, or a resumed attempt repeating itself) does nothing again: the server
answers with the first result, and this command says so on stderr. To really do something twice, say it
differently. Without GAMMA_RUN_ID no key is sent and every call is performed.
Output: the API's JSON answer on stdout. Exit status: 0 done; 1 the API refused (its message on stderr) or could
not be reached for a minute (connection errors and 502/503/504 are retried with backoff, said on stderr); 2 a
usage error (what was wrong on stderr).

Only the standard library is used, and only what a call needs is imported, so the command starts fast (within a
few times of `curl` making the same request: bench/agent_call.py). The shim on the agents' PATH
(workers/agent_tools.py) runs Python without `site` (-I -S): no site-packages, no .pth finders; http.client is
imported without ssl for an http:// GAMMA_API_URL (_http_client), and the parser is built for the one command
named. tests/test_agent_cli.py checks which modules a call imports.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse  # imported by http.client too

from shared import agent_commands as definition  # standard library only; `shared` itself is empty
from shared.lean_http import http_client as _http_client  # http.client, without ssl for an http:// API

TYPE_CHECKING = False  # `typing` would cost every call its import
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable, Sequence
    from http.client import HTTPMessage
    from types import ModuleType
    from typing import Any

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
DEFAULT_PORTS = {"http": 80, "https": 443}
# A GET is sent again where a redirection points (as urllib did), at most this many times.
REDIRECTIONS = (301, 302, 303, 307, 308)
MAX_REDIRECTIONS = 10


class UsageError(Exception):
    """Bad command line (exit 2)."""


class ApiFailure(Exception):
    """The API refused or could not be reached (exit 1)."""


class Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **{"formatter_class": Formatter, **options})

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}\nusage: {self.format_usage().removeprefix('usage: ').strip()}")


class Formatter(argparse.HelpFormatter):
    """argparse's help, at the width argparse finds, but without importing shutil (and with it zlib, bz2, lzma)
    for it on every call: argparse makes a formatter for each argument added."""

    def __init__(self, prog: str, **options: Any) -> None:
        super().__init__(prog, **{"width": _terminal_columns() - 2, **options})


def _terminal_columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else the width of the terminal on stdout, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


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
    import hashlib  # noqa: PLC0415 (an action's: a read need not load OpenSSL)

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
    try:
        scheme = _where(url)[0]
    except ValueError:
        raise UsageError(f"GAMMA_API_URL must be an http:// or https:// URL (got {base!r})") from None
    client = _http_client(scheme)
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
               **({"Content-Type": "application/json"} if data is not None else {}),
               **({IDEMPOTENCY_HEADER: key} if key else {})}
    deadline = time.monotonic() + _retry_seconds()
    delay = FIRST_RETRY_DELAY
    while True:
        try:
            status, reason, answer_headers, answer = _fetch(client, method, url, headers, data)
        except (OSError, client.HTTPException) as error:  # refused, reset, timed out; or a broken answer
            if time.monotonic() + delay > deadline:
                raise ApiFailure(f"cannot reach Gamma at {base}: {_failure(error)}") from None
            why = f"cannot reach Gamma at {base} ({_failure(error)})"
        else:
            if 200 <= status < 300:
                if answer_headers.get(REPLAYED_HEADER) == "true":
                    print(f"{PROG}: this exact command already ran in this run: its first answer is shown and "
                          "nothing was done again", file=sys.stderr, flush=True)
                return json.loads(answer or b"null")
            if status not in RETRIED_STATUSES or time.monotonic() + delay > deadline:
                raise ApiFailure(f"{status}: {_message(answer, reason)}")
            why = f"Gamma answered {status}"
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
        seconds = float("nan")
    if not 0 <= seconds <= MAX_RETRY_SECONDS:  # NaN fails this too
        raise UsageError(f"{RETRY_VARIABLE} must be a number of seconds from 0 to {MAX_RETRY_SECONDS:g} "
                         f"(got {raw!r})")
    return seconds


def _failure(error: Exception) -> str:
    """What went wrong, said of a connection error (OSError), or of an answer http.client could not read (its
    exception's str alone may be a bare line of the answer)."""
    return str(error) if isinstance(error, OSError) else f"a broken answer: {error!r}"


def _message(answer: bytes, reason: str) -> str:
    raw = answer.decode("utf-8", "replace")
    try:
        return str(json.loads(raw).get("message") or raw)
    except (ValueError, AttributeError):
        return raw.strip() or reason


# --------------------------------------------------------------------------------------------------------- HTTP
# The standard library's http.client: one request a connection, which is closed after its answer. Gamma's API is
# local to the agent: it is never asked through an HTTP proxy from the environment (http.client uses none).


def _where(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, request target) of an http:// or https:// URL; ValueError for any other, or one with
    no host or a bad port."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.port == 0:  # .port: ValueError if bad
        raise ValueError(f"not an http:// or https:// URL: {url}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The port always given: http.client would read the end of an IPv6 address without one (`::1`) as a port.
    return parts.scheme, parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme], target


def _fetch(client: ModuleType, method: str, url: str, headers: dict[str, str],
           data: bytes | None) -> tuple[int, str, HTTPMessage, bytes]:
    """(status, reason, headers, body) of the answer, a GET following redirections."""
    for _ in range(MAX_REDIRECTIONS):
        status, reason, answer_headers, answer = _exchange(client, method, url, headers, data)
        location = answer_headers.get("Location")
        if method != "GET" or status not in REDIRECTIONS or not location:
            break
        target = urllib.parse.urljoin(url, location)
        try:
            scheme = _where(target)[0]
        except ValueError:
            break  # a redirection out of HTTP is the answer
        if scheme != _where(url)[0]:  # the http.client of an http:// API may be without TLS (_http_client)
            raise ApiFailure(f"{status}: Gamma redirects {url} to {target}, which is not followed: set "
                             f"GAMMA_API_URL to Gamma's {scheme}:// URL")
        url = target
    return status, reason, answer_headers, answer


def _exchange(client: ModuleType, method: str, url: str, headers: dict[str, str],
              data: bytes | None) -> tuple[int, str, HTTPMessage, bytes]:
    scheme, host, port, target = _where(url)
    if scheme == "https":
        import ssl  # noqa: PLC0415 (imported by http.client already, for an https:// API)

        context = ssl.create_default_context()  # the system's certificates, checked
        context.set_alpn_protocols(["http/1.1"])
        connection = client.HTTPSConnection(host, port, timeout=TIMEOUT_SECONDS, context=context)
    else:
        connection = client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)
    connection._create_connection = _connect  # (the hook http.client connects with)
    try:  # http.client adds Host, Accept-Encoding: identity and Content-Length
        connection.request(method, target, body=data,
                           headers={"Connection": "close", "User-Agent": PROG, **headers})
        answer = connection.getresponse()
        return answer.status, answer.reason, answer.headers, answer.read()
    finally:
        connection.close()


def _connect(address: tuple[str, int], *args: Any) -> socket.socket:
    """socket.create_connection, an ASCII host name given as bytes: getaddrinfo encodes a str with the idna codec,
    whose import (and unicodedata's, stringprep's) would cost every call some 2 ms."""
    import socket  # noqa: PLC0415 (imported by http.client already)

    host, port = address
    return socket.create_connection((host.encode("ascii") if host.isascii() else host, port), *args)


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
    """A value as one segment of a URL's path (a `/` in it escaped too)."""
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


def build_parser(argv: Sequence[str] | None = None) -> Parser:
    """The parser; given the command line, of the command it names only (a call parses one command)."""
    return definition.build_parser(  # type: ignore[return-value]
        Parser, only=None if argv is None else _named(argv), **HELP)


HELP = {"description": "Talk to Gamma from an agent run (prints JSON).",
        "epilog": "A text value '-' is read from stdin. Exit: 0 ok, 1 API error, 2 usage error."}


def _named(argv: Sequence[str]) -> definition.Command | None:
    """The command `argv` starts with; None when it names none exactly (then the whole parser answers: its help,
    its error, list every command)."""
    for words in (" ".join(argv[:2]), argv[0] if argv else ""):
        if words in definition.BY_KEY:
            return definition.BY_KEY[words]
    return None


def run(argv: Sequence[str]) -> Any:
    parser = build_parser(argv)
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
    # They need the installed packages too, which the shim's Python (without `site`) has not looked for.
    if sys.flags.no_site:
        import site  # noqa: PLC0415

        site.main()
    from pathlib import Path  # noqa: PLC0415

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
