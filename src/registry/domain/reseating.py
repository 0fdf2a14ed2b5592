"""Organisers' changes to seats: capacity, times, cancellation, merge, a whole event cancelled or
turned online. Plain Python on a `Seating`, like registry.domain.seating (the spec), returning
the facts in order.

These run on a Seating folded from the log inside the gate's fence (handlers/organiser_changes.py):
no decision is in flight, so nothing is held back and nobody is busy, and the gate is loaded with
the result. Rules (DESIGN.md section 1, API.md "Organiser: the programme"):
- Capacity lowered below the seats taken: nobody loses a seat; the session is over capacity and
  admits and promotes no one until releases bring it below (`SessionSeats.has_free_seat`).
  Raised: the queue is promoted in ticket order, each promotion releasing its fallbacks.
- Rescheduled: seats stay; whoever now holds overlapping seats is a conflict.
- Cancelled: every queue entry, then every seat, released; nobody is promoted into it, and
  someone who waited there keeps their seat elsewhere.
- Merged: seats move to the target in the order they were given (the seat order); once the
  target is full the rest join its queue in that order, after those waiting there; then the
  source's queue follows in its order. Someone already seated in the target keeps that one seat;
  someone waiting in the target whose seat moves in takes the seat and leaves that queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from registry.domain.changes import (
    Change,
    Dequeued,
    Moved,
    MovedToQueue,
    Released,
    ReleaseReason,
    Requeued,
)
from registry.domain.errors import InvalidCommand
from registry.domain.seating import Seating, SessionSeats, chronological

Conflicts = dict[str, tuple[str, ...]]


def change_capacity(seating: Seating, session_id: str, capacity: int | None) -> list[Change]:
    session = seating.sessions[session_id]
    session.capacity = capacity
    return seating.promote_where_free([session_id])


def reschedule(seating: Seating, session_id: str, starts_at: datetime, ends_at: datetime) -> None:
    session = seating.sessions[session_id]
    session.starts_at, session.ends_at = starts_at, ends_at


def cancel(seating: Seating, session_id: str, reason: ReleaseReason) -> list[Change]:
    session = seating.sessions[session_id]
    session.state = "cancelled"  # first: no release below promotes anyone into it
    changes: list[Change] = [Dequeued(p, session_id, reason) for p in session.queue()]
    changes += [Released(p, session_id, reason) for p in session.seated]
    for change in changes:
        seating.apply(change)
    return changes


def merge(seating: Seating, source_id: str, into_id: str) -> list[Change]:
    if source_id == into_id:
        raise InvalidCommand("a session cannot be merged into itself", "into")
    source, into = seating.sessions[source_id], seating.sessions[into_id]
    changes: list[Change] = []

    def step(change: Change) -> None:
        seating.apply(change)
        changes.append(change)

    for p in list(source.seated):
        if p in into.seated:
            step(Released(p, source_id, "merged"))
        elif p in into.waiting:
            if into.has_free_seat:
                step(Dequeued(p, into_id, "merged"))
                step(Moved(p, source_id, into_id, into.take_ticket()))
            else:  # their place in the target's queue is earlier than a new one would be
                step(Released(p, source_id, "merged"))
        elif into.has_free_seat:
            step(Moved(p, source_id, into_id, into.take_ticket()))
        else:
            step(MovedToQueue(p, source_id, into_id, into.take_ticket()))
    for p in source.queue():
        if p in into.seated or p in into.waiting:
            step(Dequeued(p, source_id, "merged"))
        else:
            step(Requeued(p, source_id, into_id, into.take_ticket()))
    source.state, source.merged_into = "merged", into_id
    # The target may have had free seats beside its own queue only if it had none: nothing to
    # fill in the usual case, but a merge into a session with seats held free is filled here.
    return changes + seating.promote_where_free([into_id])


def cancel_all(seating: Seating) -> list[Change]:
    changes: list[Change] = []
    for session in _chronological(seating.sessions.values()):
        if session.state == "open":
            changes += cancel(seating, session.session_id, "event-cancelled")
    return changes


def go_online(seating: Seating, capacity: int | None) -> list[Change]:
    opened = [s for s in _chronological(seating.sessions.values()) if s.state == "open"]
    for session in opened:
        session.capacity = capacity
    return seating.promote_where_free(s.session_id for s in opened)


def conflicts(seating: Seating) -> Conflicts:
    """Every participant holding seats at overlapping times, with those sessions (earliest
    first). Without a reschedule or a merge there are none (the sign-up rules)."""
    found: Conflicts = {}
    holders: dict[str, list[SessionSeats]] = {}
    for session in _chronological(seating.sessions.values()):
        for p in session.seated:
            holders.setdefault(p, []).append(session)
    for p, seats in holders.items():
        clashing = [s.session_id for s in seats if any(o is not s and o.overlaps(s) for o in seats)]
        if clashing:
            found[p] = tuple(clashing)
    return found


def new_conflicts(before: Conflicts, after: Conflicts) -> Conflicts:
    """Conflicts the change created or widened (each is told once: `SeatsOverlapped`)."""
    return {
        p: sessions
        for p, sessions in sorted(after.items())
        if not set(sessions) <= set(before.get(p, ()))
    }


def _chronological(sessions: Iterable[SessionSeats]) -> list[SessionSeats]:
    return sorted(sessions, key=chronological)
