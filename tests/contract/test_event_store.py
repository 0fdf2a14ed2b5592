"""The event store contract: every adapter (memory, PostgreSQL) must pass all of it."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from registry.eventstore import (
    ANY,
    NO_STREAM,
    AppendResult,
    CommandIdReused,
    EventStore,
    GateFence,
    InvalidAppend,
    InvalidStreamId,
    Metadata,
    PayloadTooLarge,
    StaleGateDecision,
    StreamAppend,
    UnknownEventType,
    WrongExpectedVersion,
    postgres,
)
from tests.support.events import Deposited, Noted, NotRegistered, Opened


async def test_append_and_read_back(store: EventStore) -> None:
    meta = Metadata(command_id="c-1", correlation_id="corr", causation_id="cause", actor="tester")
    result = await store.append(
        [StreamAppend("account-1", NO_STREAM, [Opened(owner="ann"), Deposited(amount=5)])],
        metadata=meta,
    )
    assert result.positions == (1, 2)
    assert result.position == 2
    assert result.stream_versions == (2,)
    assert not result.replayed

    events = await store.read_stream("account-1")
    assert [e.event for e in events] == [Opened(owner="ann"), Deposited(amount=5)]
    assert [(e.stream_version, e.position) for e in events] == [(1, 1), (2, 2)]
    assert [e.type for e in events] == ["test.Opened", "test.Deposited"]
    assert all(e.metadata == meta and e.schema_version == 1 for e in events)
    assert events[0].event_id != events[1].event_id
    assert events[0].recorded_at.tzinfo is not None
    assert [e.event for e in await store.read_stream("account-1", from_version=2)] == [
        Deposited(amount=5)
    ]
    assert await store.read_stream("account-404") == []
    assert [e.position for e in await store.read_all()] == [1, 2]
    assert await store.head() == 2


async def test_wrong_expected_version_raises_with_actual_and_writes_nothing(
    store: EventStore,
) -> None:
    await store.append([StreamAppend("account-1", NO_STREAM, [Opened(owner="ann")])])
    with pytest.raises(WrongExpectedVersion) as raised:
        await store.append([StreamAppend("account-1", 0, [Deposited(amount=1)])])
    assert (raised.value.stream_id, raised.value.expected, raised.value.actual) == (
        "account-1",
        0,
        1,
    )
    with pytest.raises(WrongExpectedVersion) as raised:
        await store.append([StreamAppend("account-1", 5, [Deposited(amount=1)])])
    assert raised.value.actual == 1
    with pytest.raises(WrongExpectedVersion) as raised:
        await store.append([StreamAppend("account-2", 1, [Deposited(amount=1)])])
    assert raised.value.actual == 0
    assert len(await store.read_all()) == 1
    # ANY appends whatever the version is; an exact version that matches appends too.
    assert (
        await store.append([StreamAppend("account-1", ANY, [Noted(text="a")])])
    ).stream_versions == (2,)
    assert (
        await store.append([StreamAppend("account-1", 2, [Noted(text="b")])])
    ).stream_versions == (3,)


async def test_repeated_command_id_returns_first_result_and_writes_nothing(
    store: EventStore,
) -> None:
    first = await store.append(
        [StreamAppend("account-1", NO_STREAM, [Opened(owner="ann")])],
        command_id="cmd-1",
        fingerprint="body-1",
        answer=b'{"status": 201}',
    )
    again = await store.append(
        [StreamAppend("account-1", NO_STREAM, [Opened(owner="ann")])],
        command_id="cmd-1",
        fingerprint="body-1",
        answer=b'{"status": 999}',
    )
    assert again.replayed
    assert (again.positions, again.position, again.stream_versions) == (
        first.positions,
        first.position,
        first.stream_versions,
    )
    assert again.answer is not None and b"201" in again.answer
    assert len(await store.read_all()) == 1
    stored = await store.command_result("cmd-1")
    assert stored is not None and stored.position == first.position
    assert await store.command_result("cmd-2") is None
    with pytest.raises(CommandIdReused):
        await store.append(
            [StreamAppend("account-1", ANY, [Deposited(amount=1)])],
            command_id="cmd-1",
            fingerprint="body-2",
        )
    assert len(await store.read_all()) == 1


async def test_command_without_events_records_its_answer(store: EventStore) -> None:
    await store.append([StreamAppend("account-1", NO_STREAM, [Opened(owner="ann")])])
    result = await store.append([], command_id="rejected-1", answer=b'{"status": 409}')
    assert result.positions == ()
    assert result.position == 1  # the log's head: nothing written
    replay = await store.append([], command_id="rejected-1")
    assert replay.replayed and replay.answer is not None and b"409" in replay.answer
    assert len(await store.read_all()) == 1


async def test_multi_stream_append_is_all_or_nothing(store: EventStore) -> None:
    await store.append([StreamAppend("account-1", NO_STREAM, [Opened(owner="ann")])])
    with pytest.raises(WrongExpectedVersion) as raised:
        await store.append(
            [
                StreamAppend("account-2", NO_STREAM, [Opened(owner="bob")]),
                StreamAppend("account-1", 7, [Deposited(amount=1)]),
                StreamAppend("account-3", NO_STREAM, [Opened(owner="cy")]),
            ]
        )
    assert raised.value.stream_id == "account-1"
    assert [e.stream_id for e in await store.read_all()] == ["account-1"]
    assert await store.read_stream("account-2") == []
    result = await store.append(
        [
            StreamAppend("account-2", NO_STREAM, [Opened(owner="bob"), Deposited(amount=2)]),
            StreamAppend("account-1", 1, [Deposited(amount=1)]),
        ]
    )
    assert result.stream_versions == (2, 2)
    assert [(e.stream_id, e.stream_version) for e in await store.read_all()] == [
        ("account-1", 1),
        ("account-2", 1),
        ("account-2", 2),
        ("account-1", 2),
    ]


async def test_stream_types_are_a_streams_types_in_version_order(store: EventStore) -> None:
    await store.append([StreamAppend("account-1", NO_STREAM, [Opened(owner="ann")])])
    await store.append([StreamAppend("account-2", NO_STREAM, [Opened(owner="bob")])])
    await store.append([StreamAppend("account-1", ANY, [Deposited(amount=1), Noted(text="x")])])
    assert await store.stream_types("account-1") == ["test.Opened", "test.Deposited", "test.Noted"]
    assert await store.stream_types("account-1") == [
        e.type for e in await store.read_stream("account-1")
    ]
    assert await store.stream_types("account-404") == []


async def test_a_stream_named_again_keeps_the_order_the_events_were_given_in(
    store: EventStore,
) -> None:
    """Facts about several streams in the order they were decided: positions follow the list,
    a stream named again goes on counting its versions (seat_appends.participant_appends)."""
    await store.append([StreamAppend("account-1", NO_STREAM, [Opened(owner="ann")])])
    result = await store.append(
        [
            StreamAppend("account-1", 1, [Deposited(amount=1)]),
            StreamAppend("account-2", ANY, [Opened(owner="bob")]),
            StreamAppend("account-1", ANY, [Deposited(amount=2), Deposited(amount=3)]),
            StreamAppend("account-2", ANY, [Deposited(amount=4)]),
        ],
        command_id="interleaved-1",
    )
    assert result.positions == (2, 3, 4, 5, 6)
    assert result.stream_versions == (4, 2)
    assert [(e.stream_id, e.stream_version, e.position) for e in await store.read_all(2)] == [
        ("account-1", 2, 2),
        ("account-2", 1, 3),
        ("account-1", 3, 4),
        ("account-1", 4, 5),
        ("account-2", 2, 6),
    ]
    assert [e.stream_version for e in await store.read_stream("account-1")] == [1, 2, 3, 4]
    replay = await store.append([], command_id="interleaved-1")
    assert replay.replayed and replay.positions == result.positions


async def test_a_stream_named_again_may_not_carry_an_expected_version(store: EventStore) -> None:
    with pytest.raises(InvalidAppend):
        await store.append(
            [
                StreamAppend("account-1", NO_STREAM, [Opened(owner="ann")]),
                StreamAppend("account-2", ANY, [Opened(owner="bob")]),
                StreamAppend("account-1", 1, [Deposited(amount=1)]),
            ]
        )
    assert await store.read_all() == []


async def test_a_version_assertion_without_events_guards_the_append(store: EventStore) -> None:
    await store.append([StreamAppend("event-e1", NO_STREAM, [Opened(owner="org")])])
    ok = await store.append(
        [StreamAppend("event-e1", 1, []), StreamAppend("account-1", NO_STREAM, [Opened(owner="x")])]
    )
    assert ok.stream_versions == (1, 1)
    with pytest.raises(WrongExpectedVersion):
        await store.append(
            [
                StreamAppend("event-e1", 0, []),
                StreamAppend("account-2", NO_STREAM, [Opened(owner="y")]),
            ]
        )
    assert await store.read_stream("account-2") == []


async def test_read_all_is_in_order_and_pages_by_position(store: EventStore) -> None:
    for i in range(25):
        await store.append([StreamAppend(f"account-{i % 4}", ANY, [Deposited(amount=i)])])
    seen: list[int] = []
    position = 1
    while page := await store.read_all(position, limit=7):
        assert len(page) <= 7
        seen.extend(e.position for e in page)
        position = page[-1].position + 1
    assert seen == list(range(1, 26))
    amounts = [
        e.event.amount for e in await store.read_all(1, 100) if isinstance(e.event, Deposited)
    ]
    assert amounts == list(range(25))
    assert [e.position for e in await store.read_all(20, 3)] == [20, 21, 22]


@pytest.mark.parametrize(
    ("append", "error"),
    [
        (StreamAppend("Account 1", ANY, [Noted(text="x")]), InvalidStreamId),
        (StreamAppend("account", ANY, [Noted(text="x")]), InvalidStreamId),
        (StreamAppend("account-1; DROP TABLE events", ANY, [Noted(text="x")]), InvalidStreamId),
        (StreamAppend("account-1", ANY, [NotRegistered()]), UnknownEventType),
        (StreamAppend("account-1", ANY, [Noted(text="x" * 70_000)]), PayloadTooLarge),
        (StreamAppend("account-1", -2, [Noted(text="x")]), InvalidAppend),
    ],
)
async def test_bad_input_raises_a_typed_error_and_writes_nothing(
    store: EventStore, append: StreamAppend, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await store.append(
            [StreamAppend("account-0", NO_STREAM, [Opened(owner="ok")]), append],
            command_id="bad-1",
        )
    assert await store.read_all() == []
    assert await store.command_result("bad-1") is None


async def test_subscribe_delivers_every_event_once_in_order(store: EventStore) -> None:
    await store.append([StreamAppend("account-1", ANY, [Deposited(amount=0)])])
    received: list[int] = []

    async def consume() -> None:
        async for event in store.subscribe(1):
            received.append(event.position)
            if len(received) == 10:
                return

    consumer = asyncio.create_task(consume())
    for i in range(1, 10):
        await store.append([StreamAppend(f"account-{i % 3}", ANY, [Deposited(amount=i)])])
        if i % 4 == 0:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(consumer, 10)
    assert received == list(range(1, 11))
    late: list[int] = []
    async for event in store.subscribe(8):
        late.append(event.position)
        if event.position == 10:
            break
    assert late == [8, 9, 10]


async def test_read_streams_reads_every_stream_under_a_prefix_in_global_order(
    store: EventStore,
) -> None:
    await store.append([StreamAppend("participant-o:e1:p1", ANY, [Noted(text="1")])])
    await store.append([StreamAppend("participant-o:e2:p1", ANY, [Noted(text="other event")])])
    await store.append([StreamAppend("participant-o:e1:p2", ANY, [Noted(text="2")])])
    await store.append([StreamAppend("participant-o:e1:p1", ANY, [Noted(text="3")])])
    await store.append([StreamAppend("participant-o_e1:p9", ANY, [Noted(text="no wildcard")])])
    events = await store.read_streams("participant-o:e1:")
    assert [e.event for e in events] == [Noted(text="1"), Noted(text="2"), Noted(text="3")]
    assert await store.read_streams("participant-o:e3:") == []
    # Streamed, the same; and inside a gate fence (on the fence's own transaction) too.
    assert [e async for e in store.iter_streams("participant-o:e1:")] == events
    async with store.gate_fence("o:e1"):
        assert [e async for e in store.iter_streams("participant-o:e1:")] == events
    assert [e async for e in store.iter_streams("participant-o:e3:")] == []


async def test_a_streamed_read_holds_one_snapshot(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Appends that commit while a streamed read is under way are not in it (a rebuild folds
    one state of the log), however many rows it has read so far."""
    monkeypatch.setattr(postgres, "STREAMED_ROWS", 2)  # PostgreSQL: pages of two rows
    for n in range(5):
        await store.append([StreamAppend(f"participant-o:e1:p{n}", ANY, [Noted(text=str(n))])])
    seen = []
    async with contextlib.aclosing(store.iter_streams("participant-o:e1:")) as reading:
        async for recorded in reading:
            if not seen:
                await store.append([StreamAppend("participant-o:e1:late", ANY, [Noted(text="5")])])
            seen.append(recorded.event)
    assert seen == [Noted(text=str(n)) for n in range(5)]


