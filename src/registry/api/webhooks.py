"""Webhook routes (docs/api-additions.md, "Notifications (webhooks)"): organisers register and
delete webhooks; organisers and auditors read them and their deliveries.

The body is declared (`data`) for the OpenAPI document; run_command decodes it again strictly.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from projections.reads import DEFAULT_LIMIT, MAX_LIMIT
from registry.api.commands import run_command
from registry.api.lifespan import Resources
from registry.api.problems import NotFound
from registry.auth.guards import organiser_only, reader
from registry.auth.principal import Principal
from registry.eventstore import AppendResult
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers.context import Answer, CommandContext
from registry.notifications import webhooks as hooks

Req = Request[Any, Any, Any]
Who = NamedDependency[Principal]
With = NamedDependency[Resources]
After = Annotated[int | None, QueryParameter(name="after", ge=0, required=False)]
Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT, required=False)]
Cursor = Annotated[str | None, QueryParameter(name="cursor", max_length=200, required=False)]
StateFilter = Annotated[hooks.State | None, QueryParameter(name="state", required=False)]
WebhookFilter = Annotated[
    str | None, QueryParameter(name="webhook_id", max_length=200, required=False)
]


@post("/webhooks", status_code=201, before_request=organiser_only, tags=["webhooks"])
async def register_webhook(
    request: Req, resources: With, data: JSONBody[hooks.RegisterWebhook]
) -> Response[Any]:
    """Register a URL to be notified; the answer's `secret` signs deliveries and is shown once."""
    register = lambda ctx, c: hooks.register(resources.pool, _store(resources), ctx, c)  # noqa: E731
    return await run_command(request, resources.keeper, hooks.RegisterWebhook, register)


@delete(
    "/webhooks/{webhook:str}", status_code=200, before_request=organiser_only, tags=["webhooks"]
)
async def delete_webhook(request: Req, webhook: FromPath[str], resources: With) -> Response[Any]:
    """Stop notifying a webhook; its deliveries still pending end `dead`."""
    remove = lambda ctx, _: _delete(resources, ctx, webhook)  # noqa: E731
    return await run_command(request, resources.keeper, type(None), remove)


@get("/webhooks", before_request=reader, tags=["webhooks"])
async def list_webhooks(
    principal: Who,
    resources: With,
    after: After = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response[Any]:
    """The organisation's webhooks, oldest first, without their secrets."""
    org = principal.organisation
    answer, more = await hooks.webhooks_page(resources.pool, org, limit, cursor, after)
    return Response(_listed(answer, more, "/v1/webhooks", limit))


@get("/webhooks/deliveries", before_request=reader, tags=["webhooks"])
async def list_deliveries(
    principal: Who,
    resources: With,
    delivery_state: StateFilter = None,
    webhook_id: WebhookFilter = None,
    after: After = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response[Any]:
    """Every delivery with its state, in log order; `state` and `webhook_id` filter."""
    answer, more = await hooks.deliveries_page(
        resources.pool, principal.organisation, delivery_state, webhook_id, limit, cursor, after
    )
    filters = {
        k: v for k, v in (("state", delivery_state), ("webhook_id", webhook_id)) if v is not None
    }
    return Response(_listed(answer, more, "/v1/webhooks/deliveries", limit, filters))


async def _delete(
    resources: Resources, ctx: CommandContext, webhook: str
) -> tuple[Answer, AppendResult]:
    try:
        return await hooks.delete(resources.pool, _store(resources), ctx, webhook)
    except hooks.UnknownWebhook as error:
        raise NotFound(str(error), webhook_id=webhook) from None


def _store(resources: Resources) -> PostgresEventStore:
    """Webhook commands write their row in the transaction of the command's own row, which needs
    the PostgreSQL store's append on a given connection."""
    store = resources.keeper.store
    if not isinstance(store, PostgresEventStore):
        raise TypeError("webhook commands need the PostgreSQL event store")
    return store


def _listed(
    answer: dict[str, Any],
    more: str | None,
    path: str,
    limit: int,
    filters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """API.md lists: `{position, items, next}`, `next` the path of the next page or null."""
    query = {**(filters or {}), "limit": limit, "cursor": more}
    return {**answer, "next": f"{path}?{urlencode(query)}" if more else None}


ROUTES = (register_webhook, delete_webhook, list_webhooks, list_deliveries)
