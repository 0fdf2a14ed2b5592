"""Keep what a worker built at start out of the garbage collector's full passes.

After start-up a worker holds a few hundred thousand objects that live as long as it does:
modules, the Litestar app and its routes, pools, caches. CPython collects its oldest generation
whenever enough objects have survived the younger ones, and each such pass walks every one of
them. Under the broad crowd those passes were the sign-ups' p99 and part of the API's CPU: with
the start-up heap frozen, p99 ~100 -> ~50 ms and 0.48 - 0.49 -> 0.46 ms of API CPU per sign-up
(bench/README.md, "2026-12-06, night"). `gc.freeze()` moves every object alive into a permanent
generation that collections ignore (https://docs.python.org/3/library/gc.html#gc.freeze);
a collection first, so that no garbage is frozen with them. Objects made later are collected as
before, and a frozen object no longer referenced is still freed by its reference count; only a
frozen cycle that becomes garbage stays, which start-up objects do not become.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Freeze what is alive now, once per process (a second app started in the same process,
    as in the tests, freezes nothing more); returns how many objects are frozen."""
    if not gc.get_freeze_count():
        gc.collect()
        gc.freeze()
    return gc.get_freeze_count()
