"""The dispatcher's SQL: outbox rows fanned out into deliveries, deliveries claimed and settled.

Every step is safe with several dispatchers (one per API worker) on one database: fan-out and
claims lock their rows with FOR UPDATE SKIP LOCKED, so two dispatchers take disjoint rows and
never wait for each other; a claim moves the delivery's `next_attempt_at` on by a lease, so it is
not claimed again while its request runs, and is retried if the dispatcher dies mid-request
(at least once; the delivery id lets the receiver drop the repeat).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import msgspec

from registry.dbtypes import Connection

# One batch of outbox rows, each into one delivery per active webhook of its organisation, then
# marked. Rows of transactions still open are not visible yet; they are taken by a later poll.
FAN_OUT: Final = """
WITH batch AS (
    SELECT id, organisation FROM outbox
     WHERE fanned_out_at IS NULL
     ORDER BY "position"
     LIMIT $1
       FOR UPDATE SKIP LOCKED
), fanned AS (
    INSERT INTO webhook_deliveries (outbox_id, webhook_id, organisation)
    SELECT b.id, w.id, b.organisation
      FROM batch b JOIN webhooks w ON w.organisation = b.organisation AND w.revoked_at IS NULL
    ON CONFLICT (outbox_id, webhook_id) DO NOTHING
    RETURNING delivery_id
), marked AS (
    UPDATE outbox o SET fanned_out_at = clock_timestamp() FROM batch b WHERE o.id = b.id
    RETURNING o.id
)
SELECT (SELECT count(*) FROM marked) AS rows, (SELECT count(*) FROM fanned) AS deliveries
"""

# Due deliveries, at most $2 per webhook (so one receiver with a backlog cannot take every slot),
# none of the webhooks in $3 (those this dispatcher has requests in flight for), $1 in all; each
# counted as an attempt and leased for $4 seconds.
CLAIM: Final = """
WITH due AS (
    SELECT d.delivery_id FROM webhook_deliveries d
     WHERE d.state = 'pending' AND d.next_attempt_at <= clock_timestamp()
       AND d.delivery_id IN (
           SELECT r.delivery_id FROM (
               SELECT delivery_id,
                      row_number() OVER (PARTITION BY webhook_id
                                         ORDER BY next_attempt_at, delivery_id) AS n
                 FROM webhook_deliveries
                WHERE state = 'pending' AND next_attempt_at <= clock_timestamp()
                  AND NOT (webhook_id = ANY ($3::uuid[]))
           ) r
            WHERE r.n <= $2)
     ORDER BY d.next_attempt_at
     LIMIT $1
       FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d
   SET attempts = d.attempts + 1,
       next_attempt_at = clock_timestamp() + make_interval(secs => $4::float8)
  FROM due, webhooks w, outbox o
 WHERE d.delivery_id = due.delivery_id AND w.id = d.webhook_id AND o.id = d.outbox_id
RETURNING d.delivery_id, d.webhook_id, d.attempts, w.url, w.secret,
          w.revoked_at IS NOT NULL AS revoked, o.type, o.organisation, o.event_key, o."position",
          o.recorded_at, o.data::text AS data
"""

# An outcome is recorded only by the attempt that claimed it (`attempts` unchanged since): if a
# lease ran out and another dispatcher took the delivery over, the later attempt's word counts.
DELIVERED: Final = """
UPDATE webhook_deliveries
   SET state = 'delivered', delivered_at = clock_timestamp(), next_attempt_at = NULL,
       last_status = $3, last_error = NULL
 WHERE delivery_id = $1 AND attempts = $2 AND state = 'pending'
"""
RETRY: Final = """
UPDATE webhook_deliveries
   SET next_attempt_at = clock_timestamp() + make_interval(secs => $5::float8),
       last_status = $3, last_error = $4
 WHERE delivery_id = $1 AND attempts = $2 AND state = 'pending'
"""
DEAD: Final = """
UPDATE webhook_deliveries
   SET state = 'dead', next_attempt_at = NULL, last_status = $3, last_error = $4
 WHERE delivery_id = $1 AND attempts = $2 AND state = 'pending'
"""

#: Longest `last_error` kept.
MAX_ERROR_LENGTH: Final = 500


@dataclass(frozen=True, slots=True)
class Claimed:
    """One delivery to attempt now."""

    delivery_id: uuid.UUID
    webhook_id: uuid.UUID
    attempt: int
    url: str
    secret: str
    revoked: bool
    notification: bytes  # the request body, the same bytes on every attempt


class Notification(msgspec.Struct, frozen=True):
    """The request body (docs/api-additions.md, "Notifications (webhooks)")."""

    delivery_id: uuid.UUID
    type: str
    organisation: str
    event_id: str
    event_key: str
    position: int
    recorded_at: dt.datetime
    data: msgspec.Raw


_encoder = msgspec.json.Encoder()


async def fan_out(conn: Connection, batch: int) -> int:
    """Fan one batch out; the number of outbox rows taken (fewer than `batch`: none left)."""
    row = await conn.fetchrow(FAN_OUT, batch)
    assert row is not None
    return int(row["rows"])


async def claim(
    conn: Connection, limit: int, per_webhook: int, busy: Sequence[uuid.UUID], lease_s: float
) -> list[Claimed]:
    rows = await conn.fetch(CLAIM, limit, per_webhook, list(busy), lease_s)
    return [
        Claimed(
            delivery_id=row["delivery_id"],
            webhook_id=row["webhook_id"],
            attempt=row["attempts"],
            url=row["url"],
            secret=row["secret"],
            revoked=row["revoked"],
            notification=_encoder.encode(
                Notification(
                    delivery_id=row["delivery_id"],
                    type=row["type"],
                    organisation=row["organisation"],
                    event_id=row["event_key"].partition(":")[2],
                    event_key=row["event_key"],
                    position=row["position"],
                    recorded_at=row["recorded_at"],
                    data=msgspec.Raw(row["data"].encode()),
                )
            ),
        )
        for row in rows
    ]


async def delivered(conn: Connection, claimed: Claimed, status: int) -> None:
    await conn.execute(DELIVERED, claimed.delivery_id, claimed.attempt, status)


async def failed(
    conn: Connection,
    claimed: Claimed,
    status: int | None,
    error: str,
    retry_in_s: float | None,
) -> None:
    """Schedule the next attempt in `retry_in_s` seconds, or (None) mark the delivery dead."""
    error = error[:MAX_ERROR_LENGTH]
    if retry_in_s is None:
        await conn.execute(DEAD, claimed.delivery_id, claimed.attempt, status, error)
    else:
        await conn.execute(RETRY, claimed.delivery_id, claimed.attempt, status, error, retry_in_s)
