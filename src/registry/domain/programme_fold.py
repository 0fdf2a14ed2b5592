"""Folding many facts into a programme at once, in time linear in the facts.

`programme.evolve` folds one fact and keeps the programme immutable, so each fact about a room
or a session copies the whole dict of them: folding the 12,500 facts of a programme of 10,000
sessions copied dicts of up to 10,000 entries 12,500 times, ~450 ms of CPU in one event loop
(a worker's first registration for such an event, and every `PUT .../programme` of 2,000
sessions; bench/README.md, "2026-12-06, late evening"). Here the facts that change one entry
(`programme.changed_entry`) go into private copies of the two dicts, made once per run of such
facts; every other fact goes through `evolve` itself. The result equals `reduce(evolve, ...)`
(tests/unit/test_programme_fold.py checks that on generated histories), and the programme
passed in is never changed: cached folds are shared by every caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from registry.domain.event import Event
from registry.domain.programme import Programme, Room, Session, changed_entry, evolve


def fold(programme: Programme | None, events: Iterable[Event]) -> Programme | None:
    """`functools.reduce(evolve, events, programme)`, without a copy of the rooms or sessions
    per fact."""
    rooms: dict[str, Room] | None = None  # this fold's own copies, while a run of entries lasts
    sessions: dict[str, Session] = {}
    for event in events:
        entry = None
        if programme is not None:
            entry = changed_entry(
                programme.rooms if rooms is None else rooms,
                programme.sessions if rooms is None else sessions,
                event,
            )
        if entry is None:
            if rooms is not None:
                assert programme is not None  # copies are made only of a programme
                programme = replace(programme, rooms=rooms, sessions=sessions)
                rooms = None
            programme = evolve(programme, event)
            continue
        if rooms is None:
            assert programme is not None
            rooms, sessions = dict(programme.rooms), dict(programme.sessions)
        if isinstance(entry, Room):
            rooms[entry.room_id] = entry
        else:
            sessions[entry.session_id] = entry
    if rooms is not None:
        assert programme is not None
        programme = replace(programme, rooms=rooms, sessions=sessions)
    return programme
