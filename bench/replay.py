"""Replay speed of the projections: rebuilds from position 1 of a large generated log.

    uv run python -m bench.replay [--events 1000000] [--sessions 2000] [--dsn URL]

A scratch database (bench.support: on --dsn's server, else REGISTRY_DATABASE_URL, else an
embedded server in a temporary folder) is migrated, then loaded with COPY, straight into `events`
and `streams`, with a log of --events sign-up facts over --sessions sessions of a few events:
each event's programme first (EventCreated, RoomAdded, SessionScheduled per session,
RegistrationOpened), then participants registering (ParticipantRegistered + EmailClaimed, as
`register_participant` appends them) and signing up: mostly SeatAssigned and Waitlisted, some
SeatReleased (with the head of the waitlist's PromotedFromWaitlist in the same append) and
WaitlistLeft, consistent per participant and per session. Rows are what append_events writes:
positions contiguous from 1, stream versions, the codec's JSON, metadata, recorded_at per append.
transaction_id is the id of the loading transaction that wrote the row, one per chunk of about
20,000 rows of whole appends (a fresh server has too few ids behind it for one per append; the
readers only compare it with their fence, and ids grow with positions as append_events makes
them). Then VACUUM ANALYZE. The COPY is slow (about 6,000 rows/s on 2 cores) because of the
events table's CHECK on stream_id: PostgreSQL's regex engine spends about 0.1 ms per row on its
bounded repetitions ({0,31}, {0,199}); every append pays it too.

Measured, in this order, each over the whole log in batches of rebuild.REBUILD_BATCH:
- fetch only: the store's READ_ALL query through asyncpg, rows left undecoded;
- read_all: PostgresEventStore.read_all (fetch + decode into RecordedEvent), nothing applied;
- rebuild of each projection (catalog, occupancy, seats, waitlists), each from position 1.
Figures: events/s (events in the log / seconds), the ratio to the issue's aim of 150,000
events/s, and rebuild / read_all (near 1: reading and decoding dominate; far below: applying).
Each figure comes with the CPU seconds it cost in this process ("python": asyncpg, decoding,
the projection's code), in this database's PostgreSQL backends, and in everything else on the
machine ("other": work that shared the cores with this run, so a figure taken with much of it is
not to be trusted). Afterwards the rebuilt models are checked against the generator's final state.

Before measuring, the generator's objects are dropped and the heap frozen (gc.freeze), so that
the replay runs with a heap like a projector's, not with millions of the generator's objects.
Readers see the log only behind the store's read fence: should it hide part of the log after the
load, the script names the open transactions and waits (up to --time-limit).

Each phase is cut at --time-limit seconds (its rate is then over the events reached). No --lag
mode: lag under load is measured elsewhere (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import datetime as dt
import gc
import itertools
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg
import msgspec
import psutil
from tqdm import tqdm

from bench.support import scratch_database
from projections import PROJECTIONS
from projections.base import Projection
from projections.rebuild import REBUILD_BATCH, rebuild
from registry.domain.event import Event
from registry.domain.events import (
    ALL_EVENTS,
    EmailClaimed,
    EventCreated,
    ParticipantRegistered,
    PromotedFromWaitlist,
    RegistrationOpened,
    RoomAdded,
    SeatAssigned,
    SeatReleased,
    SessionScheduled,
    Waitlisted,
    WaitlistLeft,
)
from registry.domain.streams import email_stream, event_stream, participant_stream
from registry.eventstore import EventCodec, Metadata
from registry.eventstore.postgres import HEAD, READ_ALL, PostgresEventStore

AIM: Final = 150_000  # events/s, the aim for a rebuild
ORG: Final = "bench"
COLUMNS: Final = (
    "position",
    "event_id",
    "stream_id",
    "stream_version",
    "type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
    "transaction_id",
)
COPY_CHUNK: Final = 20_000
SIGNUPS_PER_PARTICIPANT: Final = 5  # sets how many participants register
P_RELEASE: Final = 0.06  # a step gives a held seat back (and promotes the queue's head)
P_LEAVE: Final = 0.04  # a step leaves a waitlist
CAPACITIES: Final = (100, 150, 200, 300, 400, 600)
ROOMS_PER_EVENT: Final = 20

#: Metadata is encoded as the store's prepare() does: msgspec's default JSON encoder.
_metadata_encoder: Final = msgspec.json.Encoder()


# -- the generated log ----------------------------------------------------------------------------


class Picker:
    """A set of items with O(1) add, remove and uniform random choice."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.index: dict[Any, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: Any) -> None:
        self.index[item] = len(self.items)
        self.items.append(item)

    def remove(self, item: Any) -> None:
        i = self.index.pop(item)
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last
            self.index[last] = i

    def choice(self, rng: random.Random) -> Any:
        return self.items[rng.randrange(len(self.items))]


