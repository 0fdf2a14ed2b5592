"""The bare pipeline, as a baseline: registry's design with nothing but its spine.

    BENCH_NAIVE_DSN=postgresql://... REGISTRY_REDIS_URL=redis://... REGISTRY_REDIS_PREFIX=... \\
        granian --interface asgi --factory bench.bare_app:create_app

A benchmark fixture, not the product. Each command is what registry's hot path must do at the
least: decode the body, one capacity decision in a Redis script (calls about one event made in
the same turn of the event loop gathered into one script call, with registry's own
`CallBatcher`), the facts it decided appended to a log table in PostgreSQL (every command
waiting meanwhile gathered into one INSERT, one at a time), and the answer after the commit. The
routes, paths and bodies are the real ones; the answers have the real fields.

What it leaves out, on purpose, so that it shows how fast this design can be on the machine
before any of what the product owes its users: no key check, no rate limit, no deadline, no
idempotency (a retry decides again), no holds (a failed append leaves the gate ahead of the log;
here nothing fails), no versions or streams, no fence, no projections, no hash chain, no
roster, no overlap rules, no fallback swaps, and the facts are a few columns, not events with
metadata. Capacities come from the row-lock baseline's table (bench_sessions), loaded into Redis
under this run's prefix at start; its log is its own table (SCHEMA), in the benchmark's scratch
database.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg
import msgspec
from litestar import Litestar, Response, delete, get, post
from redis.asyncio import Redis

from registry.capacity.batching import CallBatcher

SCHEMA: Final = """
CREATE TABLE bench_bare_log (
    position bigserial PRIMARY KEY,
    event_id text NOT NULL,
    type text NOT NULL,
    data jsonb NOT NULL,
    recorded timestamptz NOT NULL DEFAULT clock_timestamp()
);
"""
# Rows are inserted in the order given (ORDER BY ord), so their positions rise in that order.
APPEND: Final = """
INSERT INTO bench_bare_log (event_id, type, data)
SELECT e, t, d FROM unnest($1::text[], $2::text[], $3::jsonb[]) WITH ORDINALITY AS u(e, t, d, ord)
 ORDER BY ord
