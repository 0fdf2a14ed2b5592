"""``registry log ...``: the log's partitions and its archive (registry.archive; docs/scaling.md,
"The log").

- ``registry log partitions [--ahead N] [--size S]``: make partitions ahead of the appends (and
  turn rows that ran into the DEFAULT partition into a range partition), then list them with the
  archived ranges. Run it from cron.
- ``registry log archive --before POSITION --to DIR``: write every whole partition that ends
  below POSITION to a file in DIR (the export format), check it, record it, and detach and drop
  the partition.

Mounted on the main app by :mod:`registry.cli`; both connect as the URL's user (the owner, or a
superuser), which acts as registry_maintenance for the changes, as `registry export` and
`import` do (cli_audit.py), with what they share imported inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from registry.settings import load_settings

if TYPE_CHECKING:
    from registry.archive.archiver import ArchivedPartition
    from registry.archive.partitions import Partition
    from registry.archive.records import Archive

log_app = typer.Typer(help="The log's partitions and archive.", no_args_is_help=True)


@log_app.command("partitions")
def partitions(
    ahead: Annotated[
        int, typer.Option("--ahead", min=0, help="Partitions to keep ready past the head.")
    ] = 2,
    size: Annotated[
        int | None,
        typer.Option("--size", min=1, help="Positions per partition, for those made from now."),
    ] = None,
) -> None:
    """Make partitions ahead of the appends, then list the partitions and archived ranges."""
    from registry.cli_projections import _asyncio_run, _database

    settings = load_settings()
    with _database(settings) as database_url:
        made, listed, archives = _asyncio_run(_partitions(database_url, ahead, size))
    for name in made:
        typer.echo(f"made {name}")
    for archive in archives:
        typer.echo(
            f"archived   {archive.first_position:>12} - {archive.last_position:<12} "
            f"{archive.events} events in {archive.path()}"
        )
    for p in listed:
        span = (
            "default"
            if p.first_position is None
            else f"{p.first_position:>12} - {p.last_position:<12}"
        )
        typer.echo(f"{p.name:<34} {span} ~{p.rows_estimate} rows, {p.bytes} bytes")


@log_app.command("archive")
def archive(
    before: Annotated[
        int,
        typer.Option(
            "--before", min=1, help="Archive whole partitions ending below it.", show_default=False
        ),
    ],
    to: Annotated[
        Path,
        typer.Option("--to", file_okay=False, help="Directory of the files.", show_default=False),
    ],
    continuing_streams: Annotated[
        bool,
        typer.Option(
            "--allow-continuing-streams",
            help="Archive even partitions with events of streams that go on after them (those "
            "streams then refuse commands).",
        ),
    ] = False,
) -> None:
    """Write the whole, final, sealed partitions below POSITION to files in DIR (the export
    format), check them, then detach and drop them from the database."""
    from registry.archive.archiver import ArchiveRefused
    from registry.cli import _fail
    from registry.cli_projections import _asyncio_run, _database

    settings = load_settings()
    with _database(settings) as database_url:
        try:
            done = _asyncio_run(_archive(database_url, before, to, continuing_streams))
        except ArchiveRefused as error:
            _fail(f"archive refused: {error}")
    for item in done:
        a = item.archive
        typer.echo(
            f"archived {item.partition}: positions {a.first_position}-{a.last_position}, "
            f"{a.events} events, {a.bytes} bytes in {a.path()} ({item.seconds:.1f} s)"
        )


async def _partitions(
    database_url: str, ahead: int, size: int | None
) -> tuple[list[str], list[Partition], list[Archive]]:
    from registry.archive.partitions import ensure_partitions, list_partitions
    from registry.archive.records import load_archives
    from registry.cli_audit import _connect

    conn = await _connect(database_url)
    try:
        made = await ensure_partitions(conn, ahead, size)
        return made, await list_partitions(conn), await load_archives(conn)
    finally:
        await conn.close()


async def _archive(
    database_url: str, before: int, to: Path, continuing_streams: bool
) -> list[ArchivedPartition]:
    from tqdm import tqdm

    from registry.archive.archiver import archive_before
    from registry.cli_audit import _connect

    conn = await _connect(database_url)
    # disable=None: a bar on a terminal only, not in a container's or CI's log.
    bar = tqdm(desc="archive", unit="event", unit_scale=True, file=sys.stderr, disable=None)

    def progress(partition: str, written: int, total: int) -> None:
        bar.set_description(partition)
        bar.total, bar.n = total, written
        bar.refresh()

    try:
        with bar:
            return await archive_before(
                conn, before, to, continuing_streams=continuing_streams, on_progress=progress
            )
    finally:
        await conn.close()
