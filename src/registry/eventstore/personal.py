"""Personal data, kept beside the log and never in it (DESIGN.md section 4).

A participant's name, e-mail and organisation are written by the event store in the same
transaction as the append that registers them (EventStore.append's `personal`), so there is
never a registered participant without details, nor details without a registration. Erasing
them is another such write, appended with its PersonalDataErased fact: the details are replaced
by a tombstone holding no personal data, and the log, which never held them, stays as it is.
Reads take names from here when they answer, so an erasure shows at once everywhere.

The organisation's e-mail key (the HMAC secret of `email-...` stream ids) lives here too: in the
database, never in the log. Erasing a participant keeps it, since uniqueness must keep working.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Final, Protocol

import msgspec

from registry.eventstore.errors import InvalidAppend

EMAIL_KEY_BYTES: Final = 32


class ParticipantDetails(msgspec.Struct, frozen=True, kw_only=True):
    """Who a participant is. `organisation` is the tenant; `organisation_name` is what the
    participant gave as theirs."""

    organisation: str
    event_id: str
    participant_id: str
    name: str
    email: str
    organisation_name: str | None = None


class DetailsErased(msgspec.Struct, frozen=True, kw_only=True):
    """A participant whose details were erased: written to erase them, read back as what is
    kept in their place."""

    organisation: str
    event_id: str
    participant_id: str


#: A write of personal data with an append: a new participant's details, or their erasure.
PersonalWrite = ParticipantDetails | DetailsErased

Key = tuple[str, str, str]


def key_of(kept: PersonalWrite) -> Key:
    return kept.organisation, kept.event_id, kept.participant_id


class PersonalData(Protocol):
    async def details(
        self, organisation: str, event_id: str, participant_id: str
    ) -> ParticipantDetails | DetailsErased | None:
        """What is kept for a participant: their details, the tombstone of an erasure, or None
        (no such participant, or one registered before details were kept apart)."""
        ...

    async def email_key(self, organisation: str) -> bytes:
        """The organisation's secret for e-mail digests, made on first use, never changed."""
        ...


class MemoryPersonalData:
    """The memory adapter's personal data: MemoryEventStore checks and writes it under its
    append lock, so it is exactly as atomic with the append as in PostgreSQL."""

    def __init__(self) -> None:
        self._kept: dict[Key, PersonalWrite] = {}
        self._keys: dict[str, bytes] = {}

    def check(self, writes: Sequence[PersonalWrite]) -> None:
        """Refuse, before anything is written, details for a participant that has some (the
        primary key of `participant_details` in PostgreSQL)."""
        new = [key_of(w) for w in writes if isinstance(w, ParticipantDetails)]
        if len(set(new)) != len(new) or any(key in self._kept for key in new):
            raise InvalidAppend("personal data of this participant is kept already")

    def write(self, writes: Sequence[PersonalWrite]) -> None:
        # An erasure leaves its tombstone (as the upsert in PostgreSQL), even for a participant
        # registered before details were kept apart.
        for kept in writes:
            self._kept[key_of(kept)] = kept

    async def details(
        self, organisation: str, event_id: str, participant_id: str
    ) -> ParticipantDetails | DetailsErased | None:
        return self._kept.get((organisation, event_id, participant_id))

    async def email_key(self, organisation: str) -> bytes:
        return self._keys.setdefault(organisation, secrets.token_bytes(EMAIL_KEY_BYTES))
