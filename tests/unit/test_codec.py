from __future__ import annotations

import pytest

from registry.domain.event import Event
from registry.eventstore import EventCodec, UnknownEventType


class RoomBookedV1(Event, frozen=True):
    type_name = "RoomBooked"
    room: str


class RoomBookedV3(Event, frozen=True):
    type_name = "RoomBooked"
    schema_version = 3
    room_id: str
    seats: int


def codec() -> EventCodec:
    c = EventCodec([RoomBookedV3])
    c.register_upcaster("RoomBooked", 1, lambda d: {"room_id": d["room"]})
    c.register_upcaster("RoomBooked", 2, lambda d: {**d, "seats": 0})
    return c


def test_current_version_round_trips() -> None:
    event = RoomBookedV3(room_id="r1", seats=20)
    assert codec().decode("RoomBooked", 3, codec().encode(event)) == event


def test_old_versions_are_upcast_step_by_step() -> None:
    data = EventCodec([RoomBookedV1]).encode(RoomBookedV1(room="hall"))
    assert codec().decode("RoomBooked", 1, data) == RoomBookedV3(room_id="hall", seats=0)
    assert codec().decode("RoomBooked", 2, b'{"room_id": "x"}') == RoomBookedV3(
        room_id="x", seats=0
    )


def test_unknown_types_and_future_versions_are_refused() -> None:
    with pytest.raises(UnknownEventType):
        codec().decode("Nope", 1, b"{}")
    with pytest.raises(UnknownEventType):
        codec().decode("RoomBooked", 4, b"{}")
    with pytest.raises(UnknownEventType):
        codec().encode(RoomBookedV1(room="x"))


def test_a_missing_upcaster_is_an_error_not_a_guess() -> None:
    c = EventCodec([RoomBookedV3])
    with pytest.raises(UnknownEventType):
        c.decode("RoomBooked", 1, b'{"room": "x"}')


def test_one_type_name_cannot_name_two_classes() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        EventCodec([RoomBookedV1, RoomBookedV3])
