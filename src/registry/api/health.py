"""Operations routes: liveness and readiness. No API key needed."""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import get
from litestar.di import NamedDependency

from registry.api.lifespan import Resources
from registry.api.openapi import problem_spec
from registry.api.readiness import check_readiness


class Health(msgspec.Struct, frozen=True):
    status: Literal["ok"]


class Readiness(msgspec.Struct, frozen=True):
    status: Literal["ready"]
    checks: dict[str, str]


@get("/health", tags=["operations"], sync_to_thread=False, security=[{}])
def health() -> Health:
    """The process is alive."""
    return Health(status="ok")


@get(
    "/ready",
    tags=["operations"],
    security=[{}],  # no key needed (an empty requirement: anonymous allowed)
    responses={503: problem_spec("Not ready: problem `unavailable`, with `checks` and `failing`")},
)
async def ready(resources: NamedDependency[Resources]) -> Readiness:
    """PostgreSQL and Redis answer and the migrations are current."""
    return Readiness(status="ready", checks=await check_readiness(resources))


ROUTES = (health, ready)
