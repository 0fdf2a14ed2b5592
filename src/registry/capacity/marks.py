"""When can a released decision be undone exactly? The MemoryGate's half of holds.lua.

The rule (the same as holds.lua, whose header explains each condition): only a decision without
a promotion, only if the participant's agenda is as the decision left it (their version), and
per fact only if nothing decided since relied on it. To tell, the gate keeps per session three
high-water marks (never lowered: a stale one can only turn an undo into a rebuild) and per
participant a version; `Marks.track` derives them from the changes every decision returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from registry.domain.seating import (
    Change,
    Dequeued,
    Promoted,
    Queued,
    Released,
    Seated,
    Seating,
    Waiting,
)


@dataclass(frozen=True)
class Step:
    """One fact of a decision and what undoing it needs."""

    kind: Literal["Seated", "Queued", "Released", "Dequeued"]
    session_id: str
    ticket: int
    seq: int = 0  # Released: the seat's place in the seat order
    replaces: str | None = None  # Dequeued: the entry's `replaces`


@dataclass
class Marks:
    seat_seq: dict[str, int] = field(default_factory=dict)
    seat_pos: dict[tuple[str, str], int] = field(default_factory=dict)
    max_seat: dict[str, int] = field(default_factory=dict)
    max_queue: dict[str, int] = field(default_factory=dict)
    version: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, seating: Seating) -> Marks:
        marks = cls()
        for sid, s in seating.sessions.items():
            marks.seat_seq[sid] = len(s.seated)
            for seq, p in enumerate(s.seated, start=1):
                marks.seat_pos[sid, p] = seq
            marks.max_seat[sid] = max(s.seated.values(), default=0)
            marks.max_queue[sid] = max((w.ticket for w in s.waiting.values()), default=0)
        return marks

    def track(self, changes: list[Change]) -> None:
        for change in changes:
            sid, p = change.session_id, change.participant_id
            self.version[p] = self.version.get(p, 0) + 1
            match change:
                case Seated(ticket=t) | Promoted(ticket=t):
                    self.seat_seq[sid] = self.seat_seq.get(sid, 0) + 1
                    self.seat_pos[sid, p] = self.seat_seq[sid]
                    self.max_seat[sid] = max(self.max_seat.get(sid, 0), t)
                case Queued(ticket=t):
                    self.max_queue[sid] = max(self.max_queue.get(sid, 0), t)
                case Released():
                    self.seat_pos.pop((sid, p), None)

    def before(self, seating: Seating, participant_id: str) -> Before:
        """What a decision may take from the participant and an undo must give back."""
        p = participant_id
        return Before(
            seats={
                sid: (s.seated[p], self.seat_pos.get((sid, p), 0))
                for sid, s in seating.sessions.items()
                if p in s.seated
            },
            waits={
                sid: Waiting(s.waiting[p].ticket, s.waiting[p].replaces)
                for sid, s in seating.sessions.items()
                if p in s.waiting
            },
        )

    def steps(self, changes: list[Change], before: Before) -> list[Step] | None:
        """The undo steps of a decision (after `track`), or None when it promoted anyone."""
        steps: list[Step] = []
        for change in changes:
            sid = change.session_id
            match change:
                case Promoted():
                    return None
                case Seated(ticket=t):
                    steps.append(Step("Seated", sid, t))
                case Queued(ticket=t):
                    steps.append(Step("Queued", sid, t))
                case Released():
                    ticket, seq = before.seats[sid]
                    steps.append(Step("Released", sid, ticket, seq))
                case Dequeued():
                    entry = before.waits[sid]
                    steps.append(Step("Dequeued", sid, entry.ticket, replaces=entry.replaces))
        return steps


@dataclass(frozen=True)
class Before:
    seats: dict[str, tuple[int, int]]  # session -> (ticket, place in the seat order)
    waits: dict[str, Waiting]


def undoable(seating: Seating, marks: Marks, participant_id: str, step: Step) -> bool:
    s = seating.sessions[step.session_id]
    p, t = participant_id, step.ticket
    match step.kind:
        case "Seated":
            return s.seated.get(p) == t and marks.max_queue.get(s.session_id, 0) < t
        case "Queued":
            entry = s.waiting.get(p)
            return entry is not None and entry.ticket == t
        case "Released":
            # The seat was held back and its holder kept busy (Seating.withhold): nobody else
            # can have taken it, and they cannot have taken another place here.
            return p not in s.seated and p not in s.waiting
    return (
        s.state == "open"
        and p not in s.seated
        and p not in s.waiting
        and marks.max_seat.get(s.session_id, 0) < t
        and not s.has_free_seat
    )


def undo(seating: Seating, marks: Marks, participant_id: str, steps: list[Step]) -> None:
    """Apply the undo steps, last fact first (after every step was found `undoable`)."""
    p = participant_id
    for step in reversed(steps):
        s = seating.sessions[step.session_id]
        match step.kind:
            case "Seated":
                del s.seated[p]
                marks.seat_pos.pop((s.session_id, p), None)
                _give_back(s.session_id, seating, step.ticket)
            case "Queued":
                del s.waiting[p]
                _give_back(s.session_id, seating, step.ticket)
            case "Released":
                s.seated[p] = step.ticket
                marks.seat_pos[s.session_id, p] = step.seq
                order = {q: marks.seat_pos.get((s.session_id, q), 0) for q in s.seated}
                s.seated = dict(sorted(s.seated.items(), key=lambda item: order[item[0]]))
            case "Dequeued":
                s.waiting[p] = Waiting(step.ticket, step.replaces)
        marks.version[p] = marks.version.get(p, 0) + 1


def _give_back(session_id: str, seating: Seating, ticket: int) -> None:
    """The session's last ticket back, so next_ticket is what the log would rebuild."""
    s = seating.sessions[session_id]
    if s.next_ticket == ticket + 1:
        s.next_ticket = ticket
