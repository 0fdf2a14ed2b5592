"""One participant's agenda (the form backend's read): folded from their own stream, with the
programme for titles and times, the gate for waitlist positions at the moment of the read, and
the name from the personal data kept beside the log."""

from __future__ import annotations

from typing import Any

from registry.domain.programme import Session
from registry.domain.streams import event_key
from registry.eventstore import DetailsErased, ParticipantDetails
from registry.handlers.gate_sync import GateKeeper
from registry.handlers.loading import load_participant, load_programme


async def agenda(
    keeper: GateKeeper, organisation: str, event_id: str, participant_id: str
) -> dict[str, Any]:
    programme, _ = await load_programme(keeper.store, organisation, event_id)
    participant = await load_participant(keeper.store, organisation, event_id, participant_id)
    position = await keeper.store.head()
    key = event_key(organisation, event_id)
    held = sorted(
        (programme.sessions[s] for s in participant.seats),
        key=lambda s: (s.starts_at, s.session_id),
    )
    waitlist = []
    for session in sorted(
        (programme.sessions[s] for s in participant.waiting),
        key=lambda s: (s.starts_at, s.session_id),
    ):
        named = participant.replaces.get(session.session_id)
        fallbacks = [h.session_id for h in held if h.overlaps(session) or h.session_id == named]
        waitlist.append(
            {
                "session_id": session.session_id,
                "waitlist_position": await keeper.gate.waitlist_position(
                    key, session.session_id, participant_id
                ),
                "fallback_session_id": fallbacks[0] if fallbacks else None,
                "fallback_session_ids": fallbacks,
            }
        )
    # The name is read now, from outside the log: an erasure shows at once.
    kept = await keeper.store.personal.details(organisation, event_id, participant_id)
    return {
        "position": position,
        "participant_id": participant.participant_id,
        "name": kept.name if isinstance(kept, ParticipantDetails) else None,
        "erased": isinstance(kept, DetailsErased),
        "seats": [_seat(s) for s in held],
        "waitlist": waitlist,
    }


def _seat(session: Session) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "title": session.title,
        "starts_at": session.starts_at.isoformat(),
        "ends_at": session.ends_at.isoformat(),
    }
