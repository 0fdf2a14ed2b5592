"""Keeping every event's gate trustworthy while the service runs.

- At start, every event whose gate is not ready (Redis restarted empty, flushed, or dirty) is
  rebuilt from the log before `/ready` says yes: by one worker each, the others waiting for it
  (the rebuild is claimed in the gate: GateKeeper.make_ready).
- The reconciler settles holds that outlived their expiry (a process died between the gate's
  decision and the append): a command found in the log is confirmed; one that is not is never
  undone in place (its append might still land), the event's gate is rebuilt instead, inside the
  store's fence, so that the late append either is read by the rebuild or refused as stale.
- It closes registration whose scheduled closing time has come (`close_if_due`).
- Then it fills free seats beside a queue (seat_appends.fill_free_seats): a rebuild can find
  them (a failed seat decision others queued behind), and a process can die between confirming
  a decision that gave seats back and filling them. It looks only when the gate says a fill
  may be due (`promote`'s `only_if_due`): the confirm that gave a seat back beside a queue
  marks it, as does every load, and a fill clears it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import dataclass

import structlog

from registry.capacity.gate import wall_clock_ms
from registry.domain.event import Event
from registry.domain.events import RegistrationClosed
from registry.domain.programme import Programme
from registry.domain.programme_changes import closing_due
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper
from registry.handlers.loading import load_programme
from registry.handlers.programme import change_programme
from registry.handlers.seat_appends import FILL_ACTOR, fill_free_seats

log = structlog.get_logger(__name__)
EVENT_STREAMS = "event-"


@dataclass
class Upkeep:
    """What /ready asks: have the gates been built since this process started?"""

    gates_built: bool = False


async def events(keeper: GateKeeper) -> list[tuple[str, str]]:
    """(organisation, event id) of every event in the log."""
    found = []
    for stream_id in await keeper.store.stream_ids(EVENT_STREAMS):
        organisation, _, event_id = stream_id.removeprefix(EVENT_STREAMS).partition(":")
        found.append((organisation, event_id))
    return found


async def rebuild_unready(keeper: GateKeeper) -> int:
    """Every event's gate ready; returns how many this process rebuilt. The events another
    process is rebuilding (at start, the other workers) are passed over and waited for at the
    end, so the workers share the folds instead of each doing all of them."""
    rebuilt = 0
    elsewhere = []
    for organisation, event_id in await events(keeper):
        outcome = await keeper.make_ready(organisation, event_id, wait=False)
        if outcome is None:
            elsewhere.append((organisation, event_id))
        elif outcome:
            await fill_free_seats(keeper, organisation, event_id)
            rebuilt += 1
    for organisation, event_id in elsewhere:
        if await keeper.make_ready(organisation, event_id):
            await fill_free_seats(keeper, organisation, event_id)
            rebuilt += 1
    return rebuilt


async def reconcile(keeper: GateKeeper, now_ms: int | None = None) -> int:
    """Settle every expired hold and fill free seats; returns how many holds were settled."""
    settled = 0
    now_ms = wall_clock_ms() if now_ms is None else now_ms
    for organisation, event_id in await events(keeper):
        key = f"{organisation}:{event_id}"
        outcome = await keeper.make_ready(organisation, event_id, wait=False)
        if outcome:
            await fill_free_seats(keeper, organisation, event_id)
        if outcome is not False:  # rebuilt here, or being rebuilt elsewhere: nothing to settle
            continue
        lost = False
        for command_id in await keeper.gate.expired_holds(key, now_ms):
            settled += 1
            if await keeper.store.command_result(command_id) is not None:
                await keeper.gate.confirm(key, command_id)
            else:
                lost = True
        if lost:
            log.info("rebuilding a gate with holds not in the log", event_key=key)
            await keeper.rebuild(organisation, event_id)
        # Only if due: a confirm or release that left a seat free beside a queue says so in the
        # gate, as does a rebuild, so a caller that died before filling is still caught, and
        # an event of many sessions is not walked every interval (decide.lua).
        await fill_free_seats(keeper, organisation, event_id, only_if_due=True)
        await close_if_due(keeper, organisation, event_id)
    return settled


async def close_if_due(
    keeper: GateKeeper, organisation: str, event_id: str, now: dt.datetime | None = None
) -> bool:
    """Close registration whose scheduled closing has come (RegistrationClosingScheduled): at
    most one reconcile interval late. The command id names the schedule, so several processes
    doing it at once close it once."""
    now = now or dt.datetime.now(dt.UTC)
    programme, _ = await load_programme(keeper.store, organisation, event_id)
    if not closing_due(programme, now):
        return False
    assert programme.closes_at is not None
    ctx = CommandContext(
        organisation=organisation,
        actor=FILL_ACTOR,
        command_id=f"close:{organisation}:{event_id}:{programme.closes_at.isoformat()}",
    )

    def close(current: Programme) -> list[Event]:  # decided again on the programme read there
        return [RegistrationClosed()] if closing_due(current, now) else []

    await change_programme(keeper, ctx, event_id, close, 200)
    log.info("registration closed as scheduled", event_key=f"{organisation}:{event_id}")
    return True


async def build(keeper: GateKeeper, upkeep: Upkeep) -> None:
    """One attempt to build every gate that is not ready."""
    rebuilt = await rebuild_unready(keeper)
    upkeep.gates_built = True
    log.info("capacity gates ready", rebuilt=rebuilt)


async def run(keeper: GateKeeper, upkeep: Upkeep, interval_s: float = 5.0) -> None:
    """The background task: build the gates (until it works), then reconcile every
    `interval_s`."""
    while not upkeep.gates_built:
        try:
            await build(keeper, upkeep)
        except Exception:
            log.warning("building the capacity gates failed; retrying", exc_info=True)
            await asyncio.sleep(1.0)
    while True:
        await asyncio.sleep(interval_s)
        with contextlib.suppress(Exception):
            await reconcile(keeper)
