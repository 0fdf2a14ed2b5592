"""A small programme shared by the read-side tests: two rooms, overlapping sessions, an
adjacent one and an unlimited online one, six registered participants."""

from __future__ import annotations

import datetime as dt
import uuid

from registry.domain import commands as cmd
from registry.domain import programme as rules
from registry.handlers import programme, registration
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper

ORG = "acme"
AMS = dt.timezone(dt.timedelta(hours=1))
PEOPLE = [f"p{n}" for n in range(6)]
# id: (room, start, end, capacity): two rooms, overlaps, an adjacent range, an unlimited online one.
SESSIONS = {
    "a": ("hall", 10, 11, 2),
    "b": ("attic", 10, 11, 1),
    "c": ("hall", 11, 12, 1),
    "d": (None, 10.5, 11.5, 1),
    "o": (None, 10, 12, None),
}


def at(hour: float) -> dt.datetime:
    return dt.datetime(2024, 1, 11, int(hour), int(hour % 1 * 60), tzinfo=AMS)


def ctx() -> CommandContext:
    return CommandContext(organisation=ORG, actor="property", command_id=str(uuid.uuid4()))


def session_command(sid: str, title: str) -> cmd.ScheduleSession:
    room, start, end, capacity = SESSIONS[sid]
    return cmd.ScheduleSession(
        id=sid, title=title, starts_at=at(start), ends_at=at(end), room_id=room,
        capacity=capacity, mode="in_person" if room else "online",
    )  # fmt: skip


async def set_up(keeper: GateKeeper, event_id: str) -> None:
    create = cmd.CreateEvent(
        id=event_id, title="Day", timezone="Europe/Amsterdam", date=at(0).date()
    )
    await programme.create_event(keeper, ctx(), create)
    for room, capacity in (("hall", 2), ("attic", 1)):
        add = cmd.AddRoom(id=room, name=room.title(), capacity=capacity)
        await programme.change_programme(
            keeper, ctx(), event_id, lambda p, a=add: rules.decide_add_room(p, a), 201
        )
    for sid in SESSIONS:
        session = session_command(sid, f"Session {sid}")
        await programme.change_programme(
            keeper, ctx(), event_id, lambda p, s=session: rules.decide_schedule(p, s), 201
        )
    await programme.change_programme(
        keeper, ctx(), event_id, lambda p: rules.decide_registration(p, True), 200
    )
    for who in PEOPLE:
        register = cmd.RegisterParticipant(id=who, name=f"Name {who}", email=f"{who}@example.org")
        await registration.register_participant(keeper, ctx(), event_id, register)
