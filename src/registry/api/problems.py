"""The one place where exceptions become RFC 9457 ``application/problem+json`` answers.

Every error answer, the framework's own included, passes through :func:`problem_response`, the
app's only exception handler. Its body always has ``type`` (``/problems/<slug>``), ``title``,
``status`` and ``detail``, plus extra members where useful (``field``, ``session_id``, ...).

Three ways in, one way out:

- raise a :class:`Problem` subclass (the HTTP layer's own errors, e.g. :class:`Unavailable`);
- map an error raised below the HTTP layer in :data:`ERROR_SLUGS`, one line each (a server
  that did not answer, in :data:`SERVERS_AWAY`: 503 without the error's own words);
- Litestar's ``HTTPException`` family is translated by status, with two refinements (body decoding).

Anything else is a bug: 500 ``internal-error``, logged here, with nothing internal in the answer.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar, Final

import asyncpg
import msgspec
import redis.exceptions
from litestar import Request, Response
from litestar.exceptions import ClientException, HTTPException, ValidationException

from projections import reads as read_models
from registry.capacity.errors import CommandIdConflict
from registry.domain import errors
from registry.eventstore import ArchivedHistory, CommandIdReused, StaleGateDecision
from registry.handlers.gate_sync import GateUnavailable
from registry.handlers.loading import UnknownEvent, UnknownParticipant
from registry.handlers.turns import LineTooLong

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One entry of the public catalogue (API.md, "General")."""

    slug: str
    status: int
    title: str
    #: Used when nothing more specific is known.
    detail: str

    @property
    def uri(self) -> str:
        return f"/problems/{self.slug}"


_TYPES: Final = (
    ProblemType("malformed-request", 400, "Malformed request", "The request body is not JSON."),
    ProblemType("unauthorized", 401, "Unauthorized", "A valid API key is required."),
    ProblemType("forbidden", 403, "Forbidden", "This API key's role may not do this."),
    ProblemType("not-found", 404, "Not found", "There is nothing at this path."),
    ProblemType(
        "method-not-allowed", 405, "Method not allowed", "This path does not accept the method."
    ),
    ProblemType("already-exists", 409, "Already exists", "The id is already taken."),
    ProblemType("registration-closed", 409, "Registration closed", "Registration is closed."),
    ProblemType("session-full", 409, "Session full", "The session is full and has no waitlist."),
    ProblemType("time-conflict", 409, "Time conflict", "A seat at an overlapping time is held."),
    ProblemType("room-conflict", 409, "Room conflict", "The room is in use at that time."),
    ProblemType("already-signed-up", 409, "Already signed up", "Already signed up."),
    ProblemType("session-cancelled", 409, "Session cancelled", "The session is cancelled."),
    ProblemType("event-cancelled", 409, "Event cancelled", "The event is cancelled."),
    ProblemType(
        "payload-too-large", 413, "Payload too large", "The request body exceeds the size limit."
    ),
    ProblemType("validation-failed", 422, "Validation failed", "The request is not valid."),
    ProblemType(
        "idempotency-key-reused",
        422,
        "Idempotency key reused",
        "The Idempotency-Key was used before with another body.",
    ),
    ProblemType(
        "archived",
        410,
        "Archived",
        "What this needs lies in history archived out of the database (registry log archive).",
    ),
    ProblemType("rate-limited", 429, "Rate limited", "Too many requests; retry later."),
    ProblemType("internal-error", 500, "Internal error", "An unexpected error; it was logged."),
    ProblemType("unavailable", 503, "Unavailable", "The service is not ready; retry later."),
)

#: The catalogue, by slug.
PROBLEM_TYPES: Final[Mapping[str, ProblemType]] = {t.slug: t for t in _TYPES}

#: Errors raised below the HTTP layer (domain, handlers), each mapped once to its slug, one line
#: each, e.g. ``SessionFull: "session-full",``. Looked up along the error's MRO. A dataclass
#: error contributes its fields as extra members; ``str(error)`` (if any) is the detail.
ERROR_SLUGS: Final[Mapping[type[object], str]] = {
    errors.EventCancelled: "event-cancelled",
    errors.RegistrationClosed: "registration-closed",
    errors.AlreadyExists: "already-exists",
    errors.SessionCancelled: "session-cancelled",
    errors.AlreadySignedUp: "already-signed-up",
    errors.RoomConflict: "room-conflict",
    errors.TimeConflict: "time-conflict",
    errors.SessionFull: "session-full",
    errors.InvalidCommand: "validation-failed",
    errors.NotSignedUp: "not-found",
    errors.NoSuchSession: "not-found",
    UnknownEvent: "not-found",
    UnknownParticipant: "not-found",
    CommandIdReused: "idempotency-key-reused",
    ArchivedHistory: "archived",
    CommandIdConflict: "idempotency-key-reused",
    GateUnavailable: "unavailable",
    LineTooLong: "unavailable",
    StaleGateDecision: "unavailable",
    read_models.NotCaughtUp: "unavailable",
    read_models.UnknownEvent: "not-found",
    read_models.UnknownSession: "not-found",
}

