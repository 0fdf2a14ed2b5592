"""The capacity rules, driven by random command sequences (hypothesis).

After every command: no session over capacity through a sign-up, no participant with two
overlapping seats, every waitlist in ticket order with nobody waiting beside a free seat, a refused
command changes nothing, folding the returned changes reproduces the state, and a plain reference
model (lists, positions, no tickets) agrees on every seat and every queue.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hypothesis import event, given, settings
from hypothesis import strategies as st

from registry.domain.errors import DomainError
from registry.domain.seating import (
    Change,
    Dequeued,
    Promoted,
    Queued,
    Released,
    Seated,
    Seating,
    SessionSeats,
)


def at(hour: float) -> datetime:
    return datetime(2024, 1, 11, int(hour), int(hour % 1 * 60), tzinfo=UTC)


# id: (start, end, capacity, waitlist): partial overlaps, adjacent ranges, unlimited, no waitlist.
PROGRAMME: dict[str, tuple[float, float, int | None, bool]] = {
    "a": (10, 11, 2, True),
    "b": (10, 11, 1, True),
    "c": (10.5, 11.5, 2, True),
    "d": (11, 12, 1, True),
    "e": (10, 12, 1, False),
    "u": (9, 10, None, True),
}
PARTICIPANTS = [f"p{i}" for i in range(6)]


def new_seating() -> Seating:
    return Seating(
        {
            sid: SessionSeats(sid, at(start), at(end), cap, waitlist)
            for sid, (start, end, cap, waitlist) in PROGRAMME.items()
        }
    )


def overlap(x: str, y: str) -> bool:
    return PROGRAMME[x][0] < PROGRAMME[y][1] and PROGRAMME[y][0] < PROGRAMME[x][1]


@dataclass
class Reference:
    """The same rules written as plainly as possible: lists in arrival order, no tickets."""

    seats: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in PROGRAMME})
    queues: dict[str, list[tuple[str, str | None]]] = field(
        default_factory=lambda: {s: [] for s in PROGRAMME}
    )

    def free(self, s: str) -> bool:
        cap = PROGRAMME[s][2]
        return cap is None or len(self.seats[s]) < cap

    def held(self, p: str) -> list[str]:
        return sorted(
            (s for s in PROGRAMME if p in self.seats[s]), key=lambda s: (PROGRAMME[s][0], s)
        )

    def sign_up(self, p: str, s: str, r: str | None) -> str:
        if r is not None and p not in self.seats[r]:
            return "refused"
        if p in self.seats[s] or any(q == p for q, _ in self.queues[s]):
            return "refused"
        conflicts = [x for x in self.held(p) if x != r and overlap(x, s)]
        if self.free(s) and not self.queues[s]:
            if conflicts:
                return "refused"
            self.seats[s].append(p)
            if r is not None:
                self.release(p, r)
            return "seated"
        if not PROGRAMME[s][3]:
            return "refused"
        self.queues[s].append((p, r))
        return "waitlisted"

    def leave(self, p: str, s: str) -> str:
        if p in self.seats[s]:
            self.release(p, s)
            return "left"
        for entry in self.queues[s]:
            if entry[0] == p:
                self.queues[s].remove(entry)
                return "left"
        return "refused"

    def leave_all(self, p: str) -> None:
        for s in PROGRAMME:
            self.queues[s] = [e for e in self.queues[s] if e[0] != p]
        for s in self.held(p):
            self.release(p, s)

    def release(self, p: str, s: str) -> None:
        self.seats[s].remove(p)
        while self.free(s) and self.queues[s]:
            head, named = self.queues[s].pop(0)
            fallbacks = [x for x in self.held(head) if x != s and (overlap(x, s) or x == named)]
            self.seats[s].append(head)
            for x in fallbacks:
                if head in self.seats[x]:  # a cascade may have released it already
                    self.release(head, x)


sessions = st.sampled_from(sorted(PROGRAMME))
participants = st.sampled_from(PARTICIPANTS)
# Weighted so that most commands are accepted: sign-ups dominate, `replaces` is usually absent.
kinds = st.sampled_from(["sign_up"] * 6 + ["leave"] * 3 + ["leave_all"])
replacing = st.sampled_from([None] * 5 + sorted(PROGRAMME))
commands = st.tuples(kinds, participants, sessions, replacing)


def observe(seating: Seating) -> dict[str, tuple[list[str], list[str]]]:
    return {sid: (list(s.seated), s.queue()) for sid, s in sorted(seating.sessions.items())}


def check_invariants(seating: Seating) -> None:
    for s in seating.sessions.values():
        assert s.capacity is None or len(s.seated) <= s.capacity, s.session_id
        tickets = [w.ticket for w in s.waiting.values()] + list(s.seated.values())
        assert len(tickets) == len(set(tickets)), "a ticket was given twice in one session"
        assert all(t < s.next_ticket for t in tickets)
        if s.waiting:
            assert not s.has_free_seat, f"{s.session_id} has a free seat and a queue"
            assert s.waitlist
    for p in PARTICIPANTS:
        held = seating.seats_of(p)
        for i, x in enumerate(held):
            for y in held[i + 1 :]:
                assert not x.overlaps(y), f"{p} holds overlapping {x.session_id}, {y.session_id}"


@settings(max_examples=400, deadline=None)
@given(st.lists(commands, min_size=5, max_size=80))
def test_random_commands_keep_every_rule_and_agree_with_the_reference(
    script: list[tuple[str, str, str, str | None]],
) -> None:
    seating, reference = new_seating(), Reference()
    for name, p, s, r in script:
        before = copy.deepcopy(seating)
        try:
            if name == "sign_up":
                changes = seating.sign_up(p, s, r)
                expected = reference.sign_up(p, s, r)
            elif name == "leave":
                changes = seating.leave(p, s)
                expected = reference.leave(p, s)
            else:
                changes = seating.leave_all(p)
                reference.leave_all(p)
                expected = "left"
        except DomainError:
            assert observe(seating) == observe(before), "a refused command changed the state"
            refused = (
                reference.sign_up(p, s, r)
                if name == "sign_up" and s
                else reference.leave(p, s or "")
            )
            assert refused == "refused", f"{name}({p}, {s}, {r}) refused here, not in the reference"
            continue
        assert expected != "refused", (
            f"{name}({p}, {s}, {r}) allowed here, refused in the reference"
        )
        cascades = sum(isinstance(c, Released) and c.reason == "promoted" for c in changes)
        event(f"fallback seats released by promotions: {min(cascades, 2)}")
        if name == "sign_up":
            first = changes[0]
            assert isinstance(first, Seated if expected == "seated" else Queued)
        check_invariants(seating)
        replay = before
        for change in changes:
            replay.apply(change)
        assert observe(replay) == observe(seating), "the changes do not fold into the state"
        assert observe(seating) == {
            sid: (reference.seats[sid], [q for q, _ in reference.queues[sid]])
            for sid in sorted(PROGRAMME)
        }


def test_the_fallback_cascade_is_one_step() -> None:
    seating = new_seating()
    seating.sign_up("p0", "b")  # b (10-11, 1 seat) is now full
    seating.sign_up("p1", "a")  # p1 holds a seat in a, which overlaps b
    queued = seating.sign_up("p1", "b")  # waits for b, keeping a as the fallback
    assert queued == [Queued("p1", "b", 2, ("a",))]
    seating.sign_up("p2", "a")
    seating.sign_up("p3", "a")  # a is full: p3 waits
    changes = seating.leave("p0", "b")
    assert changes == [
        Released("p0", "b", "cancelled"),
        Promoted("p1", "b", 2),
        Released("p1", "a", "promoted"),
        Promoted("p3", "a", 3),
    ]
    assert list(seating.sessions["b"].seated) == ["p1"]
    assert list(seating.sessions["a"].seated) == ["p2", "p3"]


def test_a_switch_with_replaces_is_one_step_and_promotes_the_old_queue() -> None:
    seating = new_seating()
    seating.sign_up("p0", "b")
    seating.sign_up("p1", "b")  # waits
    changes: list[Change] = seating.sign_up("p0", "a", replaces="b")
    assert changes == [
        Seated("p0", "a", 1, "b"),
        Released("p0", "b", "switched"),
        Promoted("p1", "b", 2),
    ]


def test_leaving_a_whole_registration_drops_queues_before_seats() -> None:
    seating = new_seating()
    seating.sign_up("p0", "b")
    seating.sign_up("p1", "a")
    seating.sign_up("p1", "b")  # waits, fallback a
    changes = seating.leave_all("p1")
    assert changes == [
        Dequeued("p1", "b", "registration-cancelled"),
        Released("p1", "a", "registration-cancelled"),
    ]
