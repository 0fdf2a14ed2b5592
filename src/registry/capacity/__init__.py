"""The capacity gate: seats and waitlists decided atomically before the log is written.

`CapacityGate` (gate.py) is the interface; `RedisGate` (Lua scripts beside it) serves traffic
and `MemoryGate` is the reference it is held to (tests/contract/test_capacity_gate.py).
"""

from registry.capacity.errors import (
    CommandIdConflict,
    GateError,
    GateNotReady,
    NotOnRoster,
    ParticipantBusy,
)
from registry.capacity.gate import (
    DEFAULT_ANSWER_TTL_MS,
    DEFAULT_HOLD_TTL_MS,
    CapacityGate,
    Decision,
    RegistrationState,
    ReleaseOutcome,
)
from registry.capacity.memory import MemoryGate
from registry.capacity.redis_gate import RedisGate
from registry.capacity.roster import AdmitOutcome, Roster

__all__ = [
    "DEFAULT_ANSWER_TTL_MS",
    "DEFAULT_HOLD_TTL_MS",
    "AdmitOutcome",
    "CapacityGate",
    "CommandIdConflict",
    "Decision",
    "GateError",
    "GateNotReady",
    "MemoryGate",
    "NotOnRoster",
    "ParticipantBusy",
    "RedisGate",
    "RegistrationState",
    "ReleaseOutcome",
    "Roster",
]
