"""ensure_participant (the sign-up path's check, from the types of a participant's facts) says
what load_participant (the whole fold) says, whatever the stream holds; and so does the roster
a gate rebuild folds (gate_sync.fold_gate, the gate's check since capacity/roster.py)."""

from __future__ import annotations

import asyncio
import datetime as dt

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from registry.domain.event import Event
from registry.domain.events import (
    ALL_EVENTS,
    ParticipantRegistered,
    PersonalDataErased,
    RegistrationCancelled,
    SeatAssigned,
    SeatReleased,
)
from registry.domain.participant import evolve
from registry.domain.programme import Programme
from registry.eventstore import ANY, EventCodec, StreamAppend
from registry.eventstore.memory import MemoryEventStore
from registry.handlers.gate_sync import fold_gate
from registry.handlers.loading import UnknownParticipant, ensure_participant, load_participant

FACTS: list[Event] = [
    ParticipantRegistered(participant_id="p"),
    RegistrationCancelled(participant_id="p"),
    SeatAssigned(participant_id="p", session_id="a", ticket=1),
    SeatReleased(participant_id="p", session_id="a", reason="cancelled"),
    PersonalDataErased(participant_id="p"),
]


async def _current(check: object, store: MemoryEventStore) -> bool:
    try:
        await check(store, "acme", "e", "p")  # type: ignore[operator]
    except UnknownParticipant:
        return False
    return True


@given(st.lists(st.sampled_from(FACTS), max_size=8))
def test_the_types_say_what_the_fold_says(facts: list[Event]) -> None:
    async def both() -> tuple[bool, bool]:
        store = MemoryEventStore(EventCodec(ALL_EVENTS))
        if facts:
            await store.append([StreamAppend("participant-acme:e:p", ANY, facts)])
        return await _current(ensure_participant, store), await _current(load_participant, store)

    by_types, by_fold = asyncio.run(both())
    assert by_types == by_fold


#: What decides the roster (seat facts in a random order are no seating the fold accepts).
ROSTER_FACTS = [f for f in FACTS if not isinstance(f, SeatAssigned | SeatReleased)]


@given(st.dictionaries(st.sampled_from("pqr"), st.lists(st.sampled_from(ROSTER_FACTS), max_size=6)))
def test_the_rebuilt_roster_says_what_the_fold_says(streams: dict[str, list[Event]]) -> None:
    """Three participants' streams (FACTS about "p", renamed): everyone the fold calls current
    is registered on the roster, everyone it calls cancelled is cancelled, nobody else is on it."""

    def about(pid: str, fact: Event) -> Event:
        return msgspec.structs.replace(fact, participant_id=pid)  # type: ignore[type-var]

    async def fold() -> tuple[dict[str, str], frozenset[str], frozenset[str]]:
        store = MemoryEventStore(EventCodec(ALL_EVENTS))
        for pid, facts in streams.items():
            if facts:
                named = [about(pid, f) for f in facts]
                await store.append([StreamAppend(f"participant-acme:e:{pid}", ANY, named)])
        said: dict[str, str] = {}
        for pid in "pqr":
            participant = None
            for recorded in await store.read_stream(f"participant-acme:e:{pid}"):
                participant = evolve(participant, recorded.event)
            if participant is not None:
                said[pid] = "cancelled" if participant.cancelled else "registered"
        programme = Programme(event_id="e", title="E", timezone="UTC", date=dt.date(2024, 1, 11))
        _, roster = await fold_gate(store, "acme", programme)
        return said, roster.registered, roster.cancelled

    said, registered, cancelled = asyncio.run(fold())
    assert registered == {p for p, state in said.items() if state == "registered"}
    assert cancelled == {p for p, state in said.items() if state == "cancelled"}
