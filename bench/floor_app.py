"""The framework floor: the sign-up and cancel routes answered with a fixed small JSON, no I/O.

    granian --interface asgi --factory bench.floor_app:create_app

Same framework (Litestar), same server (granian) and same body decoding (a strict msgspec struct)
as the real sign-up route, nothing else: no key check, no Redis, no PostgreSQL. What the real
route costs above this is what the product adds.
"""

from __future__ import annotations

import msgspec
from litestar import Litestar, delete, get, post


class SignUpBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    session_id: str
    replaces: str | None = None


_ANSWER: dict[str, object] = {
    "session_id": "floor",
    "status": "seated",
    "waitlist_position": None,
    "fallback_session_id": None,
    "position": 1,
}
_CANCELLED: dict[str, object] = {"promoted": [], "position": 1}


@post("/v1/events/{event:str}/participants/{participant:str}/signups", status_code=201)
async def sign_up(event: str, participant: str, data: SignUpBody) -> dict[str, object]:
    return _ANSWER


@delete(
    "/v1/events/{event:str}/participants/{participant:str}/signups/{session:str}",
    status_code=200,
)
async def cancel(event: str, participant: str, session: str) -> dict[str, object]:
    return _CANCELLED


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[sign_up, cancel, health])
