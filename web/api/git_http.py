"""The team's repository over git's smart HTTP, for workers on other hosts (workers/repo_sync.py).

Served by git's own `git http-backend` (a CGI program), never by a protocol of our own:

GET  /agent/git/<team_id>/project/info/refs?service=git-upload-pack|git-receive-pack
POST /agent/git/<team_id>/project/git-upload-pack      fetch
POST /agent/git/<team_id>/project/git-receive-pack     push (a run's incoming refs only)

A caller authenticates as the agent API's callers do, with `Authorization: Bearer <a running run's agent token>`
(git sends it with `http.extraHeader`); the token reaches its own team's repository only — any other team's
answers 404, as a team that does not exist. A push may write only the run's incoming refs; what it brought is
then applied by `repo_transfer.receive` (its task's branch, or the main line for the lead), and a refusal answers
403/409 with the reason, so the pushing worker sees its push fail.

A running merge check's token (a check run by a worker of another host, workers/merge_check.py) fetches only, and
reports the check's outcome, which the web applies as for a check on its own host:

POST /agent/checks/<check_id>/result                   {passed, exit_code, output} → the check as recorded
"""

from __future__ import annotations

import http.client
import shutil
import threading
from collections.abc import Iterator
from typing import IO

from flask import Blueprint, Response, request, stream_with_context
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.domain import Actor
from orchestrator.workflows import repo_transfer
from shared import git
from web.api._helpers import in_transaction, reply
from web.errors import ApiError
from web.validation import json_body

bp = Blueprint("git_http", __name__, url_prefix="/agent")

SERVICES = ("git-upload-pack", "git-receive-pack")
PUSH_LIMIT = 2 * 1024**3  # bytes of one request body: a push of a big repository's first history
CHUNK = 65536


def _caller(team_id: str) -> Actor:
    actor = in_transaction(lambda conn: repo_transfer.caller(conn, request.headers.get("Authorization", "")))
    if actor.team_id != team_id:
        raise ApiError(404, f"no repository {team_id!r} for this token: a run reaches its own team's only")
    return actor


@bp.get("/git/<team_id>/project/info/refs")
def refs(team_id: str) -> Response:
    service = request.args.get("service", "")
    if service not in SERVICES:
        raise ApiError(400, f"service {service!r} is not served: use git-upload-pack or git-receive-pack "
                            "(git's smart HTTP; the dumb protocol is not served)")
    actor = _caller(team_id)
    if service == "git-receive-pack" and actor.run_id is None:
        raise ApiError(403, "a merge check's token fetches only; a push needs a running run's token")
    return _backend(team_id, actor, "/project/info/refs", service)


@bp.post("/git/<team_id>/project/<service>")
def rpc(team_id: str, service: str) -> Response:
    if service not in SERVICES:
        raise ApiError(404, f"no git service {service!r}: use git-upload-pack or git-receive-pack")
    actor = _caller(team_id)
    if service == "git-receive-pack" and actor.run_id is None:
        raise ApiError(403, "a merge check's token fetches only; a push needs a running run's token")
    request.max_content_length = PUSH_LIMIT
    response = _backend(team_id, actor, f"/project/{service}", service)
    if service == "git-receive-pack" and response.status_code == 200:
        body = response.get_data()  # receive-pack's report is short; the branches move before it is sent
        in_transaction(lambda conn: repo_transfer.receive(conn, actor))
        response.set_data(body)
    return response


def _backend(team_id: str, actor: Actor, path: str, service: str) -> Response:
    cgi = {
        "REQUEST_METHOD": request.method,
        "PATH_INFO": path,
        "QUERY_STRING": request.query_string.decode("latin-1"),
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "REMOTE_USER": actor.name,
        "REMOTE_ADDR": request.remote_addr or "",
        "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
        "HTTP_CONTENT_ENCODING": request.headers.get("Content-Encoding", ""),
    }
    if request.content_length is not None:
        cgi["CONTENT_LENGTH"] = str(request.content_length)
    writes = service == "git-receive-pack"
    root = repo_transfer.served_root(team_id)
    process = git.http_backend(root, cgi, config=repo_transfer.push_config(actor) if writes else ())
    assert process.stdin is not None and process.stdout is not None
    feeder = threading.Thread(target=_feed, args=(request.stream if request.method == "POST" else None,
                                                  process.stdin), daemon=True)
    feeder.start()
    headers = http.client.parse_headers(process.stdout)  # the CGI response's header block
    status = int((headers.get("Status") or "200").split()[0])
    out_headers = {k: v for k, v in headers.items() if k.lower() not in ("status", "content-length")}

    def body() -> Iterator[bytes]:
        try:
            while chunk := process.stdout.read(CHUNK):  # type: ignore[union-attr]
                yield chunk
        finally:
            feeder.join(timeout=5)
            process.stdout.close()  # type: ignore[union-attr]
            process.wait()

    return Response(stream_with_context(body()), status=status, headers=out_headers)


def _feed(source: IO[bytes] | None, sink: IO[bytes]) -> None:
    """The request's body to git's stdin (in a thread of its own: git may answer before it has read it all)."""
    try:
        if source is not None:
            shutil.copyfileobj(source, sink, CHUNK)
    except (BrokenPipeError, OSError):
        pass
    finally:
        try:
            sink.close()
        except OSError:
            pass


class CheckResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passed: bool
    exit_code: int | None = None
    output: str = Field(default="", max_length=1_000_000)


@bp.post("/checks/<check_id>/result", endpoint="check_result")
def check_result(check_id: str) -> tuple[Response, int]:
    body = json_body(CheckResult)
    check = in_transaction(lambda conn: repo_transfer.report_check(
        conn, request.headers.get("Authorization", ""), check_id, passed=body.passed, exit_code=body.exit_code,
        output=body.output))
    return reply(check)
