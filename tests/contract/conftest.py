"""Every event store adapter, for the one contract suite."""

from __future__ import annotations

import asyncpg
import pytest

from registry.eventstore import EventStore
from registry.eventstore.batcher import MAX_COMMANDS
from registry.eventstore.memory import MemoryEventStore
from registry.eventstore.postgres import PostgresEventStore
from tests.support.events import test_codec


@pytest.fixture(params=["memory", "postgres", "postgres-alone"])
def store(request: pytest.FixtureRequest) -> EventStore:
    # A plain function: it asks for the async PostgreSQL fixture only when that adapter is tested.
    if request.param == "memory":
        return MemoryEventStore(test_codec())
    pool: asyncpg.Pool = request.getfixturevalue("fresh_pool")
    # "postgres" gathers appends into append_batch (group commit, the service's default);
    # "postgres-alone" sends each through append_events, as erasures of personal data and
    # appends inside a gate fence always go.
    batch = {"postgres": MAX_COMMANDS, "postgres-alone": 0}[request.param]
    return PostgresEventStore(pool, test_codec(), poll_interval=0.2, append_batch=batch)


#: Entries per step of a RedisGate load in the gate's contract tests: two, so that every load in
#: them runs in several steps (load.lua), clearing and writing state across script calls.
PART_ENTRIES = 2
