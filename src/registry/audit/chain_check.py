"""The hash chain's part of `registry verify`: every event from the first, in position order, is
hashed again and compared with the chain stored beside it (event_hashes) and with the seals.

What it can tell, each as a Finding at the first position it concerns:

- ``data changed``: an event no longer matches its hash (its content, or the hash, was changed);
- ``order changed``: two events match each other's hashes (their contents were swapped, or
  their positions);
- ``event missing``: a hash whose event is gone, or a link to a position that no longer exists
  (the event and its hash were both deleted);
- ``event not in the chain``: an event without a hash before hashed ones (added afterwards, or
  its hash removed), or one a link steps over;
- ``seal``: the stored hash at a sealed position differs from the seal, or no hash is stored
  there any more: the log was rewritten and its hashes recomputed after the seal was taken.

Each link is checked against the stored hash before it, so one changed event is reported once,
not as every event after it. Events not hashed yet at the end of the log (beyond the read fence,
or not reached by the chainer) are no error: the report counts them as pending.
The whole walk reads one snapshot (REPEATABLE READ), through two cursors merged by position.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, NamedTuple, TypeVar

from registry.archive.records import boundary, load_archives
from registry.audit.chain import GENESIS, LoggedEvent, link
from registry.audit.findings import Finding
from registry.dbtypes import Connection

CHECK: Final = "chain"
#: Walking a log that is wrong everywhere tells nothing more after this many findings.
MAX_FINDINGS: Final = 100
PROGRESS_EVERY: Final = 10_000
_PREFETCH: Final = 5000
T = TypeVar("T")

#: Every column the chain covers, in chain.LoggedEvent's order.
READ_EVENTS: Final = """
SELECT position, event_id, stream_id, stream_version, type, schema_version,
       data::text AS data, metadata::text AS metadata, recorded_at
  FROM events
