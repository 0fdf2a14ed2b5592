"""What the webhook routes do: register and delete webhooks (commands), list them and their
deliveries (reads). Every query takes the caller's organisation: another one's ids are unknown.

Webhooks are not facts of the log, but their commands honour Idempotency-Key like every other
(API.md "General"): the command's row in `commands` (its id, the body's fingerprint and the answer)
and the webhook's row are written in one transaction, the append first (append_events must be a
transaction's first write).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

import asyncpg
import msgspec

from projections.reads import NotCaughtUp
from registry.dbtypes import Connection
from registry.domain.commands import Command, Text
from registry.domain.errors import InvalidCommand
from registry.eventstore import AppendResult, EventCodec
from registry.eventstore.postgres import PostgresEventStore
from registry.eventstore.prepare import prepare
from registry.handlers.answers import encode_answer
from registry.handlers.context import Answer, CommandContext
from registry.notifications.signing import new_secret

State = Literal["pending", "delivered", "dead"]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]

INSERT_WEBHOOK: Final = """
INSERT INTO webhooks (id, organisation, url, secret, description) VALUES ($1, $2, $3, $4, $5)
"""
REVOKE_WEBHOOK: Final = """
UPDATE webhooks SET revoked_at = clock_timestamp()
 WHERE id = $1 AND organisation = $2 AND revoked_at IS NULL
RETURNING id
"""
# A deleted webhook's deliveries still waiting will not be attempted: dead, saying why.
END_PENDING: Final = """
UPDATE webhook_deliveries
   SET state = 'dead', next_attempt_at = NULL, last_error = 'webhook deleted'
 WHERE webhook_id = $1 AND state = 'pending'
"""
# Keyset pages; the cursor is the last item's id, resolved to its sort key within the
# organisation (an id of another organisation resolves to nothing: an empty page).
WEBHOOKS: Final = """
SELECT id, url, description, created_at FROM webhooks w
 WHERE w.organisation = $1 AND w.revoked_at IS NULL
   AND ($2::uuid IS NULL OR (w.created_at, w.id) >
        (SELECT c.created_at, c.id FROM webhooks c WHERE c.id = $2 AND c.organisation = $1))
 ORDER BY w.created_at, w.id
 LIMIT $3
"""
DELIVERIES: Final = """
SELECT d.delivery_id, d.webhook_id, o.type, o.event_key, o."position" AS log_position, d.state,
       d.attempts, d.last_status, d.last_error, d.next_attempt_at, d.delivered_at, d.created_at
  FROM webhook_deliveries d JOIN outbox o ON o.id = d.outbox_id
 WHERE d.organisation = $1
   AND ($2::text IS NULL OR d.state = $2)
   AND ($3::uuid IS NULL OR d.webhook_id = $3)
   AND ($4::uuid IS NULL OR (d.outbox_id, d.delivery_id) >
        (SELECT c.outbox_id, c.delivery_id FROM webhook_deliveries c
          WHERE c.delivery_id = $4 AND c.organisation = $1))
 ORDER BY d.outbox_id, d.delivery_id
 LIMIT $5
