"""The team's work product: its git repository, read at a ref, and the app preview.

A ref is `main` (the main line), a task's id or branch (`task/…`), or a commit's hex; a path is relative to the
repository: `..`, an absolute path and git's own `.git` are refused (400/403), and a symlink that leads out of
the repository is never followed (403). Everything is read from git's objects at the ref, never from a working
tree, so what is served is what was committed.

GET /api/teams/<id>/repo                         the main line, the tasks' branches and worktrees, disk use
GET /api/teams/<id>/repo/tree?ref=&path=         one directory's entries
GET /api/teams/<id>/repo/file?ref=&path=         a file: its text (up to 1 MB), or `binary`/`too_large` with
                                                 `download` (the raw URL)
GET /api/teams/<id>/repo/raw?ref=&path=          the file's bytes, as a download
GET /api/teams/<id>/repo/archive?ref=            the whole project as a .tar.gz, streamed
GET /api/teams/<id>/repo/log?ref=&limit=         the commits, newest first
GET /api/tasks/<id>/diff?stat=                   the task's change against the main line: files with line
                                                 counts, commits, and the unified diff (`stat=true`: without it)
GET /preview/<team_id>/<ref>/<path>              the project served for preview (a directory serves its
                                                 index.html), in a sandbox: `Content-Security-Policy: sandbox
                                                 allow-scripts …` gives it an opaque origin, so the API (which
                                                 refuses cross-site requests) is out of its reach
"""

from __future__ import annotations

import mimetypes
from typing import Annotated
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, current_app, request, stream_with_context
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from orchestrator.workflows import work_product
from web import security
from web.api._helpers import for_team, in_transaction, reply
from web.errors import ApiError
from web.validation import path_id, query

bp = Blueprint("repository", __name__)

Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
RepoPath = Annotated[str, StringConstraints(max_length=4096)]
PREVIEW_POLICY = ("sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads; "
                  "frame-ancestors 'self'")


class AtRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref: Ref | None = None
    path: RepoPath | None = None


class RefOnly(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref: Ref | None = None


class LogQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref: Ref | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50


class DiffQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stat: bool = False


@bp.get("/api/teams/<team_id>/repo")
def repository(team_id: str):
    path_id(team_id, "team")
    found = for_team(team_id, lambda c: work_product.repository(c, team_id))
    found["preview_url"] = preview_url(team_id, "main")
    for branch in found["branches"]:
        branch["preview_url"] = preview_url(team_id, branch["task_id"])
    return reply(found)


@bp.get("/api/teams/<team_id>/repo/tree")
def tree(team_id: str):
    path_id(team_id, "team")
    params = query(AtRef)
    return reply(for_team(team_id, lambda c: work_product.tree(c, team_id, params.ref, params.path)))


@bp.get("/api/teams/<team_id>/repo/file")
def file(team_id: str):
    path_id(team_id, "team")
    params = query(AtRef)
    found = for_team(team_id, lambda c: work_product.file(c, team_id, params.ref, params.path))
    found["download"] = f"/api/teams/{team_id}/repo/raw?" + urlencode({"ref": found["ref"], "path": found["path"]})
    return reply(found)


@bp.get("/api/teams/<team_id>/repo/raw")
def raw(team_id: str):
    path_id(team_id, "team")
    params = query(AtRef)
    found = for_team(team_id, lambda c: work_product.lookup(c, team_id, params.ref, params.path))
    if found["type"] != "blob":
        raise ApiError(400, f"{found['path'] or '/'!r} is a directory; download the archive instead")
    name = found["path"].rsplit("/", 1)[-1]
    response = _blob_response(team_id, found, _content_type(name))
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    response.headers["Content-Security-Policy"] = "sandbox"
    return response


@bp.get("/api/teams/<team_id>/repo/archive")
def archive(team_id: str):
    path_id(team_id, "team")
    params = query(RefOnly)
    name, chunks = for_team(team_id, lambda c: work_product.archive(c, team_id, params.ref))
    filename = f"project-{name.replace('/', '-')}.tar.gz"
    return Response(stream_with_context(chunks), mimetype="application/gzip",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


@bp.get("/api/teams/<team_id>/repo/log")
def history(team_id: str):
    path_id(team_id, "team")
    params = query(LogQuery)
    return reply(for_team(team_id, lambda c: work_product.history(c, team_id, params.ref, params.limit)))


@bp.get("/api/tasks/<task_id>/diff")
def task_diff(task_id: str):
    path_id(task_id, "task")
    params = query(DiffQuery)
    found = in_transaction(lambda c: work_product.task_diff(c, task_id))
    found["preview_url"] = preview_url(found["team_id"], task_id)
    return reply({k: v for k, v in found.items() if k != "diff"} if params.stat else found)


# ------------------------------------------------------------------------------------------------- preview


def preview_url(team_id: str, ref: str) -> str:
    """Where the preview of `ref` opens: with GAMMA_API_TOKEN set, under a key of its own (web/security.py)."""
    token = current_app.config["GAMMA_SETTINGS"].api_token
    if token:
        return f"/preview/k/{security.preview_key(token, team_id, ref)}/{team_id}/{quote(ref, safe='')}/"
    return f"/preview/{team_id}/{quote(ref, safe='')}/"


@bp.get("/preview/<team_id>/<ref>/")
@bp.get("/preview/<team_id>/<ref>/<path:path>")
@bp.get("/preview/k/<key>/<team_id>/<ref>/", endpoint="signed_preview")
@bp.get("/preview/k/<key>/<team_id>/<ref>/<path:path>", endpoint="signed_preview_path")
def preview(team_id: str, ref: str, path: str = "", key: str | None = None):  # the key is checked before
    path_id(team_id, "team")

    def find(conn):
        found = work_product.lookup(conn, team_id, ref, path)
        if found["type"] == "tree":
            if path and not path.endswith("/"):
                return {"redirect": True}
            found = work_product.lookup(conn, team_id, ref, f"{found['path']}/index.html".lstrip("/"))
        return found

    found = for_team(team_id, find)
    if found.get("redirect"):
        return Response(status=308, headers={"Location": f"{request.path}/"})
    if found["type"] != "blob":
        raise ApiError(404, f"{found['path']!r} is not a file")
    response = _blob_response(team_id, found, _content_type(found["path"]))
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response


def _content_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    if guessed is None:
        return "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/javascript", "application/json", "image/svg+xml"):
        return f"{guessed}; charset=utf-8"
    return guessed


def _blob_response(team_id: str, found: dict, content_type: str) -> Response:
    response = Response(stream_with_context(work_product.blob_chunks(team_id, found["sha"])),
                        content_type=content_type)
    response.headers["Content-Length"] = str(found["size"])
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
