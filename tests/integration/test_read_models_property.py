"""The definition of correct for every read model (issue 5): after random command sequences
through the handlers (sign-ups, switches, cancellations, whole registrations cancelled, programme
changes, and organisers' changes to seats: capacity, reschedule, cancel, merge), the live read
models == a rebuild from the log == a fold of the domain over the log.

Each example is its own event in one database, so the log grows across examples and every
rebuild replays all of it; hypothesis drives a fresh event loop per example (asyncio.run), as
its examples are synchronous calls.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from projections import PROJECTIONS
from projections.rebuild import rebuild
from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain import programme as rules
from registry.domain import programme_changes as changes
from registry.domain.errors import DomainError
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers import programme, registration
from registry.handlers.agenda import agenda
from registry.handlers.gate_sync import GateKeeper
from registry.handlers.loading import UnknownParticipant
from registry.handlers.organiser_changes import Decide, change_seats
from tests.support.programme import ORG, PEOPLE, SESSIONS, at, ctx, session_command, set_up
from tests.support.read_models import (
    answered,
    catch_up,
    expected,
    fold,
    kept_details,
    whole_log,
)

Command = tuple[str, str, str, str | None]


def steps_of(kinds: list[str], min_size: int, max_size: int) -> st.SearchStrategy[list[Command]]:
    return st.lists(
        st.tuples(
            st.sampled_from(kinds),
            st.sampled_from(PEOPLE),
            st.sampled_from(sorted(SESSIONS)),
            st.one_of(st.none(), st.sampled_from(sorted(SESSIONS))),
        ),
        min_size=min_size,
        max_size=max_size,
    )


# A crowd first (so that organisers' changes find seats and queues to move), then anything.
commands = st.tuples(
    steps_of(["sign_up"], 4, 15),
    steps_of(
        ["sign_up"] * 6
        + ["cancel"] * 3
        + ["leave_all", "retitle"]
        + ["capacity", "reschedule", "cancel_session", "merge"] * 2,
        1,
        20,
    ),
).map(lambda both: both[0] + both[1])


def _capacity(sid: str, other: str | None, who: str) -> Decide:
    # Seats 0-2 by who asks: lowered below the seats taken, or raised to promote the queue.
    patch = cmd.PatchSession(capacity=PEOPLE.index(who) % 3)
    return lambda p, s: changes.decide_patch(p, s, sid, patch)


def _reschedule(sid: str, other: str | None, who: str) -> Decide:
    # Onto another session's times (overlaps and conflicts follow), or half an hour later.
    start, end = (SESSIONS[other][1], SESSIONS[other][2]) if other else (11.5, 12.5)
    patch = cmd.PatchSession(starts_at=at(start), ends_at=at(end))
    return lambda p, s: changes.decide_patch(p, s, sid, patch)


def _cancel_session(sid: str, other: str | None, who: str) -> Decide:
    cancel = cmd.CancelSession(reason=f"cancelled by {who}")
    return lambda p, s: changes.decide_cancel_session(p, s, sid, cancel)


def _merge(sid: str, other: str | None, who: str) -> Decide:
    merge = cmd.MergeSessions(into=other or "o")
    return lambda p, s: changes.decide_merge(p, s, sid, merge)


ORGANISER_CHANGES: dict[str, Callable[[str, str | None, str], Decide]] = {
    "capacity": _capacity,
    "reschedule": _reschedule,
    "cancel_session": _cancel_session,
    "merge": _merge,
}


async def play(keeper: GateKeeper, event_id: str, steps: list[Command]) -> None:
    cancelled: set[str] = set()
    for kind, who, sid, other in steps:
        if who in cancelled:
            continue
        try:
            if kind == "sign_up":
                signup = cmd.SignUp(session_id=sid, replaces=other)
                await registration.sign_up(keeper, ctx(), event_id, who, signup)
            elif kind == "cancel":
                await registration.cancel_sign_up(keeper, ctx(), event_id, who, sid)
            elif kind == "leave_all":
                await registration.cancel_registration(keeper, ctx(), event_id, who)
                cancelled.add(who)
            elif kind in ORGANISER_CHANGES:
                answer, _ = await change_seats(
                    keeper, ctx(), event_id, ORGANISER_CHANGES[kind](sid, other, who)
                )
                moved = sum(len(v) for v in answer.body.values() if isinstance(v, list))
                event(f"{kind} moved people" if moved else f"{kind} moved no one")
            else:  # a programme change (PUT programme): a session's title, a room's name
                change = cmd.ReplaceProgramme(
                    rooms=[cmd.AddRoom(id="hall", name=f"Hall of {who}", capacity=2)],
                    sessions=[session_command(sid, f"Session {sid} by {who}")],
                )
                await programme.change_programme(
                    keeper, ctx(), event_id, lambda p, c=change: rules.decide_replace(p, c), 200
                )
        except DomainError:
            pass  # refused commands write nothing


async def scenario(database_url: str, steps: list[Command]) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        store = PostgresEventStore(pool, EventCodec(ALL_EVENTS))
        keeper = GateKeeper(store, MemoryGate())
        event_id = f"e-{uuid.uuid4().hex[:12]}"
        await set_up(keeper, event_id)
        await play(keeper, event_id, steps)
        await catch_up(pool, store)
        live = await answered(pool, ORG, event_id)
        details = await kept_details(pool, ORG, event_id)
        folded = fold(await whole_log(store), ORG, event_id, details)
        assert live == expected(folded)
        # Every registered participant has details, each name as given (none erased here).
        assert folded.registered == set(details) == set(PEOPLE)
        assert all(details[who] == (f"Name {who}", False) for who in PEOPLE)
        for projection in PROJECTIONS:
            await rebuild(pool, store, projection)
        assert await answered(pool, ORG, event_id) == live
        for who in PEOPLE:  # the agenda (read from the participant's stream) agrees with them
            try:
                mine = await agenda(keeper, ORG, event_id, who)
            except UnknownParticipant:
                continue  # their registration was cancelled
            seats = [sid for sid, items in live["attendees"].items() if any(
                a["participant_id"] == who for a in items)]  # fmt: skip
            assert sorted(s["session_id"] for s in mine["seats"]) == sorted(seats)
            waits = {
                sid: (w["waitlist_position"], w["fallback_session_ids"])
                for sid, items in live["waitlists"].items()
                for w in items
                if w["participant_id"] == who
            }
            assert {
                w["session_id"]: (w["waitlist_position"], w["fallback_session_ids"])
                for w in mine["waitlist"]
            } == waits
    finally:
        await pool.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=commands)
def test_live_read_models_equal_a_rebuild_and_the_domain_fold(
    fresh_database_url: str, steps: list[Command]
) -> None:
    asyncio.run(scenario(fresh_database_url, steps))
