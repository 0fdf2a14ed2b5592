"""The parts of a gate's load (wire.load_parts, load.lua's `part` steps): together they are the
whole state, each session once and in order (a session larger than a part in slices that follow
one another), each part within its budget."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from registry.capacity import wire
from registry.domain.seating import SessionSeats, Waiting

NAMES = st.text(alphabet='ab"\\é\u0000-', min_size=1, max_size=6)
START = datetime(2027, 3, 1, 14, tzinfo=UTC)


@st.composite
def sessions(draw: st.DrawFn, index: int) -> SessionSeats:
    people = draw(st.lists(NAMES, unique=True, max_size=8))
    cut = draw(st.integers(0, len(people)))
    tickets = iter(draw(st.permutations(range(1, len(people) + 1))))
    return SessionSeats(
        f"s{index}",
        START + timedelta(minutes=index),
        START + timedelta(minutes=index + draw(st.integers(1, 90))),
        draw(st.none() | st.integers(0, 10)),
        draw(st.booleans()),
        draw(st.sampled_from(["open", "cancelled", "merged"])),
        draw(st.none() | st.just("s0")),
        seated={p: next(tickets) for p in people[:cut]},
        waiting={p: Waiting(next(tickets), draw(st.none() | st.just("s0"))) for p in people[cut:]},
        next_ticket=len(people) + 1,
    )


@st.composite
def loads(draw: st.DrawFn) -> tuple[list[SessionSeats], frozenset[str], frozenset[str]]:
    count = draw(st.integers(0, 5))
    return (
        [draw(sessions(i)) for i in range(count)],
        frozenset(draw(st.sets(NAMES, max_size=9))),
        frozenset(draw(st.sets(NAMES, max_size=4))),
    )


@given(loads(), st.integers(2, 12))
def test_the_parts_of_a_load_are_the_whole_state_in_order_and_in_bounds(
    load: tuple[list[SessionSeats], frozenset[str], frozenset[str]], budget: int
) -> None:
    seats, registered, cancelled = load
    parts = [json.loads(part) for part in wire.load_parts(seats, registered, cancelled, budget)]
    records = [s for part in parts for s in part.get("sessions", [])]
    # Every session once, in order, as the single Struct would write it: a slice marked `cont`
    # carries on the session of the record before it.
    sessions: list[dict[str, Any]] = []
    for record in records:
        if record.get("cont", False):
            assert sessions and sessions[-1]["id"] == record["id"]
            for kind in ("seated", "waiting"):
                sessions[-1][kind] = [*sessions[-1].get(kind, []), *record.get(kind, [])]
        else:
            sessions.append(dict(record))
    whole = [json.loads(wire.encode(wire.to_wire(s))) for s in seats]
    assert [_without_empty(s) for s in sessions] == [_without_empty(s) for s in whole]
    names = [n for part in parts for n in part.get("registered", [])]
    gone = [n for part in parts for n in part.get("cancelled", [])]
    assert sorted(names) == sorted(registered) and sorted(gone) == sorted(cancelled)
    for part in parts:
        entries = len(part.get("registered", [])) + len(part.get("cancelled", []))
        entries += size(part.get("sessions", []))
        assert 0 < entries <= budget, (entries, budget, part)
    # Gathered up to the budget, not sent one by one: two neighbours in separate parts would
    # not have fitted in one, and a session is sliced only when it is larger than a part.
    session_parts = [p["sessions"] for p in parts if "sessions" in p]
    for this, after in itertools.pairwise(session_parts):
        assert size(this) + size(after[:1]) > budget
    for seating in seats:
        slices = sum(1 for r in records if r["id"] == seating.session_id)
        assert slices == 1 or len(seating.seated) + len(seating.waiting) + 1 > budget


def _without_empty(session: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if v != []}


def size(sessions: list[dict[str, list[object]]]) -> int:
    return sum(len(s.get("seated", [])) + len(s.get("waiting", [])) + 1 for s in sessions)
