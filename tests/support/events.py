"""Small events for testing the store without the domain."""

from __future__ import annotations

from registry.domain.event import Event
from registry.eventstore import EventCodec


class Opened(Event, frozen=True):
    type_name = "test.Opened"
    owner: str


class Deposited(Event, frozen=True):
    type_name = "test.Deposited"
    amount: int


class Noted(Event, frozen=True):
    type_name = "test.Noted"
    text: str


class NotRegistered(Event, frozen=True):
    type_name = "test.NotRegistered"


def test_codec() -> EventCodec:
    return EventCodec([Opened, Deposited, Noted])


test_codec.__test__ = False  # type: ignore[attr-defined]  # a factory, not a test
