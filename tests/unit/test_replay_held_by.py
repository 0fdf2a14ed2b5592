"""`replay_answers.held_by`, the one pass over the seats that `registry verify` uses for every
waitlist, gives each holder the seats `Seating.seats_of` gives, in its order, and the fallbacks
worked out from it are `Seating.fallbacks`' own: random commands over the seating tests'
programme (sessions starting together, so the order's tie-break counts)."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from registry.audit.replay_answers import held_by
from registry.domain.errors import DomainError
from tests.unit.test_seating import PARTICIPANTS, commands, new_seating


@settings(max_examples=200, deadline=None)
@given(st.lists(commands, min_size=5, max_size=60))
def test_held_by_is_seats_of_for_everyone_and_gives_the_same_fallbacks(
    script: list[tuple[str, str, str, str | None]],
) -> None:
    seating = new_seating()
    for name, p, s, r in script:
        with contextlib.suppress(DomainError):
            if name == "sign_up":
                seating.sign_up(p, s, r)
            elif name == "leave":
                seating.leave(p, s)
            else:
                seating.leave_all(p)
    held = held_by(seating)
    assert {p: list(seats) for p, seats in held.items()} == {
        p: seating.seats_of(p) for p in PARTICIPANTS if seating.seats_of(p)
    }
    for sid, seats in seating.sessions.items():
        for who in seats.waiting:
            assert seating.fallbacks(who, sid, held.get(who, ())) == seating.fallbacks(who, sid)