RETURNING position
"""
CAPACITIES: Final = "SELECT event_id, id, capacity FROM bench_sessions"
_CALLS: Final = msgspec.json.Encoder()

# One script call runs the gathered calls in turn (CallBatcher's format: kind, argument count,
# arguments), sent as one JSON argument as registry's gate sends them (redis_gate._run_batch).
# KEYS[1] is the event's key prefix. Seats are a set per session, a waitlist a sorted
# set in arrival order; a seat given back goes to its waitlist's head at once.
GATE: Final = """
local base = KEYS[1]
local function seats(s) return base .. ':seats:' .. s end
local function wait(s) return base .. ':wait:' .. s end
local function promote(s, facts)
  local head = redis.call('ZRANGE', wait(s), 0, 0)[1]
  if head then
    redis.call('ZREM', wait(s), head)
    redis.call('SADD', seats(s), head)
    facts[#facts + 1] = {'PromotedFromWaitlist', s, head}
  end
end
local CALLS = cjson.decode(ARGV[1])
local replies = {}
local i = 1
while i <= #CALLS do
  local n = tonumber(CALLS[i + 1])
  local op, p, s, r = CALLS[i + 2], CALLS[i + 3], CALLS[i + 4], CALLS[i + 5]
  i = i + 2 + n
  local facts = {}
  local reply = {}
  local capacity = tonumber(redis.call('HGET', base .. ':capacity', s) or '-1')
  if capacity < 0 then
    reply.e = 'unknown session'
  elseif op == 'sign_up' then
    if r ~= '' and redis.call('SISMEMBER', seats(r), p) == 0 then
      reply.e = 'no seat to replace'
    elseif redis.call('SISMEMBER', seats(s), p) == 1 then
      reply.st = 'seated'
    elseif redis.call('ZSCORE', wait(s), p) then
      reply.st = 'waitlisted'
      reply.w = redis.call('ZRANK', wait(s), p) + 1
    elseif redis.call('SCARD', seats(s)) < capacity then
      if r ~= '' then  -- the seat given back first, so that the new seat is the last fact
        redis.call('SREM', seats(r), p)
        facts[#facts + 1] = {'SeatReleased', r, p}
        promote(r, facts)
      end
      redis.call('SADD', seats(s), p)
      facts[#facts + 1] = {'SeatAssigned', s, p}
      reply.st = 'seated'
    else
      redis.call('ZADD', wait(s), redis.call('INCR', base .. ':ticket'), p)
      facts[#facts + 1] = {'Waitlisted', s, p}
      reply.st = 'waitlisted'
      reply.w = redis.call('ZCARD', wait(s))
    end
  elseif redis.call('SREM', seats(s), p) == 1 then
    facts[#facts + 1] = {'SeatReleased', s, p}
    promote(s, facts)
  elseif redis.call('ZREM', wait(s), p) == 1 then
    facts[#facts + 1] = {'WaitlistLeft', s, p}
  else
    reply.e = 'not signed up'
  end
  if #facts > 0 then reply.f = facts end  -- cjson writes an empty table as {}
  replies[#replies + 1] = cjson.encode(reply)
end
return replies
"""


class SignUpBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    session_id: str
    replaces: str | None = None


class Fact(msgspec.Struct, frozen=True, array_like=True):
    type: str
    session_id: str
    participant_id: str


class Decided(msgspec.Struct, frozen=True):
    f: list[Fact] = msgspec.field(default_factory=list)
    st: str | None = None
    w: int | None = None
    e: str | None = None


class FactData(msgspec.Struct, frozen=True):
    session_id: str
    participant_id: str


_DECIDED = msgspec.json.Decoder(Decided)
_ENCODE = msgspec.json.Encoder().encode


@dataclass
class Log:
    """Appends facts: every append waiting while one INSERT runs goes into the next."""

    pool: asyncpg.Pool
    _pending: list[tuple[str, Sequence[Fact], asyncio.Future[int]]] = field(default_factory=list)
    _flushing: asyncio.Task[None] | None = None

    async def append(self, event: str, facts: Sequence[Fact]) -> int:
        """The position of the last of `facts`, once committed."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((event, facts, future))
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            await self._flush_pending()
        finally:  # cancelled too: the next append starts a flush of its own
            self._flushing = None

    async def _flush_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            events, types, data = [], [], []
            for event, facts, _ in batch:
                for fact in facts:
                    events.append(event)
                    types.append(fact.type)
                    data.append(_ENCODE(FactData(fact.session_id, fact.participant_id)).decode())
            try:
                async with self.pool.acquire() as conn:
                    rows = await conn.fetch(APPEND, events, types, data)
            except Exception as error:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            positions = sorted(r["position"] for r in rows)
            at = 0
            for _, facts, future in batch:
                at += len(facts)
                if not future.done():
                    future.set_result(positions[at - 1])


@dataclass
class Bare:
    redis: Redis
    prefix: str
    log: Log
    gate: CallBatcher = field(init=False)

    def __post_init__(self) -> None:
        script = self.redis.register_script(GATE)

        async def send(event: str, keys: list[str], args: list[str]) -> list[object]:
            return list(await script(keys=keys, args=[_CALLS.encode(args)]))

        self.gate = CallBatcher(send)

    async def decide(
        self, op: str, event: str, participant: str, session: str, replaces: str = ""
    ) -> tuple[Decided, int | None]:
        keys = [f"{self.prefix}:{event}"]
        raw = await self.gate.call(event, "d", keys, [op, participant, session, replaces])
        decided = _DECIDED.decode(raw)
        position = await self.log.append(event, decided.f) if decided.f else None
        return decided, position


_bare: Bare | None = None


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    global _bare
    redis = Redis.from_url(os.environ["REGISTRY_REDIS_URL"])
    prefix = os.environ.get("REGISTRY_REDIS_PREFIX", "bench") + ":bare"
    pool = await asyncpg.create_pool(os.environ["BENCH_NAIVE_DSN"], min_size=4, max_size=4)
    try:
        # Any: redis-py's type for a mapping takes no dict[str, int].
        capacities: dict[str, dict[Any, Any]] = {}
        for row in await pool.fetch(CAPACITIES):
            capacities.setdefault(row["event_id"], {})[row["id"]] = row["capacity"]
        for event, sessions in capacities.items():  # the same values from both workers
            await redis.hset(f"{prefix}:{event}:capacity", mapping=sessions)
        _bare = Bare(redis, prefix, Log(pool))
        yield
    finally:
        await pool.close()
        await redis.aclose()


def _refused(decided: Decided, status: int) -> Response[Any]:
    return Response({"detail": decided.e}, status_code=status)


@post("/v1/events/{event:str}/participants/{participant:str}/signups", status_code=201)
async def sign_up(event: str, participant: str, data: SignUpBody) -> Response[Any]:
    assert _bare is not None
    replaces = data.replaces or ""
    decided, position = await _bare.decide("sign_up", event, participant, data.session_id, replaces)
    if decided.e is not None:
        return _refused(decided, 422)
    waiting = decided.st == "waitlisted"
    answer = {
        "session_id": data.session_id,
        "status": decided.st,
        "waitlist_position": decided.w,
        "fallback_session_id": data.replaces if waiting else None,
        "position": position,
    }
    return Response(answer, status_code=201)


@delete(
    "/v1/events/{event:str}/participants/{participant:str}/signups/{session:str}",
    status_code=200,
)
async def cancel(event: str, participant: str, session: str) -> Response[Any]:
    assert _bare is not None
    decided, position = await _bare.decide("leave", event, participant, session)
    if decided.e is not None:
        return _refused(decided, 404)
    promoted = [f.participant_id for f in decided.f if f.type == "PromotedFromWaitlist"]
    return Response({"promoted": promoted, "position": position}, status_code=200)


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[sign_up, cancel, health], lifespan=[_lifespan])
