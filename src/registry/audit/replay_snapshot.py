"""A replayed state (replay_fold.py) as bytes and back, for the `replay_snapshots` table.

JSON (msgspec), not MessagePack: msgspec's MessagePack timestamps come back in UTC, and the
programme's times must keep the offsets they were given (GET /v1/events/{event} shows them).
zlib at its fastest level makes the rows a few times smaller for a few milliseconds.

`FORMAT` names the shape and the fold's rules: a release that folds differently (or changes
this shape) bumps it, and older snapshots are then ignored, never misread.
"""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Final

import msgspec

from registry.audit.replay_fold import Replayed
from registry.domain.programme import Programme
from registry.domain.seating import Seating, SessionSeats, Waiting

FORMAT: Final = 1
_LEVEL: Final = 1


class _Seat(msgspec.Struct, array_like=True, frozen=True):
    participant_id: str
    ticket: int
    seated_at: dt.datetime
    seated_position: int


class _Wait(msgspec.Struct, array_like=True, frozen=True):
    participant_id: str
    ticket: int
    replaces: str | None


class _Seats(msgspec.Struct, array_like=True, frozen=True):
    session_id: str
    next_ticket: int
    #: In the order the state holds them (a merge moves seats in that order).
    seated: list[_Seat]
    waiting: list[_Wait]


class Snapshot(msgspec.Struct, frozen=True):
    position: int
    count: int
    programme: Programme | None
    sessions: list[_Seats]
    registered: list[str]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Snapshot)


def snapshot_of(state: Replayed) -> Snapshot:
    sessions = [
        _Seats(
            s.session_id,
            s.next_ticket,
            [
                _Seat(who, ticket, state.seated_at[sid, who], state.seated_position[sid, who])
                for who, ticket in s.seated.items()
            ],
            [_Wait(who, w.ticket, w.replaces) for who, w in s.waiting.items()],
        )
        for sid, s in state.seating.sessions.items()
    ]
    registered = sorted(state.registered)
    return Snapshot(state.position, state.count, state.programme, sessions, registered)


def encode(state: Replayed) -> bytes:
    return zlib.compress(_encoder.encode(snapshot_of(state)), _LEVEL)


def decode_snapshot(data: bytes) -> Snapshot:
    return _decoder.decode(zlib.decompress(data))


def decode(data: bytes, organisation: str, event_id: str) -> Replayed:
    snap = decode_snapshot(data)
    state = Replayed(
        organisation,
        event_id,
        snap.position,
        snap.count,
        snap.programme,
        Seating(),
        set(snap.registered),
    )
    sessions = {} if snap.programme is None else snap.programme.sessions
    for stored in snap.sessions:
        s = sessions[stored.session_id]
        seats = SessionSeats(
            s.session_id,
            s.starts_at,
            s.ends_at,
            s.capacity,
            s.waitlist,
            state=s.state,
            merged_into=s.merged_into,
            next_ticket=stored.next_ticket,
        )
        for seat in stored.seated:
            seats.seated[seat.participant_id] = seat.ticket
            state.seated_at[s.session_id, seat.participant_id] = seat.seated_at
            state.seated_position[s.session_id, seat.participant_id] = seat.seated_position
        for wait in stored.waiting:
            seats.waiting[wait.participant_id] = Waiting(wait.ticket, wait.replaces)
        state.seating.sessions[s.session_id] = seats
    return state
