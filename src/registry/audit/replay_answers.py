"""The organisers' reads (API.md "Reads") answered from a replayed state (replay_fold.py) rather
than from the read models: the same shapes, order and keyset pages as projections/reads.py, with
`position` the position asked for. Pure: no I/O.

Lists are built whole and then paged with the live reads' keys (rooms by id, attendees by the
position their seat was given, waitlists by ticket, conflicts by participant id), so a `cursor`
means the same thing to both. Ids are compared by code point, as the database's C collation
does (docs/decisions.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from projections.reads import Page, UnknownEvent, UnknownSession
from registry.audit.replay_fold import Replayed
from registry.domain.programme import Programme, Session
from registry.domain.seating import Seating, SessionSeats, chronological

K = TypeVar("K", str, int)
#: Participant -> (name, erased), from participant_details as the live reads take them when
#: they answer (the name None once erased; no row: None, False).
Details = Mapping[str, tuple[str | None, bool]]
Listed = tuple[dict[str, Any], str | None]
#: Participant -> the seats they hold, earliest first (`held_by`).
HeldBy = Mapping[str, Sequence[SessionSeats]]


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def held_by(seating: Seating) -> HeldBy:
    """Each holder's seats, earliest first (as `Seating.seats_of` gives them), in one pass over
    the sessions. Asking the seating for each one's seats looks at every session once per
    participant: `registry verify` of a 10,000-session event with 4,000 people spent a quarter of
    its time there (bench/README.md, 2026-12-07)."""
    held: dict[str, list[SessionSeats]] = {}
    for seats in sorted(seating.sessions.values(), key=chronological):
        for who in seats.seated:
            held.setdefault(who, []).append(seats)
    return held


def programme_of(state: Replayed) -> Programme:
    if state.programme is None:
        raise UnknownEvent(state.event_id)  # not created yet at that position
    return state.programme


def _chronological(state: Replayed) -> list[Session]:
    return sorted(programme_of(state).sessions.values(), key=lambda s: (s.starts_at, s.session_id))


def _session(state: Replayed, session_id: str) -> Session:
    found = programme_of(state).sessions.get(session_id)
    if found is None:
        raise UnknownSession(session_id)
    return found


def _paged(rows: Sequence[tuple[K, dict[str, Any]]], after: K, page: Page, position: int) -> Listed:
    """Keyset paging as the live reads do it: the items after `after`, at most `page.limit`,
    and the key of the last one shown when more follow."""
    found = [(key, item) for key, item in rows if key > after]
    shown = found[: page.limit]
    more = str(shown[-1][0]) if len(found) > page.limit else None
    return {"position": position, "items": [item for _, item in shown]}, more


def _who(details: Details, participant_id: str) -> dict[str, Any]:
    name, erased = details.get(participant_id, (None, False))
    return {"name": name, "erased": erased}


def _int_cursor(page: Page) -> int:
    try:
        return int(page.cursor) if page.cursor else 0
    except ValueError:
        return 0


# -- the reads ----------------------------------------------------------------------------------


def occupancy(state: Replayed, position: int) -> dict[str, Any]:
    items = []
    for s in _chronological(state):
        seats = state.seating.sessions[s.session_id]
        seated = len(seats.seated)
        items.append(
            {
                "session_id": s.session_id,
                "title": s.title,
                "room_id": s.room_id,
                "starts_at": _utc(s.starts_at),
                "ends_at": _utc(s.ends_at),
                "capacity": s.capacity,
                "seated": seated,
                "waitlisted": len(seats.waiting),
                "free": None if s.capacity is None else max(0, s.capacity - seated),
                "over_capacity": 0 if s.capacity is None else max(0, seated - s.capacity),
                "state": s.state,
            }
        )
    return {"position": position, "sessions": items}


def rooms(state: Replayed, position: int, page: Page) -> Listed:
    # Each room's sessions gathered in one pass (chronological within a room): a scan of every
    # session per room took 27 % of `verify` for 2,500 rooms and 10,000 sessions.
    in_room: dict[str | None, list[Session]] = {}
    for s in _chronological(state):
        if s.state == "open":  # a cancelled or merged session no longer uses its room
            in_room.setdefault(s.room_id, []).append(s)
    rows = [
        (
            r.room_id,
            {
                "room_id": r.room_id,
                "name": r.name,
                "capacity": r.capacity,
                "ranges": [
                    {
                        "starts_at": _utc(s.starts_at),
                        "ends_at": _utc(s.ends_at),
                        "session_id": s.session_id,
                        "capacity": s.capacity,
                        "seated": len(state.seating.sessions[s.session_id].seated),
                    }
                    for s in in_room.get(r.room_id, ())
                ],
            },
        )
        for r in sorted(programme_of(state).rooms.values(), key=lambda r: r.room_id)
    ]
    return _paged(rows, page.cursor or "", page, position)


def attendees(
    state: Replayed, position: int, session_id: str, page: Page, details: Details
) -> Listed:
    _session(state, session_id)
    rows = [
        (
            seated_position,
            {
                "participant_id": who,
                **_who(details, who),
                "seated_at": _utc(seated_at),
            },
        )
        for who, (seated_at, seated_position) in state.attendees(session_id)
    ]
    return _paged(rows, _int_cursor(page), page, position)


def waitlist(
    state: Replayed,
    position: int,
    session_id: str,
    page: Page,
    details: Details,
    held: HeldBy | None = None,
) -> Listed:
    """`held`: `held_by(state.seating)`, for a caller that reads every waitlist of the state
    (without it each person waiting is looked for in every session)."""
    _session(state, session_id)
    seating = state.seating
    seats = seating.sessions[session_id]
    rows = []
    for place, who in enumerate(seats.queue(), start=1):
        fallbacks = seating.fallbacks(who, session_id, None if held is None else held.get(who, ()))
        item = {
            "participant_id": who,
            **_who(details, who),
            "waitlist_position": place,
            "fallback_session_id": fallbacks[0] if fallbacks else None,
            "fallback_session_ids": fallbacks,
        }
        rows.append((seats.waiting[who].ticket, item))
    return _paged(rows, _int_cursor(page), page, position)


def conflicts(state: Replayed, position: int, page: Page, details: Details) -> Listed:
    programme_of(state)
    holders = held_by(state.seating)
    rows = []
    for who in sorted(holders):
        held = holders[who]
        clashing = {x.session_id for x in held for y in held if x is not y and x.overlaps(y)}
        if clashing:
            ordered = [x.session_id for x in held if x.session_id in clashing]
            item = {"participant_id": who, **_who(details, who), "session_ids": ordered}
            rows.append((who, item))
    return _paged(rows, page.cursor or "", page, position)


def everything(state: Replayed, details: Details, page_size: int) -> dict[str, Any]:
    """Every read's items at once (positions left out): what the read models must answer.
    Lists longer than `page_size` are cut there, as one page of the live reads is."""
    first = Page(page_size)
    sessions = [s.session_id for s in _chronological(state)]
    held = held_by(state.seating)

    def items(listed: Callable[..., Listed], *args: Any) -> list[dict[str, Any]]:
        answer, _ = listed(state, state.position, *args)
        found: list[dict[str, Any]] = answer["items"]
        return found

    return {
        "occupancy": occupancy(state, state.position)["sessions"],
        "rooms": items(rooms, first),
        "attendees": {sid: items(attendees, sid, first, details) for sid in sessions},
        "waitlists": {sid: items(waitlist, sid, first, details, held) for sid in sessions},
        "conflicts": items(conflicts, first, details),
    }