async def test_a_fenced_append_needs_the_current_epoch(store: EventStore) -> None:
    fenced = [StreamAppend("participant-o:e1:p1", ANY, [Noted(text="x")])]
    with pytest.raises(StaleGateDecision) as never_built:
        await store.append(fenced, fence=GateFence("o:e1", 1))
    assert never_built.value.current is None
    async with store.gate_fence("o:e1") as first:
        assert first == 1
    await store.append(fenced, fence=GateFence("o:e1", 1))
    async with store.gate_fence("o:e1") as second:
        assert second == 2
    with pytest.raises(StaleGateDecision) as stale:
        await store.append(fenced, fence=GateFence("o:e1", 1), command_id="late")
    assert (stale.value.epoch, stale.value.current) == (1, 2)
    assert len(await store.read_all()) == 1
    assert await store.command_result("late") is None
    async with store.gate_fence("o:e2") as other:
        assert other == 1  # fences are per key
    await store.append(fenced)  # an append without a fence is not concerned


async def test_an_append_inside_the_fence_lands_with_it_and_fenced_appends_wait(
    store: EventStore,
) -> None:
    """The organisers' changes to seats: read, decide and append inside one fence, while
    decisions of the old gate queue behind it and are refused afterwards."""
    fenced = [StreamAppend("participant-o:e1:p1", ANY, [Noted(text="seat")])]
    async with store.gate_fence("o:e1"):
        pass
    queued: asyncio.Task[object] | None = None
    async with store.gate_fence("o:e1") as epoch:
        queued = asyncio.create_task(store.append(fenced, fence=GateFence("o:e1", epoch - 1)))
        await asyncio.sleep(0.05)
        assert not queued.done()  # it waits for the fence
        inside = await store.append(
            [StreamAppend("event-o:e1", ANY, [Noted(text="changed")])], command_id="organiser"
        )
        assert [e.event for e in await store.read_stream("event-o:e1")] == [Noted(text="changed")]
    with pytest.raises(StaleGateDecision):
        await queued
    assert [e.position for e in await store.read_all()] == [inside.position]
    assert (await store.command_result("organiser")) is not None


