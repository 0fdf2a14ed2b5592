"""One command at a time per participant in this process, in the order they came.

A decision about a participant makes them busy in the gate until its append is in the log
(capacity/holds.lua, ParticipantBusy); a second command about them meanwhile waits
(GateKeeper.decide) by asking again, 2 ms at first, then less and less often, for a second.
Fresh commands asked once and took the participant the moment it was free, so under a burst of
commands about one person a waiting one could lose every time and answer 503 although it came
first (seen in CI: tests/support/load.py). Here the commands of one process line up behind each
other instead (asyncio.Lock wakes its waiters in order), so the gate only ever sees them one by
one; only another process's commands can still find the participant busy and wait as before.

Everyone ahead in line is running, each bounded by the database's and Redis's timeouts; still,
a command waits in line for `LINE_WAIT_S` at most, then gives up and writes nothing
(LineTooLong: 503 `unavailable`, try again), well before the request deadline's default of
10 s (api/deadline.py), past which the client is told its command may still take effect: one
that has not even begun should not take effect seconds after that. A line is dropped when its
last command leaves, so the map holds only participants with a command in flight.

Nothing may, in a participant's turn, wait for another command about them in the same process:
it would wait for itself (a unit test that ran a cancellation inside a sign-up's log check did,
until it ran it through a keeper of its own).
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Final

#: The longest a command waits for the commands ahead of it about the same participant.
LINE_WAIT_S: Final = 5.0


class LineTooLong(RuntimeError):
    """The commands ahead about this participant took longer than the wait (503, try again)."""


class _Line:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Turn:
    """`async with turns.of(key, participant_id):` the participant's turn in this process."""

    __slots__ = ("_line", "_lines", "_name", "_wait_s")

    def __init__(
        self, lines: dict[tuple[str, str], _Line], name: tuple[str, str], wait_s: float
    ) -> None:
        self._lines = lines
        self._name = name
        self._wait_s = wait_s
        self._line: _Line | None = None

    async def __aenter__(self) -> None:
        line = self._lines.get(self._name)
        if line is None:
            line = self._lines[self._name] = _Line()
        line.users += 1
        self._line = line
        try:
            if line.users > 1:  # someone ahead: wait, for so long
                async with asyncio.timeout(self._wait_s):
                    await line.lock.acquire()
            else:
                await line.lock.acquire()  # free: taken at once
        except TimeoutError:
            self._leave(line)
            event_key, participant_id = self._name
            raise LineTooLong(
                f"participant {participant_id} of {event_key} has commands ahead of this one"
                f" that took over {self._wait_s:g} s; try again shortly"
            ) from None
        except BaseException:  # cancelled in line: leave it
            self._leave(line)
            raise

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._line is not None, "a turn is left only after it was taken"
        self._line.lock.release()
        self._leave(self._line)

    def _leave(self, line: _Line) -> None:
        line.users -= 1
        if line.users == 0:
            del self._lines[self._name]


class Turns:
    """The lines of this process, per event key and participant."""

    def __init__(self, wait_s: float = LINE_WAIT_S) -> None:
        self._lines: dict[tuple[str, str], _Line] = {}
        self._wait_s = wait_s

    def of(self, event_key: str, participant_id: str) -> Turn:
        return Turn(self._lines, (event_key, participant_id), self._wait_s)

    def __len__(self) -> int:
        """Participants with a command in line or running (what the map holds)."""
        return len(self._lines)
