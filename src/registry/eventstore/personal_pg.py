"""Personal data on PostgreSQL: `participant_details` and `organisation_secrets` (migrations
0040-0042), written in the transaction of the append they go with (see `append_row`)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any, Final

import asyncpg

from registry.dbtypes import Connection
from registry.eventstore.errors import InvalidAppend
from registry.eventstore.personal import (
    EMAIL_KEY_BYTES,
    DetailsErased,
    ParticipantDetails,
    PersonalWrite,
)

INSERT_DETAILS: Final = """
INSERT INTO participant_details (organisation, event_id, participant_id, name, email,
                                 organisation_name)
VALUES ($1, $2, $3, $4, $5, $6)
"""
# An upsert: a participant registered before details were kept apart (migrations/0041 found no
# row for them) gets a tombstone too. A second erasure keeps the first one's time.
ERASE_DETAILS: Final = """
INSERT INTO participant_details AS d (organisation, event_id, participant_id, erased_at)
VALUES ($1, $2, $3, clock_timestamp())
ON CONFLICT (organisation, event_id, participant_id) DO UPDATE
   SET name = NULL, email = NULL, organisation_name = NULL,
       erased_at = coalesce(d.erased_at, EXCLUDED.erased_at)
"""
DETAILS: Final = """
SELECT name, email, organisation_name, erased_at FROM participant_details
 WHERE organisation = $1 AND event_id = $2 AND participant_id = $3
"""
# Two statements, not one: a key another process inserted after this statement's snapshot was
# taken is invisible to a SELECT inside the same statement.
MAKE_EMAIL_KEY: Final = """
INSERT INTO organisation_secrets (organisation, email_key) VALUES ($1, $2)
ON CONFLICT (organisation) DO NOTHING
"""
EMAIL_KEY: Final = "SELECT email_key FROM organisation_secrets WHERE organisation = $1"
DETAILS_PKEY: Final = "participant_details_pkey"


async def append_row(
    conn: Connection, append: str, arguments: Sequence[Any], personal: Sequence[PersonalWrite]
) -> asyncpg.Record | None:
    """append_events' row; with personal data, that data is written after it in the same
    transaction (append_events must be a transaction's first write), and only if the append
    wrote (a replayed command writes no details twice). Inside a transaction already (the gate
    fence's), this one is a savepoint: a refusal undoes the append and the details together."""
    if not personal:
        return await conn.fetchrow(append, *arguments)
    async with conn.transaction():
        row = await conn.fetchrow(append, *arguments)
        if row is not None and not row["replayed"]:
            await _write(conn, personal)
    return row


async def _write(conn: Connection, personal: Sequence[PersonalWrite]) -> None:
    for kept in personal:
        key = (kept.organisation, kept.event_id, kept.participant_id)
        if isinstance(kept, DetailsErased):
            await conn.execute(ERASE_DETAILS, *key)
            continue
        try:
            await conn.execute(INSERT_DETAILS, *key, kept.name, kept.email, kept.organisation_name)
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name != DETAILS_PKEY:
                raise
            raise InvalidAppend("personal data of this participant is kept already") from None


class PostgresPersonalData:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        #: Keys never change once made (migrations/0042), so each is read once per process.
        self._email_keys: dict[str, bytes] = {}

    async def details(
        self, organisation: str, event_id: str, participant_id: str
    ) -> ParticipantDetails | DetailsErased | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(DETAILS, organisation, event_id, participant_id)
        if row is None:
            return None
        if row["erased_at"] is not None:
            return DetailsErased(
                organisation=organisation, event_id=event_id, participant_id=participant_id
            )
        return ParticipantDetails(
            organisation=organisation,
            event_id=event_id,
            participant_id=participant_id,
            name=row["name"],
            email=row["email"],
            organisation_name=row["organisation_name"],
        )

    async def email_key(self, organisation: str) -> bytes:
        known = self._email_keys.get(organisation)
        if known is not None:
            return known
        async with self._pool.acquire() as conn:
            await conn.execute(MAKE_EMAIL_KEY, organisation, secrets.token_bytes(EMAIL_KEY_BYTES))
            key: bytes = await conn.fetchval(EMAIL_KEY, organisation)
        self._email_keys[organisation] = key
        return key
