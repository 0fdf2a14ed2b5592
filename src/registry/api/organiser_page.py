"""`/organiser/`: the organisers' live page, static files served from the package.

Plain HTML, CSS and one script (static/organiser/): no build step, no toolchain, nothing
generated to keep in sync with its source; the wheel carries the files as they are.

The page itself holds no data and needs no key (the route is opted out of authentication): the
organiser types the key into the page, which keeps it in sessionStorage and sends it as
`Authorization: Bearer` to /v1. The headers below make the page harder to turn against that
key: no script, style or connection from anywhere else (an injected script could read
sessionStorage), no framing, and no Referer leaving the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from registry.auth.middleware import EXCLUDE_OPT_KEY

PATH: Final = "/organiser"
FILES: Final = Path(__file__).parent / "static" / "organiser"
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _with_security_headers(app: ASGIApp) -> ASGIApp:
    """ASGI middleware adding SECURITY_HEADERS to every answer of the page's routes (the file
    responses are ASGI responses, which bypass Litestar's response_headers)."""
    extra = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await app(scope, receive, sending)

    return middleware


def organiser_page() -> Router:
    return create_static_files_router(
        path=PATH,
        directories=[FILES],
        html_mode=True,
        name="organiser-page",
        # Revalidated on every load: a new release's page never runs against a stale script.
        cache_control=CacheControlHeader(no_cache=True),
        middleware=[_with_security_headers],
        opt={EXCLUDE_OPT_KEY: True},
        include_in_schema=False,
    )
