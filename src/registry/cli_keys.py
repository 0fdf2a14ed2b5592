"""``registry keys create|list|revoke``: role-scoped API keys from the command line.

Mounted on the main app by :mod:`registry.cli`. What the commands share with the others (which
servers to use, signals, one-line failures) is imported from there inside each command: cli
imports this module to mount it, so an import back at the top would be circular.

A key's secret is printed once, by ``create``, alone on stdout's last line; ``list`` never shows
it nor its hash. Lifecycle and the revocation delay: docs/security.md.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Annotated, Final
from uuid import UUID

import typer

from registry.settings import load_settings

if TYPE_CHECKING:
    from registry.auth.keys import KeyInfo

#: `--expires-in`: a whole number and a unit, e.g. 90d, 12h, 30m, 45s, 2w.
_DURATION: Final = re.compile(r"(?P<amount>[1-9][0-9]{0,6})(?P<unit>[smhdw])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: `list`'s columns, tab-separated, one key a line.
LIST_COLUMNS: Final = ("id", "organisation", "role", "created", "expires", "revoked")

keys_app = typer.Typer(help="Role-scoped API keys.", no_args_is_help=True)


def parse_duration(text: str) -> dt.timedelta:
    """``90d`` -> 90 days; ValueError naming the form otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"invalid duration {text!r}: a whole number and one of s, m, h, d, w (e.g. 90d)"
        )
    return dt.timedelta(seconds=int(match["amount"]) * _UNIT_SECONDS[match["unit"]])


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 time with a UTC offset (``2025-01-01T00:00:00+01:00``, or ``...Z``)."""
    try:
        instant = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"invalid time {text!r}: ISO 8601 with an offset") from None
    if instant.utcoffset() is None:
        raise ValueError(f"invalid time {text!r}: it needs a UTC offset (e.g. +01:00 or Z)")
    return instant


def expiry(expires_in: str | None, expires_at: str | None, now: dt.datetime) -> dt.datetime | None:
    """The expiry the options ask for (None: never); ValueError for both, a bad value, or a
    time not in the future."""
    from registry.auth.keys import check_expiry

    if expires_in is not None and expires_at is not None:
        raise ValueError("give --expires-in or --expires-at, not both")
    if expires_in is not None:
        return now + parse_duration(expires_in)
    if expires_at is not None:
        return check_expiry(parse_instant(expires_at), now)
    return None


@keys_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="organiser, form or auditor.", show_default=False)],
    org: Annotated[str, typer.Option(help="Organisation slug; created if unknown.")] = "default",
    expires_in: Annotated[
        str | None,
        typer.Option(help="Expire after this long: 90d, 12h, 30m, 2w.", show_default="never"),
    ] = None,
    expires_at: Annotated[
        str | None,
        typer.Option(help="Expire at this ISO 8601 time with an offset.", show_default="never"),
    ] = None,
) -> None:
    """Create an API key and print it alone on the last line; only its hash is stored."""
    from registry.auth.keys import check_organisation, check_role
    from registry.auth.provision import KeysNotReady
    from registry.auth.provision import create as create_key
    from registry.cli import _apply_migrations, _backends, _fail, _interruptible
    from registry.dbroles import AppRoleError

    try:
        check_role(role)
        check_organisation(org)
        until = expiry(expires_in, expires_at, dt.datetime.now(dt.UTC))
    except ValueError as error:
        _fail(str(error), code=2)
    settings = load_settings()
    with _interruptible(), _backends(settings) as backends:
        if settings.uses_embedded_servers and settings.migrate_on_start:
            _apply_migrations(backends.database_url)  # the user's own fresh data dir, as `serve`
        try:
            key = create_key(backends.database_url, role, org, until)
        except (KeysNotReady, AppRoleError) as error:
            _fail(str(error))
    until_text = f", expires {until.isoformat()}" if until else ""
    typer.echo(
        f"new API key (role {role}, organisation {org}{until_text}); it is shown only now:",
        err=True,
    )
    typer.echo(key)


@keys_app.command("list")
def list_(
    organisation: Annotated[
        str | None, typer.Option("--organisation", "--org", help="Only this organisation's.")
    ] = None,
) -> None:
    """List keys, tab-separated: id, organisation, role, created, expires, revoked (never the
    key nor its hash); '-' where a key has no expiry or is not revoked."""
    from registry.auth.keys import check_organisation
    from registry.auth.provision import KeysNotReady, listed
    from registry.cli import _backends, _fail, _interruptible
    from registry.dbroles import AppRoleError

    if organisation is not None:
        try:
            check_organisation(organisation)
        except ValueError as error:
            _fail(str(error), code=2)
    settings = load_settings()
    with _interruptible(), _backends(settings) as backends:
        try:
            keys = listed(backends.database_url, organisation)
        except (KeysNotReady, AppRoleError) as error:
            _fail(str(error))
    typer.echo("\t".join(LIST_COLUMNS))
    for info in keys:
        typer.echo("\t".join(_row(info)))


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (`keys list`).")],
) -> None:
    """Revoke a key: refused at once by processes that have not cached it, by every process
    within the principal cache's TTL (30 s)."""
    from registry.auth.cache import TTL_S
    from registry.auth.provision import KeysNotReady, revoked
    from registry.cli import _backends, _fail, _interruptible
    from registry.dbroles import AppRoleError

    try:
        parsed = UUID(key_id)
    except ValueError:
        _fail(f"invalid key id {key_id!r}: a UUID as `registry keys list` shows it", code=2)
    settings = load_settings()
    with _interruptible(), _backends(settings) as backends:
        try:
            done = revoked(backends.database_url, parsed)
        except (KeysNotReady, AppRoleError) as error:
            _fail(str(error))
    if not done:
        _fail(f"no active key {parsed} (unknown, or revoked already)")
    typer.echo(f"revoked {parsed}; processes that cached it refuse it within {TTL_S:g} s")


def _row(info: KeyInfo) -> tuple[str, ...]:
    def when(value: dt.datetime | None) -> str:
        return value.isoformat() if value is not None else "-"

    return (
        str(info.id),
        info.organisation,
        info.role,
        when(info.created_at),
        when(info.expires_at),
        when(info.revoked_at),
    )
