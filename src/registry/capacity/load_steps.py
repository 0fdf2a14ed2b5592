"""A RedisGate load in steps (load.lua): `begin`, `clear` until the old state is gone, a `part`
for each slice of the new state, `finish`; each step one short script.

Why: one script that replaced a big event's whole state held Redis, and every other event's
decisions on it, for as long as the event is big: 0.4 - 0.5 s for 10,000 sessions, 1.7 - 2.2 s
for an event of 50,000 participants (bench/README.md, "2026-12-06, night (second machine)"),
and its JSON (~12 MB for those 50,000) was copied three times on its way to the socket: a
worker's peak RSS at start reached 150 MB over the growth runs' big log.

While the steps run the event is not ready (no sentinel): its decisions answer "not ready", and
`RedisGate.is_ready` waits for the load rather than let the caller begin another, which would
clear this one half-way. Each step renews a lease on `loading`; a load whose process died is
waited for until the lease runs out.

Before the load, `claimed` holds `loading` for the rebuild's fold, so that the processes that
find the event not ready wait for one fold instead of each folding the same log (at start every
worker did, every event).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Final

import structlog

from registry.capacity import wire
from registry.capacity.gate import ClaimOutcome, RegistrationState, Roster
from registry.domain.seating import Seating

log = structlog.get_logger(__name__)

#: Seats, queue entries or roster names per `part` (and old entries per `clear`): ~50 bytes of
#: JSON and three or four Redis calls each. Measured: the longest step of 2,000 held Redis 20 -
#: 35 ms, of 5,000 52 - 94 ms; the whole load takes about as long either way.
PART_ENTRIES: Final = 2_000
#: How long a load may go without a step before `is_ready` stops waiting for it (its process
#: died): a step takes milliseconds; this is the longest wait a dead loader causes.
LEASE_MS: Final = 10_000
#: How often `is_ready` looks again while a load or a claimed rebuild is under way.
POLL_S: Final = 0.01
STALE: Final = "STALE"

#: One step: load.lua with these ARGV (the event's KEYS bound already).
Step = Callable[[Sequence[str | bytes]], Awaitable[str]]


async def load(
    step: Step,
    event_key: str,
    seating: Seating,
    registration: RegistrationState,
    epoch: int,
    roster: Roster,
    part_entries: int,
    lease_ms: int,
) -> None:
    """Replace the event's state with `seating`, `registration` and `roster`, ready at `epoch`.
    If another load of the event begins meanwhile this one stops where it is: the later one is
    the rebuild that counts (its fence came later), and it clears what this one wrote."""
    token = f"{epoch}:{uuid.uuid4().hex}"
    lease = str(lease_ms)
    left = await step(["begin", token, lease])
    while left != "0":
        left = await step(["clear", token, lease, str(part_entries)])
        if left == STALE:
            return _superseded(event_key)
    registered = (
        roster.registered  # no copy of ~200,000 names when disjoint (as folded)
        if roster.registered.isdisjoint(roster.cancelled)
        else roster.registered - roster.cancelled
    )
    parts = wire.load_parts(seating.sessions.values(), registered, roster.cancelled, part_entries)
    for part in parts:
        if await step(["part", token, lease, part]) == STALE:
            return _superseded(event_key)
    if await step(["finish", token, lease, registration, str(epoch)]) == STALE:
        _superseded(event_key)


_CLAIMS: dict[str, ClaimOutcome] = {"READY": "ready", "BUSY": "busy", "CLAIMED": "claimed"}


@contextlib.asynccontextmanager
async def claimed(step: Step, event_key: str, lease_ms: int) -> AsyncIterator[ClaimOutcome]:
    """The rebuild of the event, claimed for this context (load.lua `claim`) unless it is ready
    or another process's; the lease renewed meanwhile (a fold can outlast it), dropped after."""
    token = f"claim:{uuid.uuid4().hex}"
    lease = str(lease_ms)
    outcome = _CLAIMS[await step(["claim", token, lease])]
    if outcome != "claimed":
        yield outcome
        return
    renewing = asyncio.create_task(_renew(step, token, lease, lease_ms / 3_000))
    try:
        yield outcome
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        try:
            await step(["drop", token, lease])
        except Exception:  # Redis away: the lease runs out instead
            log.warning("dropping a claim failed", event_key=event_key, exc_info=True)


async def _renew(step: Step, token: str, lease: str, every_s: float) -> None:
    """Until the claim is gone: the load's `begin` took `loading` over, or another's did."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if await step(["renew", token, lease]) == STALE:
                return
        except Exception:  # a blip: the next renewal may land before the lease runs out
            log.warning("renewing a claim failed", exc_info=True)


def _superseded(event_key: str) -> None:
    log.info("a later load of the gate took over", event_key=event_key)
