"""The generated log of bench/replay.py: a programme per conference, registrations and
1,000,000 (by default) seat facts written as append_events would, loaded with COPY."""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import itertools
import random
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg
import msgspec
from tqdm import tqdm

from registry.domain.event import Event
from registry.domain.events import (
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
from registry.eventstore.pg_queries import HEAD

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
#: The e-mail digests' key. The service keeps one per organisation in organisation_secrets; the
#: replay reads no names and registers nobody, so any fixed key gives the log its shape.
EMAIL_KEY: Final = bytes(32)

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
    org: str = ORG  # the organisation whose log it is
    held: Picker = field(default_factory=Picker)  # (conference index, participant, session)
    waits: Picker = field(default_factory=Picker)
    counts: dict[str, int] = field(default_factory=dict)  # seat facts by type


Append = tuple[list[tuple[str, Event]], Metadata]  # (stream id, event) in order; metadata


def _hex(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_world(
    rng: random.Random, signups: int, sessions: int, conferences: int, org: str = ORG
) -> World:
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
    return World(made, org)


def programme(
    rng: random.Random, conf: Conference, start: dt.datetime, org: str = ORG
) -> Iterator[Append]:
    """One event's set-up, one append per command as the organiser's API makes them."""
    stream = event_stream(org, conf.id)
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
                    participant_stream(world.org, conf.id, person),
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
                            participant_stream(world.org, conf.id, head),
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
            yield [(participant_stream(world.org, conf.id, person), left)], meta
            continue
        c = rng.randrange(len(confs))
        conf = confs[c]
        person = conf.participants[rng.randrange(len(conf.participants))]
        stream = participant_stream(world.org, conf.id, person)
        if person not in conf.registered:
            conf.registered.add(person)
            conf.mine[person] = set()
            email = f"{person}@example.org"
            registered = ParticipantRegistered(participant_id=person, role="attendee")
            claim = email_stream(world.org, conf.id, email, EMAIL_KEY)
            yield (
                [(stream, registered), (claim, EmailClaimed(participant_id=person))],
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
        *(
            programme(rng, c, dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC), world.org)
            for c in world.conferences
        ),
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
