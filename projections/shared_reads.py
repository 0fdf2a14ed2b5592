"""Occupancy answers shared for a moment among the readers of one process.

Organisers' screens and dashboards poll occupancy; at 1,000 reads a second beside a sign-up
crowd each read was a snapshot transaction of three queries, and the reads took four fifths of
the machine: sign-ups fell from ~1,100 to 213/s (bench/README.md, `--reads 1000`). The read
models move only when the projector applies a batch (every ~10 - 60 ms under load), so readers
of the same event within `SHARE_S` get the same answer: one query set per event and moment,
the others wait for it (no stampede when it expires) or take it as it is.

What a reader sees does not change in kind: the answer names the log position it reflects
(`position`), as every read does, and is at most `SHARE_S` older than a fresh one; a read with
`?after=P` is answered from the shared answer only when that reflects P already, else fresh.
Reads of another organisation never share: the key is (organisation, event).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from projections import reads

#: How long one answer serves: about the projector's own pace under load, well under the
#: projection lag a reader already lives with (p50 50 - 60 ms in the bench).
SHARE_S: Final = 0.05
#: Events kept per process; past it, all are dropped (a process serves a few events at a time).
MAX_KEPT: Final = 1024


@dataclass
class _Kept:
    answer: dict[str, Any]
    at: float


class SharedOccupancy:
    """`projections.reads.occupancy` on one pool, shared for `share_s` among its readers (one
    per process: the API's resources hold it)."""

    def __init__(self, pool: asyncpg.Pool, share_s: float = SHARE_S) -> None:
        self._pool = pool
        self._share_s = share_s
        self._kept: dict[tuple[str, str], _Kept] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def occupancy(
        self, organisation: str, event_id: str, after: int | None = None
    ) -> dict[str, Any]:
        key = (organisation, event_id)
        answer = self._fresh(key, after)
        if answer is not None:
            return answer
        if after is not None:
            return await reads.occupancy(self._pool, organisation, event_id, after)
        async with self._locks.setdefault(key, asyncio.Lock()):
            answer = self._fresh(key, after)  # the reader before us may have just read it
            if answer is not None:
                return answer
            answer = await reads.occupancy(self._pool, organisation, event_id)
            if len(self._kept) >= MAX_KEPT:
                self._kept.clear()
                self._locks = {key: self._locks[key]}  # at worst two readers read at once
            self._kept[key] = _Kept(answer, time.monotonic())
        return answer

    def _fresh(self, key: tuple[str, str], after: int | None) -> dict[str, Any] | None:
        kept = self._kept.get(key)
        if kept is None or time.monotonic() - kept.at >= self._share_s:
            return None
        if after is not None and kept.answer["position"] < after:
            return None
        return kept.answer