"""
EVENTS: Final = READ_EVENTS + " ORDER BY position"
LINKS: Final = "SELECT position, hash, prev_position FROM event_hashes ORDER BY position"
SEALS: Final = "SELECT position, hash, sealed_at FROM log_seals ORDER BY position"


class Seal(NamedTuple):
    position: int
    hash: bytes
    sealed_at: dt.datetime | None = None


class _Stored(NamedTuple):
    position: int
    hash: bytes
    prev_position: int


@dataclass
class ChainReport:
    findings: list[Finding] = field(default_factory=list)
    #: Events walked, events with a hash, and events at the end not hashed yet.
    events: int = 0
    hashed: int = 0
    pending: int = 0
    #: The last position of the chain, and the seals compared with it.
    chained_to: int = 0
    seals_checked: int = 0


async def verify_chain(
    conn: Connection,
    on_progress: Callable[[int], None] | None = None,
    seals: Iterable[Seal] = (),
) -> list[Finding]:
    """The chain's findings (empty: the chain holds). `seals` adds seals kept outside the
    database to those stored in it."""
    return (await chain_report(conn, on_progress, seals)).findings


async def chain_report(
    conn: Connection,
    on_progress: Callable[[int], None] | None = None,
    seals: Iterable[Seal] = (),
) -> ChainReport:
    """verify_chain, with the counts (pending events, seals checked) for the report."""
    if conn.is_in_transaction():
        return await _walk(conn, on_progress, seals)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await _walk(conn, on_progress, seals)


class _Walk:
    """The state of one walk; `step` takes each position's event and stored link (either may
    be missing)."""

    def __init__(self, seals: list[Seal]) -> None:
        self.report = ChainReport()
        self.seals = seals
        self._seal = 0
        self._good_seals: list[int] = []  # positions of the seals the chain reached
        self._last = 0  # position of the last link seen (0: none yet)
        self._last_hash = GENESIS
        self._last_event = 0  # position of the last event seen
        self._unhashed: int | None = None  # the first event without a link, if any since
        #: Links that do not match their event: position -> (event, previous hash, stored).
        self.mismatches: dict[int, tuple[LoggedEvent, bytes, bytes]] = {}

    def start_after(self, position: int, hash: bytes) -> None:
        """Continue a chain whose event at `position` (archived) had `hash`."""
        self._last, self._last_hash, self._last_event = position, hash, position
        self.report.chained_to = position

    def full(self) -> bool:
        return len(self.report.findings) + len(self.mismatches) >= MAX_FINDINGS

    def found(self, position: int, what: str) -> None:
        self.report.findings.append(Finding(position, CHECK, what))

    def step(self, event: LoggedEvent | None, stored: _Stored | None) -> None:
        report = self.report
        last_event = self._last_event
        if event is not None:
            report.events += 1
            self._last_event = event.position
        if stored is None:
            assert event is not None
            if self._unhashed is None:
                self._unhashed = event.position
            report.pending += 1
            return
        position = stored.position
        if self._unhashed is not None:
            self.found(
                self._unhashed,
                f"event not in the chain: position {self._unhashed} has no hash but position "
                f"{position} after it has (added afterwards, or its hash removed)",
            )
            self._unhashed, report.pending = None, 0
        previous: bytes | None = self._last_hash
        if stored.prev_position > self._last and stored.prev_position == last_event:
            previous = None  # that event is there, without a hash: reported just above
        elif stored.prev_position > self._last:
            self.found(
                stored.prev_position,
                f"event missing: position {stored.prev_position} is gone (position {position} "
                "links to it)",
            )
            previous = None
        elif stored.prev_position < self._last:
            self.found(
                self._last,
                f"event not in the chain: position {position} links to {stored.prev_position}, "
                f"stepping over position {self._last}",
            )
            previous = GENESIS if stored.prev_position == 0 else None
        if event is None:
            self.found(
                position, f"event missing: position {position} was hashed, its event is gone"
            )
        else:
            report.hashed += 1
            # At most MAX_FINDINGS of them: the walk stops there (full()).
            if previous is not None and link(previous, event) != stored.hash:
                self.mismatches[position] = (event, previous, stored.hash)
        self._check_seals(stored)
        self._last, self._last_hash = position, stored.hash
        report.chained_to = position

    def _check_seals(self, stored: _Stored) -> None:
        while self._seal < len(self.seals) and self.seals[self._seal].position <= stored.position:
            seal = self.seals[self._seal]
            self._seal += 1
            self.report.seals_checked += 1
            if seal.position < stored.position:
                self._seal_broken(seal, "no hash is stored there any more")
            elif seal.hash != stored.hash:
                self._seal_broken(seal, "the stored hash differs from it")
            else:
                self._good_seals.append(seal.position)

    def _seal_broken(self, seal: Seal, why: str) -> None:
        # Where the rewrite began is not known, only that it lies after the last good seal.
        since = max((p for p in self._good_seals if p < seal.position), default=0) + 1
        when = "" if seal.sealed_at is None else f" of {seal.sealed_at.isoformat()}"
        self.found(
            since,
            f"seal: the chain no longer reaches the seal{when} at position {seal.position} "
            f"({why}): the log was changed at or after position {since} and hashed again",
        )

    def finish(self) -> ChainReport:
        # Seals after where the walk ended (unless it gave up early: then nothing is known).
        for seal in [] if self.full() else self.seals[self._seal :]:
            self.report.seals_checked += 1
            self._seal += 1
            self._seal_broken(seal, "the chain ends before it")
        swapped: set[int] = set()
        positions = sorted(self.mismatches)
        for i, p in enumerate(positions):
            for q in positions[i + 1 :]:
                if p in swapped or q in swapped:
                    continue
                if self._matches(p, q) and self._matches(q, p):
                    swapped |= {p, q}
                    self.found(
                        p,
                        f"order changed: the events at positions {p} and {q} were swapped "
                        "(each matches the other's hash)",
                    )
        for p in positions:
            if p not in swapped:
                self.found(p, f"data changed: the event at position {p} does not match its hash")
        self.report.findings.sort()
        return self.report

    def _matches(self, here: int, there: int) -> bool:
        """Whether the event now at `here` is the one the chain holds at `there`."""
        event = self.mismatches[here][0]
        _, previous, stored = self.mismatches[there]
        return link(previous, event._replace(position=there)) == stored


async def _walk(
    conn: Connection, on_progress: Callable[[int], None] | None, extra: Iterable[Seal]
) -> ChainReport:
    stored_seals = [
        Seal(r["position"], bytes(r["hash"]), r["sealed_at"]) for r in await conn.fetch(SEALS)
    ]
    # Archived history (migrations/0063): the chain in the database starts from the hash its
    # last archived event had; the files, and the seals within them, are checked by
    # registry.archive.files (verify.py runs both).
    archived_to, head_position, head_hash = boundary(await load_archives(conn))
    unique = {
        (s.position, s.hash): s  # the stored one's time
        for s in [*extra, *stored_seals]
        if s.position > archived_to
    }
    walk = _Walk(sorted(unique.values()))
    walk.start_after(head_position, head_hash)
    events = _rows(conn, EVENTS, lambda r: LoggedEvent._make(r))
    links = _rows(
        conn, LINKS, lambda r: _Stored(r["position"], bytes(r["hash"]), r["prev_position"])
    )
    event, stored = await anext(events, None), await anext(links, None)
    steps = 0
    while (event is not None or stored is not None) and not walk.full():
        here = min(x.position for x in (event, stored) if x is not None)
        this_event = event if event is not None and event.position == here else None
        this_link = stored if stored is not None and stored.position == here else None
        walk.step(this_event, this_link)
        if this_event is not None:
            event = await anext(events, None)
        if this_link is not None:
            stored = await anext(links, None)
        steps += 1
        if on_progress is not None and steps % PROGRESS_EVERY == 0:
            on_progress(here)
    report = walk.finish()
    if on_progress is not None:
        on_progress(report.chained_to)
    return report


async def _rows(conn: Connection, query: str, make: Callable[..., T]) -> AsyncIterator[T]:
    async for row in conn.cursor(query, prefetch=_PREFETCH):
        yield make(row)
