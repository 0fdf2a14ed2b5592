"""``registry verify``: replay the whole log and check it (registry.audit.verify), with a
progress bar per phase on stderr and the report on stdout; exit 0 when all holds, 1 otherwise
(the last line then names the first bad position).

Mounted on the main app by :mod:`registry.cli`; the database is found as ``registry
projections`` finds it (REGISTRY_DATABASE_URL, or the embedded servers), and what they share is
imported inside the command (cli imports this module to mount it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from registry.settings import Settings, load_settings

if TYPE_CHECKING:
    from registry.audit.verify import Report


def verify(
    archives: Annotated[
        Path | None,
        typer.Option(
            "--archives",
            file_okay=False,
            help="Where the archive files are, if not where `registry log archive` wrote them.",
        ),
    ] = None,
) -> None:
    """Replay the log and check the hash chain, capacity at every sign-up, every waitlist
    promotion, the replay snapshots and every live read model against its replay; archived
    history is read from its files."""
    from registry.cli_projections import _asyncio_run, _database

    settings = load_settings()
    with _database(settings) as database_url:
        report = _asyncio_run(_verify(settings, database_url, archives))
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)


async def _verify(settings: Settings, database_url: str, archives: Path | None) -> Report:
    from tqdm import tqdm

    from registry.archive.store import ArchiveReadingStore
    from registry.audit.verify import Phases, verify
    from registry.cli_projections import _open_pool
    from registry.domain.events import ALL_EVENTS
    from registry.eventstore import EventCodec

    # No statement timeout: the chain and the walk read the whole log (an operator's command,
    # stopped with Ctrl+C).
    pool = await _open_pool(
        settings, database_url, application_name="registry-verify", statement_timeout_ms=0
    )
    # disable=None: bars on a terminal only, not in a container's or CI's log.
    bars = [
        tqdm(desc=name, unit=unit, file=sys.stderr, disable=None, leave=True)
        for name, unit in (("chain", "event"), ("log", "event"), ("read models", "session"))
    ]
    try:
        phases = Phases(*(_progress(bar) for bar in bars))
        codec = EventCodec(ALL_EVENTS)
        store = ArchiveReadingStore(pool, codec, directory=archives)
        return await verify(pool, store, codec, phases, archives)
    finally:
        for bar in bars:
            bar.close()
        await pool.close()


def _progress(bar: Any) -> Callable[[int, int], None]:
    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update
