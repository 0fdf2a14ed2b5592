"""A small event for the write path's unit tests: event "e" of organisation "acme" on 2024-01-11,
hour-long sessions, registration open."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from registry.domain import commands as cmd
from registry.domain import programme as rules
from registry.handlers import programme
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper

EVENT = "e"
DAY = dt.date(2024, 1, 11)
AMS = dt.timezone(dt.timedelta(hours=1))


async def schedule(
    keeper: GateKeeper,
    ctx: CommandContext,
    session_id: str,
    hour: int,
    capacity: int | None,
    tz: dt.tzinfo = AMS,
) -> None:
    """One session from `hour` to the next hour."""
    session = cmd.ScheduleSession(
        id=session_id,
        title=session_id.upper(),
        capacity=capacity,
        starts_at=dt.datetime(DAY.year, DAY.month, DAY.day, hour, tzinfo=tz),
        ends_at=dt.datetime(DAY.year, DAY.month, DAY.day, hour + 1, tzinfo=tz),
    )
    await programme.change_programme(
        keeper, ctx, EVENT, lambda p: rules.decide_schedule(p, session), 201
    )


async def open_event(
    keeper: GateKeeper,
    ctx: Callable[[str], CommandContext],
    sessions: Mapping[str, tuple[int, int | None]],
    tz: dt.tzinfo = AMS,
) -> None:
    """The event with `sessions` (id: (start hour, capacity)), registration open; `ctx(name)`
    gives each command its context."""
    create = cmd.CreateEvent(id=EVENT, title="E", timezone="UTC", date=DAY)
    await programme.create_event(keeper, ctx("e"), create)
    for session_id, (hour, capacity) in sessions.items():
        await schedule(keeper, ctx(f"s-{session_id}"), session_id, hour, capacity, tz)
    await programme.change_programme(
        keeper, ctx("o"), EVENT, lambda p: rules.decide_registration(p, True), 200
    )
