"""The sample programme (examples/almelo.json), the demo's settings and its HTTP helpers."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import httpx

#: The sample programme, in a checkout (it is not part of the installed package).
EXAMPLE_FILE: Final = Path(__file__).resolve().parents[3] / "examples" / "almelo.json"
#: 409s the round provokes on purpose (API.md "Sign-up rules").
EXPECTED_PROBLEMS: Final = frozenset({"time-conflict", "session-full"})
#: How many requests the demo keeps in flight at once.
CONCURRENCY: Final = 8
TIMEOUT_S: Final = 30.0

# The participants' habits (fractions of them).
SKIP_SLOT: Final = 0.1
HEADLINE: Final = 0.6
SWITCH: Final = 0.3
SWITCH_AWAY: Final = 0.3  # of those switching who hold a headline seat
DOUBLE_BOOK: Final = 0.1
CANCEL_SEAT: Final = 0.15
LEAVE: Final = 0.05

Example = Mapping[str, Any]
Target = str | httpx.AsyncClient
Action = Literal["sign-up", "switch", "double-booking", "cancel", "leave"]
T = TypeVar("T")


class DemoError(Exception):
    """The sample is unreadable, or the API gave an answer the demo cannot go on from."""


# -- the sample programme ------------------------------------------------------------------------


def read_example(path: Path | None = None) -> dict[str, Any]:
    """``{"event": <POST /v1/events body>, "programme": <PUT .../programme body>}``."""
    path = path or EXAMPLE_FILE
    try:
        example = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DemoError(f"no sample programme at {path} (give one with --programme FILE)") from None
    except (OSError, ValueError) as error:
        raise DemoError(f"cannot read {path}: {error}") from None
    if not (
        isinstance(example, dict)
        and isinstance(example.get("event"), dict)
        and isinstance(example["event"].get("id"), str)
        and isinstance(example.get("programme"), dict)
    ):
        raise DemoError(f"{path}: expected {{'event': {{'id': ...}}, 'programme': {{...}}}}")
    return example


def event_id(example: Example) -> str:
    return str(example["event"]["id"])


def sessions(example: Example) -> list[dict[str, Any]]:
    return list(example["programme"].get("sessions", []))


def capacities(example: Example) -> dict[str, int | None]:
    """session id -> seats: its own capacity, else its room's; None when unlimited."""
    rooms = {r["id"]: r["capacity"] for r in example["programme"].get("rooms", [])}
    return {
        s["id"]: s.get("capacity") if s.get("capacity") is not None else rooms.get(s.get("room_id"))
        for s in sessions(example)
    }


def time_slots(example: Example) -> list[tuple[str, ...]]:
    """Session ids grouped into time slots (sessions that overlap, directly or through another),
    in time order; within a slot, in the order the sample lists them (the first is the headline).
    """
    listed = {s["id"]: i for i, s in enumerate(sessions(example))}
    timed = sorted(
        (
            dt.datetime.fromisoformat(s["starts_at"]),
            dt.datetime.fromisoformat(s["ends_at"]),
            s["id"],
        )
        for s in sessions(example)
    )
    slots: list[list[str]] = []
    slot_end: dt.datetime | None = None
    for starts_at, ends_at, session_id in timed:
        if slot_end is None or starts_at >= slot_end:  # half-open: 10-11 and 11-12 do not overlap
            slots.append([])
            slot_end = ends_at
        slots[-1].append(session_id)
        slot_end = max(slot_end, ends_at)
    return [tuple(sorted(slot, key=listed.__getitem__)) for slot in slots]


def participant_body(number: int) -> dict[str, Any]:
    """An invented participant: ``Deelnemer 001``, ``deelnemer001@example.org``."""
    return {
        "id": f"deelnemer-{number:03d}",
        "name": f"Deelnemer {number:03d}",
        "email": f"deelnemer{number:03d}@example.org",
    }


# -- HTTP helpers --------------------------------------------------------------------------------


@asynccontextmanager
async def _connected(target: Target) -> AsyncIterator[httpx.AsyncClient]:
    """The given client, or one of our own for a base URL (closed on the way out)."""
    if isinstance(target, httpx.AsyncClient):
        yield target
        return
    async with httpx.AsyncClient(base_url=target, timeout=TIMEOUT_S) as client:
        yield client


async def _bounded(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Await ``calls`` with at most CONCURRENCY in flight; results in their order."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _problem(answer: httpx.Response) -> str | None:
    try:
        kind = answer.json().get("type")
    except (ValueError, AttributeError):
        return None
    return kind.rsplit("/", 1)[-1] if isinstance(kind, str) else None


def _position(answer: httpx.Response) -> int:
    try:
        return int(answer.json().get("position") or 0)
    except (ValueError, AttributeError, TypeError):
        return 0


def _expect(answer: httpx.Response, status: int, doing: str) -> None:
    if answer.status_code != status:
        raise DemoError(f"could not {doing}: {answer.status_code} {answer.text[:500]}")
