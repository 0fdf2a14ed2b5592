"""Loading the sample through the API, and the scripted round of sign-ups."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from registry.demo.sample import (
    CANCEL_SEAT,
    DOUBLE_BOOK,
    EXPECTED_PROBLEMS,
    HEADLINE,
    LEAVE,
    SKIP_SLOT,
    SWITCH,
    SWITCH_AWAY,
    Action,
    Example,
    Target,
    _auth,
    _bounded,
    _connected,
    _expect,
    _position,
    _problem,
    event_id,
    participant_body,
    read_example,
    time_slots,
)

# -- loading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    event_id: str
    #: The event existed already: nothing was written.
    already_loaded: bool
    rooms: int
    sessions: int
    participant_ids: tuple[str, ...]
    position: int


async def load_demo(
    target: Target,
    organiser_key: str,
    form_key: str,
    *,
    participants: int = 40,
    example: Example | None = None,
) -> Loaded:
    """Create the event, PUT its programme, open registration and register ``participants``
    invented people. If the event exists already, write nothing (``already_loaded``)."""
    example = example if example is not None else read_example()
    event = event_id(example)
    programme = example["programme"]
    async with _connected(target) as client:
        created = await client.post(
            "/v1/events", json=example["event"], headers=_auth(organiser_key)
        )
        if created.status_code == 409 and _problem(created) == "already-exists":
            return Loaded(event, True, 0, 0, (), _position(created))
        _expect(created, 201, "create the event")
        put = await client.put(
            f"/v1/events/{event}/programme", json=programme, headers=_auth(organiser_key)
        )
        _expect(put, 200, "put the programme")
        opened = await client.post(
            f"/v1/events/{event}/registration/open", json={}, headers=_auth(organiser_key)
        )
        _expect(opened, 200, "open registration")

        async def register(number: int) -> tuple[str, int]:
            answer = await client.post(
                f"/v1/events/{event}/participants",
                json=participant_body(number),
                headers=_auth(form_key),
            )
            _expect(answer, 201, f"register participant {number}")
            return str(answer.json()["participant_id"]), _position(answer)

        registered = await _bounded(register(n) for n in range(1, participants + 1))
    return Loaded(
        event_id=event,
        already_loaded=False,
        rooms=len(programme.get("rooms", [])),
        sessions=len(programme.get("sessions", [])),
        participant_ids=tuple(pid for pid, _ in registered),
        position=max([_position(opened), *(p for _, p in registered)]),
    )


# -- the sign-up round ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One command of the round and its answer."""

    participant_id: str
    action: Action
    session_id: str | None
    status: int
    body: dict[str, Any]

    @property
    def problem(self) -> str | None:
        """The problem slug of a refusal (``time-conflict``), else None."""
        kind = self.body.get("type") if self.status >= 400 else None
        return kind.rsplit("/", 1)[-1] if isinstance(kind, str) else None

    @property
    def expected(self) -> bool:
        return self.status in (200, 201) or (
            self.status == 409 and self.problem in EXPECTED_PROBLEMS
        )


@dataclass
class Round:
    attempts: list[Attempt] = field(default_factory=list)
    #: Participants who cancelled their whole registration.
    left: set[str] = field(default_factory=set)

    @property
    def position(self) -> int:
        """The highest log position any answer named (0 if none)."""
        return max((int(a.body.get("position") or 0) for a in self.attempts), default=0)

    def promoted(self) -> int:
        """Participants promoted from a waitlist by the round's cancellations."""
        return sum(len(a.body.get("promoted") or ()) for a in self.attempts)

    def unexpected(self) -> list[Attempt]:
        return [a for a in self.attempts if not a.expected]

    def count(self, action: Action, outcome: str | None = None) -> int:
        """Attempts of ``action``; with ``outcome``, only those answered with that status
        (``seated``, ``waitlisted``) or problem slug."""
        return sum(
            a.action == action and (outcome is None or outcome in (a.body.get("status"), a.problem))
            for a in self.attempts
        )


