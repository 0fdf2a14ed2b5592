"""`registry verify` (API.md "Operations", DESIGN.md section 4): replays the whole log and checks

- chain: the hash chain from the first event (registry.audit.chain_check);
- structure, capacity, promotion: every fact folds, no sign-up ever took a session over the
  capacity then in force, every promotion went to the head of its queue (verify_walk.py);
- snapshots: every stored replay snapshot equals the fold at its position (they are trusted by
  `?as_of=`, so they are checked, never used, here);
- read-model: every live read model equals its replay as of the position it reports
  (verify_reads.py).

Each check yields findings; the report names the first bad position. The walk reads the log up
to the fenced head taken when it starts: what is appended meanwhile is for the next run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import asyncpg

from registry.archive.files import ArchiveUnreadable, check_files
from registry.archive.records import load_archives
from registry.audit import replay_snapshot
from registry.audit.chain_check import chain_report
from registry.audit.findings import Finding, first_bad
from registry.audit.replay import Replay
from registry.audit.replay_fold import Replayed
from registry.audit.verify_reads import READ_MODEL, ReadCheck
from registry.audit.verify_walk import CAPACITY, PROMOTION, STRUCTURE, Walk
from registry.eventstore import ArchivedHistory, EventCodec, EventStore

CHAIN: Final = "chain"
SNAPSHOTS: Final = "snapshots"
#: The checks in the order the report lists them.
CHECKS: Final = (CHAIN, STRUCTURE, CAPACITY, PROMOTION, SNAPSHOTS, READ_MODEL)
BATCH: Final = 2000

SNAPSHOT_INDEX: Final = """
SELECT organisation, event_id, position FROM replay_snapshots
 WHERE format = $1 AND position <= $2
"""
SNAPSHOT: Final = """
SELECT state FROM replay_snapshots
 WHERE organisation = $1 AND event_id = $2 AND format = $3 AND position = $4
