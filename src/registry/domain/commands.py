"""Every intent a caller can send: one Struct per command, named in the imperative.

These are also the HTTP request bodies (API.md), decoded strictly by msgspec: a wrong type is a
422, never coerced. Shapes are checked here (slugs, lengths, bounds); rules that need state are
checked by the domain functions that decide.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from registry.domain.events import Mode

#: Ids chosen by clients (API.md "General").
Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
LongText = Annotated[str, msgspec.Meta(max_length=10_000)]
Seats = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$", max_length=320)]


class Command(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base: unknown fields are refused (a typo must not be silently ignored)."""


class CreateEvent(Command, frozen=True, kw_only=True):
    id: Slug
    title: Text
    timezone: Text
    date: dt.date
    end_date: dt.date | None = None
    venue: Text | None = None


class AddRoom(Command, frozen=True, kw_only=True):
    id: Slug
    name: Text
    capacity: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    location: Text | None = None


class ScheduleSession(Command, frozen=True, kw_only=True):
    id: Slug
    title: Text
    starts_at: dt.datetime
    ends_at: dt.datetime
    room_id: Slug | None = None
    capacity: Seats | None = None
    mode: Mode = "in_person"
    waitlist: bool = True
    hosts: Annotated[list[Text], msgspec.Meta(max_length=50)] = []
    description: LongText | None = None


class ReplaceProgramme(Command, frozen=True, kw_only=True):
    # Bounds on the lists too (docs/security.md, "Limits"), far above any real programme.
    rooms: Annotated[list[AddRoom], msgspec.Meta(max_length=1000)] = []
    sessions: Annotated[list[ScheduleSession], msgspec.Meta(max_length=2000)] = []


class RegisterParticipant(Command, frozen=True, kw_only=True):
    id: Slug | None = None
    name: Text
    email: Email
    organisation: Text | None = None
    role: Text | None = None


class SignUp(Command, frozen=True, kw_only=True):
    session_id: Slug
    replaces: Slug | None = None


class SubmitRegistration(Command, frozen=True, kw_only=True):
    """A whole form in one command: the participant and their sessions."""

    participant: RegisterParticipant
    session_ids: Annotated[list[Slug], msgspec.Meta(max_length=100)]


# -- organisers' changes to seat-bearing sessions and to the whole event ------------------------


class PatchSession(Command, frozen=True, kw_only=True):
    """Only the fields sent change; `room_id` and `capacity` may be sent as null (no room;
    unlimited, online only)."""

    title: Text | msgspec.UnsetType = msgspec.UNSET
    starts_at: dt.datetime | msgspec.UnsetType = msgspec.UNSET
    ends_at: dt.datetime | msgspec.UnsetType = msgspec.UNSET
    room_id: Slug | msgspec.UnsetType | None = msgspec.UNSET
    capacity: Seats | msgspec.UnsetType | None = msgspec.UNSET
    mode: Mode | msgspec.UnsetType = msgspec.UNSET


class CancelSession(Command, frozen=True, kw_only=True):
    reason: Text


class MergeSessions(Command, frozen=True, kw_only=True):
    into: Slug


class CancelEvent(Command, frozen=True, kw_only=True):
    reason: Text


class GoOnline(Command, frozen=True, kw_only=True):
    reason: Text
    capacity: Seats | None = None


class CloseRegistration(Command, frozen=True, kw_only=True):
    """Without `at`, close now; with a time still to come, close by itself then (a time passed
    closes now)."""

    at: dt.datetime | None = None
