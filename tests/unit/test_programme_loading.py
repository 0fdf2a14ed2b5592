"""load_programme folds only what is new since its last fold, and never trusts a fold the log
does not have (registry.handlers.loading)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from typing import Any

from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain import programme as rules
from registry.domain.events import ALL_EVENTS
from registry.domain.streams import event_stream
from registry.eventstore import EventCodec, RecordedEvent
from registry.eventstore.memory import MemoryEventStore
from registry.handlers import loading, programme
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper

AMS = dt.timezone(dt.timedelta(hours=1))


class CountingStore(MemoryEventStore):
    """Records the versions each read_stream started from."""

    def __init__(self) -> None:
        super().__init__(EventCodec(ALL_EVENTS))
        self.reads: list[int] = []

    async def read_stream(self, stream_id: str, *args: Any, **kw: Any) -> list[RecordedEvent]:
        self.reads.append(kw.get("from_version", args[0] if args else 1))
        return await super().read_stream(stream_id, *args, **kw)


def ctx(n: str) -> CommandContext:
    return CommandContext(organisation="acme", actor="test", command_id=f"cmd-{n}")


async def schedule(keeper: GateKeeper, sid: str, hour: int) -> None:
    session = cmd.ScheduleSession(
        id=sid,
        title=sid,
        starts_at=dt.datetime(2024, 1, 11, hour, tzinfo=AMS),
        ends_at=dt.datetime(2024, 1, 11, hour + 1, tzinfo=AMS),
        capacity=10,
    )
    await programme.change_programme(
        keeper, ctx(sid), "day", lambda p: rules.decide_schedule(p, session), 201
    )


async def day(store: MemoryEventStore) -> GateKeeper:
    """A keeper on `store` with the event "day" created."""
    keeper = GateKeeper(store, MemoryGate())
    create = cmd.CreateEvent(
        id="day", title="Day", timezone="Europe/Amsterdam", date=dt.date(2024, 1, 11)
    )
    await programme.create_event(keeper, ctx("create"), create)
    return keeper


async def test_a_second_load_reads_from_the_last_fold_and_equals_a_full_fold() -> None:
    store = CountingStore()
    keeper = await day(store)
    await schedule(keeper, "a", 10)
    _, version = await loading.load_programme(store, "acme", "day")
    await schedule(keeper, "b", 11)  # loads the programme too (and the gate's rebuild after it)
    store.reads.clear()
    second, later = await loading.load_programme(store, "acme", "day")
    assert store.reads == [later]  # only the cached fold's own fact, read once
    assert later == version + 1 and set(second.sessions) == {"a", "b"}
    loading._FOLDED.clear()
    fresh, same = await loading.load_programme(store, "acme", "day")
    assert (fresh, same) == (second, later)


async def test_a_fold_the_log_does_not_have_is_folded_anew() -> None:
    """As after an organiser's change that read its own append inside a gate fence whose
    transaction then rolled back: the cached fact at that version is not the log's."""
    store = CountingStore()
    keeper = await day(store)
    await schedule(keeper, "a", 10)
    real, version = await loading.load_programme(store, "acme", "day")
    stream = event_stream("acme", "day")
    folds = loading._FOLDED[store]
    ghost = dataclasses.replace(real, sessions={})
    folds[stream] = loading._Folded(ghost, version, uuid.uuid4())  # a fact never committed
    store.reads.clear()
    again, same = await loading.load_programme(store, "acme", "day")
    assert (again, same) == (real, version)
    assert store.reads == [version, 1]  # the check, then the whole stream
    folds[stream] = loading._Folded(ghost, version + 5, uuid.uuid4())  # past the log's end
    assert await loading.load_programme(store, "acme", "day") == (real, version)


class YieldingStore(CountingStore):
    """Gives the event loop a turn before each read, as a database round trip does."""

    async def read_stream(self, stream_id: str, *args: Any, **kw: Any) -> list[RecordedEvent]:
        await asyncio.sleep(0)
        return await super().read_stream(stream_id, *args, **kw)


async def test_a_crowd_meeting_a_cold_cache_folds_the_whole_stream_once() -> None:
    store = YieldingStore()
    keeper = await day(store)
    for hour in range(9, 17):
        await schedule(keeper, f"s{hour}", hour)
    del loading._FOLDED[store]  # as a process that has not loaded this programme yet
    store.reads.clear()
    loaded = await asyncio.gather(
        *(loading.load_programme(store, "acme", "day") for _ in range(20))
    )
    assert store.reads.count(1) == 1, store.reads  # one whole fold; the rest read on from it
    assert all(each == loaded[0] for each in loaded)
