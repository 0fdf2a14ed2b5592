"""A deadline per request: past ``REGISTRY_REQUEST_DEADLINE_S`` without an answer, the caller
gets 503 ``unavailable`` with ``Retry-After`` (problem+json), and the work goes on.

The work is *not* cancelled. A command may be inside its append: cancelling it there cannot
tell whether the transaction committed, so the write path would have to rebuild the event's
capacity gate from the log (registry.handlers.seat_appends.append_decision, ``except
BaseException``), stalling that event's sign-ups for everyone. Left to finish, the append
commits or fails on its own, bounded by the database's statement and lock timeouts and Redis's
socket timeouts (docs/security.md), and its answer is kept with the command: a client that
retries with the same ``Idempotency-Key`` gets it (API.md: a repeat waits for a first still
running). A read left running ends by itself too (``?after=`` waits at most 5 s).

Only the answer's start is bounded: once a handler has started its answer (a stream, such as
the live feed), it is not cut. The first middleware of the app (registry.api.app), so that key
lookups and rate limit checks count too; routing (404/405) comes before it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Final

import msgspec
import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from registry.api.problems import PROBLEM_MEDIA_TYPE, Unavailable

#: How soon a client may try again; a command still running is then likely done.
RETRY_AFTER_S: Final = 1

log = structlog.get_logger(__name__)


class Deadline(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        #: Requests answered by the deadline and still running: kept referenced until they end
        #: (the event loop holds tasks only weakly).
        self._left_running: set[asyncio.Task[None]] = set()

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = abandoned = False

        async def send_unless_abandoned(message: Message) -> None:
            nonlocal started
            if abandoned:
                return  # the caller has had its 503
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        loop = asyncio.get_running_loop()
        work = asyncio.ensure_future(next_app(scope, receive, send_unless_abandoned))
        # A future of its own to wait on, settled by the work's end or by the deadline: the
        # caller going away cancels only this wait, never the work. As `shield` + `wait_for`
        # would, at ~5 us a request instead of 7.5 (measured alone in process, uvloop).
        settled = loop.create_future()
        work.add_done_callback(functools.partial(_settle, settled))
        timer = loop.call_later(self.seconds, _settle, settled)
        try:
            await settled
        except asyncio.CancelledError:
            self._leave_running(work)
            raise
        finally:
            timer.cancel()
        if work.done():
            work.result()  # the work's own error, if it ended in one
            return
        if started:
            await work  # an answer under way (a stream): its own pace
            return
        abandoned = True
        self._leave_running(work)
        log.warning(
            "request deadline passed; answered 503, the work goes on",
            handler=getattr(scope.get("route_handler"), "handler_name", None),
            deadline_s=self.seconds,
        )
        await _answer_unavailable(send, self.seconds)

    def _leave_running(self, work: asyncio.Task[None]) -> None:
        self._left_running.add(work)
        work.add_done_callback(self._finished)

    def _finished(self, work: asyncio.Task[None]) -> None:
        self._left_running.discard(work)
        if not work.cancelled() and (error := work.exception()) is not None:
            # Its answer went nowhere; Litestar's handler normally turns errors into answers,
            # so this is rare. Only the type: an error's text may quote a request's data.
            log.warning("work past its deadline failed", error=type(error).__name__)


def _settle(settled: asyncio.Future[None], *_: object) -> None:
    if not settled.done():
        settled.set_result(None)


async def _answer_unavailable(send: Send, seconds: float) -> None:
    problem = Unavailable(
        f"The request did not finish within {seconds:g} s. A command may still take effect: "
        "repeat it with the same Idempotency-Key to get its answer.",
        retry_after=RETRY_AFTER_S,
    ).details()
    body = msgspec.json.encode(problem.body())
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in problem.headers.items()),
    ]
    await send({"type": "http.response.start", "status": problem.type.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
