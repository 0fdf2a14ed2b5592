"""What the Lua scripts read and return, as msgspec Structs, and the conversions to the domain.

Short field names keep the JSON small (it is stored with every hold). Lua's cjson writes an
empty table as `{}`, so the scripts leave empty lists out and the defaults here fill them in.
Times cross as epoch milliseconds: Lua numbers are doubles, exact up to 2**53.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from datetime import UTC, datetime, timedelta

import msgspec

from registry.capacity.errors import (
    CommandIdConflict,
    GateNotReady,
    NotOnRoster,
    ParticipantBusy,
)
from registry.domain.errors import (
    AlreadySignedUp,
    EventCancelled,
    InvalidCommand,
    NotSignedUp,
    RegistrationClosed,
    SessionCancelled,
    SessionFull,
    TimeConflict,
    UnknownId,
)
from registry.domain.seating import (
    Change,
    Dequeued,
    Promoted,
    Queued,
    Released,
    ReleaseReason,
    Seated,
    Seating,
    SessionSeats,
    SessionState,
    Waiting,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class _Fact(msgspec.Struct, tag_field="k", omit_defaults=True, kw_only=True):
    p: str
    s: str


class WireSeated(_Fact, tag="Seated"):
    t: int
    r: str | None = None


class WireQueued(_Fact, tag="Queued"):
    t: int
    f: list[str] = msgspec.field(default_factory=list)
    r: str | None = None


class WirePromoted(_Fact, tag="Promoted"):
    t: int


class WireReleased(_Fact, tag="Released"):
    why: ReleaseReason


class WireDequeued(_Fact, tag="Dequeued"):
    why: ReleaseReason


WireChange = WireSeated | WireQueued | WirePromoted | WireReleased | WireDequeued


class WireError(msgspec.Struct, kw_only=True):
    """A refusal; `kind` names the exception, the other fields are its arguments."""

    kind: str
    what: str = ""
    id: str = ""
    field: str | None = None
    detail: str = ""
    session: str = ""
    participant: str = ""
    conflicting: str = ""
    merged_into: str | None = None
    command: str = ""
    cancelled: bool = False


class Reply(msgspec.Struct, kw_only=True):
    c: list[WireChange] = msgspec.field(default_factory=list)
    e: int = 0  # the epoch of the load
    w: int | None = None  # a queued sign-up's waitlist position
    err: WireError | None = None
    replayed: bool = False


class WireSeat(msgspec.Struct, kw_only=True):
    p: str
    t: int


class WireEntry(msgspec.Struct, omit_defaults=True, kw_only=True):
    p: str
    t: int
    r: str | None = None


class WireSession(msgspec.Struct, omit_defaults=True, kw_only=True):
    id: str
    start: int
    stop: int
    cap: int  # -1: unlimited
    wl: bool
    state: SessionState
    merged: str | None = None
    next: int
    seated: list[WireSeat] = msgspec.field(default_factory=list)
    waiting: list[WireEntry] = msgspec.field(default_factory=list)
    held: int = 0  # seats held back for unconfirmed decisions: in snapshots only (load clears)
    held_q: int = 0  # queue entries taken out by unconfirmed decisions: likewise
    #: In a load's part: more seats and queue entries of the session the part before began
    #: (a session larger than a part is written across several: load_parts).
    cont: bool = False


class WireLoadPart(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One `part` step of a load (load.lua): sessions (a big one in slices: `cont`), or a slice
    of the roster."""

    sessions: list[WireSession] = msgspec.field(default_factory=list)
    registered: list[str] = msgspec.field(default_factory=list)  # the roster (roster.py)
    cancelled: list[str] = msgspec.field(default_factory=list)


class WireBusy(msgspec.Struct, kw_only=True):
    p: str
    n: int


class WireSnapshot(msgspec.Struct, kw_only=True):
    sentinel: bool
    dirty: bool
    registration: str | None = None
    sessions: list[WireSession] = msgspec.field(default_factory=list)
    busy: list[WireBusy] = msgspec.field(default_factory=list)
    stalled: list[str] = msgspec.field(default_factory=list)


_REPLY = msgspec.json.Decoder(Reply)
_SNAPSHOT = msgspec.json.Decoder(WireSnapshot)
_ENCODER = msgspec.json.Encoder()


def decode_reply(raw: bytes | str) -> Reply:
    return _REPLY.decode(raw)


def decode_snapshot(raw: bytes | str) -> WireSnapshot:
    return _SNAPSHOT.decode(raw)


def encode(value: msgspec.Struct) -> bytes:
    return _ENCODER.encode(value)