async def test_one_append_can_hold_the_thousands_of_facts_an_organisers_change_makes(
    store: EventStore,
) -> None:
    streams = [
        StreamAppend(f"participant-o:e:p{i}", NO_STREAM, [Noted(text="moved"), Noted(text="x")])
        for i in range(2500)
    ]
    result = await store.append(streams, command_id="merge")
    assert len(result.positions) == 5000
    assert len(await store.read_all(limit=10_000)) == 5000


async def test_a_stored_result_is_only_handed_to_the_same_fingerprint(store: EventStore) -> None:
    await store.append([], command_id="c-1", fingerprint="body-a", answer=b'{"status": 409}')
    same = await store.command_result("c-1", "body-a")
    assert same is not None
    assert same.answer == b'{"status": 409}'
    with pytest.raises(CommandIdReused):
        await store.command_result("c-1", "body-b")
    assert await store.command_result("c-2", "body-a") is None


async def test_lookups_made_together_each_get_their_own_answer(store: EventStore) -> None:
    """The PostgreSQL store gathers the lookups of one turn into one query (command_lookups.py):
    each caller still gets exactly what it would alone, a mismatch raises for its caller only."""
    for n in range(5):
        await store.append(
            [StreamAppend(f"s-{n}", NO_STREAM, [Noted(text=str(n))])],
            command_id=f"c-{n}",
            fingerprint=f"body-{n}",
            answer=b'{"n": %d}' % n,
        )
    asked = [("c-3", "body-3"), ("c-9", "body-9"), ("c-0", None), ("c-1", "other"), ("c-3", None)]
    got = await asyncio.gather(
        *(store.command_result(c, f) for c, f in asked), return_exceptions=True
    )
    answers = [g.answer if isinstance(g, AppendResult) else g for g in got]
    assert answers[0] == b'{"n": 3}' and answers[4] == b'{"n": 3}' and answers[2] == b'{"n": 0}'
    assert answers[1] is None
    assert isinstance(answers[3], CommandIdReused)
    assert all(g.replayed for g in got if isinstance(g, AppendResult))


async def test_stream_ids_lists_the_streams_under_a_prefix(store: EventStore) -> None:
    for stream in ("event-acme:b", "event-acme:a", "participant-acme:a:p1", "event-other:a"):
        await store.append([StreamAppend(stream, ANY, [Noted(text=stream)])])
    assert await store.stream_ids("event-acme:") == ["event-acme:a", "event-acme:b"]
    assert await store.stream_ids("event-") == ["event-acme:a", "event-acme:b", "event-other:a"]
    assert await store.stream_ids("event-nobody:") == []