"""
# What a read reflects. The log's head behind the readers' fence (0018_log_fence.sql); for the
# deliveries, no further than the first outbox row not yet fanned out (its deliveries are still
# to come). Every outbox row at or below the head is visible: it commits with its event.
HEAD: Final = """
SELECT coalesce(max("position"), 0) FROM events WHERE transaction_id < (SELECT log_fence())
"""
FANNED_OUT: Final = f"""
SELECT least(({HEAD}), (SELECT min("position") - 1 FROM outbox WHERE fanned_out_at IS NULL))
"""

WAIT_FOR_POSITION_S: Final = 5.0


class RegisterWebhook(Command, frozen=True, kw_only=True):
    url: Url
    description: Text | None = None


class UnknownWebhook(LookupError):
    def __init__(self, webhook_id: str) -> None:
        super().__init__(f"unknown webhook: {webhook_id}")
        self.webhook_id = webhook_id


class BadCursor(InvalidCommand):
    def __init__(self) -> None:
        super().__init__("cursor is not one this list gave", field="cursor")


Write = Callable[[Connection], Awaitable[None]]


# -- commands -------------------------------------------------------------------------------------


async def register(
    pool: asyncpg.Pool, store: PostgresEventStore, ctx: CommandContext, command: RegisterWebhook
) -> tuple[Answer, AppendResult]:
    """A new webhook with a new secret, shown in this answer only (and its replays)."""
    _check_url(command.url)
    webhook_id, secret = uuid.uuid4(), new_secret()
    body = {"id": str(webhook_id), "url": command.url, "description": command.description}
    answer = Answer(201, {**body, "secret": secret})

    async def write(conn: Connection) -> None:
        await conn.execute(
            INSERT_WEBHOOK, webhook_id, ctx.organisation, command.url, secret, command.description
        )

    return answer, await _record(pool, store, ctx, answer, write)


async def delete(
    pool: asyncpg.Pool, store: PostgresEventStore, ctx: CommandContext, webhook: str
) -> tuple[Answer, AppendResult]:
    """No new deliveries; those still pending end dead. Unknown (or deleted): UnknownWebhook."""
    webhook_id = _uuid(webhook)
    if webhook_id is None:
        raise UnknownWebhook(webhook)
    answer = Answer(200, {"id": str(webhook_id)})

    async def write(conn: Connection) -> None:
        if await conn.fetchval(REVOKE_WEBHOOK, webhook_id, ctx.organisation) is None:
            raise UnknownWebhook(webhook)  # rolls the command's row back with it
        await conn.execute(END_PENDING, webhook_id)

    return answer, await _record(pool, store, ctx, answer, write)


async def _record(
    pool: asyncpg.Pool, store: PostgresEventStore, ctx: CommandContext, answer: Answer, write: Write
) -> AppendResult:
    """The command's row (an append of no events) and `write`, in one transaction."""
    prepared = prepare(
        EventCodec(),
        [],
        metadata=ctx.metadata(),
        command_id=ctx.command_id,
        fingerprint=ctx.fingerprint,
        # Kept only to be replayed: a command without a key leaves no copy of a secret there.
        answer=encode_answer(answer.status, answer.body) if ctx.remembered else None,
    )
    try:
        async with pool.acquire() as conn, conn.transaction():
            result = await store.append_prepared(conn, prepared)
            if not result.replayed:
                await write(conn)
            return result
    except asyncpg.PostgresError:
        # A twin (same Idempotency-Key and body, running at the same time) recorded the command
        # first; ours stopped on its unique command id. The twin's answer stands.
        if not ctx.remembered:
            raise
        twin = await store.command_result(ctx.command_id, ctx.fingerprint)
        if twin is None:
            raise
        return twin


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 -- a port that is not a number raises here
    except ValueError:  # brackets that are not an IPv6 address, a port out of range
        usable = False
    if not usable:
        raise InvalidCommand("url must be an absolute http:// or https:// URL", field="url")


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# -- reads ----------------------------------------------------------------------------------------


async def webhooks_page(
    pool: asyncpg.Pool, organisation: str, limit: int, cursor: str | None, after: int | None
) -> tuple[dict[str, Any], str | None]:
    """`{position, items}` of the active webhooks, oldest first (no secrets), and the next
    cursor."""
    position = await _reached(pool, HEAD, after)
    async with pool.acquire() as conn:
        rows = await conn.fetch(WEBHOOKS, organisation, _cursor(cursor), limit + 1)
    items = [
        {
            "id": str(r["id"]),
            "url": r["url"],
            "description": r["description"],
            "created_at": r["created_at"].isoformat(),
        }
        for r in rows[:limit]
    ]
    return {"position": position, "items": items}, _next(items, "id", len(rows) > limit)


async def deliveries_page(
    pool: asyncpg.Pool,
    organisation: str,
    state: State | None,
    webhook: str | None,
    limit: int,
    cursor: str | None,
    after: int | None,
) -> tuple[dict[str, Any], str | None]:
    """`{position, items}` of the deliveries in log order, and the next cursor."""
    position = await _reached(pool, FANNED_OUT, after)
    webhook_id = None if webhook is None else _uuid(webhook)
    if webhook is not None and webhook_id is None:
        return {"position": position, "items": []}, None  # names no webhook of ours
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            DELIVERIES, organisation, state, webhook_id, _cursor(cursor), limit + 1
        )
    items = [_delivery(r) for r in rows[:limit]]
    return {"position": position, "items": items}, _next(items, "delivery_id", len(rows) > limit)


def _delivery(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "delivery_id": str(row["delivery_id"]),
        "webhook_id": str(row["webhook_id"]),
        "type": row["type"],
        "event_key": row["event_key"],
        "log_position": row["log_position"],
        "state": row["state"],
        "attempts": row["attempts"],
        "last_status": row["last_status"],
        "last_error": row["last_error"],
        "next_attempt_at": _iso(row["next_attempt_at"]),
        "delivered_at": _iso(row["delivered_at"]),
        "created_at": _iso(row["created_at"]),
    }


async def _reached(pool: asyncpg.Pool, sql: str, after: int | None) -> int:
    """The position `sql` gives, once it is at least `after` (up to 5 s, then NotCaughtUp)."""
    deadline = time.monotonic() + WAIT_FOR_POSITION_S
    while True:
        async with pool.acquire() as conn:
            position = int(await conn.fetchval(sql))
        if after is None or position >= after:
            return position
        if time.monotonic() > deadline:
            raise NotCaughtUp(after)
        await asyncio.sleep(0.02)


def _cursor(cursor: str | None) -> uuid.UUID | None:
    if cursor is None:
        return None
    parsed = _uuid(cursor)
    if parsed is None:
        raise BadCursor()
    return parsed


def _next(items: list[dict[str, Any]], key: str, more: bool) -> str | None:
    return str(items[-1][key]) if more and items else None


def _iso(moment: Any) -> str | None:
    return None if moment is None else str(moment.isoformat())
