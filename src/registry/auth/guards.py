"""Authorisation by role: one check per row of API.md's role rules, and the ``principal``
dependency.

===================  ========================  =============================================
check                roles                     for
===================  ========================  =============================================
organiser_only       organiser                 the programme: events, rooms, sessions, windows
form_or_organiser    form, organiser           create/cancel participants, sign-ups, forms
any_role             organiser, form, auditor  one participant's agenda (GET .../{participant})
reader               organiser, auditor        every other read
auditor_only         auditor                   /v1/audit/...
===================  ========================  =============================================

Put one on every route under /v1 as its ``before_request`` hook
(``@post(..., before_request=organiser_only)``). A route without one still needs a valid key (the
middleware), but any role passes.

Why a ``before_request`` hook and not a Litestar guard: the hook runs at the same point of a
request (after the middlewares' 401 and 429, before the body is read and the handler's
parameters are parsed), so API.md's order of problems holds; but Litestar calls every guard
with a *copy* of the route handler (``BaseRouteHandler.authorize_connection``:
``await guard(connection, copy(self))``), 8.8 us of a sign-up's ~65 us in Litestar measured in
process (bench/README.md, 2026-12-07 afternoon), for a set lookup. A route has one
``before_request`` (the closest layer's wins, Litestar's ``resolve_before_request``), so nothing
else may use that hook on these routes; none does.

The checks are ``async`` on purpose: Litestar runs a synchronous hook in a worker thread
(``ensure_async_callable`` -> ``sync_to_thread``), a thread hop on every request for a set lookup.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection

from registry.api.problems import Forbidden, Unauthorized
from registry.auth.principal import Principal, Role

Connection = ASGIConnection[Any, Any, Any, Any]


def principal_of(connection: Connection) -> Principal:
    """The principal the authentication step put on the connection; 401 if there is none (a
    route excluded from authentication that still asks for one)."""
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise Unauthorized()
    return user


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The ``principal`` dependency, asked for by name (Litestar 3 drops inferred ones):
    ``def handler(principal: NamedDependency[Principal]) -> ...``."""
    return principal_of(request)


def _require(connection: Connection, allowed: frozenset[Role]) -> None:
    principal = principal_of(connection)
    if principal.role not in allowed:
        raise Forbidden(
            f"A key with the role {principal.role!r} may not do this; "
            f"allowed: {', '.join(sorted(allowed))}."
        )


_ORGANISER: frozenset[Role] = frozenset({"organiser"})
_FORM_OR_ORGANISER: frozenset[Role] = frozenset({"form", "organiser"})
_READER: frozenset[Role] = frozenset({"organiser", "auditor"})
_ANY_ROLE: frozenset[Role] = frozenset({"organiser", "form", "auditor"})
_AUDITOR: frozenset[Role] = frozenset({"auditor"})


async def organiser_only(request: Request[Any, Any, Any]) -> None:
    _require(request, _ORGANISER)


async def form_or_organiser(request: Request[Any, Any, Any]) -> None:
    _require(request, _FORM_OR_ORGANISER)


async def reader(request: Request[Any, Any, Any]) -> None:
    _require(request, _READER)


async def any_role(request: Request[Any, Any, Any]) -> None:
    _require(request, _ANY_ROLE)


async def auditor_only(request: Request[Any, Any, Any]) -> None:
    _require(request, _AUDITOR)
