"""A scripted day on the shared programme (tests/support/programme.py), played through the
handlers as the API would: sign-ups, a capacity lowered and raised, a merge, cancellations.
Used by the as-of and verify tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from registry.domain import commands as cmd
from registry.domain import programme_changes as changes
from registry.handlers import registration
from registry.handlers.gate_sync import GateKeeper
from registry.handlers.organiser_changes import Decide, change_seats
from tests.support.programme import ctx

Step = Callable[[GateKeeper, str], Awaitable[Any]]


def sign_up(who: str, session: str) -> Step:
    return lambda keeper, event: registration.sign_up(
        keeper, ctx(), event, who, cmd.SignUp(session_id=session)
    )


def cancel(who: str, session: str) -> Step:
    return lambda keeper, event: registration.cancel_sign_up(keeper, ctx(), event, who, session)


def leave_all(who: str) -> Step:
    return lambda keeper, event: registration.cancel_registration(keeper, ctx(), event, who)


def organiser(decide: Decide) -> Step:
    return lambda keeper, event: change_seats(keeper, ctx(), event, decide)


def capacity(session: str, seats: int) -> Step:
    patch = cmd.PatchSession(capacity=seats)
    return organiser(lambda p, s: changes.decide_patch(p, s, session, patch))


def merge(source: str, into: str) -> Step:
    merged = cmd.MergeSessions(into=into)
    return organiser(lambda p, s: changes.decide_merge(p, s, source, merged))


# Sessions (tests/support/programme.py): a (hall, 2 seats), b (attic, 1), c (hall, after a),
# d (online, 1, overlapping a and c), o (online, unlimited).
DAY: list[Step] = [
    sign_up("p0", "a"),
    sign_up("p1", "a"),
    sign_up("p2", "a"),  # waits
    sign_up("p3", "b"),
    sign_up("p4", "b"),  # waits
    sign_up("p5", "c"),
    capacity("a", 1),  # over capacity: nobody loses a seat
    cancel("p0", "a"),  # still full: nobody promoted
    capacity("a", 2),  # p2 promoted
    merge("b", "a"),  # a is full: p3's seat joins a's queue, then p4 from b's queue
    cancel("p1", "a"),  # p3 promoted
    leave_all("p5"),
    sign_up("p2", "c"),
]
