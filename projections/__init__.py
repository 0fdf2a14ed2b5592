"""The read side (DESIGN.md section 3): every projection, in the order the runner starts them.

Each module owns its `rm_*` tables (migrations/0012-0017), the events it handles and its SQL;
runner.py feeds them the log in global order, rebuild.py replays one into a fresh generation and
swaps it in, reads.py answers the organisers' reads from them.
"""

from __future__ import annotations

from typing import Final

from projections import catalog, occupancy, seats, waitlists
from projections.base import Projection

PROJECTIONS: Final[tuple[Projection, ...]] = (
    catalog.PROJECTION,
    occupancy.PROJECTION,
    seats.PROJECTION,
    waitlists.PROJECTION,
)


def by_name(name: str) -> Projection:
    for projection in PROJECTIONS:
        if projection.name == name:
            return projection
    raise KeyError(f"no projection named {name!r}; known: {', '.join(p.name for p in PROJECTIONS)}")