@dataclass
class _Holding:
    """What one participant holds per slot, as far as their own answers tell."""

    seated: dict[int, str] = field(default_factory=dict)
    waiting: dict[int, set[str]] = field(default_factory=dict)

    def settled(self) -> list[int]:
        """Slots with a seat and no queue place: nobody else's command can change those."""
        return sorted(i for i in self.seated if not self.waiting.get(i))


async def sign_up_round(
    target: Target,
    form_key: str,
    participant_ids: Sequence[str],
    *,
    event: str | None = None,
    example: Example | None = None,
    seed: int = 2024,
) -> Round:
    """Run the scripted round (see the module's docstring) as the form backend; every answer is
    recorded, none raises. ``Round.unexpected()`` lists the answers the script did not expect."""
    example = example if example is not None else read_example()
    event = event or event_id(example)
    slots = time_slots(example)
    result = Round()
    holdings = {pid: _Holding() for pid in participant_ids}
    rngs = {pid: random.Random(f"{seed}:{pid}") for pid in participant_ids}
    base = f"/v1/events/{event}/participants"

    async with _connected(target) as client:

        async def send(
            pid: str, action: Action, session: str | None, call: Awaitable[httpx.Response]
        ) -> Attempt:
            answer = await call
            try:
                body = answer.json()
            except ValueError:
                body = {"text": answer.text}
            attempt = Attempt(pid, action, session, answer.status_code, dict(body))
            result.attempts.append(attempt)
            return attempt

        def sign_up(
            pid: str, action: Action, session: str, replaces: str | None = None
        ) -> Awaitable[Attempt]:
            body = {"session_id": session, **({"replaces": replaces} if replaces else {})}
            call = client.post(f"{base}/{pid}/signups", json=body, headers=_auth(form_key))
            return send(pid, action, session, call)

        async def first_choices(pid: str) -> None:
            rng, holding = rngs[pid], holdings[pid]
            for index, slot in enumerate(slots):
                if len(slot) > 1 and rng.random() < SKIP_SLOT:
                    continue
                session = slot[0] if rng.random() < HEADLINE else rng.choice(slot)
                _note(holding, index, session, await sign_up(pid, "sign-up", session))

        async def changes(pid: str) -> None:
            rng, holding = rngs[pid], holdings[pid]
            movable = [i for i in holding.settled() if len(slots[i]) > 1]
            if movable and rng.random() < SWITCH:
                index = rng.choice(movable)
                held, headline = holding.seated[index], slots[index][0]
                to = headline if held != headline else rng.choice(slots[index][1:])
                if to == headline or rng.random() < SWITCH_AWAY:
                    _note(holding, index, to, await sign_up(pid, "switch", to, replaces=held))
            movable = [i for i in holding.settled() if len(slots[i]) > 1]
            if movable and rng.random() < DOUBLE_BOOK:
                index = rng.choice(movable)
                other = rng.choice([s for s in slots[index] if s != holding.seated[index]])
                _note(holding, index, other, await sign_up(pid, "double-booking", other))

        async def cancellations(pid: str) -> None:
            rng, holding = rngs[pid], holdings[pid]
            if rng.random() < LEAVE:
                call = client.delete(f"{base}/{pid}", headers=_auth(form_key))
                if (await send(pid, "leave", None, call)).status == 200:
                    result.left.add(pid)
                return
            settled = holding.settled()
            if settled and rng.random() < CANCEL_SEAT:
                session = holding.seated.pop(rng.choice(settled))
                call = client.delete(f"{base}/{pid}/signups/{session}", headers=_auth(form_key))
                await send(pid, "cancel", session, call)

        for phase in (first_choices, changes, cancellations):
            await _bounded(phase(pid) for pid in participant_ids)
    return result


def _note(holding: _Holding, index: int, session: str, attempt: Attempt) -> None:
    if attempt.status != 201:
        return
    if attempt.body.get("status") == "seated":
        holding.seated[index] = session  # a switch with `replaces` gave up the old seat
    else:
        holding.waiting.setdefault(index, set()).add(session)
