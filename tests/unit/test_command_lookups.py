"""Lookups of recorded commands made in the same turn of the event loop go as one query
(eventstore/command_lookups.py); a failed query fails each of its lookups."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from registry.eventstore.command_lookups import CommandLookups


class FakeConnection:
    def __init__(self, queries: list[list[str]], fail: bool) -> None:
        self.queries, self.fail = queries, fail

    async def fetch(self, _sql: str, ids: list[str]) -> list[dict[str, Any]]:
        self.queries.append(list(ids))
        if self.fail:
            raise ConnectionError("the database went away")
        return [
            {
                "command_id": c,
                "fingerprint": None,
                "positions": [1],
                "position": 1,
                "stream_versions": [1],
                "answer": f'{{"c": "{c}"}}',
            }
            for c in ids
            if c.startswith("known")
        ]

    def get_server_pid(self) -> int:
        return 0


class FakePool:
    def __init__(self) -> None:
        self.queries: list[list[str]] = []
        self.fail = False

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        yield FakeConnection(self.queries, self.fail)


async def test_lookups_of_one_turn_are_one_query_and_each_gets_its_own_answer() -> None:
    pool = FakePool()
    lookups = CommandLookups(pool)  # type: ignore[arg-type]
    found = await asyncio.gather(
        lookups.stored("known-1"), lookups.stored("new-1"), lookups.stored("known-1")
    )
    assert pool.queries == [["known-1", "new-1"]]
    first, missing, again = found
    assert missing is None
    assert first is not None and again is not None
    assert first[1].answer == b'{"c": "known-1"}' and again[1].answer == b'{"c": "known-1"}'
    assert await lookups.stored("known-2") is not None  # a later turn: its own query
    assert pool.queries[1:] == [["known-2"]]


async def test_a_failed_query_fails_each_lookup_of_it() -> None:
    pool = FakePool()
    pool.fail = True
    lookups = CommandLookups(pool)  # type: ignore[arg-type]
    results = await asyncio.gather(lookups.stored("a"), lookups.stored("b"), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    pool.fail = False
    assert await lookups.stored("known-x") is not None


async def test_a_lookup_given_up_before_its_turn_is_not_asked() -> None:
    pool = FakePool()
    lookups = CommandLookups(pool)  # type: ignore[arg-type]
    doomed = asyncio.ensure_future(lookups.stored("known-gone"))
    kept = asyncio.ensure_future(lookups.stored("known-kept"))
    await asyncio.sleep(0)  # both wait for their turn now
    doomed.cancel()
    assert await kept is not None
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert pool.queries == [["known-kept"]]
