"""Who is calling: the organisation and role of the API key a request came with.

A key sees only its organisation (API.md, "General"). The rule is kept by construction, not by
checks scattered through handlers: code below the HTTP layer never looks anything up by a bare
client-chosen id, it always takes the caller's organisation with it.

- Stream ids: built only by :mod:`registry.domain.streams`, which takes the organisation first:
  ``event_stream(principal.organisation, event_id)`` -> ``event-acme:spring-fest``. Two
  organisations may both have an event ``spring-fest``; their streams differ, and each key can
  name only its own.
- Redis keys of the capacity gate: the hash tag is the same ``<organisation>:<event>``.
- Read models: every table keys its rows by organisation first, and every query filters on
  ``principal.organisation``.

Another organisation's id then simply does not exist for the caller and answers 404
``not-found``, as API.md asks (never 403, which would confirm that the id exists).

This module imports nothing of the HTTP layer, so domain and handler code may use it freely.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal, get_args
from uuid import UUID

import msgspec

Role = Literal["organiser", "form", "auditor"]

#: Every role, in the order they are listed to people.
ROLES: Final[tuple[Role, ...]] = get_args(Role)


class Principal(msgspec.Struct, frozen=True):
    """The caller, as resolved from its API key. Handlers get it as the ``principal`` dependency
    (:func:`registry.auth.guards.provide_principal`)."""

    organisation: str
    role: Role
    key_id: UUID
    #: When the key stops working (None: never); the principal cache keeps no entry past it.
    expires_at: dt.datetime | None = None
