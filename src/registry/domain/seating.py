"""Seats and waitlists of one event: the capacity rules, as plain Python.

This is the specification. The Redis gate (src/registry/capacity/) implements the same rules in
Lua for speed, and its contract tests hold it to this module; the gate is rebuilt from the log by
folding events through `Seating.apply`.

Rules (DESIGN.md section 1, API.md "Sign-up rules"):
- A free seat is given at once. A full session with a waitlist queues the participant; queues are
  first come, first served by the gate's per-session ticket, not by arrival in the log.
- A participant holds at most one seat per overlapping time range (half-open ranges). Asking for a
  free seat that overlaps a held one is a time conflict, unless `replaces` names the held seat:
  then the switch is one step. Asking for a full session queues the participant and keeps the
  overlapping seats as fallbacks (and the replaced seat, if one was named).
- When a seat frees (and the session is not over capacity), the queue's head is promoted at once;
  the promotion releases the participant's fallback seats, and each release promotes its own
  queue in turn. Every promotion consumes a queue entry, so the cascade ends.
- Nothing decided on top of an unconfirmed decision may depend on it (`withhold`, `hand_over`):
  the gate decides before the append commits, and an append can fail. A seat given back by a
  decision not yet in the log stays taken for everyone else (`held_back`), and the people it
  touched are `busy`: the gate refuses their next command for a moment, and a cascade stops at a
  busy queue head (the session is `stalled`). A queue that an unconfirmed decision took someone
  out of (`held_queue`) promotes nobody until it is settled either: were that decision's append
  lost, the one taken out would still be waiting in the log, ahead of whoever was promoted. So a
  failed append never leaves the log over capacity, out of queue order, nor with facts about
  someone that follow from facts the log never got. Inside one
  decision a freed seat is used at once (the cascade): its facts are appended together or not at
  all. What comes free on confirmation beside a queue is filled by `fill_free_seats`.

Each operation mutates the state and returns what happened as a list of `Change`s, one per fact,
in order. Folding those changes into a copy of the state taken before gives the state after: the
property the event log relies on (tests/unit/test_seating.py checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from registry.domain.changes import (
    Change,
    Dequeued,
    Moved,
    MovedToQueue,
    Promoted,
    Queued,
    Released,
    ReleaseReason,
    Requeued,
    Seated,
    SessionState,
)

__all__ = [
    "Change",
    "Dequeued",
    "Moved",
    "MovedToQueue",
    "Promoted",
    "Queued",
    "ReleaseReason",
    "Released",
    "Requeued",
    "Seated",
    "Seating",
    "SessionSeats",
    "SessionState",
    "Waiting",
    "freed_seats",
    "touched",
]
from registry.domain.errors import (
    AlreadySignedUp,
    InvalidCommand,
    NotSignedUp,
    SessionCancelled,
    SessionFull,
    TimeConflict,
    UnknownId,
)


@dataclass
class Waiting:
    ticket: int
    replaces: str | None


@dataclass
class SessionSeats:
    session_id: str
    starts_at: datetime
    ends_at: datetime
    capacity: int | None  # None: unlimited (online without a capacity)
    waitlist: bool = True
    state: SessionState = "open"
    merged_into: str | None = None
    #: participant -> ticket, in the order seats were given.
    seated: dict[str, int] = field(default_factory=dict)
    #: participant -> entry; the queue's order is by ticket.
    waiting: dict[str, Waiting] = field(default_factory=dict)
    next_ticket: int = 1
    #: Seats given back by decisions not yet confirmed: not free for anyone else (see `withhold`).
    held_back: int = 0
    #: Entries taken out of the queue by decisions not yet confirmed: while any, the queue
    #: promotes nobody (see `withhold`).
    held_queue: int = 0

    def overlaps(self, other: SessionSeats) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at

    @property
    def over_capacity(self) -> int:
        return 0 if self.capacity is None else max(0, len(self.seated) - self.capacity)

    @property
    def has_free_seat(self) -> bool:
        return self.capacity is None or len(self.seated) + self.held_back < self.capacity

    def queue(self) -> list[str]:
        return sorted(self.waiting, key=lambda p: self.waiting[p].ticket)

    def waitlist_position(self, participant_id: str) -> int:
        ticket = self.waiting[participant_id].ticket
        return 1 + sum(1 for w in self.waiting.values() if w.ticket < ticket)

    def take_ticket(self) -> int:
        ticket = self.next_ticket
        self.next_ticket += 1
        return ticket


@dataclass
class Seating:
    sessions: dict[str, SessionSeats] = field(default_factory=dict)
    #: Participant -> how many unconfirmed decisions touched them (see `withhold`).
    busy: dict[str, int] = field(default_factory=dict)
    #: Sessions whose filling stopped at a busy queue head: `fill_free_seats` is due once the
    #: decisions that made the head busy are settled.
    stalled: set[str] = field(default_factory=set)

    # -- questions ---------------------------------------------------------------------------

    def session(self, session_id: str) -> SessionSeats:
        try:
            return self.sessions[session_id]
        except KeyError:
            raise UnknownId("session", session_id, "session_id") from None

    def seats_of(self, participant_id: str) -> list[SessionSeats]:
        held = [s for s in self.sessions.values() if participant_id in s.seated]
        return sorted(held, key=chronological)

    def waits_of(self, participant_id: str) -> list[SessionSeats]:
        waits = [s for s in self.sessions.values() if participant_id in s.waiting]
        return sorted(waits, key=chronological)

    def fallbacks(
        self, participant_id: str, session_id: str, held: Sequence[SessionSeats] | None = None
    ) -> list[str]:
        """The seats a promotion into `session_id` would release, earliest first (`held`: the
        participant's seats as `seats_of` gives them, where the caller has them already)."""
        target = self.sessions[session_id]
        entry = target.waiting.get(participant_id)
        named = entry.replaces if entry else None
        return [
            s.session_id
            for s in (self.seats_of(participant_id) if held is None else held)
            if s.session_id != session_id and (s.overlaps(target) or s.session_id == named)
        ]

    # -- commands ----------------------------------------------------------------------------

    def sign_up(
        self, participant_id: str, session_id: str, replaces: str | None = None
    ) -> list[Change]:
        target = self.session(session_id)
        if replaces is not None:
            replaced = self.sessions.get(replaces)
            if replaced is None or participant_id not in replaced.seated:
                raise InvalidCommand(
                    f"participant {participant_id} holds no seat in {replaces} to replace",
                    "replaces",
                )
        if target.state != "open":
            raise SessionCancelled(session_id, target.merged_into)
        if participant_id in target.seated or participant_id in target.waiting:
            raise AlreadySignedUp(participant_id, session_id)
        overlapping = [
            s.session_id
            for s in self.seats_of(participant_id)
            if s.overlaps(target) and s.session_id != replaces
        ]
        if target.has_free_seat and not target.waiting:
            if overlapping:
                raise TimeConflict(participant_id, session_id, overlapping[0])
            changes: list[Change] = [
                self._seat(Seated(participant_id, session_id, target.take_ticket(), replaces))
            ]
            if replaces is not None:
                changes += self._release(participant_id, replaces, "switched")
            return changes
        if not target.waitlist:
            raise SessionFull(session_id)
        queued = Queued(participant_id, session_id, target.take_ticket(), (), replaces)
        self.apply(queued)
        return [
            Queued(
                participant_id,
                session_id,
                queued.ticket,
                tuple(self.fallbacks(participant_id, session_id)),
                replaces,
            )
        ]

    def leave(
        self, participant_id: str, session_id: str, reason: ReleaseReason = "cancelled"
    ) -> list[Change]:
        """Give up a seat (promoting the queue) or a waitlist entry."""
        session = self.session(session_id)
        if participant_id in session.seated:
            return self._release(participant_id, session_id, reason)
        if participant_id in session.waiting:
            return [self._apply_returning(Dequeued(participant_id, session_id, reason))]
        raise NotSignedUp(participant_id, session_id)

    def leave_all(self, participant_id: str) -> list[Change]:
        """Cancel a whole registration: every waitlist entry first (so none is promoted), then
        every seat, earliest first."""
        changes: list[Change] = []
        for session in self.waits_of(participant_id):
            changes.append(
                self._apply_returning(
                    Dequeued(participant_id, session.session_id, "registration-cancelled")
                )
            )
        for session in self.seats_of(participant_id):
            changes += self._release(participant_id, session.session_id, "registration-cancelled")
        return changes

    def promote_where_free(self, session_ids: Iterable[str]) -> list[Change]:
        """Fill free seats from the queues of these sessions (after a capacity was raised)."""
        changes: list[Change] = []
        for session_id in session_ids:
            changes += self._fill(session_id)
        return changes

    def fill_free_seats(self) -> list[Change]:
        """Fill every free seat that has a queue, earliest session first (after a seat held back
        came free, a busy head was settled, or a rebuild found a free seat beside a queue)."""
        self.stalled.clear()
        return self.promote_where_free(
            s.session_id for s in sorted(self.sessions.values(), key=chronological)
        )

    # -- what an unconfirmed decision freed ----------------------------------------------------

    def withhold(self, changes: Sequence[Change]) -> None:
        """A decision was made and is not yet in the log: keep the seats it gave back from
        everyone else, and mark the people it touched busy."""
        for session_id, seats in freed_seats(changes).items():
            self.sessions[session_id].held_back += seats
        for session_id, entries in left_queues(changes).items():
            self.sessions[session_id].held_queue += entries
        for participant_id in touched(changes):
            self.busy[participant_id] = self.busy.get(participant_id, 0) + 1

    def hand_over(self, changes: Sequence[Change]) -> bool:
        """The decision was confirmed (or is being undone): give back what `withhold` kept.
        True when `fill_free_seats` is due: a seat it gave back is free beside a queue, or a
        session stalled at a busy head."""
        freed = freed_seats(changes)
        for session_id, seats in freed.items():
            session = self.sessions[session_id]
            session.held_back = max(0, session.held_back - seats)
        for session_id, entries in left_queues(changes).items():
            session = self.sessions[session_id]
            session.held_queue = max(0, session.held_queue - entries)
        for participant_id in touched(changes):
            left = self.busy.get(participant_id, 0) - 1
            if left > 0:
                self.busy[participant_id] = left
            else:
                self.busy.pop(participant_id, None)
        return bool(self.stalled) or any(
            s.state == "open" and s.has_free_seat and s.waiting
            for s in (self.sessions[sid] for sid in freed)
        )

    # -- folding facts -----------------------------------------------------------------------

    def apply(self, change: Change) -> None:
        """Fold one fact into the state: no rule is checked and nothing cascades here; a
        cascade is a sequence of facts of its own."""
        session = self.sessions[change.session_id]
        match change:
            case Seated(participant_id=p, ticket=t):
                session.seated[p] = t
                session.next_ticket = max(session.next_ticket, t + 1)
            case Queued(participant_id=p, ticket=t, replaces=r):
                session.waiting[p] = Waiting(t, r)
                session.next_ticket = max(session.next_ticket, t + 1)
            case Promoted(participant_id=p, ticket=t):
                del session.waiting[p]
                session.seated[p] = t
            case Released(participant_id=p):
                del session.seated[p]
            case Dequeued(participant_id=p):
                del session.waiting[p]
            case Moved(participant_id=p, into=into, ticket=t):
                del session.seated[p]
                target = self.sessions[into]
                target.seated[p] = t
                target.next_ticket = max(target.next_ticket, t + 1)
                self._rename_replaces(p, change.session_id, into)
            case MovedToQueue(participant_id=p, into=into, ticket=t):
                del session.seated[p]
                target = self.sessions[into]
                target.waiting[p] = Waiting(t, None)
                target.next_ticket = max(target.next_ticket, t + 1)
                self._rename_replaces(p, change.session_id, None)
            case Requeued(participant_id=p, into=into, ticket=t):
                entry = session.waiting.pop(p)
                target = self.sessions[into]
                target.waiting[p] = Waiting(t, None if entry.replaces == into else entry.replaces)
                target.next_ticket = max(target.next_ticket, t + 1)

    def _rename_replaces(self, participant_id: str, old: str, new: str | None) -> None:
        """A seat moved (API.md merge: fallbacks that named the source name the target)."""
        for session in self.sessions.values():
            entry = session.waiting.get(participant_id)
            if entry is not None and entry.replaces == old:
                entry.replaces = None if new == session.session_id else new

    # -- steps -------------------------------------------------------------------------------

    def _apply_returning(self, change: Change) -> Change:
        self.apply(change)
        return change

    def _seat(self, seated: Seated) -> Change:
        return self._apply_returning(seated)

    def _release(self, participant_id: str, session_id: str, reason: ReleaseReason) -> list[Change]:
        changes: list[Change] = [
            self._apply_returning(Released(participant_id, session_id, reason))
        ]
        return changes + self._fill(session_id)

    def _fill(self, session_id: str) -> list[Change]:
        session = self.sessions[session_id]
        changes: list[Change] = []
        while session.state == "open" and session.has_free_seat and session.waiting:
            head = session.queue()[0]
            if head in self.busy or session.held_queue:
                # Their last decision is not in the log yet: promoting them now would append
                # facts that follow from it; or someone was just taken out of this queue by a
                # decision not in the log yet: were it lost, they would still be ahead. The
                # session waits (FIFO) until that is settled.
                self.stalled.add(session_id)
                break
            released = self.fallbacks(head, session_id)
            changes.append(
                self._apply_returning(Promoted(head, session_id, session.waiting[head].ticket))
            )
            for fallback in released:
                # A cascade can come back to this participant and release a fallback first
                # (a later promotion of theirs that overlaps it): release only what is held.
                if head in self.sessions[fallback].seated:
                    changes += self._release(head, fallback, "promoted")
        return changes


def freed_seats(changes: Sequence[Change]) -> dict[str, int]:
    """Seats a decision gave back and did not give again, per session."""
    freed: dict[str, int] = {}
    for change in changes:
        if isinstance(change, Released | MovedToQueue):
            freed[change.session_id] = freed.get(change.session_id, 0) + 1
        elif isinstance(change, Seated | Promoted):
            freed[change.session_id] = freed.get(change.session_id, 0) - 1
    return {sid: seats for sid, seats in freed.items() if seats > 0}


def left_queues(changes: Sequence[Change]) -> dict[str, int]:
    """Entries a decision took out of a queue, per session: promoted, dequeued or moved to
    another session's queue (a promotion decided in the same decision came after it, in order)."""
    left: dict[str, int] = {}
    for change in changes:
        if isinstance(change, Promoted | Dequeued | Requeued):
            left[change.session_id] = left.get(change.session_id, 0) + 1
    return left


def touched(changes: Sequence[Change]) -> list[str]:
    """The participants a decision's facts are about, each once, in order."""
    return list(dict.fromkeys(change.participant_id for change in changes))


def chronological(session: SessionSeats) -> tuple[datetime, str]:
    """The order of a participant's seats and waits (`seats_of`, `waits_of`): by start, then id."""
    return (session.starts_at, session.session_id)
