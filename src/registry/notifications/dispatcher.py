"""The webhook dispatcher: a background task of every API worker (started by the app's lifespan).

Each round it fans new outbox rows out into deliveries, then claims as many due deliveries as it
has free request slots and sends each in a task of its own, so that a slow or dead receiver holds
only its own slots (its requests time out after `timeout_s`) and never the others' deliveries.
A 2xx answer marks a delivery delivered; anything else (another status, a refused connection, a
timeout) schedules the next attempt after an exponential backoff with full jitter, and the
`max_attempts`-th failure marks it dead. Rounds run every `poll_interval_s`, and at once when a
request finishes or a round found more work than it could take.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import asyncpg
import httpx

from registry.notifications import outbox
from registry.notifications.outbox import Claimed
from registry.notifications.signing import signature
from registry.settings import Settings

DELIVERY_HEADER: Final = "Registry-Delivery"
TIMESTAMP_HEADER: Final = "Registry-Timestamp"
SIGNATURE_HEADER: Final = "Registry-Signature"
USER_AGENT: Final = "registry-webhooks/1"

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    poll_interval_s: float = 0.5
    timeout_s: float = 5.0
    retry_base_s: float = 2.0
    retry_cap_s: float = 3600.0
    max_attempts: int = 12
    #: Requests in flight per dispatcher, and per webhook.
    concurrency: int = 32
    per_webhook: int = 4
    #: Outbox rows fanned out per statement.
    fan_out_batch: int = 500

    @classmethod
    def from_settings(cls, settings: Settings) -> DispatchSettings:
        return cls(
            poll_interval_s=settings.webhook_poll_interval_s,
            timeout_s=settings.webhook_timeout_s,
            retry_base_s=settings.webhook_retry_base_s,
            retry_cap_s=settings.webhook_retry_cap_s,
            max_attempts=settings.webhook_max_attempts,
        )

    @property
    def lease_s(self) -> float:
        """How long a claimed delivery is not claimed again: well past its request's timeout, so
        only a dispatcher that died mid-request lets it be taken over."""
        return 2 * self.timeout_s + 10


def backoff(
    attempt: int, base_s: float, cap_s: float, draw: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): full jitter, uniform in
    [0, min(cap, base * 2 ** (attempt - 1))], so receivers recovering from an outage are not hit by
    every sender's retries at the same moment."""
    ceiling = min(cap_s, base_s * 2.0 ** min(attempt - 1, 62))
    return draw() * ceiling


class Dispatcher:
    def __init__(self, pool: asyncpg.Pool, settings: DispatchSettings) -> None:
        self._pool = pool
        self._settings = settings
        self._wake = asyncio.Event()
        #: Requests in flight, with the webhook each is for.
        self._in_flight: dict[asyncio.Task[None], uuid.UUID] = {}

    async def run(self) -> None:
        """Deliver until cancelled; a round that fails (the database away) is tried again."""
        timeout = httpx.Timeout(self._settings.timeout_s)
        limits = httpx.Limits(max_connections=self._settings.concurrency)
        # Redirects are not followed: a receiver answers at the URL it registered.
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
            try:
                while True:
                    self._wake.clear()
                    try:
                        await self.round(client)
                    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                        _log.warning("webhook dispatch round failed; retrying", exc_info=True)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._settings.poll_interval_s):
                            await self._wake.wait()
            finally:
                # Cancelled requests keep their lease and are retried once it has run out.
                tasks = list(self._in_flight)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def round(self, client: httpx.AsyncClient) -> None:
        """Fan out everything new, then start requests for the due deliveries that fit."""
        settings = self._settings
        async with self._pool.acquire() as conn:
            while await outbox.fan_out(conn, settings.fan_out_batch) == settings.fan_out_batch:
                pass
            free = settings.concurrency - len(self._in_flight)
            if free <= 0:
                return
            busy = sorted(set(self._in_flight.values()))
            claimed = await outbox.claim(conn, free, settings.per_webhook, busy, settings.lease_s)
        for delivery in claimed:
            task = asyncio.create_task(self._attempt(client, delivery), name="webhook-delivery")
            self._in_flight[task] = delivery.webhook_id
            task.add_done_callback(self._done)
        if len(claimed) == free:
            self._wake.set()  # there may be more due than there were slots

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        if not task.cancelled() and (error := task.exception()) is not None:
            _log.warning("webhook delivery not recorded; its lease will retry it", exc_info=error)
        self._wake.set()

    async def _attempt(self, client: httpx.AsyncClient, claimed: Claimed) -> None:
        if claimed.revoked:  # deleted after the claim's fan-out saw it active
            async with self._pool.acquire() as conn:
                await outbox.failed(conn, claimed, None, "webhook deleted", None)
            return
        status, error = await self._send(client, claimed)
        async with self._pool.acquire() as conn:
            if status is not None and 200 <= status < 300:
                await outbox.delivered(conn, claimed, status)
                return
            retry_in: float | None = None
            if claimed.attempt < self._settings.max_attempts:
                retry_in = backoff(
                    claimed.attempt, self._settings.retry_base_s, self._settings.retry_cap_s
                )
            await outbox.failed(conn, claimed, status, error or f"HTTP {status}", retry_in)

    async def _send(self, client: httpx.AsyncClient, claimed: Claimed) -> tuple[int | None, str]:
        """POST once: the status (None when there was no answer) and what went wrong, if
        anything. The answer's body is not read."""
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: str(claimed.delivery_id),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(claimed.secret, timestamp, claimed.notification),
        }
        try:
            # httpx's timeout bounds each read; this bounds the whole exchange (a trickling
            # receiver would otherwise hold the slot for as long as it likes).
            async with asyncio.timeout(self._settings.timeout_s):
                request = client.build_request(
                    "POST", claimed.url, content=claimed.notification, headers=headers
                )
                response = await client.send(request, stream=True)
                await response.aclose()
        except TimeoutError:
            return None, f"no answer within {self._settings.timeout_s:g} s"
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as error:
            return None, f"{type(error).__name__}: {error}"
        return response.status_code, ""
