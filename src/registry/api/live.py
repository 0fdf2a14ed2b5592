"""`GET /v1/events/{event}/live`: the organisers' live stream (Server-Sent Events), and the
lifespan that keeps the process's :class:`LiveFeed` (docs/organiser-page.md).

Everything that can fail is checked before the stream starts (key, role, event, the
`Last-Event-ID` header), so failures are ordinary problem+json answers; once `200
text/event-stream` is sent, the stream only carries messages.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, Final

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter
from litestar.response import Stream

from registry.api.lifespan import Resources, provide_resources
from registry.api.openapi import problem_spec
from registry.api.problems import NotFound, ValidationFailed
from registry.auth.guards import organiser_only
from registry.auth.principal import Principal
from registry.domain.streams import event_stream
from registry.live.feed import LiveFeed
from registry.live.stream import live_updates
from registry.live.termination import on_termination

_STATE_KEY: Final = "live_feed"
LAST_EVENT_ID: Final = "Last-Event-ID"
#: A log position: digits, at most 18 of them (a bigint).
_POSITION: Final = re.compile(r"[0-9]{1,18}")
#: Proxies must neither cache nor buffer the stream (X-Accel-Buffering: nginx).
_HEADERS: Final = {"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"}

Who = NamedDependency[Principal]
With = NamedDependency[Resources]
LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name=LAST_EVENT_ID,
        required=False,
        description="Resume after this log position (the `id:` of the last message received).",
    ),
]


def live_lifespan() -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Keeps a :class:`LiveFeed` on ``app.state``. Open streams end when the process is told to
    stop (servers drain responses before the lifespan's shutdown: registry.live.termination),
    and at the latest when this shutdown runs. Listed after the resources' lifespan, so it
    closes before the pool does."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        resources = provide_resources(app.state)
        feed = LiveFeed(resources.pool, resources.keeper.store)
        app.state[_STATE_KEY] = feed
        undo = on_termination(asyncio.get_running_loop(), feed.end_streams)
        try:
            yield
        finally:
            undo()
            await feed.close()
            del app.state[_STATE_KEY]

    return lifespan


def provide_feed(state: State) -> LiveFeed:
    feed = state.get(_STATE_KEY)
    if not isinstance(feed, LiveFeed):
        raise RuntimeError("the live feed is opened by the app's lifespan; it has not run")
    return feed


def resume_position(header: str | None, head: int) -> int | None:
    """The position to resume after, from `Last-Event-ID`; None to start with every session
    (no header, or one beyond the log's head: not one of this log's positions)."""
    if header is None or not header.strip():
        return None
    value = header.strip()
    if not _POSITION.fullmatch(value):
        raise ValidationFailed(
            f"{LAST_EVENT_ID} must be a log position (the id of a message of this stream).",
            field=LAST_EVENT_ID,
        )
    position = int(value)
    return position if position <= head else None


@get(
    "/events/{event:str}/live",
    before_request=organiser_only,
    tags=["reads"],
    media_type="text/event-stream",
    responses={
        401: problem_spec("No key or an unknown key: problem `unauthorized`"),
        403: problem_spec("Not an organiser key: problem `forbidden`"),
        404: problem_spec("Unknown event: problem `not-found`"),
        422: problem_spec("A `Last-Event-ID` that is not a position: `validation-failed`"),
    },
)
async def live(
    event: FromPath[str],
    principal: Who,
    resources: With,
    state: State,
    last_event_id: LastEventId = None,
) -> Stream:
    """Server-Sent Events: occupancy rows of the sessions that change, as the read models apply
    the log. Each message's `id` is a log position; reconnect with `Last-Event-ID` to get what
    changed after it. Without it, the first message holds every session (`complete`)."""
    store = resources.keeper.store
    since = resume_position(last_event_id, await store.head())
    if not await store.read_stream(event_stream(principal.organisation, event), 1, 1):
        raise NotFound(f"unknown event: {event}", event_id=event)
    updates = live_updates(
        provide_feed(state), resources.pool, principal.organisation, event, since
    )
    return Stream(updates, media_type="text/event-stream", headers=_HEADERS)


ROUTES: Final[tuple[Any, ...]] = (live,)
