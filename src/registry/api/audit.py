"""Auditors' reads (API.md "Auditor", docs/api-additions.md "Audit"): the organisation's log in
global order, one of its streams, and the chain's seals. Auditor keys only (an organiser's or a
form's key: 403); another organisation's stream answers 404 as an unknown one does. Lists are
API.md's `{position, items, next}`, paged by `from` (inclusive); the items are described in
registry.audit.log_reads."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from projections.reads import DEFAULT_LIMIT, MAX_LIMIT
from registry.api.lifespan import Resources
from registry.api.problems import NotFound
from registry.api.reads import reached
from registry.audit import log_reads
from registry.auth.guards import auditor_only
from registry.auth.principal import Principal

Who = NamedDependency[Principal]
With = NamedDependency[Resources]
After = Annotated[int | None, QueryParameter(name="after", ge=0, required=False)]
Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT, required=False)]
From = Annotated[int, QueryParameter(name="from", ge=1, required=False)]


def _listed(page: log_reads.Page, path: str, limit: int) -> dict[str, Any]:
    following = None
    if page.next_from is not None:
        following = f"{path}?{urlencode({'from': page.next_from, 'limit': limit})}"
    return {"position": page.position, "items": page.items, "next": following}


@get("/audit/log", before_request=auditor_only, tags=["audit"])
async def audit_log(
    resources: With,
    principal: Who,
    start: From = 1,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Response[Any]:
    """The organisation's events in global order, from position `from`, each with its hash."""
    await reached(resources.keeper.store, after)
    async with resources.pool.acquire() as conn:
        page = await log_reads.log_page(conn, principal.organisation, start, limit)
    return Response(_listed(page, "/v1/audit/log", limit))


@get("/audit/streams/{stream:str}", before_request=auditor_only, tags=["audit"])
async def audit_stream(
    stream: FromPath[str],
    resources: With,
    principal: Who,
    start: From = 1,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Response[Any]:
    """One stream of the organisation, from its version `from`."""
    await reached(resources.keeper.store, after)
    page = None
    if log_reads.stream_organisation(stream) == principal.organisation:
        async with resources.pool.acquire() as conn:
            page = await log_reads.stream_page(conn, stream, start, limit)
    if page is None:
        raise NotFound(f"no stream {stream!r}", stream=stream)
    return Response(_listed(page, f"/v1/audit/streams/{quote(stream, safe=':')}", limit))


@get("/audit/seals", before_request=auditor_only, tags=["audit"])
async def audit_seals(
    resources: With,
    start: From = 1,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Response[Any]:
    """The chain's seals (position, hash, time) from position `from`: keep them outside the
    system; `registry verify` checks the log against them."""
    await reached(resources.keeper.store, after)
    async with resources.pool.acquire() as conn:
        page = await log_reads.seals_page(conn, start, limit)
    return Response(_listed(page, "/v1/audit/seals", limit))


ROUTES = (audit_log, audit_stream, audit_seals)
