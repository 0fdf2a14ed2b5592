"""Organiser commands on the programme: the event, rooms, sessions, the registration window.

Each appends to the event's stream at the version it read (a concurrent organiser change makes
it read again), then rebuilds the event's gate so that sign-ups see the new programme at once.
"""

from __future__ import annotations

from collections.abc import Callable

from registry.domain import commands as cmd
from registry.domain import programme as rules
from registry.domain.errors import AlreadyExists
from registry.domain.event import Event
from registry.domain.programme import Programme
from registry.domain.streams import event_stream
from registry.eventstore import NO_STREAM, AppendResult, StreamAppend, WrongExpectedVersion
from registry.handlers.answers import encode_answer
from registry.handlers.context import Answer, CommandContext
from registry.handlers.gate_sync import GateKeeper
from registry.handlers.loading import load_programme

ATTEMPTS = 3


async def create_event(
    keeper: GateKeeper, ctx: CommandContext, command: cmd.CreateEvent
) -> tuple[Answer, AppendResult]:
    events = rules.decide_create(command)
    stream = event_stream(ctx.organisation, command.id)
    try:
        result = await keeper.store.append(
            [StreamAppend(stream, NO_STREAM, events)],
            metadata=ctx.metadata(),
            command_id=ctx.command_id,
            fingerprint=ctx.fingerprint,
            answer=encode_answer(201, {"id": command.id}),
        )
    except WrongExpectedVersion:
        raise AlreadyExists("event", command.id) from None
    if not result.replayed:
        await keeper.rebuild(ctx.organisation, command.id)
    return Answer(201, {"id": command.id}), result


async def change_programme(
    keeper: GateKeeper,
    ctx: CommandContext,
    event_id: str,
    decide: Callable[[Programme], list[Event]],
    status: int,
    body: dict[str, object] | None = None,
) -> tuple[Answer, AppendResult]:
    """Read the programme, decide, append at the version read; again if another change won."""
    answer = Answer(status, body or {})
    for attempt in range(ATTEMPTS):
        programme, version = await load_programme(keeper.store, ctx.organisation, event_id)
        events = decide(programme)
        try:
            result = await keeper.store.append(
                [StreamAppend(event_stream(ctx.organisation, event_id), version, events)],
                metadata=ctx.metadata(),
                command_id=ctx.command_id,
                fingerprint=ctx.fingerprint,
                answer=encode_answer(answer.status, answer.body),
            )
        except WrongExpectedVersion:
            if attempt + 1 == ATTEMPTS:
                raise
            continue
        if events and not result.replayed:
            await keeper.rebuild(ctx.organisation, event_id)
        return answer, result
    raise AssertionError("unreachable")
