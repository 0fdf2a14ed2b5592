"""The walk of `registry verify`: every fact of the log in position order, folded per event
through the domain (replay_fold.py), each checked against the state just before it. Pure: the
caller reads the log and hands the facts over.

Checks, each a `Finding` at the fact's position:
- capacity: an admission (`SeatAssigned`, `PromotedFromWaitlist`, or a merge's `SeatMoved`)
  that leaves the session with more seats taken than the capacity in force at that position.
  Seats above a capacity that was lowered are not a finding: nobody was admitted beyond it.
- promotion: a `PromotedFromWaitlist` that does not go to the head of that session's queue at
  that point (the lowest ticket waiting), or not with their ticket. The facts of one append (a
  cascade) are checked one after the other, in their order.
- structure: a fact the state cannot take (a seat in a session that does not exist, a release
  of a seat nobody holds, a programme change before the event, a second seat or entry for the
  same person, a seat fact in another participant's stream). The event's later facts are not
  checked: its state is no longer known.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.audit.findings import Finding
from registry.audit.replay_fold import Replayed, Unfoldable, apply
from registry.domain.events import (
    PromotedFromWaitlist,
    SeatAssigned,
    SeatEvent,
    SeatMoved,
    Waitlisted,
)
from registry.eventstore import RecordedEvent

CAPACITY = "capacity"
PROMOTION = "promotion"
STRUCTURE = "structure"


def event_of(stream_id: str) -> tuple[str, str, str | None] | None:
    """(organisation, event, participant or None) of an event's or a participant's stream;
    None for other streams (e-mail claims)."""
    kind, _, rest = stream_id.partition("-")
    parts = rest.split(":")
    if kind == "event" and len(parts) == 2:
        return parts[0], parts[1], None
    if kind == "participant" and len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return None


@dataclass
class Walk:
    states: dict[tuple[str, str], Replayed] = field(default_factory=dict)
    #: Events whose log could not be folded at some position (no further checks for them).
    broken: dict[tuple[str, str], int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    position: int = 0

    def step(self, fact: RecordedEvent) -> Replayed | None:
        """Check and fold one fact; returns the event's state after it (None when the fact
        belongs to no event, or its event's log is broken)."""
        self.position = fact.position
        found = event_of(fact.stream_id)
        if found is None:
            return None
        organisation, event_id, participant = found
        key = organisation, event_id
        if key in self.broken:
            return None
        state = self.states.setdefault(key, Replayed(organisation, event_id))
        event = fact.event
        problem = _before(state, event, participant) if isinstance(event, SeatEvent) else None
        if problem is not None:
            self._break(key, fact.position, problem)
            return None
        if isinstance(event, PromotedFromWaitlist):
            self._check_promotion(state, event, fact.position)
        try:
            apply(state, fact)
        except Unfoldable as error:
            self._break(key, fact.position, error.what)
            return None
        if isinstance(event, SeatAssigned | PromotedFromWaitlist | SeatMoved):
            self._check_capacity(state, event, fact.position)
        return state

    def _break(self, key: tuple[str, str], position: int, what: str) -> None:
        self.broken[key] = position
        self.states.pop(key, None)
        self.findings.append(Finding(position, STRUCTURE, f"{key[0]}/{key[1]}: {what}"))

    def _check_promotion(self, state: Replayed, event: PromotedFromWaitlist, at: int) -> None:
        seats = state.seating.sessions.get(event.session_id)
        if seats is None or event.participant_id not in seats.waiting:
            return  # not waiting there: the fold refuses it (structure)
        head = seats.queue()[0]
        who = f"{state.organisation}/{state.event_id}: {event.participant_id} promoted into "
        if head != event.participant_id:
            ticket = seats.waiting[head].ticket
            what = (
                f"{who}{event.session_id}, but the head of its queue was {head} (ticket {ticket})"
            )
            self.findings.append(Finding(at, PROMOTION, what))
        elif seats.waiting[head].ticket != event.ticket:
            what = (
                f"{who}{event.session_id} with ticket {event.ticket}, "
                f"but they waited with ticket {seats.waiting[head].ticket}"
            )
            self.findings.append(Finding(at, PROMOTION, what))

    def _check_capacity(
        self, state: Replayed, event: SeatAssigned | PromotedFromWaitlist | SeatMoved, at: int
    ) -> None:
        session_id = event.into if isinstance(event, SeatMoved) else event.session_id
        seats = state.seating.sessions[session_id]
        if seats.capacity is not None and len(seats.seated) > seats.capacity:
            what = (
                f"{state.organisation}/{state.event_id}: {event.type_name} of "
                f"{event.participant_id} leaves {session_id} with {len(seats.seated)} seats "
                f"taken of {seats.capacity}"
            )
            self.findings.append(Finding(at, CAPACITY, what))


def _before(state: Replayed, event: SeatEvent, participant: str | None) -> str | None:
    """What makes a seat fact impossible that the fold itself would not notice."""
    if participant is None:
        return f"{event.type_name} in the event's own stream"
    if event.participant_id != participant:
        return f"{event.type_name} of {event.participant_id} in {participant}'s stream"
    if isinstance(event, SeatAssigned | Waitlisted):
        seats = state.seating.sessions.get(event.session_id)
        if seats is None:
            return f"{event.type_name} for {event.session_id}, which does not exist"
        if participant in seats.seated or participant in seats.waiting:
            where = seats.session_id
            return f"{event.type_name}: {participant} already has a seat or waits in {where}"
    return None
