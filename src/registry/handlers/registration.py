"""Form backends' commands: participants, sign-ups, cancellations, whole forms.

The hot path (sign-up): the types of the participant's facts (404 if unknown or cancelled), one
gate decision (one Redis round trip), one append of the decision's facts to every participant
stream it touches, fenced on the gate's epoch, then the hold is confirmed. A failed append
releases the hold.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence

from registry.capacity.gate import Decision
from registry.domain import commands as cmd
from registry.domain.errors import (
    AlreadyExists,
    EventCancelled,
    InvalidCommand,
    RegistrationClosed,
)
from registry.domain.event import Event
from registry.domain.events import (
    EmailClaimed,
    ParticipantRegistered,
    RegistrationCancelled,
    seat_event,
)
from registry.domain.programme import Programme
from registry.domain.programme_changes import closing_due
from registry.domain.seating import Change, Promoted, Queued
from registry.domain.streams import email_stream, event_key, participant_stream
from registry.eventstore import (
    NO_STREAM,
    AppendResult,
    GateFence,
    ParticipantDetails,
    StaleGateDecision,
    StreamAppend,
    WrongExpectedVersion,
)
from registry.handlers.answers import encode_answer
from registry.handlers.context import Answer, CommandContext
from registry.handlers.gate_sync import GateKeeper
from registry.handlers.loading import load_programme
from registry.handlers.seat_appends import append_decision, fill_quietly

#: Decisions made by a gate that was rebuilt before their append are decided again, this often.
STALE_RETRIES = 2


async def register_participant(
    keeper: GateKeeper, ctx: CommandContext, event_id: str, command: cmd.RegisterParticipant
) -> tuple[Answer, AppendResult]:
    programme, _ = await load_programme(keeper.store, ctx.organisation, event_id)
    if programme.state == "cancelled":
        raise EventCancelled(event_id)
    if not _open_now(programme):
        raise RegistrationClosed(event_id)
    participant_id = command.id or str(uuid.uuid4())
    answer = Answer(201, {"participant_id": participant_id})
    claim = await _claim(keeper, ctx.organisation, event_id, command.email)
    try:
        result = await keeper.store.append(
            [
                StreamAppend(
                    participant_stream(ctx.organisation, event_id, participant_id),
                    NO_STREAM,
                    [_registered(participant_id, command)],
                ),
                StreamAppend(claim, NO_STREAM, [EmailClaimed(participant_id=participant_id)]),
            ],
            metadata=ctx.metadata(),
            command_id=ctx.command_id,
            fingerprint=ctx.fingerprint,
            answer=encode_answer(answer.status, answer.body),
            personal=[_details(ctx, event_id, participant_id, command)],
        )
    except WrongExpectedVersion as conflict:
        if conflict.stream_id != claim:
            raise AlreadyExists("participant", participant_id, participant_id) from None
        raise await _email_taken(keeper, claim) from None
    if not result.replayed:  # a replay's participant is the first run's (admitted then)
        await keeper.admit_quietly(ctx.organisation, event_id, participant_id)
    return answer, result


async def submit_registration(
    keeper: GateKeeper, ctx: CommandContext, event_id: str, command: cmd.SubmitRegistration
) -> tuple[Answer, AppendResult]:
    """A whole form in one command: the participant and a sign-up per session, all or nothing
    (a refused session releases every hold and answers that session's problem)."""
    programme, _ = await load_programme(keeper.store, ctx.organisation, event_id)
    if programme.state == "cancelled":
        raise EventCancelled(event_id)
    if not _open_now(programme):
        raise RegistrationClosed(event_id)
    if len(set(command.session_ids)) != len(command.session_ids):
        raise InvalidCommand("a session is named twice", "session_ids")
    participant_id = command.participant.id or str(uuid.uuid4())
    key = event_key(ctx.organisation, event_id)
    claim = await _claim(keeper, ctx.organisation, event_id, command.participant.email)
    for attempt in range(STALE_RETRIES + 1):
        holds: list[str] = []
        decisions: list[Decision] = []
        try:
            for index, session_id in enumerate(command.session_ids):
                hold = f"{ctx.command_id}#{index}"
                decisions.append(
                    await keeper.decide(
                        ctx.organisation,
                        event_id,
                        functools.partial(
                            keeper.gate.sign_up, key, hold, participant_id, session_id, None
                        ),
                    )
                )
                holds.append(hold)
        except BaseException:
            await _release_all(keeper, key, holds)
            raise
        epochs = {d.epoch for d in decisions}
        if len(epochs) > 1:  # the gate was rebuilt midway: decide again
            await _release_all(keeper, key, holds)
            continue
        signups = [_signup_body(d, s) for d, s in zip(decisions, command.session_ids, strict=True)]
        answer = Answer(201, {"participant_id": participant_id, "signups": signups})
        events: list[Event] = [_registered(participant_id, command.participant)]
        events += [seat_event(c) for d in decisions for c in d.changes]
        appends = [
            StreamAppend(
                participant_stream(ctx.organisation, event_id, participant_id), NO_STREAM, events
            ),
            StreamAppend(claim, NO_STREAM, [EmailClaimed(participant_id=participant_id)]),
        ]
        try:
            result = await keeper.store.append(
                appends,
                metadata=ctx.metadata(),
                command_id=ctx.command_id,
                fingerprint=ctx.fingerprint,
                answer=encode_answer(answer.status, answer.body),
                fence=GateFence(key, epochs.pop()) if epochs else None,
                personal=[_details(ctx, event_id, participant_id, command.participant)],
            )
        except StaleGateDecision:
            if attempt == STALE_RETRIES:
                raise
            continue
        except WrongExpectedVersion as conflict:
            await _release_all(keeper, key, holds)
            if conflict.stream_id != claim:
                raise AlreadyExists("participant", participant_id, participant_id) from None
            raise await _email_taken(keeper, claim) from None
        except BaseException:
            await keeper.rebuild_quietly(ctx.organisation, event_id)
            raise
        # Together: the gate sends confirms made in one turn as one script (capacity/batching.py).
        confirmed = await asyncio.gather(*(keeper.gate.confirm(key, hold) for hold in holds))
        if not result.replayed:  # a replay's participant is the first run's (admitted then)
            await keeper.admit_quietly(ctx.organisation, event_id, participant_id)
        if "fill" in confirmed:  # a cascade stalled at this participant meanwhile
            await fill_quietly(keeper, ctx.organisation, event_id, ctx.command_id)
        return answer, result
    raise AssertionError("unreachable")


def _open_now(programme: Programme) -> bool:
    """Open, and its scheduled closing (if any) not yet come: the upkeep appends the closing
    within seconds, but a registration that reads the programme anyway need not wait for it
    (sign-ups, decided by the gate alone, do until then)."""
    now = dt.datetime.now(dt.UTC)
    return programme.registration == "open" and not closing_due(programme, now)


async def _release_all(keeper: GateKeeper, key: str, holds: Sequence[str]) -> None:
    for hold in reversed(holds):
        await keeper.gate.release(key, hold)


async def sign_up(
    keeper: GateKeeper,
    ctx: CommandContext,
    event_id: str,
    participant_id: str,
    command: cmd.SignUp,
) -> tuple[Answer, AppendResult]:
    return await _decide_and_append(
        keeper,
        ctx,
        event_id,
        participant_id,
        lambda key: keeper.gate.sign_up(
            key,
            ctx.command_id,
            participant_id,
            command.session_id,
            command.replaces,
            on_roster=True,
        ),
        lambda decision: Answer(201, _signup_body(decision, command.session_id)),
    )


async def cancel_sign_up(
    keeper: GateKeeper, ctx: CommandContext, event_id: str, participant_id: str, session_id: str
) -> tuple[Answer, AppendResult]:
    return await _decide_and_append(
        keeper,
        ctx,
        event_id,
        participant_id,
        lambda key: keeper.gate.leave(
            key, ctx.command_id, participant_id, session_id, on_roster=True
        ),
        lambda decision: Answer(200, {"promoted": _promoted(decision.changes)}),
    )


async def cancel_registration(
    keeper: GateKeeper, ctx: CommandContext, event_id: str, participant_id: str
) -> tuple[Answer, AppendResult]:
    return await _decide_and_append(
        keeper,
        ctx,
        event_id,
        participant_id,
        lambda key: keeper.gate.leave_all(key, ctx.command_id, participant_id, on_roster=True),
        lambda decision: Answer(200, {"promoted": _promoted(decision.changes)}),
        extra={participant_id: [RegistrationCancelled(participant_id=participant_id)]},
    )


# -- steps ---------------------------------------------------------------------------------------


async def _decide_and_append(
    keeper: GateKeeper,
    ctx: CommandContext,
    event_id: str,
    participant_id: str,
    decide: Callable[[str], Awaitable[Decision]],
    answer_for: Callable[[Decision], Answer],
    extra: dict[str, list[Event]] | None = None,
) -> tuple[Answer, AppendResult]:
    """One gate decision about a registered participant and its append, in the participant's
    turn (handlers/turns.py); decided again if the gate was rebuilt in between."""
    key = event_key(ctx.organisation, event_id)
    async with keeper.turns.of(key, participant_id):
        for attempt in range(STALE_RETRIES + 1):
            decision = await keeper.decide_for(
                ctx.organisation, event_id, participant_id, lambda: decide(key)
            )
            answer = answer_for(decision)
            try:
                result = await _append_decision(keeper, ctx, event_id, decision, answer, extra)
                return answer, result
            except StaleGateDecision:
                if attempt == STALE_RETRIES:
                    raise
                if attempt > 0:
                    # Stale twice: normally a rebuild or an organiser's change moved the fence
                    # on and loaded the gate; if the process doing that died between the two,
                    # the gate is behind the fence for good until it is rebuilt.
                    await keeper.rebuild_quietly(ctx.organisation, event_id)
    raise AssertionError("unreachable")


async def _email_taken(keeper: GateKeeper, claim: str) -> AlreadyExists:
    """The 409 for an e-mail already claimed, naming the participant who holds it."""
    [first] = await keeper.store.read_stream(claim, limit=1)
    assert isinstance(first.event, EmailClaimed)
    owner = first.event.participant_id
    return AlreadyExists(
        "participant", owner, owner, "a participant with this e-mail is already registered"
    )


async def _append_decision(
    keeper: GateKeeper,
    ctx: CommandContext,
    event_id: str,
    decision: Decision,
    answer: Answer,
    extra: dict[str, list[Event]] | None = None,
) -> AppendResult:
    """Append one decision with the command's answer; then fill free seats, if that is due."""
    appended = await append_decision(
        keeper,
        ctx.organisation,
        event_id,
        decision,
        command_id=ctx.command_id,
        metadata=ctx.metadata(),
        fingerprint=ctx.fingerprint,
        answer=encode_answer(answer.status, answer.body),
        extra=extra,
    )
    if appended.fill_due:
        await fill_quietly(keeper, ctx.organisation, event_id, ctx.command_id)
    return appended.result


def _signup_body(decision: Decision, session_id: str) -> dict[str, object]:
    first = decision.changes[0]
    if isinstance(first, Queued):
        fallbacks: Sequence[str] = first.fallback_session_ids
        return {
            "session_id": session_id,
            "status": "waitlisted",
            "waitlist_position": decision.waitlist_position,
            "fallback_session_id": fallbacks[0] if fallbacks else None,
            "fallback_session_ids": list(fallbacks),
        }
    return {
        "session_id": session_id,
        "status": "seated",
        "waitlist_position": None,
        "fallback_session_id": None,
        "fallback_session_ids": [],
    }


def _promoted(changes: Sequence[Change]) -> list[str]:
    return [c.participant_id for c in changes if isinstance(c, Promoted)]


async def _claim(keeper: GateKeeper, organisation: str, event_id: str, email: str) -> str:
    """The e-mail's uniqueness stream, named by its HMAC under the organisation's key."""
    key = await keeper.store.personal.email_key(organisation)
    return email_stream(organisation, event_id, email, key)


def _registered(participant_id: str, command: cmd.RegisterParticipant) -> ParticipantRegistered:
    """The fact holds no personal data: that goes to `_details`, written with it."""
    return ParticipantRegistered(participant_id=participant_id, role=command.role)


def _details(
    ctx: CommandContext, event_id: str, participant_id: str, command: cmd.RegisterParticipant
) -> ParticipantDetails:
    return ParticipantDetails(
        organisation=ctx.organisation,
        event_id=event_id,
        participant_id=participant_id,
        name=command.name,
        email=command.email,
        organisation_name=command.organisation,
    )
