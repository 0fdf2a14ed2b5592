"""ensure_participant (the sign-up path's check, from the types of a participant's facts) says
what load_participant (the whole fold) says, whatever the stream holds."""

from __future__ import annotations

import asyncio

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
from registry.eventstore import ANY, EventCodec, StreamAppend
from registry.eventstore.memory import MemoryEventStore
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
