"""Authentication: ``Authorization: Bearer <api key>`` -> the request's :class:`Principal`.

Every route needs a key except the operations routes (:data:`PUBLIC_PATHS`) and handlers opted
out with ``opt={"exclude_from_auth": True}``. Authorisation by role is the role checks' job
(:mod:`registry.auth.guards`); this step only answers "who is calling", or 401 ``unauthorized``.

Where it sits in the order of API.md: Litestar resolves the route and the method before it runs a
route's middleware, so an unknown route (404) or method (405) is answered first, without a key;
then this (401); then the role checks (403); only then is the body read (400 / 413 / 422).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import asyncpg
from litestar.connection import ASGIConnection
from litestar.middleware import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
    DefineMiddleware,
)
from litestar.types import ASGIApp

from registry.api.lifespan import provide_resources
from registry.api.problems import Unauthorized, Unavailable
from registry.auth.cache import PrincipalCache
from registry.auth.keys import hash_key, is_well_formed, lookup_hash
from registry.auth.principal import Principal

#: Paths that need no key (API.md, "General"). Litestar *searches* these patterns anywhere in the
#: path (re.findall, not a match from the start), so each is anchored at both ends: "/ready"
#: alone would also open "/v1/events/ready".
PUBLIC_PATHS: Final = (
    r"^/(?:health|ready|metrics)/?$",
    r"^/schema(?:/.*)?$",
)
#: A handler's ``opt`` key that opts it out of authentication.
EXCLUDE_OPT_KEY: Final = "exclude_from_auth"

_BEARER: Final = "bearer"
#: The database cannot answer now (TimeoutError is an OSError): 503, not 401 and not 500.
_DATABASE_AWAY: Final = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


def bearer_token(authorization: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer <token>`` header (scheme case-insensitive,
    RFC 9110 section 11.1), or None."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != _BEARER or not token:
        return None
    return token


class BearerAuthentication(AbstractAuthenticationMiddleware):
    """Resolves the key through a :class:`PrincipalCache`, and PostgreSQL when it misses."""

    __slots__ = ("_cache",)

    def __init__(
        self,
        app: ASGIApp,
        cache: PrincipalCache,
        exclude: Sequence[str] = PUBLIC_PATHS,
    ) -> None:
        super().__init__(app, exclude=list(exclude), exclude_from_auth_key=EXCLUDE_OPT_KEY)
        self._cache = cache

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        key = bearer_token(connection.headers.get("authorization"))
        if key is None:
            raise Unauthorized("An `Authorization: Bearer <api key>` header is required.")
        principal = await self._resolve(connection, key)
        if principal is None:
            raise Unauthorized("The API key is unknown or revoked.")
        # `auth` is the key's id, never the key: the scope ends up in logs and error reports.
        return AuthenticationResult(user=principal, auth=principal.key_id)

    async def _resolve(
        self, connection: ASGIConnection[Any, Any, Any, Any], key: str
    ) -> Principal | None:
        if not is_well_formed(key):
            return None  # not one of ours: no need to ask the database
        key_hash = hash_key(key)
        if (cached := self._cache.get(key_hash)) is not None:
            return cached
        pool = provide_resources(connection.app.state).pool
        try:
            async with pool.acquire() as conn:
                principal = await lookup_hash(conn, key_hash)
        except _DATABASE_AWAY as error:
            # Not the caller's fault: "try again" rather than "your key is wrong".
            raise Unavailable("API keys cannot be checked right now.") from error
        if principal is not None:
            self._cache.put(key_hash, principal)
        return principal


def authentication_middleware(cache: PrincipalCache | None = None) -> DefineMiddleware:
    """The middleware for ``Litestar(middleware=[...])``.

    Litestar builds one middleware instance per route; they all get this one cache, so an app
    (one per worker process) has a single cache.
    """
    return DefineMiddleware(BearerAuthentication, cache=cache or PrincipalCache())
