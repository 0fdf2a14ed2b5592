"""The OpenAPI document (``/schema/openapi.json``) and its interactive page (``/schema``)."""

from __future__ import annotations

from typing import Final

import msgspec
from litestar import Router
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import BaseRoute
from litestar.types import ControllerRouterHandler

from registry.api.problems import PROBLEM_MEDIA_TYPE

SCHEMA_PATH: Final = "/schema"
#: The name of the API key scheme in the document.
BEARER: Final = "apiKey"

_DESCRIPTION: Final = """\
Event-sourced registration and capacity backend for multi-session events.

Errors, the framework's own included, are RFC 9457 `application/problem+json` with `type`
(`/problems/<slug>`), `title`, `status` and `detail`, plus extra members where useful.
"""


class ProblemBody(msgspec.Struct, frozen=True):
    """The members every problem has (for the OpenAPI document); extra members may follow."""

    type: str
    title: str
    status: int
    detail: str


def problem_spec(description: str) -> ResponseSpec:
    """An OpenAPI response entry for a problem answer."""
    return ResponseSpec(
        ProblemBody,
        generate_examples=False,
        description=description,
        media_type=PROBLEM_MEDIA_TYPE,
    )


class _SchemaRouter(Router):
    """The router serving ``/schema``, without Litestar's HTML "Error 404" page for unknown
    ``/schema/...`` paths, so that those answer with a ``not-found`` problem like any other."""

    def register(self, value: ControllerRouterHandler) -> list[BaseRoute]:
        if "/{path:str}" in getattr(value, "paths", ()):
            return []
        return super().register(value)


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="registry",
        version="1",
        description=_DESCRIPTION,
        path=SCHEMA_PATH,
        openapi_router=_SchemaRouter(SCHEMA_PATH, route_handlers=[], include_in_schema=False),
        # The page loads Scalar from a CDN in the browser; the server needs no network.
        render_plugins=[ScalarRenderPlugin(path="/"), JsonRenderPlugin()],
        # Every /v1 route needs `Authorization: Bearer <api key>` (API.md "General"); the
        # operations routes opt out with `security=[{}]` (anonymous allowed) on their handlers.
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API key of one role (organiser, form or auditor), made by "
                    "`registry keys create`.",
                )
            }
        ),
        security=[{BEARER: []}],
    )


#: The problems any /v1 operation may answer (API.md "General"), by status, with their slugs.
_ANY_OPERATION: Final = {
    # Litestar declares a 400 of its own shape on every operation with parameters: ours replaces
    # it (a read never answers 400: a bad parameter is a 422).
    400: "`malformed-request`: the body is not JSON (commands only)",
    401: "`unauthorized`: no API key, or an unknown, revoked or expired one",
    403: "`forbidden`: this key's role may not do this",
    404: "`not-found`: an unknown id in the path, or another organisation's",
    422: "`validation-failed`: a wrong field, value or parameter; "
    "`idempotency-key-reused` (commands)",
    429: "`rate-limited`: too many requests for this key or address (see `Retry-After`)",
    503: "`unavailable`: not ready, a read model behind `?after=`, a timeout, or the request's "
    "deadline (see `Retry-After`)",
}
#: And those of commands (POST, PUT, PATCH, DELETE) besides.
_COMMANDS: Final = {
    400: "`malformed-request`: the body is not JSON",
    409: "a conflict with the state: `already-exists`, `registration-closed`, `session-full`, "
    "`time-conflict`, `room-conflict`, `already-signed-up`, `session-cancelled`, "
    "`event-cancelled`",
    413: "`payload-too-large`: a body over the size limit",
}
_COMMAND_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def declare_problems(router: Router) -> Router:
    """Declare the problem answers of every operation of ``router`` in the document (a handler's
    own declarations win), so that the document lists every status the API may answer."""
    for route in router.routes:
        for handler in getattr(route, "route_handlers", ()):
            methods: frozenset[str] = getattr(handler, "http_methods", frozenset())
            if "OPTIONS" in methods:
                continue
            statuses = dict(_ANY_OPERATION)
            if methods & _COMMAND_METHODS:
                statuses |= _COMMANDS
            declared = {status: problem_spec(text) for status, text in sorted(statuses.items())}
            handler.responses = {**declared, **(handler.responses or {})}
    return router
