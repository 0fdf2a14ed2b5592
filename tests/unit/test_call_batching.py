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


class Gated(Recorder):
    """A Recorder whose groups come back only when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.back: list[asyncio.Event] = []

    async def send(self, event_key: str, keys: list[str], args: list[str]) -> Sequence[object]:
        back = asyncio.Event()
        self.back.append(back)
        await back.wait()
        return await super().send(event_key, keys, args)


async def _turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_calls_made_while_a_group_is_out_wait_for_it_and_then_go_together() -> None:
    recorder = Gated()
    batcher = CallBatcher(recorder.send)
    first = asyncio.ensure_future(batcher.call("o:e", "d", [], ["a"]))
    await _turns()
    later = [asyncio.ensure_future(batcher.call("o:e", "d", [], [x])) for x in "bc"]
    await _turns()
    later.append(asyncio.ensure_future(batcher.call("o:e", "s", [], ["d"])))
    other = asyncio.ensure_future(batcher.call("o:f", "d", [], ["e"]))  # another event: not held
    await _turns()
    assert len(recorder.back) == 2  # o:e's first group and o:f's; b, c and d wait
    recorder.back[0].set()
    assert await first == "a"
    await _turns()
    assert len(recorder.back) == 3  # b, c and d in one group, in order
    for back in recorder.back:
        back.set()
    assert await asyncio.gather(*later, other) == ["b", "c", "d", "e"]
    assert [args for key, _, args in recorder.groups if key == "o:e"] == [
        ["d", "1", "a"],
        ["d", "1", "b", "d", "1", "c", "s", "1", "d"],
    ]


async def test_with_two_groups_allowed_out_the_second_goes_at_once() -> None:
    recorder = Gated()
    batcher = CallBatcher(recorder.send, max_in_flight=2)
    calls = [asyncio.ensure_future(batcher.call("o:e", "d", [], ["a"]))]
    await _turns()
    calls.append(asyncio.ensure_future(batcher.call("o:e", "d", [], ["b"])))
    await _turns()
    calls.append(asyncio.ensure_future(batcher.call("o:e", "d", [], ["c"])))
    await _turns()
    assert len(recorder.back) == 2  # a and b out, c waiting
    recorder.back[1].set()
    assert await calls[1] == "b"
    await _turns()
    assert len(recorder.back) == 3
    for back in recorder.back:
        back.set()
    assert await asyncio.gather(*calls) == ["a", "b", "c"]


async def test_a_group_that_fails_lets_the_waiting_calls_go() -> None:
    recorder = Gated()
    batcher = CallBatcher(recorder.send)
    first = asyncio.ensure_future(batcher.call("o:e", "d", [], ["a"]))
    await _turns()
    waiting = asyncio.ensure_future(batcher.call("o:e", "d", [], ["b"]))
    await _turns()
    recorder.fail = ConnectionError("Redis went away")
    recorder.back[0].set()
    with pytest.raises(ConnectionError):
        await first
    recorder.fail = None
    await _turns()
    recorder.back[1].set()
    assert await waiting == "b"
