from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from registry.migrations import (
    MigrationError,
    apply_migrations,
    load_migrations,
    migrations_dir,
    pending_migrations,
)
from tests.support.servers import ServerUrls, create_database, drop_database, unique_name


@pytest.fixture
async def empty_database_url(servers: ServerUrls) -> AsyncIterator[str]:
    name = unique_name("registry_test_empty")
    url = await create_database(servers.database_url, name)
    try:
        yield url
    finally:
        await drop_database(servers.database_url, name)


async def applied_names(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT name FROM schema_migrations ORDER BY name")
        return [r["name"] for r in rows]
    finally:
        await conn.close()


async def test_applies_every_file_in_order_once(empty_database_url: str) -> None:
    names = [m.name for m in load_migrations()]
    assert names == sorted(names)
    assert names[0].startswith("0001_")
    assert await apply_migrations(empty_database_url) == names
    assert await apply_migrations(empty_database_url) == []
    assert await applied_names(empty_database_url) == names
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await pending_migrations(conn) == []
    finally:
        await conn.close()


async def test_concurrent_runs_apply_each_file_once(empty_database_url: str) -> None:
    runs = await asyncio.gather(*(apply_migrations(empty_database_url) for _ in range(4)))
    applied = [name for run in runs for name in run]
    assert sorted(applied) == [m.name for m in load_migrations()]
    assert await applied_names(empty_database_url) == sorted(applied)


async def test_a_changed_applied_file_is_refused_with_a_clear_message(
    empty_database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    await apply_migrations(empty_database_url, folder)
    first = sorted(folder.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after the fact\n")
    expected = rf"{re.escape(first.name)} was changed after it was applied"
    with pytest.raises(MigrationError, match=expected):
        await apply_migrations(empty_database_url, folder)


async def test_pending_lists_files_not_yet_applied(empty_database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    await apply_migrations(empty_database_url, folder)
    (folder / "9999_later.sql").write_text("CREATE TABLE later (id int);")
    assert [m.name for m in load_migrations(folder)][-1] == "9999_later.sql"
    assert await apply_migrations(empty_database_url, folder) == ["9999_later.sql"]


async def test_a_failing_file_rolls_back_alone_and_says_which(
    empty_database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE ok (id int);")
    (folder / "0002_broken.sql").write_text("CREATE TABLE half (id int); SELECT no_such_fn();")
    with pytest.raises(MigrationError, match=r"0002_broken\.sql failed"):
        await apply_migrations(empty_database_url, folder)
    assert await applied_names(empty_database_url) == ["0001_ok.sql"]
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('half')") is None
    finally:
        await conn.close()


def test_badly_named_or_duplicate_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_bad.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_snake_case"):
        load_migrations(tmp_path)
    (tmp_path / "1_bad.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="used twice"):
        load_migrations(tmp_path)
