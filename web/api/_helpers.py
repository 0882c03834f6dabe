"""What the API blueprints share: one transaction per request with domain errors mapped to HTTP, JSON shaping,
and the field types of request bodies (their limits match the database's CHECK constraints).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import psycopg
from flask import Response, jsonify
from psycopg import errors as pg_errors
from pydantic import AfterValidator, Field, StringConstraints

from orchestrator.domain import DomainError
from orchestrator.library.role_models import ROLE_ID
from orchestrator.workflows import views
from shared import db
from shared.backends import BACKEND_NAMES
from shared.ids import is_id
from shared.worker_labels import LABEL_PATTERN, MAX_LABELS
from web.errors import ApiError, from_domain

log = logging.getLogger(__name__)
T = TypeVar("T")
_RETRIES = 4


def in_transaction(work: Callable[[psycopg.Connection], T]) -> T:
    """Run `work` in one transaction. Deadlocks are retried; refusals become 4xx with their message."""
    for attempt in range(_RETRIES):
        try:
            with db.transaction() as conn:
                return work(conn)
        except DomainError as error:
            raise from_domain(error) from None
        except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure, pg_errors.LockNotAvailable):
            if attempt == _RETRIES - 1:
                raise ApiError(503, "the database is busy; please retry") from None
            time.sleep(0.05 * 2**attempt)
        except psycopg.OperationalError:
            raise ApiError(503, "the database is not reachable right now (restarting?); please retry") from None
        # Safety nets: request validation should have refused the value already. The database's own text
        # names tables and constraints, so it goes to the log only.
        except pg_errors.UniqueViolation as error:
            log.warning("database refused a request as a duplicate (%s): %s", _constraint(error), error)
            raise ApiError(409, "conflicts with an existing record") from None
        except (pg_errors.IntegrityError, pg_errors.DataError) as error:
            log.warning("database refused a request (%s): %s", _constraint(error), error)
            raise ApiError(422, "a value in the request was refused; see the server log for details") from None
    raise AssertionError("unreachable")


def for_team(team_id: str, work: Callable[[psycopg.Connection], T]) -> T:
    """`in_transaction` for reads under a team: an unknown team is a 404, not an empty answer."""
    def checked(conn: psycopg.Connection) -> T:
        views.require_team(conn, team_id)
        return work(conn)

    return in_transaction(checked)


def _constraint(error: psycopg.Error) -> str:
    diag = error.diag
    return diag.constraint_name or (diag.message_primary or "constraint").splitlines()[0]


def shaped(value: Any) -> Any:
    """JSON-ready: ISO timestamps, numbers for numeric columns, recursively."""
    if isinstance(value, dict):
        return {k: shaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shaped(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def reply(value: Any, status: int = 200) -> tuple[Response, int]:
    return jsonify(shaped(value)), status


# ------------------------------------------------------------------------------------------------ field types


# Every string and list a request may carry is bounded here, below what the database or a CLI spawn would take
# (NUL characters never get this far: web.validation refuses them in any body, path or query).
def _text(min_length: int, max_length: int, strip: bool = True) -> Any:
    return Annotated[str, StringConstraints(strip_whitespace=strip, min_length=min_length, max_length=max_length)]


TeamName = _text(1, 200)
AgentName = _text(1, 100)
Title = _text(1, 300)
ShortText = _text(0, 2000)
Description = _text(0, 10_000)
LongText = _text(0, 100_000)
Required = _text(1, 100_000)
ChatText = _text(1, 200_000)
RoleId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=ROLE_ID.pattern)]
ToolName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                            pattern=r"^[A-Za-z_][\w.\-]*(\(.*\))?$")]
ModelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                             pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-\[\]]*$")]
ToolList = Annotated[list[ToolName], Field(max_length=100)]  # each becomes CLI arguments (argv ≤ 128 KiB)
Emoji = _text(1, 32)
CheckCommand = _text(1, 2000)  # a team's check command (a shell command line)
Priority = Annotated[int, Field(ge=-100, le=100)]
# The database keeps budgets to 4 decimals (numeric(12, 4)): a smaller one would be stored as 0 and refused there.
Budget = Annotated[float, Field(ge=0.0001, le=1_000_000)]
PermissionMode = Literal["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"]
BackendName = Literal[BACKEND_NAMES]  # type: ignore[valid-type] # the registry's backends: claude, codex, demo
Limit = Annotated[int, Field(ge=1, le=1000)]
# Worker labels (shared/worker_labels.py); repeats are refused by the orchestrator, which stores them sorted.
WorkerLabel = Annotated[str, StringConstraints(pattern=f"^{LABEL_PATTERN}$")]
WorkerLabels = Annotated[list[WorkerLabel], Field(
    max_length=MAX_LABELS,
    description="worker labels (GAMMA_WORKER_LABELS) its runs need: only a worker that has all of them (with the "
                "team's) takes them; [] for any worker. A change applies to runs queued after it.")]


def id_of(prefix: str) -> Any:
    """A query/body field holding an id of one kind."""

    def check(value: str) -> str:
        if not is_id(value, prefix):
            raise ValueError(f"not a valid {prefix} id")
        return value

    return Annotated[str, AfterValidator(check)]


# A task's dependencies: ids of the team's tasks, or (in a plan) keys of other tasks of the same plan.
PlanKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                           pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
TaskRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                           pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Dependencies = Annotated[list[TaskRef], Field(max_length=50)]


def csv_list(value: str | None) -> list[str] | None:
    """`a,b` query values as a list (None when absent or empty)."""
    if not value:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or None
