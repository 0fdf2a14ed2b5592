"""The definition of correct for every read model (issue 5): after random command sequences
through the handlers (sign-ups, switches, cancellations, whole registrations cancelled, programme
changes), the live read models == a rebuild from the log == a fold of the domain over the log.

Each example is its own event in one database, so the log grows across examples and every
rebuild replays all of it; hypothesis drives a fresh event loop per example (asyncio.run), as
its examples are synchronous calls.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import PROJECTIONS
from projections.rebuild import rebuild
from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain import programme as rules
from registry.domain.errors import DomainError
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers import programme, registration
from registry.handlers.agenda import agenda
from registry.handlers.gate_sync import GateKeeper
from registry.handlers.loading import UnknownParticipant
from tests.support.programme import ORG, PEOPLE, SESSIONS, ctx, session_command, set_up
from tests.support.read_models import answered, catch_up, expected, fold, whole_log

Command = tuple[str, str, str, str | None]
commands = st.lists(
    st.tuples(
        st.sampled_from(["sign_up"] * 6 + ["cancel"] * 3 + ["leave_all", "retitle"]),
        st.sampled_from(PEOPLE),
        st.sampled_from(sorted(SESSIONS)),
        st.one_of(st.none(), st.sampled_from(sorted(SESSIONS))),
    ),
    min_size=1,
    max_size=30,
)


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
        assert live == expected(fold(await whole_log(store), ORG, event_id))
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
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=commands)
def test_live_read_models_equal_a_rebuild_and_the_domain_fold(
    fresh_database_url: str, steps: list[Command]
) -> None:
    asyncio.run(scenario(fresh_database_url, steps))
