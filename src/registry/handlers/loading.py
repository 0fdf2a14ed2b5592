"""Reading aggregates back from the log: the programme and one participant."""

from __future__ import annotations

from functools import reduce

from registry.domain import participant as participant_model
from registry.domain import programme as programme_model
from registry.domain.participant import Participant
from registry.domain.programme import Programme
from registry.domain.streams import event_stream, participant_stream
from registry.eventstore import EventStore


class UnknownEvent(LookupError):
    """The event id in the path names no event of this organisation (404)."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"unknown event: {event_id}")
        self.event_id = event_id


class UnknownParticipant(LookupError):
    """The participant id in the path names no (current) participant of the event (404)."""

    def __init__(self, participant_id: str) -> None:
        super().__init__(f"unknown participant: {participant_id}")
        self.participant_id = participant_id


async def load_programme(
    store: EventStore, organisation: str, event_id: str
) -> tuple[Programme, int]:
    """The programme and its stream's version (for the next append's expected version)."""
    events = await store.read_stream(event_stream(organisation, event_id))
    programme = reduce(programme_model.evolve, (e.event for e in events), None)
    if programme is None:
        raise UnknownEvent(event_id)
    return programme, events[-1].stream_version


async def load_participant(
    store: EventStore, organisation: str, event_id: str, participant_id: str
) -> Participant:
    events = await store.read_stream(participant_stream(organisation, event_id, participant_id))
    participant: Participant | None = None
    for recorded in events:
        participant = participant_model.evolve(participant, recorded.event)
    if participant is None or participant.cancelled:
        raise UnknownParticipant(participant_id)
    return participant