#: The database or Redis could not answer: a server-side timeout of the API's connections
#: (docs/security.md: a statement or a lock wait that took too long, a transaction left idle), or
#: a server gone from under the request (tests/faults/): a refused or dropped connection (OSError,
#: TimeoutError among them), a backend ended by pg_terminate_backend or a shutdown (57P01-57P03),
#: a pooled connection found closed. Nothing is wrong with the request, and a repeat with its
#: Idempotency-Key gets the command done once: 503 `unavailable`, not 500. The answer says only
#: that: the errors' own text and fields name hosts, ports and PostgreSQL's source lines.
SERVERS_AWAY: Final[tuple[type[Exception], ...]] = (
    asyncpg.QueryCanceledError,
    asyncpg.LockNotAvailableError,
    asyncpg.IdleInTransactionSessionTimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    # asyncpg's protocol on a connection whose backend was terminated while it sat in the pool:
    # "cannot switch to state 12; another operation (2) is in progress" (MagicStack/asyncpg#1069;
    # SQLAlchemy counts it as a disconnect). The pool drops the connection on release.
    asyncpg.exceptions.InternalClientError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
SERVERS_AWAY_DETAIL: Final = (
    "The database or Redis did not answer in time. Repeat the request with the same "
    "Idempotency-Key: a command that took effect is answered as it was, never done twice."
)

#: Litestar's HTTPException family, by status code.
_SLUG_BY_STATUS: Final[Mapping[int, str]] = {
    400: "malformed-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    422: "validation-failed",
    429: "rate-limited",
    503: "unavailable",
}

_DEFAULT_HEADERS: Final[Mapping[str, Mapping[str, str]]] = {
    "unauthorized": {"WWW-Authenticate": "Bearer"},
    "unavailable": {"Retry-After": "1"},
    "rate-limited": {"Retry-After": "1"},
}

_RESERVED_MEMBERS: Final = frozenset({"type", "title", "status", "detail"})
_NO_BODY: Final = "Object missing required field `data`"
_MISSING_FIELD: Final = re.compile(r"Object missing required field `(?P<name>[^`]+)`")


@dataclass(frozen=True, slots=True)
class ProblemDetails:
    """What an answer says: the type, a detail for this occurrence, extra members, headers."""

    type: ProblemType
    detail: str
    extra: Mapping[str, object] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        members = {k: v for k, v in self.extra.items() if k not in _RESERVED_MEMBERS}
        return {
            "type": self.type.uri,
            "title": self.type.title,
            "status": self.type.status,
            "detail": self.detail,
            **members,
        }


class Problem(Exception):
    """An error that knows its answer. Subclass with a catalogued ``slug``; raise with a detail
    and extra members: ``raise NotFound("no event 'x'", event_id="x")``."""

    slug: ClassVar[str] = "internal-error"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.slug not in PROBLEM_TYPES:
            raise TypeError(f"{cls.__name__}.slug {cls.slug!r} is not in the problem catalogue")

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: object,
    ) -> None:
        self.problem_type = PROBLEM_TYPES[self.slug]
        self.detail = detail or self.problem_type.detail
        self.headers = {**_DEFAULT_HEADERS.get(self.slug, {}), **(headers or {})}
        self.extra = extra
        super().__init__(self.detail)

    @property
    def status(self) -> int:
        return self.problem_type.status

    @property
    def title(self) -> str:
        return self.problem_type.title

    def details(self) -> ProblemDetails:
        return ProblemDetails(self.problem_type, self.detail, self.extra, self.headers)


class MalformedRequest(Problem):
    slug = "malformed-request"


class ValidationFailed(Problem):
    slug = "validation-failed"


class NotFound(Problem):
    slug = "not-found"


class Unauthorized(Problem):
    slug = "unauthorized"


class Forbidden(Problem):
    slug = "forbidden"


class Unavailable(Problem):
    slug = "unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **extra: object) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **extra)


class RateLimited(Problem):
    slug = "rate-limited"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **extra: object) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **extra)


def to_problem(exc: Exception) -> ProblemDetails:
    """Translate any exception into the problem it answers."""
    if isinstance(exc, Problem):
        return exc.details()
    if isinstance(exc, SERVERS_AWAY):
        return _details("unavailable", SERVERS_AWAY_DETAIL)
    for cls in type(exc).__mro__:
        if (slug := ERROR_SLUGS.get(cls)) is not None:
            return _from_mapped_error(exc, PROBLEM_TYPES[slug])
    if isinstance(exc, HTTPException):
        return _from_http_exception(exc)
    return _details("internal-error")


