"""Erasing a participant's personal data on request (DESIGN.md section 4).

Name, e-mail and organisation live outside the log (registry.eventstore.personal). Erasing
replaces them with a tombstone and appends PersonalDataErased (which holds none of them) to the
participant's stream, in one transaction; the log is not rewritten, so its hash chain and
`registry verify` are untouched. Seats and waitlist entries stay: erasure is not cancellation.
A cancelled registration can be erased too. A participant erased already answers 200 and writes
nothing (but the command's answer, for its Idempotency-Key).
"""

from __future__ import annotations

from registry.domain import participant as participant_model
from registry.domain.event import Event
from registry.domain.events import PersonalDataErased
from registry.domain.participant import Participant
from registry.domain.streams import participant_stream
from registry.eventstore import (
    AppendResult,
    DetailsErased,
    PersonalWrite,
    StreamAppend,
    WrongExpectedVersion,
)
from registry.handlers.answers import encode_answer
from registry.handlers.context import Answer, CommandContext
from registry.handlers.gate_sync import GateKeeper
from registry.handlers.loading import UnknownParticipant, load_programme

#: The append is at the version read (so that two erasures write one fact); a sign-up landing
#: on the participant's stream in between makes it read again, this often.
ATTEMPTS = 5


async def erase_participant(
    keeper: GateKeeper, ctx: CommandContext, event_id: str, participant_id: str
) -> tuple[Answer, AppendResult]:
    await load_programme(keeper.store, ctx.organisation, event_id)  # an unknown event: 404
    stream = participant_stream(ctx.organisation, event_id, participant_id)
    answer = Answer(200, {})
    for attempt in range(ATTEMPTS):
        recorded = await keeper.store.read_stream(stream)
        participant: Participant | None = None
        for fact in recorded:
            participant = participant_model.evolve(participant, fact.event)
        if participant is None:
            raise UnknownParticipant(participant_id)
        facts: list[Event] = []
        personal: list[PersonalWrite] = []
        if not participant.erased:  # else nothing is left to erase: only the command is kept
            facts.append(PersonalDataErased(participant_id=participant_id))
            personal.append(
                DetailsErased(
                    organisation=ctx.organisation, event_id=event_id, participant_id=participant_id
                )
            )
        try:
            result = await keeper.store.append(
                [StreamAppend(stream, recorded[-1].stream_version, facts)],
                metadata=ctx.metadata(),
                command_id=ctx.command_id,
                fingerprint=ctx.fingerprint,
                answer=encode_answer(answer.status, answer.body),
                personal=personal,
            )
        except WrongExpectedVersion:
            if attempt + 1 == ATTEMPTS:
                raise
            continue
        return answer, result
    raise AssertionError("unreachable")