"""

Progress = Callable[[int, int], None]


def _quiet(position: int, head: int) -> None:
    pass


@dataclass
class Phases:
    """Where each phase stands (the CLI draws a bar for each)."""

    chain: Progress = _quiet
    log: Progress = _quiet
    read_models: Progress = _quiet


@dataclass
class Report:
    head: int
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    #: What a check adds to its line (e.g. the chain's counts).
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def first(self) -> Finding | None:
        return first_bad([f for found in self.findings.values() for f in found])

    @property
    def ok(self) -> bool:
        return self.first is None

    def lines(self, most: int = 3) -> list[str]:
        out = [f"verified positions 1-{self.head}"]
        for check in CHECKS:
            if check not in self.findings:
                out.append(f"{check:<11} not checked")
                continue
            found = sorted(self.findings[check])
            line = f"{check:<11} " + ("OK" if not found else f"{len(found)} finding(s)")
            out.append(f"{line} ({self.notes[check]})" if check in self.notes else line)
            out += [f"  position {f.position}: {f.what}" for f in found[:most]]
            if len(found) > most:
                out.append(f"  ... and {len(found) - most} more")
        first = self.first
        if first is None:
            out.append("all checks hold")
        else:
            out.append(f"first bad position: {first.position} ({first.check}: {first.what})")
        return out


async def verify(
    pool: asyncpg.Pool,
    store: EventStore,
    codec: EventCodec,
    progress: Phases | None = None,
    archive_dir: Path | None = None,
) -> Report:
    """`store` reads the whole log: with archived history, one that reads the archive files
    (registry.archive.store), from `archive_dir` if they were moved there."""
    progress = progress or Phases()
    head = await store.head()
    report = Report(head)
    await _chain(pool, report, progress.chain, archive_dir)
    walk = Walk()
    try:
        report.findings[SNAPSHOTS] = await _walk(pool, store, walk, head, progress.log)
    except (ArchivedHistory, ArchiveUnreadable) as error:
        # The log cannot be read whole: say so at its first position; nothing after is known.
        what = f"the log could not be read: {error}"
        report.findings[STRUCTURE] = [Finding(error.first, STRUCTURE, what)]
        return report  # the checks after the walk are listed as not checked
    report.findings[STRUCTURE] = [f for f in walk.findings if f.check == STRUCTURE]
    report.findings[CAPACITY] = [f for f in walk.findings if f.check == CAPACITY]
    report.findings[PROMOTION] = [f for f in walk.findings if f.check == PROMOTION]
    replay = Replay(pool, codec, every=0)  # from the log alone: snapshots are checked, not used
    found: list[Finding] = []
    states = [s for s in walk.states.values() if s.programme is not None]
    # Progress in sessions: one large event is most of the work (its waitlists above all).
    total = sum(len(s.seating.sessions) + 1 for s in states)
    done = 0
    for state in states:

        def step(n: int, base: int = done) -> None:
            progress.read_models(base + n, total)

        found += await ReadCheck(pool, replay, state, head).run(step)
        done += len(state.seating.sessions) + 1
        progress.read_models(done, total)
    report.findings[READ_MODEL] = found
    return report


async def _chain(
    pool: asyncpg.Pool, report: Report, progress: Progress, archive_dir: Path | None
) -> None:
    async with pool.acquire() as conn:
        chain = await chain_report(conn, lambda position: progress(position, report.head))
        archives = await load_archives(conn)
    # Archived ranges: each file read back and its chain computed again (registry.archive).
    archived = check_files(archives, archive_dir)
    report.findings[CHAIN] = sorted(archived + chain.findings)
    report.notes[CHAIN] = f"{chain.hashed} hashed, {chain.pending} not hashed yet"
    if archives:
        report.notes[CHAIN] += (
            f"; positions 1-{archives[-1].last_position} archived in {len(archives)} "
            f"file(s), {sum(a.events for a in archives)} events checked from the files"
        )


async def _walk(
    pool: asyncpg.Pool, store: EventStore, walk: Walk, head: int, progress: Progress
) -> list[Finding]:
    """Fold every fact up to `head` through the walk's checks; returns the snapshot findings."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(SNAPSHOT_INDEX, replay_snapshot.FORMAT, head)
    pending = {(r["organisation"], r["event_id"], r["position"]) for r in rows}
    findings: list[Finding] = []
    position = 1
    while position <= head:
        batch = await store.read_all(position, BATCH)
        if not batch:
            break
        for fact in batch:
            if fact.position > head:
                break
            state = walk.step(fact)
            key = None if state is None else (state.organisation, state.event_id, fact.position)
            if key is not None and key in pending and state is not None:
                pending.discard(key)
                findings += await _snapshot_matches(pool, state)
        position = batch[-1].position + 1
        progress(min(position - 1, head), head)
    for org, event_id, at in sorted(pending, key=lambda k: k[2]):
        if (org, event_id) not in walk.broken:
            what = f"{org}/{event_id}: a snapshot at {at}, which is not a fact of the event"
            findings.append(Finding(at, SNAPSHOTS, what))
    return findings


async def _snapshot_matches(pool: asyncpg.Pool, state: Replayed) -> list[Finding]:
    async with pool.acquire() as conn:
        data = await conn.fetchval(
            SNAPSHOT, state.organisation, state.event_id, replay_snapshot.FORMAT, state.position
        )
    where = f"{state.organisation}/{state.event_id}"
    try:
        stored = replay_snapshot.decode_snapshot(data)
    except Exception as error:  # any undecodable row is the finding, whatever the codec says
        return [
            Finding(state.position, SNAPSHOTS, f"{where}: the snapshot does not decode: {error}")
        ]
    if stored != replay_snapshot.snapshot_of(state):
        return [Finding(state.position, SNAPSHOTS, f"{where}: the snapshot differs from the fold")]
    return []
