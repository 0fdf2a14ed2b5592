"""``registry export`` and ``registry import``: the log with its hash chain and seals, and the
rows kept beside it, to a JSON Lines file and back into an empty database (registry.audit.export,
registry.audit.import_log; the format is in registry.audit.log_file).

Mounted on the main app by :mod:`registry.cli`; what the commands share with the others (servers,
signals, one-line failures) is imported from there and from cli_projections inside each command,
as cli_projections does (an import at the top would be circular). Both connect as the URL's
user, not as the service's role: an import writes the log directly, which only the owner may.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from registry.settings import load_settings

if TYPE_CHECKING:
    import asyncpg

    from registry.audit.export import Exported
    from registry.audit.import_log import Imported

APPLICATION_NAME: Final = "registry-audit"


def export(
    out: Annotated[Path, typer.Option("--out", help="The file to write.", show_default=False)],
    compress: Annotated[bool, typer.Option("--gzip", help="Compress the file with gzip.")] = False,
    personal_data: Annotated[
        bool,
        typer.Option(
            "--with-personal-data",
            help="Also export participants' personal data and the e-mail keys (to move a "
            "service; never for auditors: an erasure cannot reach the file).",
        ),
    ] = False,
) -> None:
    """Export the log (every final event with its hash), the seals, and the rows kept beside
    the log, as JSON Lines; personal data only when asked."""
    from registry.cli_projections import _asyncio_run, _database

    settings = load_settings()
    with _database(settings) as database_url:
        done = _asyncio_run(_export(database_url, out, compress, personal_data))
    rows = ", ".join(f"{n} {table}" for table, n in done.rows.items()) or "none"
    typer.echo(
        f"exported {done.events} events (to position {done.last_position}), {done.seals} seals "
        f"and rows beside the log ({rows}) to {out}"
    )


def import_(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="An export.")
    ],
) -> None:
    """Import an export into an empty, migrated database: the same events, positions, hashes
    and seals; then run the projector to build the read models."""
    from registry.audit.import_log import ImportRefused
    from registry.cli import _fail
    from registry.cli_projections import _asyncio_run, _database

    settings = load_settings()
    with _database(settings) as database_url:
        try:
            done = _asyncio_run(_import(database_url, file))
        except ImportRefused as error:
            _fail(f"import refused: {error}")
    typer.echo(
        f"imported {done.events} events (to position {done.last_position}; {done.hashed_here} "
        f"hashed here), {done.seals} seals, rows beside the log: {done.rows or 'none'}; the read "
        "models are built by the projector (`registry projections run`, or `registry serve`)"
    )


async def _connect(database_url: str) -> asyncpg.Connection:
    import asyncpg

    # No statement timeout: both read or write the whole log (an operator's command).
    settings = {"application_name": APPLICATION_NAME, "statement_timeout": "0"}
    return await asyncpg.connect(database_url, server_settings=settings)


async def _export(database_url: str, out: Path, compress: bool, personal_data: bool) -> Exported:
    from registry.audit.export import export_log
    from registry.audit.log_file import open_for_writing

    conn = await _connect(database_url)
    try:
        with _bar("export") as bar, open_for_writing(out, compress=compress) as file:
            return await export_log(
                conn,
                file,
                on_start=_total(bar),
                on_progress=_at(bar),
                personal_data=personal_data,
            )
    finally:
        await conn.close()


async def _import(database_url: str, file: Path) -> Imported:
    from registry.audit.import_log import import_log
    from registry.audit.log_file import open_for_reading

    conn = await _connect(database_url)
    try:
        with _bar("import") as bar, open_for_reading(file) as lines:
            return await import_log(conn, lines, on_start=_total(bar), on_progress=_at(bar))
    finally:
        await conn.close()


def _bar(what: str) -> Any:
    from tqdm import tqdm

    # disable=None: a bar on a terminal only, not in a container's or CI's log.
    return tqdm(desc=what, unit="event", unit_scale=True, file=sys.stderr, disable=None)


def _total(bar: Any) -> Any:
    def start(total: int) -> None:
        bar.total = total
        bar.refresh()

    return start


def _at(bar: Any) -> Any:
    def update(done: int) -> None:
        bar.n = done
        bar.refresh()

    return update
