"""Organisers' changes that move seats (capacity, room, times, cancel, merge, the whole event
cancelled or online), decided atomically with respect to concurrent sign-ups.

The change runs inside the store's gate fence for the event (EventStore.gate_fence): appends of
sign-up decisions in flight finish first, later ones wait, and any decided on the old gate are
refused as stale and decided again on the new one. Inside it the seating is folded from the log
(exact: nothing is in flight, nothing held back, nobody busy), the change is decided on it with the
domain's rules (registry.domain.programme_changes, the same spec the gate's Lua follows), its facts
are appended (in the fence's own transaction), and once that has committed the gate is loaded with
the resulting seating and the fence's new epoch (registry.handlers.gate_sync says why not before).
So a sign-up is decided either entirely before the change, with the capacity then in force, or
entirely after it. See docs/decisions.md (2026-11-23, organisers' changes through the fence) for
why not a Lua script per change.
"""

from __future__ import annotations

from collections.abc import Callable

from registry.domain.event import Event
from registry.domain.events import SeatsOverlapped, seat_event
from registry.domain.programme import Programme
from registry.domain.programme_changes import Outcome
from registry.domain.programme_fold import fold
from registry.domain.seating import Seating
from registry.domain.streams import event_key, event_stream
from registry.eventstore import AppendResult, StreamAppend, WrongExpectedVersion
from registry.handlers.answers import encode_answer
from registry.handlers.context import Answer, CommandContext
from registry.handlers.gate_sync import GateKeeper, fold_gate, registration_state
from registry.handlers.loading import load_programme
from registry.handlers.seat_appends import fill_quietly, participant_appends

ATTEMPTS = 3
Decide = Callable[[Programme, Seating], Outcome]


async def change_seats(
    keeper: GateKeeper, ctx: CommandContext, event_id: str, decide: Decide
) -> tuple[Answer, AppendResult]:
    """Decide and append the change inside the fence; again if a programme change that needs
    no fence (a title, the registration window) moved the event's stream meanwhile."""
    for attempt in range(ATTEMPTS):
        try:
            answer, result = await _fenced(keeper, ctx, event_id, decide)
        except WrongExpectedVersion:
            if attempt + 1 == ATTEMPTS:
                raise
            continue
        if not result.replayed:
            # A change can leave seats free beside a queue that it could not fill (nothing in
            # the usual case); filling is the same as after any release.
            await fill_quietly(keeper, ctx.organisation, event_id, ctx.command_id)
        return answer, result
    raise AssertionError("unreachable")


async def _fenced(
    keeper: GateKeeper, ctx: CommandContext, event_id: str, decide: Decide
) -> tuple[Answer, AppendResult]:
    store, key = keeper.store, event_key(ctx.organisation, event_id)
    async with keeper.rebuilding(ctx.organisation, event_id):
        async with store.gate_fence(key) as epoch:
            programme, version = await load_programme(store, ctx.organisation, event_id)
            seating, roster = await fold_gate(store, ctx.organisation, programme)
            outcome = decide(programme, seating)
            answer = Answer(200, outcome.body)
            result = await store.append(
                _appends(ctx.organisation, event_id, version, outcome),
                metadata=ctx.metadata(),
                command_id=ctx.command_id,
                fingerprint=ctx.fingerprint,
                answer=encode_answer(answer.status, answer.body),
            )
            if result.replayed:  # a twin of this command won: the log has its facts, not ours
                programme, _ = await load_programme(store, ctx.organisation, event_id)
                seating, roster = await fold_gate(store, ctx.organisation, programme)
            else:
                folded = fold(programme, outcome.events)
                assert folded is not None  # the programme existed before the change
                programme = folded
        # Only once the change and the new epoch have committed (gate_sync's docstring): a
        # commit that failed leaves the log without the change, and the gate must not have it.
        await keeper.gate.load(key, seating, registration_state(programme), epoch, roster)
    return answer, result


def _appends(
    organisation: str, event_id: str, version: int, outcome: Outcome
) -> list[StreamAppend]:
    facts: list[tuple[str, Event]] = [(c.participant_id, seat_event(c)) for c in outcome.changes]
    facts += [
        (pid, SeatsOverlapped(participant_id=pid, session_ids=session_ids))
        for pid, session_ids in outcome.overlaps.items()
    ]
    appends = [StreamAppend(event_stream(organisation, event_id), version, outcome.events)]
    return appends + participant_appends(organisation, event_id, facts)
