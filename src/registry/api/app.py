"""The ASGI application factory (granian: ``registry.api.app:create_app --factory``)."""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from registry.api import (
    audit,
    erasure,
    forms,
    health,
    live,
    metrics,
    organiser,
    organiser_changes,
    reads,
    webhooks,
)
from registry.api.lifespan import provide_resources, resources_lifespan
from registry.api.openapi import declare_problems, openapi_config
from registry.api.organiser_page import organiser_page
from registry.api.problems import problem_response
from registry.api.rate_limits import rate_limits_lifespan
from registry.api.stack import middleware
from registry.auth.guards import provide_principal
from registry.settings import Settings, load_settings


def _v1() -> Router:
    """The public API: each route carries its own role guard (API.md "General")."""
    return declare_problems(
        Router(
            path="/v1",
            route_handlers=[
                *organiser.ROUTES,
                *organiser_changes.ROUTES,
                *forms.ROUTES,
                *erasure.ROUTES,
                *reads.ROUTES,
                *live.ROUTES,
                *webhooks.ROUTES,
                *audit.ROUTES,
            ],
        )
    )


def create_app(
    settings: Settings | None = None,
    *,
    extra_route_handlers: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """Build the app; nothing is opened until its lifespan starts.

    ``extra_route_handlers`` mounts more routes next to the built-in ones (tests use it).
    """
    settings = settings or load_settings()
    return Litestar(
        route_handlers=[
            *health.ROUTES,
            *metrics.ROUTES,
            _v1(),
            organiser_page(),
            *extra_route_handlers,
        ],
        # The live feed's after the resources': it closes first, ending the open streams.
        lifespan=[
            resources_lifespan(settings),
            rate_limits_lifespan(settings),
            live.live_lifespan(),
        ],
        # Every route needs an API key but the operations routes; deadline and rate limits
        # around that (registry.api.stack).
        middleware=middleware(settings),
        dependencies={
            "resources": Provide(provide_resources, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        exception_handlers={Exception: problem_response},
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_body_bytes,
    )
