"""The capacity gate in Redis: Lua scripts, one round trip (EVALSHA) per decision or fewer:
decisions and settlements of one event that arrive together share one (batching.py).

Scripts live beside this module (*.lua, read with importlib.resources when a gate is made, never
at import). EVAL scripts cannot load one another, so each entry script is sent with the shared
files before it (state.lua, seating.lua, holds.lua). redis-py's Script objects (from
`register_script`) call EVALSHA and, on NOSCRIPT (SCRIPT FLUSH, a restart, a failover), load the
script and call again; https://redis.io/docs/latest/develop/reference/errors/common/noscript/.

Keys: `<prefix>:{<org>:<event>}:<suffix>` (layout in state.lua). The hash tag is the event, so one
script can touch every session and agenda of the event atomically and the same code runs on
Redis Cluster (DESIGN.md section 2, "Capacity gate"). The prefix must not contain braces, or its
own would be the hash tag. On a cluster, RedisCluster sends SCRIPT LOAD to every primary (its
command flags), so the NOSCRIPT fallback also loads a script on a replica promoted meanwhile;
tests/cluster/ runs the gate through a failover (connect.py makes the client).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from importlib import resources
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from registry.capacity import load_steps, wire
from registry.capacity.batching import CallBatcher
from registry.capacity.errors import GateNotReady
from registry.capacity.gate import (
    DEFAULT_ANSWER_TTL_MS,
    DEFAULT_HOLD_TTL_MS,
    AdmitOutcome,
    ClaimOutcome,
    ConfirmOutcome,
    Decision,
    RegistrationState,
    ReleaseOutcome,
    Roster,
    wall_clock_ms,
)
from registry.capacity.roster import NOBODY
from registry.domain.seating import Seating

Client = aioredis.Redis | RedisCluster

#: The event's own keys, in the order every script receives them as KEYS[1..16].
_EVENT_KEYS = (
    "sentinel",
    "dirty",
    "registration",
    "sessions",
    "holds",
    "hold_expiry",
    "answers",
    "version",
    "busy",
    "busy_by",
    "stalled",
    "fill_due",
    "fill_from",
    "registered",
    "cancelled",
    "loading",
)
#: batch.lua's one argument: the gathered calls' arguments as a JSON array of strings.
_ARGUMENTS = msgspec.json.Encoder()

#: Each entry script and the shared files it runs after.
_SCRIPTS = {
    "batch": ("state", "seating", "holds", "decide", "settle", "admit", "batch"),
    "registration": ("state", "seating", "holds", "registration"),
    "load": ("state", "load"),
    "snapshot": ("state", "snapshot"),
}


_CONFIRM_OUTCOMES: dict[str, ConfirmOutcome] = {
    "confirmed": "confirmed",
    "fill": "fill",
    "settled": "settled",
    "unknown": "unknown",
}
_ADMIT_OUTCOMES: dict[str, AdmitOutcome] = {
    "admitted": "admitted",
    "cancelled": "cancelled",
    "not ready": "not ready",
}
_RELEASE_OUTCOMES: dict[str, ReleaseOutcome] = {
    "undone": "undone",
    "dirty": "dirty",
    "confirmed": "confirmed",
    "unknown": "unknown",
}


@functools.cache
def script_source(name: str) -> str:
    """The full text of one entry script, shared files first."""
    package = resources.files("registry.capacity")
    return "\n".join(package.joinpath(f"{part}.lua").read_text("utf-8") for part in _SCRIPTS[name])


class RedisGate:
    """CapacityGate on Redis or Redis Cluster (redis.asyncio)."""

    def __init__(
        self,
        client: Client,
        prefix: str,
        *,
        hold_ttl_ms: int = DEFAULT_HOLD_TTL_MS,
        answer_ttl_ms: int = DEFAULT_ANSWER_TTL_MS,
        clock: Callable[[], int] = wall_clock_ms,
        max_in_flight: int | None = None,
        load_part_entries: int = load_steps.PART_ENTRIES,
        load_lease_ms: int = load_steps.LEASE_MS,
    ) -> None:
        """`max_in_flight` bounds this gate's Redis calls at once (callers wait beyond): the
        cluster client has no blocking pool (connect.py); None where the pool already waits.
        `load_part_entries`, `load_lease_ms`: the steps of a load (load.lua)."""
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError(f"a key prefix must be non-empty and without braces: {prefix!r}")
        self._client = client
        self._prefix = prefix
        self._hold_ttl_ms = hold_ttl_ms
        self._answer_ttl_ms = answer_ttl_ms
        self._clock = clock
        self._load_part_entries = load_part_entries
        self._load_lease_ms = load_lease_ms
        self._in_flight: AbstractAsyncContextManager[object] = (
            contextlib.nullcontext() if max_in_flight is None else asyncio.Semaphore(max_in_flight)
        )
        # register_script only hashes the text; the server learns it on first use.
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(script_source(name)) for name in _SCRIPTS
        }
        self._batcher = CallBatcher(self._run_batch)
        self._keys_of: dict[str, tuple[str, ...]] = {}

    # -- keys -------------------------------------------------------------------------------

    def base(self, event_key: str) -> str:
        """Every key of the event starts with this; its `{...}` is the hash tag."""
        if ":" not in event_key or "{" in event_key or "}" in event_key:
            raise ValueError(f"an event key is '<org>:<event>' without braces: {event_key!r}")
        return f"{self._prefix}:{{{event_key}}}:"

    def _event_keys(self, event_key: str) -> tuple[str, ...]:
        """The event's own keys (KEYS of every script), kept per event: every call names them."""
        keys = self._keys_of.get(event_key)
        if keys is None:
            base = self.base(event_key)
            keys = self._keys_of[event_key] = tuple(base + suffix for suffix in _EVENT_KEYS)
        return keys

    async def _run(
        self, name: str, event_key: str, keys: Sequence[str], args: Sequence[str | bytes]
    ) -> str:
        async with self._in_flight:
            raw = await self._scripts[name](keys=keys, args=args)
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def _run_batch(self, event_key: str, keys: list[str], args: list[str]) -> list[object]:
        """Decisions, settlements and admissions gathered by the batcher (batching.py), one reply
        each.

        The calls' arguments go as one JSON argument (batch.lua decodes it): a group of a few
        dozen calls has hundreds, and redis-py packs each argument of a command in Python
        (`pack_command`: 11 % of the process's time in a cProfile of the sign-up path in
        process, bench/README.md, "2026-12-07, late morning"); one string is packed at once."""
        calls = _ARGUMENTS.encode(args)
        try:
            async with self._in_flight:
                replies = await self._scripts["batch"](keys=keys, args=[calls])
        except ResponseError:
            # A script that failed half-way keeps the writes it made (Redis does not roll a
            # script back: https://dev.to/scalegrid/redis-transactions-long-running-lua-scripts-5a6e),
            # so the event's state is unknown: never guess, rebuild.
            with contextlib.suppress(Exception):
                async with self._in_flight:
                    await self._client.set(self.base(event_key) + "dirty", "script error")
            raise
        return list(replies)

    # -- decisions --------------------------------------------------------------------------

    async def _decide(
        self,
        event_key: str,
        op: str,
        command_id: str,
        participant_id: str,
        session_id: str = "",
        replaces: str | None = None,
        *,
        on_roster: bool = False,
    ) -> Decision:
        args = [
            op,
            command_id,
            str(self._clock()),
            str(self._hold_ttl_ms),
            participant_id,
            session_id,
            replaces or "",
            "1" if on_roster else "",
        ]
        # The event's own keys only: the script derives the sessions' and the agenda's names
        # from KEYS[1] (state.lua), as it must for whom a cascade reaches; declaring them too
        # cost a packed argument each (see _run_batch).
        keys = self._event_keys(event_key)
        reply = wire.decode_reply(await self._batcher.call(event_key, "d", keys, args))
        if reply.err is not None:
            raise wire.to_exception(reply.err, event_key)
        return Decision(
            (wire.to_change(fact) for fact in reply.c),
            epoch=reply.e,
            waitlist_position=reply.w,
            replayed=reply.replayed,
        )

    async def sign_up(
        self,
        event_key: str,
        command_id: str,
        participant_id: str,
        session_id: str,
        replaces: str | None = None,
        *,
        on_roster: bool = False,
    ) -> Decision:
        return await self._decide(
            event_key,
            "sign_up",
            command_id,
            participant_id,
            session_id,
            replaces,
            on_roster=on_roster,
        )

    async def leave(
        self,
        event_key: str,
        command_id: str,
        participant_id: str,
        session_id: str,
        *,
        on_roster: bool = False,
    ) -> Decision:
        return await self._decide(
            event_key, "leave", command_id, participant_id, session_id, on_roster=on_roster
        )

    async def leave_all(
        self, event_key: str, command_id: str, participant_id: str, *, on_roster: bool = False
    ) -> Decision:
        return await self._decide(
            event_key, "leave_all", command_id, participant_id, on_roster=on_roster
        )

    async def promote(
        self, event_key: str, command_id: str, *, only_if_due: bool = False
    ) -> Decision:
        op = "promote_if_due" if only_if_due else "promote"
        return await self._decide(event_key, op, command_id, "")

    # -- holds ------------------------------------------------------------------------------

    async def _settle(self, event_key: str, op: str, command_id: str) -> str:
        args = [op, command_id, str(self._clock()), str(self._answer_ttl_ms)]
        return await self._batcher.call(event_key, "s", self._event_keys(event_key), args)

    async def confirm(self, event_key: str, command_id: str) -> ConfirmOutcome:
        outcome = await self._settle(event_key, "confirm", command_id)
        if outcome not in _CONFIRM_OUTCOMES:
            raise ValueError(f"the gate answered an unknown confirm outcome: {outcome}")
        return _CONFIRM_OUTCOMES[outcome]

    async def release(self, event_key: str, command_id: str) -> ReleaseOutcome:
        outcome = await self._settle(event_key, "release", command_id)
        if outcome not in _RELEASE_OUTCOMES:
            raise ValueError(f"the gate answered an unknown release outcome: {outcome}")
        return _RELEASE_OUTCOMES[outcome]

    async def expired_holds(self, event_key: str, now_ms: int) -> list[str]:
        key = self.base(event_key) + "hold_expiry"
        async with self._in_flight:
            found = await self._client.zrangebyscore(key, "-inf", now_ms)
        return [c.decode() if isinstance(c, bytes) else str(c) for c in found]

    # -- state ------------------------------------------------------------------------------

    async def load(
        self,
        event_key: str,
        seating: Seating,
        registration: RegistrationState,
        epoch: int = 0,
        roster: Roster = NOBODY,
    ) -> None:
        """In steps, each a short script (load.lua; load_steps.py)."""
        step = functools.partial(self._run, "load", event_key, self._event_keys(event_key))
        await load_steps.load(
            step,
            event_key,
            seating,
            registration,
            epoch,
            roster,
            self._load_part_entries,
            self._load_lease_ms,
        )

    async def admit(self, event_key: str, participant_id: str) -> AdmitOutcome:
        # Gathered with the event's other calls (batch.lua): every registration admits its
        # participant, and alone each was a script call of its own, ~30 % of a registration's
        # CPU in process (bench/README.md, "2026-12-07, afternoon").
        keys = self._event_keys(event_key)
        outcome = await self._batcher.call(event_key, "a", keys, [participant_id])
        if outcome not in _ADMIT_OUTCOMES:
            raise ValueError(f"the gate answered an unknown admit outcome: {outcome}")
        return _ADMIT_OUTCOMES[outcome]

    async def set_registration(self, event_key: str, state: RegistrationState) -> None:
        if await self._run("registration", event_key, self._event_keys(event_key), [state]) != "OK":
            raise GateNotReady(event_key)

    async def is_ready(self, event_key: str) -> bool:
        """Whether decisions can be made; while a load or a claimed rebuild is under way
        (another process's), waits for it rather than answer no, so that the caller does not
        begin a rebuild of its own that would clear that load half-way (load.lua), or fold the
        log again. A load whose process died stops being waited for when its lease runs out."""
        ready, *_ = await self._once_loaded(event_key)
        return bool(ready)

    def claim(self, event_key: str) -> AbstractAsyncContextManager[ClaimOutcome]:
        step = functools.partial(self._run, "load", event_key, self._event_keys(event_key))
        return load_steps.claimed(step, event_key, self._load_lease_ms)

    async def waitlist_position(
        self, event_key: str, session_id: str, participant_id: str
    ) -> int | None:
        """Read as a participant's agenda is answered; a load or claimed rebuild under way is
        waited for, as in `is_ready` (this read used to queue behind the one script a load was)."""
        wait = f"{self.base(event_key)}wait:{session_id}"
        ready, rank = await self._once_loaded(
            event_key, lambda pipe: pipe.zrank(wait, participant_id)
        )
        if not ready:
            raise GateNotReady(event_key)
        return None if rank is None else int(rank) + 1

    async def _once_loaded(self, event_key: str, *reads: Callable[[Any], object]) -> list[Any]:
        """Whether the event is ready, then what `reads` add to the same pipeline, read once the
        event is ready or no load or claimed rebuild of it is under way (load_steps.py)."""
        base = self.base(event_key)
        while True:
            async with self._in_flight, self._client.pipeline(transaction=False) as pipe:
                pipe.exists(base + "sentinel")
                pipe.exists(base + "dirty")
                pipe.exists(base + "loading")
                for read in reads:
                    read(pipe)
                sentinel, dirty, loading, *found = await pipe.execute()
            ready = bool(sentinel) and not dirty
            if ready or not loading:
                return [ready, *found]
            await asyncio.sleep(load_steps.POLL_S)

    async def seating(self, event_key: str) -> Seating:
        snapshot = wire.decode_snapshot(
            await self._run("snapshot", event_key, self._event_keys(event_key), [])
        )
        if not snapshot.sentinel or snapshot.dirty:
            raise GateNotReady(event_key)
        seating = wire.to_seating(snapshot.sessions)
        seating.busy = {entry.p: entry.n for entry in snapshot.busy}
        seating.stalled = set(snapshot.stalled)
        return seating

    async def roster(self, event_key: str) -> Roster:
        base = self.base(event_key)
        async with self._in_flight, self._client.pipeline(transaction=False) as pipe:
            pipe.exists(base + "sentinel")
            pipe.exists(base + "dirty")
            pipe.smembers(base + "registered")
            pipe.smembers(base + "cancelled")
            sentinel, dirty, registered, cancelled = await pipe.execute()
        if not sentinel or dirty:
            raise GateNotReady(event_key)
        return Roster(_names(registered), _names(cancelled))


def _names(members: set[bytes | str]) -> frozenset[str]:
    return frozenset(m.decode() if isinstance(m, bytes) else m for m in members)
