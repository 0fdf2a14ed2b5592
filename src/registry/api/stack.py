"""The app's middleware, outermost first (Litestar runs them after routing, so an unknown route
or method is answered before any of them):

1. the request deadline (registry.api.deadline): it bounds everything after it;
2. the rate limit per client address (registry.api.rate_limits), before the key is looked up;
3. authentication (registry.auth.middleware): 401;
4. the rate limit per API key.

Role checks (403, registry.auth.guards) and the body (400 / 413 / 422) come after all of them. A
setting of 0 leaves its middleware out entirely: nothing is paid for a limit that is off.
"""

from __future__ import annotations

from litestar.types import Middleware

from registry.api.deadline import Deadline
from registry.api.rate_limits import RateLimit
from registry.auth.middleware import authentication_middleware
from registry.settings import Settings


def middleware(settings: Settings) -> list[Middleware]:
    stack: list[Middleware] = []
    if settings.request_deadline_s > 0:
        stack.append(Deadline(settings.request_deadline_s))
    if settings.rate_limit_per_address > 0:
        stack.append(RateLimit("address"))
    stack.append(authentication_middleware())
    if settings.rate_limit_per_key > 0:
        stack.append(RateLimit("key"))
    return stack