@dataclass
class Session:
    id: str
    capacity: int
    seated: int = 0
    next_ticket: int = 1
    queue: deque[tuple[str, int]] = field(default_factory=deque)  # (participant, ticket), lazy
    waiting: dict[str, int] = field(default_factory=dict)  # participant -> ticket


@dataclass
class Conference:
    id: str
    sessions: list[Session]
    cum_weights: list[float]  # session popularity (Zipf-like), for bisect
    participants: list[str]
    by_id: dict[str, Session] = field(default_factory=dict)
    registered: set[str] = field(default_factory=set)
    mine: dict[str, set[str]] = field(default_factory=dict)  # participant -> sessions taken


@dataclass
class World:
    """The generator's state, and afterwards what the read models must show."""

    conferences: list[Conference]
    held: Picker = field(default_factory=Picker)  # (conference index, participant, session)
    waits: Picker = field(default_factory=Picker)
    counts: dict[str, int] = field(default_factory=dict)  # seat facts by type


Append = tuple[list[tuple[str, Event]], Metadata]  # (stream id, event) in order; metadata


def _hex(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_world(rng: random.Random, signups: int, sessions: int, conferences: int) -> World:
    made = []
    per = [
        sessions // conferences + (1 if i < sessions % conferences else 0)
        for i in range(conferences)
    ]
    participants = max(1, signups // (SIGNUPS_PER_PARTICIPANT * conferences))
    for c, count in enumerate(per):
        ss = [Session(f"s{c + 1}-{i + 1:04d}", rng.choice(CAPACITIES)) for i in range(count)]
        weights = [1 / (rank + 1) ** 0.5 for rank in range(count)]
        rng.shuffle(weights)
        people = [_hex(rng) for _ in range(participants)]
        conf = Conference(f"conf-{c + 1}", ss, list(itertools.accumulate(weights)), people)
        conf.by_id = {s.id: s for s in ss}
        made.append(conf)
    return World(made)


def programme(rng: random.Random, conf: Conference, start: dt.datetime) -> Iterator[Append]:
    """One event's set-up, one append per command as the organiser's API makes them."""
    stream = event_stream(ORG, conf.id)
    day = dt.date(2027, 3, 1)
    yield [(stream, EventCreated(event_id=conf.id, title=f"Bench {conf.id}",
                                 timezone="Europe/Amsterdam", date=day, end_date=day,
                                 venue="Congress centre"))], Metadata(
        command_id=_hex(rng), actor="key-organiser")  # fmt: skip
    for r in range(ROOMS_PER_EVENT):
        room = RoomAdded(room_id=f"room-{r + 1}", name=f"Room {r + 1}", capacity=400)
        yield [(stream, room)], Metadata(command_id=_hex(rng), actor="key-organiser")
    for i, session in enumerate(conf.sessions):
        starts = start + dt.timedelta(hours=i // ROOMS_PER_EVENT % 40)
        scheduled = SessionScheduled(
            session_id=session.id,
            title=f"Session {session.id}: a talk with a title of typical length",
            starts_at=starts,
            ends_at=starts + dt.timedelta(minutes=50),
            room_id=f"room-{i % ROOMS_PER_EVENT + 1}",
            capacity=session.capacity,
            mode="in_person",
            waitlist=True,
            hosts=("Ada Lovelace",),
        )
        yield [(stream, scheduled)], Metadata(command_id=_hex(rng), actor="key-organiser")
    yield [(stream, RegistrationOpened())], Metadata(command_id=_hex(rng), actor="key-organiser")


def sign_ups(rng: random.Random, world: World, signups: int) -> Iterator[Append]:
    """Registrations and seat facts until `signups` seat facts were made."""
    made = 0
    counts = world.counts
    confs = world.conferences
    while made < signups:
        meta = Metadata(command_id="idem:" + _hex(rng), actor="key-form")
        roll = rng.random()
        if roll < P_RELEASE and world.held:
            c, person, sid = world.held.choice(rng)
            conf = confs[c]
            session = conf.by_id[sid]
            world.held.remove((c, person, sid))
            conf.mine[person].discard(sid)
            session.seated -= 1
            facts: list[tuple[str, Event]] = [
                (
                    participant_stream(ORG, conf.id, person),
                    SeatReleased(participant_id=person, session_id=sid, reason="cancelled"),
                )
            ]
            while session.queue:
                head, ticket = session.queue.popleft()
                if session.waiting.get(head) == ticket:
                    del session.waiting[head]
                    world.waits.remove((c, head, sid))
                    world.held.add((c, head, sid))
                    session.seated += 1
                    facts.append(
                        (
                            participant_stream(ORG, conf.id, head),
                            PromotedFromWaitlist(
                                participant_id=head, session_id=sid, ticket=ticket
                            ),
                        )
                    )
                    break
            for _, made_fact in facts:
                counts[made_fact.type_name] = counts.get(made_fact.type_name, 0) + 1
            made += len(facts)
            yield facts, meta
            continue
        if roll < P_RELEASE + P_LEAVE and world.waits:
            c, person, sid = world.waits.choice(rng)
            conf = confs[c]
            session = conf.by_id[sid]
            world.waits.remove((c, person, sid))
            del session.waiting[person]  # its queue entry is skipped when reached
            conf.mine[person].discard(sid)
            left = WaitlistLeft(participant_id=person, session_id=sid, reason="cancelled")
            counts[left.type_name] = counts.get(left.type_name, 0) + 1
            made += 1
            yield [(participant_stream(ORG, conf.id, person), left)], meta
            continue
        c = rng.randrange(len(confs))
        conf = confs[c]
        person = conf.participants[rng.randrange(len(conf.participants))]
        stream = participant_stream(ORG, conf.id, person)
        if person not in conf.registered:
            conf.registered.add(person)
            conf.mine[person] = set()
            email = f"{person}@example.org"
            registered = ParticipantRegistered(
                participant_id=person, name=f"Participant {person[:8]}", email=email,
                organisation="Example B.V.", role="attendee",
            )  # fmt: skip
            yield (
                [
                    (stream, registered),
                    (email_stream(ORG, conf.id, email), EmailClaimed(participant_id=person)),
                ],
                Metadata(command_id="idem:" + _hex(rng), actor="key-form"),
            )
        i = bisect.bisect(conf.cum_weights, rng.random() * conf.cum_weights[-1])
        session = conf.sessions[min(i, len(conf.sessions) - 1)]
        if session.id in conf.mine[person]:
            continue  # taken already: a sign-up the gate would refuse, no fact
        conf.mine[person].add(session.id)
        ticket = session.next_ticket
        session.next_ticket += 1
        fact: Event
        if session.seated < session.capacity and not session.waiting:
            session.seated += 1
            world.held.add((c, person, session.id))
            fact = SeatAssigned(participant_id=person, session_id=session.id, ticket=ticket)
        else:
            session.waiting[person] = ticket
            session.queue.append((person, ticket))
            world.waits.add((c, person, session.id))
            fact = Waitlisted(participant_id=person, session_id=session.id, ticket=ticket)
        counts[fact.type_name] = counts.get(fact.type_name, 0) + 1
        made += 1
        yield [(stream, fact)], meta


def rows(
    codec: EventCodec,
    appends: Iterator[Append],
    start: dt.datetime,
    rng: random.Random,
    versions: dict[str, int],
) -> Iterator[list[tuple[Any, ...]]]:
    """Each append's rows as append_events writes them, but for transaction_id (added by the
    caller); `versions` gets each stream's version."""
    position = 0
    recorded = start
    for facts, meta in appends:
        recorded += dt.timedelta(microseconds=rng.randrange(200, 3000))
        metadata = _metadata_encoder.encode(meta).decode()
        out = []
        for stream, event in facts:
            position += 1
            version = versions.get(stream, 0) + 1
            versions[stream] = version
            out.append(
                (
                    position,
                    uuid.UUID(int=rng.getrandbits(128), version=4),
                    stream,
                    version,
                    event.type_name,
                    event.schema_version,
                    codec.encode(event).decode(),
                    metadata,
                    recorded,
                )
            )
        yield out


async def load(url: str, codec: EventCodec, world: World, rng: random.Random, signups: int) -> int:
    """COPY the generated log into `events` and `streams`; returns its length. One transaction
    per chunk of whole appends (no long transaction on a shared server), whose id its rows carry:
    ids grow with positions, as append_events makes them."""
    start = dt.datetime(2027, 1, 15, 9, 0, tzinfo=dt.UTC)
    appends = itertools.chain(
        *(programme(rng, c, dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC)) for c in world.conferences),
        sign_ups(rng, world, signups),
    )
    versions: dict[str, int] = {}
    batches = rows(codec, appends, start, rng, versions)
    total = 0
    conn = await asyncpg.connect(url)
    try:
        with tqdm(total=signups, desc="generate + COPY", unit="fact", unit_scale=True) as bar:
            while True:
                chunk: list[tuple[Any, ...]] = []
                for append in batches:
                    chunk += append
                    if len(chunk) >= COPY_CHUNK:
                        break
                if not chunk:
                    break
                async with conn.transaction():
                    xid = await conn.fetchval("SELECT pg_current_xact_id()")
                    records = [(*row, xid) for row in chunk]
                    await conn.copy_records_to_table("events", records=records, columns=COLUMNS)
                total += len(chunk)
                bar.update(sum(world.counts.values()) - bar.n)
        async with conn.transaction():
            await conn.copy_records_to_table(
                "streams", records=list(versions.items()), columns=("stream_id", "version")
            )
            await conn.execute("SELECT setval('events_position_seq', $1)", total)
        await conn.execute("VACUUM ANALYZE events")
        await conn.execute("VACUUM ANALYZE streams")
    finally:
        await conn.close()
    return total


BLOCKERS: Final = """
SELECT pid, datname, state, backend_xid::text AS xid, now() - xact_start AS age
  FROM pg_stat_activity
 WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
 ORDER BY xact_start
"""


async def wait_for_fence(url: str, total: int, limit: float) -> None:
    """Wait until the store's readers see the whole log (its HEAD query, behind the read fence)."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + limit
        shown = False
        while (head := await conn.fetchval(HEAD)) < total:
            if not shown:
                print(f"the readers see {head:,} of {total:,} events; transactions open:")
                for row in await conn.fetch(BLOCKERS):
                    print(
                        f"  pid {row['pid']} ({row['datname']}, {row['state']}, xid {row['xid']},"
                        f" open {row['age']})"
                    )
                print(f"waiting up to {limit:.0f} s")
                shown = True
            if time.monotonic() > deadline:
                raise SystemExit("gave up: the log stayed behind the read fence")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


# -- the measurements -----------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    seconds: float
    reached: int
    done: bool
    cpu: dict[str, float]  # CPU seconds: "python" (this process), "postgres", "other"

    def rate(self) -> float:
        return self.reached / self.seconds if self.seconds else 0.0


class Cpu:
    """CPU seconds of this process, of this database's PostgreSQL backends (when the server runs
    on this machine) and of everything else on the machine ("other": other work that shares the
    cores with this run)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.me = psutil.Process()

    async def sample(self) -> dict[str, float]:
        mine = self.me.cpu_times()
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        backends = 0.0
        for pid in await self.pool.fetch(BACKENDS):
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid["pid"])
                if "postgres" in proc.name():
                    times = proc.cpu_times()
                    backends += times.user + times.system
        return {"python": mine.user + mine.system, "postgres": backends, "busy": busy}

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        out = {who: after[who] - before[who] for who in ("python", "postgres")}
        out["other"] = max(0.0, after["busy"] - before["busy"] - sum(out.values()))
        return out


