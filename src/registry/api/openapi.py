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
