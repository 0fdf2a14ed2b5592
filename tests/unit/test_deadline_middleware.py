"""The deadline middleware alone, around a plain ASGI app (tests/e2e/test_deadline.py has it in
the real app): the work outlives both the deadline and a caller that goes away, and its own
error reaches the caller when it ends in time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from registry.api.deadline import Deadline
from registry.api.problems import PROBLEM_MEDIA_TYPE

SCOPE: dict[str, Any] = {"type": "http", "method": "POST", "path": "/x"}


class Work:
    """An ASGI app that answers 200 after `seconds`, or raises."""

    def __init__(self, seconds: float, error: Exception | None = None) -> None:
        self.seconds = seconds
        self.error = error
        self.finished = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(self.seconds)
        self.finished.set()
        if self.error is not None:
            raise self.error
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done", "more_body": False})


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def collector() -> tuple[list[dict[str, Any]], Any]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    return sent, send


async def test_work_within_the_deadline_answers_as_it_would_alone() -> None:
    sent, send = collector()
    await Deadline(1.0).handle(SCOPE, receive, send, Work(0.01))  # type: ignore[arg-type]
    assert [m.get("status") for m in sent] == [200, None]
    assert sent[1]["body"] == b"done"


async def test_the_works_own_error_reaches_the_caller() -> None:
    _, send = collector()
    with pytest.raises(LookupError, match="its own"):
        await Deadline(1.0).handle(
            SCOPE,
            receive,  # type: ignore[arg-type]
            send,
            Work(0.01, LookupError("its own")),
        )


async def test_past_the_deadline_the_caller_gets_503_and_the_work_goes_on_unheard() -> None:
    sent, send = collector()
    work = Work(0.3)
    started = asyncio.get_running_loop().time()
    await Deadline(0.05).handle(SCOPE, receive, send, work)  # type: ignore[arg-type]
    assert asyncio.get_running_loop().time() - started < 0.25
    assert sent[0]["status"] == 503
    assert (b"content-type", PROBLEM_MEDIA_TYPE.encode()) in sent[0]["headers"]
    assert not work.finished.is_set()
    await asyncio.wait_for(work.finished.wait(), 2)
    await asyncio.sleep(0.01)
    assert [m.get("status") for m in sent] == [503, None]  # the late 200 went nowhere


async def test_a_caller_that_goes_away_does_not_cancel_the_work() -> None:
    sent, send = collector()
    work = Work(0.2)
    waiting = asyncio.ensure_future(Deadline(5.0).handle(SCOPE, receive, send, work))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.wait_for(work.finished.wait(), 2)
    await asyncio.sleep(0.01)
    assert [m.get("status") for m in sent] == [200, None]
