"""Operations routes: liveness and readiness. No API key needed."""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import get

from registry.api.lifespan import Resources
from registry.api.problems import problem_spec
from registry.api.readiness import check_readiness


class Health(msgspec.Struct, frozen=True):
    status: Literal["ok"] = "ok"


class Readiness(msgspec.Struct, frozen=True):
    checks: dict[str, str]
    status: Literal["ready"] = "ready"


@get("/health", tags=["operations"], sync_to_thread=False)
def health() -> Health:
    """The process is alive."""
    return Health()


@get(
    "/ready",
    tags=["operations"],
    responses={503: problem_spec("Not ready: problem `unavailable`, with `checks` and `failing`")},
)
async def ready(resources: Resources) -> Readiness:
    """PostgreSQL and Redis answer and the migrations are current."""
    return Readiness(checks=await check_readiness(resources))


ROUTES = (health, ready)