BACKENDS: Final = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"


async def timed(
    name: str,
    total: int,
    limit: float,
    cpu: Cpu,
    run: Callable[[Callable[[int], None]], Awaitable[Any]],
) -> Figure:
    """Run `run(progress)` for at most `limit` seconds; progress(position) feeds the bar."""
    reached = 0
    with tqdm(total=total, desc=name, unit="ev", unit_scale=True, leave=False) as bar:

        def progress(position: int) -> None:
            nonlocal reached
            reached = position
            bar.update(position - bar.n)

        before = await cpu.sample()
        began = time.perf_counter()
        done = True
        try:
            async with asyncio.timeout(limit):
                await run(progress)
        except TimeoutError:
            done = False
        seconds = time.perf_counter() - began
        after = await cpu.sample()
    return Figure(name, seconds, reached, done, Cpu.spent(before, after))


async def fetch_only(pool: asyncpg.Pool, batch: int, progress: Callable[[int], None]) -> None:
    position = 1
    while True:
        async with pool.acquire() as conn:
            got = await conn.fetch(READ_ALL, position, batch)
        if not got:
            return
        position = got[-1]["position"] + 1
        progress(position - 1)


async def read_only(store: PostgresEventStore, batch: int, progress: Callable[[int], None]) -> None:
    position = 1
    while events := await store.read_all(position, batch):
        position = events[-1].position + 1
        progress(position - 1)


