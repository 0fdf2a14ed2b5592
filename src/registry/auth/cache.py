"""A small in-process cache of key hash -> principal, so that the hot path does not ask
PostgreSQL who a key belongs to on every request.

Entries live :data:`TTL_S` seconds from when they were fetched; a hit does not extend them. So a
revoked key keeps working in a process that has it cached for up to that long: the revocation
delay, accepted in exchange for no database round trip per request. Each worker process has its
own cache. An expiring key's entry lives no longer than the key: its lifetime is cut to the time
left until ``expires_at`` (read on the wall clock when the entry is made), so expiry is exact to
the clocks' agreement, while revocation is seen within :data:`TTL_S`.

Only keys that resolved are cached: an unknown key is looked up every time (a key created a
moment ago works at once; floods of made-up keys are the rate limiter's business), and so
made-up keys cannot push real ones out.

Not locked: it is used from one event loop, and no method awaits.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from registry.auth.principal import Principal

TTL_S: Final = 30.0
#: Far more keys than a deployment has in use at once; the bound only caps memory.
MAX_ENTRIES: Final = 1024


class PrincipalCache:
    def __init__(
        self,
        *,
        ttl_s: float = TTL_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_s < 0 or max_entries < 1:
            raise ValueError("ttl_s must be >= 0 and max_entries >= 1")
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._wall_clock = wall_clock
        # Least recently used first; values are (principal, expires_at).
        self._entries: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()

    def get(self, key_hash: bytes) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        principal, expires_at = entry
        if self._clock() >= expires_at:
            del self._entries[key_hash]
            return None
        self._entries.move_to_end(key_hash)
        return principal

    def put(self, key_hash: bytes, principal: Principal) -> None:
        lifetime = self._ttl_s
        if principal.expires_at is not None:
            # The monotonic clock cannot be compared with a date: take the time left instead.
            left = principal.expires_at.timestamp() - self._wall_clock()
            lifetime = min(lifetime, max(left, 0.0))
        self._entries[key_hash] = (principal, self._clock() + lifetime)
        self._entries.move_to_end(key_hash)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
