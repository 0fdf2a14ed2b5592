"""What the read models must answer, computed the other way: by folding the log through the
domain (registry.domain.programme.evolve and Seating.apply, in registry.audit.replay_fold) and
answering from the fold as `?as_of=` does (registry.audit.replay_answers). The definition of
correct for every read model (tests/integration/test_read_models_property.py): the SQL
projections are held to a fold that shares no code with them. The replay's own tests hold it to
the live read models step by step (tests/integration/test_as_of.py).

Names are not in the log: the reads take them from `participant_details` when they answer, and
so does the fold (`kept_details`), which checks that each item shows its participant's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from projections import PROJECTIONS, checkpoints, reads
from projections.runner import apply_batch
from registry.audit import replay_answers, replay_fold
from registry.audit.replay_fold import Replayed
from registry.eventstore import EventStore, RecordedEvent

ALL = reads.Page(reads.MAX_LIMIT)
#: participant -> (name, erased), as kept in participant_details.
Details = dict[str, tuple[str | None, bool]]
KEPT_DETAILS = """
SELECT participant_id, name, erased_at IS NOT NULL AS erased FROM participant_details
 WHERE organisation = $1 AND event_id = $2
"""


@dataclass
class Folded:
    """The event's state folded from the log (registry.audit.replay_fold: the programme and the
    seats through the domain, in position order), with the details the reads name people by."""

    state: Replayed
    details: Details = field(default_factory=dict)

    @property
    def registered(self) -> set[str]:
        """Everyone the log says registered (ParticipantRegistered), cancelled or not."""
        return self.state.registered


async def kept_details(pool: asyncpg.Pool, organisation: str, event_id: str) -> Details:
    async with pool.acquire() as conn:
        rows = await conn.fetch(KEPT_DETAILS, organisation, event_id)
    return {row["participant_id"]: (row["name"], row["erased"]) for row in rows}


def fold(
    events: Sequence[RecordedEvent], organisation: str, event_id: str, details: Details
) -> Folded:
    folded = Folded(replay_fold.fold(events, organisation, event_id), details)
    assert folded.state.programme is not None, f"no event {event_id}"
    return folded


def expected(folded: Folded) -> dict[str, Any]:
    """Every read's items (positions left out), as the read models must give them: the
    replay's answers (registry.audit.replay_answers, what `?as_of=` answers), one page each."""
    return replay_answers.everything(folded.state, folded.details, reads.MAX_LIMIT)


async def answered(pool: asyncpg.Pool, organisation: str, event_id: str) -> dict[str, Any]:
    """Every read's items as the read models answer them now."""
    occupancy = await reads.occupancy(pool, organisation, event_id)
    sessions = [s["session_id"] for s in occupancy["sessions"]]
    rooms, _ = await reads.rooms(pool, organisation, event_id, ALL)
    conflicts, _ = await reads.conflicts(pool, organisation, event_id, ALL)
    attendees, waitlists = {}, {}
    for sid in sessions:
        attendees[sid] = (await reads.attendees(pool, organisation, event_id, sid, ALL))[0]["items"]
        waitlists[sid] = (await reads.waitlist(pool, organisation, event_id, sid, ALL))[0]["items"]
    return {
        "occupancy": occupancy["sessions"],
        "rooms": rooms["items"],
        "attendees": attendees,
        "waitlists": waitlists,
        "conflicts": conflicts["items"],
    }


async def catch_up(pool: asyncpg.Pool, store: EventStore) -> None:
    """Apply the log to every projection until each has nothing left (the runner, by hand)."""
    for projection in PROJECTIONS:
        async with pool.acquire() as conn:
            await checkpoints.ensure(conn, projection.name)
        while await apply_batch(pool, store, projection, batch_size=50):
            pass


async def whole_log(store: EventStore) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    while batch := await store.read_all((len(events) and events[-1].position + 1) or 1, 1000):
        events += batch
    return events