def _live(table: str, projection: str, what: str) -> str:
    return (
        f"SELECT coalesce({what}, 0) FROM {table} t JOIN projection_state s"
        f" ON s.name = '{projection}' AND t.generation = s.live_generation"
    )


#: What to check after the rebuilds: (projection, query of its live generation).
CHECKS: Final = {
    "seated (occupancy)": ("occupancy", _live("rm_occupancy", "occupancy", "sum(seated)")),
    "waiting (occupancy)": ("occupancy", _live("rm_occupancy", "occupancy", "sum(waitlisted)")),
    "seats": ("seats", _live("rm_seats", "seats", "count(*)")),
    "waitlist entries": ("waitlists", _live("rm_waits", "waitlists", "count(*)")),
    "participants": ("catalog", _live("rm_participants", "catalog", "count(*)")),
    "sessions": ("catalog", _live("rm_sessions", "catalog", "count(*)")),
}


def expected(world: World) -> dict[str, int]:
    """What the read models must hold once the whole log is applied."""
    return {
        "seated (occupancy)": len(world.held),
        "waiting (occupancy)": len(world.waits),
        "seats": len(world.held),
        "waitlist entries": len(world.waits),
        "participants": sum(len(c.registered) for c in world.conferences),
        "sessions": sum(len(c.sessions) for c in world.conferences),
    }


