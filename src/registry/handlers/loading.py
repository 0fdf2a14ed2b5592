"""Reading aggregates back from the log: the programme and one participant."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final
from uuid import UUID
from weakref import WeakKeyDictionary

from registry.domain import participant as participant_model
from registry.domain.events import ParticipantRegistered, RegistrationCancelled
from registry.domain.participant import Participant
from registry.domain.programme import Programme
from registry.domain.programme_fold import fold
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


@dataclass(frozen=True)
class _Folded:
    programme: Programme
    version: int
    last_event_id: UUID  # the fact at `version`: tells a cached fold from one rolled back


#: Programmes folded before, per store and event stream (a few per process, least recently used
#: dropped). Registrations, agendas and organisers' changes all load the programme: folding the
#: whole stream each time cost ~250 ms of CPU per command for 10,000 sessions (bench/growth.py,
#: issue 8). Programmes are immutable, so one fold is shared by every caller.
_FOLDED: WeakKeyDictionary[EventStore, OrderedDict[str, _Folded]] = WeakKeyDictionary()
FOLDED_PER_STORE: Final = 256


#: One whole fold at a time per store. A process that has not folded a programme yet and meets
#: a crowd (64 registrations at once for an event of 10,000 sessions, bench/growth.py) folded the
#: whole stream once per request: 64 x ~250 ms of CPU in one event loop, answers past the 10 s
#: deadline and 225 MB in that worker. Now the first folds it and the others read on from there.
_WHOLE_FOLDS: WeakKeyDictionary[EventStore, asyncio.Lock] = WeakKeyDictionary()


async def load_programme(
    store: EventStore, organisation: str, event_id: str
) -> tuple[Programme, int]:
    """The programme and its stream's version (for the next append's expected version).

    Only the facts after a fold cached before are read, from the cached version on: if the fact
    found there is not the cached one (the fold came from inside a transaction that rolled
    back, an organiser's change in a gate fence that failed), the stream is folded anew."""
    stream = event_stream(organisation, event_id)
    folds = _FOLDED.setdefault(store, OrderedDict())
    if stream not in folds:
        async with _WHOLE_FOLDS.setdefault(store, asyncio.Lock()):
            if stream not in folds:
                return await _fold(store, folds, stream, event_id)
    return await _fold(store, folds, stream, event_id)


async def _fold(
    store: EventStore, folds: OrderedDict[str, _Folded], stream: str, event_id: str
) -> tuple[Programme, int]:
    cached = folds.get(stream)
    programme: Programme | None = None
    if cached is not None:
        events = await store.read_stream(stream, from_version=cached.version)
        if events and events[0].event_id == cached.last_event_id:
            programme = fold(cached.programme, (e.event for e in events[1:]))
    if programme is None:
        events = await store.read_stream(stream)
        programme = fold(None, (e.event for e in events))
        if programme is None:
            raise UnknownEvent(event_id)
    last = events[-1]
    folds[stream] = _Folded(programme, last.stream_version, last.event_id)
    folds.move_to_end(stream)
    if len(folds) > FOLDED_PER_STORE:
        folds.popitem(last=False)
    return programme, last.stream_version


async def ensure_participant(
    store: EventStore, organisation: str, event_id: str, participant_id: str
) -> None:
    """Raise UnknownParticipant unless the participant is registered and not cancelled, as
    `load_participant` would, from the types of their facts alone: the sign-up path needs no
    more, and reading and decoding the whole stream was a fifth of a sign-up's cost
    (bench/README.md, 2026-12-06). The same rule as `participant.evolve`: the last
    registration counts, and a cancellation after it. Since the gate keeps a roster
    (capacity/roster.py), only a participant the gate has not met is checked here."""
    types = await store.stream_types(participant_stream(organisation, event_id, participant_id))
    registered = [i for i, kind in enumerate(types) if kind == ParticipantRegistered.type_name]
    if not registered or RegistrationCancelled.type_name in types[registered[-1] :]:
        raise UnknownParticipant(participant_id)


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
