"""`registry verify`'s read-model check: every live read (projections/reads.py) of every event
and session, page by page, equals the replay (replay_answers.py) as of the position that very
page reports. A page is compared with the replay's page for the same cursor, so paging is
checked too; names come from participant_details on both sides.

The state the walk ended with stands for every position from its event's last fact to the
walk's end; a page at another position (a projection behind, or ahead because the projector
kept running) is replayed from the log without snapshots.

Sessions are checked a few at a time (`SESSIONS_AT_ONCE`): each page is a few round trips
(its transaction, the page, the names), and one at a time a 10,000-session event spent most of
its check waiting for them (bench/README.md, 2026-12-07). Findings are kept per session and
reported in session order, as one at a time would find them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg

from projections import reads as rm
from registry.audit import replay_answers as answers
from registry.audit.findings import Finding
from registry.audit.replay import Replay, named
from registry.audit.replay_fold import Replayed

READ_MODEL: Final = "read-model"
#: Findings per event at most: one wrong row makes every page after it differ.
MOST_PER_EVENT: Final = 5
#: Sessions whose pages are read at once (each holds a pool connection while it reads).
SESSIONS_AT_ONCE: Final = 8

LivePage = Callable[[rm.Page], Awaitable[tuple[dict[str, Any], str | None]]]
ReplayPage = Callable[[Replayed, int, rm.Page], answers.Listed]


@dataclass
class ReadCheck:
    pool: asyncpg.Pool
    replay: Replay
    #: The walk's state of the event and the position the walk reached.
    walked: Replayed
    head: int
    page_size: int = rm.MAX_LIMIT
    findings: list[Finding] = field(default_factory=list)
    #: Replays to positions the walk did not end at, each asked for once (sessions at once).
    _states: dict[int, asyncio.Task[Replayed]] = field(default_factory=dict)
    #: Per state checked (by id; the state kept beside it): who holds which seats.
    _held: dict[int, tuple[Replayed, answers.HeldBy]] = field(default_factory=dict)

    async def state_at(self, position: int) -> Replayed:
        if self.walked.position <= position <= self.head:
            return self.walked
        if position not in self._states:
            org, event_id = self.walked.organisation, self.walked.event_id
            replayed = self.replay.state(org, event_id, position)
            self._states[position] = asyncio.ensure_future(replayed)
        return await self._states[position]

    def held_by(self, state: Replayed) -> answers.HeldBy:
        if id(state) not in self._held:
            self._held[id(state)] = (state, answers.held_by(state.seating))
        return self._held[id(state)][1]

    async def run(self, progress: Callable[[int], None] = lambda done: None) -> list[Finding]:
        """Every read of the event; `progress` gets the sessions checked so far."""
        pool, org, event_id = self.pool, self.walked.organisation, self.walked.event_id
        live = await rm.occupancy(pool, org, event_id)
        state = await self.state_at(live["position"])
        if state.programme is None:  # read models behind the event's creation: they hold none
            replayed = {"position": live["position"], "sessions": []}
        else:
            replayed = answers.occupancy(state, live["position"])
        self._compare(self.findings, "occupancy", live, replayed)
        await self._pages(
            "rooms",
            lambda page: rm.rooms(pool, org, event_id, page),
            lambda s, p, page: answers.rooms(s, p, page),
            self.findings,
        )
        await self._pages(
            "conflicts",
            lambda page: rm.conflicts(pool, org, event_id, page),
            lambda s, p, page: answers.conflicts(s, p, page, {}),
            self.findings,
        )
        sessions = [session["session_id"] for session in live["sessions"]]
        found: list[list[Finding]] = [[] for _ in sessions]
        turns = iter(enumerate(sessions))
        noted = len(self.findings)
        done = 0

        async def reader() -> None:
            nonlocal noted, done
            # The readers take the sessions in order from one iterator, so a session passed
            # over (enough found) comes after every session whose findings are kept: the same
            # first findings as one at a time.
            for index, sid in turns:
                if noted < MOST_PER_EVENT:
                    await self._session(sid, found[index])
                    noted += len(found[index])
                done += 1
                progress(done)

        async with asyncio.TaskGroup() as readers:  # one failing stops the others
            for _ in range(min(SESSIONS_AT_ONCE, len(sessions))):
                readers.create_task(reader())
        self.findings += [finding for of_one in found for finding in of_one]
        del self.findings[MOST_PER_EVENT:]
        return self.findings

    async def _session(self, sid: str, found: list[Finding]) -> None:
        pool, org, event_id = self.pool, self.walked.organisation, self.walked.event_id
        await self._pages(
            f"attendees of {sid}",
            lambda page: rm.attendees(pool, org, event_id, sid, page),
            lambda s, p, page: answers.attendees(s, p, sid, page, {}),
            found,
        )
        await self._pages(
            f"waitlist of {sid}",
            lambda page: rm.waitlist(pool, org, event_id, sid, page),
            lambda s, p, page: answers.waitlist(s, p, sid, page, {}, self.held_by(s)),
            found,
        )

    async def _pages(
        self, read: str, live: LivePage, replayed: ReplayPage, found: list[Finding]
    ) -> None:
        """Page by page until the first difference, noted in `found`."""
        page = rm.Page(self.page_size)
        while True:
            answer, more = await live(page)
            state = await self.state_at(answer["position"])
            try:
                if state.programme is None:  # read models behind the event's creation
                    expected: answers.Listed = ({"position": answer["position"], "items": []}, None)
                else:
                    listed = replayed(state, answer["position"], page)
                    expected = await named(self.pool, state, listed)
            except rm.UnknownSession as error:
                self._found(found, answer["position"], read, f"the replay has none: {error}")
                return
            same = self._compare(found, read, answer, expected[0])
            if not same or more is None:
                return
            if more != expected[1]:
                what = f"next page after {more!r}, replay's {expected[1]!r}"
                self._found(found, answer["position"], read, what)
                return
            page = rm.Page(self.page_size, more)

    def _compare(
        self, found: list[Finding], read: str, live: dict[str, Any], replayed: dict[str, Any]
    ) -> bool:
        if live == replayed:
            return True
        self._found(found, live["position"], read, _difference(live, replayed))
        return False

    def _found(self, found: list[Finding], position: int, read: str, what: str) -> None:
        where = f"{self.walked.organisation}/{self.walked.event_id}"
        found.append(Finding(position, READ_MODEL, f"{where} {read}: {what}"))


def _difference(live: object, replayed: object, path: str = "") -> str:
    """Where the two first differ, and how (`sessions[0].seated is 3, the replay's 2`)."""
    if isinstance(live, dict) and isinstance(replayed, dict):
        for key in sorted(set(live) | set(replayed)):
            if live.get(key) != replayed.get(key):
                where = f"{path}.{key}" if path else str(key)
                return _difference(live.get(key), replayed.get(key), where)
    if isinstance(live, list) and isinstance(replayed, list):
        for index, (x, y) in enumerate(zip(live, replayed, strict=False)):
            if x != y:
                return _difference(x, y, f"{path}[{index}]")
        return f"{path} has {len(live)} items, the replay's {len(replayed)}"
    return f"{path} is {live!r}, the replay's {replayed!r}"