async def check(pool: asyncpg.Pool, want: dict[str, int], rebuilt: set[str]) -> list[str]:
    """The rebuilt models against what the generator left; the mismatches."""
    wrong = []
    async with pool.acquire() as conn:
        for what, (projection, sql) in CHECKS.items():
            if projection in rebuilt and (got := await conn.fetchval(sql)) != want[what]:
                wrong.append(f"{what}: {got} in the model, {want[what]} generated")
    return wrong


def describe(world: World, total: int, sessions: int, seconds: float) -> str:
    mix = ", ".join(f"{k} {v:,}" for k, v in sorted(world.counts.items(), key=lambda kv: -kv[1]))
    return (
        f"log: {total:,} events ({sum(world.counts.values()):,} seat facts: {mix}; "
        f"{sum(len(c.registered) for c in world.conferences):,} participants, "
        f"{sessions:,} sessions in {len(world.conferences)} events); "
        f"generated + COPY + VACUUM ANALYZE in {seconds:.0f} s"
    )


async def measure(args: argparse.Namespace, url: str) -> None:
    rng = random.Random(args.seed)
    codec = EventCodec(ALL_EVENTS)
    world = make_world(rng, args.events, args.sessions, args.conferences)
    began = time.perf_counter()
    total = await load(url, codec, world, rng, args.events)
    print(describe(world, total, args.sessions, time.perf_counter() - began))
    want = expected(world)
    # The generator's state (millions of objects) would make every full garbage collection of
    # the replay below walk it: a cost a projector process does not have.
    del world
    gc.collect()
    gc.freeze()
    await wait_for_fence(url, total, args.time_limit)
    chosen = [p for p in PROJECTIONS if p.name in args.projections]
    pool = await asyncpg.create_pool(url, min_size=2, max_size=4)
    try:
        cpu = Cpu(pool)
        store = PostgresEventStore(pool, codec)
        batch, limit = args.batch, args.time_limit
        figures = [
            await timed("fetch only", total, limit, cpu, lambda p: fetch_only(pool, batch, p)),
            await timed("read_all", total, limit, cpu, lambda p: read_only(store, batch, p)),
        ]
        for projection in chosen:
            run = _rebuilder(pool, store, projection, batch)
            figures.append(await timed(f"rebuild {projection.name}", total, limit, cpu, run))
        report(figures, total, batch, limit)
        finished = {f.name.removeprefix("rebuild ") for f in figures if f.done}
        wrong = await check(pool, want, finished)
        print("checks:", "; ".join(wrong) if wrong else "the rebuilt models match the generator")
    finally:
        try:
            await asyncio.wait_for(pool.close(), 10)
        except TimeoutError:
            pool.terminate()


