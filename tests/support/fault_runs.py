"""One fault scenario (tests/faults/): the real server (`registry serve --workers 2`) under
concurrent sign-ups and cancellations from form backends that retry with the same key; a fault
injected once part of the load is answered; then, against the log:

- the form backends: every command got a final answer; no 500, every 503 `unavailable` with
  Retry-After;
- holds settled within 30 s of the load's end, and the gate equal to its rebuild from the log;
- every retried command has one effect: sent once more, it answers what it answered, writing
  nothing;
- every acknowledged command is in the log exactly once, and says what the log says (a sign-up
  answered `seated` has a seat there, `waitlisted` a queue entry: never a wrong seat);
- read models equal the fold of the log and a rebuild; the log keeps every rule (`registry
  verify`'s checks: no session over capacity through a sign-up, among others).

Each scenario prints what it injected, the form backends' counts and every check's result.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import asyncpg
import redis.asyncio as aioredis

from projections import PROJECTIONS, checkpoints
from projections.rebuild import rebuild as rebuild_projection
from registry.capacity.redis_gate import RedisGate
from registry.domain.events import ALL_EVENTS
from registry.domain.streams import event_key, participant_stream
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from tests.support.api import Api
from tests.support.api_processes import Processes, api_processes
from tests.support.form_backend import Command, Tally, cancel, send, sign_up
from tests.support.invariants import acknowledged_once, gate_agrees_with_log, log_keeps_every_rule
from tests.support.read_models import answered, expected, fold, kept_details, whole_log

ORG, EVENT = "acme", "fault-day"
#: id: (seats, start, end, waitlist): small, so that sessions fill, queues form and
#: cancellations promote; a and b overlap c's start (fallbacks), e has no waitlist.
SESSIONS: Final = {
    "a": (12, "10:00", "11:00", True),
    "b": (8, "10:00", "11:00", True),
    "c": (10, "10:30", "11:30", True),
    "d": (10, "11:30", "12:30", True),
    "e": (5, "13:00", "14:00", False),
}
PEOPLE: Final = 80
COMMANDS: Final = 320
IN_FLIGHT: Final = 48
SIGN_UP_SHARE: Final = 0.7
#: The fault comes once this share of the commands is answered.
FAULT_AT: Final = 0.3
SETTLE_WITHIN_S: Final = 30.0
CATCH_UP_WITHIN_S: Final = 30.0

#: An exception's name and the start of its message, at the start of a traceback's last line
#: ("asyncpg.exceptions.X: ...").
EXCEPTION_LINE: Final = re.compile(
    r"^(?:[\w.]+\.)?(\w+(?:Error|Exception|Shutdown)\b.{0,80})", re.MULTILINE
)
#: The facts a command (named by the position of one of its facts) wrote to one stream.
FACTS_OF_COMMAND_AT: Final = """
SELECT type, data->>'session_id' AS session_id FROM events
 WHERE stream_id = $2
   AND metadata->>'command_id' = (SELECT metadata->>'command_id' FROM events WHERE position = $1)
