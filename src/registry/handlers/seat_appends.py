"""A gate decision into the log: its facts appended to every participant stream it touches,
fenced on the gate's epoch, then the hold confirmed; and, when the confirmation says so, the
seats that came free beside a queue filled (a seat held back while a queue formed, a session
stalled at a busy head: Seating.withhold).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from typing import Final, NamedTuple

import structlog

from registry.capacity.gate import Decision
from registry.domain.event import Event
from registry.domain.events import seat_event
from registry.domain.seating import Promoted
from registry.domain.streams import event_key, participant_stream
from registry.eventstore import (
    ANY,
    AppendResult,
    EventStoreError,
    GateFence,
    Metadata,
    StaleGateDecision,
    StreamAppend,
)
from registry.handlers.gate_sync import GateKeeper

log = structlog.get_logger(__name__)

#: Promotion rounds one fill may run: each consumes a queue entry, so this only guards a bug.
MAX_FILL_ROUNDS: Final = 100
#: Who appends the promotions of a fill (the system, on behalf of the command that caused it).
FILL_ACTOR: Final = "registry"


async def append_decision(
    keeper: GateKeeper,
    organisation: str,
    event_id: str,
    decision: Decision,
    *,
    command_id: str,
    metadata: Metadata,
    fingerprint: str | None = None,
    answer: bytes | None = None,
    extra: dict[str, list[Event]] | None = None,
) -> Appended:
    """Append the facts of one decision (plus `extra` events per participant) and confirm its
    hold; on a failed append, undo the hold or rebuild the gate, then re-raise."""
    key = event_key(organisation, event_id)
    facts: list[tuple[str, Event]] = [(c.participant_id, seat_event(c)) for c in decision]
    facts += [(pid, event) for pid, events in (extra or {}).items() for event in events]
    appends = participant_appends(organisation, event_id, facts)
    try:
        result = await keeper.store.append(
            appends,
            metadata=metadata,
            command_id=command_id,
            fingerprint=fingerprint,
            answer=answer,
            fence=GateFence(key, decision.epoch),
        )
    except StaleGateDecision:
        raise  # the rebuild already dropped this decision's hold
    except EventStoreError:
        # The store's own refusal (a typed error raised by append_events or before it): the
        # transaction rolled back, nothing was written, so the hold can be undone exactly (or,
        # where it cannot, the gate marks itself dirty).
        if await keeper.gate.release(key, command_id) == "undone":
            # Undoing gives back what the hold kept: a session stalled at someone it made busy
            # can move again.
            await fill_quietly(keeper, organisation, event_id, command_id)
        raise
    except BaseException:
        # Anything else may have come after the commit: a dropped connection, a backend
        # terminated by pg_terminate_backend (AdminShutdown), a cancelled task. Undoing the hold
        # then could free a seat the log holds, so rebuild instead: the fence waits for an append
        # still in flight, and the rebuild reads whatever did commit.
        await keeper.rebuild_quietly(organisation, event_id)
        raise
    return Appended(result, await keeper.gate.confirm(key, command_id) == "fill")


def participant_appends(
    organisation: str, event_id: str, facts: Iterable[tuple[str, Event]]
) -> list[StreamAppend]:
    """(participant, fact) pairs as appends to the participants' streams, in the order given.

    The order is the decision's: a cascade may free a seat in one session (someone promoted
    elsewhere gives theirs up) before it gives that seat to the next in the queue, and the log,
    read in position order, must show the freeing first. Facts are therefore never grouped by
    participant across others' facts: a participant met again gets another append of their
    stream (StreamAppend: a stream named again follows on). Grouping them did reorder such a
    cascade, so that `registry verify` found a promotion over capacity (tests/integration/
    test_projector_processes.py, about 1 run in 3 with two API processes)."""
    runs: list[tuple[str, list[Event]]] = []
    for participant_id, fact in facts:
        if runs and runs[-1][0] == participant_id:
            runs[-1][1].append(fact)
        else:
            runs.append((participant_id, [fact]))
    return [
        StreamAppend(participant_stream(organisation, event_id, pid), ANY, events)
        for pid, events in runs
    ]


class Appended(NamedTuple):
    result: AppendResult
    fill_due: bool  # the confirmation found seats to fill (CapacityGate.confirm)


async def fill_free_seats(
    keeper: GateKeeper,
    organisation: str,
    event_id: str,
    cause: str | None = None,
    *,
    only_if_due: bool = False,
) -> int:
    """Promote queue heads into every free seat of the event, appending each round as its own
    command (caused by `cause`); returns how many promotions were appended. `only_if_due`
    (the reconciler's): the first round looks only if the gate says a fill may be due."""
    key = event_key(organisation, event_id)
    promoted = 0
    for _ in range(MAX_FILL_ROUNDS):
        command_id = f"fill:{uuid.uuid4()}"
        promote = functools.partial(keeper.gate.promote, key, command_id, only_if_due=only_if_due)
        only_if_due = False  # a later round runs because the last one said a fill is due
        decision = await keeper.decide(organisation, event_id, promote)
        if not decision:
            return promoted
        metadata = Metadata(command_id=command_id, causation_id=cause, actor=FILL_ACTOR)
        try:
            appended = await append_decision(
                keeper, organisation, event_id, decision, command_id=command_id, metadata=metadata
            )
        except StaleGateDecision:
            continue  # the gate was rebuilt meanwhile: decide again on the new one
        promoted += sum(1 for change in decision if isinstance(change, Promoted))
        if not appended.fill_due:
            return promoted
    log.error("filling free seats did not settle", event_key=key, rounds=MAX_FILL_ROUNDS)
    return promoted


async def fill_quietly(
    keeper: GateKeeper, organisation: str, event_id: str, cause: str | None
) -> None:
    """`fill_free_seats` where the caller's command is settled already: a failure is logged,
    not raised, and the reconciler fills what is left (upkeep.reconcile)."""
    try:
        await fill_free_seats(keeper, organisation, event_id, cause)
    except Exception:
        log.warning(
            "filling free seats failed; the reconciler will",
            event_key=event_key(organisation, event_id),
            exc_info=True,
        )
