"""A form backend as API.md expects one to behave under faults: every command carries an
Idempotency-Key, and a 5xx, a 429 or a broken connection is retried with the same key and body,
after the answer's Retry-After (or a short backoff), for a bounded time.

Each command keeps what happened to it (attempts, statuses, the final answer), so that a test
can count what was acknowledged, refused, retried and failed, and check each answer against the
log afterwards.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from tests.support.api import Api

#: How long a command is retried before the client gives up on it: longer than a hold lives
#: (30 s) plus a reconcile interval, after which a participant left busy by a dead process is
#: free again.
GIVE_UP_AFTER_S: Final = 45.0
#: One attempt's timeout: above the server's request deadline (10 s), which answers 503 first.
ATTEMPT_TIMEOUT_S: Final = 15.0
FIRST_BACKOFF_S: Final = 0.05
MAX_BACKOFF_S: Final = 1.0
#: A Retry-After is honoured up to this (a test must not sleep for minutes on a bad header).
MAX_RETRY_AFTER_S: Final = 3.0
UNAVAILABLE: Final = "/problems/unavailable"


@dataclass
class Command:
    kind: str  # "sign-up", "cancel"
    participant: str
    session: str
    method: str
    path: str
    body: dict[str, Any] | None
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    attempts: int = 0
    #: Every status answered, in order; 0 for an attempt that got no answer (a broken connection).
    statuses: list[int] = field(default_factory=list)
    #: The final answer (not 5xx, not 429): status, body, whether it was a replay.
    status: int | None = None
    answer: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False
    #: Answers that broke the contract: a 500, a 503 that is not problem+json `unavailable` with
    #: Retry-After.
    violations: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retried(self) -> bool:
        return self.attempts > 1

    @property
    def position(self) -> int:
        return int(self.answer["position"])


def sign_up(event: str, participant: str, session: str) -> Command:
    path = f"/v1/events/{event}/participants/{participant}/signups"
    return Command("sign-up", participant, session, "POST", path, {"session_id": session})


def cancel(event: str, participant: str, session: str) -> Command:
    path = f"/v1/events/{event}/participants/{participant}/signups/{session}"
    return Command("cancel", participant, session, "DELETE", path, None)


async def send(api: Api, command: Command, give_up_after_s: float = GIVE_UP_AFTER_S) -> None:
    """Send until a final answer (anything but 5xx and 429) or until giving up."""
    headers = {**api.as_("form"), "Idempotency-Key": command.key}
    started, backoff = time.monotonic(), FIRST_BACKOFF_S
    while True:
        command.attempts += 1
        wait = backoff
        try:
            answer = await api.client.request(
                command.method,
                command.path,
                json=command.body,
                headers=headers,
                timeout=ATTEMPT_TIMEOUT_S,
            )
        except httpx.TransportError:
            command.statuses.append(0)
        else:
            command.statuses.append(answer.status_code)
            if answer.status_code < 500 and answer.status_code != 429:
                command.status = answer.status_code
                command.answer = answer.json()
                command.replayed = answer.headers.get("Idempotent-Replayed") == "true"
                return
            wait = max(wait, _retry_after(command, answer))
        if time.monotonic() - started > give_up_after_s:
            return
        await asyncio.sleep(wait * random.uniform(1.0, 1.25))  # spread the retries out
        backoff = min(backoff * 2, MAX_BACKOFF_S)


def _retry_after(command: Command, answer: httpx.Response) -> float:
    """The answer's Retry-After, noting what in a 5xx breaks the contract."""
    retry_after = answer.headers.get("Retry-After")
    if answer.status_code == 503:
        kind = answer.json().get("type") if _is_problem(answer) else None
        if kind != UNAVAILABLE or retry_after is None:
            command.violations.append(f"503 {kind} Retry-After={retry_after}: {answer.text[:200]}")
    else:
        command.violations.append(f"{answer.status_code}: {answer.text[:200]}")
    try:
        return min(float(retry_after or 0), MAX_RETRY_AFTER_S)
    except ValueError:
        return 0.0


def _is_problem(answer: httpx.Response) -> bool:
    return answer.headers.get("content-type", "").startswith("application/problem+json")


@dataclass
class Tally:
    commands: list[Command] = field(default_factory=list)

    @property
    def acknowledged(self) -> list[Command]:
        return [c for c in self.commands if c.acknowledged]

    @property
    def answered(self) -> int:
        return sum(1 for c in self.commands if c.status is not None)

    def counts(self) -> dict[str, int]:
        seen = Counter(s for c in self.commands for s in c.statuses if s >= 500 or s == 0)
        return {
            "commands": len(self.commands),
            "acknowledged": len(self.acknowledged),
            "refused": sum(1 for c in self.commands if c.status is not None and c.status >= 400),
            "retried": sum(1 for c in self.commands if c.retried),
            "replayed": sum(1 for c in self.commands if c.replayed),
            "failed": sum(1 for c in self.commands if c.status is None),
            "503s": seen[503],
            "other 5xx": sum(n for s, n in seen.items() if s >= 500 and s != 503),
            "broken connections": seen[0],
        }

    def violations(self) -> list[str]:
        return [
            f"{c.kind} {c.participant} {c.session}: {v}"
            for c in self.commands
            for v in c.violations
        ]
