"""Organisers' changes to seats (registry.domain.reseating), after random sign-ups (hypothesis).

For every change: folding the returned facts into the seating as it was (with the session's new
attributes) gives the seating after; nobody loses a seat to a capacity change; a session over
capacity promotes no one; a raised capacity fills from the queue in ticket order; a merge keeps
everyone it moves (a seat or a place in the target's queue) in the order the rules give.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from registry.domain import reseating
from registry.domain.errors import DomainError
from registry.domain.seating import (
    Change,
    Moved,
    MovedToQueue,
    Promoted,
    Released,
    Requeued,
    Seating,
)
from tests.unit.test_seating import PARTICIPANTS, PROGRAMME, new_seating

SESSIONS = sorted(PROGRAMME)
sign_ups = st.lists(
    st.tuples(st.sampled_from(PARTICIPANTS), st.sampled_from(SESSIONS)), max_size=30
)


def crowd(commands: list[tuple[str, str]]) -> Seating:
    seating = new_seating()
    for participant, session in commands:
        with contextlib.suppress(DomainError):
            seating.sign_up(participant, session)
    return seating


def folds(before: Seating, after: Seating, changes: list[Change], **attributes: Any) -> None:
    """The facts alone take `before` (with the session attributes the events carry) to `after`."""
    replayed = copy.deepcopy(before)
    for session_id, values in attributes.items():
        for name, value in values.items():
            setattr(replayed.sessions[session_id], name, value)
    for change in changes:
        replayed.apply(change)
    for sid, session in after.sessions.items():
        again = replayed.sessions[sid]
        assert again.seated == session.seated, sid
        assert {p: w.ticket for p, w in again.waiting.items()} == {
            p: w.ticket for p, w in session.waiting.items()
        }, sid


@settings(max_examples=200, deadline=None)
@given(sign_ups, st.sampled_from(SESSIONS), st.integers(min_value=0, max_value=4))
def test_a_capacity_change_keeps_every_seat_and_fills_in_ticket_order(
    commands: list[tuple[str, str]], session_id: str, capacity: int
) -> None:
    seating = crowd(commands)
    before = copy.deepcopy(seating)
    old = before.sessions[session_id]
    changes = reseating.change_capacity(seating, session_id, capacity)
    folds(before, seating, changes, **{session_id: {"capacity": capacity}})
    now = seating.sessions[session_id]
    # Nobody loses a seat, except as their own fallback: a promotion they waited for elsewhere
    # (in the cascade a raised capacity starts) releases the overlapping seat they held here.
    elsewhere = {c.participant_id for c in changes if isinstance(c, Promoted)}
    assert set(old.seated) - elsewhere <= set(now.seated)
    released = {c.participant_id for c in changes if isinstance(c, Released)}
    assert released <= elsewhere
    assert now.over_capacity == max(0, len(now.seated) - capacity)
    promoted = [c for c in changes if isinstance(c, Promoted) and c.session_id == session_id]
    if len(old.seated) >= capacity:
        assert promoted == []  # over (or at) capacity: nobody is admitted
    queue = old.queue()
    assert [c.participant_id for c in promoted] == queue[: len(promoted)]  # ticket order
    if len(promoted) < len(queue):
        assert not now.has_free_seat or not now.waiting


@settings(max_examples=200, deadline=None)
@given(sign_ups, st.sampled_from(SESSIONS))
def test_a_cancelled_session_releases_everyone_and_promotes_no_one_into_it(
    commands: list[tuple[str, str]], session_id: str
) -> None:
    seating = crowd(commands)
    before = copy.deepcopy(seating)
    changes = reseating.cancel(seating, session_id, "session-cancelled")
    folds(before, seating, changes, **{session_id: {"state": "cancelled"}})
    cancelled = seating.sessions[session_id]
    assert not cancelled.seated and not cancelled.waiting
    assert all(c.session_id == session_id for c in changes)  # nobody else moves
    assert all(not isinstance(c, Promoted) for c in changes)


@settings(max_examples=300, deadline=None)
@given(sign_ups, st.sampled_from(SESSIONS), st.sampled_from(SESSIONS))
def test_a_merge_moves_seats_in_order_then_queues_after_those_waiting(
    commands: list[tuple[str, str]], source_id: str, into_id: str
) -> None:
    if source_id == into_id:
        return
    seating = crowd(commands)
    before = copy.deepcopy(seating)
    source, into = before.sessions[source_id], before.sessions[into_id]
    changes = reseating.merge(seating, source_id, into_id)
    folds(before, seating, changes, **{source_id: {"state": "merged", "merged_into": into_id}})
    after = seating.sessions[into_id]
    assert not seating.sessions[source_id].seated and not seating.sessions[source_id].waiting
    promoted = {c.participant_id for c in changes if isinstance(c, Promoted)}
    # Everyone of the source is in the target afterwards, seated or waiting, unless the
    # cascade of the target's filling promoted them where they preferred to be.
    for p in [*source.seated, *source.waiting]:
        assert p in after.seated or p in after.waiting or p in promoted, p
    # Those already seated in the target keep their seat; nobody of the target loses one,
    # unless a promotion elsewhere released it (a fallback).
    assert {p for p in into.seated if p not in promoted} <= set(after.seated)
    # Every seat of the source moves (or is given up for a seat or place held in the target),
    # in the order the seats were given; seats first while the target has room, then places.
    from_seats = [
        c.participant_id
        for c in changes
        if isinstance(c, Moved | MovedToQueue)
        or (isinstance(c, Released) and c.session_id == source_id)
    ]
    assert from_seats == list(source.seated)
    kinds = [isinstance(c, MovedToQueue) for c in changes if isinstance(c, Moved | MovedToQueue)]
    assert kinds == sorted(kinds)
    # Then the source's queue in its order, each behind everyone who waited in the target.
    requeued = [c.participant_id for c in changes if isinstance(c, Requeued)]
    assert requeued == [p for p in source.queue() if p not in into.seated and p not in into.waiting]
    old_tickets = [w.ticket for w in into.waiting.values()]
    for change in changes:
        if isinstance(change, MovedToQueue | Requeued):
            assert all(change.ticket > t for t in old_tickets)
    if into.capacity is not None:  # moving never takes the target over its capacity
        assert len(after.seated) <= max(into.capacity, len(into.seated))
