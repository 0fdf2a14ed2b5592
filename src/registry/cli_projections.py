"""``registry projections run|status|rebuild``: the read side from the command line.

Mounted on the main app by :mod:`registry.cli`. What the commands share with the others (which
servers to use, signals, one-line failures) is imported from there inside each command: cli
imports this module to mount it, so an import back at the top would be circular. Heavy modules
are imported inside the commands too, as in cli (``registry --help`` stays fast).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeVar

import structlog
import typer

from registry.settings import Settings, load_settings

if TYPE_CHECKING:
    import asyncpg

    from projections.base import Projection
    from registry.api.metrics import Standings
    from registry.eventstore.postgres import PostgresEventStore

#: The projector's connections say who they are: `status` shows it as the leader, and
#: pg_stat_activity tells them from the API's ("registry").
PROJECTOR_NAME: Final = "registry-projector"
CHAINER_NAME: Final = "registry-chainer"
#: `status` prints these; the leader is "<pid> <application_name>" or "none".
STATUS_COLUMNS: Final = (
    "projection", "generation", "position", "head", "lag_events", "lag_seconds", "leader",
)  # fmt: skip
_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
T = TypeVar("T")

projections_app = typer.Typer(
    help="The read models: run the projector, show where each stands, rebuild them.",
    no_args_is_help=True,
)
log = structlog.get_logger("registry.cli.projections")


@projections_app.command("run")
def run() -> None:
    """Run the projector until SIGINT/SIGTERM: it leads every projection no other process
    leads, and stands by for the others."""
    settings = load_settings()
    with _database(settings) as database_url:
        stopped_by = _asyncio_run(_run_projector(settings, database_url))
        log.info("projector stopped", signal=signal.Signals(stopped_by).name)


@projections_app.command("status")
def status() -> None:
    """One line per projection: live generation, checkpoint, log head, lag (positions and
    seconds) and the process leading it."""
    settings = load_settings()
    with _database(settings) as database_url:
        standings = _asyncio_run(_read_standings(settings, database_url))
    rows = [STATUS_COLUMNS]
    for s in standings.projections:
        generation = "-" if s.generation is None else str(s.generation)
        leader = "none"
        if s.leader is not None:
            leader = f"{s.leader.pid} {s.leader.application_name}".rstrip()
        rows.append(
            (s.name, generation, str(s.position), str(standings.head), str(s.lag_events),
             f"{s.lag_seconds:.1f}", leader)
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(STATUS_COLUMNS) - 1)]
    for row in rows:
        # The leader last and unpadded: its application name may hold spaces.
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        typer.echo("  ".join([*padded, row[-1]]))


@projections_app.command("rebuild")
def rebuild(
    name: Annotated[str | None, typer.Argument(help="The projection to rebuild.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Rebuild every projection.")] = False,
) -> None:
    """Replay the log into a fresh generation of a projection and swap it in; the live one
    keeps being served meanwhile."""
    from projections import PROJECTIONS, by_name
    from registry.cli import _fail

    if (name is None) == (not every):
        _fail("name one projection or give --all (not both)", code=2)
    if name is None:
        chosen: tuple[Projection, ...] = PROJECTIONS
    else:
        try:
            chosen = (by_name(name),)
        except KeyError as error:
            _fail(str(error.args[0]), code=2)
    settings = load_settings()
    with _database(settings) as database_url:
        _asyncio_run(_rebuild(settings, database_url, chosen))


@contextmanager
def _database(settings: Settings) -> Iterator[str]:
    """The database URL, with SIGINT/SIGTERM and embedded servers handled as `migrate` does;
    embedded servers get the migrations first, as `keys create` does (the user's own data)."""
    from registry.cli import _apply_migrations, _backends, _interruptible

    with _interruptible(), _backends(settings) as backends:
        if settings.uses_embedded_servers and settings.migrate_on_start:
            _apply_migrations(backends.database_url)
        yield backends.database_url


def _asyncio_run(work: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, with the database's refusals as one line each rather than a traceback."""
    import asyncpg

    from registry.cli import _fail
    from registry.dbroles import AppRoleError

    try:
        return asyncio.run(work)
    except AppRoleError as error:
        _fail(str(error))
    except asyncpg.UndefinedTableError as error:
        _fail(f"{error}: the database needs its migrations (`registry migrate`)")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        _fail(f"database: {error}")


async def _open_pool(
    settings: Settings,
    database_url: str,
    *,
    application_name: str,
    statement_timeout_ms: int | None = None,
) -> asyncpg.Pool:
    from registry import dbroles

    if statement_timeout_ms is None:
        statement_timeout_ms = settings.statement_timeout_ms
    return await dbroles.create_pool(
        database_url,
        min_size=1,
        max_size=settings.pool_max_size,
        # Startup parameters, as in registry.api.lifespan: they survive the pool's RESET ALL.
        server_settings={
            "statement_timeout": str(statement_timeout_ms),
            "application_name": application_name,
        },
    )


def _store(pool: asyncpg.Pool) -> PostgresEventStore:
    from registry.domain.events import ALL_EVENTS
    from registry.eventstore import EventCodec
    from registry.eventstore.postgres import PostgresEventStore

    return PostgresEventStore(pool, EventCodec(ALL_EVENTS))


def _archive_reading_store(pool: asyncpg.Pool) -> PostgresEventStore:
    from registry.archive.store import ArchiveReadingStore
    from registry.domain.events import ALL_EVENTS
    from registry.eventstore import EventCodec

    return ArchiveReadingStore(pool, EventCodec(ALL_EVENTS))


async def _run_projector(settings: Settings, database_url: str) -> int:
    """Run the projector until a stop signal; returns that signal."""
    from projections import PROJECTIONS
    from projections.runner import Projector
    from registry import dbroles
    from registry.audit.chainer import Chainer

    pool = await _open_pool(settings, database_url, application_name=PROJECTOR_NAME)
    try:
        projector = Projector(
            pool,
            _store(pool),
            PROJECTIONS,
            # The leadership locks live on this connection: named, so `status` can tell whose.
            connect=lambda: dbroles.connect(
                database_url, server_settings={"application_name": PROJECTOR_NAME}
            ),
        )
        # The hash chain too: one leader among every projector and API worker (its own
        # connection holds the leadership, as the projector's do).
        chainer = Chainer(
            lambda: dbroles.connect(
                database_url, server_settings={"application_name": CHAINER_NAME}
            )
        )
        log.info("projector running", projections=[p.name for p in PROJECTIONS])
        return await _until_signalled(lambda: _together(projector.run(), chainer.run()))
    finally:
        await pool.close()


async def _together(*work: Coroutine[Any, Any, None]) -> None:
    """Run all of them until one fails or all are cancelled."""
    await asyncio.gather(*work)


async def _until_signalled(work: Callable[[], Coroutine[Any, Any, None]]) -> int:
    """Run `work` until SIGINT/SIGTERM, then cancel it and wait for its clean-up (a signal is
    how the projector is asked to stop: not an error, hence no KeyboardInterrupt from cli's
    handler in the middle of the event loop). Repeats only cancel again. Returns the signal."""
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(work())
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        task.cancel()

    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, stop, sig)
    try:
        await task
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            # Back to cli's handler, which protects the embedded servers' shutdown.
            signal.signal(sig, handler)
    if not received:
        raise RuntimeError("the projector stopped by itself")
    return received[0]


async def _read_standings(settings: Settings, database_url: str) -> Standings:
    from registry.api.metrics import read_standings

    pool = await _open_pool(settings, database_url, application_name="registry-status")
    try:
        return await read_standings(pool, _store(pool))
    finally:
        await pool.close()


async def _rebuild(settings: Settings, database_url: str, chosen: tuple[Projection, ...]) -> None:
    from tqdm import tqdm

    from projections.rebuild import RebuildBusy, rebuild
    from registry.archive.files import ArchiveUnreadable
    from registry.cli import _fail
    from registry.eventstore import ArchivedHistory

    # No statement timeout: deleting a replaced generation may take long on a big log, and this
    # is an operator's command, stopped with Ctrl+C.
    pool = await _open_pool(
        settings, database_url, application_name="registry-rebuild", statement_timeout_ms=0
    )
    try:
        # Archived history is read from its files (registry.archive.store).
        store = _archive_reading_store(pool)
        for projection in chosen:
            # disable=None: a bar on a terminal only, not in a container's or CI's log.
            bar = tqdm(desc=projection.name, unit="event", file=sys.stderr, disable=None)
            try:
                with bar:
                    generation, position = await rebuild(
                        pool, store, projection, progress=_progress(bar)
                    )
            except RebuildBusy as error:
                _fail(str(error), code=2)  # after the bar's last line, not in the middle of it
            except (ArchivedHistory, ArchiveUnreadable) as error:
                _fail(f"{projection.name}: {error}")
            typer.echo(f"{projection.name}: generation {generation}, position {position}")
    finally:
        await pool.close()


def _progress(bar: Any) -> Callable[[int, int], None]:
    def update(position: int, head: int) -> None:
        bar.total = head
        bar.n = position
        bar.refresh()

    return update
