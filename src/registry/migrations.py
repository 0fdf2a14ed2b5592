"""Applies the numbered SQL files of `migrations/` in order, each in its own transaction.

Concurrent runs are safe: the whole run holds a PostgreSQL advisory lock, so a second `migrate`
waits and then finds nothing pending. Every applied file is recorded with a checksum; a file that
changed after it was applied stops the run with a clear message instead of drifting silently.
The bookkeeping table is the one piece of DDL outside the files: the runner needs it to know what
to run.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg

from registry.dbtypes import Connection

#: 'migrate' in ASCII, as a number: the advisory lock every migration run holds.
MIGRATION_LOCK: Final = 0x6D69677261746531
_NAME: Final = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")

CREATE_BOOKKEEPING: Final = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name       text        PRIMARY KEY,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
SELECT_APPLIED: Final = "SELECT name, checksum FROM schema_migrations"
TABLE_EXISTS: Final = "SELECT to_regclass('schema_migrations') IS NOT NULL"
RECORD_APPLIED: Final = "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)"


class MigrationError(Exception):
    """A migration cannot be applied, or an applied one was changed."""


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    """The packaged copy in a wheel (registry/_migrations), else the repository's migrations/."""
    packaged = Path(__file__).parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "migrations"


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    files = sorted(p for p in directory.glob("*.sql"))
    found: list[Migration] = []
    numbers: set[str] = set()
    for path in files:
        match = _NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_snake_case.sql")
        if match.group(1) in numbers:
            raise MigrationError(f"{path.name}: number {match.group(1)} is used twice")
        numbers.add(match.group(1))
        found.append(Migration(path.name, path.read_text(encoding="utf-8")))
    return found


def _check_unchanged(applied: dict[str, str], migrations: list[Migration]) -> None:
    by_name = {m.name: m for m in migrations}
    for name, checksum in sorted(applied.items()):
        migration = by_name.get(name)
        if migration is None:
            raise MigrationError(
                f"migration {name} is applied to the database but its file is missing"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {name} was changed after it was applied "
                f"(applied checksum {checksum[:12]}, file checksum {migration.checksum[:12]}); "
                "add a new migration instead of editing an applied one"
            )


async def _applied(conn: Connection) -> dict[str, str]:
    if not await conn.fetchval(TABLE_EXISTS):
        return {}
    rows = await conn.fetch(SELECT_APPLIED)
    return {row["name"]: row["checksum"] for row in rows}


async def pending_migrations(conn: Connection) -> list[str]:
    """Names of migration files not yet applied; raises MigrationError if an applied one changed."""
    migrations = load_migrations()
    applied = await _applied(conn)
    _check_unchanged(applied, migrations)
    return [m.name for m in migrations if m.name not in applied]


async def apply_migrations(dsn: str, directory: Path | None = None) -> list[str]:
    """Apply every pending migration; returns the names applied by this run."""
    migrations = load_migrations(directory)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            await conn.execute(CREATE_BOOKKEEPING)
            applied = await _applied(conn)
            _check_unchanged(applied, migrations)
            done: list[str] = []
            for migration in migrations:
                if migration.name in applied:
                    continue
                try:
                    async with conn.transaction():
                        await conn.execute(migration.sql)
                        await conn.execute(RECORD_APPLIED, migration.name, migration.checksum)
                except asyncpg.PostgresError as error:
                    raise MigrationError(f"migration {migration.name} failed: {error}") from error
                done.append(migration.name)
            return done
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    finally:
        await conn.close()


def migrate(dsn: str) -> list[str]:
    """Blocking form of apply_migrations, for the command line."""
    return asyncio.run(apply_migrations(dsn))
