"""The event with its programme and state (GET /v1/events/{event}), folded from its stream."""

from __future__ import annotations

from typing import Any

from registry.domain.programme import Programme
from registry.eventstore import EventStore
from registry.handlers.loading import load_programme


async def event_view(store: EventStore, organisation: str, event_id: str) -> dict[str, Any]:
    programme, _ = await load_programme(store, organisation, event_id)
    return describe(programme, await store.head())


def describe(programme: Programme, position: int) -> dict[str, Any]:
    """The answer for a programme (also as replayed to a position: registry.audit)."""
    sessions = sorted(programme.sessions.values(), key=lambda s: (s.starts_at, s.session_id))
    return {
        "position": position,
        "id": programme.event_id,
        "title": programme.title,
        "timezone": programme.timezone,
        "date": programme.date.isoformat(),
        "end_date": None if programme.end_date is None else programme.end_date.isoformat(),
        "venue": programme.venue,
        "registration": programme.registration,
        "state": programme.state,
        "rooms": [
            {"room_id": r.room_id, "name": r.name, "capacity": r.capacity, "location": r.location}
            for r in sorted(programme.rooms.values(), key=lambda r: r.room_id)
        ],
        "sessions": [
            {
                "session_id": s.session_id,
                "title": s.title,
                "starts_at": s.starts_at.isoformat(),
                "ends_at": s.ends_at.isoformat(),
                "room_id": s.room_id,
                "capacity": s.capacity,
                "mode": s.mode,
                "waitlist": s.waitlist,
                "hosts": list(s.hosts),
                "description": s.description,
                "state": s.state,
                "merged_into": s.merged_into,
            }
            for s in sessions
        ],
    }
