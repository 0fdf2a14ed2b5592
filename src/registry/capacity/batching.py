"""One round trip for the gate's calls about one event that arrive together.

Under load, dozens of sign-ups are in flight per API process, and each made two script calls
(decide, then confirm once its append committed): the profile of the broad crowd put a fifth of
a worker's CPU in redis-py's per-call path (connection pool, packing, retry wrapper, parsing;
bench/README.md, 2026-12-06 evening). The calls made in the same turn of the event loop for the
same event now go as one script (batch.lua) that runs them in turn. That is the same as running
them one after another, which is all concurrent callers can expect anyway. Calls about
different events go separately (their keys hash to different slots on a cluster).

While a group about an event is out, the next calls about it wait for its reply and then go
together (at most `max_in_flight` groups out per event; as the append batcher does,
eventstore/batcher.py): under load the groups grow with the round trip instead of leaving one a
turn, fewer scripts for the same calls (bench/README.md, "2026-12-07, evening"). Otherwise a
call waits until the loop's next turn, never for a timer.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

#: Calls per script at most: each takes ~0.05 - 0.1 ms of Redis's one thread.
MAX_CALLS: Final = 32
#: Groups about one event out at a time, per process.
MAX_IN_FLIGHT: Final = 1

Kind = Literal["d", "s", "a"]  # batch.lua: decide, settle, admit
Send = Callable[[str, list[str], list[str]], Awaitable[Sequence[object]]]


@dataclass(frozen=True)
class _Call:
    kind: Kind
    keys: Sequence[str]
    args: Sequence[str]
    reply: asyncio.Future[str]


class CallBatcher:
    """Gathers calls per event key until the loop's next turn, then sends each group with
    `send(event_key, keys, args)`, which runs batch.lua and returns one reply per call (a
    string, or an exception for that call alone)."""

    def __init__(
        self, send: Send, *, max_calls: int = MAX_CALLS, max_in_flight: int = MAX_IN_FLIGHT
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("at least one group must be allowed out")
        self._send = send
        self._max_calls = max_calls
        self._max_in_flight = max_in_flight
        self._pending: dict[str, list[_Call]] = {}
        self._out: dict[str, int] = {}  # groups out per event
        self._sending: set[asyncio.Task[None]] = set()  # strong references (asyncio docs)

    async def call(
        self, event_key: str, kind: Kind, keys: Sequence[str], args: Sequence[str]
    ) -> str:
        loop = asyncio.get_running_loop()
        pending = self._pending.get(event_key)
        if pending is None:
            pending = self._pending[event_key] = []
            if self._out.get(event_key, 0) < self._max_in_flight:
                loop.call_soon(self._flush, event_key)
            # else: sent when a group out comes back (_returned)
        reply: asyncio.Future[str] = loop.create_future()
        pending.append(_Call(kind, keys, args, reply))
        return await reply

    def _flush(self, event_key: str) -> None:
        # A caller cancelled before its call was sent (a request past its deadline) sends none.
        calls = [c for c in self._pending.pop(event_key, []) if not c.reply.done()]
        for first in range(0, len(calls), self._max_calls):
            task = asyncio.ensure_future(
                self._send_group(event_key, calls[first : first + self._max_calls])
            )
            self._out[event_key] = self._out.get(event_key, 0) + 1
            self._sending.add(task)
            task.add_done_callback(functools.partial(self._returned, event_key))

    def _returned(self, event_key: str, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        out = self._out[event_key] - 1
        if out:
            self._out[event_key] = out
        else:
            del self._out[event_key]
        if event_key in self._pending and out < self._max_in_flight:
            self._flush(event_key)

    async def _send_group(self, event_key: str, calls: list[_Call]) -> None:
        keys = list(dict.fromkeys(k for c in calls for k in c.keys))
        args: list[str] = []
        for c in calls:
            args += [c.kind, str(len(c.args)), *c.args]
        try:
            replies = await self._send(event_key, keys, args)
            if len(replies) != len(calls):
                raise RuntimeError(f"the gate answered {len(replies)} of {len(calls)} calls")
        except asyncio.CancelledError:
            for c in calls:
                c.reply.cancel()
            raise
        except Exception as error:
            for c in calls:
                if not c.reply.done():
                    c.reply.set_exception(error)
            return
        for c, reply in zip(calls, replies, strict=True):
            if c.reply.done():  # its caller gave up meanwhile; the call itself was made
                continue
            if isinstance(reply, Exception):
                c.reply.set_exception(reply)
            else:
                c.reply.set_result(reply.decode() if isinstance(reply, bytes) else str(reply))
