"""`GET /api/vocabulary`: Gamma's states, kinds and modes (shared/vocabulary.py) for the browser.

The answer only changes with the code, so it is cacheable: a strong ETag of its body (a matching If-None-Match
gets 304) and a short max-age. `private`: with GAMMA_API_TOKEN set the route sits behind the token like every
other /api route, so shared caches must not keep it.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache

from flask import Blueprint, Response, request

from shared import vocabulary

bp = Blueprint("vocabulary", __name__)
MAX_AGE_SECONDS = 60


@cache
def _body() -> tuple[bytes, str]:
    body = json.dumps(vocabulary.as_json(), separators=(",", ":")).encode()
    return body, hashlib.sha256(body).hexdigest()[:32]


@bp.get("/api/vocabulary")
def get_vocabulary() -> Response:
    body, etag = _body()
    response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = f"private, max-age={MAX_AGE_SECONDS}"
    return response.make_conditional(request)