def body_problem(error: msgspec.DecodeError) -> Problem:
    """The problem of a request body msgspec could not decode: 422 with the field for a wrong
    shape or value, 400 when it is not JSON at all."""
    if isinstance(error, msgspec.ValidationError):
        detail, field_path = _parse_msgspec(str(error))
        if field_path:
            return ValidationFailed(detail, field=field_path)
        return ValidationFailed(detail)
    return MalformedRequest(f"The request body is not JSON: {error}.")


def problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The app's one exception handler."""
    problem = to_problem(exc)
    if problem.type.slug == "internal-error":
        _log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    elif isinstance(exc, SERVERS_AWAY):
        # Only the type: an error's text names hosts and ports (and may quote a query).
        _log.warning(
            "%s on %s %s: answered 503", type(exc).__name__, request.method, request.url.path
        )
    return Response(
        problem.body(),
        status_code=problem.type.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(problem.headers),
    )


def _details(
    slug: str,
    detail: str | None = None,
    extra: Mapping[str, object] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemDetails:
    problem_type = PROBLEM_TYPES[slug]
    return ProblemDetails(
        problem_type,
        detail or problem_type.detail,
        extra or {},
        {**_DEFAULT_HEADERS.get(slug, {}), **(headers or {})},
    )


def _from_mapped_error(exc: Exception, problem_type: ProblemType) -> ProblemDetails:
    extra: dict[str, object] = {}
    if dataclasses.is_dataclass(exc):
        extra = {f.name: getattr(exc, f.name) for f in dataclasses.fields(exc)}
    else:
        # Plain exceptions (the domain's) contribute their public attributes.
        extra = {k: v for k, v in vars(exc).items() if not k.startswith("_")}
    return _details(problem_type.slug, str(exc), extra)


def _from_http_exception(exc: HTTPException) -> ProblemDetails:
    if isinstance(exc, ValidationException):
        # The signature model's: body fields, query, path and header parameters.
        return _validation_failed(exc)
    if isinstance(exc, ClientException) and (decode_error := _decode_error(exc)) is not None:
        # A body msgspec could not decode; Litestar wraps it into a bare 400 whether it was not
        # JSON at all or JSON of the wrong shape (a DTO decodes and validates in one go).
        if isinstance(decode_error, msgspec.ValidationError):
            detail, field_path = _parse_msgspec(str(decode_error))
            return _details("validation-failed", detail, _field(field_path))
        return _details("malformed-request", f"The request body is not JSON: {decode_error}.")
    slug = _SLUG_BY_STATUS.get(exc.status_code)
    if slug is None or (exc.status_code >= 500 and slug != "unavailable"):
        return _details("internal-error")
    return _details(slug, _own_detail(exc), headers=exc.headers)


def _validation_failed(exc: ValidationException) -> ProblemDetails:
    """Read the field from msgspec's own message (the cause): Litestar's ``extra`` drops the name
    of a missing field and strips every ``data.`` from keys (``metadata.x`` becomes ``metax``)."""
    cause = exc.__cause__
    if not isinstance(cause, msgspec.ValidationError):
        return _details("validation-failed", _own_detail(exc))
    message = str(cause)
    if message == _NO_BODY:  # no body at all: the handler's `data` argument is missing
        return _details("malformed-request", "A JSON body is required.")
    detail, field_path = _parse_msgspec(message)
    if field_path == "data" or field_path.startswith(("data.", "data[")):
        field_path = field_path.removeprefix("data").removeprefix(".")  # the body
    return _details("validation-failed", detail, _field(field_path))


def _parse_msgspec(message: str) -> tuple[str, str]:
    """``"Expected `int`, got `str` - at `$.a.b`"`` -> the message and ``"a.b"``; a missing
    field's name is part of its path."""
    message, _, location = message.partition(" - at `$")
    field_path = location.rstrip("`").removeprefix(".")
    if missing := _MISSING_FIELD.fullmatch(message):
        field_path = f"{field_path}.{missing['name']}" if field_path else missing["name"]
    return message, field_path


def _field(field_path: str) -> dict[str, object]:
    return {"field": field_path} if field_path else {}


def _own_detail(exc: HTTPException) -> str | None:
    """Litestar's detail, unless it is only the status phrase."""
    if exc.detail and exc.detail != HTTPStatus(exc.status_code).phrase:
        return exc.detail
    return None


def _decode_error(exc: BaseException) -> msgspec.DecodeError | None:
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, msgspec.DecodeError):
            return cause
        cause = cause.__cause__
    return None