def report(figures: list[Figure], total: int, batch: int, limit: float) -> None:
    read = figures[1].rate()
    print(f"\nreplay of {total:,} events, batches of {batch:,} (aim {AIM:,} events/s):")
    print(
        f"  {'':18} {'seconds':>8} {'events/s':>10}   / aim  / read_all"
        "  CPU s: python + postgres (other)"
    )
    for f in figures:
        versus = f"{f.rate() / read:9.2f}" if f.name.startswith("rebuild") else " " * 9
        cpu = f"{f.cpu['python']:.1f} + {f.cpu['postgres']:.1f} ({f.cpu['other']:.1f})"
        cut = "" if f.done else f"  (cut at {limit:.0f} s: {f.reached:,} events)"
        if f.done and f.reached != total:
            cut = f"  (read {f.reached:,} events, not {total:,})"
        print(
            f"  {f.name:18} {f.seconds:8.1f} {f.rate():>10,.0f} {f.rate() / AIM:7.2f} {versus}"
            f"  {cpu}{cut}"
        )


def _rebuilder(
    pool: asyncpg.Pool, store: PostgresEventStore, projection: Projection, batch: int
) -> Callable[[Callable[[int], None]], Awaitable[Any]]:
    def run(progress: Callable[[int], None]) -> Awaitable[Any]:
        return rebuild(
            pool, store, projection, batch_size=batch, progress=lambda pos, _head: progress(pos)
        )

    return run


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="server URL (a scratch database is created on it)")
    parser.add_argument("--events", type=int, default=1_000_000, help="seat facts in the log")
    parser.add_argument("--sessions", type=int, default=2_000)
    parser.add_argument("--conferences", type=int, default=4, help="events the sessions are in")
    parser.add_argument("--batch", type=int, default=REBUILD_BATCH, help="events per read")
    parser.add_argument(
        "--projections",
        type=lambda s: set(s.split(",")),
        default={p.name for p in PROJECTIONS},
        help="comma-separated; default all",
    )
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per phase")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        async with scratch_database(args.dsn) as url:
            await measure(args, url)


if __name__ == "__main__":
    asyncio.run(main())
