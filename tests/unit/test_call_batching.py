"""The gate's call batcher (capacity/batching.py): calls about one event made in the same turn
of the event loop go as one script call, in the order they were made; each caller gets its own
reply or its own error."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from registry.capacity.batching import CallBatcher


class Recorder:
    """A stand-in for batch.lua: answers each call with its first argument, or an error for
    arguments starting "bad"; `fail` fails the whole group."""

    def __init__(self) -> None:
        self.groups: list[tuple[str, list[str], list[str]]] = []
        self.fail: Exception | None = None

    async def send(self, event_key: str, keys: list[str], args: list[str]) -> Sequence[object]:
        self.groups.append((event_key, keys, args))
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        replies: list[object] = []
        i = 0
        while i < len(args):
            n = int(args[i + 1])
            first = args[i + 2]
            replies.append(ValueError(first) if first.startswith("bad") else first.encode())
            i += 2 + n
        return replies


async def test_calls_made_together_go_in_one_group_in_order() -> None:
    recorder = Recorder()
    batcher = CallBatcher(recorder.send)
    replies = await asyncio.gather(
        batcher.call("o:e", "d", ["k1", "k2"], ["a", "x"]),
        batcher.call("o:e", "s", ["k1"], ["b"]),
        batcher.call("o:e", "d", ["k3"], ["c", "y", "z"]),
    )
    assert replies == ["a", "b", "c"]
    assert recorder.groups == [
        ("o:e", ["k1", "k2", "k3"], ["d", "2", "a", "x", "s", "1", "b", "d", "3", "c", "y", "z"])
    ]


async def test_events_go_apart_and_later_calls_in_a_later_group() -> None:
    recorder = Recorder()
    batcher = CallBatcher(recorder.send)
    await asyncio.gather(batcher.call("o:e", "d", [], ["a"]), batcher.call("o:f", "d", [], ["b"]))
    assert await batcher.call("o:e", "s", [], ["c"]) == "c"
    assert [(key, args) for key, _, args in recorder.groups] == [
        ("o:e", ["d", "1", "a"]),
        ("o:f", ["d", "1", "b"]),
        ("o:e", ["s", "1", "c"]),
    ]


async def test_groups_are_cut_at_max_calls() -> None:
    recorder = Recorder()
    batcher = CallBatcher(recorder.send, max_calls=2)
    replies = await asyncio.gather(*(batcher.call("o:e", "d", [], [str(n)]) for n in range(5)))
    assert replies == ["0", "1", "2", "3", "4"]
    assert [len(args) // 3 for _, _, args in recorder.groups] == [2, 2, 1]


async def test_a_refused_call_fails_alone_and_a_failed_group_fails_all() -> None:
    recorder = Recorder()
    batcher = CallBatcher(recorder.send)
    results = await asyncio.gather(
        batcher.call("o:e", "d", [], ["a"]),
        batcher.call("o:e", "d", [], ["bad"]),
        return_exceptions=True,
    )
    assert results[0] == "a" and isinstance(results[1], ValueError)
    recorder.fail = ConnectionError("Redis went away")
    results = await asyncio.gather(
        batcher.call("o:e", "d", [], ["a"]),
        batcher.call("o:e", "s", [], ["b"]),
        return_exceptions=True,
    )
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_a_call_cancelled_before_the_group_left_is_not_sent() -> None:
    recorder = Recorder()
    batcher = CallBatcher(recorder.send)
    doomed = asyncio.ensure_future(batcher.call("o:e", "d", [], ["gone"]))
    kept = asyncio.ensure_future(batcher.call("o:e", "d", [], ["kept"]))
    await asyncio.sleep(0)  # both are waiting for their replies now
    doomed.cancel()
    assert await kept == "kept"
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert [args for _, _, args in recorder.groups] == [["d", "1", "kept"]]
