"""`registry verify`'s read-model check: every live read (projections/reads.py) of every event
and session, page by page, equals the replay (replay_answers.py) as of the position that very
page reports. A page is compared with the replay's page for the same cursor, so paging is
checked too; names come from participant_details on both sides.

The state the walk ended with stands for every position from its event's last fact to the
walk's end; a page at another position (a projection behind, or ahead because the projector
kept running) is replayed from the log without snapshots.
"""

from __future__ import annotations

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
    _states: dict[int, Replayed] = field(default_factory=dict)

    async def state_at(self, position: int) -> Replayed:
        if self.walked.position <= position <= self.head:
            return self.walked
        if position not in self._states:
            org, event_id = self.walked.organisation, self.walked.event_id
            self._states[position] = await self.replay.state(org, event_id, position)
        return self._states[position]

    async def run(self, progress: Callable[[int], None] = lambda done: None) -> list[Finding]:
        """Every read of the event; `progress` gets the sessions checked so far."""
        pool, org, event_id = self.pool, self.walked.organisation, self.walked.event_id
        live = await rm.occupancy(pool, org, event_id)
        state = await self.state_at(live["position"])
        if state.programme is None:  # read models behind the event's creation: they hold none
            replayed = {"position": live["position"], "sessions": []}
        else:
            replayed = answers.occupancy(state, live["position"])
        await self._compare("occupancy", live, replayed)
        await self._pages(
            "rooms",
            lambda page: rm.rooms(pool, org, event_id, page),
            lambda s, p, page: answers.rooms(s, p, page),
        )
        await self._pages(
            "conflicts",
            lambda page: rm.conflicts(pool, org, event_id, page),
            lambda s, p, page: answers.conflicts(s, p, page, {}),
        )
        for done, session in enumerate(live["sessions"], start=1):
            await self._session(session["session_id"])
            progress(done)
        return self.findings

    async def _session(self, sid: str) -> None:
        pool, org, event_id = self.pool, self.walked.organisation, self.walked.event_id
        await self._pages(
            f"attendees of {sid}",
            lambda page: rm.attendees(pool, org, event_id, sid, page),
            lambda s, p, page: answers.attendees(s, p, sid, page, {}),
        )
        await self._pages(
            f"waitlist of {sid}",
            lambda page: rm.waitlist(pool, org, event_id, sid, page),
            lambda s, p, page: answers.waitlist(s, p, sid, page, {}),
        )

    async def _pages(self, read: str, live: LivePage, replayed: ReplayPage) -> None:
        page = rm.Page(self.page_size)
        while len(self.findings) < MOST_PER_EVENT:
            answer, more = await live(page)
            state = await self.state_at(answer["position"])
            try:
                if state.programme is None:  # read models behind the event's creation
                    expected: answers.Listed = ({"position": answer["position"], "items": []}, None)
                else:
                    listed = replayed(state, answer["position"], page)
                    expected = await named(self.pool, state, listed)
            except rm.UnknownSession as error:
                self._found(answer["position"], read, f"the replay has none: {error}")
                return
            same = await self._compare(read, answer, expected[0])
            if not same or more is None:
                return
            if more != expected[1]:
                self._found(
                    answer["position"], read, f"next page after {more!r}, replay's {expected[1]!r}"
                )
                return
            page = rm.Page(self.page_size, more)

    async def _compare(self, read: str, live: dict[str, Any], replayed: dict[str, Any]) -> bool:
        if live == replayed:
            return True
        self._found(live["position"], read, _difference(live, replayed))
        return False

    def _found(self, position: int, read: str, what: str) -> None:
        where = f"{self.walked.organisation}/{self.walked.event_id}"
        self.findings.append(Finding(position, READ_MODEL, f"{where} {read}: {what}"))


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