"""
#: What an acknowledged answer must find in the log: (kind, status answered) -> fact types.
FACTS_FOR: Final = {
    ("sign-up", "seated"): {"SeatAssigned"},
    ("sign-up", "waitlisted"): {"Waitlisted"},
    ("cancel", None): {"SeatReleased", "WaitlistLeft"},
}

#: A fault: injects itself into the running deployment; returns what it did, in words.
Fault = Callable[[Api, Processes], Awaitable[str]]


@dataclass
class Servers:
    """Where a scenario runs: the database (direct, for the checks), Redis, and what the
    server processes are given instead (a proxy, say)."""

    pool: asyncpg.Pool
    database_url: str
    redis_url: str
    redis_prefix: str
    server_env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Report:
    scenario: str
    injected: str = "nothing yet"
    tally: Tally = field(default_factory=Tally)
    seconds: dict[str, float] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    #: Exception names in the server processes' output, with how often (for a failure's story).
    logged: Counter[str] = field(default_factory=Counter)

    async def check(self, name: str, run: Callable[[], Awaitable[object]]) -> None:
        try:
            outcome = await run()
        except AssertionError as error:
            self.checks[name] = f"FAILED: {str(error)[:3000]}"
        else:
            self.checks[name] = "ok" + (f" ({outcome})" if outcome else "")

    def lines(self) -> list[str]:
        counts = ", ".join(f"{k} {v}" for k, v in self.tally.counts().items())
        took = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        return [
            f"== fault scenario: {self.scenario}",
            f"   injected: {self.injected}",
            f"   form backends: {counts}",
            f"   took: {took}",
            f"   servers logged: {dict(self.logged.most_common(8)) or 'no errors'}",
            *(f"   {name}: {result}" for name, result in self.checks.items()),
        ]

    def assert_all_held(self) -> None:
        print("\n".join(self.lines()), flush=True)
        failed = {k: v for k, v in self.checks.items() if not v.startswith("ok")}
        assert not failed, "\n".join(self.lines())


async def run_scenario(
    scenario: str,
    servers: Servers,
    fault: Fault,
    *,
    projector_in_process: bool = True,
    before_load: Callable[[Api, Processes], Awaitable[None]] | None = None,
) -> Report:
    """The deployment up, the programme, the load with the fault, the checks; the report."""
    report, started = Report(scenario), time.monotonic()
    async with api_processes(
        servers.database_url,
        servers.redis_url,
        servers.redis_prefix,
        workers=2,
        projector_in_process=projector_in_process,
        # Holds a killed worker left are settled after the hold TTL: 5 s instead of 30 s keeps
        # a scenario short (a hold settled early costs a rebuild, never a wrong seat).
        server_env={"REGISTRY_HOLD_TTL_MS": "5000", **servers.server_env},
    ) as (api, processes):
        report.seconds["start"] = time.monotonic() - started
        people = await programme(api)
        if before_load is not None:
            await before_load(api, processes)
        load_started = time.monotonic()
        await load(api, people, report, lambda: fault(api, processes))
        report.seconds["load"] = time.monotonic() - load_started
        await checks_while_serving(api, servers, report)
        report.logged = logged_errors(processes)
    await checks_of_the_log(servers, report)
    report.seconds["total"] = time.monotonic() - started
    return report


def logged_errors(processes: Processes) -> Counter[str]:
    found: Counter[str] = Counter()
    for process in processes.started:
        found.update(EXCEPTION_LINE.findall(processes.output(process, last=1_000_000)))
    return found


async def programme(api: Api) -> list[str]:
    await api.create_event(EVENT)
    for sid, (seats, start, end, waitlist) in SESSIONS.items():
        await api.room(f"room-{sid}", seats, EVENT)
        made = await api.session(sid, f"room-{sid}", start, end, EVENT, waitlist=waitlist)
        assert made.status_code == 201, made.text
    return await asyncio.gather(*(api.participant(f"p{n}", EVENT) for n in range(PEOPLE)))


async def load(
    api: Api, people: list[str], report: Report, fault: Callable[[], Awaitable[str]]
) -> None:
    """COMMANDS sign-ups and cancellations, IN_FLIGHT at a time; the fault once FAULT_AT of them
    are answered (it runs while the rest go on)."""
    rng, sessions = random.Random(9), sorted(SESSIONS)
    for _ in range(COMMANDS):
        make = sign_up if rng.random() < SIGN_UP_SHARE else cancel
        report.tally.commands.append(make(EVENT, rng.choice(people), rng.choice(sessions)))
    slots, due = asyncio.Semaphore(IN_FLIGHT), asyncio.Event()

    finished = [0]

    async def one(command: Command) -> None:
        async with slots:
            await send(api, command)
        finished[0] += 1
        if report.tally.answered >= COMMANDS * FAULT_AT or finished[0] == COMMANDS:
            due.set()

    async def inject() -> None:
        await due.wait()
        report.injected = await fault()

    # A fault that fails (an assertion about the deployment) ends the load at once.
    async with asyncio.TaskGroup() as group:
        group.create_task(inject())
        for command in report.tally.commands:
            group.create_task(one(command))


async def checks_while_serving(api: Api, servers: Servers, report: Report) -> None:
    tally = report.tally

    async def every_command_answered() -> str:
        counts = tally.counts()
        assert counts["failed"] == 0, f"{counts['failed']} commands never got a final answer"
        assert tally.violations() == [], tally.violations()[:5]
        assert counts["acknowledged"] > COMMANDS // 4, f"too little work done: {counts}"
        return ""

    await report.check(
        "every command answered, no 500, 503s with Retry-After", every_command_answered
    )
    client = aioredis.Redis.from_url(servers.redis_url)
    gate = RedisGate(client, api.redis_prefix)
    try:
        await report.check("holds settled within 30 s", lambda: holds_settled(gate))
        await report.check(
            "gate equals its rebuild from the log",
            lambda: gate_agrees_with_log(servers.pool, gate, ORG, EVENT),
        )
    finally:
        await client.aclose()
    await report.check(
        "retried commands have one effect", lambda: repeats_change_nothing(api, tally)
    )
    await report.check("projections caught up", lambda: caught_up(servers.pool))


async def holds_settled(gate: RedisGate) -> str:
    key, started = event_key(ORG, EVENT), time.monotonic()
    while True:
        seating = await gate.seating(key)
        if seating.busy == {} and seating.stalled == set():
            return f"in {time.monotonic() - started:.1f} s"
        assert time.monotonic() - started < SETTLE_WITHIN_S, (
            f"holds left: busy {sorted(seating.busy)}, stalled {sorted(seating.stalled)}"
        )
        await asyncio.sleep(0.2)


async def repeats_change_nothing(api: Api, tally: Tally) -> str:
    """Each retried command sent again with its key: the same answer, replayed, nothing written."""
    retried = [c for c in tally.commands if c.retried and c.status is not None]
    head = await api.head()
    for command in retried:
        headers = {**api.as_("form"), "Idempotency-Key": command.key}
        again = await api.client.request(
            command.method, command.path, json=command.body, headers=headers
        )
        assert (again.status_code, again.json()) == (command.status, command.answer), command
        assert again.headers.get("Idempotent-Replayed") == "true", command
    assert await api.head() == head, "a repeated command wrote to the log"
    return f"{len(retried)} repeated"


async def caught_up(pool: asyncpg.Pool) -> str:
    store, started = PostgresEventStore(pool, EventCodec(ALL_EVENTS)), time.monotonic()
    head = await store.head()
    names = [p.name for p in PROJECTIONS]
    while True:
        async with pool.acquire() as conn:
            positions = await checkpoints.positions(conn, names)
        if min(positions.values()) >= head:
            return f"in {time.monotonic() - started:.1f} s"
        assert time.monotonic() - started < CATCH_UP_WITHIN_S, f"at {positions}, head {head}"
        await asyncio.sleep(0.1)


async def checks_of_the_log(servers: Servers, report: Report) -> None:
    """With every process stopped: nothing can change the log or the read models meanwhile."""
    pool, acknowledged = servers.pool, report.tally.acknowledged

    async def in_the_log_once() -> str:
        await acknowledged_once(
            pool, ORG, EVENT, [(c.participant, c.position) for c in acknowledged]
        )
        positions = [c.position for c in acknowledged]
        assert len(set(positions)) == len(positions), "two acknowledged commands, one position"
        return f"{len(acknowledged)} acknowledged"

    await report.check("every acknowledged command in the log once", in_the_log_once)
    await report.check("answers agree with the log", lambda: answers_agree(pool, acknowledged))
    await report.check(
        "read models equal the log's fold and a rebuild", lambda: read_models_equal(pool)
    )
    await report.check("the log keeps every rule (verify)", lambda: log_keeps_every_rule(pool))


async def answers_agree(pool: asyncpg.Pool, acknowledged: list[Command]) -> str:
    async with pool.acquire() as conn:
        for command in acknowledged:
            stream = participant_stream(ORG, EVENT, command.participant)
            facts = await conn.fetch(FACTS_OF_COMMAND_AT, command.position, stream)
            status = command.answer.get("status") if command.kind == "sign-up" else None
            wanted = FACTS_FOR[(command.kind, status)]
            found = {(f["type"], f["session_id"]) for f in facts}
            assert any((t, command.session) in found for t in wanted), (
                f"{command.kind} of {command.participant} for {command.session} answered "
                f"{command.status} {command.answer}; the log has {sorted(found)}"
            )
    return ""


async def read_models_equal(pool: asyncpg.Pool) -> str:
    store = PostgresEventStore(pool, EventCodec(ALL_EVENTS))
    live = await answered(pool, ORG, EVENT)
    details = await kept_details(pool, ORG, EVENT)
    assert live == expected(fold(await whole_log(store), ORG, EVENT, details)), "not the fold"
    for projection in PROJECTIONS:
        await rebuild_projection(pool, store, projection)
    assert await answered(pool, ORG, EVENT) == live, "not the rebuild"
    return ""
