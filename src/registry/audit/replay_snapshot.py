"""A replayed state (replay_fold.py) as bytes and back, for the `replay_snapshots` table.

MessagePack (msgspec), one column per field and session (lists of ids, of tickets, of times):
a state of 100,000 facts holds tens of thousands of seats, and decoding lists of plain values
and zipping them into dicts is several times faster than decoding an object per seat. The
programme goes inside as JSON bytes: msgspec's MessagePack timestamps come back in UTC, and the
programme's times must keep the offsets they were given (GET /v1/events/{event} shows them);
when a seat was given is only ever shown in UTC. No compression here: PostgreSQL compresses
large values itself (TOAST), and decompressing in Python cost more than the bytes saved.

`FORMAT` names the shape and the fold's rules: a release that folds differently (or changes
this shape) bumps it, and older snapshots are then ignored, never misread.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Iterator
from typing import Final

import msgspec

from registry.audit.replay_fold import Replayed, seats_of
from registry.domain.programme import Programme
from registry.domain.seating import Seating, Waiting

FORMAT: Final = 2


class _Seats(msgspec.Struct, array_like=True, frozen=True):
    session_id: str
    next_ticket: int
    #: Seated, in the order the state holds them (a merge moves seats in that order).
    seated: list[str]
    tickets: list[int]
    seated_at: list[dt.datetime]
    seated_positions: list[int]
    #: Waiting, in the order the state holds them.
    waiting: list[str]
    waiting_tickets: list[int]
    replaces: list[str | None]


class Snapshot(msgspec.Struct, array_like=True, frozen=True):
    position: int
    count: int
    programme: bytes | None  # JSON
    sessions: list[_Seats]
    registered: list[str]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Snapshot)
_programme_decoder = msgspec.json.Decoder(Programme)


def snapshot_of(state: Replayed) -> Snapshot:
    sessions = []
    for sid, s in state.seating.sessions.items():
        given = state.given.get(sid, {})
        seated = list(s.seated)
        sessions.append(
            _Seats(
                sid,
                s.next_ticket,
                seated,
                list(s.seated.values()),
                [given[who][0] for who in seated],
                [given[who][1] for who in seated],
                list(s.waiting),
                [w.ticket for w in s.waiting.values()],
                [w.replaces for w in s.waiting.values()],
            )
        )
    programme = None if state.programme is None else msgspec.json.encode(state.programme)
    return Snapshot(state.position, state.count, programme, sessions, sorted(state.registered))


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """Build tens of thousands of containers without the cyclic garbage collector: each of its
    full passes walks the whole heap, and they made up more than half of a decode (measured:
    55 ms instead of 140 ms for 78,000 seats and entries). Nothing here awaits, and none of it
    forms cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def encode(state: Replayed) -> bytes:
    with _no_collection():
        return _encoder.encode(snapshot_of(state))


def decode_snapshot(data: bytes) -> Snapshot:
    return _decoder.decode(data)


def decode(data: bytes, organisation: str, event_id: str) -> Replayed:
    with _no_collection():
        return _decoded(decode_snapshot(data), organisation, event_id)


def _decoded(snap: Snapshot, organisation: str, event_id: str) -> Replayed:
    programme = None if snap.programme is None else _programme_decoder.decode(snap.programme)
    state = Replayed(
        organisation,
        event_id,
        snap.position,
        snap.count,
        programme,
        Seating(),
        set(snap.registered),
    )
    sessions = {} if programme is None else programme.sessions
    for stored in snap.sessions:
        s = sessions[stored.session_id]
        seats = seats_of(
            s,
            seated=dict(zip(stored.seated, stored.tickets, strict=True)),
            waiting={
                who: Waiting(ticket, replaces)
                for who, ticket, replaces in zip(
                    stored.waiting, stored.waiting_tickets, stored.replaces, strict=True
                )
            },
            next_ticket=stored.next_ticket,
        )
        state.seating.sessions[s.session_id] = seats
        if stored.seated:
            given = zip(stored.seated_at, stored.seated_positions, strict=True)
            state.given[s.session_id] = dict(zip(stored.seated, given, strict=True))
    return state
