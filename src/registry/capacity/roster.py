"""Who may be decided about: the gate's roster of an event's participants.

A sign-up used to read the participant's facts from the log before asking the gate (is this
participant registered, and not cancelled?): a PostgreSQL round trip per command, a fifth of a
sign-up's cost (bench/README.md, 2026-12-06). The gate now keeps who is registered and who
cancelled, so the check is part of the decision's one atomic step:

- a rebuild loads the roster folded from the log together with the seats (`load`);
- a registration, once its append committed, `admit`s the participant;
- `leave_all` (a cancelled registration) moves the participant to `cancelled` within the same
  hold and keeps them busy until it is settled (a decision about them waits: the cancellation
  may yet be undone); an exact `release` moves them back, an inexact one marks the event dirty,
  and the rebuild reads the roster from the log again;
- a decision asked `on_roster` for someone the gate has not met raises NotOnRoster: the caller
  checks the log, `admit`s and decides again. `admit` refuses someone cancelled: a log check
  that ran before a cancellation cannot put them back (the race the old check-then-decide had);
  the caller then decides again, which waits while that cancellation is in flight.

The roster is a cache of the log like the seats: the log decides, a rebuild restores it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: What `admit` did: put the participant on the roster (or found them there), refused them
#: (their registration was cancelled), or found the gate not ready (the rebuild reads the log).
AdmitOutcome = Literal["admitted", "cancelled", "not ready"]


@dataclass(frozen=True)
class Roster:
    """Participants registered (and not cancelled since), and those whose registration was
    cancelled, as the log says at a load."""

    registered: frozenset[str] = field(default_factory=frozenset)
    cancelled: frozenset[str] = field(default_factory=frozenset)


#: The roster of a load that names nobody: every decision `on_roster` meets NotOnRoster first.
NOBODY = Roster()
