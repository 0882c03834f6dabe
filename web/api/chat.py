"""The conversation between the user and a team.

POST /api/teams/<id>/messages              {message} → 202 {message, run_id}: stored, lead run queued, no waiting
GET  /api/teams/<id>/messages?before=&limit=  a page of messages (oldest first), `before` = a message id
"""

from __future__ import annotations

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.workflows import conversation
from web.api._helpers import ChatText, for_team, id_of, in_transaction, reply
from web.validation import json_body, path_id, query

bp = Blueprint("chat", __name__)


class NewMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: ChatText


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    before: id_of("msg") | None = None
    limit: int = Field(default=50, ge=1, le=conversation.CHAT_PAGE_MAX)


@bp.post("/api/teams/<team_id>/messages")
def post_message(team_id: str):
    path_id(team_id, "team")
    body = json_body(NewMessage)
    return reply(in_transaction(lambda c: conversation.post_user_message(c, team_id, body.message)), 202)


@bp.get("/api/teams/<team_id>/messages")
def list_messages(team_id: str):
    path_id(team_id, "team")
    params = query(PageQuery)
    return reply(for_team(team_id, lambda c: conversation.chat_page(c, team_id, before=params.before,
                                                                limit=params.limit)))
