"""Operations route ``GET /metrics``: Prometheus text, read from the database at scrape time.

How far each projection's live generation has applied the log, how far behind it is and whether a
process leads it, plus the log's head. The same figures are what `registry projections status`
prints (:func:`read_standings`), so the two can never tell different stories.

The figures live in PostgreSQL, not in this process: any API process answers for every projector,
wherever it runs (in process or in a container of its own). No API key needed, like /health.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg
from litestar import Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from projections import PROJECTIONS, checkpoints
from projections.base import Projection
from registry.api.lifespan import Resources
from registry.api.openapi import problem_spec
from registry.api.problems import Unavailable
from registry.dbtypes import Connection
from registry.eventstore import EventStore

_STATE_KEY: Final = "metrics"
_NOW: Final = "SELECT clock_timestamp()"
#: The database cannot answer now: 503, so that Prometheus records the scrape as failed rather
#: than as a bug (TimeoutError is an OSError).
_DATABASE_AWAY: Final = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)


@dataclass(frozen=True, slots=True)
class Leader:
    """The session holding a projection's leadership lock (projections/runner.py)."""

    pid: int
    application_name: str


@dataclass(frozen=True, slots=True)
class Standing:
    """Where one projection stands against the log."""

    name: str
    #: The live generation; None when no projector has run this projection yet.
    generation: int | None
    #: The position of the last event the live generation applied (0: none).
    position: int
    #: Positions between the head and `position` (events not applied yet, gaps included).
    lag_events: int
    #: How long the first event not applied yet has been waiting; 0 when caught up.
    lag_seconds: float
    leader: Leader | None


@dataclass(frozen=True, slots=True)
class Standings:
    head: int
    projections: tuple[Standing, ...]


async def read_standings(
    pool: asyncpg.Pool, store: EventStore, projections: Sequence[Projection] = PROJECTIONS
) -> Standings:
    """Every projection's standing; read-only (a projection that never ran is shown at 0)."""
    async with pool.acquire() as conn:
        found = {p.name: await _live(conn, p.name) for p in projections}
        leaders = {p.name: await _leader(conn, p.name) for p in projections}
    # The head after the checkpoints: it only grows, so it is never below a position just read.
    head = await store.head()
    # When the first event each position has not applied yet was recorded (projections level
    # with each other share one read). The fenced read: the event a runner will see next.
    waiting_since: dict[int, datetime] = {}
    behind = {0 if live is None else live.position for live in found.values()}
    for position in behind:
        if head > position and (waiting := await store.read_all(position + 1, 1)):
            waiting_since[position] = waiting[0].recorded_at
    now = await _database_now(pool) if waiting_since else None
    standings = []
    for name, live in found.items():
        position = 0 if live is None else live.position
        since = waiting_since.get(position)
        lag_seconds = 0.0 if since is None or now is None else (now - since).total_seconds()
        standings.append(
            Standing(
                name=name,
                generation=None if live is None else live.generation,
                position=position,
                lag_events=max(head - position, 0),
                lag_seconds=max(lag_seconds, 0.0),
                leader=leaders[name],
            )
        )
    return Standings(head=head, projections=tuple(standings))


async def _live(conn: Connection, name: str) -> checkpoints.Standing | None:
    try:
        return await checkpoints.live(conn, name)
    except LookupError:
        return None


async def _leader(conn: Connection, name: str) -> Leader | None:
    row = await conn.fetchrow(checkpoints.LEADERS, checkpoints.LEADER_LOCK_CLASS, name)
    if row is None:
        return None
    return Leader(pid=row["pid"], application_name=row["application_name"] or "")


async def _database_now(pool: asyncpg.Pool) -> datetime:
    # recorded_at is the database's clock: lags are measured against that clock, not this host's.
    async with pool.acquire() as conn:
        now: datetime = await conn.fetchval(_NOW)
    return now


class _StandingsCollector(Collector):
    """Yields the standings handed to it just before a render (reading them is async; a
    collector's `collect` is not)."""

    def __init__(self) -> None:
        self.standings: Standings | None = None

    def describe(self) -> Iterator[Metric]:
        # Registering calls describe(), not collect(): no figures are needed for that.
        return self._families(Standings(head=0, projections=()))

    def collect(self) -> Iterator[Metric]:
        if self.standings is not None:
            yield from self._families(self.standings)

    @staticmethod
    def _families(standings: Standings) -> Iterator[Metric]:
        head = GaugeMetricFamily("registry_log_head", "Position of the log's last readable event.")
        head.add_metric([], standings.head)
        yield head
        gauges = {
            "position": "Position of the last event the live generation applied.",
            "generation": "The projection's live generation (a rebuild adds one).",
            "lag_events": "Log positions the projection has not applied yet.",
            "lag_seconds": "Seconds the first event not applied yet has been waiting.",
            "leader": "1 when a projector process leads the projection, else 0.",
        }
        families = {
            key: GaugeMetricFamily(f"registry_projection_{key}", text, labels=["projection"])
            for key, text in gauges.items()
        }
        for s in standings.projections:
            families["position"].add_metric([s.name], s.position)
            if s.generation is not None:
                families["generation"].add_metric([s.name], s.generation)
            families["lag_events"].add_metric([s.name], s.lag_events)
            families["lag_seconds"].add_metric([s.name], s.lag_seconds)
            families["leader"].add_metric([s.name], 0 if s.leader is None else 1)
        yield from families.values()


class _Exposition:
    """The app's own registry (never the process-global one: tests build many apps, and each
    would register the same names there)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._collector = _StandingsCollector()
        self.registry.register(self._collector)

    def render(self, standings: Standings) -> bytes:
        # No await between setting and rendering: concurrent scrapes cannot mix their figures.
        self._collector.standings = standings
        try:
            return generate_latest(self.registry)
        finally:
            self._collector.standings = None


def _exposition(state: State) -> _Exposition:
    found = state.get(_STATE_KEY)
    if not isinstance(found, _Exposition):
        found = state[_STATE_KEY] = _Exposition()
    return found


@get(
    "/metrics",
    tags=["operations"],
    security=[{}],  # no key needed (an empty requirement: anonymous allowed)
    media_type=CONTENT_TYPE_LATEST,
    responses={503: problem_spec("The database cannot answer now: problem `unavailable`")},
)
async def metrics(resources: NamedDependency[Resources], state: State) -> Response[bytes]:
    """Prometheus metrics: each projection's position, lag and leader, and the log's head."""
    try:
        standings = await read_standings(resources.pool, resources.keeper.store)
    except _DATABASE_AWAY as error:
        raise Unavailable("The projections' standing cannot be read right now.") from error
    return Response(_exposition(state).render(standings), media_type=CONTENT_TYPE_LATEST)


ROUTES = (metrics,)