def load_parts(
    sessions: Iterable[SessionSeats],
    registered: Collection[str],
    cancelled: Collection[str],
    budget: int,
) -> Iterator[bytes]:
    """A gate's new state as the JSON of load.lua's `part` steps (WireLoadPart), each of at most
    `budget` entries (a session counts one, each of its seats and queue entries one): sessions
    gathered whole while they fit, a session larger than the budget in slices of its own (its
    seats in seat order, then its queue in ticket order; every slice after the first marked
    `cont`), then the roster's names. The sessions come in the order given.

    Why parts: one script of a big event's whole state held Redis for hundreds of ms (load.lua),
    and its JSON, ~12 MB for 50,000 participants, was copied three times on the way to the
    socket (redis-py joins what it writes): a worker's peak RSS at start reached 150 MB over
    the growth runs' big log (bench/README.md), the issue's limit. Why slices: one session of
    50,000 seats was still one step of 0.4 - 0.7 s."""
    if budget < 2:
        raise ValueError(f"a part holds two entries or more: a session and a seat (got {budget})")
    batch: list[WireSession] = []
    size = 0
    for session in sessions:
        wired = to_wire(session)
        entries = len(wired.seated) + len(wired.waiting) + 1
        if batch and size + entries > budget:
            yield _ENCODER.encode(WireLoadPart(sessions=batch))
            batch, size = [], 0
        if entries <= budget:
            batch.append(wired)
            size += entries
            continue
        *full, last = _slices(wired, budget - 1)
        for piece in full:
            yield _ENCODER.encode(WireLoadPart(sessions=[piece]))
        batch, size = [last], len(last.seated) + len(last.waiting) + 1
    if batch:
        yield _ENCODER.encode(WireLoadPart(sessions=batch))
    for kind, names in (("registered", list(registered)), ("cancelled", list(cancelled))):
        for first in range(0, len(names), budget):
            chunk = names[first : first + budget]
            part = (
                WireLoadPart(registered=chunk)
                if kind == "registered"
                else WireLoadPart(cancelled=chunk)
            )
            yield _ENCODER.encode(part)


def _slices(session: WireSession, width: int) -> list[WireSession]:
    """The session's seats, then its queue, `width` entries a slice; the first slice carries the
    session, the others are `cont`."""
    entries = [*session.seated, *session.waiting]
    seats = len(session.seated)
    slices = []
    for first in range(0, len(entries), width):
        last = min(first + width, len(entries))
        slices.append(
            msgspec.structs.replace(
                session,
                seated=session.seated[min(first, seats) : min(last, seats)],
                waiting=session.waiting[max(first - seats, 0) : max(last - seats, 0)],
                cont=first > 0,
            )
        )
    return slices


# -- changes ----------------------------------------------------------------------------------


def to_change(fact: WireChange) -> Change:
    match fact:
        case WireSeated(p=p, s=s, t=t, r=r):
            return Seated(p, s, t, r)
        case WireQueued(p=p, s=s, t=t, f=f, r=r):
            return Queued(p, s, t, tuple(f), r)
        case WirePromoted(p=p, s=s, t=t):
            return Promoted(p, s, t)
        case WireReleased(p=p, s=s, why=why):
            return Released(p, s, why)
        case WireDequeued(p=p, s=s, why=why):
            return Dequeued(p, s, why)
    raise AssertionError(fact)  # unreachable: the union is exhausted above


def to_exception(error: WireError, event_key: str) -> Exception:
    """The exception a refusal stands for (the same classes Seating raises)."""
    event_id = event_key.partition(":")[2] or event_key
    match error.kind:
        case "GateNotReady":
            return GateNotReady(event_key)
        case "CommandIdConflict":
            return CommandIdConflict(event_key, error.command)
        case "UnknownId":
            return UnknownId(error.what, error.id, error.field or "")
        case "InvalidCommand":
            return InvalidCommand(error.detail, error.field)
        case "EventCancelled":
            return EventCancelled(event_id)
        case "RegistrationClosed":
            return RegistrationClosed(event_id)
        case "SessionCancelled":
            return SessionCancelled(error.session, error.merged_into)
        case "AlreadySignedUp":
            return AlreadySignedUp(error.participant, error.session)
        case "TimeConflict":
            return TimeConflict(error.participant, error.session, error.conflicting)
        case "SessionFull":
            return SessionFull(error.session)
        case "NotSignedUp":
            return NotSignedUp(error.participant, error.session)
        case "ParticipantBusy":
            return ParticipantBusy(event_key, error.participant)
        case "NotOnRoster":
            return NotOnRoster(event_key, error.participant, cancelled=error.cancelled)
    raise ValueError(f"the gate answered an unknown refusal: {error.kind}")


# -- state ------------------------------------------------------------------------------------


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds, exactly: times without an offset or finer than a millisecond are
    refused rather than silently moved (API.md refuses times without an offset)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a session time needs an offset: {moment.isoformat()}")
    ms, rest = divmod(moment - _EPOCH, _MS)
    if rest:
        raise ValueError(f"session times are kept to the millisecond: {moment.isoformat()}")
    return ms


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def to_wire(session: SessionSeats) -> WireSession:
    both = session.seated.keys() & session.waiting.keys()
    if both:
        raise ValueError(f"seated and waiting at once in {session.session_id}: {sorted(both)}")
    return WireSession(
        id=session.session_id,
        start=to_ms(session.starts_at),
        stop=to_ms(session.ends_at),
        cap=-1 if session.capacity is None else session.capacity,
        wl=session.waitlist,
        state=session.state,
        merged=session.merged_into,
        next=session.next_ticket,
        seated=[WireSeat(p=p, t=t) for p, t in session.seated.items()],
        waiting=[
            WireEntry(p=p, t=w.ticket, r=w.replaces)
            for p, w in sorted(session.waiting.items(), key=lambda item: item[1].ticket)
        ],
    )


def from_wire(session: WireSession) -> SessionSeats:
    return SessionSeats(
        session_id=session.id,
        starts_at=from_ms(session.start),
        ends_at=from_ms(session.stop),
        capacity=None if session.cap < 0 else session.cap,
        waitlist=session.wl,
        state=session.state,
        merged_into=session.merged,
        seated={seat.p: seat.t for seat in session.seated},
        waiting={entry.p: Waiting(entry.t, entry.r) for entry in session.waiting},
        next_ticket=session.next,
        held_back=session.held,
        held_queue=session.held_q,
    )


def to_seating(sessions: list[WireSession]) -> Seating:
    return Seating({s.id: from_wire(s) for s in sorted(sessions, key=lambda s: s.id)})
