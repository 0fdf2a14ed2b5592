"""The database role the service acts as: ``registry_app`` (DESIGN.md section 4; migrations
0030-0034 create it and say what it may do).

Every connection the service opens (the API's pool, the projector's, the CLI's, the benchmarks')
comes from :func:`connect` or :func:`create_pool`, which pass ``role=registry_app`` as a startup
parameter, whatever user the URL names, superusers included. The role is then the session's
default from the first statement to the last: the pool's ``RESET ALL`` on every release leaves it
(PostgreSQL's RESET ALL never touches the role) and even ``RESET ROLE`` comes back to it, where a
``SET ROLE`` in the pool's ``init`` would be undone by a RESET ROLE. That role reads the log and
appends to it only through append_events(); it cannot UPDATE, DELETE or TRUNCATE it.

The URL's user must be allowed to take the role: a superuser, or a member of ``registry_app``
(the migrations make the user that runs them one). Otherwise connecting raises
:class:`AppRoleError`, which says what to grant. Migrations do not come through here: they run
as the URL's user, the owner of the tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import asyncpg

from registry.eventstore import clean_release

#: What the service acts as (0030).
APP_ROLE: Final = "registry_app"
#: The only role that may rewrite the log (0030, 0033).
MAINTENANCE_ROLE: Final = "registry_maintenance"
#: Plans that do not depend on how big a table was when a connection first ran a statement.
#: A connection keeps a statement's generic plan (asyncpg's prepared statements, PL/pgSQL's in
#: append_batch) from its sixth run on, until an ANALYZE of the table invalidates it. On a fresh
#: database the log, `commands` and `streams` start empty, so that plan is a sequential scan,
#: and a connection then scans the whole growing table on every call: measured (bench/README.md,
#: 2026-12-06) 262 buffers per participant read and 855 per chainer poll after 30 s of sign-ups,
#: PostgreSQL's CPU per sign-up 1.07 - 1.43 ms. Autovacuum's ANALYZE would in time invalidate such
#: plans; where it is off, or has not come yet, nothing would. Every statement the service runs
#: is served by an index (its reads and writes touch a few rows each), so a sequential scan is
#: never what it wants: with this off (the planner's cost for it, not a ban: a table with no usable
#: index is still scanned) PostgreSQL's CPU per sign-up was 0.60 ms in the same run.
#: https://www.postgresql.org/docs/15/sql-prepare.html#SQL-PREPARE-NOTES
PLANNER_SETTINGS: Final = {"enable_seqscan": "off"}


class AppRoleError(RuntimeError):
    """The database user cannot act as registry_app."""


class AppRoleMissing(AppRoleError):
    """There is no registry_app on the server yet: the migrations have not run."""


def app_settings(server_settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """``server_settings`` plus the role and the planner's settings: the startup parameters of
    every service connection."""
    return {**PLANNER_SETTINGS, **(server_settings or {}), "role": APP_ROLE}


async def connect(
    dsn: str, *, server_settings: Mapping[str, str] | None = None
) -> asyncpg.Connection:
    """One connection acting as registry_app."""
    try:
        return await asyncpg.connect(dsn, server_settings=app_settings(server_settings))
    except asyncpg.PostgresError as error:
        raise _explained(error) from error


async def create_pool(
    dsn: str,
    *,
    min_size: int,
    max_size: int,
    server_settings: Mapping[str, str] | None = None,
) -> asyncpg.Pool:
    """A pool whose every connection, including those it opens later, acts as registry_app."""
    try:
        return await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            server_settings=app_settings(server_settings),
            # The reset round trip only where a use may have left session state
            # (registry.eventstore.clean_release).
            setup=clean_release.setup,
            reset=clean_release.reset,
        )
    except asyncpg.PostgresError as error:
        raise _explained(error) from error


async def check(dsn: str) -> None:
    """Raise :class:`AppRoleError` now if the URL's user cannot act as registry_app (a clear
    failure at start, rather than in every worker's first connection); AppRoleMissing if the
    role is not there yet."""
    conn = await connect(dsn)
    await conn.close()


def _explained(error: asyncpg.PostgresError) -> Exception:
    """An AppRoleError for the two refusals of the role parameter; other errors unchanged."""
    if isinstance(error, asyncpg.InsufficientPrivilegeError) and APP_ROLE in str(error):
        return AppRoleError(
            f"the database user cannot act as {APP_ROLE} ({error}): connect as a superuser or as "
            f"a member of {APP_ROLE} (`GRANT {APP_ROLE} TO <user>`, as a superuser; `registry "
            "migrate` run as a non-superuser owner makes that owner one)"
        )
    if isinstance(error, asyncpg.InvalidParameterValueError) and APP_ROLE in str(error):
        return AppRoleMissing(
            f"the role {APP_ROLE} does not exist on this server ({error}): "
            "the migrations create it (`registry migrate`)"
        )
    return error
